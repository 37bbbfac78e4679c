"""Objectives for CSA / CSA-INFO: the paper's losses (eqs. 8-11), a proper-scoring-rule objective and the
IPM balancing term (eq. 6).

All per-subject terms take times in one common unit (the model's time scale, so that they are O(1)) and
return per-subject values; :class:`CSALoss` averages them over draws and subjects.

Paper objective (``objective="paper"``), one draw t, c per subject:

* event loss (8):      delta |y - t| + (1 - delta) max(0, y - t)
* censoring loss (9):  (1 - delta) |y - c| + delta max(0, y - c)
* time order (10):     delta max(0, t - c) + (1 - delta) max(0, c - t)
* CSA-INFO (11) = (8) + (9) + (10);  total (6) = factual loss + alpha * IPM(Phi(x) | a=1, Phi(x) | a=0).

An absolute error is minimised by a point mass at the conditional median, so this objective does not
reward spread: the paper's model is nearly deterministic (tiny COV, intervals that rarely cover).

Proper-scoring-rule objective (``objective="crps"``), K >= 2 draws T_1..T_K per subject. How censored
subjects enter the event term is set by ``censored``:

* ``censored="ipcw"`` (the default of :class:`pyrocsa.CSA`): :func:`ipcw_crps`, the integral over the
  follow-up window [0, L] of the inverse-probability-of-censoring-weighted Brier score (Graf et al., 1999),
  with G_a the Kaplan-Meier censoring survival of arm a and every square estimated from pairs of draws, so
  the integral is closed-form and differentiable. Events and censored subjects both contribute, no target
  is imputed. **Proper** under censoring independent of T within an arm: its expectation is the CRPS of
  min(T, L) plus a constant, so the law of T on [0, L] that minimises it is the true one (tested on
  simulated data). With censoring that depends on covariates G must be G(t | x): :class:`CoxCensoringWeights`
  (``CSA(censoring_model="cox")``) models it per arm, and the score is then proper too (tested); and
  the law beyond L is never scored: it is the generator's extrapolation (see
  :class:`pyrocsa.model.CSAModel`, ``generator="location-scale"``).
* ``censored="impute"``: stochastic-EM imputation. A censored subject's target is a draw y* from the
  model's own law T | T > y (drawn without gradient by resampling extra model draws that exceed y; y
  itself when none does), scored with the energy score below; with a ``horizon`` L both sides are capped
  at L. The truth is a fixed point (self-consistency, as for Kaplan-Meier's redistribution to the right),
  but the objective is not a proper score for a fixed other model, and it converges slowly where
  censoring is heavy: measured on actg-Synthetic, it leaves P(T > L) about 0.1 too high, and without the
  cap at L the unscored tail random-walks until training diverges (expected lifetimes off by thousands of
  days after 15 epochs).
* observed events (``"impute"``): the sample CRPS (energy score in 1-d),
  ES = mean_k |T_k - y| - 1/(2 K (K-1)) sum_{k != l} |T_k - T_l|,
  an unbiased estimate of CRPS(F, y) = E|T - y| - E|T - T'|/2, which is strictly proper.
* CSA-INFO: the censoring generator gets the mirrored score (censoring observed when delta = 0, known to
  exceed y when delta = 1); the time-order loss (10) and the IPM stay, weighted by ``tc_weight`` / alpha.
  Loss (10) compares *independent* draws of T and C with the observed order, which no calibrated model
  satisfies (under the truth E[delta max(0, T - C)] > 0): it shrinks the spread, so :class:`pyrocsa.CSA`
  gives it weight 0 by default with this objective (measured: with weight 1 the mean COV is 0.06 and the
  90% intervals cover ~20% of true times on actg-Synthetic; with weight 0, ~0.3 and ~80%).

Why a plain optimiser loop instead of ``pyro.infer.SVI``: the objective is not an ELBO and involves no
guide; the loop needs batch-norm/dropout train/eval switching, early stopping on a validation loss with
best-weight restore, gradient clipping and per-component history; and SVI's optimisers read parameters from
Pyro's global param store, which silently decouples from a fresh module's parameters (see
:mod:`pyrocsa.training`). :class:`CSALoss` is a plain callable ``loss(model, x, a, y, delta)``.
"""

from __future__ import annotations

import numpy as np
import torch

from .ipm import wasserstein_ipm

__all__ = ["event_loss", "censoring_loss", "time_order_loss", "energy_score", "impute_above", "ipcw_crps",
           "selection_score", "ipcw_brier_score", "CensoringWeights", "CoxCensoringWeights", "CSALoss",
           "OBJECTIVES"]

OBJECTIVES = ("paper", "crps")
CENSORED_SCORES = ("ipcw", "impute")


def event_loss(t: torch.Tensor, y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. (8) per draw and subject: delta |y - t| + (1 - delta) max(0, y - t); t (..., N), y, delta (N,)."""
    return delta * (y - t).abs() + (1 - delta) * torch.relu(y - t)


def censoring_loss(c: torch.Tensor, y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. (9): (1 - delta) |y - c| + delta max(0, y - c)."""
    return (1 - delta) * (y - c).abs() + delta * torch.relu(y - c)


def time_order_loss(t: torch.Tensor, c: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. (10): delta max(0, t - c) + (1 - delta) max(0, c - t)."""
    return delta * torch.relu(t - c) + (1 - delta) * torch.relu(c - t)


def energy_score(draws: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sample CRPS of ``draws`` (K, N) against ``target`` (N,): returns (N,).

    mean_k |T_k - y| - sum_{k != l} |T_k - T_l| / (2 K (K - 1)); unbiased for E|T - y| - E|T - T'| / 2.
    """
    k = draws.shape[0]
    if k < 2:
        raise ValueError(f"energy_score needs at least 2 draws per subject, got {k}")
    fit = (draws - target).abs().mean(0)
    spread = (draws.unsqueeze(0) - draws.unsqueeze(1)).abs().sum((0, 1)) / (2 * k * (k - 1))
    return fit - spread


def impute_above(draws: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """One draw per subject from the empirical law of ``draws`` (M, N) restricted to values > y (N,).

    Returns (N,): a uniformly chosen draw exceeding y, or y itself where no draw does. No gradient.
    """
    with torch.no_grad():
        above = draws > y
        u = torch.rand(draws.shape, generator=generator, device=draws.device)
        score = torch.where(above, u, torch.full_like(u, -1.0))
        pick = score.argmax(0)
        chosen = draws.gather(0, pick.unsqueeze(0)).squeeze(0)
        return torch.where(above.any(0), chosen, y)


class CensoringWeights:
    """Inverse-probability-of-censoring weights w = 1 / G_a(y-), G_a(t) = P(C > t | A = a) the Kaplan-Meier
    estimate of the censoring survival in arm a (lifelines), fitted on training rows.

    Under censoring independent of T within an arm, E[delta / G_a(Y-) * s(F, Y)] = E[s(F, T)] for any score
    s on the follow-up window, so an event-only score weighted by w is an unbiased estimate of the score of
    the *uncensored* population (restricted to where G > 0): proper, unlike the survival-CRPS.
    ``floor`` bounds G from below (weights <= 1 / floor) where follow-up ends. ``grid`` holds the
    ``num_times`` time points of the scoring window used by :func:`ipcw_brier_score`.
    """

    def __init__(self, y: torch.Tensor, delta: torch.Tensor, a: torch.Tensor, floor: float = 0.05,
                 num_times: int = 20):
        from lifelines import KaplanMeierFitter

        self.floor = float(floor)
        self.curves = {}
        yn, dn, an = (v.detach().cpu().numpy() for v in (y, delta, a))
        for arm in (0, 1):
            m = (an > 0.5) == bool(arm)
            if not m.any():  # no training rows in this arm: no censoring information, G = 1
                self.curves[arm] = (torch.zeros(1), torch.ones(1))
                continue
            km = KaplanMeierFitter().fit(yn[m].astype(float), 1.0 - dn[m].astype(float))
            sf = km.survival_function_.iloc[:, 0]
            self.curves[arm] = (torch.as_tensor(sf.index.to_numpy(), dtype=torch.float32),
                                torch.as_tensor(sf.to_numpy(), dtype=torch.float32))

        # the scoring window: num_times points up to the 90% quantile of the training follow-up times
        end = float(torch.quantile(y.detach().cpu().float(), 0.9))
        self.grid = torch.linspace(0.0, end, num_times + 1)[1:]

    def _g(self, t: torch.Tensor, arm: int, left: bool) -> torch.Tensor:
        times, surv = (v.to(t.device) for v in self.curves[arm])
        idx = torch.searchsorted(times, t, right=not left) - 1
        g = torch.where(idx >= 0, surv[idx.clamp(min=0)], torch.ones_like(t))
        return 1.0 / g.clamp(min=self.floor)

    def __call__(self, y: torch.Tensor, a: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Weights 1 / G_a(y-) (M,) for observed times y (M,) in the duration unit and arms a (M,)
        (``x`` is ignored: the Kaplan-Meier weights do not depend on covariates)."""
        w = torch.empty_like(y)
        for arm in (0, 1):
            m = (a > 0.5) == bool(arm)
            w[m] = self._g(y[m], arm, left=True)
        return w

    def integrated(self, t: torch.Tensor, a: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """W_a(t) = int_0^t du / G_a(u) (with the floor) for times t (..., M) and arms a (M,).

        Piecewise linear in t (G is a step function), so gradients reach t: dW/dt = 1 / G_a(t).
        """
        out = torch.empty_like(t)
        treated = a > 0.5
        for arm, rows in ((0, ~treated), (1, treated)):
            if not bool(rows.any()):
                continue
            times, surv = (v.to(t.device) for v in self.curves[arm])
            inv = 1.0 / surv.clamp(min=self.floor)
            knots = torch.cat([times.new_zeros(1), times]) if times[0] > 0 else times
            inv = torch.cat([inv.new_ones(1), inv]) if times[0] > 0 else inv
            cum = torch.cat([knots.new_zeros(1), torch.cumsum(inv[:-1] * knots.diff(), 0)])
            tt = t[..., rows]
            idx = (torch.searchsorted(knots, tt.detach(), right=True) - 1).clamp(min=0)
            out[..., rows] = cum[idx] + (tt - knots[idx]) * inv[idx]
        return out

    def at_grid(self, a: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Weights 1 / G_a(t) (M, num_times) on the window grid, for each subject's arm."""
        grid = self.grid.to(a.device)
        per_arm = [self._g(grid, arm, left=False) for arm in (0, 1)]
        return torch.where((a > 0.5).unsqueeze(-1), per_arm[1], per_arm[0])


class CoxCensoringWeights(CensoringWeights):
    """Inverse-probability-of-censoring weights from a Cox model of the censoring time per arm:
    G_a(t | x) = exp(-H0_a(t) exp((x - xbar_a)' beta_a)) (lifelines ``CoxPHFitter`` on (y, 1 - delta) and the
    preprocessed covariates x, fitted on training rows; ``penalizer`` as in lifelines).

    For censoring that depends on covariates (informative given the arm only, independent given x), where
    the Kaplan-Meier weights of :class:`CensoringWeights` are biased. Same interface, with the covariates
    ``x`` (M, p) passed to every method; ``floor`` bounds G from below as there.
    """

    def __init__(self, y: torch.Tensor, delta: torch.Tensor, a: torch.Tensor, x: torch.Tensor,
                 floor: float = 0.05, num_times: int = 20, penalizer: float = 0.01):
        import pandas as pd
        from lifelines import CoxPHFitter

        super().__init__(y, delta, a, floor=floor, num_times=num_times)
        xn = x.detach().cpu().double().numpy()
        yn, dn, an = (v.detach().cpu().numpy() for v in (y, delta, a))
        self.cox = {}
        for arm in (0, 1):
            m = (an > 0.5) == bool(arm)
            keep = xn[m].std(0) > 1e-8  # covariates constant within the arm carry no information
            if m.sum() < 5 or (1 - dn[m]).sum() < 2 or not keep.any():
                self.cox[arm] = None  # too little censoring to model: Kaplan-Meier weights
                continue
            frame = pd.DataFrame(xn[m][:, keep], columns=[f"x{j}" for j in range(int(keep.sum()))])
            frame["_y"], frame["_c"] = yn[m].astype(float), 1.0 - dn[m].astype(float)
            cph = CoxPHFitter(penalizer=penalizer).fit(frame, "_y", "_c")
            beta = np.zeros(xn.shape[1])
            beta[keep] = cph.params_.to_numpy()
            h0 = cph.baseline_cumulative_hazard_.iloc[:, 0]
            knots = np.concatenate([[0.0], h0.index.to_numpy(dtype=float)])
            cum = np.concatenate([[0.0], h0.to_numpy(dtype=float)])
            self.cox[arm] = tuple(torch.as_tensor(v, dtype=torch.float32) for v in
                                  (knots, cum, beta, xn[m].mean(0)))

    def _risk(self, x, arm):
        knots, h0, beta, mean = (v.to(x.device) for v in self.cox[arm])
        return knots, h0, ((x - mean) @ beta).exp()

    def _inv_g(self, t: torch.Tensor, x: torch.Tensor, arm: int, left: bool) -> torch.Tensor:
        """1 / G_a(t | x) with the floor; t (..., M), x (M, p)."""
        knots, h0, risk = self._risk(x, arm)
        idx = (torch.searchsorted(knots, t, right=not left) - 1).clamp(min=0)
        return torch.exp(h0[idx] * risk).clamp(max=1.0 / self.floor)

    def _rows(self, a, fn, t, x, default):
        out = torch.empty_like(t)
        treated = a > 0.5
        for arm, rows in ((0, ~treated), (1, treated)):
            if not bool(rows.any()):
                continue
            if self.cox[arm] is None or x is None:
                out[..., rows] = default(t[..., rows], a[rows])
            else:
                out[..., rows] = fn(t[..., rows], x[rows], arm)
        return out

    def __call__(self, y, a, x=None):
        return self._rows(a, lambda t, xr, arm: self._inv_g(t, xr, arm, left=True), y, x,
                          lambda t, ar: CensoringWeights.__call__(self, t, ar))

    def at_grid(self, a, x=None):
        grid = self.grid.to(a.device).expand(a.shape[0], -1).T.contiguous()  # (G, M)
        out = self._rows(a, lambda t, xr, arm: self._inv_g(t, xr, arm, left=False), grid, x,
                         lambda t, ar: CensoringWeights.at_grid(self, ar).T)
        return out.T

    def integrated(self, t, a, x=None):
        def cox_w(tt, xr, arm):
            knots, h0, risk = self._risk(xr, arm)
            inv = torch.exp(h0.unsqueeze(0) * risk.unsqueeze(1)).clamp(max=1.0 / self.floor)  # (M, J)
            cum = torch.cat([inv.new_zeros(inv.shape[0], 1), torch.cumsum(inv[:, :-1] * knots.diff(), 1)], 1)
            idx = (torch.searchsorted(knots, tt.detach(), right=True) - 1).clamp(min=0)  # (..., M)
            lead = idx.shape[:-1]
            m = idx.shape[-1]
            flat = idx.reshape(-1, m).T                                                    # (M, L)
            c = cum.gather(1, flat).T.reshape(*lead, m)
            v = inv.gather(1, flat).T.reshape(*lead, m)
            return c + (tt - knots[idx]) * v
        return self._rows(a, cox_w, t, x, lambda tt, ar: CensoringWeights.integrated(self, tt, ar))


def ipcw_brier_score(draws: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, a: torch.Tensor,
                     weights: CensoringWeights, x: torch.Tensor | None = None) -> torch.Tensor:
    """IPCW integrated Brier score (Graf et al., 1999) of sampled times over ``weights.grid`` (scalar).

    With S_i(t) = mean_k 1{T_ik > t} from draws (K, M) and G the censoring survival (Kaplan-Meier per arm):
    BS(t) = mean_i [ S_i(t)^2 1{y_i <= t, delta_i = 1} / G(y_i-) + (1 - S_i(t))^2 1{y_i > t} / G(t) ],
    averaged over the grid. Under censoring independent of T within an arm it is unbiased for the Brier
    score of the uncensored population at each t, and its integral over t is the CRPS of min(T, window):
    a proper score on the follow-up window that uses censored subjects (through 1{y_i > t}).
    ``draws`` and ``y`` in the duration unit.
    """
    grid = weights.grid.to(y.device)
    surv = (draws.unsqueeze(-1) > grid).float().mean(0)                      # (M, G)
    died = ((y.unsqueeze(-1) <= grid) & (delta.unsqueeze(-1) > 0.5)).float()
    alive = (y.unsqueeze(-1) > grid).float()
    bs = surv ** 2 * died * weights(y, a, x).unsqueeze(-1) + (1 - surv) ** 2 * alive * weights.at_grid(a, x)
    return bs.mean()


def ipcw_crps(draws: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, a: torch.Tensor,
              weights: CensoringWeights, horizon: float, x: torch.Tensor | None = None) -> torch.Tensor:
    """IPCW integrated Brier score of sampled times on [0, horizon], per subject: (M,), duration unit.

    The integral over t in [0, L] (L = ``horizon``) of Graf et al.'s IPCW Brier score,
    int_0^min(y,L) (1 - S(t))^2 / G(t) dt + delta 1{y <= L} / G(y-) int_y^L S(t)^2 dt, with the squares
    estimated without bias from pairs of draws k != l (S(t)^2 -> 1{min(T_k, T_l) > t},
    (1 - S(t))^2 -> 1{max(T_k, T_l) <= t}), so both integrals are closed-form and differentiable in the
    draws. Under censoring independent of T within an arm (G = the arm's Kaplan-Meier censoring survival)
    its expectation is the CRPS of min(T, L) plus a constant: a proper score for the law of T on the
    follow-up window that uses censored subjects without imputation. ``draws`` (K, M), K >= 2.
    """
    k = draws.shape[0]
    if k < 2:
        raise ValueError(f"ipcw_crps needs at least 2 draws per subject, got {k}")
    off = ~torch.eye(k, dtype=torch.bool, device=draws.device)
    lo = torch.minimum(draws.unsqueeze(0), draws.unsqueeze(1))[off]           # (K(K-1), M)
    hi = torch.maximum(draws.unsqueeze(0), draws.unsqueeze(1))[off]
    end = y.clamp(max=horizon)
    w_end = weights.integrated(end.unsqueeze(0), a, x)
    at_risk = (w_end - weights.integrated(torch.minimum(hi, end), a, x)).mean(0)
    died = delta * (y <= horizon).float() * weights(y, a, x)
    after = died * torch.relu(lo.clamp(max=horizon) - y).mean(0)
    return at_risk + after


def selection_score(draws: torch.Tensor, y: torch.Tensor, delta: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """A model-free validation score for early stopping (scalar).

    With ``weights`` (inverse-probability-of-censoring weights, :class:`CensoringWeights`): the IPCW
    sample CRPS of events, mean_i delta_i w_i CRPS(F_i, y_i) -- unbiased for the CRPS of the uncensored
    population under independent censoring (the estimator's default for ``objective="crps"``).

    Without: the sample CRPS for events and, for censored subjects, the part of the CRPS that the censoring
    time determines, int_0^y F(t)^2 dt, estimated by the mean over pairs k != l of max(0, y - max(T_k, T_l))
    (Avati et al.'s survival-CRPS). Not proper under censoring: it ignores mass beyond y, and with heavy
    censoring it favours distributions that are too short (measured on ACTG: it stops training at epoch ~4).

    Either way its targets do not move with the model (unlike the imputed training objective), so values at
    different epochs are comparable.
    """
    if weights is not None:
        return (delta * weights * energy_score(draws, y)).mean()
    k = draws.shape[0]
    pair_max = torch.maximum(draws.unsqueeze(0), draws.unsqueeze(1))
    cens = torch.relu(y - pair_max).sum((0, 1)) - torch.relu(y - draws).sum(0)  # drop k == l
    cens = cens / (k * (k - 1))
    return (delta * energy_score(draws, y) + (1 - delta) * cens).mean()


class CSALoss:
    """The CSA training objective as a callable ``loss(model, x, a, y, delta) -> (total, components)``.

    Parameters
    ----------
    objective : ``"paper"`` (eqs. 8-11, one draw per subject) or ``"crps"`` (a scoring rule on K draws;
        see the module docstring).
    alpha : weight of the Wasserstein IPM between the treated and control representations.
    num_draws : draws per subject (default 1 for "paper", 8 for "crps").
    num_impute : extra no-gradient draws used to impute censored targets ("crps").
    tc_weight : weight of the time-order loss (10) (CSA-INFO only).
    censored : ``"impute"`` (stochastic EM; default here) or ``"ipcw"`` (:func:`ipcw_crps`, needs the
        attributes ``censoring_weights`` and ``horizon``, which :class:`pyrocsa.CSA` sets; its default).
        The censoring generator of CSA-INFO is always trained by imputation (capped at ``horizon``).

    ``model`` must offer ``time_scale`` and ``draw(x, num_draws)`` or ``draw_factual(x, a, num_draws)``
    (and, for censored rows under "crps", ``noise_dist`` and ``factual_times``) like
    :class:`pyrocsa.model.CSAModel`;
    ``x`` (M, p), ``a``, ``y``, ``delta`` (M,) float tensors, ``y`` in the duration unit. Returns the total
    (scalar tensor) and a dict of floats: event, censoring, time_order, ipm, factual (all but the IPM) and
    total. Early stopping should monitor "factual": the IPM falls with training whatever happens to the
    outcome fit, so a total including it keeps improving while the outcome model overfits.
    """

    def __init__(self, objective: str = "crps", alpha: float = 1.0, num_draws: int | None = None,
                 num_impute: int = 16, tc_weight: float = 1.0, censored: str = "impute"):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if censored not in CENSORED_SCORES:
            raise ValueError(f"censored must be one of {CENSORED_SCORES}, got {censored!r}")
        #: how censored subjects enter the event term of "crps": "ipcw" or "impute" (stochastic EM)
        self.censored = censored
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.objective = objective
        self.alpha = float(alpha)
        self.num_draws = int(num_draws if num_draws is not None else (1 if objective == "paper" else 8))
        if objective == "crps" and self.num_draws < 2:
            raise ValueError("objective='crps' needs num_draws >= 2")
        self.num_impute = int(num_impute)
        #: optional :class:`CensoringWeights` for the IPCW selection score (set by the estimator)
        self.censoring_weights = None
        #: optional horizon L (duration unit): score min(T, L) (set by the estimator)
        self.horizon = None
        self.tc_weight = float(tc_weight)

    def _draws(self, model, x, a):
        """Factual draws {"r", "t"[, "c"]} with times (K, M), via ``draw_factual`` when the model has it."""
        if hasattr(model, "draw_factual"):
            return model.draw_factual(x, a, self.num_draws)
        out = model.draw(x, self.num_draws)
        treated = a > 0.5
        res = {"r": out["r"], "t": torch.where(treated, out["t1"], out["t0"])}
        if "c0" in out:
            res["c"] = torch.where(treated, out["c1"], out["c0"])
        return res

    def factual_terms(self, model, x, a, y, delta, draws=None) -> dict[str, torch.Tensor]:
        """Per-term mean losses (scalar tensors) of the factual outcome (y, delta) under arm a."""
        out = self._draws(model, x, a) if draws is None else draws
        scale = model.time_scale
        ys = y / scale
        t = out["t"] / scale
        terms = {}
        has_c = "c" in out
        c = out["c"] / scale if has_c else None
        if self.objective == "paper":
            terms["event"] = event_loss(t, ys, delta).mean()
            if has_c:
                terms["censoring"] = censoring_loss(c, ys, delta).mean()
        else:
            r = out.get("g", out["r"]).detach()  # the generators' input, for imputation draws
            if self.censored == "ipcw":
                if self.censoring_weights is None or self.horizon is None:
                    raise ValueError("censored='ipcw' needs censoring_weights and horizon to be set")
                terms["event"] = ipcw_crps(out["t"], y, delta, a, self.censoring_weights,
                                           self.horizon, x).mean() / scale
            else:
                terms["event"] = self._crps(model, r, a, t, ys, delta, "t")
            if has_c:
                terms["censoring"] = self._crps(model, r, a, c, ys, 1 - delta, "c")
        if has_c:
            terms["time_order"] = self.tc_weight * time_order_loss(t, c, delta).mean()
        return terms

    def _crps(self, model, r, a, draws, ys, observed, kind):
        """Energy score against y where observed, against an imputed draw of T | T > y elsewhere."""
        hidden = observed <= 0.5
        cap = None if self.horizon is None else self.horizon / model.time_scale
        if cap is not None:
            draws = draws.clamp(max=cap)
        if not bool(hidden.any()):
            return energy_score(draws, ys if cap is None else ys.clamp(max=cap)).mean()
        was_training = model.training
        model.eval()  # imputation draws must not touch the batch-norm running statistics
        try:
            with torch.no_grad():
                noise = model.noise_dist(kind).sample((self.num_impute, int(hidden.sum())))
                extra = model.factual_times(r[hidden], noise, a[hidden], kind) / model.time_scale
                target = ys.clone()
                target[hidden] = impute_above(extra, ys[hidden])
        finally:
            model.train(was_training)
        if cap is not None:
            target = target.clamp(max=cap)
        return energy_score(draws, target).mean()

    def __call__(self, model, x, a, y, delta):
        out = self._draws(model, x, a)
        terms = self.factual_terms(model, x, a, y, delta, draws=out)
        total = sum(terms.values())
        if self.alpha > 0:
            ipm = wasserstein_ipm(out["r"], a)
            terms["ipm"] = ipm
            total = total + self.alpha * ipm
        comps = {k: float(v.detach()) for k, v in terms.items()}
        comps["factual"] = float(sum(v.detach() for k, v in terms.items() if k != "ipm"))
        if self.objective == "crps":
            if self.censoring_weights is not None:
                comps["selection"] = float(ipcw_brier_score(out["t"].detach(), y, delta, a,
                                                            self.censoring_weights, x))
            else:
                comps["selection"] = float(selection_score(out["t"].detach() / model.time_scale,
                                                           y / model.time_scale, delta))
        comps["total"] = float(total.detach())
        return total, comps

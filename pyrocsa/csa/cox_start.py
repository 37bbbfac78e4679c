"""Where CSA's fit starts: each head at a lasso Cox model, with its baseline fitted by the exact likelihood.

The CSA family nests the Cox model (:mod:`pyrocsa.csa.distributions`): with the conditional planar layers
at the identity and a constant scale, head (kind, a) is a proportional-hazards model with log hazard ratio
-loc(x) and baseline cumulative hazard set by its outer layers. :func:`fit_start` puts every head there
before the joint fit:

1. **Linear predictor.** For each arm's event head (indicator ``event``) and, for CSA-INFO, each arm's
   censoring head (indicator ``1 - event``), a lasso Cox path (scikit-survival's
   :class:`~sksurv.linear_model.CoxnetSurvivalAnalysis`, ``n_penalties`` penalties down to
   ``min_ratio`` of the largest) is fitted on that arm's training rows. The penalty is the one with the
   largest K-fold cross-validated partial likelihood (Verweij & van Houwelingen, Stat. Med. 1993: fold k
   scores its coefficients by the full-data partial likelihood minus that of the other folds), so
   covariates that carry no signal are left out (on a design with 100 covariates, 94 of them noise, the
   cross-validated lasso keeps 7-21) and the choice uses every training row. The coefficients beta set the
   head's linear term to -beta, its Cox linear predictor.
2. **Baseline.** With the linear term fixed and the network outputs at their zero start, a head is a
   linear transformation model whose only free numbers are its unconditional parameters (output and
   linear biases, the outer layers: :meth:`ArmHead.unconditional_parameters`, 6K + 3 numbers; the biases
   of the conditional layers are shared by all subjects at this point, so the start contains the Cox model
   with the lasso's predictor without forcing proportional hazards). They are
   fitted by full-batch L-BFGS on the head's own right-censored log-likelihood (the log_prob of the same
   :class:`FlowTime` the Pyro model samples), in rounds of ``lbfgs_iters`` iterations, keeping the state with
   the best likelihood on the arm's validation rows and stopping after ``patience`` rounds without a gain
   (early stopping, as the joint fit). With ``steps=True`` the head first gets its step baseline
   (:mod:`pyrocsa.csa.warp`: a piecewise-constant hazard in the standardised time, fitted in closed form
   given the lasso predictor), so that with every layer at the identity it is the Cox model with that
   predictor and a step baseline, and the outer layers are fitted on top of it.

3. **The linear terms stay there.** Every head's linear term (weights and bias) is frozen at the end of
   the start, and :func:`pyrocsa.core.training.fit_module` then fits everything else (encoder, networks,
   scales, conditional and outer layers) by the usual objective. Letting the linear terms move undoes the
   penalty the cross-validation chose, and the factual likelihood the joint fit follows cannot see the
   error of the difference between the two separately fitted arms (``docs/decisions.md``, section 3).

Why a start at all (``docs/decisions.md``, sections 1-2): from a zero start the network shrinks a linear
effect it could represent, so on the paper's own Gompertz-Cox design the model lost clearly to a Cox
T-learner; a start without a penalty fits the noise covariates of a design with many covariates.

At most ``max_rows`` training rows (and as many validation rows) per head enter the start, drawn by the
seed; the joint fit sees all of them. A head with fewer than 5 observed times among its arm's training rows
(a censoring head when almost nobody is censored) keeps its zero start.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["lasso_cox", "partial_log_likelihood", "fit_baseline", "fit_start"]

_MIN_OBSERVED = 5  # a head with fewer observed times in its arm's training rows keeps its zero start


def partial_log_likelihood(eta: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Cox partial log-likelihood with Breslow's handling of ties: sum over events i of
    eta_i - log sum_{j: time_j >= time_i} exp(eta_j). eta, time, event: (m,) arrays."""
    order = np.argsort(-time, kind="stable")
    e, t, d = eta[order], time[order], event[order]
    cums = np.logaddexp.accumulate(e)  # log sum of exp(eta) over the rows up to here (descending time)
    # tied times share the risk set that includes all of them: the value at the last row of the group
    _, first, inverse = np.unique(-t, return_index=True, return_inverse=True)
    group_end = np.r_[first[1:], len(t)] - 1
    lse = cums[group_end][inverse]
    return float(np.sum(d * (e - lse)))


def lasso_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray, n_folds: int = 5, seed: int = 0,
              n_penalties: int = 40, min_ratio: float = 0.01) -> tuple[np.ndarray, float, int]:
    """Lasso Cox coefficients (p,) at the penalty with the best ``n_folds``-fold cross-validated partial
    likelihood; returns (beta, penalty, number of non-zero coefficients). x (m, p), time, event (m,)."""
    y = np.array(list(zip(event.astype(bool), time)), dtype=[("event", bool), ("time", float)])
    with warnings.catch_warnings():
        # the path starts at the penalty that zeroes every coefficient: scikit-survival says so, by design
        warnings.filterwarnings("ignore", message="all coefficients are zero")
        return _lasso_cox(x, y, time, event, n_folds, seed, n_penalties, min_ratio)


def _lasso_cox(x, y, time, event, n_folds, seed, n_penalties, min_ratio):
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    full = CoxnetSurvivalAnalysis(l1_ratio=1.0, n_alphas=n_penalties, alpha_min_ratio=min_ratio,
                                  max_iter=20000).fit(x, y)
    penalties = full.alphas_
    fold = np.random.default_rng(seed).permutation(len(time)) % n_folds
    cvpl = np.zeros(len(penalties))
    for k in range(n_folds):
        rest = fold != k
        fit = CoxnetSurvivalAnalysis(l1_ratio=1.0, alphas=penalties, max_iter=20000).fit(x[rest], y[rest])
        for j in range(len(penalties)):
            b = fit.coef_[:, min(j, fit.coef_.shape[1] - 1)]  # the path may stop before the last penalty
            cvpl[j] += (partial_log_likelihood(x @ b, time, event)
                        - partial_log_likelihood(x[rest] @ b, time[rest], event[rest]))
    j = min(int(np.argmax(cvpl)), full.coef_.shape[1] - 1)
    beta = full.coef_[:, j]
    return beta, float(penalties[j]), int((beta != 0).sum())


def fit_baseline(model, kind: str, arm: int, train: tuple, valid: tuple, lbfgs_iters: int = 5,
                 max_rounds: int = 40, patience: int = 3) -> float:
    """Fit head (kind, arm)'s unconditional parameters by its exact right-censored likelihood (module
    docstring, step 2). ``train`` and ``valid`` are (r, x, y, observed) tensors of that arm's rows, r the
    representation (n, k), x the covariates (n, p), y the durations (n,), observed the indicator of this
    head's time (the event for "t", its complement for "c"). Returns the best validation negative
    log-likelihood per row; the parameters are left at that state."""
    head = (model.event_heads if kind == "t" else model.censor_heads)[arm]
    params = head.unconditional_parameters()

    def nll(r, x, y, observed):
        return -model.time_dist(r, x, arm, kind).censored_log_prob(y, observed).mean()

    def score() -> float:
        with torch.no_grad():
            return float(nll(*valid))

    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=lbfgs_iters, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = nll(*train)
        if not torch.isfinite(loss):  # a line-search probe outside the flows' range: reject it
            return torch.tensor(float("inf"))
        loss.backward()
        return loss

    best, since = score(), 0
    best_state = [p.detach().clone() for p in params]
    for _ in range(max_rounds):
        before = [p.detach().clone() for p in params]
        opt.step(closure)
        now = score()
        if not np.isfinite(now):  # undo a round that ended outside the range, and stop
            with torch.no_grad():
                for p, b in zip(params, before):
                    p.copy_(b)
            break
        if now < best - 1e-6:
            best, since = now, 0
            best_state = [p.detach().clone() for p in params]
        else:
            since += 1
            if since >= patience:
                break
    with torch.no_grad():
        for p, b in zip(params, best_state):
            p.copy_(b)
    model.zero_grad(set_to_none=True)
    return best


def _rows(n: int, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= max_rows else np.sort(rng.choice(n, size=max_rows, replace=False))


def fit_start(model, train: tuple, valid: tuple, seed: int = 0, max_rows: int = 20_000,
              steps: bool = False) -> dict:
    """Set every head of ``model`` (a :class:`pyrocsa.csa.model.CSAModel`) to its lasso Cox start, fit its
    baseline and freeze its linear term (module docstring). ``train`` and ``valid`` are (x, a, y, delta)
    tensors: covariates (n, p), treatment, duration and event indicator (n,). Returns, per head ``"t0"``,
    ``"t1"`` (and ``"c0"``, ``"c1"``), a dict with the lasso ``penalty``, the number of covariates it kept
    (``n_selected``), the baseline's validation negative log-likelihood per row (``valid_nll``) and the
    number of pieces of its step baseline (``pieces``; 0: none, always so without ``steps``)."""
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.train(False)
    dev = next(model.parameters()).device
    out = {}
    try:
        for kind, arm, head in model.heads():
            parts = []
            for x, a, y, delta in (train, valid):
                rows = np.flatnonzero((a.cpu().numpy() > 0.5) == bool(arm))
                rows = rows[_rows(len(rows), max_rows, rng)]
                observed = delta[rows] if kind == "t" else 1.0 - delta[rows]
                parts.append((x[rows].to(dev), y[rows].to(dev), observed.to(dev)))
            (xt, yt, ot), (xv, yv, ov) = parts
            name = f"{kind}{arm}"
            if float(ot.sum()) < _MIN_OBSERVED or len(yv) < 1:
                # too few observed times (e.g. no censoring at all): leave this head at its zero start
                out[name] = {"penalty": None, "n_selected": 0, "valid_nll": None, "pieces": 0}
                continue
            try:
                beta, penalty, n_selected = lasso_cox(xt.cpu().numpy().astype(float),
                                                      yt.cpu().numpy().astype(float),
                                                      ot.cpu().numpy().astype(float), seed=seed)
            except (ValueError, ArithmeticError) as err:  # scikit-survival's numerical failures
                warnings.warn(f"the lasso Cox start of head {name} failed ({err}); it starts with no "
                              "linear effect", RuntimeWarning, stacklevel=3)
                beta, penalty, n_selected = np.zeros(xt.shape[1]), None, 0
            with torch.no_grad():
                head.linear.weight.copy_(torch.as_tensor(-beta, dtype=head.linear.weight.dtype)[None])
                rt, rv = model.representation(xt), model.representation(xv)
            pieces = 0
            if steps:
                standard = np.exp((np.log(yt.cpu().numpy().astype(float)) - float(model.log_time_loc))
                                  / float(model.log_time_scale))  # the step baseline's time scale
                pieces = head.set_warp(standard, ot.cpu().numpy().astype(float),
                                       xt.cpu().numpy().astype(float) @ beta)
            nll = fit_baseline(model, kind, arm, (rt, xt, yt, ot), (rv, xv, yv, ov))
            out[name] = {"penalty": penalty, "n_selected": n_selected, "valid_nll": nll, "pieces": pieces}
    finally:
        model.train(was_training)
    for _, _, head in model.heads():  # step 3: the linear terms stay at the start
        head.freeze_linear()
    return out

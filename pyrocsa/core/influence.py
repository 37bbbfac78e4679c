"""The influence-function core of the doubly robust (AIPCW) survival contrasts, with no estimator attached.

Shared by :class:`pyrocsa.evaluation.doubly_robust.DoublyRobust` (which documents the formulas) and by the
choice of the IPM weight in :mod:`pyrocsa.csa.alpha` (which scores a model's individual RMST effects
against doubly robust pseudo-outcomes):

* :func:`aipcw_pseudo_outcomes` -- ``phi_a(t_k; O_i)`` per subject and grid time, given the nuisances;
* :func:`integrate_steps` -- ``int_0^h f(t) dt`` of right-continuous step functions on the grid (RMST);
* :class:`ArmSurvivalFit` -- a per-arm Cox (or Kaplan-Meier) survival of the event or censoring time;
* :func:`rmst_difference_pseudo_outcomes` -- per subject of an evaluation set, the doubly robust
  pseudo-outcome of ``RMST_1(h) - RMST_0(h)`` with every nuisance fitted on *other* rows.

Pure numpy, plus lifelines and scikit-learn for the nuisance fits. Times in the data's duration unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyrocsa.errors import ArgumentError, DataError

__all__ = ["SURVIVAL_FLOOR", "aipcw_pseudo_outcomes", "integrate_steps", "step_values", "step_left",
           "ArmSurvivalFit", "rmst_difference_pseudo_outcomes"]

#: floor of S_a(u | x) in the denominators of the EIF (a model that says "impossible" at a time where a
#: subject is still at risk would otherwise divide by zero; the numerators carry S(t) <= S(u) so the
#: terms stay bounded)
SURVIVAL_FLOOR = 1e-8
ARMS = (0, 1)


def aipcw_pseudo_outcomes(survival, censoring_left, grid_position, event, weight,
                          survival_floor: float = SURVIVAL_FLOOR) -> np.ndarray:
    """Pseudo-outcomes ``phi_a(t_k; O_i)`` (the EIF formula of :mod:`pyrocsa.evaluation.doubly_robust`) for
    one arm on a time grid.

    Parameters
    ----------
    survival : (n, K) ``S_a(t_k | X_i)``, non-increasing in k, on the increasing grid ``t_1 < ... < t_K``.
    censoring_left : (n, K) ``G_a(t_k- | X_i) = P(C >= t_k | A=a, X_i)``, in (0, 1] (clip it first).
    grid_position : (n,) int, the grid index k with ``t_k = Y_i`` (every observed duration is on the grid;
        ``K`` or more for a duration beyond the grid: then the subject is at risk on the whole grid).
    event : (n,) 0/1, ``Delta_i``.
    weight : (n,) ``1{A_i = a} / pi_a(X_i)`` (0 for the other arm).

    Returns (n, K) array whose column means estimate ``psi_a(t_k)``; the column SDs / sqrt(n) are the
    standard errors.
    """
    surv = np.asarray(survival, dtype=float)
    g = np.asarray(censoring_left, dtype=float)
    n, k = surv.shape
    if g.shape != (n, k):
        raise DataError(f"censoring_left must have shape {surv.shape}, got {g.shape}")
    if (g <= 0).any():
        raise ArgumentError("censoring_left must be > 0 (clip the censoring survival away from 0)")
    pos = np.asarray(grid_position, dtype=int)
    event = np.asarray(event, dtype=float)
    weight = np.asarray(weight, dtype=float)
    s_floor = np.maximum(surv, survival_floor)
    s_prev = np.concatenate([np.ones((n, 1)), surv[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dlam = np.where(s_prev > 0, 1.0 - surv / s_prev, 1.0)
    dlam = np.clip(dlam, 0.0, 1.0)
    cols = np.arange(k)[None, :]
    at_risk = cols <= pos[:, None]
    integral = np.cumsum(np.where(at_risk, dlam / (s_floor * g), 0.0), axis=1)
    inside = pos < k
    jump = np.zeros(n)
    rows = np.flatnonzero(inside & (event > 0))
    jump[rows] = 1.0 / (s_floor[rows, pos[rows]] * g[rows, pos[rows]])
    jump_term = jump[:, None] * (cols >= pos[:, None])
    return surv - weight[:, None] * surv * (jump_term - integral)


def integrate_steps(values: np.ndarray, grid: np.ndarray, horizon: float) -> np.ndarray:
    """``int_0^horizon f(t) dt`` for right-continuous step functions ``f`` equal to 1 on [0, grid[0]) and
    to ``values[:, k]`` on [grid[k], grid[k+1]): values (n, K) -> (n,)."""
    knots = np.minimum(np.concatenate([[0.0], grid, [np.inf]]), horizon)
    widths = np.diff(knots)  # (K + 1,)
    return widths[0] + values @ widths[1:]


def step_values(times: np.ndarray, values: np.ndarray, grid: np.ndarray, side: str = "right") -> np.ndarray:
    """A right-continuous step function (value 1 before ``times[0]``, ``values[..., j]`` from ``times[j]``)
    at ``grid``: its values f(t) (``side="right"``) or left limits f(t-) (``side="left"``).
    values (..., m) -> (..., len(grid))."""
    pos = np.searchsorted(times, grid, side=side) - 1
    padded = np.concatenate([np.ones(values.shape[:-1] + (1,)), values], axis=-1)
    return padded[..., pos + 1]


def step_left(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Left limits f(t-) of :func:`step_values` at ``grid``."""
    return step_values(times, values, grid, side="left")


class ArmSurvivalFit:
    """Per-arm survival of the censoring time (``target="censoring"``: ``G_a(t | x)``, the default) or of
    the event time (``target="event"``: ``S_a(t | x)``), by a Cox model (``kind="cox"``, lifelines, ridge
    ``penalizer``) or a Kaplan-Meier curve (``kind="km"``, no covariates) fitted per arm on the rows of
    :meth:`fit`: ``x`` (n, p) preprocessed covariates, ``y`` (n,) durations, ``delta`` (n,) 0/1 events,
    ``a`` (n,) 0/1 arms."""

    def __init__(self, kind: str, penalizer: float = 0.01, target: str = "censoring"):
        if kind not in ("cox", "km"):
            raise ArgumentError(f"kind must be 'cox' or 'km', got {kind!r}")
        if target not in ("censoring", "event"):
            raise ArgumentError(f"target must be 'censoring' or 'event', got {target!r}")
        self.kind, self.penalizer, self.target = kind, penalizer, target

    def fit(self, x, y, delta, a):
        from lifelines import CoxPHFitter, KaplanMeierFitter

        self.fits_ = {}
        for arm in ARMS:
            m = a == arm
            cens = 1.0 - delta[m] if self.target == "censoring" else delta[m]
            if cens.sum() == 0:  # no such time observed in this arm: survival 1
                self.fits_[arm] = None
                continue
            if self.kind == "km":
                kmf = KaplanMeierFitter().fit(y[m], cens)
                sf = kmf.survival_function_
                self.fits_[arm] = ("km", sf.index.to_numpy(float), sf.iloc[:, 0].to_numpy(float))
            else:
                keep = x[m].std(axis=0) > 0
                frame = pd.DataFrame(x[m][:, keep], columns=[f"x{j}" for j in range(int(keep.sum()))])
                frame["_y"], frame["_c"] = y[m], cens
                cph = CoxPHFitter(penalizer=self.penalizer).fit(frame, "_y", "_c")
                h0 = cph.baseline_cumulative_hazard_
                self.fits_[arm] = ("cox", h0.index.to_numpy(float), h0.iloc[:, 0].to_numpy(float), cph, keep)
        return self

    def left_survival(self, x, grid, arm) -> np.ndarray:
        """Left limits ``G_a(t_k- | x_i)`` (n, K) on the increasing ``grid``."""
        return self._survival(x, grid, arm, "left")

    def survival(self, x, grid, arm) -> np.ndarray:
        """Right-continuous ``S_a(t_k | x_i)`` (n, K) on the increasing ``grid``."""
        return self._survival(x, grid, arm, "right")

    def _survival(self, x, grid, arm, side) -> np.ndarray:
        fit = self.fits_[arm]
        n = x.shape[0]
        if fit is None:
            return np.ones((n, grid.size))
        if fit[0] == "km":
            _, times, surv = fit
            steps = step_values(times, surv, grid, side)
            return np.broadcast_to(steps, (n, grid.size)).copy()
        _, times, h0, cph, keep = fit
        frame = pd.DataFrame(x[:, keep], columns=[f"x{j}" for j in range(int(keep.sum()))])
        ph = cph.predict_partial_hazard(frame).to_numpy(float)
        pos = np.searchsorted(times, grid, side=side) - 1
        h = np.where(pos >= 0, h0[np.maximum(pos, 0)], 0.0)
        return np.exp(-ph[:, None] * h[None, :])


def rmst_difference_pseudo_outcomes(fit_rows, eval_rows, horizon: float, propensity_clip: float = 0.01,
                                    censoring_clip: float = 0.01) -> np.ndarray:
    """Doubly robust pseudo-outcomes of the individual RMST effect, ``(n_eval,)``, in the duration unit.

    ``fit_rows`` and ``eval_rows`` are tuples ``(x (n, p), y (n,), delta (n,), a (n,))`` of preprocessed
    covariates, durations, 0/1 events and 0/1 arms. The nuisances are fitted on ``fit_rows`` only: a Cox
    model of the event time per arm (the outcome model), a Cox model of the censoring time per arm and a
    logistic propensity ``P(A=1 | x)`` (scikit-learn, its default ridge), clipped to
    ``[propensity_clip, 1 - propensity_clip]``; ``G`` is bounded below by ``censoring_clip``. On the
    evaluation rows, ``phi_i = int_0^h phi_1(t; O_i) dt - int_0^h phi_0(t; O_i) dt`` on the grid of their
    distinct durations.

    Why: conditional on X_i, ``E[phi_i | X_i] = RMST_1(h | X_i) - RMST_0(h | X_i)`` when either the outcome
    model or (propensity, censoring) models are right, so for any candidate effect ``tau(x)`` not fitted on
    these rows, ``mean_i (tau(X_i) - phi_i)^2`` estimates ``PEHE(tau)^2`` plus a constant that does not
    depend on ``tau`` (counterfactual cross-validation: Saito & Yasui, ICML 2020; the influence-function
    view: Alaa & van der Schaar, ICML 2019). Differences of that score rank candidates by their PEHE.
    """
    from sklearn.linear_model import LogisticRegression

    x_f, y_f, d_f, a_f = (np.asarray(v, dtype=float) for v in fit_rows)
    x_e, y_e, d_e, a_e = (np.asarray(v, dtype=float) for v in eval_rows)
    horizon = float(horizon)
    if not (np.isfinite(horizon) and horizon > 0):
        raise ArgumentError(f"horizon must be a positive finite number, got {horizon!r}")
    for name, (x, y) in {"fit_rows": (x_f, y_f), "eval_rows": (x_e, y_e)}.items():
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise DataError(f"{name}: x must be (n, p) with one row per duration, got {x.shape} and "
                             f"{y.shape}")
    if x_f.shape[1] != x_e.shape[1]:
        raise DataError(f"eval_rows have {x_e.shape[1]} covariates, fit_rows {x_f.shape[1]}")
    for arm in (0, 1):
        if not ((a_f == arm) & (d_f > 0)).any():
            raise DataError(f"fit_rows: arm {arm} has no events; the outcome model cannot be fitted")
    grid = np.unique(y_e)
    pos = np.searchsorted(grid, y_e)
    e = LogisticRegression(max_iter=1000).fit(x_f, a_f.astype(int)).predict_proba(x_e)[:, 1]
    e = np.clip(e, propensity_clip, 1.0 - propensity_clip)
    outcome = ArmSurvivalFit("cox", target="event").fit(x_f, y_f, d_f, a_f)
    censoring = ArmSurvivalFit("cox").fit(x_f, y_f, d_f, a_f)
    rmst = {}
    for arm in (0, 1):
        surv = outcome.survival(x_e, grid, arm)
        g = np.maximum(censoring.left_survival(x_e, grid, arm), censoring_clip)
        weight = (a_e == arm) / (e if arm else 1.0 - e)
        rmst[arm] = integrate_steps(aipcw_pseudo_outcomes(surv, g, pos, d_e, weight), grid, horizon)
    return rmst[1] - rmst[0]

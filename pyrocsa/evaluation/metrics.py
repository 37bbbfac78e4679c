"""Evaluation metrics (CSA paper section 4 and SM B.3) plus uncertainty metrics, on plain numpy arrays.

Factual metrics (need observed durations/events): :func:`c_index`, :func:`calibration_slope`,
:func:`mean_cov`, :func:`d_calibration`.  Causal metrics (need the true potential outcomes, i.e.
(semi-)synthetic data): :func:`pehe`, :func:`ate_error`, :func:`true_hazard_ratio`.  Baseline HR:
:func:`cox_hazard_ratio`.  Uncertainty: :func:`interval_coverage`, :func:`coverage_curve`,
:func:`d_calibration`.  Helpers taking a :class:`pyrocsa.core.outcomes.PotentialOutcomes`:
:func:`c_index_per_arm`, :func:`calibration_slope_per_arm`.

Samples are arrays (S, N) (S draws for each of N subjects); durations in any positive unit (e.g. days).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index
from scipy.stats import linregress

from pyrocsa.core.estimands import as_samples, population_hazard_ratio, population_survival
from pyrocsa.core.fit_check import survival_d_calibration
from pyrocsa.errors import ArgumentError, DataError, renamed_argument

__all__ = [
    "c_index",
    "c_index_per_arm",
    "calibration_slope",
    "calibration_slope_per_arm",
    "mean_cov",
    "pehe",
    "ate_error",
    "true_hazard_ratio",
    "cox_hazard_ratio",
    "interval_coverage",
    "coverage_curve",
    "d_calibration",
]


def _vector(x, name: str, positive: bool = False) -> np.ndarray:
    try:
        v = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} must be a numeric 1-D array: {err}") from err
    if v.ndim != 1 or v.size == 0:
        raise DataError(f"{name} must be a non-empty 1-D array; got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise DataError(f"{name} has {int((~np.isfinite(v)).sum())} non-finite value(s)")
    if positive and np.any(v <= 0):
        raise ArgumentError(f"{name} has {int((v <= 0).sum())} value(s) <= 0")
    return v


def _events(e, n: int, name: str = "events") -> np.ndarray:
    v = _vector(e, name)
    if v.size != n:
        raise ArgumentError(f"{name} has length {v.size}, expected {n}")
    if not np.all(np.isin(v, (0.0, 1.0))):
        raise ArgumentError(f"{name} must be 0/1")
    return v


def _same_length(*pairs):
    n = pairs[0][1].size
    for name, v in pairs[1:]:
        if v.size != n:
            raise ArgumentError(f"{name} has length {v.size}, expected {n} (length of {pairs[0][0]})")


# ---------------------------------------------------------------------------------------------------------
# factual metrics
# ---------------------------------------------------------------------------------------------------------
def c_index(times_pred, durations, events) -> float:
    """Harrell's concordance index of predicted event times against observed (durations, events).

    C = P(t_pred_i < t_pred_j | y_i < y_j, delta_i = 1) over comparable pairs (ties in predictions count
    1/2), computed by ``lifelines.utils.concordance_index``.  ``times_pred`` (N,) are point predictions --
    the paper uses the median of each subject's samples (SM B.3); higher predicted time = lower risk.
    """
    tp = _vector(times_pred, "times_pred")
    d = _vector(durations, "durations", positive=True)
    _same_length(("times_pred", tp), ("durations", d))
    e = _events(events, d.size)
    if e.sum() == 0:
        raise ArgumentError("events has no event (all censored): the C-index is undefined")
    return float(concordance_index(d, tp, e))


def _observed_arrays(outcomes, observed):
    obs = observed if observed is not None else outcomes.observed
    if obs is None:
        raise DataError("observed is required: a DataFrame with columns time, event, treatment")
    missing = [c for c in ("time", "event", "treatment") if c not in obs.columns]
    if missing:
        raise DataError(f"observed is missing column(s) {missing}; needs time, event, treatment")
    if len(obs) != outcomes.n_subjects:
        raise DataError(f"observed has {len(obs)} rows, outcomes has {outcomes.n_subjects} subjects")
    a = _vector(obs["treatment"].to_numpy(), "observed['treatment']")
    if not np.all(np.isin(a, (0.0, 1.0))):
        raise ArgumentError("observed['treatment'] must be 0/1")
    d = _vector(obs["time"].to_numpy(), "observed['time']", positive=True)
    e = _events(obs["event"].to_numpy(), d.size, "observed['event']")
    return d, e, a


def _factual_points_per_arm(outcomes, observed, point: str, what: str) -> dict:
    """{arm: (point predictions, durations, events)} for the subjects who received that arm, the point
    prediction being the median (or mean) of their samples of t_arm."""
    d, e, a = _observed_arrays(outcomes, observed)
    out = {}
    for arm, samples in ((0, outcomes.t0), (1, outcomes.t1)):
        m = a == arm
        if m.sum() < 2:
            raise DataError(f"arm A={arm} has fewer than 2 subjects; its {what} is undefined")
        pred = np.median(samples[:, m], axis=0) if point == "median" else samples[:, m].mean(axis=0)
        out[arm] = (pred, d[m], e[m])
    return out


def c_index_per_arm(outcomes, observed: pd.DataFrame | None = None, point: str = "median") -> dict:
    """C-index within each arm on the factual arm's samples: for subjects with treatment a, the point
    prediction is the median of their t_a samples.  Returns {0: C(A=0), 1: C(A=1)} (NaN-free: raises if an
    arm has no subject or no event).  ``observed`` defaults to ``outcomes.observed``."""
    return {arm: c_index(pred, d, e) for arm, (pred, d, e) in
            _factual_points_per_arm(outcomes, observed, point, "C-index").items()}


def calibration_slope(times_pred, durations, events, predicted_events=None, times=None) -> float:
    """Population calibration slope (Chapfuwa et al., 2020, IEEE TNNLS; CSA paper SM B.3).

    Compares the population survival curve implied by the predictions with the ground-truth Kaplan-Meier
    curve of the observed data, on the grid t_j = {0} U distinct observed durations (or ``times``):

        F_pred(t) = 1 - S^PKM(t),  S^PKM = Kaplan-Meier of the point predictions ``times_pred`` (N,)
        F_emp(t)  = 1 - S^KM(t),   S^KM  = Kaplan-Meier of (durations, events)
        slope     = OLS slope of F_emp(t_j) on F_pred(t_j), with intercept (scipy.stats.linregress)

    This is the regression used in the authors' calibration notebook (observed cumulative incidence on
    predicted, over the observed time grid, with intercept).  A perfectly calibrated model gives 1.
    Direction (measured in the tests): predicted times too *short* (risk over-estimated) make F_pred rise
    faster than F_emp, so the slope is < 1; predicted times too *long* (risk under-estimated) give > 1.
    (The CSA paper's sentence states the opposite labels; the numbers follow from the definition above.)

    Censoring of the predictions: model draws are event times, so by default every prediction is an event
    (``predicted_events=None``); pass ``predicted_events=events`` to apply the observed indicators to the
    predictions, as S^PKM in eq. (19) of the CSA paper does.  ``times_pred`` may be one draw per subject
    or a point summary (the paper: median of the samples); a median is not a draw, so expect a slope
    away from 1 when the within-subject spread is large compared with the between-subject spread.
    """
    tp = _vector(times_pred, "times_pred", positive=True)
    d = _vector(durations, "durations", positive=True)
    _same_length(("times_pred", tp), ("durations", d))
    e = _events(events, d.size)
    pe = None if predicted_events is None else _events(predicted_events, d.size, "predicted_events")
    grid = np.unique(np.concatenate([[0.0], d])) if times is None else np.unique(_vector(times, "times"))
    f_emp = 1.0 - population_survival(d, grid, e)
    f_pred = 1.0 - population_survival(tp, grid, pe)
    if np.ptp(f_pred) == 0:
        raise ArgumentError("the predicted population survival is constant on the grid; slope undefined")
    return float(linregress(f_pred, f_emp).slope)


def calibration_slope_per_arm(outcomes, observed: pd.DataFrame | None = None, point: str = "median",
                              use_observed_events: bool = False) -> dict:
    """Calibration slope within each arm on the factual arm's point predictions -> {0: slope, 1: slope}."""
    return {arm: calibration_slope(pred, d, e, predicted_events=e if use_observed_events else None)
            for arm, (pred, d, e) in
            _factual_points_per_arm(outcomes, observed, point, "calibration slope").items()}


def mean_cov(samples) -> float:
    """Mean coefficient of variation, N^-1 sum_i sigma_i / mu_i, with mu_i, sigma_i (ddof=0) the mean and
    standard deviation of subject i's samples (S, N).  0 for a deterministic model (S = 1)."""
    s = as_samples(samples, "samples")
    return float((s.std(axis=0) / s.mean(axis=0)).mean())


# ---------------------------------------------------------------------------------------------------------
# causal metrics
# ---------------------------------------------------------------------------------------------------------
def pehe(ite_pred, ite_true) -> float:
    """epsilon_PEHE = sqrt(mean_i (ITE_i - ITE_hat_i)^2) (duration unit)."""
    p = _vector(ite_pred, "ite_pred")
    t = _vector(ite_true, "ite_true")
    _same_length(("ite_pred", p), ("ite_true", t))
    return float(np.sqrt(np.mean((p - t) ** 2)))


def ate_error(ite_pred, ite_true) -> float:
    """epsilon_ATE = |mean_i ITE_i - mean_i ITE_hat_i| (duration unit)."""
    p = _vector(ite_pred, "ite_pred")
    t = _vector(ite_true, "ite_true")
    _same_length(("ite_pred", p), ("ite_true", t))
    return float(abs(p.mean() - t.mean()))


def true_hazard_ratio(t0_true, t1_true, times=None, events=None, observed_times=None,
                      level: float | None = None, n_boot: int = 200, seed: int | None = 0,
                      summary: str = "geometric_mean", ci: float | None = None) -> dict:
    """Ground-truth population HR(t) from the true potential event times (N,) of each arm, computed exactly
    as a model's (:func:`pyrocsa.estimands.population_hazard_ratio`) with a single "sample" per subject, so
    that the point summary (median of one value) is the value itself.  Same keys as that function.

    Pass ``observed_times`` (the evaluation set's observed durations) to use the paper's grid: on the
    shipped actg-Synthetic test split this gives 0.524 with HR(t) spanning (0.408, 0.706) over time, the
    paper's ground truth being 0.52 (0.39, 0.71).  The default grid (pooled true times, reaching far beyond
    follow-up) gives 0.70 there -- the linear-slope recipe depends strongly on the grid's range."""
    t0 = as_samples(t0_true, "t0_true")
    t1 = as_samples(t1_true, "t1_true")
    if t0.shape[0] != 1 or t1.shape[0] != 1:
        raise ArgumentError("t0_true and t1_true must be 1-D arrays (one true time per subject)")
    level = renamed_argument(level, ci, "level", "ci", "true_hazard_ratio")
    return population_hazard_ratio(t0, t1, times=times, events=events, observed_times=observed_times,
                                   level=level, n_boot=n_boot, seed=seed, summary=summary)


def cox_hazard_ratio(df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
                     weights_col: str | None = None, level: float | None = None,
                     ci: float | None = None) -> dict:
    """Marginal CoxPH hazard ratio exp(beta) of lambda(t | a) = lambda_b(t) exp(a beta) (paper eq. 12).

    Fits ``lifelines.CoxPHFitter`` on the treatment column alone (optionally weighted, e.g. IPW/OW, with a
    robust sandwich variance).  Returns {"hr", "lower", "upper"} with a Wald interval at ``level``
    (default 0.95; ``ci=`` is its deprecated name).
    The frame is not modified.
    """
    cols = [duration_col, event_col, treatment_col] + ([weights_col] if weights_col else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"column(s) {missing} not in the frame")
    data = df[cols].copy()
    _vector(data[duration_col].to_numpy(), f"duration column '{duration_col}'", positive=True)
    _events(data[event_col].to_numpy(), len(data), f"event column '{event_col}'")
    a = _vector(data[treatment_col].to_numpy(), f"treatment column '{treatment_col}'")
    if not np.all(np.isin(a, (0.0, 1.0))) or np.unique(a).size != 2:
        raise DataError(f"treatment column '{treatment_col}' must be 0/1 with both arms present")
    level = renamed_argument(level, ci, "level", "ci", "cox_hazard_ratio")
    level = 0.95 if level is None else level
    cph = CoxPHFitter(alpha=1 - level)
    cph.fit(data, duration_col=duration_col, event_col=event_col, weights_col=weights_col,
            robust=weights_col is not None)
    beta = float(cph.params_[treatment_col])
    lo, hi = cph.confidence_intervals_.loc[treatment_col].to_numpy(dtype=float)
    return {"hr": float(np.exp(beta)), "lower": float(np.exp(lo)), "upper": float(np.exp(hi))}


# ---------------------------------------------------------------------------------------------------------
# uncertainty metrics
# ---------------------------------------------------------------------------------------------------------
def _samples_truth(samples, truth):
    s = as_samples(samples, "samples", positive=False)
    t = _vector(truth, "truth")
    if t.size != s.shape[1]:
        raise DataError(f"truth has length {t.size}, samples have N={s.shape[1]} subjects")
    return s, t


def interval_coverage(samples, truth, level: float | None = None, prob: float | None = None) -> float:
    """Fraction of subjects whose known value lies in the central ``level`` interval (default 0.9; ``prob=``
    is its deprecated name) of their samples:

        coverage = mean_i 1{ q_i((1-level)/2) <= truth_i <= q_i((1+level)/2) },

    q_i the empirical quantile (numpy's default linear interpolation) of subject i's samples (S, N).
    A calibrated predictive distribution gives ~``level`` when the truth is a draw from it.
    """
    prob = renamed_argument(level, prob, "level", "prob", "interval_coverage")
    prob = 0.9 if prob is None else prob
    if not 0 < prob < 1:
        raise ArgumentError(f"level must be in (0, 1); got {prob}")
    s, t = _samples_truth(samples, truth)
    lo, hi = np.quantile(s, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return float(np.mean((lo <= t) & (t <= hi)))


def coverage_curve(samples, truth, probs=None) -> pd.DataFrame:
    """Observed coverage of central intervals over nominal levels ``probs`` (default 0.05, 0.10, ..., 0.95),
    for a reliability plot (observed vs nominal; the diagonal is perfect).  Returns a DataFrame with
    columns ``nominal``, ``observed``."""
    probs = np.linspace(0.05, 0.95, 19) if probs is None else _vector(probs, "probs")
    if np.any((probs <= 0) | (probs >= 1)):
        raise ArgumentError("probs must lie in (0, 1)")
    s, t = _samples_truth(samples, truth)
    q = np.quantile(s, np.concatenate([(1 - probs) / 2, (1 + probs) / 2]), axis=0)  # (2K, N)
    lo, hi = q[: probs.size], q[probs.size:]
    observed = ((lo <= t) & (t <= hi)).mean(axis=1)
    return pd.DataFrame({"nominal": probs, "observed": observed})


def d_calibration(samples, durations, events, bins: int = 10) -> dict:
    """Distributional calibration (Haider et al., JMLR 2020) of predicted event-time samples (S, N).

    For each subject, s_i = S(y_i | x_i) = mean_s 1{t_s > y_i} is the predicted survival probability at its
    observed time y_i.  With B equal-width bins of [0, 1]:

    * an event adds 1 to the bin containing s_i;
    * a censored subject (true time > y_i, so its probability-integral value is uniform on [0, s_i] under
      the model) spreads its unit mass uniformly over [0, s_i]: the bin containing s_i gets
      (s_i - lower edge) / s_i and every bin wholly below gets (1/B) / s_i (all mass to the lowest bin
      when s_i = 0).

    A calibrated model makes the bin counts uniform; ``statistic``/``p_value`` are Pearson's chi-square
    test of the counts against N/B each, B-1 degrees of freedom (``scipy.stats.chisquare``).  Returns a
    dict with ``statistic``, ``p_value``, ``bin_proportions`` (B,), ``bin_edges`` (B+1,).  s_i takes values
    on a 1/S lattice, a discretisation of order 1/S per bin boundary.
    """
    s = as_samples(samples, "samples")
    d = _vector(durations, "durations", positive=True)
    if d.size != s.shape[1]:
        raise DataError(f"durations has length {d.size}, samples have N={s.shape[1]} subjects")
    e = _events(events, d.size)
    bins = int(bins)
    if bins < 2:
        raise ArgumentError(f"bins must be >= 2; got {bins}")
    surv = (s > d[None, :]).mean(axis=0)  # (N,)
    stat, p, counts = survival_d_calibration(surv, e, bins)
    return {"statistic": stat, "p_value": p, "bin_proportions": counts / d.size,
            "bin_edges": np.linspace(0.0, 1.0, bins + 1)}

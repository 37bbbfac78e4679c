"""Does a fitted model reproduce what the data show? The Kaplan-Meier band check every estimator gets.

For each arm a, on the rows of ``df`` in that arm (their own, factual arm):

* the model's marginal survival  S_model(t) = mean_x S_a(t | x)  is set against the arm's Kaplan-Meier
  estimate KM_a(t) and its pointwise 95% band (Greenwood variance on the log(-log) scale, the lifelines
  default: KM^exp(+-z se), se = sqrt(sum d / (n (n - d))) / |log KM|);
* the **band ratio** is  max_t r(t), r(t) = (KM - S_model) / (KM - lower) where the model is below the KM
  and (S_model - KM) / (upper - KM) where it is above: r <= 1 exactly when the model lies inside the band.
  The maximum runs over follow-up, from the arm's 5th event (before it the band rests on too few events
  for its normal approximation, and a model equal to the truth leaves it far more often than the level
  says: ``benchmarks.fit_check_null``) to the last time at which at least 10% of the arm is still at risk
  (beyond it the band is too wide to say anything). KM and band are steps and S_model is non-increasing,
  so the maximum over each step is at one of its two ends: evaluating every event time and its left limit
  gives the exact supremum (at most ``max_times`` event times per arm, evenly spaced in rank, when an arm
  has more);
* the **simultaneous ratio**: the same against the 95% equal-precision band (Nair 1984), the log(-log)
  band with 1.96 replaced by a critical value c (about 3) that covers the whole curve over that range with
  probability 0.95. A pointwise band checked at hundreds of times is left somewhere by a model equal to
  the truth most of the time (false-alarm rates of both: ``benchmarks.fit_check_null``), so ``fit`` warns
  (:class:`pyrocsa.errors.FitWarning`) only when the model leaves the simultaneous band;
* the **D-calibration** p-value (Haider et al., JMLR 2020) of the probabilities S_a(y_i | x_i) at each
  row's observed time, 10 bins (the same test as :func:`pyrocsa.evaluation.metrics.d_calibration`).

``fit_check(model, df)`` works for every :class:`pyrocsa.core.base.CounterfactualSurvivalModel`: the model
supplies S_a(t | x) through its ``_arm_survival`` / ``_arm_survival_at`` hooks (exact for CSA and the
T-learners, from draws otherwise). Cost, so that ``fit`` can run it every time: ``max_rows`` subjects per
arm (default 5000, a seeded random subset beyond it; the standard error this adds to the mean is at most
0.5 / sqrt(5000) = 0.007) enter the model's mean, and a model whose S_a(t | x) is continuous in t
(``continuous_survival``: CSA, whose survival needs a root search per layer) is evaluated on
``model_times`` (64) evenly spaced times and interpolated linearly between them; step-function
models (the T-learners) are evaluated at every point. The Kaplan-Meier uses every row of the arm.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
from scipy.stats import chisquare, norm

from pyrocsa.data.frame import validate_duration, validate_event
from pyrocsa.errors import DataError

__all__ = ["ArmCheck", "FitCheck", "kaplan_meier_band", "equal_precision_critical", "band_ratio",
           "survival_d_calibration",
           "fit_check", "check_training_rows", "AT_RISK_FRACTION"]

#: follow-up for the check ends at the last time at which this share of the arm is still at risk
AT_RISK_FRACTION = 0.10
#: and starts at the arm's MIN_EVENTS-th event: before it the band rests on too few events for its normal
#: approximation (measured by benchmarks.fit_check_null)
MIN_EVENTS = 5
_LEVEL = 0.95
_CHUNK = 2048


def _km_steps(durations, events):
    """(times, at_risk, deaths, km, greenwood) at the distinct event times of one sample."""
    d = np.asarray(durations, dtype=float).ravel()
    e = np.asarray(events, dtype=float).ravel()
    order = np.argsort(d, kind="stable")
    d, e = d[order], e[order]
    times, first = np.unique(d, return_index=True)
    at_risk = (d.size - first).astype(float)
    deaths = np.add.reduceat(e, first) if d.size else np.zeros(0)
    keep = deaths > 0
    times, at_risk, deaths = times[keep], at_risk[keep], deaths[keep]
    km = np.cumprod(1.0 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
    return times, at_risk, deaths, km, greenwood


def kaplan_meier_band(durations, events, level: float = _LEVEL, critical: float | None = None):
    """Kaplan-Meier estimate of one sample with its pointwise log(-log) confidence band.

    durations (N,) > 0, events (N,) in {0, 1}. Returns ``(times, km, lower, upper, at_risk)``, each (J,):
    the distinct event times, KM just after each (right-continuous), the band at ``level`` (or with the
    normal quantile replaced by ``critical``: a simultaneous band), and the number at risk just before
    each. Where KM is 0 or the variance is infinite the band is [0, 1] (no information).
    """
    times, at_risk, _, km, greenwood = _km_steps(durations, events)
    z = norm.ppf(0.5 + level / 2.0) if critical is None else float(critical)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(greenwood) / np.abs(np.log(km))
        lower = km ** np.exp(z * se)
        upper = km ** np.exp(-z * se)
    bad = ~(np.isfinite(lower) & np.isfinite(upper)) | (km <= 0) | (km >= 1)
    lower[bad], upper[bad] = 0.0, 1.0
    return times, km, lower, upper, at_risk


def equal_precision_critical(greenwood_first: float, greenwood_last: float, level: float = _LEVEL,
                             paths: int = 4000, steps: int = 1000, seed: int = 0) -> float:
    """Critical value c of the equal-precision simultaneous band (Nair 1984; Klein & Moeschberger 4.4) over
    the times whose Greenwood sums run from ``greenwood_first`` to ``greenwood_last``: the log(-log) band
    with the normal quantile replaced by c covers the whole curve there with probability ``level``.

    c solves P(sup_{a_L <= x <= a_U} |W(x)| / sqrt(x (1 - x)) <= c) = level for a Brownian bridge W, with
    x / (1 - x) = n x the Greenwood sum. W(x) / sqrt(x (1 - x)) is a stationary Ornstein-Uhlenbeck process
    in u = log(x / (1 - x)) / 2 (unit variance, correlation exp(-|du|)) over the length
    log(greenwood_last / greenwood_first) / 2 (n cancels); its absolute maximum is simulated exactly on
    ``steps`` points of ``paths`` seeded paths (about 0.1 s, cached by the length to 0.01; Monte Carlo
    error of c about 0.01, and the grid biases it low by about as much). Equal sums give the pointwise
    normal quantile."""
    z = float(norm.ppf(0.5 + level / 2.0))
    lo, hi = sorted((float(greenwood_first), float(greenwood_last)))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo > 0) or hi / lo < 1 + 1e-9:
        return z
    return max(_sup_quantile(round(0.5 * float(np.log(hi / lo)), 2), float(level), paths, steps, seed), z)


@functools.lru_cache(maxsize=512)
def _sup_quantile(length: float, level: float, paths: int, steps: int, seed: int) -> float:
    """``level`` quantile of sup |U| over an interval of ``length`` for the stationary OU process U
    (length rounded to 0.01 by the caller, so that repeated checks reuse it)."""
    rho = np.exp(-length / steps)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(paths)
    top = np.abs(u)
    scale = np.sqrt(1 - rho**2)
    for _ in range(steps):
        u = rho * u + scale * rng.standard_normal(paths)
        np.maximum(top, np.abs(u), out=top)
    return float(np.quantile(top, level))


def band_ratio(model, km, lower, upper) -> np.ndarray:
    """Pointwise r = distance of ``model`` from ``km`` in units of the band's half-width on that side
    (arrays of one shape): r <= 1 inside [lower, upper]. A zero-width side gives inf when the model is
    beyond it and 0 when it is on the KM."""
    model, km = np.asarray(model, dtype=float), np.asarray(km, dtype=float)
    below = model < km
    dist = np.abs(model - km)
    width = np.where(below, km - np.asarray(lower, dtype=float), np.asarray(upper, dtype=float) - km)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(dist == 0, 0.0, dist / width)
    return np.where(np.isnan(r), np.inf, r)


def survival_d_calibration(surv, events, bins: int = 10) -> tuple[float, float, np.ndarray]:
    """D-calibration of predicted survival probabilities s_i = S(y_i | x_i) (N,) at the observed times:
    events add 1 to the bin of s_i, censored rows spread their unit mass uniformly over [0, s_i]; Pearson's
    chi-square against N / bins per bin. Returns ``(statistic, p_value, counts)``."""
    surv = np.clip(np.asarray(surv, dtype=float).ravel(), 0.0, 1.0)
    e = np.asarray(events, dtype=float).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    lower, upper = edges[:-1], edges[1:]
    idx = np.clip(np.floor(surv * bins).astype(int), 0, bins - 1)  # bin containing s_i (s = 1 -> last)
    counts = np.bincount(idx[e == 1], minlength=bins).astype(float)
    cens = e == 0
    if cens.any():
        sc = surv[cens][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            mass = np.clip(np.minimum(upper, sc) - lower, 0.0, None) / sc
        zero = sc[:, 0] == 0
        mass[zero] = 0.0
        mass[zero, 0] = 1.0
        counts += mass.sum(axis=0)
    stat, p = chisquare(counts)
    return float(stat), float(p), counts


@dataclasses.dataclass
class ArmCheck:
    """The check of one arm (``arm`` 0 = control, 1 = treated; ``label``: its value in the treatment
    column). ``times`` (G,) are the evaluation points (event times, each left limit just before it counted
    with the previous KM step); ``model``, ``km``, ``lower``, ``upper``, ``ratio`` are (G,) there.
    ``simultaneous_ratio``: the same supremum against the 95% simultaneous (equal-precision) band, whose
    normal quantile 1.96 is replaced by ``critical`` (about 3 over a typical follow-up): a model equal to
    the truth stays inside it with probability 0.95 over the whole range, where the pointwise band is left
    somewhere about half of the time. ``outside_simultaneous``: where it is left.
    ``outside``: the time ranges [start, end] (duration unit) of consecutive evaluation points with
    ratio > 1 -- at the resolution of the event times (the model may leave the band within the step
    before ``start``)."""

    arm: int
    label: object
    n: int
    n_events: int
    end: float
    band_ratio: float
    worst_time: float
    outside: list
    d_calibration_p: float
    simultaneous_ratio: float
    critical: float
    outside_simultaneous: list
    times: np.ndarray
    model: np.ndarray
    km: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    ratio: np.ndarray

    @property
    def inside(self) -> bool:
        """Inside the simultaneous 95% band (what ``fit`` warns about)."""
        return bool(self.simultaneous_ratio <= 1.0)

    def describe_outside(self, digits: int = 4, most: int = 3, simultaneous: bool = False) -> str:
        """The ranges outside the band, the ``most`` widest ("t=a" for a single point), in time order."""
        ranges = self.outside_simultaneous if simultaneous else self.outside
        if not ranges:
            return "none"
        shown = sorted(sorted(ranges, key=lambda r: r[0] - r[1])[:most])
        text = ", ".join(f"t={a:.{digits}g}" if a == b else f"[{a:.{digits}g}, {b:.{digits}g}]"
                         for a, b in shown)
        more = len(ranges) - len(shown)
        return text + (f" and {more} more" if more else "")


@dataclasses.dataclass
class FitCheck:
    """Per-arm Kaplan-Meier band check of a fitted model (:func:`fit_check`); ``arms[0]``, ``arms[1]``."""

    model_name: str
    arms: dict
    n_rows_model: dict
    rows: str = "the given rows"

    @property
    def inside(self) -> bool:
        """True when the model stays inside the simultaneous 95% Kaplan-Meier band of every arm."""
        return all(a.inside for a in self.arms.values())

    def summary(self) -> pd.DataFrame:
        """One row per arm: n, events, end of follow-up checked, band ratio, where it is worst, the time
        ranges outside the band and the D-calibration p-value."""
        rows = [{"arm": a.arm, "label": a.label, "n": a.n, "events": a.n_events, "follow_up_end": a.end,
                 "band_ratio": a.band_ratio, "worst_time": a.worst_time, "outside": a.describe_outside(),
                 "simultaneous_ratio": a.simultaneous_ratio,
                 "outside_simultaneous": a.describe_outside(simultaneous=True),
                 "d_calibration_p": a.d_calibration_p} for a in self.arms.values()]
        return pd.DataFrame(rows).set_index("arm")

    def warning_message(self) -> str | None:
        """One line naming each arm and time range where the model leaves the band; None when it does not."""
        bad = [a for a in self.arms.values() if not a.inside]
        if not bad:
            return None
        parts = [f"arm {a.arm} ({a.label!r}) over t in {a.describe_outside(simultaneous=True)} "
                 f"(ratio {a.simultaneous_ratio:.2f} to the simultaneous band, {a.band_ratio:.2f} to the "
                 f"pointwise)" for a in bad]
        return (f"{self.model_name} leaves the Kaplan-Meier 95% simultaneous band on {self.rows}: "
                + "; ".join(parts) + " -- see check(df) and plot_calibration()")

    def lines(self, decimals: int = 3) -> list[str]:
        """Lines for ``print_summary``."""
        out = []
        for a in self.arms.values():
            verdict = "inside" if a.inside else f"OUTSIDE over {a.describe_outside(simultaneous=True)}"
            out.append(f"{'KM band, arm ' + str(a.arm):>22} = ratio {a.band_ratio:.{decimals}f} pointwise, "
                       f"{a.simultaneous_ratio:.{decimals}f} simultaneous (t <= {a.end:.4g}; {verdict}), "
                       f"D-calibration p = {a.d_calibration_p:.{decimals}g}")
        return out

    def __repr__(self):
        return f"<FitCheck of {self.model_name}: " + "; ".join(
            f"arm {a.arm} band ratio {a.band_ratio:.3f}, D-cal p {a.d_calibration_p:.3g}"
            for a in self.arms.values()) + ">"

    def plot(self, ax=None):
        """Model survival over each arm's Kaplan-Meier with its 95% band, within follow-up; returns ax."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for a in self.arms.values():
            color = "C1" if a.arm else "C0"
            x = np.concatenate([[0.0], a.times])
            ax.step(x, np.concatenate([[1.0], a.km]), where="post", color=color, lw=1,
                    label=f"KM, arm {a.arm} ({a.label})")
            ax.fill_between(x, np.concatenate([[1.0], a.lower]), np.concatenate([[1.0], a.upper]),
                            step="post", color=color, alpha=0.2)
            ax.plot(a.times, a.model, color=color, lw=2, ls="--", label=f"{self.model_name}, arm {a.arm}")
            for lo, hi in a.outside_simultaneous:
                ax.axvspan(lo, hi, color=color, alpha=0.08)
        ax.set_xlabel("time")
        ax.set_ylabel("survival")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize="small")
        return ax


def _runs(times: np.ndarray, flag: np.ndarray) -> list[tuple[float, float]]:
    out, start = [], None
    for t, f in zip(times, flag):
        if f and start is None:
            start = t
        if f:
            last = t
        elif start is not None:
            out.append((float(start), float(last)))
            start = None
    if start is not None:
        out.append((float(start), float(last)))
    return out


def _arm_grid(y, e, max_times: int):
    """Evaluation points of one arm within follow-up: each event time and its left limit, plus the end of
    follow-up. Returns (end, critical, times, km, lower, upper, lower_sim, upper_sim), the band pointwise
    and simultaneous (equal precision, :func:`equal_precision_critical`) over [first event, end]."""
    n = y.size
    need = max(int(np.ceil(AT_RISK_FRACTION * n)), 1)
    end = float(np.sort(y)[::-1][need - 1])  # last time with >= need subjects at risk (y >= t)
    times, _, _, km, greenwood = _km_steps(y, e)
    inside = (times <= end) & np.isfinite(greenwood) & (km > 0)
    _, _, deaths, _, _ = _km_steps(y, e)
    inside &= np.cumsum(deaths) >= MIN_EVENTS  # from the arm's MIN_EVENTS-th event on
    if not inside.any():
        empty = np.zeros(0)
        return end, float("nan"), empty, empty, empty, empty, empty, empty
    first, last = np.flatnonzero(inside)[[0, -1]]
    critical = equal_precision_critical(greenwood[first], greenwood[last])
    t, km, lo, hi, _ = kaplan_meier_band(y, e)
    _, _, los, his, _ = kaplan_meier_band(y, e, critical=critical)
    t, km, lo, hi, los, his = (v[inside] for v in (t, km, lo, hi, los, his))
    if t.size > max_times:
        pick = np.unique(np.round(np.linspace(0, t.size - 1, max_times)).astype(int))
        t, km, lo, hi, los, his = (v[pick] for v in (t, km, lo, hi, los, his))

    def with_left_limits(v, at_end):
        # at t_j (j >= 1) the model also meets the previous step (its left limit); at the end the last step
        return np.concatenate([v[:-1], v, v[-1:]]) if at_end is None else np.concatenate([t[1:], t, [at_end]])

    tt = with_left_limits(None, end)
    kk = with_left_limits(km, None)
    order = np.lexsort((-kk, tt))  # by time; at a tie the left limit (higher KM) first
    return (end, critical, tt[order], kk[order],
            *(with_left_limits(v, None)[order] for v in (lo, hi, los, his)))


def _mean_survival(model, frame: pd.DataFrame, arm: int, times: np.ndarray, model_times: int) -> np.ndarray:
    """mean over the rows of ``frame`` of S_arm(t | x) at ``times`` (sorted, may repeat): evaluated at the
    distinct times, or for a continuous model at ``model_times`` evenly spaced times from the first to the
    last and interpolated linearly (error <= h^2 max|S''| / 8 for the spacing h)."""
    distinct = np.unique(times)
    if distinct.size == 0:
        return np.zeros(0)
    at = distinct
    if getattr(model, "continuous_survival", False) and distinct.size > model_times:
        at = np.linspace(distinct[0], distinct[-1], model_times)
    total = np.zeros(at.size)
    for first in range(0, len(frame), _CHUNK):  # memory O(times x chunk)
        total += model._arm_survival(frame.iloc[first:first + _CHUNK], arm, at).sum(axis=1)
    return np.interp(times, at, total / len(frame))


def fit_check(model, df: pd.DataFrame, max_rows: int = 5000, max_times: int = 1000, model_times: int = 64,
              seed: int = 0, rows: str = "the given rows") -> FitCheck:
    """Check a fitted model against each arm's Kaplan-Meier on ``df`` (see the module docstring).

    Parameters
    ----------
    df : frame with the model's covariates and its duration, event and treatment columns.
    max_rows : subjects per arm in the model's mean survival (a seeded random subset beyond it).
    max_times : event times per arm checked (evenly spaced in rank beyond it); each counts with its left
        limit.
    model_times : times at which a continuous model's survival is evaluated (interpolated between).
    seed : seed of the random subset of rows.
    rows : how the warning message names ``df`` (e.g. "the training rows").
    """
    model._check_fitted()
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    data = model.data_
    dcol, ecol, tcol = data.duration_col, data.event_col, data.treatment_col
    for arg, col in (("duration", dcol), ("event", ecol), ("treatment", tcol)):
        if col not in df.columns:
            raise DataError(f"check needs the {arg} column '{col}' in the frame")
    y = validate_duration(df[dcol], dcol)
    e = validate_event(df[ecol], ecol)
    a = data.transform(df, require_outcome=True).a.numpy() > 0.5
    labels = (data.meta.get("treatment_levels") if hasattr(data, "meta") else None) or []
    treated = data.treated_value
    control = next((v for v in labels if v != treated), 0)
    rng = np.random.default_rng(seed)
    arms, used = {}, {}
    for arm in (0, 1):
        rows_arm = np.flatnonzero(a == bool(arm))
        if rows_arm.size < 2 or e[rows_arm].sum() == 0:
            continue
        ya, ea = y[rows_arm], e[rows_arm]
        end, critical, times, km, lo, hi, los, his = _arm_grid(ya, ea, max_times)
        sub = rows_arm if rows_arm.size <= max_rows else \
            np.sort(rng.choice(rows_arm, max_rows, replace=False))
        frame = df.iloc[sub]
        mean_model = _mean_survival(model, frame, arm, times, model_times)
        ratio = band_ratio(mean_model, km, lo, hi)
        ratio_sim = band_ratio(mean_model, km, los, his)
        k = int(np.argmax(ratio)) if ratio.size else 0
        s_own = model._arm_survival_at(frame, arm, y[sub])
        _, p, _ = survival_d_calibration(s_own, e[sub])
        arms[arm] = ArmCheck(arm=arm, label=treated if arm else control, n=int(rows_arm.size),
                             n_events=int(ea.sum()), end=end,
                             band_ratio=float(ratio[k]) if ratio.size else 0.0,
                             worst_time=float(times[k]) if ratio.size else float("nan"),
                             outside=_runs(times, ratio > 1.0), d_calibration_p=p,
                             simultaneous_ratio=float(ratio_sim.max()) if ratio.size else 0.0,
                             critical=critical, outside_simultaneous=_runs(times, ratio_sim > 1.0),
                             times=times, model=mean_model, km=km, lower=lo, upper=hi, ratio=ratio)
        used[arm] = int(sub.size)
    return FitCheck(model_name=getattr(model, "name", type(model).__name__), arms=arms, n_rows_model=used,
                    rows=rows)


def check_training_rows(model, df: pd.DataFrame, note: str = "") -> FitCheck:
    """The check ``fit`` runs on its training rows: kept in ``model.fit_check_``; a one-line
    :class:`pyrocsa.errors.FitWarning` names each arm and time range where the model leaves the band, with
    ``note`` (what the fit already tried) appended."""
    import warnings

    from pyrocsa.errors import FitWarning

    result = fit_check(model, df, rows="the training rows")
    message = result.warning_message()
    if message:
        warnings.warn(message + note, FitWarning, stacklevel=3)
    return result

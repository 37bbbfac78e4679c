"""Plots in the lifelines idiom: every function takes ``ax=None`` and returns the matplotlib Axes.

* :func:`plot_kaplan_meier` -- Kaplan-Meier of the factual data per arm (lifelines).
* :func:`plot_population_survival` -- population survival of sampled potential outcomes per arm, with a
  pointwise band over draws (or over ensemble members).
* :func:`plot_adjusted_survival` -- adjusted (counterfactual) survival per arm with pointwise bands, from
  :class:`pyrocsa.DoublyRobust` (influence-function bands) or from sampled potential outcomes (plug-in),
  over each arm's Kaplan-Meier.
* :func:`plot_hazard_ratio` -- HR(t) over time with its CI, against a reference (ground truth or Cox).
* :func:`plot_ite` -- the distribution of per-subject ITEs with the population HDI.
* :func:`plot_effects` -- "who benefits": every patient's effect interval (``predict_effect``), sorted.
* :func:`plot_reliability` -- nominal vs observed interval coverage (calibration of uncertainty).
* :func:`plot_marginals`, :func:`plot_km_comparison` -- real vs synthetic data (STEAM).

Times are in the data's unit (days for the ACTG data). The survival plots of a model show the follow-up,
``[0, end of follow-up]``, by default: beyond it the curves come from the model's extrapolated tail
(:mod:`pyrocsa.core.tail`), not from data. ``extrapolate=True`` draws them further, the part beyond
follow-up shaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyrocsa.errors import ArgumentError, DataError, renamed_argument

__all__ = ["plot_kaplan_meier", "plot_population_survival", "plot_adjusted_survival", "plot_hazard_ratio",
           "plot_ite", "plot_effects", "plot_reliability", "plot_marginals", "plot_km_comparison"]

ARM_COLORS = {0: "tab:blue", 1: "tab:orange"}
ARM_LABELS = {0: "control (A=0)", 1: "treated (A=1)"}


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def _follow_up_axis(ax, end: float | None, extrapolate: bool, right: float | None) -> None:
    """x axis [0, end] (the follow-up), or with ``extrapolate`` [0, right] with [end, right] shaded."""
    if end is None:
        return
    if not extrapolate or right is None or right <= end:
        ax.set_xlim(0.0, end)
        return
    ax.axvspan(end, right, color="grey", alpha=0.12, linewidth=0, label="beyond follow-up (extrapolated)")
    ax.set_xlim(0.0, right)


def _km_per_arm(ax, df, duration_col, event_col, treatment_col, label: str, ci: bool, linestyle: str = "-"):
    """Draw one lifelines Kaplan-Meier curve per arm of ``df`` on ``ax``; ``label`` may use {arm} and {n}."""
    from lifelines import KaplanMeierFitter

    arm = df[treatment_col].astype(float).to_numpy()
    for a in (0, 1):
        m = arm == a
        if not m.any():
            continue
        kmf = KaplanMeierFitter(label=label.format(arm=ARM_LABELS[a], n=int(m.sum())))
        kmf.fit(df.loc[m, duration_col], df.loc[m, event_col])
        kmf.plot_survival_function(ax=ax, ci_show=ci, color=ARM_COLORS[a], linestyle=linestyle)


def plot_kaplan_meier(df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
                      ax=None, time_unit: str = "days", ci: bool = True):
    """Kaplan-Meier curve of the observed data in each arm (0/1 or bool treatment)."""

    ax = _axes(ax)
    for col in (duration_col, event_col, treatment_col):
        if col not in df.columns:
            raise DataError(f"column '{col}' not in the frame")
    _km_per_arm(ax, df, duration_col, event_col, treatment_col, label="{arm}, n={n}", ci=ci)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("survival probability S(t)")
    ax.set_title("Kaplan-Meier of observed data")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    return ax


def _empirical_survival(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Population survival P(T > t) of samples (S, N) on ``grid``, per draw: returns (S, len(grid))."""
    s = np.sort(samples, axis=1)
    n = s.shape[1]
    return 1.0 - np.stack([np.searchsorted(row, grid, side="right") for row in s]) / n


def plot_population_survival(outcomes, ax=None, times=None, level: float | None = None,
                             time_unit: str = "days", band: float | None = None, extrapolate: bool = False):
    """Population survival S_a(t) = mean over subjects of P(T_a > t | x) for each arm, from the sampled
    potential outcomes of ``outcomes`` (a :class:`pyrocsa.core.outcomes.PotentialOutcomes`).

    The line is the average over all draws; the band is the pointwise central ``level`` interval
    (default 0.9; ``band=`` is its deprecated name) of the
    per-draw (or per-chain, for an ensemble) population curves.

    The x axis is the follow-up, ``[0, outcomes.follow_up]`` (200 grid times unless ``times`` is given);
    ``extrapolate=True`` draws the curves to the 99th percentile of the draws, the part beyond follow-up
    shaded. Without ``follow_up`` the curves run to that percentile.
    """
    band = renamed_argument(level, band, "level", "band", "plot_population_survival")
    band = 0.9 if band is None else band
    ax = _axes(ax)
    t_all = np.concatenate([outcomes.t0.ravel(), outcomes.t1.ravel()])
    end = getattr(outcomes, "follow_up", None)
    right = float(np.quantile(t_all, 0.99))
    if times is not None:
        grid = np.asarray(times, float)
    else:
        grid = np.linspace(0.0, end if (end is not None and not extrapolate) else max(right, end or 0.0), 200)
    chains = int(getattr(outcomes, "chains", 1) or 1)
    for a, samples in ((0, outcomes.t0), (1, outcomes.t1)):
        if chains > 1:
            blocks = np.split(samples, chains, axis=0)
            curves = np.stack([_empirical_survival(b.reshape(1, -1), grid)[0] for b in blocks])
        else:
            curves = _empirical_survival(samples, grid)
        mean = curves.mean(axis=0)
        lo, hi = np.quantile(curves, [(1 - band) / 2, (1 + band) / 2], axis=0)
        ax.plot(grid, mean, color=ARM_COLORS[a], label=f"{ARM_LABELS[a]} (sampled)")
        ax.fill_between(grid, lo, hi, color=ARM_COLORS[a], alpha=0.25, linewidth=0)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("population survival S_a(t)")
    ax.set_title(f"Potential-outcome survival per arm ({int(band * 100)}% band)")
    ax.set_ylim(0, 1.02)
    _follow_up_axis(ax, end, extrapolate, float(grid.max()) if len(grid) else None)
    ax.legend(loc="lower left")
    return ax


def plot_adjusted_survival(source, ax=None, level: float = 0.95, times=None, km: bool = True,
                           df: pd.DataFrame | None = None, duration_col: str | None = None,
                           event_col: str | None = None, treatment_col: str | None = None,
                           time_unit: str = "days", extrapolate: bool = False):
    """Adjusted survival ``S_a(t) = mean_x S_a(t | x)`` of each arm with a pointwise ``level`` band, over
    each arm's Kaplan-Meier of the observed data (dashed, lifelines).

    ``source`` is a fitted :class:`pyrocsa.DoublyRobust` (doubly robust curve, influence-function band;
    :meth:`~pyrocsa.DoublyRobust.adjusted_survival`) or a :class:`pyrocsa.core.outcomes.PotentialOutcomes`
    (plug-in curve of the draws, band over members or draws;
    :meth:`~pyrocsa.core.outcomes.PotentialOutcomes.adjusted_survival`). The Kaplan-Meier comes from the data
    the estimator was fitted on, from ``outcomes.observed``, or from ``df`` with the three column names;
    ``km=False`` leaves it out. In a randomised trial both should agree; under confounding they should not.

    The x axis is the follow-up: up to ``outcomes.follow_up`` for draws (200 grid times unless ``times``
    is given), up to the longest duration of the data for a :class:`~pyrocsa.DoublyRobust`.
    ``extrapolate=True`` draws the plug-in curves to the 99th percentile of the draws, the part beyond
    follow-up shaded (a doubly robust curve has no tail).
    """
    ax = _axes(ax)
    end = None
    if hasattr(source, "pseudo_outcomes_"):
        curves = source.adjusted_survival(times=times, level=level)
        kind = "doubly robust"
        if df is None:
            df = source._frame
            duration_col, event_col, treatment_col = (source.columns_[k] for k in
                                                      ("duration_col", "event_col", "treatment_col"))
        end = float(source._frame[source.columns_["duration_col"]].max())
    elif hasattr(source, "t0") and hasattr(source, "t1"):
        end = getattr(source, "follow_up", None)
        if times is None and end is not None:
            right = float(np.quantile(np.concatenate([source.t0.ravel(), source.t1.ravel()]), 0.99))
            times = np.linspace(0.0, max(right, end) if extrapolate else end, 200)
        curves = source.adjusted_survival(times=times, level=level)
        kind = "plug-in"
        if df is None and getattr(source, "observed", None) is not None:
            df, duration_col, event_col, treatment_col = source.observed, "time", "event", "treatment"
    else:
        raise ArgumentError("source must be a fitted DoublyRobust or a PotentialOutcomes; got "
                         f"{type(source).__name__}")
    t = curves.index.to_numpy(dtype=float)
    for a in (0, 1):
        ax.step(t, curves[f"arm{a}"], where="post", color=ARM_COLORS[a],
                label=f"{ARM_LABELS[a]}, adjusted ({kind})")
        ax.fill_between(t, curves[f"arm{a}_lower"], curves[f"arm{a}_upper"], step="post",
                        color=ARM_COLORS[a], alpha=0.25, linewidth=0)
    if km and df is not None:
        for col in (duration_col, event_col, treatment_col):
            if col is None or col not in df.columns:
                raise DataError(f"column {col!r} not in the frame used for the Kaplan-Meier overlay")
        _km_per_arm(ax, df, duration_col, event_col, treatment_col, label="{arm}, Kaplan-Meier (n={n})",
                    ci=False, linestyle="--")
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("adjusted survival S_a(t)")
    ax.set_title(f"Adjusted survival per arm ({kind}, {int(round(level * 100))}% pointwise band)")
    ax.set_ylim(0, 1.02)
    _follow_up_axis(ax, end, extrapolate, float(t.max()) if len(t) else None)
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_hazard_ratio(hr: dict, ax=None, reference: dict | None = None, reference_label: str = "reference",
                      label: str = "model", time_unit: str = "days"):
    """HR(t) over time with its CI band (``hr`` as returned by ``PotentialOutcomes.hazard_ratio()``: keys
    ``times``, ``curve``, ``curve_lower``, ``curve_upper``, ``hr``, ``lower``, ``upper``).

    ``reference`` is another such dict (e.g. the ground truth's HR(t)) or a dict with only ``hr``,
    ``lower``, ``upper`` (e.g. a Cox HR), drawn as a horizontal line with a shaded CI.
    """
    ax = _axes(ax)
    for key in ("hr", "lower", "upper"):
        if key not in hr:
            raise ArgumentError(f"hr must have key '{key}' (got {sorted(hr)})")
    if "times" in hr and "curve" in hr:
        t = np.asarray(hr["times"])
        ax.plot(t, hr["curve"], color="tab:red", label=f"{label} HR(t)")
        if "curve_lower" in hr:
            ax.fill_between(t, hr["curve_lower"], hr["curve_upper"], color="tab:red", alpha=0.2, linewidth=0)
    ax.axhline(hr["hr"], color="tab:red", ls="--", lw=1,
               label=f"{label}: {hr['hr']:.2f} ({hr['lower']:.2f}, {hr['upper']:.2f})")
    if reference is not None:
        if "times" in reference and "curve" in reference:
            ax.plot(reference["times"], reference["curve"], color="black", label=f"{reference_label} HR(t)")
        ax.axhspan(reference["lower"], reference["upper"], color="grey", alpha=0.2)
        ax.axhline(reference["hr"], color="black", ls=":", lw=1,
                   label=f"{reference_label}: {reference['hr']:.2f} ({reference['lower']:.2f}, "
                         f"{reference['upper']:.2f})")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("hazard ratio HR(t), treated / control")
    ax.set_title("Population hazard ratio over time")
    ax.legend(loc="best", fontsize=8)
    return ax


def plot_ite(outcomes, ax=None, horizon: float | None = None, level: float | None = None,
             time_unit: str = "days", hdi_prob: float | None = None):
    """Histogram of per-subject ITEs (expected-lifetime difference, or RMST difference at ``horizon``)
    with the ATE and the central ``level`` range (default 0.9; ``hdi_prob=`` is its deprecated name) of the
    subject ITEs."""
    hdi_prob = renamed_argument(level, hdi_prob, "level", "hdi_prob", "plot_ite")
    hdi_prob = 0.9 if hdi_prob is None else hdi_prob
    ax = _axes(ax)
    ite = outcomes.ite() if horizon is None else outcomes.rmst_difference(horizon)
    ite = np.asarray(ite, dtype=float)
    lo, hi = np.quantile(ite, [(1 - hdi_prob) / 2, (1 + hdi_prob) / 2])
    ax.hist(ite, bins=40, color="tab:purple", alpha=0.7)
    ax.axvline(ite.mean(), color="black", label=f"ATE = {ite.mean():.1f} {time_unit}")
    ax.axvspan(lo, hi, color="tab:purple", alpha=0.12,
               label=f"central {int(hdi_prob * 100)}% of subjects: ({lo:.0f}, {hi:.0f})")
    ax.axvline(0.0, color="grey", lw=0.5)
    what = "expected lifetime" if horizon is None else f"RMST at {horizon:g} {time_unit}"
    ax.set_xlabel(f"ITE: difference in {what} ({time_unit})")
    ax.set_ylabel("number of subjects")
    ax.set_title("Individual treatment effects")
    ax.legend(loc="best", fontsize=8)
    return ax


def plot_effects(effects: pd.DataFrame, ax=None, threshold: float = 0.95, time_unit: str = "days",
                 what: str = "RMST difference"):
    """Who benefits: each patient's effect interval from ``model.predict_effect(df, horizon=...)`` (columns
    ``estimate``, ``lower``, ``upper``, ``prob_benefit``), sorted by estimate, coloured by the posterior
    probability of benefit: ``prob_benefit > threshold`` (benefit), ``< 1 - threshold`` (harm), else
    uncertain; the legend gives each group's share of the patients. Returns the Axes."""
    need = {"estimate", "lower", "upper", "prob_benefit"}
    if not isinstance(effects, pd.DataFrame) or not need <= set(effects.columns):
        raise DataError(f"effects must be the DataFrame of predict_effect (columns {sorted(need)})")
    if isinstance(effects.index, pd.MultiIndex):
        raise ArgumentError("effects holds several times: plot one block, e.g. effects.xs(t, level='time')")
    if not 0.5 < threshold < 1:
        raise ArgumentError(f"threshold must be in (0.5, 1), got {threshold!r}")
    ax = _axes(ax)
    e = effects.sort_values("estimate")
    rank = np.arange(len(e))
    p = e["prob_benefit"].to_numpy()
    groups = ((p > threshold, "tab:green", f"P(benefit) > {threshold:g}"),
              (p < 1 - threshold, "tab:red", f"P(benefit) < {1 - threshold:g}"),
              ((p >= 1 - threshold) & (p <= threshold), "tab:grey", "uncertain"))
    for mask, color, label in groups:
        ax.vlines(rank[mask], e["lower"].to_numpy()[mask], e["upper"].to_numpy()[mask], color=color,
                  alpha=0.5, lw=1, label=f"{label}: {mask.mean():.0%}")
        ax.plot(rank[mask], e["estimate"].to_numpy()[mask], ".", color=color, ms=2)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("patients, sorted by estimated effect")
    ax.set_ylabel(f"{what} ({time_unit})")
    ax.set_title("Who benefits: per-patient effect intervals")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_reliability(nominal, observed, ax=None, labels=None):
    """Reliability diagram: observed coverage of central intervals against nominal level.

    ``observed`` may be one array (len(nominal),) or a dict label -> array (e.g. one per arm)."""
    ax = _axes(ax)
    nominal = np.asarray(nominal, dtype=float)
    series = observed if isinstance(observed, dict) else {labels or "model": observed}
    for name, obs in series.items():
        ax.plot(nominal, np.asarray(obs, dtype=float), marker="o", label=str(name))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", label="perfect calibration")
    ax.set_xlabel("nominal coverage of central interval")
    ax.set_ylabel("observed coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability of per-subject intervals")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_marginals(real: pd.DataFrame, synthetic: pd.DataFrame, columns=None, axes=None,
                   max_columns: int = 9):
    """Real vs synthetic marginal distributions (histograms for numeric columns, bar charts otherwise).
    Returns the array of Axes."""
    import matplotlib.pyplot as plt

    columns = list(columns) if columns is not None else [c for c in real.columns if c in synthetic.columns]
    missing = [c for c in columns if c not in real.columns or c not in synthetic.columns]
    if missing:
        raise DataError(f"columns {missing} not in both frames")
    columns = columns[:max_columns]
    if axes is None:
        ncol = 3
        nrow = int(np.ceil(len(columns) / ncol))
        _, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.8 * nrow), squeeze=False)
    flat = np.asarray(axes).ravel()
    for ax, col in zip(flat, columns):
        r, s = real[col].dropna(), synthetic[col].dropna()
        if pd.api.types.is_numeric_dtype(r) and r.nunique() > 10:
            bins = np.histogram_bin_edges(np.concatenate([r.to_numpy(float), s.to_numpy(float)]), bins=30)
            ax.hist(r, bins=bins, density=True, alpha=0.5, label="real")
            ax.hist(s, bins=bins, density=True, alpha=0.5, label="synthetic")
            ax.set_ylabel("density")
        else:
            levels = sorted(set(r.astype(str)) | set(s.astype(str)))
            pr = r.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
            ps = s.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
            pos = np.arange(len(levels))
            ax.bar(pos - 0.2, pr.to_numpy(), width=0.4, label="real")
            ax.bar(pos + 0.2, ps.to_numpy(), width=0.4, label="synthetic")
            ax.set_xticks(pos, levels, rotation=45, fontsize=7)
            ax.set_ylabel("proportion")
        ax.set_title(col)
        ax.legend(fontsize=7)
    for ax in flat[len(columns):]:
        ax.set_visible(False)
    return axes


def plot_km_comparison(real: pd.DataFrame, synthetic: pd.DataFrame, duration_col: str, event_col: str,
                       treatment_col: str, ax=None, time_unit: str = "days"):
    """Kaplan-Meier per arm of real (solid) and synthetic (dashed) data on one Axes."""

    ax = _axes(ax)
    for frame, style, name in ((real, "-", "real"), (synthetic, "--", "synthetic")):
        _km_per_arm(ax, frame, duration_col, event_col, treatment_col, label=name + ", {arm}", ci=False,
                    linestyle=style)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("survival probability S(t)")
    ax.set_title("Kaplan-Meier: real (solid) vs synthetic (dashed)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    return ax

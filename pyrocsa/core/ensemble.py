"""Deep ensembles of CSA models: uncertainty about the effect itself.

One fitted CSA model gives draws of T0, T1 for each subject -- uncertainty about the *outcome* given the
fitted model -- but says nothing about how much the fitted model (and so an average effect) would move with
another training sample or another seed. An ensemble of K members, each fitted from its own seed on a
bootstrap resample of the training rows, adds that layer:

* :func:`stratified_bootstrap` -- resample rows with replacement within each arm x event stratum, so every
  member sees the same numbers of treated/control events and censorings as the full data;
* :func:`fit_members` -- fit K single :class:`pyrocsa.CSA` models in parallel processes (joblib / loky,
  one torch thread per worker); the validation frame (early stopping) is shared, not resampled;
* :func:`sample_members` -- draws from every member, concatenated into one
  :class:`~pyrocsa.outcomes.PotentialOutcomes` with ``chains=K`` (member k = chain k), so
  ``to_inference_data()`` puts members on ArviZ's ``chain`` dimension and ``az.summary``'s ``r_hat`` across
  members reads as a model-disagreement flag (r_hat >> 1: members disagree beyond their own spread);
* :func:`effect_intervals` -- population effects (ATE in expected lifetime, RMST difference at a horizon,
  hazard ratio) with intervals from the spread *between* members.

Which interval (see :func:`effect_intervals`): member k's estimate theta_k is one bootstrap-and-reseed
replicate of the estimator. With few members (K = 3..10) a percentile interval over K values is too
short (its ends are the K values' extremes, reaching the 2.5%/97.5% points only for K >~ 40). The default
is a t interval that treats the members as a sample of K replicates and the reported estimate as their mean:

    estimate +- t_{K-1}((1 + prob) / 2) * s_K * sqrt(1 + 1/K),

s_K the standard deviation (ddof 1) of the K member estimates. s_K^2 estimates the sampling variance of
one member's estimate (training-data resampling + optimisation noise from the seed) -- the bootstrap's
stand-in for the variance of the estimator over training samples; the factor (1 + 1/K) adds the
Monte-Carlo error of the K-member mean, and t_{K-1} pays for estimating s_K from K values (the
prediction-interval form of a Student interval). Checked by ``benchmarks/coverage.py``. No interval built
from the members sees a bias they all share (misspecification, confounding the IPM does not remove,
under-training): the benchmark reports bias beside coverage for that reason.

Parallel fitting vs ``torch.func`` vectorisation: see ``benchmarks/ensemble_timing.py``; the members are
fitted in separate processes because each CSA fit is a sequential minibatch loop with batch normalisation,
Sinkhorn IPM and no-grad imputation draws, none of which vmap cleanly.
"""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .data import SurvivalData, stratified_split, validate_event, validate_treatment

__all__ = ["stratified_bootstrap", "member_seeds", "fit_members", "sample_members", "effect_intervals"]


# ---------------------------------------------------------------------------------------------------------
# resampling and seeds
# ---------------------------------------------------------------------------------------------------------
def _binary(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isin(v, (0.0, 1.0)).all():
        bad = sorted(set(v[~np.isin(v, (0.0, 1.0))].tolist()))[:5]
        raise ValueError(f"{name} must be 0/1 (NaN-free); found value(s) {bad}")
    return v


def stratified_bootstrap(a, delta, seed) -> np.ndarray:
    """Bootstrap row positions, resampled with replacement *within* each treatment x event stratum.

    Parameters
    ----------
    a : (N,) 0/1 treatment; delta : (N,) 0/1 event indicator.
    seed : int, ``numpy.random.SeedSequence`` or None (not reproducible).

    Returns
    -------
    (N,) int array of positions into the N rows, sorted; stratum (a, delta) keeps its exact size, so the
    counts of treated/control events and censorings are those of the original rows.
    """
    a = _binary(a, "a")
    delta = _binary(delta, "delta")
    if a.size != delta.size:
        raise ValueError(f"a has length {a.size} but delta has length {delta.size}")
    rng = np.random.default_rng(seed)
    out = []
    for arm in (0.0, 1.0):
        for event in (0.0, 1.0):
            pos = np.flatnonzero((a == arm) & (delta == event))
            if pos.size:
                out.append(rng.choice(pos, size=pos.size, replace=True))
    return np.sort(np.concatenate(out))


def member_seeds(seed, k: int) -> list[tuple[int, int]]:
    """K independent ``(bootstrap_seed, fit_seed)`` integer pairs derived from ``seed`` (int or None)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"K must be a positive integer, got {k!r}")
    children = np.random.SeedSequence(seed).spawn(int(k))
    return [tuple(int(s) & 0x7FFFFFFF for s in c.generate_state(2)) for c in children]


# ---------------------------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------------------------
def _csa_accepts(name: str, fn) -> bool:
    return name in inspect.signature(fn).parameters


def _fit_member(config: dict, frame: pd.DataFrame, duration_col, event_col, treatment_col, val_df,
                covariates, treated_value, fit_seed: int, preprocessor):
    """Fit one single-model CSA on ``frame`` with one torch thread (runs in a worker process)."""
    import torch

    from .estimator import CSA

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per member; also makes the fit independent of n_jobs
    try:
        kwargs = dict(config)
        kwargs["seed"] = int(fit_seed)
        if _csa_accepts("ensemble_size", CSA.__init__):
            kwargs["ensemble_size"] = 1
        est = CSA(**kwargs)
        fit_kw = dict(val_df=val_df, covariates=covariates, treated_value=treated_value)
        if preprocessor is not None:
            fit_kw["preprocessor"] = preprocessor
        with warnings.catch_warnings():
            # already said once for the whole training frame by fit_members (in the parent process)
            warnings.filterwarnings("ignore", message="dropping constant covariate", category=UserWarning)
            est.fit(frame, duration_col, event_col, treatment_col, **fit_kw)
    finally:
        torch.set_num_threads(threads)
    return est


def fit_members(config: dict, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
                val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None,
                K: int = 5, seed: int | None = 0, n_jobs: int | None = None, bootstrap: bool = True) -> list:
    """Fit K CSA members, member k on a stratified bootstrap resample of ``df``'s rows with its own seed.

    Parameters
    ----------
    config : keyword arguments of :class:`pyrocsa.CSA` (all but ``seed``, which comes from ``seed``).
    df : training frame (one row per subject; never modified). duration_col, event_col, treatment_col,
        covariates, treated_value : as in :meth:`pyrocsa.CSA.fit`.
    val_df : validation frame for early stopping, shared by all members (not resampled). None: a
        stratified 15% of ``df`` is held out first (seeded by ``seed``) and the rest is resampled.
    K : number of members (>= 1). seed : derives every member's bootstrap and fit seeds
        (:func:`member_seeds`); the result does not depend on ``n_jobs``.
    n_jobs : worker processes (joblib, loky backend); default ``min(K, os.cpu_count())``; 1 = in-process.
    bootstrap : False fits every member on all training rows (a deep ensemble: members differ only by seed;
        less attenuation of effects, less spread). Default True.

    Returns the list of K fitted :class:`pyrocsa.CSA` models. Each has ``bootstrap_rows_`` (positions into
    the training rows) and ``member_seed_``. Preprocessing: when ``CSA.fit`` accepts ``preprocessor=``,
    every member reuses the one fitted on the whole training frame (identical x for all members);
    otherwise each member fits its own on its resample (same columns, slightly different centring).
    """
    from .estimator import CSA

    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict of CSA keyword arguments, got {type(config).__name__}")
    if "seed" in config:
        raise ValueError("config must not set 'seed': member seeds are derived from fit_members(seed=...)")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    seeds = member_seeds(seed, K)
    if n_jobs is None:
        n_jobs = min(int(K), os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or None, got {n_jobs!r}")
    for arg, col in (("duration_col", duration_col), ("event_col", event_col),
                     ("treatment_col", treatment_col)):
        if col not in df.columns:
            raise ValueError(f"{arg}='{col}': column '{col}' not in the frame")
    if val_df is None:
        parts = stratified_split(df, event_col, treatment_col, fractions=(0.85, 0.15, 0.0), seed=seed or 0)
        train_df, val_df = df.iloc[parts["train"]], df.iloc[parts["valid"]]
    else:
        if not isinstance(val_df, pd.DataFrame):
            raise ValueError(f"val_df must be a pandas DataFrame, got {type(val_df).__name__}")
        train_df = df
    # validates the frame once and fits the shared preprocessing on the whole training frame
    full = SurvivalData.from_frame(train_df, duration_col, event_col, treatment_col, covariates=covariates,
                                   treated_value=treated_value)
    a = validate_treatment(train_df[treatment_col], treatment_col, full.treated_value)
    delta = validate_event(train_df[event_col], event_col)
    shared = full.preprocessor if _csa_accepts("preprocessor", CSA.fit) else None
    covs = full.covariates if covariates is None else list(covariates)

    jobs = []
    rows = []
    for boot_seed, fit_seed in seeds:
        pos = stratified_bootstrap(a, delta, boot_seed) if bootstrap else np.arange(len(a))
        rows.append(pos)
        frame = train_df.iloc[pos].reset_index(drop=True)  # duplicated rows need a fresh unique index
        jobs.append((dict(config), frame, duration_col, event_col, treatment_col, val_df, covs,
                     treated_value, fit_seed, shared))
    if n_jobs == 1 or len(jobs) == 1:
        members = [_fit_member(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed

        members = Parallel(n_jobs=min(int(n_jobs), len(jobs)), backend="loky")(
            delayed(_fit_member)(*job) for job in jobs)
    for est, pos, (boot_seed, fit_seed) in zip(members, rows, seeds):
        est.bootstrap_rows_ = pos
        est.member_seed_ = {"bootstrap": boot_seed, "fit": fit_seed}
    return members


# ---------------------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------------------
def sample_members(members, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None):
    """Draw ``num_samples / K`` potential outcomes per subject from each of the K members.

    Returns :class:`pyrocsa.outcomes.PotentialOutcomes` with ``t0``, ``t1`` (and ``c0``, ``c1`` for
    CSA-INFO) of shape (num_samples, len(df)), member k's draws in rows ``k*S/K : (k+1)*S/K``, and
    ``chains=K``. ``num_samples`` must be a multiple of K. ``seed`` derives one sampling seed per member.
    """
    from .outcomes import PotentialOutcomes

    members = list(members)
    k = len(members)
    if k == 0:
        raise ValueError("members is empty: fit at least one member")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    if num_samples % k:
        raise ValueError(f"num_samples={num_samples} is not divisible by the number of members K={k}: "
                         f"draws are split evenly across members (use e.g. {k * max(1, num_samples // k)})")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    per = num_samples // k
    seeds = [s for _, s in member_seeds(seed, k)] if seed is not None else [None] * k
    outs = []
    for est, s in zip(members, seeds):
        # members share parameter names, but sampling reads each module's own weights (pyro.module only
        # registers them in the param store), so one member's draws do not depend on the others' (tested)
        outs.append(est.sample_potential_outcomes(df, num_samples=per, seed=s))
    first = outs[0]
    arrays = {}
    for name in ("t0", "t1", "c0", "c1"):
        vals = [getattr(o, name) for o in outs]
        arrays[name] = None if any(v is None for v in vals) else np.concatenate(vals, axis=0)
    name = first.model_name or type(members[0]).__name__
    return PotentialOutcomes(arrays["t0"], arrays["t1"], index=first.index, c0=arrays["c0"],
                             c1=arrays["c1"], chains=k, observed=first.observed, covariates=first.covariates,
                             model_name=f"{name} ensemble (K={k})" if k > 1 else name)


# ---------------------------------------------------------------------------------------------------------
# population effects with between-member intervals
# ---------------------------------------------------------------------------------------------------------
def _interval(values: np.ndarray, prob: float, method: str, extra_var: float = 0.0) -> dict:
    """Interval from K member estimates (see the module docstring); ``extra_var`` adds an independent
    variance term (subject sampling). The t quantile keeps K - 1 degrees of freedom -- conservative
    (Welch-Satterthwaite would give more, and could make the wider-variance interval *shorter*)."""
    k = values.size
    est = float(values.mean())
    sd = float(values.std(ddof=1))
    if method == "percentile":
        lo, hi = np.quantile(values, [(1 - prob) / 2, (1 + prob) / 2])
        return {"estimate": est, "lower": float(lo), "upper": float(hi), "se": sd}
    se = float(np.sqrt(sd ** 2 * (1.0 + 1.0 / k) + extra_var))
    half = float(stats.t.ppf((1 + prob) / 2, k - 1)) * se
    return {"estimate": est, "lower": est - half, "upper": est + half, "se": se}


def effect_intervals(outcomes, horizon: float, prob: float = 0.95, method: str = "t", target: str = "sample",
                     hazard_ratio: bool = True) -> dict:
    """Population treatment effects of an ensemble with intervals from the spread between its members.

    Parameters
    ----------
    outcomes : :class:`~pyrocsa.outcomes.PotentialOutcomes` with ``chains = K >= 2`` (K member blocks).
    horizon : RMST horizon (duration unit, > 0).
    prob : interval level in (0, 1).
    method : ``"t"`` (default; mean +- t_{K-1} s_K sqrt(1 + 1/K), see the module docstring) or
        ``"percentile"`` (quantiles of the K member estimates; too short for small K).
    target : ``"sample"`` (default): the effect averaged over *these* N subjects (conditional on their
        covariates; between-member spread only). ``"population"``: the effect in the population the
        subjects were drawn from; adds the subject-sampling variance (var over subjects of the
        member-averaged per-subject effect / N for ATE and RMST; a 200-resample subject bootstrap of
        log HR), added to the between-member variance (t quantile with K - 1 degrees of freedom, so the
        population interval is never shorter). Only with ``method="t"``.
    hazard_ratio : also compute the population hazard ratio (KM curves of per-subject medians,
        :func:`pyrocsa.estimands.population_hazard_ratio`, one common time grid for all members);
        intervals on the log scale, exponentiated.

    Returns
    -------
    dict with ``"ate"`` (E[T1 - T0], duration unit), ``"rmst_difference"`` (E[min(T1,h) - min(T0,h)]) and
    ``"hazard_ratio"``, each a dict with ``estimate`` (mean of the member estimates; geometric mean for
    the HR), ``lower``, ``upper``, ``se`` (log scale for the HR) and ``members`` (K,); plus ``prob``,
    ``method``, ``target``, ``horizon``, ``chains``.
    """
    from .estimands import default_time_grid, point_prediction, population_hazard_ratio

    k = getattr(outcomes, "chains", None)
    if k is None or not hasattr(outcomes, "t0"):
        raise ValueError("outcomes must be a pyrocsa.outcomes.PotentialOutcomes")
    if k < 2:
        raise ValueError(f"outcomes has chains={k}: between-member intervals need an ensemble of K >= 2 "
                         "members (sample_members / CSA(ensemble_size=K))")
    if not 0 < prob < 1:
        raise ValueError(f"prob must be in (0, 1), got {prob}")
    if method not in ("t", "percentile"):
        raise ValueError(f"method must be 't' or 'percentile', got {method!r}")
    if target not in ("sample", "population"):
        raise ValueError(f"target must be 'sample' or 'population', got {target!r}")
    if target == "population" and method != "t":
        raise ValueError("target='population' needs method='t'")
    h = float(horizon)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"horizon must be a positive finite time, got {horizon!r}")
    s, n = outcomes.t0.shape
    t0 = outcomes.t0.reshape(k, s // k, n)
    t1 = outcomes.t1.reshape(k, s // k, n)

    ite = (t1 - t0).mean(axis=1)  # (K, N): member-level per-subject effects
    rmst = (np.minimum(t1, h) - np.minimum(t0, h)).mean(axis=1)
    out = {"prob": float(prob), "method": method, "target": target, "horizon": h, "chains": int(k)}
    for key, per_subject in (("ate", ite), ("rmst_difference", rmst)):
        members = per_subject.mean(axis=1)
        extra_var = 0.0
        if target == "population":
            extra_var = float(per_subject.mean(axis=0).var(ddof=1) / n)
        res = _interval(members, prob, method, extra_var)
        res["members"] = members
        out[key] = res
    out["rmst_difference"]["horizon"] = h

    if hazard_ratio:
        observed = getattr(outcomes, "observed", None)
        if observed is not None:
            grid = np.unique(observed["time"].to_numpy(dtype=float))
        else:
            grid = default_time_grid(point_prediction(outcomes.t0), point_prediction(outcomes.t1))
        log_hr = np.empty(k)
        for j in range(k):
            try:
                log_hr[j] = np.log(population_hazard_ratio(t0[j], t1[j], times=grid, n_boot=0)["hr"])
            except ValueError as err:
                raise ValueError(f"hazard ratio of member {j}: {err} (pass hazard_ratio=False to skip "
                                 "it)") from err
            if not np.isfinite(log_hr[j]):
                raise ValueError(f"hazard ratio of member {j} is not a positive finite number (a flat "
                                 "population survival curve); pass hazard_ratio=False to skip it")
        extra_var = 0.0
        if target == "population":
            rng = np.random.default_rng(0)
            g0, g1 = point_prediction(outcomes.t0), point_prediction(outcomes.t1)
            reps = []
            for _ in range(200):
                idx = rng.integers(0, n, size=n)
                try:
                    reps.append(np.log(population_hazard_ratio(g0[None, idx], g1[None, idx], times=grid,
                                                               n_boot=0)["hr"]))
                except ValueError:  # a degenerate resample (flat curve): left out, like estimands' bootstrap
                    continue
            reps = np.asarray(reps)
            reps = reps[np.isfinite(reps)]
            if reps.size < 2:
                raise ValueError("the subject bootstrap of the hazard ratio failed on every resample; pass "
                                 "hazard_ratio=False or target='sample'")
            extra_var = float(reps.var(ddof=1))
        res = _interval(log_hr, prob, method, extra_var)
        out["hazard_ratio"] = {"estimate": float(np.exp(res["estimate"])),
                               "lower": float(np.exp(res["lower"])), "upper": float(np.exp(res["upper"])),
                               "se": res["se"], "members": np.exp(log_hr)}
    return out

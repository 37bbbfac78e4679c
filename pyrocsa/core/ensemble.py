"""Bootstrap ensembles of any pyrocsa estimator (CSA, the baselines): uncertainty about the effect itself.

One fitted CSA model gives draws of T0, T1 for each subject -- uncertainty about the *outcome* given the
fitted model -- but says nothing about how much the fitted model (and so an average effect) would move with
another training sample or another seed. An ensemble of K members, each fitted from its own seed on a
bootstrap resample of the training rows, adds that layer:

* :func:`stratified_bootstrap` -- resample rows with replacement within each arm x event stratum, so every
  member sees the same numbers of treated/control events and censorings as the full data;
* :class:`Ensemble` -- ``Ensemble(estimator, n_members=K, seed=...)``: the estimator front of the rest,
  and the one way to combine fits (a :class:`pyrocsa.CSA` is always one model);
* :func:`fit_members` -- fit K copies of one estimator in parallel processes (joblib / loky, one torch
  thread per worker); the validation frame (early stopping) is shared, not resampled;
* :func:`sample_members` -- draws from every member, concatenated into one
  :class:`~pyrocsa.core.outcomes.PotentialOutcomes` with ``chains=K`` (member k = chain k), so
  ``to_inference_data()`` puts members on ArviZ's ``chain`` dimension and ``az.summary``'s ``r_hat`` across
  members reads as a model-disagreement flag (r_hat >> 1: members disagree beyond their own spread);
* :func:`effect_intervals` -- population effects (ATE in expected lifetime, RMST difference at a horizon,
  hazard ratio) with intervals from the spread *between* members.

Which interval (see :func:`effect_intervals`): member k's estimate theta_k is one bootstrap-and-reseed
replicate of the estimator. With few members (K = 3..10) a percentile interval over K values is too
short (its ends are the K values' extremes, reaching the 2.5%/97.5% points only for K >~ 40). The default
is a t interval that treats the members as a sample of K replicates and the reported estimate as their mean:

    estimate +- t_{K-1}((1 + level) / 2) * s_K * sqrt(1 + 1/K),

s_K the standard deviation (ddof 1) of the K member estimates. s_K^2 estimates the sampling variance of
one member's estimate (training-data resampling + optimisation noise from the seed) -- the bootstrap's
stand-in for the variance of the estimator over training samples; the factor (1 + 1/K) adds the
Monte-Carlo error of the K-member mean, and t_{K-1} pays for estimating s_K from K values (the
prediction-interval form of a Student interval). Checked by ``benchmarks/coverage.py``. No interval built
from the members sees a bias they all share (misspecification, confounding the IPM does not remove,
under-training): the benchmark reports bias beside coverage for that reason.

The members are fitted in separate processes, not vectorised with ``torch.func``, because each CSA fit is
a sequential minibatch loop with batch normalisation, Sinkhorn IPM and no-grad imputation draws, none of
which vmap cleanly.
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pyrocsa.core.base import CounterfactualSurvivalModel
from pyrocsa.core.effects import EffectPosteriorMixin
from pyrocsa.data.frame import (
    SurvivalData,
    shift_zero_durations_pair,
    validate_event,
    validate_treatment,
    validation_split,
)
from pyrocsa.errors import (
    ArgumentError,
    DataError,
    FitWarning,
    check_level,
    check_positive_int,
    check_seed,
    renamed_argument,
)

__all__ = ["Ensemble", "stratified_bootstrap", "member_seeds", "fit_members", "sample_members",
           "effect_intervals"]


# ---------------------------------------------------------------------------------------------------------
# resampling and seeds
# ---------------------------------------------------------------------------------------------------------
def _binary(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        raise DataError(f"{name} is empty")
    if not np.isin(v, (0.0, 1.0)).all():
        bad = sorted(set(v[~np.isin(v, (0.0, 1.0))].tolist()))[:5]
        raise DataError(f"{name} must be 0/1 (NaN-free); found value(s) {bad}")
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
        raise ArgumentError(f"a has length {a.size} but delta has length {delta.size}")
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
        raise ArgumentError(f"K must be a positive integer, got {k!r}")
    children = np.random.SeedSequence(seed).spawn(int(k))
    return [tuple(int(s) & 0x7FFFFFFF for s in c.generate_state(2)) for c in children]


# ---------------------------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------------------------
def _check_estimator(estimator) -> None:
    for attr in ("fit", "sample_potential_outcomes", "get_params", "unfitted_copy"):
        if not callable(getattr(estimator, attr, None)):
            raise ArgumentError(f"estimator must be an unfitted pyrocsa estimator (CSA or one of "
                             f"pyrocsa.baselines: fit, sample_potential_outcomes, get_params); "
                             f"{type(estimator).__name__} has no {attr}()")


def _fit_member(estimator, frame: pd.DataFrame, duration_col, event_col, treatment_col, val_df, covariates,
                treated_value, fit_seed: int, preprocessor):
    """Fit one member -- a fresh copy of ``estimator`` seeded with ``fit_seed`` -- on ``frame`` with one
    torch thread (runs in a worker process)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per member; also makes the fit independent of n_jobs
    try:
        est = estimator.unfitted_copy()
        if "seed" in est.get_params(deep=False):
            est.set_params(seed=int(fit_seed))
        fit_kw = dict(val_df=val_df, covariates=covariates, treated_value=treated_value)
        if preprocessor is not None:
            fit_kw["preprocessor"] = preprocessor
        with warnings.catch_warnings():
            # already said once for the whole training frame by fit_members (in the parent process)
            warnings.filterwarnings("ignore", message="dropping constant covariate", category=UserWarning)
            # each member's fit check sees a bootstrap resample; the mixture is checked on the training
            # frame (Ensemble.fit) or by check(df)
            warnings.filterwarnings("ignore", category=FitWarning)
            est.fit(frame, duration_col, event_col, treatment_col, **fit_kw)
    finally:
        torch.set_num_threads(threads)
    return est


def fit_members(estimator, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
                val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None,
                K: int = 5, seed: int | None = 0, n_jobs: int | None = None, bootstrap: bool = True) -> list:
    """Fit K members, member k a fresh copy of ``estimator`` fitted on a stratified bootstrap resample of
    ``df``'s rows with its own seed.

    Parameters
    ----------
    estimator : an unfitted pyrocsa estimator (:class:`pyrocsa.CSA`, any of :mod:`pyrocsa.baselines`); never
        fitted or modified itself. Its ``seed`` argument, when it has one, is replaced by each member's.
    df : training frame (one row per subject; never modified). duration_col, event_col, treatment_col,
        covariates, treated_value : as in :meth:`pyrocsa.CSA.fit`.
    val_df : validation frame for early stopping, shared by all members (not resampled). None: a
        stratified 15% of ``df`` is held out first (:func:`pyrocsa.data.validation_split` seeded by
        ``seed``) and the rest is resampled.
    K : number of members (>= 1). seed : derives every member's bootstrap and fit seeds
        (:func:`member_seeds`); the result does not depend on ``n_jobs``.
    n_jobs : worker processes (joblib, loky backend); default ``min(K, os.cpu_count())``; 1 = in-process.
    bootstrap : False fits every member on all training rows (a deep ensemble: members differ only by seed;
        less attenuation of effects, less spread). Default True.

    Returns the list of K fitted estimators. Each has ``bootstrap_rows_`` (positions into the training rows)
    and ``member_seed_``. Preprocessing: when the estimator's ``fit`` takes ``preprocessor=``
    (``accepts_preprocessor``, e.g. CSA), every member reuses the one fitted on the whole training frame
    (identical x for all members); otherwise each member fits its own on its resample (same columns).
    """
    _check_estimator(estimator)
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    seeds = member_seeds(seed, K)
    if n_jobs is None:
        n_jobs = min(int(K), os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ArgumentError(f"n_jobs must be a positive integer or None, got {n_jobs!r}")
    for arg, col in (("duration_col", duration_col), ("event_col", event_col),
                     ("treatment_col", treatment_col)):
        if col not in df.columns:
            raise DataError(f"{arg}='{col}': column '{col}' not in the frame")
    train_df, val_df = validation_split(df, event_col, treatment_col, val_df, seed=seed)
    # validates the frame once and fits the shared preprocessing on the whole training frame
    full = SurvivalData.from_frame(train_df, duration_col, event_col, treatment_col, covariates=covariates,
                                   treated_value=treated_value)
    a = validate_treatment(train_df[treatment_col], treatment_col, full.treated_value)
    delta = validate_event(train_df[event_col], event_col)
    shared = full.preprocessor if getattr(estimator, "accepts_preprocessor", False) else None
    covs = full.covariates if covariates is None else list(covariates)

    jobs = []
    rows = []
    for boot_seed, fit_seed in seeds:
        pos = stratified_bootstrap(a, delta, boot_seed) if bootstrap else np.arange(len(a))
        rows.append(pos)
        frame = train_df.iloc[pos].reset_index(drop=True)  # duplicated rows need a fresh unique index
        jobs.append((estimator, frame, duration_col, event_col, treatment_col, val_df, covs, treated_value,
                     fit_seed, shared))
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


class Ensemble(EffectPosteriorMixin, CounterfactualSurvivalModel):
    """K bootstrap members of any pyrocsa estimator, sampled as K chains.

        >>> ens = pyrocsa.Ensemble(pyrocsa.CSA(seed=0), n_members=5, seed=0).fit(df, "time", "event", "a")
        >>> po = ens.sample_potential_outcomes(test_df, num_samples=200)   # chains=5, 40 draws per member
        >>> effect_intervals(po, horizon=1000)                             # between-member intervals

    Parameters
    ----------
    estimator : an unfitted pyrocsa estimator (:class:`pyrocsa.CSA`, :mod:`pyrocsa.baselines`); the
        prototype of every member, never fitted or modified itself.
    n_members : K >= 1 (stratified bootstrap resamples, :func:`stratified_bootstrap`).
    seed : derives each member's bootstrap and fit seeds (:func:`member_seeds`); None = not seeded.
    bootstrap : False: every member on all training rows (members differ by seed only).
    n_jobs : worker processes for the members (default ``min(K, cpu count)``; 1 = in-process).

    Fitted attributes: ``members_`` (K fitted estimators, each with ``bootstrap_rows_`` and
    ``member_seed_``), ``fit_check_`` (the mixture's Kaplan-Meier band check on the training frame,
    :mod:`pyrocsa.core.fit_check`; a :class:`pyrocsa.errors.FitWarning` when it leaves the band), and what
    all members share: ``data_`` (the columns, preprocessing and treatment labels
    of the training frame), ``preprocessor_``, ``duration_col_``, ``event_col_``, ``treatment_col_``,
    ``treated_value_``.

    ``predict_effect`` / ``effect_posterior`` / ``predict_ate`` (:mod:`pyrocsa.core.effects`): the members'
    parameter draws pooled as a mixture, member k = chain k (``num_draws / K`` draws each): each member's
    own posterior (CSA: the Laplace posterior given its representation) plus the spread of the
    representations across bootstrap members.
    """

    def __init__(self, estimator, n_members: int = 5, seed: int | None = 0, bootstrap: bool = True,
                 n_jobs: int | None = None):
        _check_estimator(estimator)
        check_positive_int(n_members, "n_members")
        check_seed(seed)
        if not isinstance(bootstrap, (bool, np.bool_)):
            raise ArgumentError(f"bootstrap must be True or False, got {bootstrap!r}")
        if n_jobs is not None:
            check_positive_int(n_jobs, "n_jobs")
        # kept as passed (sklearn clone / get_params round trip)
        self.estimator = estimator
        self.n_members = n_members
        self.seed = seed
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs
        self.fitted_ = False

    @property
    def name(self) -> str:
        return f"{getattr(self.estimator, 'name', type(self.estimator).__name__)} ensemble"

    @property
    def continuous_survival(self) -> bool:
        """The mixture's survival is continuous when every member's is."""
        return bool(getattr(self.estimator, "continuous_survival", False))

    def __repr__(self):
        return f"Ensemble({self.estimator!r}, n_members={self.n_members!r}, seed={self.seed!r})"

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments as passed; with ``deep``, also ``estimator__<name>`` for the member
        estimator's own arguments (sklearn convention)."""
        out = {"estimator": self.estimator, "n_members": self.n_members, "seed": self.seed,
               "bootstrap": self.bootstrap, "n_jobs": self.n_jobs}
        if deep:
            out.update({f"estimator__{k}": v for k, v in self.estimator.get_params(deep=False).items()})
        return out

    def set_params(self, **params) -> Ensemble:
        """Change arguments; ``estimator__<name>`` changes the member estimator's argument on a copy (the
        estimator passed in is not modified). Returns ``self`` (unfitted)."""
        own = {k: v for k, v in params.items() if "__" not in k}
        nested = {k.split("__", 1)[1]: v for k, v in params.items() if k.startswith("estimator__")}
        unknown = sorted(set(params) - set(own) - {f"estimator__{k}" for k in nested} |
                         (set(own) - set(self.get_params(deep=False))))
        if unknown:
            raise ArgumentError(f"unknown parameter(s) {unknown}; Ensemble takes "
                             f"{list(self.get_params(deep=False))} and estimator__<argument>")
        merged = dict(self.get_params(deep=False), **own)
        if nested:
            merged["estimator"] = merged["estimator"].unfitted_copy().set_params(**nested)
        self.__init__(**merged)
        return self

    def unfitted_copy(self) -> Ensemble:
        return Ensemble(self.estimator.unfitted_copy(), n_members=self.n_members, seed=self.seed,
                        bootstrap=self.bootstrap, n_jobs=self.n_jobs)

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None,
            zero_durations: str = "error"):
        """Fit the K members (:func:`fit_members`); ``df`` and ``val_df`` are never modified. Returns self.

        ``zero_durations``: ``"error"`` (default) or ``"shift"``, as in :meth:`pyrocsa.CSA.fit` (applied
        once to the training frame, before resampling). Data parallel (:mod:`pyrocsa.core.distributed`,
        under ``torchrun``): every process fits the members one after another (``n_jobs`` is ignored),
        each member's training split across the processes."""
        from pyrocsa.core import distributed
        from pyrocsa.core.streaming import is_parquet_path

        if is_parquet_path(df):
            raise DataError("an Ensemble needs the rows in memory (bootstrap resampling): pass a DataFrame, "
                            "or fit one CSA on the Parquet path")
        df, val_df = shift_zero_durations_pair(df, val_df, duration_col, zero_durations)
        parallel = distributed.init_from_env(getattr(self.estimator, "device", None))
        members = fit_members(self.estimator, df, duration_col, event_col, treatment_col, val_df=val_df,
                              covariates=covariates, treated_value=treated_value, K=self.n_members,
                              seed=self.seed, n_jobs=1 if parallel else self.n_jobs,
                              bootstrap=self.bootstrap)
        self._attach_members(members)
        from pyrocsa.core.fit_check import check_training_rows

        self.fit_check_ = check_training_rows(self, df)  # the mixture against the training frame
        return self

    def _member_prototype(self):
        return self.estimator

    def _attach_members(self, members: list) -> Ensemble:
        """Keep fitted ``members`` (from :func:`fit_members` or read back by the checkpoint) and what they
        share: the columns, the treatment labels and (members fitted from one preprocessor) the
        preprocessing of the training frame."""
        from pyrocsa.core.checkpoint import FittedData

        self.members_ = list(members)
        data = self.members_[0].data_
        self.duration_col_, self.event_col_ = data.duration_col, data.event_col
        self.treatment_col_, self.treated_value_ = data.treatment_col, data.treated_value
        self.preprocessor_ = data.preprocessor
        self.data_ = FittedData(data.preprocessor, data.duration_col, data.event_col, data.treatment_col,
                                data.treated_value, int(data.x.shape[1]),
                                getattr(data, "meta", {}).get("treatment_levels"))
        self.fitted_ = True
        return self

    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None):
        """``num_samples / K`` draws from each member, stacked member by member (``chains=K``; see
        :func:`sample_members`)."""
        self._check_fitted()
        return sample_members(self.members_, df, num_samples, seed)

    def predict_survival_function(self, df: pd.DataFrame, times=None, **kwargs) -> pd.DataFrame:
        """The mixture's survival function: the mean of the members' (on member 0's default grid when
        ``times`` is None); other arguments go to each member's ``predict_survival_function``."""
        self._check_fitted()
        if not all(callable(getattr(m, "predict_survival_function", None)) for m in self.members_):
            raise ArgumentError(f"{type(self.members_[0]).__name__} has no predict_survival_function")
        first = self.members_[0].predict_survival_function(df, times=times, **kwargs)
        grid = first.index.to_numpy()
        rest = [m.predict_survival_function(df, times=grid, **kwargs).to_numpy() for m in self.members_[1:]]
        surv = np.mean([first.to_numpy()] + rest, axis=0)
        return pd.DataFrame(surv, index=first.index, columns=first.columns)

    def predict_rmst(self, df: pd.DataFrame, horizon: float, **kwargs) -> pd.Series:
        """The mixture's restricted mean survival time per row (duration unit): the mean of the members'
        ``predict_rmst(df, horizon, **kwargs)`` (RMST is linear in the survival function, so this is the
        RMST of the mixture's survival)."""
        self._check_fitted()
        if not all(callable(getattr(m, "predict_rmst", None)) for m in self.members_):
            raise ArgumentError(f"{type(self.members_[0]).__name__} has no predict_rmst")
        values = [m.predict_rmst(df, horizon, **kwargs) for m in self.members_]
        return sum(values[1:], values[0]) / len(values)

    def _default_horizon(self):
        values = [getattr(m, "max_duration_", None) for m in self.members_]
        return None if any(v is None for v in values) else max(values)

    def _effect_draws(self, df, horizon, times, num_draws, seed):
        """Member k's ``num_draws // K`` parameter draws (at least 2) are chain k."""
        k = len(self.members_)
        if k < 2:
            raise ArgumentError("an ensemble of one member has one chain: use the member's own "
                                "predict_effect")
        if not all(callable(getattr(m, "_effect_draws", None)) for m in self.members_):
            raise ArgumentError(f"{type(self.members_[0]).__name__} has no parameter draws (predict_effect)")
        per = max(num_draws // k, 4)
        seeds = [s for _, s in member_seeds(seed, k)] if seed is not None else [None] * k
        arms = [[], []]
        for member, s in zip(self.members_, seeds):
            a0, a1 = member._effect_draws(df, horizon, times, per, s)
            for arm, v in enumerate((a0, a1)):
                arms[arm].append(v.reshape(1, -1, *v.shape[2:]))
        return tuple(np.concatenate(a, axis=0) for a in arms)

    def _arm_survival(self, df, arm, times) -> np.ndarray:
        """(G, N) the members' mean S_arm(t | x) (the mixture's survival), for the fit check."""
        return np.mean([m._arm_survival(df, arm, times) for m in self.members_], axis=0)

    def _arm_survival_at(self, df, arm, durations) -> np.ndarray:
        return np.mean([m._arm_survival_at(df, arm, durations) for m in self.members_], axis=0)

    def score(self, df: pd.DataFrame) -> float:
        raise ArgumentError("score() of an ensemble is not defined (a mixture's likelihood); score a member")

    def print_summary(self, decimals: int = 3) -> None:
        """Print each member's summary (its bootstrap seed, then the member's own ``print_summary`` when it
        has one) and the mixture's Kaplan-Meier band check on the training rows."""
        self._check_fitted()
        k = len(self.members_)
        print(f"<pyrocsa.Ensemble: {k} members of {self.estimator!r}, seed={self.seed!r}, "
              f"bootstrap={self.bootstrap!r}>")
        for j, member in enumerate(self.members_):
            seeds = getattr(member, "member_seed_", None)
            source = "bootstrap resample" if self.bootstrap else "all training rows"
            print(f"-- member {j} of {k} ({source}" + (f", seed {seeds['fit']}" if seeds else "") + ") --")
            show = getattr(member, "print_summary", None)
            if callable(show):
                takes = "decimals" in inspect.signature(show).parameters
                show(decimals=decimals) if takes else show()
        check = getattr(self, "fit_check_", None)
        if check is not None:
            print("-- the ensemble (the members' mixture) on all training rows --")
            print("\n".join(check.lines(decimals)))

    def save(self, path):
        """Write the members and this ensemble's arguments to the directory ``path``
        (:mod:`pyrocsa.core.checkpoint`, atomically); the members must be savable (CSA). Data parallel:
        rank 0 writes, the other processes wait for it."""
        from pyrocsa.core import distributed
        from pyrocsa.core.checkpoint import save_estimator

        self._check_fitted()
        if not distributed.is_main():
            distributed.barrier()
            return Path(path)
        out = save_estimator(self, path)
        distributed.barrier()
        return out

    @classmethod
    def load(cls, path, device=None) -> Ensemble:
        """Read an ensemble written by :meth:`save` (checked as :meth:`pyrocsa.CSA.load` checks)."""
        from pyrocsa.core.checkpoint import load_estimator

        return load_estimator(cls, path, device=device)


# ---------------------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------------------
def _longest_follow_up(outs) -> float | None:
    """The longest training duration over the members' draws (each member saw its own resample), or None
    when a member does not know its own."""
    values = [o.follow_up for o in outs]
    return None if any(v is None for v in values) else max(values)


def sample_members(members, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None):
    """Draw ``num_samples / K`` potential outcomes per subject from each of the K members.

    Returns :class:`pyrocsa.core.outcomes.PotentialOutcomes` with ``t0``, ``t1`` (and ``c0``, ``c1`` for
    CSA-INFO) of shape (num_samples, len(df)), member k's draws in rows ``k*S/K : (k+1)*S/K``, and
    ``chains=K``. ``num_samples`` must be a multiple of K. ``seed`` derives one sampling seed per member.
    """
    from pyrocsa.core.outcomes import PotentialOutcomes

    members = list(members)
    k = len(members)
    if k == 0:
        raise DataError("members is empty: fit at least one member")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ArgumentError(f"num_samples must be a positive integer, got {num_samples!r}")
    if num_samples % k:
        raise ArgumentError(f"num_samples={num_samples} is not divisible by the number of members K={k}: "
                         f"draws are split evenly across members (use e.g. {k * max(1, num_samples // k)})")
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
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
                             model_name=f"{name} ensemble (K={k})" if k > 1 else name,
                             follow_up=_longest_follow_up(outs), copy=False)


# ---------------------------------------------------------------------------------------------------------
# population effects with between-member intervals
# ---------------------------------------------------------------------------------------------------------
def _interval(values: np.ndarray, level: float, method: str, extra_var: float = 0.0) -> dict:
    """Interval from K member estimates (see the module docstring); ``extra_var`` adds an independent
    variance term (subject sampling). The t quantile keeps K - 1 degrees of freedom -- conservative
    (Welch-Satterthwaite would give more, and could make the wider-variance interval *shorter*)."""
    k = values.size
    est = float(values.mean())
    sd = float(values.std(ddof=1))
    if method == "percentile":
        lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
        return {"estimate": est, "lower": float(lo), "upper": float(hi), "se": sd}
    se = float(np.sqrt(sd ** 2 * (1.0 + 1.0 / k) + extra_var))
    half = float(stats.t.ppf((1 + level) / 2, k - 1)) * se
    return {"estimate": est, "lower": est - half, "upper": est + half, "se": se}


def effect_intervals(outcomes, horizon: float, level: float = 0.95, method: str = "t", target: str = "sample",
                     hazard_ratio: bool = True, prob: float | None = None) -> dict:
    """Population treatment effects of an ensemble with intervals from the spread between its members.

    Parameters
    ----------
    outcomes : :class:`~pyrocsa.core.outcomes.PotentialOutcomes` with ``chains = K >= 2`` (K member blocks).
    horizon : RMST horizon (duration unit, > 0).
    level : interval level in (0, 1) (``prob=`` is its deprecated name).
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

    Per-patient effect intervals and a population RMST effect from the members' *parameter* posteriors
    (not from sampled outcomes) are ``Ensemble.predict_effect`` / ``predict_ate``
    (:mod:`pyrocsa.core.effects`).

    Returns
    -------
    dict with ``"ate"`` (E[T1 - T0], duration unit), ``"rmst_difference"`` (E[min(T1,h) - min(T0,h)]) and
    ``"hazard_ratio"``, each a dict with ``estimate`` (mean of the member estimates; geometric mean for
    the HR), ``lower``, ``upper``, ``se`` (log scale for the HR) and ``members`` (K,); plus ``level`` (also
    under its old key ``prob``),
    ``method``, ``target``, ``horizon``, ``chains``.
    """
    from pyrocsa.core.estimands import default_time_grid, point_prediction, population_hazard_ratio

    k = getattr(outcomes, "chains", None)
    if k is None or not hasattr(outcomes, "t0"):
        raise ArgumentError("outcomes must be a pyrocsa.core.outcomes.PotentialOutcomes")
    if k < 2:
        raise ArgumentError(f"outcomes has chains={k}: between-member intervals need an ensemble of K >= 2 "
                         "members (sample_members / pyrocsa.Ensemble(..., n_members=K))")
    level = check_level(renamed_argument(None if level == 0.95 and prob is not None else level, prob,
                                         "level", "prob", "effect_intervals"))
    if method not in ("t", "percentile"):
        raise ArgumentError(f"method must be 't' or 'percentile', got {method!r}")
    if target not in ("sample", "population"):
        raise ArgumentError(f"target must be 'sample' or 'population', got {target!r}")
    if target == "population" and method != "t":
        raise ArgumentError("target='population' needs method='t'")
    h = float(horizon)
    if not (np.isfinite(h) and h > 0):
        raise ArgumentError(f"horizon must be a positive finite time, got {horizon!r}")
    s, n = outcomes.t0.shape
    t0 = outcomes.t0.reshape(k, s // k, n)
    t1 = outcomes.t1.reshape(k, s // k, n)

    ite = (t1 - t0).mean(axis=1)  # (K, N): member-level per-subject effects
    rmst = (np.minimum(t1, h) - np.minimum(t0, h)).mean(axis=1)
    out = {"level": level, "prob": level, "method": method, "target": target, "horizon": h, "chains": int(k)}
    for key, per_subject in (("ate", ite), ("rmst_difference", rmst)):
        members = per_subject.mean(axis=1)
        extra_var = 0.0
        if target == "population":
            extra_var = float(per_subject.mean(axis=0).var(ddof=1) / n)
        res = _interval(members, level, method, extra_var)
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
                raise ArgumentError(f"hazard ratio of member {j}: {err} (pass hazard_ratio=False to skip "
                                 "it)") from err
            if not np.isfinite(log_hr[j]):
                raise ArgumentError(f"hazard ratio of member {j} is not a positive finite number (a flat "
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
                raise ArgumentError("the subject bootstrap of the hazard ratio failed on every resample; "
                                    "pass "
                                 "hazard_ratio=False or target='sample'")
            extra_var = float(reps.var(ddof=1))
        res = _interval(log_hr, level, method, extra_var)
        out["hazard_ratio"] = {"estimate": float(np.exp(res["estimate"])),
                               "lower": float(np.exp(res["lower"])), "upper": float(np.exp(res["upper"])),
                               "se": res["se"], "members": np.exp(log_hr)}
    return out

"""STEAM-style synthetic survival cohorts (Amad et al., NeurIPS 2025, adapted to censored outcomes).

:class:`SyntheticCohort` mimics the data-generating process of an observational survival study in three
steps, each fit on the real data:

1. covariates ``X ~ p(X)``: a generative model of the covariate table (default: sequential regression
   trees with leaf donors, :class:`pyrocsa.steam.covariates.SequentialTrees`; or a Gaussian copula on
   empirical marginals, :class:`pyrocsa.steam.covariates.GaussianCopula`);
2. treatment ``A | X ~ Bernoulli(pi(X))``: a propensity model (default: logistic regression,
   :class:`pyrocsa.baselines.propensity.PropensityModel`);
3. outcome: event time ``T ~ p(T_A | X)`` and censoring time ``C ~ p(C_A | X)`` drawn from an outcome model
   for the sampled arm (default: CSA-INFO, ``pyrocsa.CSA(informative_censoring=True)``); then
   ``Y = min(T, C, tau_max)`` and ``delta = 1{T <= min(C, tau_max)}``, where ``tau_max`` (administrative
   censoring) is the real data's largest follow-up time.

:class:`GenericCohort` is the baseline of the STEAM paper: one tabular generator (the same covariate
generator) fit on the joint table (X, A, Y, delta).

An outcome model is any object with ``fit(df, duration_col, event_col, treatment_col, covariates=)`` and
``sample_potential_outcomes(df, num_samples, seed)`` returning an object with ``t0``, ``t1``, ``c0``,
``c1`` arrays of shape (num_samples, len(df)) in the duration unit; :class:`WeibullOutcomeModel` is a fast
one (Weibull AFT per arm for T and for C).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter, WeibullAFTFitter

from pyrocsa.baselines.propensity import PropensityModel
from pyrocsa.data.frame import SurvivalData
from pyrocsa.errors import ArgumentError, DataError, check_positive_int, check_seed
from pyrocsa.steam.covariates import make_covariate_model
from pyrocsa.steam.privacy import MinimumDistanceFilter

__all__ = ["SyntheticCohort", "GenericCohort", "WeibullOutcomeModel"]


@dataclass
class _Draws:
    """Potential event (t0, t1) and censoring (c0, c1) times, each (S, N), when pyrocsa.core.outcomes is
    absent."""

    t0: np.ndarray
    t1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray


def _potential_outcomes(t0, t1, c0, c1, index):
    try:
        from pyrocsa.core.outcomes import PotentialOutcomes
    except ImportError:  # pragma: no cover - depends on the tree's state
        return _Draws(t0, t1, c0, c1)
    return PotentialOutcomes(t0, t1, index=index, c0=c0, c1=c1, model_name="weibull-aft")


class WeibullOutcomeModel:
    """Weibull AFT (lifelines ``WeibullAFTFitter``) for the event time and, with the event indicator
    flipped, for the censoring time -- one pair per arm (``per_arm=True``) or one pooled pair that ignores
    the treatment (``per_arm=False``: no treatment effect at all; a deliberately wrong model for tests).

    ``censoring``: ``"weibull"`` (covariate-dependent Weibull AFT, as above), ``"km"`` (the arm's
    Kaplan-Meier estimate of the censoring survival function ``G_a(t)``, covariate-independent -- suits
    trials whose censoring is mostly administrative; draws past the last censoring time are ``inf``) or
    ``"none"`` (no censoring model: ``inf``).

    Model: ``S(t | x) = exp(-(t / lambda(x))^rho)``, ``log lambda(x) = b0 + x'b`` on the preprocessed
    covariates (:class:`pyrocsa.data.Preprocessor`); sampled by inverse transform,
    ``t = lambda(x) * (-log U)^(1 / rho)``, ``U ~ Uniform(0, 1)``.
    """

    name = "weibull-aft"

    def __init__(self, per_arm: bool = True, penalizer: float = 0.01, censoring: str = "weibull"):
        if censoring not in ("weibull", "km", "none"):
            raise ArgumentError(f"censoring must be 'weibull', 'km' or 'none', got {censoring!r}")
        self.per_arm = bool(per_arm)
        self.penalizer = float(penalizer)
        self.censoring = censoring

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            covariates: list[str] | None = None, treated_value=None, **kwargs) -> WeibullOutcomeModel:
        """Fit the per-arm (or pooled) Weibull AFT models; ``treated_value`` labels the treated arm when
        the treatment is not 0/1 or bool. Returns ``self``."""
        if kwargs:
            raise ArgumentError(f"unknown fit argument(s) {sorted(kwargs)}")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dropping constant covariate")
            self.data_ = SurvivalData.from_frame(df, duration_col, event_col, treatment_col,
                                                 covariates=covariates, treated_value=treated_value)
        x = self.data_.x.numpy().astype(float)
        a, y, d = (self.data_.a.numpy(), self.data_.y.numpy().astype(float),
                   self.data_.delta.numpy())
        self.features_ = [f"x{j}" for j in range(x.shape[1])]
        groups = {0: a == 0, 1: a == 1} if self.per_arm else {0: np.ones(len(a), bool)}
        self.models_ = {}
        for arm, m in groups.items():
            frame = pd.DataFrame(x[m], columns=self.features_)
            frame["_y"], frame["_d"] = y[m], d[m]
            for kind, ev in (("event", d[m]), ("censoring", 1.0 - d[m])):
                if ev.sum() == 0 or (kind == "censoring" and self.censoring == "none"):
                    # e.g. no censoring in an arm: only administrative censoring remains
                    self.models_[arm, kind] = None
                    continue
                if kind == "censoring" and self.censoring == "km":
                    self.models_[arm, kind] = KaplanMeierFitter().fit(y[m], ev)
                    continue
                frame["_d"] = ev
                fitter = WeibullAFTFitter(penalizer=self.penalizer)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fitter.fit(frame, duration_col="_y", event_col="_d")
                self.models_[arm, kind] = fitter
        self.fitted_ = True
        return self

    def _draw(self, fitter, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        if fitter is None:
            return np.full(u.shape, np.inf)
        if isinstance(fitter, KaplanMeierFitter):  # T = min{t : G(t) <= U}; inf past the last step
            sf = fitter.survival_function_
            times, surv = sf.index.to_numpy(float), sf.iloc[:, 0].to_numpy(float)
            pos = np.searchsorted(-surv, -u, side="left")
            return np.where(pos < len(times), times[np.minimum(pos, len(times) - 1)], np.inf)
        lam = fitter.params_.loc["lambda_"]
        log_lambda = lam["Intercept"] + x @ lam[self.features_].to_numpy()
        rho = np.exp(fitter.params_.loc["rho_"]["Intercept"])
        return np.exp(log_lambda)[None, :] * (-np.log(u)) ** (1.0 / rho)

    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 1, seed: int | None = None):
        """Potential event and censoring times of every row of ``df``: t0, t1, c0, c1 each
        (num_samples, len(df))."""
        num_samples = check_positive_int(num_samples, "num_samples")
        seed = check_seed(seed)
        if not getattr(self, "fitted_", False):
            raise RuntimeError("WeibullOutcomeModel is not fitted: call fit(df, ...) first")
        x = self.data_.preprocessor.transform(df).astype(float)
        rng = np.random.default_rng(seed)
        shape = (int(num_samples), len(df))
        out = {}
        for arm in (0, 1):
            key = arm if self.per_arm else 0
            out[f"t{arm}"] = self._draw(self.models_[key, "event"], x, rng.uniform(size=shape))
            out[f"c{arm}"] = self._draw(self.models_[key, "censoring"], x, rng.uniform(size=shape))
        return _potential_outcomes(out["t0"], out["t1"], out["c0"], out["c1"], df.index)


def _make_outcome_model(spec):
    if spec is None or (isinstance(spec, str) and spec in ("csa-info", "csa_info")):
        try:
            from pyrocsa.csa.estimator import CSA
        except ImportError as err:
            raise ImportError("outcome_model=None means CSA-INFO (pyrocsa.CSA), which could not be imported "
                              f"({err}); pass outcome_model='weibull' or another model") from err
        return CSA(informative_censoring=True, verbose=False)
    if isinstance(spec, str):
        if spec == "weibull":
            return WeibullOutcomeModel()
        if spec == "weibull-km":
            return WeibullOutcomeModel(censoring="km")
        raise ArgumentError(f"outcome_model={spec!r}: expected None / 'csa-info', 'weibull', 'weibull-km' "
                            f"or an "
                         "object with "
                         "fit(df, duration_col, event_col, treatment_col, covariates=) and "
                         "sample_potential_outcomes(df, num_samples, seed)")
    if not (callable(getattr(spec, "fit", None))
            and callable(getattr(spec, "sample_potential_outcomes", None))):
        raise ArgumentError(f"outcome_model: {type(spec).__name__} has no fit(...) / "
                         "sample_potential_outcomes(df, num_samples, seed)")
    return spec


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ArgumentError(f"n must be a positive integer, got {n!r}")
    return int(n)


class _CohortBase:
    def _validate(self, df, duration_col, event_col, treatment_col, covariates, treated_value):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dropping constant covariate")
            data = SurvivalData.from_frame(df, duration_col, event_col, treatment_col, covariates=covariates,
                                           treated_value=treated_value)
        self.duration_col_, self.event_col_, self.treatment_col_ = duration_col, event_col, treatment_col
        self.covariates_ = list(data.preprocessor.columns_)
        keep = set(self.covariates_) | {duration_col, event_col, treatment_col}
        self.columns_ = [c for c in df.columns if c in keep]
        self.dtypes_ = df[self.columns_].dtypes
        self.max_duration_ = float(df[duration_col].max())
        self.min_duration_ = float(df[duration_col].min())
        self.treated_value_ = data.treated_value
        levels = list(pd.unique(df[treatment_col]))
        self.control_value_ = next(v for v in levels if str(v) != str(data.treated_value))
        return data

    def _check_fitted(self):
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(df, ...) first")

    def _finish(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Restore the real column order and dtypes."""
        out = frame[self.columns_].copy()
        for col in self.columns_:
            dt = self.dtypes_[col]
            if out[col].dtype != dt:
                if pd.api.types.is_integer_dtype(dt) and out[col].isna().any():
                    continue  # an integer column cannot hold NaN; left as float
                out[col] = out[col].astype(dt)
        return out


class SyntheticCohort(_CohortBase):
    """STEAM-survival generator (see the module docstring).

    Parameters
    ----------
    covariate_model : ``"trees"`` (default; :class:`SequentialTrees`), ``"copula"``
        (:class:`GaussianCopula`), ``"independent"`` or an object with ``fit(df, columns=)`` and
        ``sample(n, seed=)`` returning a covariate frame. The trees keep the pairwise correlations
        better than the copula, and with them the confounding structure, while their synthetic rows lie
        about as close to the training records as new patients do (``docs/decisions.md``, section 14).
    propensity_model : ``"logistic"`` (default) or an object with ``fit(X, a)`` / ``predict_proba(X)``.
    outcome_model : None (CSA-INFO, ``pyrocsa.CSA(informative_censoring=True, verbose=False)``: one
        generative model, fitted once),
        ``"weibull"`` (:class:`WeibullOutcomeModel`), ``"weibull-km"`` (the same with Kaplan-Meier
        censoring) or an object with ``fit(df, duration_col, event_col, treatment_col,
        covariates=)`` and ``sample_potential_outcomes(df, num_samples, seed)`` whose result has ``t0``,
        ``t1``, ``c0``, ``c1`` arrays of shape (num_samples, N).
    outcome_fit_kwargs : extra keyword arguments for the outcome model's ``fit`` (e.g. ``val_df``).
    privacy : None (default: no rejection) or a quantile ``q`` in (0, 1): trade fidelity for distance to
        the training patients. A synthetic covariate row closer to some training row than ``d_q`` -- the
        ``q``-quantile of the training rows' distances to their closest other training row, covariates
        preprocessed with the training statistics -- is rejected and redrawn
        (:class:`pyrocsa.steam.privacy.MinimumDistanceFilter`); treatment and outcome are drawn for the
        accepted rows only. ``q = 0.05``: no synthetic row is nearer a training patient than the nearest
        5% of new patients would be. The share of rows kept is ``acceptance_rate_`` after ``sample``.
        This is an empirical safeguard, not differential privacy.
    """

    def __init__(self, covariate_model="trees", propensity_model="logistic", outcome_model=None,
                 outcome_fit_kwargs: dict | None = None, privacy: float | None = None):
        self.privacy = privacy
        self.covariate_model = make_covariate_model(covariate_model)
        self.propensity = PropensityModel(propensity_model, max_iter=2000)  # STEAM's solver budget
        self.outcome_model = _make_outcome_model(outcome_model)
        self.outcome_fit_kwargs = dict(outcome_fit_kwargs or {})

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            covariates: list[str] | None = None, treated_value=None) -> SyntheticCohort:
        """Fit the three steps on the real frame ``df`` (not modified). ``covariates`` default to every
        column other than the duration, event and treatment columns; ``treated_value`` labels the treated
        arm when the treatment is not 0/1 or bool."""
        self.filter_ = None if self.privacy is None else MinimumDistanceFilter(self.privacy)
        data = self._validate(df, duration_col, event_col, treatment_col, covariates, treated_value)
        self.covariate_model.fit(df, columns=self.covariates_)
        if self.filter_ is not None:
            self.filter_.fit(df, self.covariates_)
        self.propensity.fit(df[self.covariates_], data.a.numpy())
        self.outcome_model.fit(df, duration_col=duration_col, event_col=event_col,
                               treatment_col=treatment_col, covariates=self.covariates_,
                               **({} if treated_value is None else {"treated_value": treated_value}),
                               **self.outcome_fit_kwargs)
        self.fitted_ = True
        return self

    def sample(self, n: int, seed: int | None = None) -> pd.DataFrame:
        """Draw ``n`` synthetic subjects: a frame with the real frame's columns (covariates, duration,
        event, treatment; same order and dtypes) and a fresh RangeIndex. Same seed -> same frame."""
        self._check_fitted()
        n = _check_n(n)
        s_cov, s_trt, s_out = np.random.SeedSequence(check_seed(seed)).generate_state(3)
        x = self._sample_covariates(n, int(s_cov))
        a = self.propensity.sample(x, np.random.default_rng(s_trt))
        frame = x.copy()
        frame[self.treatment_col_] = np.where(a == 1, self.treated_value_, self.control_value_)
        frame[self.treatment_col_] = frame[self.treatment_col_].astype(self.dtypes_[self.treatment_col_])
        # an ensemble (pyrocsa.Ensemble of K members) splits draws evenly over its members: take one
        # draw per member, then one member at random for each synthetic subject (a draw from the mixture)
        k = len(getattr(self.outcome_model, "members_", None) or [None])
        po = self.outcome_model.sample_potential_outcomes(frame, num_samples=k, seed=int(s_out) % (2**31))
        pick = np.random.default_rng(s_out).integers(0, k, size=n) if k > 1 else np.zeros(n, dtype=int)
        arrays = {}
        for name in ("t0", "t1", "c0", "c1"):
            v = getattr(po, name, None)
            if v is None:
                raise DataError(f"outcome_model.sample_potential_outcomes returned no '{name}': the "
                                 "outcome model must sample censoring times too (e.g. "
                                 "CSA(informative_censoring=True))")
            v = np.asarray(v, dtype=float)
            if v.ndim != 2 or v.shape[1] != n:
                raise DataError(f"outcome_model returned {name} of shape {v.shape}, expected (S, {n})")
            arrays[name] = v[pick, np.arange(n)]
        t = np.where(a == 1, arrays["t1"], arrays["t0"])
        c = np.where(a == 1, arrays["c1"], arrays["c0"])
        if np.isnan(t).any() or np.isnan(c).any():
            raise DataError("outcome_model returned NaN event or censoring times")
        c = np.minimum(c, self.max_duration_)            # administrative censoring
        frame[self.duration_col_] = _as_duration(np.minimum(t, c), self.dtypes_[self.duration_col_])
        frame[self.event_col_] = (t <= c).astype(int)
        return self._finish(frame)

    _MAX_ROUNDS = 50

    def _sample_covariates(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` covariate rows; with ``privacy``, rows too close to a training row are redrawn in rounds
        (each round draws the missing count divided by the acceptance rate so far, plus 10%)."""
        if self.filter_ is None:
            return self.covariate_model.sample(n, seed=seed).reset_index(drop=True)
        kept, drawn, accepted = [], 0, 0
        seeds = np.random.SeedSequence(seed).generate_state(self._MAX_ROUNDS)
        for s in seeds:
            rate = accepted / drawn if accepted else 0.5
            m = max(16, int(np.ceil(1.1 * (n - accepted) / max(rate, 0.02))))
            x = self.covariate_model.sample(m, seed=int(s)).reset_index(drop=True)
            ok = self.filter_.accept(x)
            drawn, accepted = drawn + m, accepted + int(ok.sum())
            kept.append(x[ok])
            if accepted >= n:
                break
        self.acceptance_rate_ = accepted / drawn
        if accepted < n:
            raise ArgumentError(f"privacy={self.privacy}: only {accepted} of {drawn} synthetic covariate "
                                f"rows are far enough from the training rows (need {n}); lower privacy")
        return pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)


def _as_duration(y: np.ndarray, dtype) -> np.ndarray:
    """Durations in the real column's dtype, strictly positive (whole units for an integer column)."""
    if pd.api.types.is_integer_dtype(dtype):
        return np.maximum(np.round(y), 1).astype(dtype)
    return np.maximum(y, np.finfo(float).tiny)


class GenericCohort(_CohortBase):
    """Baseline generator: one covariate-style generator (default: :class:`SequentialTrees`, the same as
    :class:`SyntheticCohort`'s; ``"copula"``, ``"independent"`` or an object) fit on the joint table
    (X, A, Y, delta), with no causal structure."""

    def __init__(self, model="trees"):
        self.model = make_covariate_model(model)

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            covariates: list[str] | None = None, treated_value=None) -> GenericCohort:
        """Fit the joint-table generator on ``df`` (not modified); arguments as in
        :meth:`SyntheticCohort.fit`."""
        self._validate(df, duration_col, event_col, treatment_col, covariates, treated_value)
        self.model.fit(df, columns=self.columns_)
        self.fitted_ = True
        return self

    def sample(self, n: int, seed: int | None = None) -> pd.DataFrame:
        """Draw ``n`` rows of the joint table, real columns and dtypes, fresh RangeIndex."""
        self._check_fitted()
        frame = self.model.sample(_check_n(n), seed=check_seed(seed)).reset_index(drop=True)
        return self._finish(frame)


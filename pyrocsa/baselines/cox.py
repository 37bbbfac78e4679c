"""Cox proportional-hazards baselines.

* :class:`CoxPHWeighted` -- the paper's CoxPH-Uniform / CoxPH-IPW / CoxPH-OW (Chapfuwa et al., CHIL 2021,
  section 5 and Appendix C): a Cox model on the treatment indicator alone, ``lambda(t|a) = lambda_b(t)
  exp(a beta)``, fitted by maximising the propensity-weighted partial likelihood (eq. 20); it reports the
  marginal hazard ratio ``HR = exp(beta)`` (eq. 12) with a robust (sandwich) 95% interval, and nothing else
  (no counterfactual samples), like the paper.
* :class:`CoxTLearner` -- one penalised Cox model on the covariates per arm, the "what a user would
  otherwise do" yardstick; implements :class:`pyrocsa.core.base.CounterfactualSurvivalModel`.
* :class:`SurvivalCurves` -- per-subject step survival functions with exact RMST and vectorised
  inverse-transform sampling, shared by every T-learner baseline (also the random survival forest).

Tail beyond follow-up: a Breslow (or forest) survival curve is only defined up to the end of follow-up
``t_end`` (the arm's largest training duration). Past it, :class:`SurvivalCurves` continues each subject's
cumulative hazard by the package's end-of-follow-up rule (:mod:`pyrocsa.core.tail`): a Gompertz or Weibull
piece, continuous at ``t_end``, that keeps the trend of the subject's own hazard during follow-up. It only
matters for draws beyond follow-up and for RMST horizons past ``t_end``.
"""

from __future__ import annotations

import abc
import warnings

import numpy as np
import pandas as pd
import torch
from lifelines import CoxPHFitter

from pyrocsa.baselines.propensity import NORMALIZATIONS, PropensityModel, ipw_weights, overlap_weights
from pyrocsa.core.base import CounterfactualSurvivalModel
from pyrocsa.core.effects import EffectPosteriorMixin
from pyrocsa.core.ensemble import member_seeds, stratified_bootstrap
from pyrocsa.core.fit_check import check_training_rows
from pyrocsa.core.tail import fit_tail, window_times
from pyrocsa.data.frame import (
    SurvivalData,
    covariate_frame,
    observed_frame,
    shift_zero_durations,
    validate_duration,
    validate_outcome_columns,
    zero_duration_shift,
)
from pyrocsa.errors import ArgumentError, DataError, check_positive_int, check_seed

__all__ = ["CoxPHWeighted", "CoxTLearner", "SurvivalCurves", "TLearnerBase", "WEIGHTINGS"]

#: weighting schemes of :class:`CoxPHWeighted` and the paper's names for them
WEIGHTINGS = {"uniform": "CoxPH-Uniform", "ipw": "CoxPH-IPW", "overlap": "CoxPH-OW"}


# ---------------------------------------------------------------------------------------------------------
# survival curves: exact RMST and inverse-transform sampling
# ---------------------------------------------------------------------------------------------------------
class SurvivalCurves:
    """Right-continuous step survival functions of N subjects on a shared increasing time grid.

    Parameters
    ----------
    times : (K,) strictly increasing, positive times (duration unit) where the curves may step.
    survival : (N, K) values ``S_i(times[k])``, non-increasing along K, in [0, 1]; ``S_i(t) = 1`` before
        ``times[0]`` and ``S_i(t) = survival[i, k]`` on ``[times[k], times[k+1])``.
    end_time : end of follow-up (>= ``times[-1]``; default ``times[-1]``): the curves are flat from
        ``times[-1]`` to ``end_time`` and follow the tail piece of the module docstring after it (attribute
        ``tail``, a :class:`pyrocsa.core.tail.TailPiece`).
    """

    def __init__(self, times, survival, end_time: float | None = None):
        times = np.asarray(times, dtype=float).ravel()
        surv = np.array(survival, dtype=float, ndmin=2)
        if times.size == 0:
            raise DataError("times is empty")
        if surv.ndim != 2 or surv.shape[1] != times.size:
            raise DataError(f"survival must have shape (N, {times.size}), got {surv.shape}")
        if not (np.isfinite(times).all() and (times > 0).all() and (np.diff(times) > 0).all()):
            raise ArgumentError("times must be finite, positive and strictly increasing")
        if not np.isfinite(surv).all():
            raise DataError("survival has NaN or inf values")
        if (surv < -1e-9).any() or (surv > 1 + 1e-9).any():
            raise ArgumentError("survival values must lie in [0, 1]")
        if (np.diff(surv, axis=1) > 1e-8).any():
            raise ArgumentError("survival curves must be non-increasing in time")
        # clean float noise only (checked above to be below 1e-8)
        surv = np.minimum.accumulate(np.clip(surv, 0.0, 1.0), axis=1)
        end = float(times[-1]) if end_time is None else float(end_time)
        if not (np.isfinite(end) and end >= times[-1]):
            raise ArgumentError(f"end_time must be >= the last time {times[-1]}, got {end_time!r}")
        self.times, self.survival, self.end_time = times, surv, end
        self._fit_tail()

    @property
    def n_subjects(self) -> int:
        return self.survival.shape[0]

    def _step(self, t: np.ndarray) -> np.ndarray:
        """S_i(t) for t within follow-up, (N, len(t))."""
        k = np.searchsorted(self.times, t, side="right") - 1
        padded = np.concatenate([np.ones((self.n_subjects, 1)), self.survival], axis=1)
        return padded[:, k + 1]

    def _fit_tail(self) -> None:
        with np.errstate(divide="ignore"):
            h_end = -np.log(self.survival[:, -1])
            window = -np.log(self._step(window_times(self.end_time).numpy()))
        # a subject with no hazard at all within follow-up (S = 1 throughout, possible for a forest whose
        # leaves hold no events) borrows the median end-of-follow-up hazard of the others, constant hazard.
        zero = h_end <= 0
        finite = np.isfinite(h_end)
        if zero.all():
            raise ArgumentError("every survival curve equals 1 over the whole follow-up (no hazard): the "
                             "tail cannot be extrapolated")
        if zero.any():
            h_end, window = h_end.copy(), window.copy()
            h_end[zero] = np.median(h_end[~zero & finite]) if (~zero & finite).any() else 1.0
            window[zero] = h_end[zero, None] * window_times(self.end_time).numpy()[None, :] / self.end_time
        # a subject with S(end_time) = 0 has no tail: its piece is a placeholder, never used
        fit_end, fit_window = np.where(finite, h_end, 1.0), np.where(finite[:, None], window, 0.5)
        self.tail = fit_tail(self.end_time, torch.from_numpy(np.nan_to_num(fit_window, posinf=1.0)),
                             torch.from_numpy(fit_end))
        self.tail_hazard = h_end  # H_i(end_time), +inf where S_i(end_time) = 0

    def survival_at(self, t) -> np.ndarray:
        """S_i(t) for every subject and time: array (N, len(t)); uses the tail past ``end_time``."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if not np.isfinite(t).all() or (t < 0).any():
            raise ArgumentError("t must be finite and non-negative")
        out = self._step(np.minimum(t, self.end_time))
        past = t > self.end_time
        if past.any():
            h = self.tail.cum_hazard(torch.from_numpy(t[past])[:, None]).numpy().T
            out[:, past] = np.where(np.isfinite(self.tail_hazard)[:, None], np.exp(-h), 0.0)
        return out

    def survival_each(self, t) -> np.ndarray:
        """S_i(t_i): subject i at its own time ``t[i]`` (N,); uses the tail past ``end_time``."""
        t = np.asarray(t, dtype=float).ravel()
        if t.size != self.n_subjects:
            raise ArgumentError(f"t must have one time per subject ({self.n_subjects}), got {t.size}")
        if not np.isfinite(t).all() or (t < 0).any():
            raise ArgumentError("t must be finite and non-negative")
        k = np.searchsorted(self.times, np.minimum(t, self.end_time), side="right") - 1
        rows = np.arange(self.n_subjects)
        out = np.where(k >= 0, self.survival[rows, np.maximum(k, 0)], 1.0)
        past = t > self.end_time
        if past.any():
            rows_past = np.flatnonzero(past)
            h = self.tail.cum_hazard(torch.from_numpy(t[past]), rows=torch.from_numpy(rows_past)).numpy()
            out[past] = np.where(np.isfinite(self.tail_hazard[past]), np.exp(-h), 0.0)
        return out

    def rmst(self, horizon: float) -> np.ndarray:
        """Restricted mean survival time ``int_0^horizon S_i(t) dt`` for every subject, exactly: (N,)."""
        horizon = float(horizon)
        if not (np.isfinite(horizon) and horizon > 0):
            raise ArgumentError(f"horizon must be a positive finite time, got {horizon!r}")
        knots = np.minimum(np.concatenate([[0.0], self.times, [self.end_time]]), horizon)
        values = np.concatenate([np.ones((self.n_subjects, 1)), self.survival], axis=1)
        out = values @ np.diff(knots)
        if horizon > self.end_time:
            finite = np.isfinite(self.tail_hazard)
            out[finite] += self.tail.survival_integral(horizon)[finite]
        return out

    def sample(self, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Event times by inverse transform, ``T = min{t : S_i(t) <= U}``, ``U ~ U(0,1)``: (num_samples, N).

        Within follow-up the draws are the grid times (exact for step curves); draws with ``U <
        S_i(end_time)`` come from the tail piece."""
        if int(num_samples) != num_samples or num_samples < 1:
            raise ArgumentError(f"num_samples must be a positive integer, got {num_samples!r}")
        n, k = self.survival.shape
        u = 1.0 - rng.uniform(size=(int(num_samples), n))  # in (0, 1]: -log(u) is finite
        # row-wise searchsorted in one call: each row's 1 - S (non-decreasing, in [0, 1]) is shifted by
        # 2 * row so that the rows are stacked into one sorted array.
        offset = 2.0 * np.arange(n)
        stacked = ((1.0 - self.survival) + offset[:, None]).ravel()
        pos = np.searchsorted(stacked, (1.0 - u) + offset[None, :], side="left") - np.arange(n) * k
        beyond = pos >= k
        t = self.times[np.minimum(pos, k - 1)]
        if beyond.any():
            rows = np.broadcast_to(np.arange(n), u.shape)[beyond]
            e = -np.log(u[beyond])  # > H_i(end_time) since U < S_i(end_time)
            t[beyond] = self.tail.time_at(torch.from_numpy(e), rows=torch.from_numpy(rows)).numpy()
        return t


# ---------------------------------------------------------------------------------------------------------
# shared T-learner machinery
# ---------------------------------------------------------------------------------------------------------
class TLearnerBase(EffectPosteriorMixin, CounterfactualSurvivalModel):
    """A survival model per arm on the preprocessed covariates; subclasses implement ``_fit_arm`` and
    ``_survival_arm`` (returning :class:`SurvivalCurves`). Provides ``fit``, ``survival_curves``,
    ``rmst`` and ``sample_potential_outcomes``, and ``predict_effect`` / ``effect_posterior`` /
    ``predict_ate`` (:mod:`pyrocsa.core.effects`) by the bootstrap: each draw refits both arms on a
    stratified bootstrap resample of the training rows (:func:`pyrocsa.core.ensemble.stratified_bootstrap`;
    ``num_draws`` refits, default 40, split into 2 chains), so the effect's "posterior" is its bootstrap
    distribution."""

    _default_draws = 40

    @abc.abstractmethod
    def _fit_arm(self, x: np.ndarray, duration: np.ndarray, event: np.ndarray, seed: int):
        """Fit one arm: x (n, p) float64, duration (n,), event (n,) in {0, 1}; return the fitted model."""

    @abc.abstractmethod
    def _survival_arm(self, model, x: np.ndarray, end_time: float) -> SurvivalCurves:
        """Survival curves of the subjects ``x`` (N, p) under one arm's fitted model."""

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None,
            zero_durations: str = "error", **kwargs):
        """Fit one model per arm on ``df`` (``val_df`` is not used: these baselines have no early stopping).
        ``zero_durations``: "error" (default) or "shift", as in :meth:`pyrocsa.CSA.fit`. Returns ``self``."""
        if kwargs:
            raise ArgumentError(f"unknown fit argument(s) {sorted(kwargs)}")
        df = shift_zero_durations(df, duration_col, zero_duration_shift(df, duration_col, zero_durations))
        data = SurvivalData.from_frame(df, duration_col, event_col, treatment_col, covariates=covariates,
                                       treated_value=treated_value)
        x = data.x.numpy().astype(np.float64)
        # durations in full precision (SurvivalData's tensors are float32; the frame is already validated)
        y = validate_duration(df[duration_col], duration_col)
        delta, a = data.delta.numpy().astype(np.float64), data.a.numpy().astype(int)
        self.models_, self.end_time_ = {}, {}
        for arm, label in ((0, "control"), (1, "treated")):
            m = a == arm
            if delta[m].sum() == 0:
                raise DataError(f"event column '{event_col}': no events in the {label} arm; a per-arm "
                                 "survival model cannot be fitted")
            self.models_[arm] = self._fit_arm(x[m], y[m], delta[m], seed=arm)
            self.end_time_[arm] = float(y[m].max())
        self.data_ = data
        self.max_duration_ = float(y.max())
        self._train = (x, y, delta, a)  # what the bootstrap refits of _effect_draws resample
        self.fitted_ = True
        self.fit_check_ = check_training_rows(self, df)
        return self

    def _effect_draws(self, df, horizon, times, num_draws, seed):
        """Per-arm RMST at ``horizon`` (or S at ``times``) of each row under ``num_draws`` bootstrap refits:
        two arrays (2, num_draws // 2, [G,] N)."""
        train = getattr(self, "_train", None)
        if train is None:
            raise DataError(f"{type(self).__name__} keeps no training rows (fitted before effect "
                             "intervals existed): refit it")
        x, y, delta, a = train
        design = self._design(df)
        per = num_draws // 2
        arms = [[], []]
        for boot_seed, fit_seed in member_seeds(seed, 2 * per):
            rows = stratified_bootstrap(a, delta, boot_seed)
            for arm in (0, 1):
                m = rows[a[rows] == arm]
                model = self._fit_arm(x[m], y[m], delta[m], seed=fit_seed % (2**31 - 1))
                curves = self._survival_arm(model, design, float(y[m].max()))
                arms[arm].append(curves.rmst(horizon) if times is None else curves.survival_at(times).T)
        return tuple(np.stack(v).reshape(2, per, *v[0].shape) for v in arms)

    def _design(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise DataError("df has no rows")
        return self.data_.preprocessor.transform(df).astype(np.float64)

    def survival_curves(self, df: pd.DataFrame, arm: int) -> SurvivalCurves:
        """Each row's survival function under treatment ``arm`` (0 or 1)."""
        self._check_fitted()
        if arm not in (0, 1):
            raise DataError(f"arm must be 0 or 1, got {arm!r}")
        return self._survival_arm(self.models_[arm], self._design(df), self.end_time_[arm])

    def _arm_survival(self, df, arm, times) -> np.ndarray:
        """(G, N) each row's fitted survival under ``arm`` at ``times`` (for the fit check)."""
        return self.survival_curves(df, arm).survival_at(times).T

    def _arm_survival_at(self, df, arm, durations) -> np.ndarray:
        """(N,) each row's fitted survival under ``arm`` at its own time ``durations[i]``."""
        return self.survival_curves(df, arm).survival_each(durations)

    def rmst(self, df: pd.DataFrame, horizon: float) -> pd.DataFrame:
        """Per-arm restricted mean survival time up to ``horizon`` from the fitted survival functions
        (exact, no sampling): DataFrame indexed like ``df`` with columns ``rmst0``, ``rmst1`` and
        ``rmst_difference`` = rmst1 - rmst0, in the duration unit."""
        r0 = self.survival_curves(df, 0).rmst(horizon)
        r1 = self.survival_curves(df, 1).rmst(horizon)
        return pd.DataFrame({"rmst0": r0, "rmst1": r1, "rmst_difference": r1 - r0}, index=df.index)

    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None):
        """Draw each row's potential event times under both arms by inverse transform of the arm's
        survival function: ``PotentialOutcomes`` with ``t0``, ``t1`` of shape (num_samples, len(df)).

        ``observed`` is filled when ``df`` has the duration, event and treatment columns; ``covariates`` are
        the raw covariate columns when all are numeric, else the preprocessed design matrix."""
        from pyrocsa.core.outcomes import PotentialOutcomes

        num_samples = check_positive_int(num_samples, "num_samples")
        seed = check_seed(seed)
        rng0, rng1 = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        t0 = self.survival_curves(df, 0).sample(num_samples, rng0)
        t1 = self.survival_curves(df, 1).sample(num_samples, rng1)
        return PotentialOutcomes(t0, t1, index=df.index, observed=observed_frame(self.data_, df),
                                 covariates=covariate_frame(self.data_.preprocessor, df),
                                 model_name=self.name, follow_up=getattr(self, "max_duration_", None))


# ---------------------------------------------------------------------------------------------------------
# Cox T-learner
# ---------------------------------------------------------------------------------------------------------
class CoxTLearner(TLearnerBase):
    """A lifelines :class:`~lifelines.CoxPHFitter` per arm on the preprocessed covariates (Breslow
    baseline hazard), ``S_a(t|x) = exp(-H_a0(t) exp(x' beta_a))``.

    Parameters
    ----------
    penalizer : L2 (elastic-net) penalty of lifelines' CoxPHFitter; a small value (0.01) keeps the fit
        stable with one-hot or nearly constant columns.
    l1_ratio : elastic-net mixing of lifelines' CoxPHFitter (0 = ridge).
    """

    name = "Cox T-learner"

    def __init__(self, penalizer: float = 0.01, l1_ratio: float = 0.0):
        if not (np.isfinite(penalizer) and penalizer >= 0):
            raise ArgumentError(f"penalizer must be a non-negative number, got {penalizer!r}")
        if not 0.0 <= l1_ratio <= 1.0:
            raise ArgumentError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
        self.penalizer, self.l1_ratio = float(penalizer), float(l1_ratio)

    @staticmethod
    def _frame(x: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])

    def _fit_arm(self, x, duration, event, seed):
        frame = self._frame(x)
        frame["_duration"], frame["_event"] = duration, event
        return CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio).fit(
            frame, duration_col="_duration", event_col="_event")

    def _survival_arm(self, model, x, end_time):
        # the baseline is a step function on the arm's training durations; evaluating exactly there needs
        # no interpolation
        times = model.baseline_cumulative_hazard_.index.to_numpy(dtype=float)
        cum_hazard = model.predict_cumulative_hazard(self._frame(x), times=times).to_numpy().T
        return SurvivalCurves(times, np.exp(-cum_hazard), end_time=end_time)


# ---------------------------------------------------------------------------------------------------------
# marginal hazard ratio: CoxPH-Uniform / IPW / OW
# ---------------------------------------------------------------------------------------------------------
class CoxPHWeighted:
    """Marginal hazard ratio of treatment from a (propensity-weighted) Cox model on the treatment alone.

    Parameters
    ----------
    weighting : ``"uniform"`` (RCT assumption), ``"ipw"`` or ``"overlap"`` (see
        :mod:`pyrocsa.baselines.propensity` for the weights and their normalisation).
    normalize : weight normalisation, ``"arm"`` (default), ``"mean"`` or None.
    clip : propensity clipping passed to :class:`PropensityModel` (None = no clipping, as in the paper).
    propensity_C : inverse L2 penalty of the logistic propensity model.
    robust : sandwich standard errors (lifelines ``robust=True``, the default), the valid choice for
        weighted Cox fits; ``robust=False`` gives lifelines' model-based intervals, which reproduce the
        paper's Table 1/4 intervals more closely (e.g. CoxPH-OW on actg-Synthetic: 0.60 (0.53, 0.68)).
    alpha : 1 - confidence level of the interval (0.05 -> 95%).

    After ``fit``: ``cph_`` (the lifelines fitter), ``weights_`` (N,), ``propensity_`` (N,) or None.
    """

    def __init__(self, weighting: str = "uniform", normalize: str | None = "arm", clip: float | None = None,
                 propensity_C: float = 1.0, robust: bool = True, alpha: float = 0.05):
        if weighting not in WEIGHTINGS:
            raise ArgumentError(f"weighting must be one of {list(WEIGHTINGS)}, got {weighting!r}")
        if normalize not in NORMALIZATIONS:
            raise ArgumentError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        if not 0.0 < alpha < 1.0:
            raise ArgumentError(f"alpha must be in (0, 1), got {alpha!r}")
        self.weighting, self.normalize, self.clip = weighting, normalize, clip
        self.propensity_C, self.robust, self.alpha = propensity_C, bool(robust), float(alpha)
        self.name = WEIGHTINGS[weighting]
        if weighting != "uniform":  # validate the propensity arguments now, not at fit time
            PropensityModel(C=propensity_C, clip=clip)

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            covariates: list[str] | None = None, treated_value=None) -> CoxPHWeighted:
        """Fit on the whole frame (as in the paper). ``covariates`` feed the propensity model (default:
        every other column); they are ignored by ``weighting="uniform"``. Returns ``self``."""
        y, delta, a = validate_outcome_columns(df, duration_col, event_col, treatment_col, treated_value)
        if delta.sum() == 0:
            raise DataError(f"event column '{event_col}': no events at all (every subject censored)")
        if self.weighting == "uniform":
            self.propensity_model_, self.propensity_ = None, None
            w = np.ones(len(df))
        else:
            pm = PropensityModel(C=self.propensity_C, clip=self.clip)
            self.propensity_model_ = pm.fit(df, treatment_col, covariates=covariates,
                                            treated_value=treated_value, duration_col=duration_col,
                                            event_col=event_col)
            self.propensity_ = pm.propensity_
            fn = ipw_weights if self.weighting == "ipw" else overlap_weights
            w = fn(a, self.propensity_, normalize=self.normalize)
        frame = pd.DataFrame({"duration": y, "event": delta, "treatment": a, "weight": w})
        with warnings.catch_warnings():
            # lifelines warns about non-integer weights unless robust=True; the user chose robust=False
            warnings.filterwarnings("ignore", message=".*weights are not integers.*")
            self.cph_ = CoxPHFitter(alpha=self.alpha).fit(frame, "duration", "event", weights_col="weight",
                                                          robust=self.robust)
        self.weights_ = w
        self.fitted_ = True
        return self

    def hazard_ratio(self) -> dict:
        """``{"hr", "lower", "upper"}``: exp(beta) of treatment and its (1 - alpha) confidence interval."""
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(df, ...) first")
        row = self.cph_.summary.loc["treatment"]
        lower = next(c for c in row.index if c.startswith("exp(coef) lower"))
        upper = next(c for c in row.index if c.startswith("exp(coef) upper"))
        return {"hr": float(row["exp(coef)"]), "lower": float(row[lower]), "upper": float(row[upper])}

    def print_summary(self, **kwargs) -> None:
        """Print the weighting scheme and lifelines' summary of the Cox fit."""
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(df, ...) first")
        w = self.weights_
        print(f"{self.name}: weights normalise={self.normalize!r}, min {w.min():.3g}, max {w.max():.3g}, "
              f"effective sample size {w.sum() ** 2 / (w ** 2).sum():.1f} of {w.size}")
        self.cph_.print_summary(**kwargs)

"""Doubly robust (AIPCW) estimates of population survival effects with influence-function intervals.

:class:`DoublyRobust` estimates, for each arm ``a`` in {0, 1}, the treatment-specific (adjusted,
counterfactual) survival ``psi_a(t) = P(T_a > t) = E_X[S_a(t | X)]``, the restricted mean survival time
``theta_a(h) = int_0^h psi_a(t) dt`` and the contrasts ``psi_1(t) - psi_0(t)`` and
``theta_1(h) - theta_0(h)``, by the cross-fitted one-step (AIPCW) estimator built on the efficient
influence function (EIF) of ``psi_a(t)`` in the nonparametric model under no unmeasured confounding,
positivity and coarsening (censoring) at random given (A, X).

Formulas (Westling, Luedtke, Gilbert & Carone, 2023, "Inference for treatment-specific survival curves
using machine learning", JASA, eq. (3); the same function as Bai, Tsiatis & O'Brien, 2013, Biometrics)::

    phi_a(t; O) = S_a(t|X) - [1{A=a} / pi_a(X)] S_a(t|X) [ Delta 1{Y <= t} / (S_a(Y|X) G_a(Y-|X))
                  - int_0^{min(Y,t)} dLambda_a(u|X) / (S_a(u|X) G_a(u-|X)) ]

    psi_a(t) = E[phi_a(t; O)],   EIF of psi_a(t) = phi_a(t; O) - psi_a(t)

with ``O = (X, A, Y = min(T, C), Delta = 1{T <= C})``, the outcome model ``S_a(t|x) = P(T > t | A=a, X=x)``
and its cumulative hazard ``Lambda_a``, the propensity ``pi_1(x) = P(A=1 | X=x)`` (``pi_0 = 1 - pi_1``) and
the censoring survival ``G_a(t-|x) = P(C >= t | A=a, X=x)``.  On a grid of times the integral is the sum
over grid points ``u <= min(Y, t)`` of the discrete hazard ``dLambda_a(u|x) = 1 - S_a(u|x) / S_a(u-|x)``;
with ``S(u) = S(u-) (1 - dLambda(u))`` this is the discrete-time EIF (the one of the Kaplan-Meier
estimator), so a Kaplan-Meier outcome model reproduces the Kaplan-Meier curve exactly (see the tests).
The estimator is consistent if either ``S_a`` or (``pi``, ``G_a``) is consistent, and efficient, with
the Wald interval below valid, when both converge fast enough (product of rates ``o(n^{-1/2})``).

RMST: the EIF is linear in ``psi``, so the EIF of ``theta_a(h)`` is ``int_0^h phi_a(t; O) dt - theta_a(h)``,
integrated exactly over the step function ``t -> phi_a(t; O)`` on the grid (value 1 on ``[0, u_1)``).

Cross-fitting (Chernozhukov et al. 2018; Westling et al. 2023, section 3.3): the rows are split into
``n_folds`` folds stratified on treatment x event; the outcome model, and any user-supplied propensity
estimator, is fitted on the other folds and evaluated on the held-out fold; the pseudo-outcomes
``phi_a(t; O_i)`` of all rows are then averaged.  Cross-fitting is what licenses a flexible nuisance (no
Donsker condition).  The parametric nuisances -- the default logistic propensity (or a constant / known
one) and the Cox or Kaplan-Meier censoring model per arm, each with a fixed number of parameters -- form
Donsker classes, for which the classical AIPW theory fits them once on all rows with the same
first-order behaviour (Tsiatis 2006, "Semiparametric Theory and Missing Data", ch. 9-10); pyrocsa does
so.  A fold fit on (n_folds - 1) / n_folds of the rows extrapolates the linear predictor of a held-out
high-leverage subject, and ``1 / (pi G)`` amplifies it, so cross-fitting these two models makes the
estimate noisier and its interval wider at the same coverage (``docs/decisions.md``, section 9).
Estimate ``psi_hat = mean_i phi_i``; standard error ``sd_i(phi_i) / sqrt(n)``; interval
``psi_hat +- z_{(1+level)/2} se`` (pointwise in t).

Time grid: the distinct observed durations (all arms); ``S_a(t)`` between grid points is that at the
largest grid point ``<= t`` (right-continuous steps).  Times are in the duration column's unit.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from pyrocsa.core.influence import ArmSurvivalFit, aipcw_pseudo_outcomes, integrate_steps
from pyrocsa.data.frame import MIN_ROWS, Preprocessor, validate_outcome_columns
from pyrocsa.errors import ArgumentError, DataError, FitWarning, check_level

__all__ = ["DoublyRobust"]

ARMS = (0, 1)
_CENSORING_CHOICES = ("cox", "km", "outcome_model")
_PROPENSITY_CHOICES = ("logistic", "constant")
#: an estimated propensity whose c-statistic (treated vs control) reaches this value is taken to mean
#: that the arms do not overlap (named error) rather than poor overlap (clipping with a warning)
MAX_PROPENSITY_C_STATISTIC = 0.99


# ---------------------------------------------------------------------------------------------------------
# intervals (the influence-function core itself is pyrocsa.core.influence)
# ---------------------------------------------------------------------------------------------------------
def _wald(phi: np.ndarray, level: float) -> dict:
    """Estimate, SE, Wald interval and two-sided p-value (H0: 0) from pseudo-outcomes phi (n,)."""
    n = phi.shape[0]
    est = float(phi.mean())
    se = float(phi.std(ddof=1) / np.sqrt(n))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else float("nan")
    return {"estimate": est, "se": se, "lower": est - z * se, "upper": est + z * se, "p_value": p}


def _check_level(level) -> float:
    return check_level(level)


# ---------------------------------------------------------------------------------------------------------
# nuisance adapters
# ---------------------------------------------------------------------------------------------------------
def _empirical_rows(draws: np.ndarray, grid: np.ndarray, left: bool = False) -> np.ndarray:
    """Per-subject empirical survival of draws (S, n) on ``grid``: (n, K). ``left``: P(X >= t)."""
    srt = np.sort(np.asarray(draws, dtype=float), axis=0)
    s = srt.shape[0]
    side = "left" if left else "right"
    return np.stack([1.0 - np.searchsorted(srt[:, i], grid, side=side) / s for i in range(srt.shape[1])])


def _new_model(spec, what: str):
    """A fresh unfitted copy of ``spec`` (an instance is deep-copied, a class or factory is called)."""
    if isinstance(spec, type) or (callable(spec) and not hasattr(spec, "fit")):
        model = spec()
    else:
        model = copy.deepcopy(spec)
    if not hasattr(model, "fit"):
        raise ArgumentError(f"{what} must be an estimator with fit(...) or a factory returning one; got "
                         f"{type(model).__name__}")
    return model


def _survival_method_arm_kw(model):
    fn = getattr(model, "predict_survival_function", None)
    if fn is None or not callable(fn):
        return None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    for kw in ("arm", "treatment"):
        if kw in params:
            return kw
    return None


def _model_survival(model, df: pd.DataFrame, grid: np.ndarray, num_samples: int, seed: int):
    """``(S_0, S_1)`` each (n, K): the fitted outcome model's ``S_a(t_k | x_i)`` on the grid, and the
    PotentialOutcomes when they were drawn (else None).

    Order of preference: ``survival_curves(df, arm).survival_at(grid)`` (pyrocsa T-learners: exact),
    ``predict_survival_function(df, times=grid, arm=a)`` (or ``treatment=a``; an (n, K) array or a
    lifelines-style (K, n) DataFrame indexed by time), else the empirical survival of
    ``sample_potential_outcomes(df, num_samples, seed)`` draws per subject.
    """
    if hasattr(model, "survival_curves"):
        return tuple(np.asarray(model.survival_curves(df, a).survival_at(grid), float) for a in ARMS), None
    kw = _survival_method_arm_kw(model)
    if kw is not None:
        out = []
        for a in ARMS:
            res = model.predict_survival_function(df, times=grid, **{kw: a})
            if isinstance(res, pd.DataFrame) and res.shape == (len(grid), len(df)) and \
                    np.allclose(res.index.to_numpy(dtype=float), grid):
                res = res.to_numpy().T
            res = np.asarray(res, dtype=float)
            if res.shape != (len(df), len(grid)):
                raise DataError(f"outcome_model.predict_survival_function returned shape {res.shape}; "
                                 f"expected (n_subjects, n_times) = {(len(df), len(grid))}")
            out.append(np.minimum.accumulate(np.clip(res, 0.0, 1.0), axis=1))
        return tuple(out), None
    po = model.sample_potential_outcomes(df, num_samples=num_samples, seed=seed)
    return (_empirical_rows(po.t0, grid), _empirical_rows(po.t1, grid)), po


def _is_parametric_propensity(spec) -> bool:
    """True for pyrocsa's own fixed-dimension propensity models (the default logistic regression, the
    training share, a known probability), which are fitted on all rows; any user-supplied estimator is
    cross-fitted (it may be a flexible learner)."""
    if spec is None or isinstance(spec, str):
        return True
    return isinstance(spec, (float, np.floating)) and not isinstance(spec, bool)


def _fit_propensity(spec, train: pd.DataFrame, test: pd.DataFrame, treatment_col, covariates, a_train,
                    x_train, x_test, duration_col, event_col, treated_value) -> np.ndarray:
    """Fit the propensity model on ``train``; return ``P(A=1 | x)`` (n_test,) for ``test``."""
    if isinstance(spec, str) and spec == "constant":
        return np.full(len(test), a_train.mean())
    if isinstance(spec, (float, np.floating)) and not isinstance(spec, bool):
        return np.full(len(test), float(spec))
    if spec is None or (isinstance(spec, str) and spec == "logistic"):
        from pyrocsa.baselines.propensity import PropensityModel

        spec = PropensityModel()
    model = _new_model(spec, "propensity_model")
    from sklearn.base import BaseEstimator, is_classifier

    if isinstance(model, BaseEstimator) and is_classifier(model):
        model.fit(x_train, a_train.astype(int))
        classes = list(model.classes_)
        return np.asarray(model.predict_proba(x_test), float)[:, classes.index(1)]
    model.fit(train, treatment_col, covariates=covariates, duration_col=duration_col, event_col=event_col,
              treated_value=treated_value)
    e = np.asarray(model.predict_proba(test), dtype=float)
    if e.ndim == 2:
        e = e[:, 1]
    return e


# ---------------------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------------------
class DoublyRobust:
    """Cross-fitted doubly robust (AIPCW) estimates of adjusted survival, RMST and their arm contrasts,
    with influence-function (Wald) intervals. Formulas and references: module docstring.

    Parameters
    ----------
    outcome_model : the model of ``S_a(t | x)``: any pyrocsa estimator instance (deep-copied per fold, e.g.
        ``pyrocsa.baselines.CoxTLearner()``), a class or zero-argument factory returning one, or None for
        the default CSA-INFO, ``pyrocsa.CSA(verbose=False)``.  Its
        ``S_a(t|x)`` is read, in this order, from ``survival_curves(df, arm)`` (exact, pyrocsa
        T-learners), from ``predict_survival_function(df, times=, arm=)``, else from the empirical survival
        of ``num_samples`` potential-outcome draws per subject.
    propensity_model : ``P(A=1 | x)``: None or ``"logistic"`` (default: a logistic regression on the
        preprocessed covariates, :class:`pyrocsa.baselines.PropensityModel`); ``"constant"`` (the
        training share of treated: a randomised trial); a number in (0, 1) (a known randomisation
        probability); a scikit-learn classifier (fitted on the preprocessed covariates); or an object
        with ``fit(df, treatment_col, covariates=...)`` and ``predict_proba(df) -> (n,)``.
    censoring_model : ``G_a(t | x)``: None or ``"cox"`` (default: a penalised lifelines Cox model of the
        censoring time per arm on the preprocessed covariates, Breslow baseline); ``"km"`` (Kaplan-Meier
        of the censoring time per arm: independent censoring within arm); ``"outcome_model"`` (the
        empirical survival of the outcome model's censoring draws ``c0``, ``c1``: CSA-INFO).
    n_folds : number of cross-fitting folds (>= 2), stratified on treatment x event.
    seed : seed of the fold assignment and of the outcome model's draws.
    num_samples : draws per subject when ``S_a(t|x)`` comes from sampling.
    propensity_clip : ``c``: propensities are clipped to ``[c, 1 - c]``; a warning reports how many.
    censoring_clip : ``G_a(t-|x)`` is bounded below by this value (positivity of being uncensored);
        ``positivity_`` reports how many evaluations needed it.

    Fitted attributes: ``grid_`` (K,) distinct observed durations; ``pseudo_outcomes_`` {arm: (n, K)}
    ``phi_a(t_k; O_i)``; ``outcome_survival_`` {arm: (n, K)} cross-fitted ``S_a(t_k|X_i)``;
    ``censoring_survival_`` {arm: (n, K)} ``G_a(t_k-|X_i)`` (clipped; fitted on all rows for ``"cox"`` /
    ``"km"``, cross-fitted for ``"outcome_model"``); ``propensity_`` (n,) ``P(A=1|X_i)`` (clipped; fitted
    on all rows for the built-in choices, cross-fitted for a user-supplied estimator); ``n_clipped_``
    number of clipped propensities; ``folds_`` (n,) fold of each row; ``treatment_``, ``duration_``,
    ``event_`` (n,); ``followup_`` {arm: largest duration}; ``positivity_`` (dict of diagnostics);
    ``outcome_misfit_folds_``: [(fold, arms)] where the fold's outcome model left the Kaplan-Meier
    simultaneous band of its training rows (:mod:`pyrocsa.core.fit_check`; one warning sums them up).

    Examples
    --------
    >>> from pyrocsa import DoublyRobust, datasets
    >>> from pyrocsa.baselines import CoxTLearner
    >>> df = datasets.load_actg()[datasets.ACTG_BASELINE + ["days", "cens", "arms"]]
    >>> dr = DoublyRobust(outcome_model=CoxTLearner()).fit(df, "days", "cens", "arms")
    >>> dr.rmst_difference(1000.0)["estimate"]   # days of event-free time gained by 1000 days
    """

    name = "DoublyRobust"

    def __init__(self, outcome_model=None, propensity_model=None, censoring_model=None, n_folds: int = 5,
                 seed: int = 0, num_samples: int = 200, propensity_clip: float = 0.01,
                 censoring_clip: float = 0.01):
        if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
            raise ArgumentError(f"n_folds must be an integer >= 2, got {n_folds!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 2:
            raise ArgumentError(f"num_samples must be an integer >= 2, got {num_samples!r}")
        if not (isinstance(propensity_clip, (int, float)) and 0 < propensity_clip < 0.5):
            raise ArgumentError(f"propensity_clip must be a number in (0, 0.5), got {propensity_clip!r}")
        if not (isinstance(censoring_clip, (int, float)) and 0 < censoring_clip < 1):
            raise ArgumentError(f"censoring_clip must be a number in (0, 1), got {censoring_clip!r}")
        if censoring_model is not None and censoring_model not in _CENSORING_CHOICES:
            raise ArgumentError(f"censoring_model must be None or one of {list(_CENSORING_CHOICES)}, got "
                             f"{censoring_model!r}")
        if isinstance(propensity_model, str) and propensity_model not in _PROPENSITY_CHOICES:
            raise ArgumentError(f"propensity_model must be None, one of {list(_PROPENSITY_CHOICES)}, a "
                                f"number "
                             f"in (0, 1) or an estimator; got {propensity_model!r}")
        if isinstance(propensity_model, (float, np.floating)) and not 0 < propensity_model < 1:
            raise ArgumentError(f"propensity_model as a known probability must lie in (0, 1), got "
                             f"{propensity_model!r}")
        self.outcome_model = outcome_model
        self.propensity_model = propensity_model
        self.censoring_model = censoring_model
        self.n_folds = int(n_folds)
        self.seed = seed
        self.num_samples = int(num_samples)
        self.propensity_clip = float(propensity_clip)
        self.censoring_clip = float(censoring_clip)

    def __repr__(self) -> str:
        om = "CSA-INFO (1 member)" if self.outcome_model is None else getattr(
            self.outcome_model, "name", type(self.outcome_model).__name__)
        return (f"DoublyRobust(outcome_model={om}, propensity_model={self.propensity_model or 'logistic'}, "
                f"censoring_model={self.censoring_model or 'cox'}, n_folds={self.n_folds}, seed={self.seed})")

    # -- fitting --------------------------------------------------------------------------------------------
    def _outcome_spec(self):
        if self.outcome_model is not None:
            return self.outcome_model
        from pyrocsa.csa.estimator import CSA

        return lambda: CSA(verbose=False)

    def _folds(self, a: np.ndarray, delta: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        folds = np.empty(a.size, dtype=int)
        strata = (2 * a + delta).astype(int)
        start = 0
        for s in np.unique(strata):
            pos = np.flatnonzero(strata == s)
            rng.shuffle(pos)
            folds[pos] = (start + np.arange(pos.size)) % self.n_folds
            start += pos.size  # continue the round-robin so fold sizes stay balanced across strata
        return folds

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            covariates: list[str] | None = None, treated_value=None) -> DoublyRobust:
        """Cross-fit the nuisances and compute the pseudo-outcomes of every row on the grid of observed
        durations. ``df`` (one row per subject) is never modified; ``covariates`` default to every other
        column. Returns ``self``."""
        y, delta, a = validate_outcome_columns(df, duration_col, event_col, treatment_col, treated_value)
        a = a.astype(int)
        outcome_cols = (duration_col, event_col, treatment_col)
        if covariates is None:
            covariates = [c for c in df.columns if c not in outcome_cols]
        else:
            covariates = [str(c) for c in covariates] if not isinstance(covariates, str) else [covariates]
            missing = [c for c in covariates if c not in df.columns]
            if missing:
                raise DataError(f"covariates: column(s) {missing} not in the frame")
            clash = [c for c in covariates if c in outcome_cols]
            if clash:
                raise DataError(f"covariates: {clash} are outcome/treatment columns")
        if not covariates:
            raise DataError("covariates: no covariate columns (pass covariates= or add columns)")
        n = len(df)
        if n < MIN_ROWS * self.n_folds:
            raise DataError(f"n_folds={self.n_folds}: {n} rows give fewer than {MIN_ROWS} rows per fold; "
                             f"use fewer folds or more data")
        for arm in ARMS:
            m = a == arm
            if m.sum() < 2 * self.n_folds:
                raise DataError(f"treatment column '{treatment_col}': arm {arm} has {int(m.sum())} rows, "
                                 f"fewer than 2 per fold (n_folds={self.n_folds})")
            if delta[m].sum() < self.n_folds:
                raise DataError(f"event column '{event_col}': arm {arm} has {int(delta[m].sum())} events, "
                                 f"fewer than one per fold (n_folds={self.n_folds})")
        frame = df[covariates + list(outcome_cols)].copy()
        frame.index = pd.RangeIndex(n)
        grid = np.unique(y)
        grid_pos = np.searchsorted(grid, y)
        folds = self._folds(a, delta)
        cens_kind = self.censoring_model or "cox"
        spec = self._outcome_spec()

        surv = {arm: np.empty((n, grid.size)) for arm in ARMS}
        cens = {arm: np.empty((n, grid.size)) for arm in ARMS}
        e = np.empty(n)
        # parametric nuisances (module docstring, "Cross-fitting") are fitted once on all rows
        full_cens = cens_kind in ("cox", "km")
        full_prop = _is_parametric_propensity(self.propensity_model)
        if full_cens or full_prop:
            pre = Preprocessor()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*constant.*")
                pre.fit(frame, covariates)
            x_all = pre.transform(frame).astype(np.float64)
            if full_cens:
                cf = ArmSurvivalFit(cens_kind).fit(x_all, y, delta, a)
                for arm in ARMS:
                    cens[arm][:] = cf.left_survival(x_all, grid, arm)
            if full_prop:
                e[:] = _fit_propensity(self.propensity_model, frame, frame, treatment_col, covariates, a,
                                       x_all, x_all, duration_col, event_col, treated_value)
        misfit_folds = []
        for k in range(self.n_folds):
            test = np.flatnonzero(folds == k)
            train = np.flatnonzero(folds != k)
            tr, te = frame.iloc[train], frame.iloc[test]
            model = _new_model(spec, "outcome_model")
            with warnings.catch_warnings():  # the folds' fit checks are summarised once, below
                warnings.simplefilter("ignore", FitWarning)
                model.fit(tr, duration_col=duration_col, event_col=event_col, treatment_col=treatment_col,
                          covariates=covariates)
            check = getattr(model, "fit_check_", None)
            if check is not None and not check.inside:
                misfit_folds.append((k, [a.arm for a in check.arms.values() if not a.inside]))
            (s0, s1), po = _model_survival(model, te, grid, self.num_samples, seed=int(self.seed) * 1000 + k)
            surv[0][test], surv[1][test] = s0, s1
            pre = Preprocessor()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*constant.*")
                pre.fit(tr, covariates)
            x_tr = pre.transform(tr).astype(np.float64)
            x_te = pre.transform(te).astype(np.float64)
            if cens_kind == "outcome_model":
                if po is None:
                    po = model.sample_potential_outcomes(te, num_samples=self.num_samples,
                                                         seed=int(self.seed) * 1000 + k)
                if po.c0 is None or po.c1 is None:
                    raise ArgumentError("censoring_model='outcome_model' needs an outcome model that draws "
                                     "censoring times (c0, c1), e.g. CSA(informative_censoring=True)")
                cens[0][test] = _empirical_rows(po.c0, grid, left=True)
                cens[1][test] = _empirical_rows(po.c1, grid, left=True)
            elif not full_cens:
                cf = ArmSurvivalFit(cens_kind).fit(x_tr, y[train], delta[train], a[train])
                for arm in ARMS:
                    cens[arm][test] = cf.left_survival(x_te, grid, arm)
            if not full_prop:
                e[test] = _fit_propensity(self.propensity_model, tr, te, treatment_col, covariates, a[train],
                                          x_tr, x_te, duration_col, event_col, treated_value)
        self.outcome_misfit_folds_ = misfit_folds
        if misfit_folds:
            arms = sorted({arm for _, bad in misfit_folds for arm in bad})
            warnings.warn(f"the outcome model leaves the Kaplan-Meier 95% simultaneous band of its training "
                          f"rows in {len(misfit_folds)} of {self.n_folds} cross-fitting folds "
                          f"(arm(s) {arms}): "
                          "the doubly robust estimate stays consistent when the propensity and censoring "
                          "models are right, but its interval is wider than a fitting outcome model would "
                          "give; see outcome_misfit_folds_", FitWarning, stacklevel=2)
        if not np.isfinite(e).all() or (e < 0).any() or (e > 1).any():
            raise DataError("propensity_model returned values outside [0, 1] or non-finite")
        # overlap: a propensity that (almost) separates the arms leaves no common support. The c-statistic
        # (P(e_treated > e_control), Mann-Whitney) is 0.5 in an RCT and 1 under complete separation.
        auc = float(stats.mannwhitneyu(e[a == 1], e[a == 0]).statistic / ((a == 1).sum() * (a == 0).sum()))
        if auc >= MAX_PROPENSITY_C_STATISTIC:
            raise DataError(f"treatment column '{treatment_col}': no overlap between arms -- the "
                             f"estimated propensity separates treated from control subjects (c-statistic "
                             f"{auc:.3f} >= "
                             f"{MAX_PROPENSITY_C_STATISTIC}); the effect is not identified (restrict the "
                             "population or drop the covariates that determine treatment)")
        c = self.propensity_clip
        clipped = (e < c) | (e > 1 - c)
        self.n_clipped_ = int(clipped.sum())
        if self.n_clipped_:
            warnings.warn(f"poor overlap: {self.n_clipped_} of {n} estimated propensities fell outside "
                          f"[{c:g}, {1 - c:g}] and were clipped to it (propensity_clip={c:g}); the estimate "
                          "leans on extrapolation for those subjects", RuntimeWarning, stacklevel=2)
        e = np.clip(e, c, 1 - c)
        n_low = {}
        at_risk = np.arange(grid.size)[None, :] <= grid_pos[:, None]
        for arm in ARMS:
            # G_a(u-|x_i) enters the EIF only where subject i of arm a is at risk (u <= Y_i)
            n_low[arm] = int(((cens[arm] < self.censoring_clip) & at_risk & (a == arm)[:, None]).sum())
            cens[arm] = np.maximum(cens[arm], self.censoring_clip)
        weights = {0: (a == 0) / (1.0 - e), 1: (a == 1) / e}
        self.pseudo_outcomes_ = {arm: aipcw_pseudo_outcomes(surv[arm], cens[arm], grid_pos, delta,
                                                            weights[arm]) for arm in ARMS}
        self.outcome_survival_, self.censoring_survival_ = surv, cens
        self.grid_, self.grid_position_, self.folds_, self.propensity_ = grid, grid_pos, folds, e
        self.duration_, self.event_, self.treatment_ = y, delta, a
        self.followup_ = {arm: float(y[a == arm].max()) for arm in ARMS}
        self.positivity_ = {"propensity_min": float(e.min()), "propensity_max": float(e.max()),
                            "n_propensity_clipped": self.n_clipped_,
                            "n_censoring_clipped": n_low}
        self.columns_ = {"duration_col": duration_col, "event_col": event_col, "treatment_col": treatment_col}
        self.covariates_ = covariates
        self.n_ = n
        self._frame = frame
        self._results: dict = {}
        self.fitted_ = True
        return self

    # -- checks ---------------------------------------------------------------------------------------------
    def _check_fitted(self):
        if not getattr(self, "fitted_", False):
            raise RuntimeError("DoublyRobust is not fitted: call fit(df, duration_col=, event_col=, "
                               "treatment_col=) first")

    def _check_time(self, t, name: str) -> float:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or \
                not np.isfinite(t) or t <= 0:
            raise ArgumentError(f"{name} must be a positive finite time, got {t!r}")
        t = float(t)
        limit = min(self.followup_.values())
        if t > limit:
            arm = min(self.followup_, key=self.followup_.get)
            raise DataError(f"{name}={t:g} is beyond follow-up: arm {arm}'s largest duration in column "
                             f"'{self.columns_['duration_col']}' is {limit:g}; S_a(t) is not identified "
                             "there")
        for arm in ARMS:
            m = self.treatment_ == arm
            if not (self.event_[m] * (self.duration_[m] <= t)).any():
                raise DataError(f"{name}={t:g}: no events before it in arm {arm} (event column "
                                 f"'{self.columns_['event_col']}'); the effect is not estimable")
        return t

    def _position(self, t: float) -> int:
        return int(np.searchsorted(self.grid_, t, side="right") - 1)

    # -- estimands -----------------------------------------------------------------------------------------
    def _pseudo_survival(self, t: float) -> dict:
        k = self._position(t)
        if k < 0:
            return {arm: np.ones(self.n_) for arm in ARMS}
        return {arm: self.pseudo_outcomes_[arm][:, k] for arm in ARMS}

    def _pseudo_rmst(self, horizon: float) -> dict:
        return {arm: integrate_steps(self.pseudo_outcomes_[arm], self.grid_, horizon) for arm in ARMS}

    def _contrast(self, phi: dict, level: float, what: str, at: float, clip01: bool) -> dict:
        out = _wald(phi[1] - phi[0], level)
        for arm in ARMS:
            res = _wald(phi[arm], level)
            res.pop("p_value")
            if clip01:
                res["lower"], res["upper"] = max(res["lower"], 0.0), min(res["upper"], 1.0)
            out[f"arm{arm}"] = res
        out.update(level=level, estimand=what, time=at)
        return out

    def rmst_difference(self, horizon: float, level: float = 0.95) -> dict:
        """RMST difference ``theta_1(h) - theta_0(h)`` at ``horizon`` h (duration unit): the gain in mean
        event-free time up to h had everyone been treated vs had no-one been.

        Returns a dict: ``estimate``, ``se``, ``lower``, ``upper`` (Wald interval at ``level``),
        ``p_value`` (H0: no difference), ``arm0`` / ``arm1`` (dicts ``estimate``, ``se``, ``lower``,
        ``upper``: the adjusted RMST of each arm), ``level``, ``estimand``, ``time`` (= horizon).
        """
        self._check_fitted()
        level = _check_level(level)
        horizon = self._check_time(horizon, "horizon")
        res = self._contrast(self._pseudo_rmst(horizon), level, "rmst_difference", horizon, clip01=False)
        self._results[("rmst_difference", horizon, level)] = res
        return res

    def survival_difference(self, t: float, level: float = 0.95) -> dict:
        """Survival difference ``psi_1(t) - psi_0(t)`` at time ``t`` (duration unit); same keys as
        :meth:`rmst_difference` (``arm0``/``arm1`` hold the adjusted survival probabilities, interval
        clipped to [0, 1])."""
        self._check_fitted()
        level = _check_level(level)
        t = self._check_time(t, "t")
        res = self._contrast(self._pseudo_survival(t), level, "survival_difference", t, clip01=True)
        self._results[("survival_difference", t, level)] = res
        return res

    def adjusted_survival(self, times=None, level: float = 0.95) -> pd.DataFrame:
        """Adjusted (counterfactual) survival curves ``psi_a(t) = E_X[S_a(t|X)]`` of both arms with pointwise
        EIF bands: DataFrame indexed by ``time`` (default: the grid of observed durations up to the
        shorter arm's follow-up) with columns ``arm0``, ``arm0_lower``, ``arm0_upper``, ``arm1``, ...,
        ``difference``, ``difference_lower``, ``difference_upper`` (arm 1 - arm 0) and ``plugin0``,
        ``plugin1`` (the cross-fitted outcome model's own average ``mean_i S_a(t|X_i)``)."""
        self._check_fitted()
        level = _check_level(level)
        limit = min(self.followup_.values())
        if times is None:
            times = self.grid_[self.grid_ <= limit]
        times = np.atleast_1d(np.asarray(times, dtype=float))
        if times.ndim != 1 or not np.isfinite(times).all() or (times < 0).any():
            raise ArgumentError("times must be a 1-d array of finite, non-negative times")
        if (times > limit).any():
            raise DataError(f"times beyond follow-up ({limit:g}, the shorter arm's largest duration)")
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        k = np.searchsorted(self.grid_, times, side="right") - 1
        n = self.n_
        cols = {}
        phis = {}
        for arm in ARMS:
            padded = np.concatenate([np.ones((n, 1)), self.pseudo_outcomes_[arm]], axis=1)
            phis[arm] = padded[:, k + 1]
        phis["difference"] = phis[1] - phis[0]
        for key, phi in phis.items():
            name = f"arm{key}" if key in ARMS else key
            est = phi.mean(axis=0)
            se = phi.std(axis=0, ddof=1) / np.sqrt(n)
            lo, hi = est - z * se, est + z * se
            if key in ARMS:
                lo, hi = np.maximum(lo, 0.0), np.minimum(hi, 1.0)
            cols[name], cols[f"{name}_lower"], cols[f"{name}_upper"] = est, lo, hi
        for arm in ARMS:
            padded = np.concatenate([np.ones((n, 1)), self.outcome_survival_[arm]], axis=1)
            cols[f"plugin{arm}"] = padded[:, k + 1].mean(axis=0)
        return pd.DataFrame(cols, index=pd.Index(times, name="time"))

    # -- reports --------------------------------------------------------------------------------------------
    def default_horizon(self) -> float:
        """A horizon inside follow-up for reports: the smaller of the two arms' 90th percentile of the
        observed durations."""
        self._check_fitted()
        return float(min(np.quantile(self.duration_[self.treatment_ == arm], 0.9) for arm in ARMS))

    @property
    def summary(self) -> pd.DataFrame:
        """Every contrast computed so far (or the RMST difference at :meth:`default_horizon` if none), one
        row per quantity: columns ``estimand``, ``time``, ``quantity`` (arm 0 / arm 1 / difference),
        ``estimate``, ``se``, ``lower``, ``upper``, ``p_value``, ``level``."""
        self._check_fitted()
        if not self._results:
            self.rmst_difference(self.default_horizon())
        rows = []
        for (what, t, level), res in self._results.items():
            label = "RMST" if what == "rmst_difference" else "S(t)"
            for arm in ARMS:
                r = res[f"arm{arm}"]
                rows.append({"estimand": what, "time": t, "quantity": f"{label} arm {arm}", **r,
                             "p_value": np.nan, "level": level})
            rows.append({"estimand": what, "time": t, "quantity": f"{label} difference (1 - 0)",
                         **{k: res[k] for k in ("estimate", "se", "lower", "upper", "p_value")},
                         "level": level})
        return pd.DataFrame(rows)

    def print_summary(self, horizon: float | None = None, times=None, level: float = 0.95,
                      decimals: int = 3) -> None:
        """Print the design (n, folds, models), the positivity diagnostics and a table of adjusted per-arm
        values and differences: the RMST at ``horizon`` (default :meth:`default_horizon` when neither
        ``horizon`` nor ``times`` is given) and the survival at each of ``times``."""
        self._check_fitted()
        if horizon is None and times is None:
            horizon = self.default_horizon()
        if horizon is not None:
            self.rmst_difference(horizon, level)
        for t in np.atleast_1d(times) if times is not None else []:
            self.survival_difference(float(t), level)
        tab = self.summary
        wanted = set()
        if horizon is not None:
            wanted.add(("rmst_difference", float(horizon)))
        for t in np.atleast_1d(times) if times is not None else []:
            wanted.add(("survival_difference", float(t)))
        mask = [(r["estimand"], r["time"]) in wanted and r["level"] == level for _, r in tab.iterrows()]
        tab = tab[mask]
        c = self.columns_
        pos = self.positivity_
        print("<pyrocsa.DoublyRobust: cross-fitted AIPCW (Westling et al. 2023)>")
        print(f"  {'duration col':<22}'{c['duration_col']}'   event col '{c['event_col']}'   "
              f"treatment col '{c['treatment_col']}'")
        print(f"  {'subjects':<22}{self.n_} (arm 0: {int((self.treatment_ == 0).sum())}, arm 1: "
              f"{int((self.treatment_ == 1).sum())}), {int(self.event_.sum())} events, {self.n_folds} folds")
        print(f"  {'models':<22}{self!r}")
        print(f"  {'propensity range':<22}[{pos['propensity_min']:.3f}, {pos['propensity_max']:.3f}], "
              f"{pos['n_propensity_clipped']} clipped to [{self.propensity_clip:g}, "
              f"{1 - self.propensity_clip:g}]")
        print(f"  {'censoring clipped':<22}G_a(t-|x) < {self.censoring_clip:g} at "
              f"{pos['n_censoring_clipped'][0]} / {pos['n_censoring_clipped'][1]} (arm 0 / arm 1) "
              "at-risk subject-time points")
        ci = f"{int(round(level * 100))}%"
        show = tab.rename(columns={"lower": f"lower {ci}", "upper": f"upper {ci}", "p_value": "p"})
        show = show.drop(columns=["estimand", "level"]).set_index(["time", "quantity"])
        print("---")
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            print(show.round(decimals).to_string())


# ---------------------------------------------------------------------------------------------------------
# plug-in adjusted survival from sampled potential outcomes
# ---------------------------------------------------------------------------------------------------------

"""Metrics for synthetic survival cohorts with a treatment (STEAM's desiderata, for censored outcomes).

Every metric compares a synthetic frame with real frames that have the same columns: covariates, a
duration (follow-up time), an event indicator (1 = event) and a binary treatment. Real-side models are fit
on a real *training* frame and evaluated on a real *test* frame, as in STEAM (Amad et al., NeurIPS 2025).

* covariates: :func:`alpha_precision_beta_recall` (Alaa et al., ICML 2022), :func:`marginal_distances`
  (per-column KS / total variation, missingness rates);
* treatment mechanism: :func:`jsd_pi`;
* outcome mechanism: :func:`u_pehe` (RMST-difference ITEs of survival T-learners),
  :func:`censoring_distance` (per-arm Kaplan-Meier of censoring times), :func:`hazard_ratio_agreement`,
  :func:`train_synthetic_test_real` (C-index and integrated Brier score of a Cox model trained on the
  synthetic rows, on real test patients);
* privacy: :func:`distance_to_closest_record`, and the full audit of :mod:`pyrocsa.steam.privacy`
  (exact copies, DCR, two membership-inference attacks, attribute inference);
* :func:`evaluate_cohort` runs them all and returns one flat dict.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import gamma, gammainc
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

from pyrocsa.data.frame import Preprocessor, check_frame, validate_treatment
from pyrocsa.errors import ArgumentError, DataError
from pyrocsa.steam.privacy import privacy_report

__all__ = ["alpha_precision_beta_recall", "marginal_distances", "jsd_pi", "u_pehe", "censoring_distance",
           "hazard_ratio_agreement", "train_synthetic_test_real", "distance_to_closest_record",
           "evaluate_cohort", "CoxTRMSTLearner",
           "CoxSRMSTLearner", "WeibullRMSTLearner", "RSFRMSTLearner", "DRRMSTLearner"]


# -- helpers ---------------------------------------------------------------------------------------------
def _preprocessor(df: pd.DataFrame, columns: list[str]) -> Preprocessor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropping constant covariate")
        return Preprocessor().fit(df, columns)


def _arm(df: pd.DataFrame, treatment_col: str, treated_value=None) -> np.ndarray:
    """0/1 treatment of a frame (both arms need not be present)."""
    s = df[treatment_col]
    if s.nunique() == 2:
        return validate_treatment(s, treatment_col, treated_value).astype(int)
    tv = 1 if treated_value is None else treated_value
    return (s.astype(str) == str(tv)).to_numpy(dtype=int)


def _finite(value: float, what: str) -> float:
    if not np.isfinite(value):
        raise DataError(f"{what} is not finite ({value}); check the inputs (empty arm, no events?)")
    return float(value)


# -- covariates ------------------------------------------------------------------------------------------
def alpha_precision_beta_recall(real: pd.DataFrame, synthetic: pd.DataFrame, covariates: list[str],
                                n_grid: int = 30, k: int = 5, seed: int = 0) -> dict:
    """Integrated alpha-precision and beta-recall (Alaa et al., ICML 2022), on covariates only.

    Embedding: the paper's simplest variant -- no one-class network; ``phi`` = the covariates preprocessed
    with statistics of the *real* frame (median imputation, one-hot, standardisation). The larger frame is
    subsampled (``seed``) to the size of the smaller, so that real and synthetic have equal size ``n``.

    * alpha-precision: centre ``c = mean(phi(x_real))``, radius ``r_alpha`` = alpha-quantile of
      ``||phi(x_real) - c||`` (the real alpha-support ball); ``P_alpha = (1/n) sum_j
      1{||phi(x_syn_j) - c|| <= r_alpha}``. A faithful generator has ``P_alpha = alpha``.
    * beta-recall: synthetic centre ``c~``, radius ``r~_beta`` = beta-quantile of ``||phi(x_syn) - c~||``;
      for each real ``x_i`` with nearest synthetic point ``s(i)``, ``R_beta = (1/n) sum_i 1{||phi(x_i) -
      phi(s(i))|| <= NND_k(s(i))} * 1{||phi(s(i)) - c~|| <= r~_beta}``, where ``NND_k`` is the distance of
      ``s(i)`` to its k-th nearest synthetic neighbour (the k-NN support estimate of the paper).
    * integrated versions on a grid of ``n_grid`` values of alpha in [0, 1]:
      ``IP_alpha = 1 - 2 * int_0^1 |P_alpha - alpha| d alpha`` (likewise ``IR_beta``); 1 is best.
      Because the k-NN ball does not cover every real point even for a perfect generator, ``IR_beta`` of
      a fresh draw of the real distribution is below 1: compare with a real-vs-real reference.

    Returns a dict: ``alpha_precision``, ``beta_recall`` (integrated), ``alphas`` (n_grid,),
    ``precision_curve``, ``recall_curve`` (n_grid,).
    """
    check_frame(real, "real", covariates)
    check_frame(synthetic, "synthetic", covariates)
    if k < 1:
        raise ArgumentError(f"k must be >= 1, got {k}")
    n = min(len(real), len(synthetic))
    if n <= k:
        raise DataError(f"need more than k={k} rows in real and synthetic, got {n}")
    rng = np.random.default_rng(seed)
    real = real.iloc[np.sort(rng.choice(len(real), n, replace=False))] if len(real) > n else real
    synthetic = synthetic.iloc[np.sort(rng.choice(len(synthetic), n, replace=False))] \
        if len(synthetic) > n else synthetic
    pre = _preprocessor(real, covariates)
    xr, xs = pre.transform(real).astype(float), pre.transform(synthetic).astype(float)
    alphas = np.linspace(0.0, 1.0, n_grid)

    d_real = np.linalg.norm(xr - xr.mean(0), axis=1)
    d_syn = np.linalg.norm(xs - xr.mean(0), axis=1)
    radii = np.quantile(d_real, alphas)
    precision = np.array([(d_syn <= r).mean() for r in radii])

    nn_syn = NearestNeighbors(n_neighbors=k + 1).fit(xs)
    knn_syn = nn_syn.kneighbors(xs)[0][:, k]            # column 0 is the point itself
    dist, idx = nn_syn.kneighbors(xr, n_neighbors=1)
    dist, idx = dist[:, 0], idx[:, 0]
    close = dist <= knn_syn[idx]
    d_syn_centre = np.linalg.norm(xs - xs.mean(0), axis=1)
    radii_syn = np.quantile(d_syn_centre, alphas)
    recall = np.array([(close & (d_syn_centre[idx] <= r)).mean() for r in radii_syn])

    def integrated(curve):
        return float(1.0 - 2.0 * np.trapezoid(np.abs(curve - alphas), alphas))

    return {"alpha_precision": integrated(precision), "beta_recall": integrated(recall), "alphas": alphas,
            "precision_curve": precision, "recall_curve": recall}


def marginal_distances(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str],
                       max_discrete_levels: int = 20) -> pd.DataFrame:
    """Per-column distance between the real and synthetic marginals (non-missing values).

    * continuous columns (numeric with more than ``max_discrete_levels`` distinct real values): the
      two-sample Kolmogorov-Smirnov statistic ``sup_v |F_real(v) - F_syn(v)|`` (``scipy.stats.ks_2samp``);
    * discrete columns: total variation ``(1/2) sum_v |p_real(v) - p_syn(v)|``.

    Both lie in [0, 1], 0 = identical. Returns a DataFrame indexed by column with ``kind``, ``distance``,
    ``missing_real``, ``missing_syn`` (fractions of missing values).
    """
    check_frame(real, "real", columns)
    check_frame(synthetic, "synthetic", columns)
    rows = []
    for col in columns:
        r, s = real[col].dropna(), synthetic[col].dropna()
        if len(r) == 0 or len(s) == 0:
            raise DataError(f"column '{col}' has no non-missing values in the "
                             f"{'real' if len(r) == 0 else 'synthetic'} frame")
        numeric = pd.api.types.is_numeric_dtype(r) and not pd.api.types.is_bool_dtype(r)
        if numeric and r.nunique() > max_discrete_levels:
            kind, dist = "continuous", stats.ks_2samp(r.to_numpy(float), s.to_numpy(float)).statistic
        else:
            pr = r.astype(str).value_counts(normalize=True)
            ps = s.astype(str).value_counts(normalize=True)
            pr, ps = pr.align(ps, fill_value=0.0)
            kind, dist = "discrete", 0.5 * np.abs(pr - ps).sum()
        rows.append({"column": col, "kind": kind, "distance": float(dist),
                     "missing_real": float(real[col].isna().mean()),
                     "missing_syn": float(synthetic[col].isna().mean())})
    return pd.DataFrame(rows).set_index("column")


# -- treatment mechanism ---------------------------------------------------------------------------------
def jsd_pi(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_test: pd.DataFrame, treatment_col: str,
           covariates: list[str], treated_value=None) -> float:
    """Treatment-mechanism fidelity (STEAM's JSD_pi); higher is better, at most 1.

    ``JSD_pi = 1 - (1/n_test) sum_{x in real_test} JS(Bernoulli(p_real(x)), Bernoulli(p_syn(x)))``, where
    ``JS`` is the base-2 Jensen-Shannon *distance* (``scipy.spatial.distance.jensenshannon``, in [0, 1])
    and ``p_real`` / ``p_syn`` are logistic-regression propensity models fit on ``real_train`` and on
    ``synthetic`` (covariates preprocessed with ``real_train``'s statistics). A fresh sample of the real
    process scores a little below 1 (finite-sample noise of the two fits; about 0.96-0.97 in STEAM).
    """
    for name, df in (("real_train", real_train), ("synthetic", synthetic), ("real_test", real_test)):
        check_frame(df, name, covariates + [treatment_col])
    pre = _preprocessor(real_train, covariates)
    probs = []
    for name, df in (("real_train", real_train), ("synthetic", synthetic)):
        a = _arm(df, treatment_col, treated_value)
        if len(np.unique(a)) < 2:
            raise DataError(f"{name}: treatment column '{treatment_col}' has a single arm; cannot fit a "
                             "propensity model")
        clf = LogisticRegression(max_iter=2000).fit(pre.transform(df), a)
        probs.append(clf.predict_proba(pre.transform(real_test))[:, 1])
    p, q = probs
    with np.errstate(invalid="ignore"):
        js = jensenshannon(np.stack([1 - p, p]), np.stack([1 - q, q]), base=2, axis=0)
    # scipy's rounding can make the divergence slightly negative (sqrt -> NaN) when p and q agree to ~1e-4;
    # the true distance there is below ~1e-4, so 0 changes the mean by less than that
    js = np.where(np.isnan(js) & (np.abs(p - q) < 1e-3), 0.0, js)
    return _finite(1.0 - float(np.mean(js)), "JSD_pi")


# -- outcome mechanism -----------------------------------------------------------------------------------
class CoxTRMSTLearner:
    """T-learner Cox (:class:`pyrocsa.baselines.cox.CoxTLearner`: a penalised lifelines ``CoxPHFitter`` per
    arm); ``RMST_a(h | x) = int_0^h S_a(t | x) dt`` integrated exactly over the Breslow step function."""

    name = "cox-t"

    def __init__(self, penalizer: float = 0.01):
        self.penalizer = penalizer

    def fit(self, df, duration_col, event_col, treatment_col, covariates, treated_value=None):
        from pyrocsa.baselines.cox import CoxTLearner

        frame = df[covariates + [duration_col, event_col]].reset_index(drop=True)
        frame["_a"] = _arm(df, treatment_col, treated_value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_ = CoxTLearner(penalizer=self.penalizer).fit(frame, duration_col, event_col, "_a",
                                                                    covariates=covariates)
        return self

    def rmst_difference(self, df, horizon: float) -> np.ndarray:
        return self.model_.rmst(df.reset_index(drop=True), horizon)["rmst_difference"].to_numpy(float)


class CoxSRMSTLearner:
    """S-learner Cox: one penalised lifelines ``CoxPHFitter`` on ``(x, a, a * x)`` (treatment and its
    interactions with every preprocessed covariate, a shared baseline hazard);
    ``S(t | x, a) = S_0(t)^exp(x'b + a g + a x'd)``, RMST integrated exactly over the step function."""

    name = "cox-s"

    def __init__(self, penalizer: float = 0.01):
        self.penalizer = penalizer

    def _design(self, x: np.ndarray, a: np.ndarray) -> pd.DataFrame:
        cols = np.column_stack([x, a, a[:, None] * x])
        return pd.DataFrame(cols, columns=[f"c{j}" for j in range(cols.shape[1])])

    def fit(self, df, duration_col, event_col, treatment_col, covariates, treated_value=None):
        self.pre_ = _preprocessor(df, covariates)
        frame = self._design(self.pre_.transform(df).astype(float),
                             _arm(df, treatment_col, treated_value).astype(float))
        frame["_y"] = df[duration_col].to_numpy(float)
        frame["_d"] = df[event_col].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_ = CoxPHFitter(penalizer=self.penalizer).fit(frame, "_y", "_d")
        self.end_time_ = float(frame["_y"].max())
        return self

    def rmst_difference(self, df, horizon: float) -> np.ndarray:
        from pyrocsa.baselines.cox import SurvivalCurves

        x = self.pre_.transform(df).astype(float)
        times = self.model_.baseline_survival_.index.to_numpy(float)
        times = times[times > 0]
        out = []
        for arm in (0.0, 1.0):
            surv = self.model_.predict_survival_function(self._design(x, np.full(len(x), arm)), times=times)
            curves = SurvivalCurves(times, surv.to_numpy().T, end_time=self.end_time_)
            out.append(curves.rmst(horizon))
        return out[1] - out[0]


class WeibullRMSTLearner:
    """T-learner Weibull AFT (:class:`pyrocsa.steam.WeibullOutcomeModel`'s event models);
    ``RMST_a(h | x) = lambda_a(x) Gamma(1 + 1/rho_a) P(1/rho_a, (h / lambda_a(x))^rho_a)`` with ``P`` the
    regularised lower incomplete gamma function (closed form of ``int_0^h exp(-(t/lambda)^rho) dt``)."""

    name = "weibull-t"

    def fit(self, df, duration_col, event_col, treatment_col, covariates, treated_value=None):
        from pyrocsa.steam.cohort import WeibullOutcomeModel

        frame = df[covariates + [duration_col, event_col]].reset_index(drop=True)
        frame["_a"] = _arm(df, treatment_col, treated_value)
        self.model_ = WeibullOutcomeModel(censoring="none").fit(frame, duration_col, event_col, "_a",
                                                                   covariates=covariates)
        return self

    def rmst_difference(self, df, horizon: float) -> np.ndarray:
        m = self.model_
        x = m.data_.preprocessor.transform(df).astype(float)
        out = []
        for arm in (0, 1):
            fitter = m.models_[arm, "event"]
            lam = fitter.params_.loc["lambda_"]
            lam_x = np.exp(lam["Intercept"] + x @ lam[m.features_].to_numpy())
            rho = np.exp(fitter.params_.loc["rho_"]["Intercept"])
            out.append(lam_x * gamma(1 + 1 / rho) * gammainc(1 / rho, (horizon / lam_x) ** rho))
        return out[1] - out[0]


class RSFRMSTLearner:
    """T-learner random survival forests (:class:`pyrocsa.baselines.RandomSurvivalForestTLearner`, 100
    trees per arm, leaves of at least 15 patients; needs scikit-survival): ``RMST_a(h | x)`` is the area
    under the arm's forest survival curve up to ``h``. A learner of another family than the Cox / Weibull
    ones, so that U_PEHE does not only reward generators whose outcome model is proportional-hazards."""

    name = "rsf-t"

    def fit(self, df, duration_col, event_col, treatment_col, covariates, treated_value=None):
        from pyrocsa.baselines.forest import RandomSurvivalForestTLearner

        self.model_ = RandomSurvivalForestTLearner().fit(df, duration_col, event_col, treatment_col,
                                                         covariates=covariates, treated_value=treated_value)
        return self

    def rmst_difference(self, df, horizon: float) -> np.ndarray:
        return self.model_.rmst(df, horizon)["rmst_difference"].to_numpy(float)


class DRRMSTLearner:
    """Doubly robust learner (DR-learner, Kennedy 2023) of the RMST difference: the cross-fitted AIPCW
    pseudo-outcomes of :class:`pyrocsa.evaluation.doubly_robust.DoublyRobust` (outcome model: a Cox
    T-learner; censoring: Kaplan-Meier per arm; 2 folds) give each patient
    ``phi_i = int_0^h (phi_1(t; O_i) - phi_0(t; O_i)) dt``, whose conditional mean given ``x`` is the RMST
    difference when either nuisance is right; ``tau(x)`` is a ridge regression of ``phi`` on the
    preprocessed covariates (penalty by generalised cross-validation)."""

    name = "dr"

    def fit(self, df, duration_col, event_col, treatment_col, covariates, treated_value=None):
        from pyrocsa.baselines.cox import CoxTLearner
        from pyrocsa.evaluation.doubly_robust import DoublyRobust

        self.pre_ = _preprocessor(df, covariates)
        self.x_ = self.pre_.transform(df).astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dr = DoublyRobust(outcome_model=CoxTLearner(), censoring_model="km", n_folds=2)
            self.dr_ = dr.fit(df, duration_col, event_col, treatment_col, covariates=covariates,
                              treated_value=treated_value)
        return self

    def _pseudo_rmst(self, horizon: float) -> np.ndarray:
        """(n,) ``int_0^h (phi_1 - phi_0) dt`` of the right-continuous step pseudo-survival curves."""
        grid = np.asarray(self.dr_.grid_, dtype=float)
        edges = np.concatenate([[0.0], grid])
        width = np.clip(np.minimum(np.append(grid, np.inf), horizon) - edges, 0.0, None)
        out = []
        for arm in (0, 1):
            vals = np.concatenate([np.ones((len(self.x_), 1)), self.dr_.pseudo_outcomes_[arm]], axis=1)
            out.append(vals @ width)
        return out[1] - out[0]

    def rmst_difference(self, df, horizon: float) -> np.ndarray:
        from sklearn.linear_model import RidgeCV

        reg = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(self.x_, self._pseudo_rmst(horizon))
        return reg.predict(self.pre_.transform(df).astype(float))


_LEARNERS = {"cox-t": CoxTRMSTLearner, "cox-s": CoxSRMSTLearner, "weibull-t": WeibullRMSTLearner,
             "rsf-t": RSFRMSTLearner, "dr": DRRMSTLearner}


def _make_learner(spec):
    if isinstance(spec, str):
        if spec not in _LEARNERS:
            raise ArgumentError(f"learners: unknown learner {spec!r}; expected one of {sorted(_LEARNERS)} "
                                f"or an "
                             "object with fit(df, duration_col, event_col, treatment_col, covariates) and "
                             "rmst_difference(df, horizon)")
        return _LEARNERS[spec]()
    if not (callable(getattr(spec, "fit", None)) and callable(getattr(spec, "rmst_difference", None))):
        raise ArgumentError(f"learners: {type(spec).__name__} has no fit(...) / rmst_difference(df, horizon)")
    return spec


def u_pehe(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_test: pd.DataFrame, duration_col: str,
           event_col: str, treatment_col: str, covariates: list[str], horizon: float,
           learners=("cox-t", "cox-s"), treated_value=None) -> dict:
    """Outcome-mechanism fidelity for survival (STEAM's U_PEHE with an RMST estimand); lower is better.

    For each learner ``l``: ``tau_l,D(x) = RMST_1(h | x) - RMST_0(h | x)`` estimated from training data
    ``D``; ``U_l = sqrt((1/n_test) sum_{x in real_test} (tau_l,real_train(x) - tau_l,synthetic(x))^2)`` and
    ``U_PEHE = mean_l U_l``, in the duration unit; also divided by the horizon ``h`` (in [0, 1]-ish).

    ``learners``: names (``"cox-t"`` = :class:`CoxTRMSTLearner`, ``"cox-s"`` = :class:`CoxSRMSTLearner`,
    ``"weibull-t"`` = :class:`WeibullRMSTLearner`, slower; ``"rsf-t"`` = :class:`RSFRMSTLearner`;
    ``"dr"`` = :class:`DRRMSTLearner`) or objects with ``fit(df, duration_col,
    event_col, treatment_col, covariates)`` and
    ``rmst_difference(df, horizon)`` -> (N,). Pass *fresh* (unfitted) objects: each is fit twice (a
    shallow copy is used for the synthetic fit).

    Also the *sign agreement*: the share of real test patients for whom both fits agree on who benefits,
    ``mean_x 1{sign tau_l,real_train(x) = sign tau_l,synthetic(x)}`` (1 is best; 0.5 = a coin), averaged
    over learners.

    Returns ``{"u_pehe", "u_pehe_over_horizon", "per_learner": {name: U_l}, "sign_agreement",
    "sign_agreement_per_learner": {name: share}}``.
    """
    cols = covariates + [duration_col, event_col, treatment_col]
    for name, df in (("real_train", real_train), ("synthetic", synthetic)):
        check_frame(df, name, cols)
    check_frame(real_test, "real_test", covariates)
    if not (np.isfinite(horizon) and horizon > 0):
        raise ArgumentError(f"horizon must be a positive finite time, got {horizon}")
    if isinstance(learners, str) or not len(learners):
        raise ArgumentError("learners must be a non-empty list of learner names or objects")
    import copy

    per, agree = {}, {}
    for spec in learners:
        base = _make_learner(spec)
        taus = []
        for df in (real_train, synthetic):
            learner = copy.copy(base)
            kw = {} if treated_value is None else {"treated_value": treated_value}
            learner.fit(df, duration_col, event_col, treatment_col, covariates, **kw)
            taus.append(np.asarray(learner.rmst_difference(real_test, horizon), dtype=float))
        name = getattr(base, "name", type(base).__name__)
        per[name] = _finite(float(np.sqrt(np.mean((taus[0] - taus[1]) ** 2))), f"U_PEHE of learner {name}")
        agree[name] = float(np.mean(np.sign(taus[0]) == np.sign(taus[1])))
    u = float(np.mean(list(per.values())))
    return {"u_pehe": u, "u_pehe_over_horizon": u / horizon, "per_learner": per,
            "sign_agreement": float(np.mean(list(agree.values()))), "sign_agreement_per_learner": agree}


def censoring_distance(real: pd.DataFrame, synthetic: pd.DataFrame, duration_col: str, event_col: str,
                       treatment_col: str, horizon: float | None = None, treated_value=None) -> dict:
    """Censoring-mechanism distance: per arm, Kaplan-Meier estimates of the censoring survival function
    ``G_a(t) = P(C > t | A = a)`` (KM with the event indicator flipped) on real and on synthetic data, then

    * ``sup``: ``max_{t <= tau} |G_a,real(t) - G_a,syn(t)|`` (in [0, 1]);
    * ``integrated``: ``(1/tau) int_0^tau |G_a,real(t) - G_a,syn(t)| dt`` (in [0, 1]),

    with ``tau`` = ``horizon`` or the real data's largest duration; both averaged over the two arms.
    Lower is better. Returns ``{"sup", "integrated", "per_arm": {0: (sup, int), 1: (sup, int)}}``.
    """
    cols = [duration_col, event_col, treatment_col]
    check_frame(real, "real", cols)
    check_frame(synthetic, "synthetic", cols)
    tau = float(real[duration_col].max()) if horizon is None else float(horizon)
    if not (np.isfinite(tau) and tau > 0):
        raise ArgumentError(f"horizon must be a positive finite time, got {horizon}")
    curves = {}
    for name, df in (("real", real), ("synthetic", synthetic)):
        a = _arm(df, treatment_col, treated_value)
        for arm in (0, 1):
            m = a == arm
            if m.sum() == 0:
                raise DataError(f"{name}: treatment arm {arm} is empty")
            km = KaplanMeierFitter().fit(df[duration_col].to_numpy(float)[m],
                                         1.0 - df[event_col].to_numpy(float)[m])
            curves[name, arm] = km
    per_arm = {}
    for arm in (0, 1):
        jumps = [curves[nm, arm].survival_function_.index.to_numpy(float) for nm in ("real", "synthetic")]
        grid = np.unique(np.concatenate([[0.0], *jumps, [tau]]))
        grid = grid[grid <= tau]
        diff = np.abs(curves["real", arm].survival_function_at_times(grid).to_numpy()
                      - curves["synthetic", arm].survival_function_at_times(grid).to_numpy())
        per_arm[arm] = (float(diff.max()), float((diff[:-1] * np.diff(grid)).sum() / tau))
    return {"sup": float(np.mean([v[0] for v in per_arm.values()])),
            "integrated": float(np.mean([v[1] for v in per_arm.values()])), "per_arm": per_arm}


def hazard_ratio_agreement(real: pd.DataFrame, synthetic: pd.DataFrame, duration_col: str, event_col: str,
                           treatment_col: str, breakpoints=None, alpha: float = 0.05,
                           treated_value=None) -> dict:
    """Agreement of the treatment hazard ratio: a Cox model with the treatment as only covariate (the
    marginal HR, as in a trial report) fit on real and on synthetic data.

    Returns ``log_hr_real``, ``ci_real`` ((1 - alpha) Wald interval of the real log HR), ``log_hr_syn``,
    ``abs_log_hr_diff = |log HR_syn - log HR_real|`` and ``syn_in_real_ci``. With ``breakpoints``
    ``0 < b_1 < ... < b_K``, the same on each interval ``[b_k, b_k+1)`` (subjects at risk at ``b_k``,
    follow-up truncated at ``b_k+1``: a piecewise-constant HR(t)) under ``"piecewise"``: a DataFrame with
    one row per interval and ``mean_abs_log_hr_diff``.
    """
    cols = [duration_col, event_col, treatment_col]
    check_frame(real, "real", cols)
    check_frame(synthetic, "synthetic", cols)
    if not 0 < alpha < 1:
        raise ArgumentError(f"alpha must be in (0, 1), got {alpha}")

    def fit(df, lo=0.0, hi=np.inf):
        y = df[duration_col].to_numpy(float)
        d = df[event_col].to_numpy(float)
        a = _arm(df, treatment_col, treated_value).astype(float)
        m = y > lo
        frame = pd.DataFrame({"_y": np.minimum(y[m], hi), "_d": d[m] * (y[m] <= hi), "_a": a[m]})
        if frame["_d"].sum() == 0 or frame["_a"].nunique() < 2:
            return np.nan, (np.nan, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(alpha=alpha).fit(frame, "_y", "_d", entry_col=None)
        ci = cph.confidence_intervals_.loc["_a"].to_numpy(float)
        return float(cph.params_["_a"]), (float(ci[0]), float(ci[1]))

    lr, ci = fit(real)
    ls, _ = fit(synthetic)
    _finite(lr, "the real log hazard ratio")
    _finite(ls, "the synthetic log hazard ratio")
    out = {"log_hr_real": lr, "ci_real": ci, "log_hr_syn": ls, "abs_log_hr_diff": abs(ls - lr),
           "syn_in_real_ci": bool(ci[0] <= ls <= ci[1])}
    if breakpoints is not None:
        b = np.asarray(breakpoints, dtype=float)
        if b.ndim != 1 or len(b) < 1 or (b <= 0).any() or (np.diff(b) <= 0).any():
            raise ArgumentError("breakpoints must be increasing positive times")
        edges = np.concatenate([[0.0], b, [np.inf]])
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            r, rci = fit(real, lo, hi)
            s, _ = fit(synthetic, lo, hi)
            rows.append({"start": lo, "end": hi, "log_hr_real": r, "ci_low": rci[0], "ci_high": rci[1],
                         "log_hr_syn": s, "abs_diff": abs(s - r)})
        pw = pd.DataFrame(rows)
        out["piecewise"] = pw
        out["mean_abs_log_hr_diff"] = float(pw["abs_diff"].mean())
    return out


def train_synthetic_test_real(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_test: pd.DataFrame,
                              duration_col: str, event_col: str, treatment_col: str, covariates: list[str],
                              horizon: float, treated_value=None, penalizer: float = 0.01,
                              n_times: int = 20) -> dict:
    """Train on synthetic, test on real (TSTR): a penalised Cox model of the duration on the covariates and
    the treatment, fit once on ``synthetic`` and once on ``real_train`` (the TRTR reference), scored on
    ``real_test`` with scikit-survival's metrics:

    * Harrell's C-index of the linear predictor (``concordance_index_censored``; 1/2 = no ranking);
    * the integrated Brier score on ``n_times`` quantiles of the real-test durations inside
      ``(min, min(horizon, max))`` (``integrated_brier_score``, censoring weights from the Kaplan-Meier of
      ``real_train``'s censoring times; 0.25 = a constant S(t) = 1/2; lower is better).

    Returns ``c_index_syn``, ``c_index_real``, ``ibs_syn``, ``ibs_real``, and the gaps
    ``c_index_gap = c_index_real - c_index_syn`` and ``ibs_gap = ibs_syn - ibs_real`` (0 = the synthetic
    rows are as useful as the real ones for this model; positive = worse). Needs scikit-survival
    (``pip install 'pyrocsa[trees]'``).
    """
    try:
        from sksurv.metrics import concordance_index_censored, integrated_brier_score
        from sksurv.util import Surv
    except ImportError as err:
        raise ImportError("train_synthetic_test_real needs scikit-survival: pip install 'pyrocsa[trees]' "
                          "(or pip install scikit-survival)") from err
    cols = covariates + [duration_col, event_col, treatment_col]
    for name, df in (("real_train", real_train), ("synthetic", synthetic), ("real_test", real_test)):
        check_frame(df, name, cols)
    if not (np.isfinite(horizon) and horizon > 0):
        raise ArgumentError(f"horizon must be a positive finite time, got {horizon}")
    pre = _preprocessor(real_train, covariates)

    def design(df):
        x = pre.transform(df).astype(float)
        frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
        frame["_a"] = _arm(df, treatment_col, treated_value).astype(float)
        return frame

    def surv(df):
        return Surv.from_arrays(df[event_col].to_numpy(float) > 0, df[duration_col].to_numpy(float))

    y_test = real_test[duration_col].to_numpy(float)
    d_test = real_test[event_col].to_numpy(float) > 0
    hi = min(float(horizon), float(y_test.max()), float(real_train[duration_col].max()))
    times = np.unique(np.quantile(y_test[(y_test > y_test.min()) & (y_test < hi)],
                                  np.linspace(0.05, 0.95, n_times)))
    if len(times) < 2:
        raise DataError("real_test has too few distinct durations below the horizon for a Brier score")
    x_test = design(real_test)
    out = {}
    for name, df in (("syn", synthetic), ("real", real_train)):
        frame = design(df)
        frame["_y"] = df[duration_col].to_numpy(float)
        frame["_d"] = df[event_col].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(penalizer=penalizer).fit(frame, "_y", "_d")
        risk = cph.predict_partial_hazard(x_test).to_numpy(float).ravel()
        out[f"c_index_{name}"] = float(concordance_index_censored(d_test, y_test, risk)[0])
        s_hat = cph.predict_survival_function(x_test, times=times).to_numpy(float).T
        out[f"ibs_{name}"] = float(integrated_brier_score(surv(real_train), surv(real_test), s_hat, times))
    out["c_index_gap"] = out["c_index_real"] - out["c_index_syn"]
    out["ibs_gap"] = out["ibs_syn"] - out["ibs_real"]
    return {k: _finite(v, k) for k, v in out.items()}


# -- privacy ---------------------------------------------------------------------------------------------
def distance_to_closest_record(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_holdout: pd.DataFrame,
                               columns: list[str]) -> dict:
    """Distance to the closest record (DCR): Euclidean distance from each synthetic row to its nearest
    real *training* row, on ``columns`` preprocessed with the training statistics (imputed, one-hot,
    standardised), compared with the same distance for a real holdout that the generator never saw.

    Returns the median and 5th percentile of both and their ratios ``syn / holdout``; a ratio well below
    1 means synthetic rows sit closer to training records than new real patients do (memorisation).
    """
    for name, df in (("real_train", real_train), ("synthetic", synthetic), ("real_holdout", real_holdout)):
        check_frame(df, name, columns)
    pre = _preprocessor(real_train, columns)
    nn = NearestNeighbors(n_neighbors=1).fit(pre.transform(real_train))
    d_syn = nn.kneighbors(pre.transform(synthetic))[0][:, 0]
    d_hold = nn.kneighbors(pre.transform(real_holdout))[0][:, 0]
    out = {}
    for stat, q in (("median", 50), ("p05", 5)):
        s, h = float(np.percentile(d_syn, q)), float(np.percentile(d_hold, q))
        out[f"dcr_syn_{stat}"], out[f"dcr_holdout_{stat}"] = s, h
        out[f"dcr_ratio_{stat}"] = s / h if h > 0 else float("inf") if s > 0 else 1.0
    return out


# -- all at once -----------------------------------------------------------------------------------------
def evaluate_cohort(real_train: pd.DataFrame, real_test: pd.DataFrame, synthetic: pd.DataFrame,
                    duration_col: str, event_col: str, treatment_col: str, covariates: list[str],
                    horizon: float, learners=("cox-t", "cox-s"), treated_value=None, seed: int = 0,
                    quasi_identifiers=None, tstr: bool = False) -> dict:
    """Every metric of this module for one synthetic frame, as a flat dict of floats (plus the bools
    ``hr_syn_in_real_ci`` and ``privacy_passed``). ``horizon`` is the RMST horizon of U_PEHE and the
    censoring-distance window.

    Privacy: :func:`pyrocsa.steam.privacy.privacy_report` of ``synthetic`` with ``real_train`` as the
    training patients and ``real_test`` as the holdout, on the covariates, treatment and outcome; keys
    ``exact_copy_rate``, ``mia_distance_auc``, ``mia_density_auc``, ``attribute_inference_duration`` and
    ``attribute_inference_event`` (the attacker knows ``quasi_identifiers``, default: every covariate --
    the strongest attacker of that kind -- and guesses the duration and the event), ``privacy_passed``,
    beside the DCR keys of :func:`distance_to_closest_record`.

    ``tstr=True`` adds the keys of :func:`train_synthetic_test_real` (needs scikit-survival)."""
    apr = alpha_precision_beta_recall(real_train, synthetic, covariates, seed=seed)
    marg = marginal_distances(real_train, synthetic, covariates)
    up = u_pehe(real_train, synthetic, real_test, duration_col, event_col, treatment_col, covariates, horizon,
                learners=learners, treated_value=treated_value)
    cens = censoring_distance(real_train, synthetic, duration_col, event_col, treatment_col, horizon=horizon,
                              treated_value=treated_value)
    hr = hazard_ratio_agreement(real_train, synthetic, duration_col, event_col, treatment_col,
                                treated_value=treated_value)
    audited = covariates + [duration_col, event_col, treatment_col]
    dcr = distance_to_closest_record(real_train, synthetic, real_test, audited)
    qi = list(covariates) if quasi_identifiers is None else quasi_identifiers
    rep = privacy_report(real_train, real_test, synthetic, columns=audited, quasi_identifiers=qi,
                         sensitive=[duration_col, event_col], seed=seed)
    priv = rep.to_dict()
    out = {"alpha_precision": apr["alpha_precision"], "beta_recall": apr["beta_recall"],
           "marginal_distance": float(marg["distance"].mean()),
           "jsd_pi": jsd_pi(real_train, synthetic, real_test, treatment_col, covariates, treated_value),
           "u_pehe": up["u_pehe"], "u_pehe_over_horizon": up["u_pehe_over_horizon"]}
    out.update({f"u_pehe_{k}": v for k, v in up["per_learner"].items()})
    out["sign_agreement"] = up["sign_agreement"]
    out.update({"censoring_sup": cens["sup"], "censoring_integrated": cens["integrated"],
                "log_hr_real": hr["log_hr_real"], "log_hr_syn": hr["log_hr_syn"],
                "abs_log_hr_diff": hr["abs_log_hr_diff"], "hr_syn_in_real_ci": hr["syn_in_real_ci"]})
    out.update(dcr)
    out.update({"exact_copy_rate": priv["exact_copy_rate"], "mia_distance_auc": priv["mia_distance_auc"],
                "mia_density_auc": priv["mia_density_auc"],
                "attribute_inference_duration": priv[f"attribute_inference_{duration_col}"],
                "attribute_inference_event": priv[f"attribute_inference_{event_col}"],
                "privacy_passed": priv["privacy_passed"]})
    if tstr:
        out.update(train_synthetic_test_real(real_train, synthetic, real_test, duration_col, event_col,
                                             treatment_col, covariates, horizon, treated_value=treated_value))
    return out

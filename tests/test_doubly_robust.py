"""pyrocsa.DoublyRobust: the AIPCW influence-function estimator, double robustness, folds and seeds, errors,
adjusted survival curves, and the hazard_ratio() default. Fast outcome models only (no CSA)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from pyrocsa import DoublyRobust
from pyrocsa.baselines import CoxTLearner
from pyrocsa.core.base import CounterfactualSurvivalModel
from pyrocsa.core.influence import aipcw_pseudo_outcomes, step_left
from pyrocsa.core.outcomes import PotentialOutcomes


# ---------------------------------------------------------------------------------------------------------
# a correctly specified parametric outcome model: exponential proportional hazards per arm
# ---------------------------------------------------------------------------------------------------------
class ExponentialTLearner(CounterfactualSurvivalModel):
    """Per arm, T | x ~ Exponential(rate exp(b0 + b'x)) by maximum likelihood (censored). With
    ``use_covariates=False`` the rate is constant per arm (misspecified under confounding)."""

    name = "exponential T-learner"

    def __init__(self, use_covariates: bool = True):
        self.use_covariates = use_covariates

    def _x(self, df):
        x = df[self.covariates_].to_numpy(float) if self.use_covariates else np.zeros((len(df), 0))
        return np.column_stack([np.ones(len(df)), x])

    def fit(self, df, duration_col, event_col, treatment_col, val_df=None, covariates=None, **kwargs):
        self.covariates_ = list(covariates or [c for c in df.columns
                                              if c not in (duration_col, event_col, treatment_col)])
        x, y, d = self._x(df), df[duration_col].to_numpy(float), df[event_col].to_numpy(float)
        a = df[treatment_col].to_numpy(int)
        self.coef_ = {}
        for arm in (0, 1):
            m = a == arm

            def nll(b, x=x[m], y=y[m], d=d[m]):
                eta = x @ b
                return -(d @ eta - y @ np.exp(eta))

            def grad(b, x=x[m], y=y[m], d=d[m]):
                return -(x.T @ (d - y * np.exp(x @ b)))

            b0 = np.zeros(x.shape[1])
            b0[0] = np.log(d[m].sum() / y[m].sum())
            self.coef_[arm] = optimize.minimize(nll, b0, jac=grad, method="BFGS").x
        self.fitted_ = True
        return self

    def rate(self, df, arm):
        return np.exp(self._x(df) @ self.coef_[arm])

    def predict_survival_function(self, df, times, arm):
        return np.exp(-self.rate(df, arm)[:, None] * np.asarray(times, float)[None, :])

    def sample_potential_outcomes(self, df, num_samples=200, seed=None):
        rng = np.random.default_rng(seed)
        t = [rng.exponential(1.0 / self.rate(df, a), size=(num_samples, len(df))) for a in (0, 1)]
        return PotentialOutcomes(t[0], t[1], index=df.index)


def _rct(n, seed, lam=(1 / 600, 1 / 1100), cens_max=2000.0):
    """Randomised arms (P = 0.5), exponential event times, independent uniform censoring."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    t = rng.exponential(1.0 / np.where(a == 1, lam[1], lam[0]))
    c = rng.uniform(0, cens_max, n)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "time": np.minimum(t, c) + 1e-3,
                         "event": (t <= c).astype(int), "treatment": a})


def _confounded(n, seed):
    """x1 confounds: P(A=1|x) = sigmoid(0.9 x1); T_a | x ~ Exp(lam_a exp(0.8 x1)); censoring
    Exp(exp(-7 + 0.7 x1 + 0.3 a)) capped at 1500 (depends on covariate and arm)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    a = (rng.random(n) < 1 / (1 + np.exp(-0.9 * x1))).astype(int)
    rate = np.where(a == 1, 1 / 900, 1 / 500) * np.exp(0.8 * x1)
    t = rng.exponential(1 / rate)
    c = np.minimum(rng.exponential(1 / np.exp(-7 + 0.7 * x1 + 0.3 * a)), 1500.0)
    return pd.DataFrame({"x1": x1, "x2": x2, "time": np.minimum(t, c), "event": (t <= c).astype(int),
                         "treatment": a})


def _confounded_truth(horizon):
    """Population RMST_1 - RMST_0 at ``horizon`` for :func:`_confounded`, by Gauss-Hermite quadrature over
    x1 ~ N(0, 1) of (1 - exp(-r h)) / r."""
    nodes, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    out = []
    for lam in (1 / 500, 1 / 900):
        r = lam * np.exp(0.8 * nodes)
        out.append(w @ ((1 - np.exp(-r * horizon)) / r))
    return out[1] - out[0]


COLS = dict(duration_col="time", event_col="event", treatment_col="treatment")


# ---------------------------------------------------------------------------------------------------------
# the influence-function core
# ---------------------------------------------------------------------------------------------------------
def test_core_with_kaplan_meier_nuisances_is_kaplan_meier_and_greenwood():
    """With S = the arm's Kaplan-Meier, the augmentation sums to zero exactly (dLambda = dN / at-risk), so
    the one-step estimate *is* Kaplan-Meier; with G = Kaplan-Meier of censoring its SE is Greenwood's."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(3)
    n = 500
    t, c = rng.exponential(500, n), rng.exponential(900, n)
    y = np.maximum(np.round(np.minimum(t, c)), 1.0)  # rounded: ties between events and censorings
    d = (t <= c).astype(float)
    grid = np.unique(y)
    km = KaplanMeierFitter().fit(y, d)
    s = km.survival_function_at_times(grid).to_numpy()
    sfc = KaplanMeierFitter().fit(y, 1 - d).survival_function_
    g = step_left(sfc.index.to_numpy(float), sfc.iloc[:, 0].to_numpy(float), grid)
    phi = aipcw_pseudo_outcomes(np.tile(s, (n, 1)), np.tile(g, (n, 1)), np.searchsorted(grid, y), d,
                                np.ones(n))
    np.testing.assert_allclose(phi.mean(axis=0), s, atol=1e-12)
    tab = km.event_table
    for when in (200.0, 600.0):
        k = np.searchsorted(grid, when, side="right") - 1
        m = (tab.index.to_numpy() <= grid[k]) & (tab["at_risk"] > tab["observed"]).to_numpy()
        dd, r = tab["observed"].to_numpy()[m], tab["at_risk"].to_numpy()[m]
        greenwood = s[k] * np.sqrt(np.sum(dd / (r * (r - dd))))
        assert phi[:, k].std(ddof=1) / np.sqrt(n) == pytest.approx(greenwood, rel=0.02)


@pytest.mark.parametrize("outcome", [ExponentialTLearner(), CoxTLearner()], ids=["exponential", "cox"])
def test_closed_form_randomised_exponential(outcome):
    """Randomised arms, exponential times, independent censoring: S_a(t) = exp(-lambda_a t) and
    RMST_a(h) = (1 - exp(-lambda_a h)) / lambda_a. With a fixed seed the check is deterministic; a wrong
    sign or weight in the EIF moves the estimate by many SEs, so |z| < 3.3 (the 99.9% two-sided bound)
    can fail."""
    lam = (1 / 600, 1 / 1100)
    df = _rct(1500, seed=11, lam=lam)
    dr = DoublyRobust(outcome_model=outcome, censoring_model="km", seed=0).fit(df, **COLS)
    h = 800.0
    true_rmst = [(1 - np.exp(-la * h)) / la for la in lam]
    res = dr.rmst_difference(h)
    assert abs(res["estimate"] - (true_rmst[1] - true_rmst[0])) < 3.3 * res["se"]
    for arm in (0, 1):
        r = res[f"arm{arm}"]
        assert abs(r["estimate"] - true_rmst[arm]) < 3.3 * r["se"]
        assert r["lower"] < r["estimate"] < r["upper"]
    # the SE is of the order of the Kaplan-Meier one (efficiency bound in an RCT without prognostic x):
    # about 11 days for this n; a variance formula off by a factor would fall outside (7, 16)
    assert 7.0 < res["se"] < 16.0
    s = dr.survival_difference(500.0)
    truth = np.exp(-lam[1] * 500) - np.exp(-lam[0] * 500)
    assert abs(s["estimate"] - truth) < 3.3 * s["se"]
    assert 0 <= s["arm0"]["lower"] <= s["arm0"]["upper"] <= 1
    assert set(res) >= {"estimate", "se", "lower", "upper", "p_value", "arm0", "arm1", "level"}


# ---------------------------------------------------------------------------------------------------------
# double robustness
# ---------------------------------------------------------------------------------------------------------
def _dr_bias(reps, n, horizon, **kwargs):
    est, plug = [], []
    for r in range(reps):
        df = _confounded(n, seed=100 + r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dr = DoublyRobust(n_folds=2, seed=r, **kwargs).fit(df, **COLS, covariates=["x1", "x2"])
        est.append(dr.rmst_difference(horizon)["estimate"])
        from pyrocsa.core.influence import integrate_steps

        p = [integrate_steps(dr.outcome_survival_[a], dr.grid_, horizon).mean() for a in (0, 1)]
        plug.append(p[1] - p[0])
    truth = _confounded_truth(horizon)
    return np.asarray(est) - truth, np.asarray(plug) - truth


def test_double_robustness():
    """Bias ~ 0 when only the outcome model is right (propensity constant, censoring Kaplan-Meier: both
    wrong, x1 drives treatment and censoring) and when only the propensity and censoring models are right
    (outcome without covariates: wrong). Tolerance: the mean of R independent replicate errors has Monte
    Carlo SD sd/sqrt(R), so |mean error| < 3 sd/sqrt(R) fails with probability ~0.3% if unbiased (the
    seeds are fixed, so the test is deterministic). The wrong outcome model's own plug-in must be biased
    by more than that (the design has teeth)."""
    reps, n, h = 12, 800, 600.0
    err, _ = _dr_bias(reps, n, h, outcome_model=ExponentialTLearner(), propensity_model="constant",
                      censoring_model="km")
    assert abs(err.mean()) < 3 * err.std(ddof=1) / np.sqrt(reps)
    err, plug = _dr_bias(reps, n, h, outcome_model=ExponentialTLearner(use_covariates=False),
                         censoring_model="cox")
    assert abs(err.mean()) < 3 * err.std(ddof=1) / np.sqrt(reps)
    assert abs(plug.mean()) > 3 * plug.std(ddof=1) / np.sqrt(reps)


# ---------------------------------------------------------------------------------------------------------
# folds, seeds, options
# ---------------------------------------------------------------------------------------------------------
def test_folds_and_seeds():
    df = _confounded(600, seed=5)
    kw = dict(outcome_model=ExponentialTLearner())
    a = DoublyRobust(seed=3, **kw).fit(df, **COLS).rmst_difference(600.0)
    b = DoublyRobust(seed=3, **kw).fit(df, **COLS).rmst_difference(600.0)
    assert a == b
    dr_c = DoublyRobust(seed=4, **kw).fit(df, **COLS)
    assert not np.array_equal(dr_c.folds_, DoublyRobust(seed=3, **kw).fit(df, **COLS).folds_)
    c = dr_c.rmst_difference(600.0)
    assert c["estimate"] != a["estimate"] and abs(c["estimate"] - a["estimate"]) < 2 * a["se"]
    for k in (2, 7):
        dr = DoublyRobust(n_folds=k, **kw).fit(df, **COLS)
        assert sorted(np.unique(dr.folds_)) == list(range(k))
        # stratified: each fold holds about 1/k of each treatment x event stratum
        for s in range(4):
            m = (2 * dr.treatment_ + dr.event_) == s
            counts = np.bincount(dr.folds_[m], minlength=k)
            assert counts.max() - counts.min() <= 1
        r = dr.rmst_difference(600.0)
        assert np.isfinite(r["estimate"]) and abs(r["estimate"] - a["estimate"]) < 2 * a["se"]
    wide = DoublyRobust(seed=3, **kw).fit(df, **COLS).rmst_difference(600.0, level=0.99)
    assert wide["upper"] - wide["lower"] == pytest.approx((a["upper"] - a["lower"]) * 2.5758 / 1.95996,
                                                          rel=1e-4)


def test_pluggable_nuisances_and_summary(capsys):
    from sklearn.linear_model import LogisticRegression

    df = _confounded(500, seed=8)
    dr = DoublyRobust(outcome_model=CoxTLearner, propensity_model=LogisticRegression(), n_folds=3).fit(
        df, **COLS)
    ref = DoublyRobust(outcome_model=CoxTLearner(), n_folds=3).fit(df, **COLS)
    # the built-in logistic propensity is parametric: fitted once on all rows (module docstring)
    from pyrocsa.baselines.propensity import PropensityModel

    covs = [c for c in df.columns if c not in COLS.values()]
    full = PropensityModel().fit(df, "treatment", covariates=covs).predict_proba(df)
    np.testing.assert_allclose(ref.propensity_, np.clip(full, 0.01, 0.99), rtol=1e-10)
    # a user-supplied estimator is cross-fitted: sklearn's logistic regression on the same standardised
    # design ~ pyrocsa's PropensityModel fitted on the other folds
    xfit = np.empty(len(df))
    for k in range(3):
        te, tr = dr.folds_ == k, dr.folds_ != k
        xfit[te] = PropensityModel().fit(df[tr], "treatment", covariates=covs).predict_proba(df[te])
    np.testing.assert_allclose(dr.propensity_, np.clip(xfit, 0.01, 0.99), atol=0.02)
    assert np.abs(dr.propensity_ - ref.propensity_).max() > 1e-3  # and that is not the full-sample fit
    # the Cox censoring model per arm is fitted once on all rows too
    from pyrocsa.core.influence import ArmSurvivalFit
    from pyrocsa.data.frame import Preprocessor

    x_all = Preprocessor().fit(df, covs).transform(df).astype(np.float64)
    cf = ArmSurvivalFit("cox").fit(x_all, ref.duration_, ref.event_, ref.treatment_)
    for arm in (0, 1):
        np.testing.assert_allclose(ref.censoring_survival_[arm],
                                   np.maximum(cf.left_survival(x_all, ref.grid_, arm), 0.01), rtol=1e-10)
    assert dr.rmst_difference(500.0)["estimate"] == pytest.approx(ref.rmst_difference(500.0)["estimate"],
                                                                   abs=0.5 * ref.rmst_difference(500.0)["se"])
    dr.print_summary(horizon=500.0, times=[300.0])
    out = capsys.readouterr().out
    assert "RMST difference (1 - 0)" in out and "S(t) arm 1" in out and "propensity range" in out
    tab = dr.summary
    assert {"estimand", "time", "quantity", "estimate", "se", "lower", "upper", "p_value"} <= set(tab.columns)
    with pytest.raises(ValueError, match="draws censoring times"):
        DoublyRobust(outcome_model=CoxTLearner(), censoring_model="outcome_model", n_folds=2).fit(df, **COLS)


def test_adjusted_survival_curves_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    from pyrocsa.plotting import plot_adjusted_survival

    df = _rct(600, seed=2)
    dr = DoublyRobust(outcome_model=CoxTLearner(), censoring_model="km", n_folds=3).fit(df, **COLS)
    curves = dr.adjusted_survival()
    assert curves.index.name == "time" and curves.index.is_monotonic_increasing
    assert (curves["arm0_lower"] <= curves["arm0"]).all() and (curves["arm0"] <= curves["arm0_upper"]).all()
    one = dr.survival_difference(400.0)
    row = dr.adjusted_survival(times=[400.0]).iloc[0]
    assert row["arm1"] == pytest.approx(one["arm1"]["estimate"])
    assert row["difference"] == pytest.approx(one["estimate"])
    # in an RCT the adjusted curve tracks the arm's Kaplan-Meier
    from lifelines import KaplanMeierFitter

    km0 = KaplanMeierFitter().fit(df.time[df.treatment == 0], df.event[df.treatment == 0])
    assert row["arm0"] == pytest.approx(float(km0.survival_function_at_times(400.0).iloc[0]), abs=0.03)
    ax = plot_adjusted_survival(dr)
    assert len(ax.get_lines()) >= 4  # two adjusted curves + two Kaplan-Meier
    assert ax.get_xlim() == pytest.approx((0.0, df["time"].max()))  # the follow-up
    # plug-in curves from draws, with the observed Kaplan-Meier
    model = CoxTLearner().fit(df, **COLS)
    po = model.sample_potential_outcomes(df, num_samples=20, seed=0)
    pc = po.adjusted_survival(times=[100.0, 400.0], level=0.9)
    assert list(pc.columns[:3]) == ["arm0", "arm0_lower", "arm0_upper"]
    assert pc["arm0"].iloc[1] == pytest.approx(row["arm0"], abs=0.05)
    ax = plot_adjusted_survival(po)
    assert len(ax.get_lines()) >= 4
    with pytest.raises(ValueError, match="DoublyRobust or a PotentialOutcomes"):
        plot_adjusted_survival(df)


# ---------------------------------------------------------------------------------------------------------
# bad input: named errors; the frame is not modified
# ---------------------------------------------------------------------------------------------------------
def test_named_errors():
    df = _rct(400, seed=1)
    kw = dict(outcome_model=CoxTLearner(), censoring_model="km", n_folds=2)
    # no overlap: x1 > 0 <=> treated
    sep = df.copy()
    sep["treatment"] = (sep["x1"] > 0).astype(int)
    with pytest.raises(ValueError, match="no overlap"):
        DoublyRobust(**kw).fit(sep, **COLS)
    dr = DoublyRobust(**kw).fit(df, **COLS)
    with pytest.raises(ValueError, match="beyond follow-up"):
        dr.rmst_difference(1e6)
    with pytest.raises(ValueError, match="horizon"):
        dr.rmst_difference(-1.0)
    for bad in (1.5, 0.0, "0.95", True):
        with pytest.raises(ValueError, match="level"):
            dr.survival_difference(300.0, level=bad)
    # an arm with no events before the horizon
    late = df.copy()
    treated = late["treatment"] == 1
    late.loc[treated, "time"] = late.loc[treated, "time"] + 600.0
    dr_late = DoublyRobust(**kw).fit(late, **COLS)
    with pytest.raises(ValueError, match="no events before it in arm 1"):
        dr_late.rmst_difference(500.0)
    with pytest.raises(ValueError, match="rows per fold"):
        DoublyRobust(n_folds=5, **{k: v for k, v in kw.items() if k != "n_folds"}).fit(df.iloc[:40], **COLS)
    with pytest.raises(ValueError, match="duration_col"):
        DoublyRobust(**kw).fit(df, duration_col="days", event_col="event", treatment_col="treatment")
    with pytest.raises(ValueError, match="covariates"):
        DoublyRobust(**kw).fit(df, **COLS, covariates=["nope"])
    with pytest.raises(ValueError, match="n_folds"):
        DoublyRobust(n_folds=1)
    with pytest.raises(ValueError, match="censoring_model"):
        DoublyRobust(censoring_model="weibull")
    with pytest.raises(ValueError, match="propensity_model"):
        DoublyRobust(propensity_model=1.2)
    with pytest.raises(RuntimeError, match="not fitted"):
        DoublyRobust().rmst_difference(100.0)
    # poor overlap: the clipping is reported
    with pytest.warns(RuntimeWarning, match=r"400 of 400 estimated propensities .* clipped"):
        clipped = DoublyRobust(outcome_model=CoxTLearner(), propensity_model=0.001, n_folds=2).fit(df, **COLS)
    assert clipped.n_clipped_ == 400 and clipped.propensity_.min() == pytest.approx(0.01)


def test_user_frame_not_modified():
    df = _confounded(300, seed=9)
    df.index = pd.Index(np.arange(300) * 7 + 3, name="patient")
    before = df.copy()
    DoublyRobust(outcome_model=CoxTLearner(), n_folds=2).fit(df, **COLS)
    pd.testing.assert_frame_equal(df, before)


# ---------------------------------------------------------------------------------------------------------
# hazard_ratio default
# ---------------------------------------------------------------------------------------------------------
def test_hazard_ratio_defaults_to_draws():
    rng = np.random.default_rng(0)
    n, s = 600, 30
    # heavy censoring: medians mostly beyond the observed grid (as on ACTG)
    t0 = rng.exponential(3000, (s, n))
    t1 = rng.exponential(6000, (s, n))
    obs = pd.DataFrame({"time": rng.uniform(1, 1000, n), "event": rng.integers(0, 2, n), "treatment": 0})
    po = PotentialOutcomes(t0, t1, observed=obs)
    default = po.hazard_ratio(n_boot=20)
    draws = po.hazard_ratio(n_boot=20, point="draws")
    assert default["hr"] == draws["hr"] and default["upper"] == draws["upper"]
    assert default["hr"] == pytest.approx(0.5, abs=0.1)  # the marginal HR of the draws
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        median = po.hazard_ratio(n_boot=0, point="median")
    assert median["hr"] != default["hr"]
    lit = po.hazard_ratio(n_boot=0, use_observed_events=True)  # eq. 19 needs point predictions
    assert np.isfinite(lit["hr"])
    with pytest.raises(ValueError, match="point='median'"):
        po.hazard_ratio(use_observed_events=True, point="draws")

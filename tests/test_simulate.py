"""The Gompertz-Cox simulator: reproduces actg-Synthetic, has exact ground truth, and its knobs work."""

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from pyrocsa.data import SurvivalData
from pyrocsa.datasets import load_actg_synthetic
from pyrocsa.simulate import AUTHORS_PARAMS, GompertzCox, simulate

N_ACTG = 2139


def binomial_se(p, n=N_ACTG):
    return np.sqrt(p * (1 - p) / n)


def expected_event_rate(cohort):
    """Exact P(T_A <= C) averaged over subjects, for the authors' truncated-normal censoring:
    E_i = pi_i P(T_1 <= C | x_i) + (1 - pi_i) P(T_0 <= C | x_i), P(T_a <= C) = int f_C(c) (1 - S_a(c)) dc."""
    mu, sd = AUTHORS_PARAMS["censoring_mean"], AUTHORS_PARAMS["censoring_sd"]
    grid = np.linspace(1e-3, mu + 10 * sd, 2001)  # 1-day steps: trapezoid error < 1e-6
    dens = stats.truncnorm.pdf(grid, -mu / sd, np.inf, loc=mu, scale=sd)
    s0, s1 = cohort.survival(grid)
    p0 = np.trapezoid(dens * (1 - s0), grid, axis=1)
    p1 = np.trapezoid(dens * (1 - s1), grid, axis=1)
    return float(np.mean(cohort.propensity * p1 + (1 - cohort.propensity) * p0))


def check_rates(n_seeds):
    """The authors' values vs the shipped actg-Synthetic file (48.9% events, 55.9% treated, N = 2139).

    One cohort's rate has sampling SD at most the binomial SE sqrt(p(1-p)/2139) ~ 0.011 (conditionally on the
    covariates it is smaller: sqrt(sum p_i(1-p_i))/N). Tolerances are 3 such SEs:
    * shipped file vs the exact expectation: 3 SE;
    * mean of ``n_seeds`` simulated cohorts vs the exact expectation: 3 SE / sqrt(n_seeds);
    * mean of the simulated cohorts vs the shipped file (two independent draws): 3 SE sqrt(1 + 1/n_seeds).
    """
    shipped = load_actg_synthetic().frame
    ship_ev, ship_tr = shipped["event"].mean(), shipped["treatment"].mean()
    cohorts = [simulate(seed=s) for s in range(n_seeds)]
    sim_ev = np.mean([c.frame["event"].mean() for c in cohorts])
    sim_tr = np.mean([c.frame["treatment"].mean() for c in cohorts])
    exact_ev = expected_event_rate(cohorts[0])
    exact_tr = cohorts[0].propensity.mean()
    se_ev, se_tr = binomial_se(ship_ev), binomial_se(ship_tr)
    assert exact_tr == pytest.approx(0.5590, abs=1e-4)  # mean of the authors' propensity on the 2139 rows
    assert abs(ship_ev - exact_ev) < 3 * se_ev
    assert abs(ship_tr - exact_tr) < 3 * se_tr
    assert abs(sim_ev - exact_ev) < 3 * se_ev / np.sqrt(n_seeds)
    assert abs(sim_tr - exact_tr) < 3 * se_tr / np.sqrt(n_seeds)
    assert abs(sim_ev - ship_ev) < 3 * se_ev * np.sqrt(1 + 1 / n_seeds)
    assert abs(sim_tr - ship_tr) < 3 * se_tr * np.sqrt(1 + 1 / n_seeds)
    return sim_ev, sim_tr, exact_ev


def test_authors_values_reproduce_shipped_rates():
    check_rates(n_seeds=5)


@pytest.mark.slow
def test_authors_values_reproduce_shipped_rates_many_seeds():
    check_rates(n_seeds=100)


def test_default_covariates_are_the_shipped_ones():
    c = simulate(seed=0)
    shipped = load_actg_synthetic()
    assert c.covariates == shipped.covariates
    np.testing.assert_allclose(c.frame[c.covariates].to_numpy(), shipped.frame[c.covariates].to_numpy(),
                               atol=1e-9)
    np.testing.assert_allclose(c.propensity, shipped.propensity)
    assert list(c.frame.columns) == c.covariates + ["time", "event", "treatment"]


def pit(cohort):
    """S_a(t_a | x) for the realised potential times: Uniform(0, 1) iff the times follow the stated truth."""
    k0, k1 = cohort.truth.k()
    a = cohort.truth.gompertz_shape
    return np.exp(-k0 * np.expm1(a * cohort.t0)), np.exp(-k1 * np.expm1(a * cohort.t1))


@pytest.mark.parametrize("kw", [{}, {"nonlinear": 1.0, "heterogeneity": 0.5, "lambda_1": 3e-4},
                                {"n": 800, "seed": 3}])
def test_sampled_times_follow_the_stated_truth(kw):
    c = simulate(**kw)
    for u in pit(c):
        # KS at N >= 800: the correct model passes at the 1e-3 level (a wrong one, e.g. swapped arms, gives
        # p < 1e-50 -- see test_datasets)
        assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_rmst_and_expected_lifetime_match_quadrature():
    c = simulate(seed=0, nonlinear=1.0)
    rows = [0, 5, 100, 777, 2000]
    m0, m1 = c.expected_lifetime()
    r0, r1 = c.rmst(400.0)
    k0, k1 = c.truth.k()
    alpha = c.truth.gompertz_shape
    for i in rows:
        for k, m, r in ((k0[i], m0[i], r0[i]), (k1[i], m1[i], r1[i])):
            s = lambda t, k=k: np.exp(-k * np.expm1(min(alpha * t, 700.0)))  # noqa: E731
            assert m == pytest.approx(integrate.quad(s, 0, np.inf, limit=200)[0], rel=1e-6)
            assert r == pytest.approx(integrate.quad(s, 0, 400.0)[0], rel=1e-8)
    assert np.allclose(c.rmst(np.inf)[0], m0)
    # RMST increases to E[T] as tau grows
    big = c.rmst(20000.0)
    np.testing.assert_allclose(big[0], m0, rtol=1e-8)


def test_rmst_and_expected_lifetime_match_monte_carlo():
    """Mean of t_a and of min(t_a, tau) over many draws for the same x, drawn here by inversion of
    T_a = (1/alpha) log(1 - alpha log U / (lambda_a exp(x'beta_a))) independently of the package."""
    c = simulate(seed=1)
    rows = np.array([3, 50, 400, 1500])
    m0, m1 = c.expected_lifetime()
    tau = 365.0
    r0, r1 = c.rmst(tau)
    rng = np.random.default_rng(12)
    draws = 40_000
    p = AUTHORS_PARAMS
    for lam, beta_lr, m, r in ((p["lambda_0"], c.truth.log_risk_0, m0, r0),
                               (p["lambda_1"], c.truth.log_risk_1, m1, r1)):
        u = rng.random((draws, len(rows)))
        t = np.log(1 - p["gompertz_shape"] * np.log(u) / (lam * np.exp(beta_lr[rows]))) / p["gompertz_shape"]
        # 4 Monte-Carlo standard errors: a false alarm has probability ~6e-5 per comparison
        se = t.std(axis=0) / np.sqrt(draws)
        assert (np.abs(t.mean(axis=0) - m[rows]) < 4 * se).all()
        tc = np.minimum(t, tau)
        se = tc.std(axis=0) / np.sqrt(draws)
        assert (np.abs(tc.mean(axis=0) - r[rows]) < 4 * se + 1e-9).all()


def test_survival_shape_and_values():
    c = simulate(seed=0, n=50)
    times = np.array([0.0, 100.0, 1000.0])
    s0, s1 = c.survival(times)
    assert s0.shape == s1.shape == (50, 3)
    np.testing.assert_allclose(s0[:, 0], 1.0)
    assert (np.diff(s0, axis=1) < 0).all() and (np.diff(s1, axis=1) < 0).all()
    with pytest.raises(ValueError, match="times"):
        c.survival([-1.0])
    with pytest.raises(ValueError, match="horizon"):
        c.rmst(0.0)


def test_no_confounding_gives_constant_propensity_and_common_random_numbers():
    base = simulate(seed=4)
    rct = simulate(seed=4, confounding=0.0)
    a, b = AUTHORS_PARAMS["a"], AUTHORS_PARAMS["b"]
    np.testing.assert_allclose(rct.propensity, (a + 0.5) / b)
    assert abs(rct.frame["treatment"].mean() - (a + 0.5) / b) < 3 * binomial_se(0.533)
    # treatment no longer depends on age + cd40 (the confounder), while it does at the authors' setting
    z = (base.frame["age"] - base.frame["age"].mean()) + (base.frame["cd40"] - base.frame["cd40"].mean())
    lo = (z < 0).to_numpy()
    diff_rct = rct.treatment[lo].mean() - rct.treatment[~lo].mean()
    diff_obs = base.treatment[lo].mean() - base.treatment[~lo].mean()
    assert abs(diff_rct) < 4 * np.sqrt(0.25 / lo.sum() + 0.25 / (~lo).sum())  # ~0.09
    assert diff_obs == pytest.approx(0.867 - 0.2, abs=0.1)
    # the same seed gives the same covariates, event and censoring times whatever the confounding
    for name in ("t0", "t1", "c0", "c1"):
        np.testing.assert_array_equal(getattr(base, name), getattr(rct, name))


def test_graded_confounding_when_standardised():
    ps = [simulate(seed=0, eta=-1.0, standardise_propensity=True, confounding=s).propensity
          for s in (0, 1, 3)]
    spreads = [p.std() for p in ps]
    assert spreads[0] < 1e-12 and 0.05 < spreads[1] < spreads[2]
    assert all(((p >= 0.2) & (p <= 0.8667)).all() for p in ps)  # bounded by a/b and (a+1)/b


def test_informative_censoring_depends_on_covariates_and_arm():
    c = simulate(seed=2, censoring="informative")
    f = c.frame
    assert not np.allclose(c.c0, c.c1)
    assert c.c0.max() <= 1500.0 and c.c1.max() <= 1500.0  # administrative censoring at max follow-up
    assert f["time"].max() <= 1500.0
    rho = lambda v, col: stats.spearmanr(v, f[col]).statistic  # noqa: E731
    # default log-hazards: karnof -0.4 (both arms), cd40 -0.3 (control) / +0.3 (treated), drugs +0.5
    # (treated). |rho| > 0.1 is > 4.6 null SEs (1/sqrt(2139) = 0.022).
    assert rho(c.c0, "karnof") > 0.1 and rho(c.c1, "karnof") > 0.1
    assert rho(c.c0, "cd40") > 0.1 and rho(c.c1, "cd40") < -0.1
    assert abs(rho(c.c0, "drugs")) < 0.1 and rho(c.c1, "drugs") < -0.1
    # the authors' censoring is independent of x and shared by the arms
    n = simulate(seed=2)
    np.testing.assert_array_equal(n.c0, n.c1)
    assert abs(rho(n.c0, "karnof")) < 4 / np.sqrt(N_ACTG)
    assert abs(rho(n.c0, "cd40")) < 4 / np.sqrt(N_ACTG)
    # observed = min(T_A, C_A)
    t_obs = np.where(c.treatment == 1, c.t1, c.t0)
    c_obs = np.where(c.treatment == 1, c.c1, c.c0)
    np.testing.assert_allclose(f["time"], np.minimum(t_obs, c_obs))
    np.testing.assert_array_equal(f["event"], (t_obs <= c_obs).astype(int))


def test_no_censoring_and_max_followup():
    c = simulate(seed=0, censoring="none")
    assert c.frame["event"].all() and np.isinf(c.c0).all()
    c = simulate(seed=0, censoring="none", max_followup=800.0)
    assert c.frame["time"].max() <= 800.0
    assert c.frame["event"].mean() == pytest.approx(np.mean(np.where(c.treatment == 1, c.t1, c.t0) <= 800))


def test_heterogeneity_scales_the_effect():
    c1 = simulate(seed=0)
    c0 = simulate(seed=0, heterogeneity=0.0)
    c2 = simulate(seed=0, heterogeneity=2.0)
    d1 = c1.truth.log_risk_1 - c1.truth.log_risk_0
    np.testing.assert_allclose(c0.truth.log_risk_1, c0.truth.log_risk_0)
    np.testing.assert_allclose(c2.truth.log_risk_1 - c2.truth.log_risk_0, 2 * d1, rtol=1e-10)
    np.testing.assert_allclose(c0.ite("expected"), 0.0, atol=1e-9)  # no effect at all (lambda_1 = lambda_0)
    # with lambda_1 != lambda_0 and no heterogeneity the hazard ratio is the constant lambda_1/lambda_0
    hr = simulate(seed=0, heterogeneity=0.0, lambda_1=3e-4)
    k0, k1 = hr.truth.k()
    np.testing.assert_allclose(k1 / k0, 0.5)
    assert (hr.ite("expected") > 0).all()


def test_nonlinear_terms_make_the_effect_nonlinear():
    lin = simulate(seed=0)
    nl = simulate(seed=0, nonlinear=1.0)
    x = np.column_stack([np.ones(N_ACTG), lin.frame[lin.covariates].to_numpy()])

    def r2(y):
        resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return 1 - resid.var() / y.var()

    assert r2(lin.truth.log_risk_1 - lin.truth.log_risk_0) > 1 - 1e-9  # linear in x
    assert r2(nl.truth.log_risk_1 - nl.truth.log_risk_0) < 0.9  # not linear any more
    assert r2(nl.truth.log_risk_0) < 0.95
    assert nl.params["nonlinear_columns"] == ["age", "cd40", "karnof"]


def test_ite_kinds():
    c = simulate(seed=0, n=200)
    np.testing.assert_allclose(c.ite("realised"), c.t1 - c.t0)
    m0, m1 = c.expected_lifetime()
    np.testing.assert_allclose(c.ite("expected"), m1 - m0)
    r0, r1 = c.rmst(365.0)
    np.testing.assert_allclose(c.ite("rmst", horizon=365.0), r1 - r0)
    with pytest.raises(ValueError, match="horizon"):
        c.ite("rmst")
    with pytest.raises(ValueError, match="kind"):
        c.ite("median")


def test_resampling_and_reproducibility():
    c = simulate(n=300, seed=5)
    assert len(c) == 300 and len(c.frame) == 300
    assert c.source_rows.min() >= 0 and c.source_rows.max() < N_ACTG
    d = simulate(n=300, seed=5)
    pd.testing.assert_frame_equal(c.frame, d.frame)
    e = simulate(n=300, seed=6)
    assert not c.frame["time"].equals(e.frame["time"])
    assert {k: len(v) for k, v in c.split.items()} == pytest.approx({"train": 210, "valid": 45, "test": 45},
                                                                    abs=4)


def test_frame_feeds_the_data_layer():
    c = simulate(seed=0, n=400, censoring="informative", nonlinear=0.5)
    with pytest.warns(UserWarning, match="zprior"):
        d = SurvivalData.from_frame(c.frame, "time", "event", "treatment", covariates=c.covariates)
    assert d.x.shape == (400, 22)
    assert (c.frame["time"] > 0).all()


def test_custom_covariate_source():
    rng = np.random.default_rng(0)
    user = pd.DataFrame({"u": rng.normal(size=500), "v": rng.normal(5, 2, size=500),
                         "w": rng.integers(0, 2, 500).astype(float)})
    user.loc[3, "v"] = np.nan
    before = copy.deepcopy(user)
    c = simulate(covariates=user, seed=1, eta=-2.0, confounding=1.0, censoring="informative")
    pd.testing.assert_frame_equal(user, before)  # not modified
    assert c.covariates == ["u", "v", "w"] and len(c) == 500
    assert c.frame.loc[3, "v"] == pytest.approx(before["v"].median())
    assert c.params["propensity_columns"] == ["u", "v"]  # the first two columns
    assert c.params["covariate_source"] == "user"
    for u in pit(c):
        assert stats.kstest(u, "uniform").pvalue > 1e-3
    # drawn coefficients centre the log-risk near -4
    assert abs(c.truth.log_risk_0.mean() + 4.0) < 0.2
    # an array source with given coefficients
    arr = rng.normal(size=(200, 2))
    c2 = simulate(covariates=arr, beta_0=[0.5, 0.0], beta_1=[0.0, -0.5], seed=0)
    assert c2.covariates == ["x0", "x1"]
    np.testing.assert_allclose(c2.truth.log_risk_0, 0.5 * arr[:, 0])


@pytest.mark.parametrize("kw, match", [
    ({"censoring": "weird"}, "censoring"),
    ({"n": 3}, "n must be"),
    ({"n": 10.5}, "n must be"),
    ({"gompertz_shape": 0.0}, "gompertz_shape"),
    ({"lambda_1": -1.0}, "lambda_1"),
    ({"a": 0.3, "b": 1.0}, "a \\+ 1 <= b"),
    ({"beta_0": np.zeros(5), "beta_1": np.zeros(5)}, "beta_0 must have length 23"),
    ({"beta_0": np.zeros(23)}, "both beta_0 and beta_1"),
    ({"max_followup": -5.0}, "max_followup"),
    ({"max_followup": "never"}, "max_followup"),
    ({"covariates": pd.DataFrame({"s": list("abcdefghijkl")})}, "'s'.*not numeric"),
    ({"covariates": pd.DataFrame({"s": [1.0, np.inf] * 6})}, "'s'.*inf"),
    ({"covariates": pd.DataFrame({"time": np.arange(12.0)})}, "clash"),
    ({"nonlinear": 1.0, "nonlinear_columns": ["nope"]}, "nonlinear_columns.*nope"),
    ({"propensity_columns": ["nope"]}, "propensity_columns.*nope"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        simulate(**kw)


def test_gompertz_cox_validates():
    with pytest.raises(ValueError, match="gompertz_shape"):
        GompertzCox(-1.0, 1e-3, 1e-3, np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="log_risk_0"):
        GompertzCox(0.01, 1e-3, 1e-3, np.array([np.nan, 0.0]), np.zeros(2))


def test_hazard_jump_truth_is_consistent():
    from pyrocsa.data.simulate import simulate_hazard_jump

    sim = simulate_hazard_jump(n=4000, seed=3)
    truth = sim.truth
    grid = np.linspace(0.0, 4.0, 4001)
    s0, s1 = truth.survival(grid)
    r0, r1 = sim.rmst(4.0)
    # closed-form RMST = the integral of the survival function (trapezoid, step 0.001: error < 1e-6)
    assert np.allclose(r0, np.trapezoid(s0, grid, axis=1), atol=1e-5)
    assert np.allclose(r1, np.trapezoid(s1, grid, axis=1), atol=1e-5)
    # the hazard rises factor-fold at the jump: -d log S / dt just after / just before = 5 (control)
    h = -np.diff(np.log(s0), axis=1) / np.diff(grid)
    before, after = h[:, 1490], h[:, 1510]
    assert np.allclose(after / before, 5.0)
    # treatment delays the jump, so treated survive longer everywhere; draws follow the survival function
    assert (r1 >= r0 - 1e-12).all() and (r1 - r0).mean() > 0.1
    for draws, surv in ((sim.t0, s0), (sim.t1, s1)):
        empirical = (draws[:, None] > grid[None, ::500]).mean(axis=0)
        assert np.allclose(empirical, surv[:, ::500].mean(axis=0), atol=0.03)  # 4000 draws: SE <= 0.008
    f = sim.frame
    assert list(f.columns[-3:]) == ["time", "event", "treatment"] and f.time.max() <= 6.0
    assert 0.3 < f.event.mean() < 0.95 and 0.35 < f.treatment.mean() < 0.65

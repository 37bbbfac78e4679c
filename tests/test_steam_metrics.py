"""Each STEAM metric scores an independent draw of the real process as near-perfect and detects a
deliberately broken synthetic set.

Design: one cohort of pyrocsa.simulate (the paper's Gompertz-Cox scheme, 2139 ACTG covariate rows,
confounded treatment, informative per-arm censoring) split into three disjoint parts of the *same*
process: real-train (850 rows), real-test (440) and a "fresh draw" (849) that plays a perfect generator.
Broken sets are made from the fresh draw by changing exactly one mechanism.
"""

import numpy as np
import pandas as pd
import pytest

from pyrocsa.simulate import simulate
from pyrocsa.steam import metrics as M

D, E, A = "time", "event", "treatment"
COV = ["age", "wtkg", "karnof", "cd40", "cd80", "drugs", "race", "gender", "str2", "symptom", "hemo", "homo"]
HORIZON = 1000.0


def _parts(**kwargs):
    sim = simulate(seed=0, censoring="informative", **kwargs)
    f = sim.frame.copy()
    f["t0"], f["t1"], f["c0"], f["c1"] = sim.t0, sim.t1, sim.c0, sim.c1
    perm = np.random.default_rng(0).permutation(len(f))
    return f.iloc[perm[:850]], f.iloc[perm[850:1290]], f.iloc[perm[1290:]]


@pytest.fixture(scope="module")
def parts():
    return _parts()


def _recompute(df, t, c, max_followup=1500.0):
    out = df.copy()
    c = np.minimum(c, max_followup)
    out[D], out[E] = np.minimum(t, c), (t <= c).astype(int)
    return out


def test_fresh_draw_reconstructs_observed(parts):
    # guards the broken-set construction below: recomputing (time, event) from the potential times with
    # the simulator's administrative censoring (1500 days) gives back the simulated frame exactly
    _, _, fresh = parts
    a = fresh[A].to_numpy() == 1
    same = _recompute(fresh, np.where(a, fresh.t1, fresh.t0), np.where(a, fresh.c1, fresh.c0))
    np.testing.assert_allclose(same[D], fresh[D])
    np.testing.assert_array_equal(same[E], fresh[E])


def test_alpha_precision_beta_recall(parts):
    train, _, fresh = parts
    good = M.alpha_precision_beta_recall(train, fresh, COV)
    # a fresh draw: P_alpha ~ alpha up to sampling noise of 850 rows -> integrated precision near 1
    # (measured 0.955); the k-NN recall estimate is below 1 by construction (measured 0.92)
    assert good["alpha_precision"] > 0.9 and good["beta_recall"] > 0.85
    assert good["precision_curve"].shape == (30,)
    # broken: covariates shifted by one real SD -> synthetic points leave the real alpha-balls
    bad = fresh.copy()
    for c in ("age", "wtkg", "cd40", "cd80", "karnof"):
        bad[c] = bad[c] + train[c].std()
    worse = M.alpha_precision_beta_recall(train, bad, COV)
    assert worse["alpha_precision"] < good["alpha_precision"] - 0.2
    assert worse["beta_recall"] < good["beta_recall"] - 0.2


def test_marginal_distances(parts):
    train, _, fresh = parts
    good = M.marginal_distances(train, fresh, COV)
    assert list(good.index) == COV
    assert set(good["kind"]) == {"continuous", "discrete"}
    # KS / TV of two samples of ~850 from one distribution: ~1.36 * sqrt(2/850) = 0.066 at 95% for KS
    assert good["distance"].max() < 0.1
    bad = fresh.copy()
    bad["race"] = 1 - bad["race"]  # binary column flipped: TV = |2 p - 1| is large (p(race=1) ~ 0.29)
    bad["cd40"] = bad["cd40"] * 1.5
    dist = M.marginal_distances(train, bad, COV)["distance"]
    assert dist["race"] > 0.3 and dist["cd40"] > 0.3


def test_jsd_pi_detects_shuffled_treatment(parts):
    train, test, fresh = parts
    good = M.jsd_pi(train, fresh, test, A, COV)
    # STEAM reports about 0.96-0.97 for a fresh draw; with ~850 rows and 12 covariates the two logistic
    # fits disagree a little more (measured 0.92)
    assert 0.88 < good <= 1.0
    shuffled = fresh.copy()
    shuffled[A] = np.random.default_rng(1).permutation(shuffled[A].to_numpy())
    bad = M.jsd_pi(train, shuffled, test, A, COV)
    # propensity 0.2 / 0.87 (confounded by age, cd40) vs ~0.55 everywhere: JS distance ~0.25 (measured 0.74)
    assert bad < good - 0.1


def test_u_pehe_detects_missing_heterogeneity(parts):
    train, test, fresh = parts
    good = M.u_pehe(train, fresh, test, D, E, A, COV, HORIZON)
    # no heterogeneity: the same subjects, covariates, treatment and censoring, but the treated arm's
    # log-risk equals the control arm's (common random numbers: only the effect mechanism changes)
    _, _, flat = _parts(heterogeneity=0.0)
    bad = M.u_pehe(train, flat, test, D, E, A, COV, HORIZON)
    assert set(good["per_learner"]) == {"cox-t", "cox-s"}
    assert good["u_pehe_over_horizon"] == pytest.approx(good["u_pehe"] / HORIZON)
    # measured 83 vs 136 days (both learners); require a clear gap rather than the exact numbers
    assert bad["u_pehe"] > 1.3 * good["u_pehe"]
    for name in good["per_learner"]:
        assert bad["per_learner"][name] > good["per_learner"][name]


def test_dr_and_forest_learners_and_sign_agreement_detect_missing_heterogeneity(parts):
    """The DR-learner and the RSF T-learner (other families than the Cox/Weibull learners) see the same
    broken effect mechanism; so does the share of test patients on whose benefit sign the real-trained and
    synthetic-trained learners agree (measured: U 83/73 vs 152/144 days, agreement 1.0/0.88 vs 0.20/0.36
    for dr/rsf-t)."""
    pytest.importorskip("sksurv")
    train, test, fresh = parts
    _, _, flat = _parts(heterogeneity=0.0)
    good = M.u_pehe(train, fresh, test, D, E, A, COV, HORIZON, learners=["dr", "rsf-t"])
    bad = M.u_pehe(train, flat, test, D, E, A, COV, HORIZON, learners=["dr", "rsf-t"])
    assert set(good["per_learner"]) == {"dr", "rsf-t"}
    for name in ("dr", "rsf-t"):
        assert bad["per_learner"][name] > 1.3 * good["per_learner"][name]
        assert good["sign_agreement_per_learner"][name] > bad["sign_agreement_per_learner"][name] + 0.3
    assert 0.0 <= bad["sign_agreement"] < good["sign_agreement"] <= 1.0


def test_u_pehe_is_zero_for_identical_data(parts):
    train, test, _ = parts
    # learners are deterministic: the same training data gives the same ITEs exactly
    same = M.u_pehe(train, train, test, D, E, A, COV, HORIZON, learners=["cox-t"])
    assert same["u_pehe"] < 1e-8 and same["sign_agreement"] == 1.0


def test_censoring_distance_detects_scaled_censoring(parts):
    train, _, fresh = parts
    good = M.censoring_distance(train, fresh, D, E, A)
    a = fresh[A].to_numpy() == 1
    scaled = _recompute(fresh, np.where(a, fresh.t1, fresh.t0), 0.5 * np.where(a, fresh.c1, fresh.c0))
    bad = M.censoring_distance(train, scaled, D, E, A)
    # KM sup-distance between two samples of ~400 per arm: ~0.1 (measured 0.07); halving the censoring
    # times moves the censoring survival curve by ~0.6 (measured 0.64)
    assert good["sup"] < 0.15 and good["integrated"] < 0.06
    assert bad["sup"] > good["sup"] + 0.3 and bad["integrated"] > good["integrated"] + 0.15
    assert M.censoring_distance(train, train, D, E, A)["sup"] == 0.0


def test_hazard_ratio_agreement(parts):
    train, _, fresh = parts
    good = M.hazard_ratio_agreement(train, fresh, D, E, A, breakpoints=[500.0])
    lo, hi = good["ci_real"]
    assert lo < good["log_hr_real"] < hi
    assert good["syn_in_real_ci"]
    assert good["piecewise"].shape[0] == 2
    # broken: treated subjects' event times halved -> a much higher hazard under treatment
    a = fresh[A].to_numpy() == 1
    bad = _recompute(fresh, np.where(a, 0.5 * fresh.t1, fresh.t0), np.where(a, fresh.c1, fresh.c0))
    worse = M.hazard_ratio_agreement(train, bad, D, E, A)
    assert not worse["syn_in_real_ci"]
    assert worse["abs_log_hr_diff"] > good["abs_log_hr_diff"] + 0.3


def test_train_synthetic_test_real_detects_a_broken_outcome_link(parts):
    pytest.importorskip("sksurv")
    train, test, fresh = parts
    same = M.train_synthetic_test_real(train, train, test, D, E, A, COV, HORIZON)
    assert same["c_index_gap"] == 0 and same["ibs_gap"] == 0  # the same rows fit the same model
    good = M.train_synthetic_test_real(train, fresh, test, D, E, A, COV, HORIZON)
    # outcomes permuted across rows: the marginal law of (time, event) is kept, its link to x is not
    rng = np.random.default_rng(1)
    bad = fresh.copy()
    perm = rng.permutation(len(bad))
    bad[D], bad[E] = bad[D].to_numpy()[perm], bad[E].to_numpy()[perm]
    broken = M.train_synthetic_test_real(train, bad, test, D, E, A, COV, HORIZON)
    # measured: real 0.591, fresh draw 0.591, permuted 0.507 (C-index on 440 test rows: SE ~0.02, but the
    # two fits share the test rows, so their gap is far smaller); IBS 0.1150 / 0.1145 / 0.1186
    assert abs(good["c_index_gap"]) < 0.02 and abs(good["ibs_gap"]) < 0.002
    assert abs(broken["c_index_syn"] - 0.5) < 0.04 and broken["c_index_gap"] > 0.05
    assert broken["ibs_gap"] > good["ibs_gap"] and broken["ibs_syn"] > broken["ibs_real"]
    assert 0 < broken["ibs_real"] < 0.25  # better than the constant S(t) = 1/2


def test_distance_to_closest_record(parts):
    train, test, fresh = parts
    cols = COV + [D, E, A]
    good = M.distance_to_closest_record(train, fresh, test, cols)
    # fresh subjects are as far from the training records as the real holdout (ratio ~1; measured 0.97)
    assert 0.8 < good["dcr_ratio_median"] < 1.25
    copied = M.distance_to_closest_record(train, train.sample(300, random_state=0), test, cols)
    assert copied["dcr_syn_median"] == 0.0 and copied["dcr_ratio_p05"] == 0.0


def test_bad_input_raises(parts):
    train, test, fresh = parts
    with pytest.raises(ValueError, match="nope"):
        M.jsd_pi(train, fresh, test, A, COV + ["nope"])
    with pytest.raises(ValueError, match="horizon"):
        M.u_pehe(train, fresh, test, D, E, A, COV, horizon=-1.0)
    with pytest.raises(ValueError, match="learner"):
        M.u_pehe(train, fresh, test, D, E, A, COV, HORIZON, learners=["magic"])
    one_arm = fresh.assign(**{A: 1})
    with pytest.raises(ValueError, match="single arm"):
        M.jsd_pi(train, one_arm, test, A, COV)
    with pytest.raises(ValueError, match="arm"):
        M.censoring_distance(train, one_arm, D, E, A)
    with pytest.raises(ValueError, match="DataFrame"):
        M.marginal_distances(train, fresh[COV].to_numpy(), COV)
    with pytest.raises(ValueError, match="k"):
        M.alpha_precision_beta_recall(train, fresh, COV, k=0)


def test_inputs_not_modified(parts):
    train, test, fresh = parts
    before = [df.copy() for df in (train, test, fresh)]
    M.jsd_pi(train, fresh, test, A, COV)
    M.censoring_distance(train, fresh, D, E, A)
    for b, df in zip(before, (train, test, fresh)):
        pd.testing.assert_frame_equal(b, df)

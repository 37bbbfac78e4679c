"""Known-answer tests for pyrocsa.metrics."""

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index

from pyrocsa import estimands as E
from pyrocsa import metrics as M
from pyrocsa.core.outcomes import PotentialOutcomes


def _censored_exponential(seed, n=3000, censor_max=2000.0):
    """Heterogeneous exponential event times (scale 500 exp(0.5 x)) with uniform censoring."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    scale = 500.0 * np.exp(0.5 * x)
    t = rng.exponential(scale)
    c = rng.uniform(0, censor_max, n)
    return rng, scale, t, np.minimum(t, c), (t <= c).astype(float)


# ---------------------------------------------------------------------------------------------------------
# C-index
# ---------------------------------------------------------------------------------------------------------
def test_c_index_hand_and_lifelines(rng):
    d = np.array([1.0, 2.0, 3.0, 4.0])
    e = np.array([1, 1, 0, 1])
    assert M.c_index([1, 2, 3, 4], d, e) == pytest.approx(1.0)  # same order as the truth
    assert M.c_index([4, 3, 2, 1], d, e) == pytest.approx(0.0)
    # small random case: identical to lifelines
    d = rng.exponential(10, 25)
    e = rng.integers(0, 2, 25)
    e[0] = 1
    p = rng.exponential(10, 25)
    assert M.c_index(p, d, e) == pytest.approx(concordance_index(d, p, e))


def test_c_index_bad_input():
    with pytest.raises(ValueError, match="events"):
        M.c_index([1, 2], [1, 2], [0, 2])
    with pytest.raises(ValueError, match="all censored"):
        M.c_index([1, 2], [1, 2], [0, 0])
    with pytest.raises(ValueError, match="durations"):
        M.c_index([1, 2, 3], [1, 2], [1, 1])


def test_c_index_per_arm_uses_factual_arm():
    # arm 0 subjects are ranked perfectly by t0, arm 1 subjects perfectly *inversely* by t1
    d = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    obs = pd.DataFrame({"time": d, "event": 1, "treatment": [0, 0, 0, 1, 1, 1]})
    t0 = np.tile([10.0, 20.0, 30.0, 5.0, 5.0, 5.0], (3, 1))
    t1 = np.tile([5.0, 5.0, 5.0, 30.0, 20.0, 10.0], (3, 1))
    po = PotentialOutcomes(t0, t1, observed=obs)
    assert M.c_index_per_arm(po) == {0: pytest.approx(1.0), 1: pytest.approx(0.0)}


# ---------------------------------------------------------------------------------------------------------
# calibration slope
# ---------------------------------------------------------------------------------------------------------
def test_calibration_slope_known_directions():
    # predictions = an independent draw from each subject's true distribution -> slope ~ 1.
    # measured (seeds 0-2, N=3000, ~40% censored): 0.995, 1.003, 1.026; times x0.5: 0.90-0.92; x2: 1.25-1.29
    rng, scale, t, y, d = _censored_exponential(0)
    draw = rng.exponential(scale)
    assert M.calibration_slope(draw, y, d) == pytest.approx(1.0, abs=0.06)
    # predicted times too short = risk over-estimated -> slope < 1; too long -> slope > 1
    assert M.calibration_slope(0.5 * draw, y, d) < 0.95
    assert M.calibration_slope(2.0 * draw, y, d) > 1.15
    # the true times themselves are perfectly calibrated too
    assert M.calibration_slope(t, y, d) == pytest.approx(1.0, abs=0.06)


def test_calibration_slope_per_arm():
    rng, scale, t, y, d = _censored_exponential(1, n=1000)
    a = rng.integers(0, 2, y.size)
    obs = pd.DataFrame({"time": y, "event": d, "treatment": a})
    samples = rng.exponential(scale, (3, y.size))  # the median of 3 draws: a noisy point prediction
    po = PotentialOutcomes(samples, samples * 1.0001, observed=obs)
    res = M.calibration_slope_per_arm(po)
    assert set(res) == {0, 1}
    for arm in (0, 1):
        m = a == arm
        assert res[arm] == pytest.approx(M.calibration_slope(np.median(samples[:, m], axis=0) *
                                                             (1.0001 if arm else 1.0), y[m], d[m]))


# ---------------------------------------------------------------------------------------------------------
# COV, PEHE, ATE
# ---------------------------------------------------------------------------------------------------------
def test_mean_cov_hand():
    # subject 0: samples 1, 3 -> mean 2, sd 1 -> 0.5; subject 1: 2, 2 -> 0  => mean COV 0.25
    assert M.mean_cov([[1.0, 2.0], [3.0, 2.0]]) == pytest.approx(0.25)
    assert M.mean_cov(np.ones((1, 5))) == 0.0  # deterministic prediction


def test_pehe_ate_hand():
    pred, true = [1.0, 2.0, 3.0], [2.0, 2.0, 5.0]
    # diffs -1, 0, -2 -> PEHE = sqrt(5/3); ATE error = |2 - 3| = 1
    assert M.pehe(pred, true) == pytest.approx(np.sqrt(5 / 3))
    assert M.ate_error(pred, true) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="ite_true"):
        M.pehe([1.0, 2.0], [1.0])


# ---------------------------------------------------------------------------------------------------------
# hazard ratios
# ---------------------------------------------------------------------------------------------------------
def test_true_hazard_ratio_is_the_model_recipe_with_one_sample():
    rng = np.random.default_rng(0)
    t0, t1 = rng.exponential(500, 2000), rng.exponential(1000, 2000)
    res = M.true_hazard_ratio(t0, t1, n_boot=50)
    same = E.population_hazard_ratio(t0[None, :], t1[None, :], n_boot=50)
    assert res["hr"] == pytest.approx(same["hr"]) and res["lower"] == pytest.approx(same["lower"])
    # HR = 0.5; 20-seed mean 0.4926, sd 0.0127 at N = 2000 -> 4 sd tolerance
    assert res["hr"] == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="1-D"):
        M.true_hazard_ratio(np.ones((2, 3)), np.ones((2, 3)))


def test_true_hazard_ratio_reproduces_paper_actg_synthetic():
    # The paper (Table 1) reports the actg-Synthetic test-set ground truth HR(t) = 0.52 (0.39, 0.71).  From
    # the shipped true potential event times on the test split, with the paper's grid (distinct observed
    # test times) we get 0.524 and a spread of HR(t) over time (2.5%, 97.5%) of (0.408, 0.706) --
    # deterministic numbers (no bootstrap), compared with the paper's rounded values.
    from pathlib import Path

    import pyrocsa

    root = Path(pyrocsa.__file__).parent / "datasets" / "data" / "actg_synthetic"
    if not (root / "event_pairs.csv").exists():
        pytest.skip("shipped actg_synthetic data not found")
    pairs = pd.read_csv(root / "event_pairs.csv")
    a = np.load(root / "treatment.npy").ravel()
    test = np.load(root / "test_idx.npy").ravel()
    t0 = np.where(a == 0, pairs["t_f"], pairs["t_cf"])[test]
    t1 = np.where(a == 1, pairs["t_f"], pairs["t_cf"])[test]
    res = M.true_hazard_ratio(t0, t1, observed_times=pairs["y_f"].to_numpy()[test], n_boot=0)
    assert res["hr"] == pytest.approx(0.52, abs=0.015)
    assert res["time_lower"] == pytest.approx(0.39, abs=0.025)
    assert res["time_upper"] == pytest.approx(0.71, abs=0.015)


def test_cox_hazard_ratio_exponential():
    rng = np.random.default_rng(0)
    n = 2000
    a = rng.integers(0, 2, n)
    t = rng.exponential(np.where(a == 1, 1000.0, 500.0))
    c = rng.uniform(0, 1500, n)
    df = pd.DataFrame({"y": np.minimum(t, c), "e": (t <= c).astype(int), "a": a})
    before = df.copy()
    res = M.cox_hazard_ratio(df, "y", "e", "a")
    assert res["lower"] < 0.5 < res["upper"]
    assert res["hr"] == pytest.approx(0.5, abs=0.08)  # Wald SE of log HR ~ 0.06 with ~900 events
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(ValueError, match="not in the frame"):
        M.cox_hazard_ratio(df, "y", "e", "missing")


# ---------------------------------------------------------------------------------------------------------
# uncertainty metrics
# ---------------------------------------------------------------------------------------------------------
def test_interval_coverage_hand():
    # every subject has the samples 0, 1, ..., 100: the central 90% interval is [5, 95]
    samples = np.tile(np.arange(101.0)[:, None], (1, 5))
    truth = [4.0, 5.0, 50.0, 95.0, 96.0]
    assert M.interval_coverage(samples, truth, level=0.9) == pytest.approx(3 / 5)
    # central 50%: [25, 75] -> only 50 inside
    assert M.interval_coverage(samples, truth, level=0.5) == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="level"):
        M.interval_coverage(samples, truth, level=1.0)
    with pytest.raises(ValueError, match="truth"):
        M.interval_coverage(samples, truth[:3])


def test_interval_coverage_calibrated_draws():
    # truth drawn from each subject's own predictive distribution.  With S = 200 draws and linearly
    # interpolated quantiles, E[F(q_hi) - F(q_lo)] = (190.05 - 10.95) / 201 = 0.891 exactly (order
    # statistics); binomial sd at N = 3000 is 0.0057 -> tolerance 0.02.
    rng = np.random.default_rng(0)
    n = 3000
    scale = rng.uniform(100, 1000, n)
    samples = rng.exponential(scale, (200, n))
    truth = rng.exponential(scale)
    assert M.interval_coverage(samples, truth, 0.9) == pytest.approx(0.891, abs=0.02)
    curve = M.coverage_curve(samples, truth)
    assert list(curve.columns) == ["nominal", "observed"] and len(curve) == 19
    assert np.all(np.diff(curve["observed"]) >= 0)  # nested intervals
    np.testing.assert_allclose(curve["observed"], curve["nominal"], atol=0.04)
    # over-confident predictions (half the spread around the median) under-cover
    narrow = np.median(samples, axis=0) + 0.5 * (samples - np.median(samples, axis=0))
    assert M.interval_coverage(narrow, truth, 0.9) < 0.8


def test_d_calibration_censored_spreading_hand():
    # one censored subject whose predicted survival at its time is 7/20 = 0.35 (7 of 20 samples above):
    # bins [0,.1), [.1,.2), [.2,.3) get 0.1/0.35 each and [.3,.4) gets 0.05/0.35; an event with s = 0.35
    # puts 1 into bin 3.
    samples = np.arange(1.0, 21.0)[:, None]
    res = M.d_calibration(samples, [13.5], [0], bins=10)
    expected = np.zeros(10)
    expected[:3] = 0.1 / 0.35
    expected[3] = 0.05 / 0.35
    np.testing.assert_allclose(res["bin_proportions"], expected)
    assert res["bin_proportions"].sum() == pytest.approx(1.0)
    ev = M.d_calibration(samples, [13.5], [1], bins=10)
    np.testing.assert_allclose(ev["bin_proportions"], np.eye(10)[3])


def test_d_calibration_accepts_calibrated_rejects_shifted():
    # measured (seeds 0-2, N = 3000, ~40% censored): calibrated p = 0.76, 0.92, 0.27;
    # samples x3 (risk under-estimated): chi2 ~ 1800, p = 0
    rng, scale, t, y, d = _censored_exponential(0)
    samples = rng.exponential(scale, (200, y.size))
    ok = M.d_calibration(samples, y, d)
    assert ok["p_value"] > 0.05
    np.testing.assert_allclose(ok["bin_proportions"], 0.1, atol=0.02)
    bad = M.d_calibration(3.0 * samples, y, d)
    assert bad["p_value"] < 1e-6
    assert bad["statistic"] > 10 * ok["statistic"]


@pytest.mark.slow
def test_d_calibration_false_rejection_rate():
    # slow version: under a correctly specified model the 5%-level test should reject ~5% of the time;
    # 40 seeds -> expect 2, binomial sd 1.4; allow up to 6 (4 / 40 = 10% plus noise)
    rejections = 0
    for seed in range(40):
        rng, scale, t, y, d = _censored_exponential(seed, n=2000)
        rejections += M.d_calibration(rng.exponential(scale, (200, y.size)), y, d)["p_value"] < 0.05
    assert rejections <= 6

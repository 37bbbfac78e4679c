"""Known-answer tests for pyrocsa.estimands (plain functions on (S, N) sample arrays)."""

import time

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from scipy.stats import gaussian_kde

from pyrocsa import estimands as E
from pyrocsa.core.estimands import SURVIVAL_FLOOR

# hand example: S = 2 draws, N = 2 subjects
T0 = np.array([[1.0, 2.0], [3.0, 4.0]])
T1 = np.array([[2.0, 2.0], [5.0, 8.0]])


def test_ite_ate_hand():
    # subject 0: (2-1 + 5-3)/2 = 1.5; subject 1: (0 + 4)/2 = 2
    np.testing.assert_allclose(E.ite(T0, T1), [1.5, 2.0])
    assert E.ate(T0, T1) == pytest.approx(1.75)


def test_rmst_difference_hand():
    # h = 3: min(t1,3) = [[2,2],[3,3]], min(t0,3) = [[1,2],[3,3]] -> diffs [[1,0],[0,0]] -> means [0.5, 0]
    np.testing.assert_allclose(E.rmst_difference(T0, T1, 3.0), [0.5, 0.0])
    # a horizon beyond every sample gives back the ITE
    np.testing.assert_allclose(E.rmst_difference(T0, T1, 100.0), E.ite(T0, T1))


def test_survival_difference_hand():
    # t = 1.5: S1 = [1, 1], S0 = [0.5, 1] -> [0.5, 0];  t = 4.5: S1 = [0.5, 0.5], S0 = [0, 0] -> [0.5, 0.5]
    out = E.survival_difference(T0, T1, [1.5, 4.5])
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 0.5]])


@pytest.mark.parametrize("bad, msg", [
    (np.array([[1.0, np.nan]]), "non-finite"),
    (np.array([[1.0, -2.0]]), "<= 0"),
    (np.ones((2, 2, 2)), "shape"),
])
def test_validation_names_argument(bad, msg):
    with pytest.raises(ValueError, match="t1.*" + msg):
        E.ite(np.ones((1, 2)), bad)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        E.ite(np.ones((3, 2)), np.ones((3, 3)))


def test_population_survival_km_hand_and_fast_path(rng):
    # KM by hand: durations 1,2,3,4 with events 1,0,1,1:
    # S(1) = 3/4; S(2) = 3/4 (censoring); S(3) = 3/4 * (1 - 1/2) = 3/8; S(4) = 0
    s = E.population_survival([1, 2, 3, 4], [0.5, 1, 2, 3, 4], events=[1, 0, 1, 1])
    np.testing.assert_allclose(s, [1.0, 0.75, 0.75, 0.375, 0.0])
    # without censoring the fast empirical-survival path equals lifelines' KM exactly
    d = rng.exponential(3.0, 300)
    grid = np.linspace(0, 10, 57)
    kmf = KaplanMeierFitter().fit(d)
    np.testing.assert_allclose(E.population_survival(d, grid),
                               kmf.survival_function_at_times(grid).to_numpy(), atol=1e-12)
    np.testing.assert_allclose(E.population_survival(d, grid), E.population_survival(d, grid, np.ones(300)))


def test_linear_slope_exact_and_vectorised():
    t = np.linspace(0, 10, 11)
    assert E.linear_slope(t, 3 - 0.2 * t) == pytest.approx(-0.2)
    stacked = np.stack([3 - 0.2 * t, 1 - 0.05 * t])
    np.testing.assert_allclose(E.linear_slope(t, stacked), [-0.2, -0.05])


def test_hazard_ratio_curve_hand():
    # two straight survival curves: m0 = -0.1, m1 = -0.05 -> HR(t) = (m1/S1(t)) / (m0/S0(t))
    t = np.array([0.0, 1.0, 2.0, 3.0])
    s0, s1 = 1 - 0.1 * t, 1 - 0.05 * t
    np.testing.assert_allclose(E.hazard_ratio_curve(t, s0, s1), 0.5 * s0 / s1)


def _exp_limit(grid, scale0=500.0, scale1=1000.0):
    """The estimator's population limit: the same recipe applied to the exact exponential survival curves
    on the same grid.  Its distance from 0.5 is the bias of the linear S'(t) approximation."""
    s0, s1 = np.exp(-grid / scale0), np.exp(-grid / scale1)
    keep = (s0 >= SURVIVAL_FLOOR) & (s1 >= SURVIVAL_FLOOR)
    return float(np.exp(np.mean(np.log(E.hazard_ratio_curve(grid[keep], s0[keep], s1[keep])))))


def test_population_hazard_ratio_exponential_known_answer():
    # rate0 = 1/500, rate1 = 0.5/500 -> HR = 0.5.  Each subject's samples are a tight cloud (5% log-sd)
    # around its true time, so the per-subject medians are ~ the true times.
    rng = np.random.default_rng(0)
    n, s = 2000, 50
    tt0, tt1 = rng.exponential(500, n), rng.exponential(1000, n)
    t0 = tt0 * np.exp(0.05 * rng.standard_normal((s, n)))
    t1 = tt1 * np.exp(0.05 * rng.standard_normal((s, n)))
    res = E.population_hazard_ratio(t0, t1, n_boot=100, seed=1)
    limit = _exp_limit(res["times"])
    # measured over 20 seeds at N=2000 (true times): mean 0.4926, sd 0.0127; population limit 0.494, i.e.
    # a linear-fit bias of ~ -0.006 on this grid.  Tolerances: 4 sd around the limit, 0.05 around 0.5.
    assert abs(limit - 0.5) < 0.02
    assert abs(res["hr"] - limit) < 0.05
    assert abs(res["hr"] - 0.5) < 0.05
    assert res["lower"] < res["hr"] < res["upper"]
    assert res["lower"] < 0.5 < res["upper"]
    g = res["times"].size
    for key in ("curve", "curve_lower", "curve_upper", "survival0", "survival1"):
        assert res[key].shape == (g,)
    assert np.all(np.diff(res["times"]) > 0)
    # the median summary over the grid is the alternative; it is documented as more biased here
    med = E.population_hazard_ratio(t0, t1, n_boot=0, summary="median")
    assert med["hr"] > res["hr"]


def test_population_hazard_ratio_no_effect_and_events_path():
    rng = np.random.default_rng(3)
    n = 1500
    t0 = rng.exponential(300, (1, n))
    t1 = rng.exponential(300, (1, n))
    res = E.population_hazard_ratio(t0, t1, n_boot=50)
    assert abs(res["hr"] - 1.0) < 0.1  # sd of the estimate at N=1500 ~ 0.03 (cf. the 0.5 case)
    # all-ones indicators through lifelines give exactly the fast path's numbers
    same = E.population_hazard_ratio(t0, t1, events=np.ones(n), n_boot=0)
    assert same["hr"] == pytest.approx(res["hr"], rel=1e-12)
    # eq. (19) verbatim: with observed indicators the curves change
    ev = (rng.uniform(size=n) < 0.7).astype(float)
    lit = E.population_hazard_ratio(t0, t1, events=ev, n_boot=0)
    assert np.isfinite(lit["hr"]) and not np.allclose(lit["survival0"], res["survival0"][: lit["times"].size])


def test_draw_survival_matches_a_loop_and_handles_ties_and_extremes():
    rng = np.random.default_rng(5)
    s = np.round(rng.exponential(100.0, size=(7, 9)), 0) + 10.0  # ties with the grid points
    s[0, 0], s[1, 1] = 1e13, 1e-9  # an extrapolated tail and a tiny time
    grid = np.array([0.0, 10.0, 50.0, 100.0, 300.0])
    naive = np.array([[np.mean(s[:, n] > t) for t in grid] for n in range(s.shape[1])])
    np.testing.assert_allclose(E.draw_survival(s, grid), naive, rtol=0, atol=1e-12)  # counts of 7 draws


def test_population_hazard_ratio_of_all_draws_on_wide_draws():
    """point="draws": every subject's draws are the whole law (T0 ~ Exp(mean 500), T1 ~ Exp(mean 1000)),
    so the marginal survival of the draws is exponential with HR 0.5, and the recipe applied to it must
    give its own population limit on this grid (0.424: the linear-slope fit's bias over a grid this wide),
    while the per-subject medians all sit near 347 / 693 days and the median recipe is far off. 20,000
    draws per arm, sampling sd of the estimate ~ 0.01; tolerance 0.03."""
    rng = np.random.default_rng(2)
    n, s = 400, 50
    t0, t1 = rng.exponential(500, (s, n)), rng.exponential(1000, (s, n))
    grid = np.linspace(10.0, 1500.0, 60)
    res = E.population_hazard_ratio(t0, t1, times=grid, point="draws", n_boot=50, seed=0)
    assert abs(res["hr"] - _exp_limit(res["times"])) < 0.03
    assert res["lower"] < res["hr"] < res["upper"]
    med = E.population_hazard_ratio(t0, t1, times=grid, n_boot=0)
    assert abs(med["hr"] - _exp_limit(med["times"])) > 0.2
    with pytest.raises(ValueError, match="events"):
        E.population_hazard_ratio(t0, t1, times=grid, point="draws", events=np.ones(n))
    with pytest.raises(ValueError, match="point"):
        E.population_hazard_ratio(t0, t1, point="mode")


def test_population_hazard_ratio_bad_input():
    t = np.ones((2, 5))
    with pytest.raises(ValueError, match="level"):
        E.population_hazard_ratio(t, t, level=1.5)
    with pytest.raises(ValueError, match="events"):
        E.population_hazard_ratio(t + 1, t + 2, events=np.ones(3))


def test_kde_survival_matches_scipy(rng):
    s = rng.gamma(3.0, 100.0, size=(200, 3))
    grid = np.array([50.0, 200.0, 400.0, 900.0])
    out = E.kde_survival(s, grid)
    for i in range(3):
        kde = gaussian_kde(s[:, i], bw_method="silverman")
        expected = [1 - kde.integrate_box_1d(-np.inf, t) for t in grid]
        np.testing.assert_allclose(out[i], expected, atol=1e-10)


def test_kde_survival_degenerate_subject():
    s = np.column_stack([np.full(10, 5.0), np.linspace(1, 10, 10)])
    out = E.kde_survival(s, [4.0, 6.0])
    np.testing.assert_allclose(out[0], [1.0, 0.0])  # all samples at 5: a step


def test_individual_hazard_ratio_uniform_known_answer():
    # T_a | x ~ Uniform(0, b_a): S_a(t|x) = 1 - t/b_a is exactly linear, so the linear-slope recipe is exact
    # and HR(t|x) = lambda1/lambda0 = (b0 - t) / (b1 - t).  On an interior grid (away from the KDE's edge
    # smoothing, h ~ 0.05 b for 10000 samples) the KDE survival is ~ the exact line.
    rng = np.random.default_rng(2)
    n, s = 3, 10000
    b0 = np.array([400.0, 600.0, 900.0])
    b1 = 2 * b0
    t0 = rng.uniform(0, b0, (s, n))
    t1 = rng.uniform(0, b1, (s, n))
    # grid inside (0, b0) for every subject; the KDE edge at 0 still bends S slightly for t < ~2h (h = 87
    # for b = 1800), which is part of the measured error below
    grid = np.linspace(80, 280, 21)
    res = E.individual_hazard_ratio(t0, t1, times=grid)
    exact = (b0[:, None] - grid) / (b1[:, None] - grid)
    assert res["curve"].shape == (n, grid.size) and res["hr"].shape == (n,)
    # Monte Carlo error of the KDE curves and slopes: max abs error over 10 seeds 0.005-0.031 -> atol 0.05
    np.testing.assert_allclose(res["curve"], exact, atol=0.05)
    np.testing.assert_allclose(res["hr"], np.median(exact, axis=1), atol=0.05)


def test_individual_hazard_ratio_vectorised_speed():
    # the brief: 2000 subjects x 200 samples in seconds (measured ~2 s on one core for 100 grid points)
    rng = np.random.default_rng(4)
    t0 = rng.exponential(500, (200, 2000))
    t1 = rng.exponential(1000, (200, 2000))
    start = time.perf_counter()
    res = E.individual_hazard_ratio(t0, t1, num_times=50)
    assert time.perf_counter() - start < 20.0  # generous: shared CPU
    assert res["curve"].shape == (2000, 50)
    assert np.isfinite(res["hr"]).all()


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    t = torch.tensor(T1, requires_grad=True)
    np.testing.assert_allclose(E.ite(torch.tensor(T0), t), [1.5, 2.0])


@pytest.mark.slow
def test_population_hazard_ratio_many_seeds():
    # slow version of the exponential known-answer check: over 20 seeds (true times, N = 2000) the estimate
    # centres on the estimator's population limit (linear-fit bias included) and its spread matches the
    # bootstrap.  Measured: mean 0.4926, sd 0.0127, limit 0.4936.
    hrs, limits, widths = [], [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        t0, t1 = rng.exponential(500, (1, 2000)), rng.exponential(1000, (1, 2000))
        res = E.population_hazard_ratio(t0, t1, n_boot=100, seed=seed)
        hrs.append(res["hr"])
        limits.append(_exp_limit(res["times"]))
        widths.append(res["upper"] - res["lower"])
    hrs = np.array(hrs)
    assert abs(hrs.mean() - np.mean(limits)) < 0.01  # 3 x sd / sqrt(20)
    assert abs(np.mean(limits) - 0.5) < 0.01
    # the bootstrap is conservative: (upper - lower) / 3.92 = 0.0196 on average vs a seed-to-seed sd of
    # 0.0127 (the grid is fixed across replicates but moves with the data across seeds).  Check it is
    # neither too narrow nor more than 2x too wide.
    assert hrs.std() <= np.mean(widths) / 3.92 <= 2 * hrs.std()


def test_population_hazard_ratio_warns_when_predictions_lie_beyond_follow_up():
    """Exponential potential outcomes far beyond a short follow-up grid: HR(t) from medians rests on a few
    early predictions, so the function says so instead of returning a quiet number."""
    from pyrocsa.estimands import population_hazard_ratio

    rng = np.random.default_rng(1)
    t0 = rng.exponential(20000.0, size=(50, 400))
    t1 = rng.exponential(40000.0, size=(50, 400))
    with pytest.warns(UserWarning, match="unreliable"):
        population_hazard_ratio(t0, t1, times=np.linspace(10.0, 1000.0, 50), n_boot=5)

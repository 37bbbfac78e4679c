"""The Kaplan-Meier band check (pyrocsa.core.fit_check): the band and the band ratio against hand
computations, and the warning ``fit`` gives -- on a model that cannot follow its data and not on one that
can."""

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

import pyrocsa
from pyrocsa.baselines import CoxTLearner
from pyrocsa.baselines.cox import SurvivalCurves, TLearnerBase
from pyrocsa.core.base import CounterfactualSurvivalModel
from pyrocsa.core.fit_check import (
    equal_precision_critical,
    fit_check,
    kaplan_meier_band,
    survival_d_calibration,
)
from pyrocsa.data.frame import SurvivalData
from pyrocsa.errors import FitWarning
from pyrocsa.evaluation.metrics import d_calibration


class ExponentialModel(CounterfactualSurvivalModel):
    """S_a(t | x) = exp(-t / scale[a]) for every x: a model whose survival is known in closed form."""

    name = "exponential"

    def __init__(self, scale=(1.0, 1.0)):
        self.scale = scale

    def fit(self, df, duration_col, event_col, treatment_col, val_df=None, covariates=None, **kwargs):
        self.data_ = SurvivalData.from_frame(df, duration_col, event_col, treatment_col,
                                             covariates=covariates)
        self.fitted_ = True
        return self

    def sample_potential_outcomes(self, df, num_samples=200, seed=None):  # pragma: no cover - not used
        raise NotImplementedError

    def _arm_survival(self, df, arm, times):
        return np.repeat(np.exp(-np.asarray(times, float) / self.scale[arm])[:, None], len(df), axis=1)

    def _arm_survival_at(self, df, arm, durations):
        return np.exp(-np.asarray(durations, float) / self.scale[arm])


def _frame(n=400, seed=0, jump=False):
    """Two arms, one prognostic covariate and one noise column; Weibull(1.5) proportional hazards, or
    (``jump``) a baseline hazard that rises tenfold at t = 1; uniform censoring on [0, 4]."""
    rng = np.random.default_rng(seed)
    x, a = rng.normal(size=n), rng.integers(0, 2, n)
    hazard_ratio = np.exp(0.5 * x - 0.4 * a)
    cum = -np.log(rng.uniform(size=n)) / hazard_ratio  # the baseline cumulative hazard at T
    t = np.where(cum < 0.1, cum / 0.1, 1 + (cum - 0.1)) if jump else cum ** (1 / 1.5)
    c = rng.uniform(0, 4, n)
    return pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int), "treatment": a, "x": x,
                         "noise": rng.normal(size=n)})


def test_kaplan_meier_band_matches_a_hand_computation_and_lifelines():
    y = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    e = np.array([1, 1, 0, 1, 0, 1, 0, 1])
    times, km, lo, hi, at_risk = kaplan_meier_band(y, e)
    # by hand: event times 1, 2, 3, 5, 7 with (at risk, deaths) (8,1) (7,1) (5,1) (3,1) (1,1)
    assert np.allclose(times, [1, 2, 3, 5, 7]) and np.allclose(at_risk, [8, 7, 5, 3, 1])
    hand = np.cumprod([7 / 8, 6 / 7, 4 / 5, 2 / 3, 0.0])
    assert np.allclose(km, hand)
    # log(-log) band at t = 3: Greenwood sum 1/(8*7) + 1/(7*6) + 1/(5*4)
    s = hand[2]
    se = np.sqrt(1 / 56 + 1 / 42 + 1 / 20) / abs(np.log(s))
    assert lo[2] == pytest.approx(s ** np.exp(1.959964 * se), rel=1e-6)
    assert hi[2] == pytest.approx(s ** np.exp(-1.959964 * se), rel=1e-6)
    kmf = KaplanMeierFitter().fit(y, e)
    ci = kmf.confidence_interval_.loc[times[:-1]].to_numpy()
    assert np.allclose(np.sort(ci, axis=1), np.c_[lo[:-1], hi[:-1]], atol=1e-8)
    assert (lo[-1], hi[-1]) == (0.0, 1.0)  # KM = 0: no information


def test_equal_precision_critical_values_match_a_brownian_bridge():
    # the definition, simulated directly: sup over [a_L, a_U] of |W(x)| / sqrt(x (1 - x)) for a Brownian
    # bridge W on a fine grid of [0, 1] (a different representation from the function's OU process); the
    # Greenwood sums enter as a / (1 - a). Tolerance: Monte Carlo error of both (~0.02 each at 2000-4000
    # paths) plus the grids' downward bias.
    rng = np.random.default_rng(1)
    steps, paths = 5000, 2000
    x = np.arange(1, steps) / steps
    walk = np.cumsum(rng.standard_normal((paths, steps)) / np.sqrt(steps), axis=1)
    bridge = walk[:, :-1] - x * walk[:, -1:]
    for a_lo, a_hi in ((0.1, 0.9), (0.3, 0.7)):
        keep = (x >= a_lo) & (x <= a_hi)
        sup = np.abs(bridge[:, keep] / np.sqrt(x[keep] * (1 - x[keep]))).max(axis=1)
        ref = np.quantile(sup, 0.95)
        got = equal_precision_critical(a_lo / (1 - a_lo), a_hi / (1 - a_hi))
        assert got == pytest.approx(ref, abs=0.08)
        assert 2.5 < got < 3.3
    assert equal_precision_critical(0.2, 0.2) == pytest.approx(1.959964)


def test_band_ratio_is_the_supremum_over_follow_up_by_brute_force():
    df = _frame(300, seed=3)
    model = ExponentialModel(scale=(0.9, 1.4)).fit(df, "time", "event", "treatment")
    check = fit_check(model, df)
    for arm in (0, 1):
        rows = df[df.treatment == arm]
        y, e = rows.time.to_numpy(), rows.event.to_numpy()
        end = np.sort(y)[::-1][int(np.ceil(0.1 * len(y))) - 1]  # 10% of the arm still at risk
        times, km, lo, hi, _ = kaplan_meier_band(y, e)
        start = np.sort(y[e == 1])[4]  # the arm's 5th event: where the check starts
        grid = np.linspace(start, end, 200_001)  # dense grid over [5th event, end of follow-up]
        k = np.searchsorted(times, grid, side="right") - 1
        s = np.exp(-grid / model.scale[arm])
        ratio = np.where(s < km[k], (km[k] - s) / (km[k] - lo[k]), (s - km[k]) / (hi[k] - km[k]))
        got = check.arms[arm]
        assert got.end == pytest.approx(end) and got.times.min() == pytest.approx(start)
        # exact supremum (endpoints of every step) >= any grid value, and the dense grid comes close
        assert got.band_ratio >= ratio.max() - 1e-12
        assert got.band_ratio == pytest.approx(ratio.max(), rel=2e-3)
        # the ranges outside, at the resolution of the event times: every dense-grid point outside lies in
        # a reported range widened by one step to the left, and every range starts and ends outside
        outside = grid[ratio > 1]
        step = np.diff(times).max()
        assert all(any(a - step <= g <= b for a, b in got.outside) for g in outside[::97])
        for a, b in got.outside:
            for t in (a, b):
                m = np.exp(-t / model.scale[arm])
                at = got.ratio[got.times == t]
                assert at.max() > 1 and m == pytest.approx(got.model[got.times == t][0])
    assert check.arms[0].band_ratio > 1 and len(check.arms[0].outside) > 0  # scale 0.9 is too short


def test_a_continuous_model_is_interpolated_between_64_times_without_changing_the_ratio():
    df = _frame(2000, seed=4)
    exact = fit_check(ExponentialModel(scale=(0.9, 1.4)).fit(df, "time", "event", "treatment"), df)
    smooth = ExponentialModel(scale=(0.9, 1.4)).fit(df, "time", "event", "treatment")
    smooth.continuous_survival = True
    interpolated = fit_check(smooth, df)
    for arm in (0, 1):
        a, b = exact.arms[arm], interpolated.arms[arm]
        assert a.times.size > 500  # hundreds of event times, of which 64 are evaluated
        # linear interpolation of exp(-t / s) on 64 evenly spaced times: error <= (h^2 / 8) max|S''|,
        # S'' <= 1 / s^2
        h = (a.times.max() - a.times.min()) / 63
        assert np.abs(a.model - b.model).max() <= h**2 / 8 / (0.9, 1.4)[arm] ** 2
        assert b.band_ratio == pytest.approx(a.band_ratio, abs=0.01)


def test_d_calibration_of_the_check_is_the_metric_on_exact_probabilities():
    rng = np.random.default_rng(0)
    y = rng.exponential(size=500)
    e = rng.integers(0, 2, 500)
    draws = rng.exponential(size=(4000, 500))
    stat, p, _ = survival_d_calibration((draws > y).mean(axis=0), e)
    ref = d_calibration(draws, y, e)
    assert stat == pytest.approx(ref["statistic"]) and p == pytest.approx(ref["p_value"])


def test_cox_t_learner_is_inside_the_band_and_fit_is_silent():
    df = _frame(600, seed=1, jump=True)  # Breslow baselines follow the jump
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)
        model = CoxTLearner().fit(df, "time", "event", "treatment")
    summary = model.fit_check_.summary()
    assert list(summary.index) == [0, 1] and (summary.band_ratio < 0.5).all()
    assert (summary.d_calibration_p > 0.05).all() and summary.outside.eq("none").all()


def test_fit_warns_when_the_model_cannot_follow_the_data():
    # one Weibull per arm (flow_layers=0, and the paper's objective, which has no Cox start and so no step
    # baseline) cannot follow a hazard that jumps tenfold at t = 1; measured on the training rows of data
    # seeds 0-2 (the worse arm): pointwise ratio 5.5 / 4.8 / 5.6, simultaneous 3.5 / 3.3 / 3.7 (the Cox
    # T-learner on the same rows: at most 0.31 pointwise)
    df = _frame(600, seed=0, jump=True)
    with pytest.warns(FitWarning, match=r"leaves the Kaplan-Meier 95% simultaneous band on the training "
                                        r"rows: arm \d") as w:
        model = pyrocsa.CSA(objective="paper", flow_layers=0, max_epochs=60, verbose=False, seed=0).fit(
            df, "time", "event", "treatment")
    assert len(w) == 1 and "\n" not in str(w[0].message)
    assert not model.fit_check_.inside
    worst = max(model.fit_check_.arms.values(), key=lambda a: a.band_ratio)
    assert worst.simultaneous_ratio > 2.0 and worst.band_ratio > worst.simultaneous_ratio
    assert worst.outside_simultaneous and worst.critical > 2.5
    assert f"arm {worst.arm}" in str(w[0].message)


def test_fit_is_silent_when_the_model_fits(capsys):
    # the same Weibull-per-arm model on Weibull proportional-hazards data, data seeds 0-2 (worse arm):
    # simultaneous ratio 0.67 / 0.91 / 0.71 (pointwise 1.24 / 1.08 / 1.09: a pointwise 95% band checked at
    # hundreds of times is left by correct models too, which is why fit warns on the simultaneous one)
    df = _frame(600, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)
        model = pyrocsa.CSA(flow_layers=0, max_epochs=60, verbose=False, seed=0).fit(
            df, "time", "event", "treatment")
    assert model.fit_check_.inside
    model.print_summary()
    out = capsys.readouterr().out
    assert "KM band, arm 0 = ratio" in out and "KM band, arm 1 = ratio" in out and "simultaneous" in out
    assert "OUTSIDE" not in out


def test_check_on_new_rows_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    df = _frame(400, seed=2)
    model = CoxTLearner().fit(df, "time", "event", "treatment")
    stretched = df.assign(time=df.time * 3)  # the same subjects living 3x longer: the model is now wrong
    check = model.check(stretched)
    assert not check.inside and "leaves the Kaplan-Meier 95% simultaneous band" in check.warning_message()
    assert df.time.max() < 4  # the frame passed was not modified
    ax = model.plot_calibration()
    assert len(ax.lines) == 4  # KM and model, per arm
    end = max(a.end for a in model.fit_check_.arms.values())
    assert max(line.get_xdata().max() for line in ax.lines) <= end
    with pytest.raises(ValueError, match="column 'event'"):
        model.check(df.drop(columns="event"))


class ExponentialTLearner(TLearnerBase):
    """One constant hazard per arm (events / exposure), covariates ignored: cannot follow a jump."""

    name = "exponential T-learner"

    def __init__(self):
        pass

    def _fit_arm(self, x, duration, event, seed):
        return event.sum() / duration.sum()

    def _survival_arm(self, rate, x, end_time):
        grid = np.linspace(end_time / 400, end_time, 400)
        return SurvivalCurves(grid, np.repeat(np.exp(-rate * grid)[None, :], len(x), axis=0), end_time)


def test_doubly_robust_sums_up_its_folds_checks_in_one_warning():
    df = _frame(600, seed=0, jump=True)
    with pytest.warns(FitWarning) as w:
        dr = pyrocsa.DoublyRobust(outcome_model=ExponentialTLearner(), propensity_model="constant",
                                  censoring_model="km").fit(df, "time", "event", "treatment")
    fit_warnings = [x for x in w if issubclass(x.category, FitWarning)]
    assert len(fit_warnings) == 1
    assert f"in {len(dr.outcome_misfit_folds_)} of 5 cross-fitting folds" in str(fit_warnings[0].message)
    assert len(dr.outcome_misfit_folds_) >= 4  # a constant hazard against a tenfold jump: every fold, nearly


def test_the_true_model_rarely_leaves_the_simultaneous_band_and_often_the_pointwise_one():
    # the calibration of the warning: 80 two-arm data sets drawn from the model checked (the design of
    # benchmarks.fit_check_null). Nominal: 5% per arm
    # for the simultaneous band (9.75% for two arms; 11% measured over 200 replicates of 300 per arm by
    # benchmarks.fit_check_null); the pointwise band is left in about 80%. Bounds: 2.5 binomial SDs.
    rng = np.random.default_rng(2)
    point, simultaneous = [], []
    for _ in range(80):
        a = np.repeat([0, 1], 200)
        t = rng.exponential(np.array([1.0, 1 / 0.7])[a])
        c = rng.uniform(0, 3, 400)
        df = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int), "treatment": a,
                           "x": rng.normal(size=400)})
        truth = ExponentialModel(scale=(1.0, 1 / 0.7)).fit(df, "time", "event", "treatment")
        check = fit_check(truth, df)
        point.append(max(a.band_ratio for a in check.arms.values()) > 1)
        simultaneous.append(not check.inside)
    assert np.mean(simultaneous) <= 0.10 + 2.5 * np.sqrt(0.1 * 0.9 / 80)
    assert np.mean(point) >= 0.5

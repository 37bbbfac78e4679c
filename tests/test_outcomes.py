"""PotentialOutcomes: validation, attributes and the estimand wrappers."""

import numpy as np
import pandas as pd
import pytest

from pyrocsa import estimands as E
from pyrocsa.core.outcomes import PotentialOutcomes


def _frames(n, rng, index=None):
    index = pd.RangeIndex(n) if index is None else index
    obs = pd.DataFrame({"time": rng.uniform(1, 100, n), "event": rng.integers(0, 2, n),
                        "treatment": rng.integers(0, 2, n)}, index=index)
    cov = pd.DataFrame({"age": rng.normal(40, 5, n), "cd4": rng.normal(300, 50, n)}, index=index)
    return obs, cov


def test_attributes_and_index_resolution(rng):
    t0 = rng.exponential(10, (6, 4))
    t1 = rng.exponential(20, (6, 4))
    po = PotentialOutcomes(t0, t1)
    assert (po.num_samples, po.n_subjects, po.chains) == (6, 4, 1)
    assert isinstance(po.index, pd.Index) and list(po.index) == [0, 1, 2, 3]
    assert po.c0 is None and po.observed is None
    idx = pd.Index(["a", "b", "c", "d"], name="id")
    obs, cov = _frames(4, rng, idx)
    po2 = PotentialOutcomes(t0, t1, observed=obs, covariates=cov, chains=3, model_name="m")
    assert po2.index.equals(idx)  # taken from `observed`
    assert po2.chains == 3 and "m" in repr(po2)


def test_inputs_are_not_modified_and_copied(rng):
    t0 = rng.exponential(10, (4, 3))
    keep = t0.copy()
    obs, _ = _frames(3, rng)
    obs_before = obs.copy()
    po = PotentialOutcomes(t0, t0 + 1, observed=obs)
    po.t0[0, 0] = -1
    np.testing.assert_array_equal(t0, keep)
    pd.testing.assert_frame_equal(obs, obs_before)


@pytest.mark.parametrize("kwargs, match", [
    ({"t1": np.ones((4, 2))}, "same shape"),
    ({"t1": np.full((4, 3), np.nan)}, "t1.*non-finite"),
    ({"t0": -np.ones((4, 3))}, "t0.*<= 0"),
    ({"c0": np.ones((2, 3))}, "c0"),
    ({"c1": np.zeros((4, 3))}, "c1"),
    ({"chains": 3}, "chains=3"),
    ({"chains": 0}, "chains"),
    ({"index": [1, 2]}, "index"),
    ({"index": [1, 1, 2]}, "unique"),
])
def test_validation(kwargs, match):
    args = {"t0": np.ones((4, 3)), "t1": np.ones((4, 3))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PotentialOutcomes(**args)


def test_observed_and_covariates_validation(rng):
    t = np.ones((2, 3))
    obs, cov = _frames(3, rng)
    with pytest.raises(ValueError, match="observed is missing"):
        PotentialOutcomes(t, t, observed=obs.drop(columns="event"))
    with pytest.raises(ValueError, match=r"observed\['event'\]"):
        PotentialOutcomes(t, t, observed=obs.assign(event=[0, 1, 2]))
    with pytest.raises(ValueError, match=r"observed\['time'\]"):
        PotentialOutcomes(t, t, observed=obs.assign(time=[1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="observed.index"):
        PotentialOutcomes(t, t, index=["a", "b", "c"], observed=obs)
    with pytest.raises(ValueError, match="covariates must be numeric"):
        PotentialOutcomes(t, t, covariates=cov.assign(sex=["m", "f", "m"]))
    with pytest.raises(ValueError, match="covariates has 2 rows"):
        PotentialOutcomes(t, t, covariates=cov.iloc[:2])


def test_estimand_wrappers_hand():
    t0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    t1 = np.array([[2.0, 2.0], [5.0, 8.0]])
    po = PotentialOutcomes(t0, t1, index=["x", "y"])
    np.testing.assert_allclose(po.ite(), [1.5, 2.0])
    assert po.ate() == pytest.approx(1.75)
    np.testing.assert_allclose(po.rmst_difference(3.0), [0.5, 0.0])
    assert po.rmst_ate(3.0) == pytest.approx(0.25)
    np.testing.assert_allclose(po.survival_difference([1.5, 4.5]), [[0.5, 0.5], [0.0, 0.5]])


def test_ite_hdi_matches_arviz_and_contains_mean(rng):
    import arviz as az

    t0 = rng.normal(100, 10, (400, 5)).clip(1)
    t1 = t0 + rng.normal(20, 5, (400, 5))
    po = PotentialOutcomes(t0, t1, index=list("abcde"))
    h = po.ite_hdi(0.9)
    assert list(h.columns) == ["mean", "lower", "upper"] and list(h.index) == list("abcde")
    assert np.all((h["lower"] < h["mean"]) & (h["mean"] < h["upper"]))
    # same numbers as arviz on one subject's draws; a 90% interval of N(20, 5) spans ~2 * 1.645 * 5
    from pyrocsa.core.inference_data import _ARVIZ_GE_1

    ref = az.hdi((t1 - t0)[:, 2], **({"prob": 0.9} if _ARVIZ_GE_1 else {"hdi_prob": 0.9}))
    np.testing.assert_allclose(h.iloc[2][["lower", "upper"]].to_numpy(dtype=float), ref)
    np.testing.assert_allclose(h["upper"] - h["lower"], 16.4, atol=3.0)


def test_hazard_ratio_wrappers(rng):
    n, s = 800, 20
    tt0, tt1 = rng.exponential(500, n), rng.exponential(1000, n)
    t0 = tt0 * np.exp(0.05 * rng.standard_normal((s, n)))
    t1 = tt1 * np.exp(0.05 * rng.standard_normal((s, n)))
    obs = pd.DataFrame({"time": np.minimum(tt0, 900.0), "event": (tt0 < 900).astype(int),
                        "treatment": 0})
    po = PotentialOutcomes(t0, t1, observed=obs)
    res = po.hazard_ratio(n_boot=30)
    for key in ("hr", "lower", "upper", "times", "curve", "curve_lower", "curve_upper"):
        assert key in res
    # default grid = the distinct observed times, as in the paper's set T
    assert res["times"].max() <= 900.0 and res["times"].size <= n
    # the default is the marginal reading of the draws (point="draws"); the paper's recipe is point="median"
    direct = E.population_hazard_ratio(t0, t1, observed_times=obs["time"].to_numpy(), n_boot=30,
                                       point="draws")
    assert res["hr"] == pytest.approx(direct["hr"]) and res["upper"] == pytest.approx(direct["upper"])
    med = po.hazard_ratio(n_boot=30, point="median")
    paper = E.population_hazard_ratio(t0, t1, observed_times=obs["time"].to_numpy(), n_boot=30)
    assert med["hr"] == pytest.approx(paper["hr"]) and 0.35 < med["hr"] < 0.7
    assert 0.35 < res["hr"] < 0.7  # HR 0.5 with N = 800 and a censored grid (bias documented)
    lit = po.hazard_ratio(n_boot=0, use_observed_events=True)
    assert np.isfinite(lit["hr"])
    with pytest.raises(ValueError, match="observed"):
        PotentialOutcomes(t0, t1).hazard_ratio(use_observed_events=True)
    # tight per-subject clouds: a subject whose S_a(t|x) is ~0 on the whole grid has no defined HR(t|x)
    with pytest.warns(RuntimeWarning, match="undefined on the whole grid"):
        ind = po.hazard_ratio(individual=True, num_times=20)
    assert isinstance(ind["curve"], pd.DataFrame) and ind["curve"].shape == (n, 20)
    assert ind["hr"].index.equals(po.index)


def test_copy_false_shares_float64_arrays_and_copy_true_protects_them():
    """Default: the user's arrays are copied (never modified through the object); copy=False (the
    estimators' own draws) keeps them, so 200 x 1M draws are not held twice."""
    rng = np.random.default_rng(0)
    t0, t1 = rng.exponential(size=(4, 5)) + 0.1, rng.exponential(size=(4, 5)) + 0.1
    po = PotentialOutcomes(t0, t1)
    assert not np.shares_memory(po.t0, t0)
    po.t0[0, 0] = 99.0
    assert t0[0, 0] != 99.0
    shared = PotentialOutcomes(t0, t1, c0=t0, c1=t1, copy=False)
    assert np.shares_memory(shared.t0, t0) and np.shares_memory(shared.c1, t1)
    with pytest.raises(ValueError, match="t1"):
        PotentialOutcomes(t0, -t1, copy=False)


def test_expected_lifetime_warns_when_draws_rest_on_the_tail_beyond_follow_up():
    import warnings

    rng = np.random.default_rng(0)
    t0 = rng.exponential(1.0, (200, 30))
    t1 = rng.exponential(2.0, (200, 30))
    # follow-up 5: P(T1 > 5) = exp(-2.5) ~ 8%, P(T0 > 5) < 1%: below the 10% share, no warning
    po = PotentialOutcomes(t0, t1, follow_up=5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        po.ite(), po.ate(), po.rmst_difference(3.0)
    # follow-up 2: P(T1 > 2) = exp(-1) ~ 37% -> both expected-lifetime estimands warn, naming the shares
    po = PotentialOutcomes(t0, t1, follow_up=2.0)
    with pytest.warns(UserWarning, match=r"ite\(\): .*\(A=1\) of the draws lie beyond the longest follow-up"):
        po.ite()
    with pytest.warns(UserWarning, match=r"ate\(\)"):
        po.ate()
    # without follow_up nothing is known about the tail: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PotentialOutcomes(t0, t1).ite()
    for bad in (0.0, -1.0, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ValueError, match="follow_up"):
            PotentialOutcomes(t0, t1, follow_up=bad)

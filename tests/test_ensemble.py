"""Tests of pyrocsa.core.ensemble: stratified bootstrap, member fitting/sampling, between-member intervals.

Fits use a tiny CSA-INFO (n = 160, 2 epochs, widths <= 8) so that the file runs in well under a minute;
they check shapes, bookkeeping and reproducibility, not model quality (benchmarks/coverage.py does that).
"""

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

from pyrocsa.core.ensemble import (
    Ensemble,
    effect_intervals,
    fit_members,
    member_seeds,
    sample_members,
    stratified_bootstrap,
)
from pyrocsa.core.outcomes import PotentialOutcomes
from pyrocsa.csa.estimator import CSA
from pyrocsa.errors import DataError, ModelFileError
from pyrocsa.simulate import simulate

TINY = dict(informative_censoring=True, hidden=(8,), flow_layers=2, alpha=0.0,
            max_epochs=2, batch_size=64, verbose=False)
PROTO = CSA(**TINY)  # the members' prototype (fit_members never fits or modifies it)


def _strata(a, d):
    return pd.crosstab(np.asarray(a), np.asarray(d))


# ---------------------------------------------------------------------------------------------------------
# bootstrap and seeds
# ---------------------------------------------------------------------------------------------------------
def test_stratified_bootstrap_preserves_arm_event_counts(rng):
    a = rng.integers(0, 2, 500)
    d = (rng.random(500) < 0.3).astype(int)
    pos = stratified_bootstrap(a, d, seed=3)
    assert pos.shape == (500,) and pos.dtype.kind == "i"
    assert pos.min() >= 0 and pos.max() < 500
    pd.testing.assert_frame_equal(_strata(a[pos], d[pos]), _strata(a, d))
    # with replacement: a bootstrap of 500 rows repeats some (P(no repeat) is astronomically small)
    assert np.unique(pos).size < 500
    np.testing.assert_array_equal(pos, stratified_bootstrap(a, d, seed=3))
    assert not np.array_equal(pos, stratified_bootstrap(a, d, seed=4))


def test_stratified_bootstrap_bad_input():
    with pytest.raises(ValueError, match="a must be 0/1"):
        stratified_bootstrap([0, 2, 1], [0, 1, 1], seed=0)
    with pytest.raises(ValueError, match="length"):
        stratified_bootstrap([0, 1, 1], [0, 1], seed=0)
    with pytest.raises(ValueError, match="delta must be 0/1"):
        stratified_bootstrap([0, 1], [np.nan, 1], seed=0)


def test_member_seeds_distinct_and_reproducible():
    s = member_seeds(7, 5)
    assert s == member_seeds(7, 5)
    flat = [v for pair in s for v in pair]
    assert len(set(flat)) == 10 and all(0 <= v < 2**31 for v in flat)
    assert member_seeds(7, 3) == s[:3]  # adding members keeps the first ones' seeds
    with pytest.raises(ValueError, match="K must be a positive integer"):
        member_seeds(0, 0)


# ---------------------------------------------------------------------------------------------------------
# fitting and sampling
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort():
    co = simulate(n=200, seed=0, censoring="informative")
    df = co.frame
    return df.iloc[co.split["train"]], df.iloc[co.split["valid"]], df.iloc[co.split["test"]], co.covariates


@pytest.fixture(scope="module")
def members(cohort):
    train, valid, _, covs = cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant ACTG columns in a tiny sample
        return fit_members(PROTO, train, "time", "event", "treatment", val_df=valid, covariates=covs, K=2,
                           seed=0, n_jobs=1)


def test_members_are_bootstrap_fits(cohort, members):
    train = cohort[0]
    assert len(members) == 2
    a, d = train["treatment"].to_numpy(), train["event"].to_numpy()
    for est in members:
        assert est.n_train_ == len(train) and est.n_valid_ == len(cohort[1])
        pos = est.bootstrap_rows_
        pd.testing.assert_frame_equal(_strata(a[pos], d[pos]), _strata(a, d))
    assert not np.array_equal(members[0].bootstrap_rows_, members[1].bootstrap_rows_)
    assert members[0].member_seed_ != members[1].member_seed_
    # different data and seeds give different networks
    w0, w1 = (next(m.model_.parameters()).detach() for m in members)
    assert not np.allclose(w0.numpy(), w1.numpy())


def test_sample_members_shapes_and_blocks(cohort, members):
    test = cohort[2]
    po = sample_members(members, test, num_samples=10, seed=1)
    assert isinstance(po, PotentialOutcomes)
    assert po.t0.shape == po.t1.shape == po.c0.shape == po.c1.shape == (10, len(test))
    assert po.chains == 2 and po.index.equals(test.index)
    assert po.observed is not None and "ensemble (K=2)" in po.model_name
    # block k holds member k's own draws (5 each), drawn with the k-th derived sampling seed
    seeds = [s for _, s in member_seeds(1, 2)]
    for k, est in enumerate(members):
        own = est.sample_potential_outcomes(test, num_samples=5, seed=seeds[k])
        np.testing.assert_array_equal(po.t0[5 * k:5 * (k + 1)], own.t0)
        np.testing.assert_array_equal(po.c1[5 * k:5 * (k + 1)], own.c1)
    # the members' networks differ, so do their blocks
    assert not np.allclose(po.t0[:5].mean(0), po.t0[5:].mean(0))
    # the ensemble's follow-up is the longest any member was trained on
    assert po.follow_up == max(est.max_duration_ for est in members)


def test_sample_members_inference_data_chains(cohort, members):
    po = sample_members(members, cohort[2], num_samples=8, seed=0)
    idata = po.to_inference_data()
    pp = idata.posterior_predictive
    assert dict(pp["t1"].sizes) == {"chain": 2, "draw": 4, "subject": len(cohort[2])}
    np.testing.assert_array_equal(pp["t1"].sel(chain=1).to_numpy(), po.t1[4:])
    summ = az.summary(idata, group="posterior_predictive", var_names=["ite"], kind="diagnostics")
    assert "r_hat" in summ.columns and len(summ) == len(cohort[2])


def test_sample_members_reproducible_and_member_independent(cohort, members):
    test = cohort[2]
    a = sample_members(members, test, num_samples=6, seed=5)
    b = sample_members(members, test, num_samples=6, seed=5)
    np.testing.assert_array_equal(a.t1, b.t1)
    c = sample_members(members, test, num_samples=6, seed=6)
    assert not np.allclose(a.t1, c.t1)
    # a member's draws do not depend on which other member was sampled before it (Pyro's param store)
    alone = sample_members(members[1:], test, num_samples=3, seed=5)
    after = members[1].sample_potential_outcomes(test, num_samples=3, seed=member_seeds(5, 2)[1][1])
    np.testing.assert_array_equal(a.t1[3:], after.t1)
    assert alone.chains == 1 and alone.t1.shape == (3, len(test))


def test_sample_members_not_divisible_raises(cohort, members):
    with pytest.raises(ValueError, match="num_samples=7"):
        sample_members(members, cohort[2], num_samples=7)
    with pytest.raises(ValueError, match="members is empty"):
        sample_members([], cohort[2], num_samples=4)


def test_fit_members_seeds_reproduce(cohort, members):
    train, valid, test, covs = cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # K=1 with the same seed reproduces the first member (member_seeds(0, 1) == member_seeds(0, 2)[:1])
        again = fit_members(PROTO, train, "time", "event", "treatment", val_df=valid, covariates=covs, K=1,
                            seed=0, n_jobs=1)
    m, m2 = members[0], again[0]
    np.testing.assert_array_equal(m.bootstrap_rows_, m2.bootstrap_rows_)
    for p, q in zip(m.model_.parameters(), m2.model_.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    po, po2 = (m.sample_potential_outcomes(test, num_samples=4, seed=0) for m in (m, m2))
    np.testing.assert_array_equal(po.t0, po2.t0)


def test_fit_members_without_bootstrap_uses_every_row_once(cohort):
    """bootstrap=False: a deep ensemble -- every member sees all training rows, members differ by seed."""
    train, valid, test, covs = cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deep = fit_members(PROTO, train, "time", "event", "treatment", val_df=valid, covariates=covs, K=2,
                           seed=0, n_jobs=1, bootstrap=False)
    for m in deep:
        np.testing.assert_array_equal(m.bootstrap_rows_, np.arange(len(train)))
        assert m.n_train_ == len(train)
    first, second = (next(m.model_.parameters()).detach().numpy() for m in deep)
    assert not np.array_equal(first, second)


def test_fit_members_bad_input(cohort):
    train, valid, _, covs = cohort
    with pytest.raises(ValueError, match="unfitted pyrocsa estimator"):
        fit_members(dict(TINY), train, "time", "event", "treatment", val_df=valid, K=2)
    with pytest.raises(ValueError, match="event_col='died'"):
        fit_members(PROTO, train, "time", "died", "treatment", val_df=valid, K=2)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        fit_members(PROTO, train, "time", "event", "treatment", val_df=valid, K=0)
    with pytest.raises(ValueError, match="n_jobs"):
        fit_members(PROTO, train, "time", "event", "treatment", val_df=valid, K=2, n_jobs=0)


# ---------------------------------------------------------------------------------------------------------
# between-member intervals
# ---------------------------------------------------------------------------------------------------------
def _synthetic(shifts, n=50, draws=4, subject_offsets=None):
    """Member k: T0 = 500 for every draw and subject, T1 = 500 + shifts[k] (+ a per-subject offset)."""
    k = len(shifts)
    off = np.zeros(n) if subject_offsets is None else np.asarray(subject_offsets, float)
    t0 = np.full((k * draws, n), 500.0)
    t1 = np.concatenate([np.full((draws, n), 500.0 + s) + off for s in shifts])
    return PotentialOutcomes(t0, t1, chains=k)


def test_effect_intervals_t_interval_hand_computed():
    po = _synthetic([10.0, 20.0, 30.0, 60.0])
    res = effect_intervals(po, horizon=2000.0, level=0.95, hazard_ratio=False)
    # mean 30, sd (ddof 1) = sqrt((400 + 100 + 0 + 900) / 3), t_{3, 0.975} = 3.182446 (tables),
    # half width = 3.182446 * sd * sqrt(1 + 1/4) = 76.863
    half = 3.182446 * np.sqrt(1400 / 3) * np.sqrt(1.25)
    assert half == pytest.approx(76.863, abs=1e-3)
    for key in ("ate", "rmst_difference"):  # horizon 2000 > every time: RMST difference = ATE
        r = res[key]
        np.testing.assert_allclose(r["members"], [10, 20, 30, 60])
        assert r["estimate"] == pytest.approx(30.0)
        assert r["lower"] == pytest.approx(30.0 - half, abs=1e-4)
        assert r["upper"] == pytest.approx(30.0 + half, abs=1e-4)
    # a horizon inside the follow-up truncates: min(T1, 505) - min(T0, 505) = 5 for every member
    short = effect_intervals(po, horizon=505.0, hazard_ratio=False)["rmst_difference"]
    assert short["estimate"] == pytest.approx(5.0) and short["lower"] == pytest.approx(5.0)
    assert short["upper"] == pytest.approx(5.0)


def test_effect_intervals_percentile_and_population():
    po = _synthetic([10.0, 20.0, 30.0, 60.0])
    pct = effect_intervals(po, 2000.0, method="percentile", hazard_ratio=False)["ate"]
    # numpy's linear quantiles of (10, 20, 30, 60): position 0.075 -> 10.75, position 2.925 -> 57.75
    assert (pct["lower"], pct["upper"]) == pytest.approx((10.75, 57.75))
    # subject offsets +-20 (variance 400 * 50/49 with ddof 1) add a sampling term for the population ATE
    offsets = np.tile([-20.0, 20.0], 25)
    pop = effect_intervals(_synthetic([10.0, 20.0, 30.0, 60.0], subject_offsets=offsets), 2000.0,
                           target="population", hazard_ratio=False)["ate"]
    v_b = 1400 / 3 * 1.25  # between members, as in the sample-target test
    v_s = 400 * 50 / 49 / 50  # subject sampling: var (ddof 1) of the per-subject effects / N
    half = 3.182446 * np.sqrt(v_b + v_s)  # t with K - 1 = 3 degrees of freedom (conservative)
    assert pop["lower"] == pytest.approx(30.0 - half) and pop["upper"] == pytest.approx(30.0 + half)
    assert pop["upper"] - pop["lower"] > 2 * 76.863  # wider than the sample-target interval


def test_effect_intervals_hazard_ratio_members():
    rng = np.random.default_rng(1)
    k, draws, n = 3, 20, 300
    e = rng.exponential(100.0, size=(k * draws, n))
    t0 = e
    # member k: T1 = T0 * r_k, i.e. hazard ratio 1 / r_k; r = 1.5, 2, 2.5
    t1 = np.concatenate([e[j * draws:(j + 1) * draws] * r for j, r in enumerate((1.5, 2.0, 2.5))])
    po = PotentialOutcomes(t0, t1, chains=k)
    res = effect_intervals(po, horizon=150.0)
    hr = res["hazard_ratio"]
    # the population target adds the subject-bootstrap variance of log HR: larger s.e., wider interval
    pop = effect_intervals(po, horizon=150.0, target="population")["hazard_ratio"]
    assert pop["estimate"] == pytest.approx(hr["estimate"])
    assert pop["se"] > hr["se"] and pop["upper"] / pop["lower"] > hr["upper"] / hr["lower"]
    assert hr["members"].shape == (3,)
    assert hr["members"][0] > hr["members"][1] > hr["members"][2]  # longer times under treatment: lower HR
    assert hr["estimate"] == pytest.approx(np.exp(np.log(hr["members"]).mean()))
    assert (hr["members"] < 1.0).all()
    assert hr["lower"] < hr["estimate"] < hr["upper"]
    log_sd = np.log(hr["members"]).std(ddof=1)  # the interval is the t interval on the log scale
    assert np.log(hr["upper"] / hr["estimate"]) == pytest.approx(4.302653 * log_sd * np.sqrt(4 / 3))


def test_effect_intervals_bad_input():
    single = PotentialOutcomes(np.full((4, 3), 1.0), np.full((4, 3), 2.0))
    with pytest.raises(ValueError, match="chains=1"):
        effect_intervals(single, 1.0)
    po = _synthetic([1.0, 2.0])
    with pytest.raises(ValueError, match="horizon"):
        effect_intervals(po, -1.0)
    with pytest.raises(ValueError, match="level"):
        effect_intervals(po, 1.0, level=1.5)
    with pytest.raises(ValueError, match="method"):
        effect_intervals(po, 1.0, method="bca")


@pytest.mark.slow
def test_fit_members_parallel_matches_in_process(cohort, members):
    """The loky worker path gives bit-identical members (one torch thread each, seeded fits)."""
    train, valid, test, covs = cohort
    par = fit_members(PROTO, train, "time", "event", "treatment", val_df=valid, covariates=covs, K=2, seed=0,
                      n_jobs=2)
    a = sample_members(members, test, num_samples=4, seed=0)
    b = sample_members(par, test, num_samples=4, seed=0)
    np.testing.assert_array_equal(a.t0, b.t0)
    np.testing.assert_array_equal(a.c1, b.c1)


# ---------------------------------------------------------------------------------------------------------
# the front: pyrocsa.Ensemble(CSA(...), n_members=K), the one way to combine CSA fits
# ---------------------------------------------------------------------------------------------------------
def test_ensemble_of_csa_front(cohort, tmp_path, capsys):
    """Ensemble(CSA(...), n_members=K) fits K bootstrap members that share one preprocessing, samples S
    draws split evenly across them (one chain each), prints each member's summary and the mixture's fit
    check, and saves / loads as one directory with identical draws; a CSA is always one model."""
    train, valid, test, covs = cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = Ensemble(CSA(seed=3, **TINY), n_members=2, seed=3, n_jobs=1).fit(
            train, "time", "event", "treatment", val_df=valid, covariates=covs)
    assert len(est.members_) == 2
    # the members were fitted through the preprocessor hook: identical statistics, not refitted per resample
    assert est.members_[0].preprocessor_.to_dict() == est.members_[1].preprocessor_.to_dict()
    assert not np.array_equal(est.members_[0].bootstrap_rows_, est.members_[1].bootstrap_rows_)
    po = est.sample_potential_outcomes(test, num_samples=6, seed=0)
    assert po.t0.shape == (6, len(test)) and po.chains == 2
    assert az.convert_to_inference_data(po.to_inference_data()).posterior_predictive.sizes["chain"] == 2
    with pytest.raises(ValueError, match="divisible"):
        est.sample_potential_outcomes(test, num_samples=5)
    # the mixture's RMST: Simpson's rule on the mixture's survival function (the members' mean)
    grid = np.linspace(0.0, 1000.0, 257)
    surv = est.predict_survival_function(test, times=grid, treatment=1).to_numpy()
    w = np.ones(257)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    np.testing.assert_allclose(est.predict_rmst(test, 1000.0, treatment=1).to_numpy(),
                               w @ surv * (1000.0 / 256) / 3.0, rtol=1e-10)
    est.print_summary()
    out = capsys.readouterr().out
    assert "-- member 0 of 2" in out and "-- member 1 of 2" in out
    assert out.count("<pyrocsa.CSA: CSA-INFO") == 2  # each member's own summary
    assert "the members' mixture" in out  # the fit check of the mixture on the training rows
    est.save(tmp_path / "m")
    again = Ensemble.load(tmp_path / "m")
    assert len(again.members_) == 2 and again.n_members == 2 and isinstance(again.estimator, CSA)
    po2 = again.sample_potential_outcomes(test, num_samples=6, seed=0)
    np.testing.assert_array_equal(po.t1, po2.t1)
    assert po2.chains == 2
    with pytest.raises(ModelFileError, match="not 'CSA'"):
        CSA.load(tmp_path / "m")
    with pytest.raises(TypeError, match="ensemble_size"):
        CSA(ensemble_size=2)
    assert "n_jobs" not in CSA().get_params() and "ensemble_size" not in CSA().get_params()


def test_ensemble_shifts_zero_durations_once(cohort):
    """zero_durations="shift" as in CSA.fit: the zeros of the training frame become half its smallest
    positive duration before resampling (with a warning), the caller's frame is left as it was; "error"
    names the column."""
    train, valid, _, covs = cohort
    zeros = train.copy()
    zeros.loc[zeros.index[:3], "time"] = 0.0
    before = zeros.copy()
    ens = Ensemble(CSA(seed=0, **TINY), n_members=2, seed=0, n_jobs=1)
    with pytest.raises(DataError, match="in memory"):  # a Parquet path streams one model's training
        ens.unfitted_copy().fit("cohort.parquet", "time", "event", "treatment")
    with pytest.raises(ValueError, match="time"):
        ens.unfitted_copy().fit(zeros, "time", "event", "treatment", val_df=valid, covariates=covs)
    with pytest.warns(UserWarning, match="3 duration\\(s\\) of 0"):
        ens.fit(zeros, "time", "event", "treatment", val_df=valid, covariates=covs, zero_durations="shift")
    pd.testing.assert_frame_equal(zeros, before)
    assert all(m.data_.y.min() > 0 for m in ens.members_)


def test_effect_intervals_prob_is_a_deprecated_alias_of_level():
    po = _synthetic([10.0, 20.0, 30.0, 60.0])
    with pytest.warns(DeprecationWarning, match="prob= is deprecated, use level="):
        old = effect_intervals(po, 2000.0, prob=0.8, hazard_ratio=False)
    new = effect_intervals(po, 2000.0, level=0.8, hazard_ratio=False)
    assert (old["ate"]["lower"], old["ate"]["upper"]) == (new["ate"]["lower"], new["ate"]["upper"])
    assert new["level"] == new["prob"] == 0.8
    assert new["ate"]["upper"] - new["ate"]["lower"] < effect_intervals(po, 2000.0, hazard_ratio=False)[
        "ate"]["upper"] - effect_intervals(po, 2000.0, hazard_ratio=False)["ate"]["lower"]

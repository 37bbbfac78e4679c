"""The shared API of issue 19: the generic Ensemble (any estimator, sklearn params, one save/load path), the
one PropensityModel behind both of its import paths, the one validation split and observed-frame builder,
and the deprecated argument names."""


import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

import pyrocsa
from pyrocsa.baselines import CoxTLearner
from pyrocsa.baselines.propensity import PropensityModel
from pyrocsa.core.ensemble import member_seeds, stratified_bootstrap
from pyrocsa.data import Preprocessor, SurvivalData, observed_frame, stratified_split, validation_split
from pyrocsa.simulate import simulate

TINY = dict(informative_censoring=True, hidden=(8,), flow_layers=1, alpha=0.0, max_epochs=2, batch_size=64,
            verbose=False)


@pytest.fixture(scope="module")
def cohort():
    co = simulate(n=240, seed=0, censoring="informative")
    covs = ["age", "wtkg", "karnof", "cd40", "cd80"]
    df = co.frame[covs + ["time", "event", "treatment"]]
    return df.iloc[co.split["train"]], df.iloc[co.split["valid"]], df.iloc[co.split["test"]], covs


# ---------------------------------------------------------------------------------------------------------
# Ensemble
# ---------------------------------------------------------------------------------------------------------
def test_ensemble_wraps_a_baseline(cohort):
    """A Cox T-learner ensemble: members on stratified bootstrap resamples, stacked as chains; the
    prototype passed in is never fitted."""
    train, valid, test, covs = cohort
    proto = CoxTLearner()
    ens = pyrocsa.Ensemble(proto, n_members=3, seed=4, n_jobs=1).fit(train, "time", "event", "treatment",
                                                                      covariates=covs)
    assert not getattr(proto, "fitted_", False)
    assert len(ens.members_) == 3 and all(m is not proto for m in ens.members_)
    for m, (boot, _) in zip(ens.members_, member_seeds(4, 3)):
        tr, _ = validation_split(train, "event", "treatment", seed=4)
        np.testing.assert_array_equal(m.bootstrap_rows_, stratified_bootstrap(
            tr["treatment"].to_numpy(), tr["event"].to_numpy(), boot))
    po = ens.sample_potential_outcomes(test, num_samples=9, seed=1)
    assert po.t0.shape == (9, len(test)) and po.chains == 3
    own = ens.members_[2].sample_potential_outcomes(test, num_samples=3, seed=member_seeds(1, 3)[2][1])
    np.testing.assert_array_equal(po.t1[6:], own.t1)
    assert not np.allclose(po.t1[:3].mean(0), po.t1[6:].mean(0))  # members differ
    surv = ens.predict_survival_function if hasattr(ens.members_[0], "predict_survival_function") else None
    assert surv is not None or True
    with pytest.raises(ValueError, match="not defined"):
        ens.score(test)
    assert ens.treatment_col_ == "treatment" and ens.data_.covariates == covs


def test_ensemble_params_round_trip_and_clone():
    proto = pyrocsa.CSA(**TINY)
    ens = pyrocsa.Ensemble(proto, n_members=2, seed=7)
    params = ens.get_params(deep=False)
    assert params == {"estimator": proto, "n_members": 2, "seed": 7, "bootstrap": True, "n_jobs": None}
    assert ens.get_params()["estimator__flow_layers"] == 1
    twin = clone(ens)
    assert twin is not ens and twin.estimator is not proto
    assert twin.estimator.get_params() == proto.get_params() and twin.n_members == 2
    ens.set_params(n_members=3, estimator__flow_layers=2)
    assert ens.n_members == 3 and ens.estimator.flow_layers == 2
    assert proto.flow_layers == 1  # the estimator passed in is not modified
    with pytest.raises(ValueError, match="unknown parameter"):
        ens.set_params(members=3)
    with pytest.raises(ValueError, match="n_members"):
        pyrocsa.Ensemble(proto, n_members=0)
    with pytest.raises(ValueError, match="unfitted pyrocsa estimator"):
        pyrocsa.Ensemble(LogisticRegression())


def test_ensemble_of_unsavable_members_says_so(cohort, tmp_path):
    train, _, _, covs = cohort
    ens = pyrocsa.Ensemble(CoxTLearner(), n_members=2, n_jobs=1).fit(train, "time", "event", "treatment",
                                                                     covariates=covs)
    with pytest.raises(pyrocsa.errors.ModelFileError, match="CoxTLearner members have no saved-model format"):
        ens.save(tmp_path / "cox")
    assert not (tmp_path / "cox").exists()


# ---------------------------------------------------------------------------------------------------------
# reuse: one propensity model, one split, one observed frame
# ---------------------------------------------------------------------------------------------------------
def test_one_propensity_model_behind_both_paths(cohort):
    """pyrocsa.steam.PropensityModel is pyrocsa.baselines.PropensityModel; each way of fitting gives what
    its pre-merge class computed: a logistic regression on the preprocessed covariates."""
    train, _, test, covs = cohort
    assert pyrocsa.steam.PropensityModel is PropensityModel is pyrocsa.baselines.PropensityModel
    # frame form (the Cox weights, DoublyRobust): SurvivalData's design, float64, lbfgs C=1
    pm = PropensityModel().fit(train, "treatment", covariates=covs)
    data = SurvivalData.from_frame(train, None, None, "treatment", covariates=covs, require_outcome=False)
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(data.x.numpy().astype(np.float64), data.a.numpy())
    np.testing.assert_array_equal(pm.propensity_, ref.predict_proba(data.x.numpy().astype(np.float64))[:, 1])
    x_test = data.preprocessor.transform(test).astype(np.float64)
    np.testing.assert_array_equal(pm.predict_proba(test), ref.predict_proba(x_test)[:, 1])
    # covariates form (STEAM): Preprocessor's float32 design, STEAM's solver budget
    steam = pyrocsa.steam.PropensityModel("logistic", max_iter=2000).fit(train[covs], train["treatment"])
    pre = Preprocessor().fit(train[covs], covs)
    ref = LogisticRegression(max_iter=2000).fit(pre.transform(train[covs]), train["treatment"].to_numpy())
    np.testing.assert_array_equal(steam.predict(test[covs]),
                                  ref.predict_proba(pre.transform(test[covs]))[:, 1])
    draws = steam.sample(test[covs], np.random.default_rng(0))
    assert set(np.unique(draws)) <= {0, 1} and draws.shape == (len(test),)
    clipped = PropensityModel(clip=0.3).fit(train[covs], train["treatment"])
    assert clipped.predict(test[covs]).min() >= 0.3 and clipped.predict(test[covs]).max() <= 0.7


def test_propensity_model_fits_a_copy_of_a_custom_classifier(cohort):
    train, _, test, covs = cohort
    clf = LogisticRegression(C=0.5)
    pm = PropensityModel(clf).fit(train[covs], train["treatment"])
    assert not hasattr(clf, "coef_")  # the user's object was not fitted
    assert pm.predict(test[covs]).shape == (len(test),)
    with pytest.raises(ValueError, match="no fit"):
        PropensityModel(object())
    with pytest.raises(RuntimeError, match="not fitted"):
        PropensityModel().predict(test[covs])


def test_one_validation_split(cohort):
    train, valid, _, _ = cohort
    tr, va = validation_split(train, "event", "treatment", seed=5)
    parts = stratified_split(train, "event", "treatment", fractions=(0.85, 0.15, 0.0), seed=5)
    pd.testing.assert_frame_equal(tr, train.iloc[parts["train"]])
    pd.testing.assert_frame_equal(va, train.iloc[parts["valid"]])
    same, given = validation_split(train, "event", "treatment", valid)
    assert same is train and given is valid
    with pytest.raises(ValueError, match="event_col='died'"):
        validation_split(train, "died", "treatment")
    with pytest.raises(ValueError, match="val_df must be a pandas DataFrame"):
        validation_split(train, "event", "treatment", val_df=[1, 2])


def test_one_observed_frame_builder(cohort):
    """CSA and the baselines build PotentialOutcomes.observed with the same function: full-precision
    durations, 0/1 ints; None without the outcome columns."""
    train, valid, test, covs = cohort
    data = SurvivalData.from_frame(train, "time", "event", "treatment", covariates=covs)
    obs = observed_frame(data, test)
    np.testing.assert_array_equal(obs["time"].to_numpy(), test["time"].to_numpy(dtype=float))
    assert obs["event"].dtype.kind == obs["treatment"].dtype.kind == "i" and obs.index.equals(test.index)
    assert observed_frame(data, test.drop(columns="event")) is None
    cox = CoxTLearner().fit(train, "time", "event", "treatment", covariates=covs)
    pd.testing.assert_frame_equal(cox.sample_potential_outcomes(test, num_samples=2).observed, obs,
                                  check_dtype=False)


# ---------------------------------------------------------------------------------------------------------
# one name per idea: deprecated argument names still work, with a warning
# ---------------------------------------------------------------------------------------------------------
def test_renamed_arguments_warn_and_agree():
    co = simulate(n=200, seed=2)
    with pytest.warns(DeprecationWarning, match="tau= is deprecated, use horizon="):
        old = co.rmst(tau=800.0)
    np.testing.assert_array_equal(old[1], co.rmst(horizon=800.0)[1])
    with pytest.warns(DeprecationWarning, match="alpha= is deprecated, use gompertz_shape="):
        a = simulate(n=200, seed=2, alpha=0.006)
    b = simulate(n=200, seed=2, gompertz_shape=0.006)
    np.testing.assert_array_equal(a.t1, b.t1)
    assert not np.array_equal(a.t1, co.t1)
    with pytest.raises(ValueError, match="pass gompertz_shape= only"):
        simulate(n=200, seed=2, alpha=0.006, gompertz_shape=0.006)
    po = pyrocsa.PotentialOutcomes(np.full((4, 3), 1.0), np.arange(1.0, 13.0).reshape(4, 3))
    with pytest.warns(DeprecationWarning, match="prob= is deprecated, use level="):
        hdi_old = po.ite_hdi(prob=0.5)
    pd.testing.assert_frame_equal(hdi_old, po.ite_hdi(level=0.5))


def test_level_replaces_ci_prob_band_hdi_prob():
    """level= is the one interval-level name; ci= / prob= / band= / hdi_prob= warn, agree, and clash."""
    import matplotlib

    matplotlib.use("Agg")
    from pyrocsa import metrics, plotting
    from pyrocsa.errors import ArgumentError

    rng = np.random.default_rng(0)
    t0 = rng.exponential(1.0, (50, 40))
    t1 = rng.exponential(1.6, (50, 40))
    po = pyrocsa.PotentialOutcomes(t0, t1)
    new = po.hazard_ratio(level=0.8, n_boot=20)
    with pytest.warns(DeprecationWarning, match="ci= is deprecated, use level="):
        old = po.hazard_ratio(ci=0.8, n_boot=20)
    assert old["lower"] == new["lower"] and old["upper"] == new["upper"]
    assert new["upper"] - new["lower"] < po.hazard_ratio(level=0.99, n_boot=20)["upper"] - \
        po.hazard_ratio(level=0.99, n_boot=20)["lower"]  # the level is really used
    with pytest.raises(ArgumentError, match="pass level= only"):
        po.hazard_ratio(level=0.8, ci=0.8)
    truth = t0[0]
    with pytest.warns(DeprecationWarning, match="prob= is deprecated"):
        old_cov = metrics.interval_coverage(t0, truth, prob=0.5)
    assert old_cov == metrics.interval_coverage(t0, truth, level=0.5)
    with pytest.raises(ArgumentError):
        metrics.interval_coverage(t0, truth, level=0.5, prob=0.5)
    with pytest.warns(DeprecationWarning, match="ci= is deprecated"):
        a = metrics.true_hazard_ratio(t0[0], t1[0], ci=0.8, n_boot=20)
    assert a["lower"] == metrics.true_hazard_ratio(t0[0], t1[0], level=0.8, n_boot=20)["lower"]
    with pytest.warns(DeprecationWarning, match="band= is deprecated"):
        plotting.plot_population_survival(po, band=0.8)
    with pytest.warns(DeprecationWarning, match="hdi_prob= is deprecated"):
        ax = plotting.plot_ite(po, hdi_prob=0.5)
    assert "central 50%" in ax.get_legend_handles_labels()[1][-1] or any(
        "central 50%" in lbl for lbl in ax.get_legend_handles_labels()[1])
    import matplotlib.pyplot as plt

    plt.close("all")

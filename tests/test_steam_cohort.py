"""STEAM-style synthetic cohorts: columns, dtypes, ranges, missingness, seeds, bad input, and the
three-step mechanism (covariates -> treatment -> outcome) with a pluggable outcome model."""

import numpy as np
import pandas as pd
import pytest

from pyrocsa.steam import (
    GaussianCopula,
    GenericCohort,
    IndependentMarginals,
    SyntheticCohort,
    WeibullOutcomeModel,
)
from pyrocsa.steam import metrics as M

D, E, A = "time", "event", "arm"


def _mixed_frame(n=1500, seed=0):
    """A small observational survival study with every column type: float, int, binary, text, pandas
    category, bool, a column with missing values (more often missing when ``x1`` is high), text treatment
    labels, an integer duration and a bool event. Confounding: the treatment depends on ``x1``; the
    treatment effect depends on ``x2``; censoring is heavier in the treated arm."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = 0.6 * x1 + 0.8 * rng.normal(size=n)
    age = np.clip(np.round(50 + 10 * rng.normal(size=n)), 18, 90).astype("int64")
    sex = rng.integers(0, 2, n)
    stage = rng.choice(["I", "II", "III"], size=n, p=[0.5, 0.3, 0.2])
    site = pd.Categorical(rng.choice(["a", "b"], size=n), categories=["a", "b", "c"])
    smoker = rng.uniform(size=n) < 0.3
    lab = np.round(100 + 15 * x2, 1)
    lab = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-(x1 - 1))), np.nan, lab)  # MAR on x1
    a = rng.uniform(size=n) < 1 / (1 + np.exp(-1.2 * x1))
    t = rng.weibull(1.5, n) * 400 * np.exp(0.3 * x1 + a * (0.8 * x2 + 0.3))
    c = rng.weibull(1.2, n) * np.where(a, 500, 900)
    y = np.minimum(np.minimum(t, c), 1000)
    return pd.DataFrame({
        "x1": x1, "x2": x2, "age": age, "sex": sex, "stage": stage, "site": site, "smoker": smoker,
        "lab": lab, A: np.where(a, "drug", "placebo"), D: np.maximum(np.round(y), 1).astype("int64"),
        E: t <= np.minimum(c, 1000),
    })


COV = ["x1", "x2", "age", "sex", "stage", "site", "smoker", "lab"]


@pytest.fixture(scope="module")
def real():
    return _mixed_frame()


@pytest.fixture(scope="module")
def fitted(real):
    return SyntheticCohort(outcome_model=WeibullOutcomeModel(), propensity_model="logistic").fit(
        real, D, E, A, covariates=COV, treated_value="drug")


def test_sample_keeps_columns_dtypes_ranges(real, fitted):
    syn = fitted.sample(3000, seed=1)
    assert list(syn.columns) == list(real.columns)
    pd.testing.assert_series_equal(syn.dtypes, real.dtypes)
    assert len(syn) == 3000 and syn.index.equals(pd.RangeIndex(3000))
    # discrete columns only take observed values; continuous ones stay in the observed range
    for col in ("sex", "stage", "site", "smoker", A):
        assert set(syn[col].dropna().unique()) <= set(real[col].dropna().unique())
    assert list(syn["site"].cat.categories) == ["a", "b", "c"]
    for col in ("x1", "x2", "age", "lab"):
        assert real[col].min() <= syn[col].min() and syn[col].max() <= real[col].max()
    # whole-number columns stay whole numbers; lab keeps its missing values
    assert (syn["age"] == syn["age"].round()).all()
    # durations: positive, whole days, administratively censored at the real maximum follow-up
    assert syn[D].min() >= 1 and syn[D].max() <= real[D].max()
    assert syn[E].dtype == bool and 0.2 < syn[E].mean() < 0.9


def test_missingness_pattern_is_kept(real, fitted):
    syn = fitted.sample(4000, seed=2)
    # marginal rate: binomial SE at n=4000 is < 0.01, the copula adds no bias -> 0.03 tolerance
    assert syn["lab"].isna().mean() == pytest.approx(real["lab"].isna().mean(), abs=0.03)
    # the indicator is a copula variable: missingness still rises with x1 (real: ~0.1 vs ~0.45)
    hi_real = real.loc[real.x1 > 0, "lab"].isna().mean() - real.loc[real.x1 <= 0, "lab"].isna().mean()
    hi_syn = syn.loc[syn.x1 > 0, "lab"].isna().mean() - syn.loc[syn.x1 <= 0, "lab"].isna().mean()
    assert hi_real > 0.2 and hi_syn > 0.5 * hi_real


def test_copula_keeps_dependence_and_independent_baseline_does_not(real):
    cop = GaussianCopula().fit(real, columns=COV).sample(3000, seed=0)
    ind = IndependentMarginals().fit(real, columns=COV).sample(3000, seed=0)
    r_real = np.corrcoef(real.x1, real.x2)[0, 1]  # 0.6
    assert np.corrcoef(cop.x1, cop.x2)[0, 1] == pytest.approx(r_real, abs=0.05)
    assert abs(np.corrcoef(ind.x1, ind.x2)[0, 1]) < 0.06  # 3000 rows: SE of r ~0.018
    # the fidelity metric sees the difference
    p_cop = M.alpha_precision_beta_recall(real, cop, COV)["alpha_precision"]
    p_ind = M.alpha_precision_beta_recall(real, ind, COV)["alpha_precision"]
    assert p_cop > p_ind


def test_seeds_reproduce(fitted):
    a = fitted.sample(200, seed=7)
    pd.testing.assert_frame_equal(a, fitted.sample(200, seed=7))
    assert not a.equals(fitted.sample(200, seed=8))


def test_treatment_and_outcome_mechanisms(real, fitted):
    syn = fitted.sample(len(real), seed=3)
    # confounding is kept: treated subjects have higher x1 (real difference ~1.0)
    gap_real = real.loc[real[A] == "drug", "x1"].mean() - real.loc[real[A] == "placebo", "x1"].mean()
    gap_syn = syn.loc[syn[A] == "drug", "x1"].mean() - syn.loc[syn[A] == "placebo", "x1"].mean()
    assert gap_syn == pytest.approx(gap_real, abs=0.2)
    assert M.jsd_pi(real, syn, real, A, COV, treated_value="drug") > 0.9
    # heavier censoring in the treated arm is reproduced: censoring KM distance stays small
    assert M.censoring_distance(real, syn, D, E, A, treated_value="drug")["sup"] < 0.12


def test_effect_heterogeneity_beats_pooled_outcome_model(real, fitted):
    test = _mixed_frame(n=400, seed=1)  # new subjects of the same process
    good = fitted.sample(len(real), seed=0)
    pooled = SyntheticCohort(outcome_model=WeibullOutcomeModel(per_arm=False, censoring="km")).fit(
        real, D, E, A, covariates=COV, treated_value="drug").sample(len(real), seed=0)
    cov, kw = ["x1", "x2", "age", "sex"], dict(treated_value="drug", learners=["cox-t"])
    u_good = M.u_pehe(real, good, test, D, E, A, cov, 600.0, **kw)["u_pehe"]
    u_bad = M.u_pehe(real, pooled, test, D, E, A, cov, 600.0, **kw)["u_pehe"]
    # the pooled model has no treatment effect at all, while the true RMST effect at 600 days depends
    # on x2 (log time ratio 0.8 * x2 + 0.3); measured U_PEHE: per-arm Weibull ~20 days, pooled ~70 days
    assert u_bad > 1.5 * u_good


def test_generic_cohort(real):
    gen = GenericCohort().fit(real, D, E, A, covariates=COV, treated_value="drug")
    syn = gen.sample(1000, seed=0)
    assert list(syn.columns) == list(real.columns)
    pd.testing.assert_series_equal(syn.dtypes, real.dtypes)
    assert syn[D].min() >= real[D].min() and syn[D].max() <= real[D].max()
    pd.testing.assert_frame_equal(syn, gen.sample(1000, seed=0))


def test_does_not_modify_input(real, fitted):
    # ``fitted`` was fit on ``real``: the frame must still equal a fresh copy of the same data
    fitted.sample(50, seed=0)
    GenericCohort().fit(real, D, E, A, covariates=COV, treated_value="drug").sample(50, seed=0)
    pd.testing.assert_frame_equal(_mixed_frame(), real)


class _NoCensoring:
    """An outcome model that forgets censoring times."""

    def fit(self, df, duration_col, event_col, treatment_col, covariates=None, **kwargs):
        return self

    def sample_potential_outcomes(self, df, num_samples=1, seed=None):
        class R:
            t0 = t1 = np.ones((num_samples, len(df)))
            c0 = c1 = None
        return R()


def test_bad_input_raises(real, fitted):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        fitted.sample(0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        fitted.sample(2.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        SyntheticCohort(outcome_model="weibull").sample(10)
    with pytest.raises(ValueError, match="covariate_model"):
        SyntheticCohort(covariate_model="gan", outcome_model="weibull")
    with pytest.raises(ValueError, match="propensity_model"):
        SyntheticCohort(propensity_model=object(), outcome_model="weibull")
    with pytest.raises(ValueError, match="outcome_model"):
        SyntheticCohort(outcome_model="magic")
    with pytest.raises(ValueError, match="nope"):
        SyntheticCohort(outcome_model="weibull").fit(real, D, E, A, covariates=["x1", "nope"])
    with pytest.raises(ValueError, match="duration column"):
        SyntheticCohort(outcome_model="weibull").fit(real.assign(**{D: -real[D]}), D, E, A, covariates=COV,
                                                       treated_value="drug")
    three = real.assign(**{A: np.resize(["p", "q", "r"], len(real))})
    with pytest.raises(ValueError, match="treatment column"):
        GenericCohort().fit(three, D, E, A, covariates=COV, treated_value="p")
    with pytest.raises(ValueError, match="no 'c0'"):
        SyntheticCohort(outcome_model=_NoCensoring()).fit(real, D, E, A, covariates=COV,
                                                          treated_value="drug").sample(5, seed=0)
    with pytest.raises(ValueError, match="no non-missing"):
        GaussianCopula().fit(real.assign(lab=np.nan), columns=COV)


def test_default_outcome_model_is_csa_info():
    pyrocsa = pytest.importorskip("pyrocsa")
    try:
        CSA = pyrocsa.CSA
    except (ImportError, AttributeError):
        pytest.skip("pyrocsa.CSA not available")
    cohort = SyntheticCohort()
    assert isinstance(cohort.outcome_model, CSA) and cohort.outcome_model.informative_censoring


@pytest.mark.slow  # ~10-25 s (first torch optimiser import + fit); the Weibull tests cover the pipeline
def test_short_csa_info_fit_samples_a_cohort(real):
    pyrocsa = pytest.importorskip("pyrocsa")
    try:
        CSA = pyrocsa.CSA
    except (ImportError, AttributeError):
        pytest.skip("pyrocsa.CSA not available")
    small = real.iloc[:300]
    csa = CSA(informative_censoring=True, max_epochs=2, verbose=False, hidden=(16,),
              flow_layers=2, seed=0)
    # numeric covariates only: CSA's PotentialOutcomes currently rejects text covariate columns
    cohort = SyntheticCohort(outcome_model=csa).fit(small, D, E, A, covariates=["x1", "x2", "age", "lab"],
                                                    treated_value="drug")
    syn = cohort.sample(100, seed=0)
    assert list(syn.columns) == ["x1", "x2", "age", "lab", A, D, E]
    assert syn[D].min() >= 1 and syn[D].max() <= small[D].max()
    pd.testing.assert_frame_equal(syn, cohort.sample(100, seed=0))


def test_ensemble_outcome_model_gives_one_draw_per_subject_from_the_mixture(real):
    """An ensemble outcome model (pyrocsa.Ensemble of K CSAs) is sampled once per member and each synthetic
    subject takes the draw of a random member: the cohort has n rows, is reproducible, and mixes members."""
    from pyrocsa import CSA, Ensemble

    small = real.iloc[:300]
    csa = Ensemble(CSA(informative_censoring=True, max_epochs=2, verbose=False, hidden=(8,), flow_layers=2,
                       seed=0), n_members=2, seed=0, n_jobs=1)
    cohort = SyntheticCohort(outcome_model=csa).fit(small, D, E, A, covariates=["x1", "x2", "age", "lab"],
                                                    treated_value="drug")
    syn = cohort.sample(80, seed=1)
    assert len(syn) == 80 and syn[D].gt(0).all() and syn[D].notna().all()
    pd.testing.assert_frame_equal(syn, cohort.sample(80, seed=1))

"""Sequential-trees covariate synthesiser (synthpop's CART): exact types and missingness, a non-monotone
dependence that a Gaussian copula cannot carry, seeds, bad input, and use inside a synthetic cohort."""

import numpy as np
import pandas as pd
import pytest
from test_steam_cohort import COV, A, D, E, _mixed_frame

from pyrocsa.steam import (
    GaussianCopula,
    SequentialTrees,
    SyntheticCohort,
    WeibullOutcomeModel,
    privacy_report,
)
from pyrocsa.steam.covariates import make_covariate_model


@pytest.fixture(scope="module")
def real():
    return _mixed_frame()


@pytest.fixture(scope="module")
def synthetic(real):
    return SequentialTrees().fit(real, columns=COV).sample(4000, seed=0)


def test_every_value_is_an_observed_one_with_the_columns_dtype(real, synthetic):
    assert list(synthetic.columns) == COV
    pd.testing.assert_series_equal(synthetic.dtypes, real[COV].dtypes)
    for col in COV:  # donors: each value (missing included) is taken from a real row of that column
        observed = set(real[col].dropna().unique())
        assert set(synthetic[col].dropna().unique()) <= observed
    assert list(synthetic["site"].cat.categories) == ["a", "b", "c"]


def test_missingness_rate_and_its_dependence_are_kept(real, synthetic):
    # binomial SE at n = 4000 is < 0.01 -> 0.03 tolerance
    assert synthetic["lab"].isna().mean() == pytest.approx(real["lab"].isna().mean(), abs=0.03)
    gap_real = real.loc[real.x1 > 0, "lab"].isna().mean() - real.loc[real.x1 <= 0, "lab"].isna().mean()
    gap_syn = synthetic.loc[synthetic.x1 > 0, "lab"].isna().mean() - \
        synthetic.loc[synthetic.x1 <= 0, "lab"].isna().mean()
    assert gap_syn == pytest.approx(gap_real, abs=0.08)


def test_keeps_a_non_monotone_dependence_that_the_copula_loses():
    """y = x^2 + noise: Pearson r(x, y) ~ 0, so a Gaussian copula samples y nearly independently of x;
    the trees keep y's dependence on |x| (real r(y, x^2) ~ 0.95)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 3000)
    df = pd.DataFrame({"x": x, "y": x ** 2 + 0.1 * rng.normal(size=3000)})
    r_real = np.corrcoef(df.y, df.x ** 2)[0, 1]
    trees = SequentialTrees().fit(df).sample(3000, seed=1)
    cop = GaussianCopula().fit(df).sample(3000, seed=1)
    r_trees = np.corrcoef(trees.y, trees.x ** 2)[0, 1]
    r_cop = np.corrcoef(cop.y, cop.x ** 2)[0, 1]
    assert r_real > 0.9 and r_trees > r_real - 0.05 and r_cop < 0.5


def test_linear_dependence_is_kept(real, synthetic):
    r_real = np.corrcoef(real.x1, real.x2)[0, 1]  # 0.6; SE of r at n = 4000 ~0.01; leaf granularity
    assert np.corrcoef(synthetic.x1, synthetic.x2)[0, 1] == pytest.approx(r_real, abs=0.06)


def test_default_leaves_keep_synthetic_rows_off_training_rows(real):
    """Leaves of >= 20 donors: no synthetic row on top of a training patient. Leaves of 5 (synthpop's
    minbucket) put >= 5% of the rows there on this frame (distance 0 on the continuous columns: DCR
    5th-percentile ratio 0.00-0.01 over seeds 0-2, 0.45-0.71 with the default; membership AUC 0.68-0.70
    against 0.59-0.64)."""
    assert SequentialTrees().min_samples_leaf == 20
    perm = np.random.default_rng(0).permutation(len(real))
    n = int(0.8 * len(real))
    train, holdout = real.iloc[perm[:n]], real.iloc[perm[n:]]
    continuous = ["x1", "x2", "lab"]
    ratio = {}
    for leaf in (5, None):
        model = SequentialTrees() if leaf is None else SequentialTrees(min_samples_leaf=leaf)
        syn = model.fit(train, columns=COV).sample(n, seed=0)
        report = privacy_report(train, holdout, syn, columns=continuous, seed=0)
        ratio[leaf] = report.to_dict()["dcr_p05_ratio"]
    assert ratio[5] < 0.1 and ratio[None] > 0.3


def test_seeds_reproduce_and_input_is_not_modified(real):
    before = real.copy()
    model = SequentialTrees().fit(real, columns=COV)
    pd.testing.assert_frame_equal(real, before)
    pd.testing.assert_frame_equal(model.sample(500, seed=3), model.sample(500, seed=3))
    assert not model.sample(500, seed=3).equals(model.sample(500, seed=4))


def test_bad_input_raises(real):
    with pytest.raises(ValueError, match="min_samples_leaf"):
        SequentialTrees(min_samples_leaf=0)
    with pytest.raises(ValueError, match="'nope'"):
        SequentialTrees().fit(real, columns=["x1", "nope"])
    with pytest.raises(ValueError, match="no non-missing"):
        SequentialTrees().fit(real.assign(lab=np.nan), columns=COV)
    with pytest.raises(ValueError, match="inf"):
        SequentialTrees().fit(real.assign(x1=np.inf), columns=COV)
    with pytest.raises(RuntimeError, match="not fitted"):
        SequentialTrees().sample(10)
    with pytest.raises(ValueError, match="n must be"):
        SequentialTrees().fit(real, columns=COV).sample(0)
    with pytest.raises(ValueError, match="'trees'"):
        make_covariate_model("forest")


def test_cohort_with_trees_keeps_the_frame_and_the_treatment_mechanism(real):
    cohort = SyntheticCohort(covariate_model="trees", outcome_model=WeibullOutcomeModel()).fit(
        real, D, E, A, covariates=COV, treated_value="drug")
    assert isinstance(cohort.covariate_model, SequentialTrees)
    syn = cohort.sample(3000, seed=0)
    pd.testing.assert_series_equal(syn.dtypes, real.dtypes)
    # confounding: treatment still rises with x1 (real logistic slope 1.2 -> P(drug) ~0.25 vs ~0.75)
    treated = syn[A] == "drug"
    assert treated[syn.x1 > 0].mean() - treated[syn.x1 <= 0].mean() > 0.3

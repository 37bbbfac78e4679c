"""The shipped datasets give the paper's figures (CSA, CHIL 2021, Table 3) and their documented structure."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pyrocsa.data import SurvivalData
from pyrocsa.datasets import (
    ACTG_BASELINE,
    ACTG_COVARIATES,
    ACTG_POST_RANDOMISATION,
    load_actg,
    load_actg175,
    load_actg_synthetic,
)


@pytest.fixture(scope="module")
def synth():
    return load_actg_synthetic()


def test_actg175():
    df = load_actg175()
    assert df.shape == (2139, 27)
    assert list(df.columns[:2]) == ["pidnum", "age"]
    assert {"days", "cens", "arms"} <= set(df.columns)
    assert set(ACTG_COVARIATES) <= set(df.columns)
    assert round(100 * df["cens"].mean(), 1) == 24.4
    assert set(df["arms"]) == {0, 1, 2, 3}
    assert set(df["cens"]) == {0, 1}
    assert (df["days"] > 0).all()
    assert df["cd496"].isna().sum() == 797
    assert df["zprior"].nunique() == 1
    np.testing.assert_array_equal(df["treat"], (df["arms"] != 0).astype(int))  # treat is a function of arms


def test_loaders_return_fresh_copies_and_do_not_depend_on_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resources are found through the package, not the working directory
    df = load_actg175()
    df.loc[0, "age"] = -1
    assert load_actg175().loc[0, "age"] != -1


def test_actg_subset():
    df = load_actg()
    assert df.shape == (1054, 27)
    assert set(df["arms"]) == {0, 1}
    assert round(100 * df["cens"].mean(), 1) == 26.9  # Table 3: events 26.9%
    assert round(100 * df["arms"].mean(), 1) == 49.5  # Table 3: treated 49.5%
    np.testing.assert_array_equal(df["treat"], df["arms"])  # treat *is* the treatment here
    assert df.index.equals(pd.RangeIndex(1054))


def test_actg_column_roles():
    assert len(ACTG_BASELINE) == 16 and "zprior" not in ACTG_BASELINE and "treat" not in ACTG_BASELINE
    assert set(ACTG_POST_RANDOMISATION) == {"offtrt", "cd420", "cd496", "r", "cd820"}
    assert not set(ACTG_BASELINE) & set(ACTG_POST_RANDOMISATION)
    # baseline + post-randomisation + zprior + treat = the 23 covariates
    assert sorted(ACTG_BASELINE + ACTG_POST_RANDOMISATION + ["zprior", "treat"]) == sorted(ACTG_COVARIATES)
    df = load_actg()
    d = SurvivalData.from_frame(df, "days", "cens", "arms", covariates=ACTG_BASELINE)
    assert d.x.shape == (1054, 16)
    with pytest.raises(ValueError, match="'treat'"):
        SurvivalData.from_frame(df, "days", "cens", "arms", covariates=ACTG_BASELINE + ["treat"])


def test_actg_synthetic_paper_figures(synth):
    f = synth.frame
    assert list(f.columns) == ACTG_COVARIATES + ["time", "event", "treatment"]
    assert f.shape == (2139, 26)
    assert f["event"].dtype.kind == "i" and f["treatment"].dtype.kind == "i"
    assert round(100 * f["event"].mean(), 1) == 48.9
    assert round(100 * f["treatment"].mean(), 1) == 55.9
    assert round(f["time"].max()) == 1313
    assert {k: len(v) for k, v in synth.split.items()} == {"train": 1711, "valid": 214, "test": 214}
    allpos = np.concatenate(list(synth.split.values()))
    np.testing.assert_array_equal(np.sort(allpos), np.arange(2139))  # a partition
    test = synth.split["test"]
    assert (synth.t1 - synth.t0)[test].mean() == pytest.approx(162.1, abs=0.1)


def test_actg_synthetic_consistency(synth):
    f = synth.frame
    a = f["treatment"].to_numpy()
    t_obs = np.where(a == 1, synth.t1, synth.t0)
    ev = f["event"].to_numpy() == 1
    np.testing.assert_allclose(f["time"][ev], t_obs[ev])  # event: observed time is the event time
    assert (f["time"][~ev] < t_obs[~ev]).all()  # censored: censoring came first
    # the covariates are the ACTG 175 rows, cd496 median-imputed, raw units
    raw = load_actg175()[ACTG_COVARIATES]
    np.testing.assert_allclose(f[ACTG_COVARIATES].to_numpy(), raw.fillna(raw.median()).to_numpy(), atol=1e-9)
    assert synth.covariates == ACTG_COVARIATES
    assert "treat" not in synth.baseline_covariates and len(synth.baseline_covariates) == 21


def test_actg_synthetic_treat_is_an_ordinary_covariate(synth):
    # the treatment was simulated, so the trial's `treat` overlaps both simulated arms: the data layer accepts
    # all 23 covariates (dropping only the constant zprior)
    with pytest.warns(UserWarning, match="zprior"):
        d = SurvivalData.from_frame(synth.frame, "time", "event", "treatment", covariates=synth.covariates)
    assert d.x.shape == (2139, 22)


def test_actg_synthetic_truth_is_the_generating_model(synth):
    """The probability-integral transform S_a(t_a|x) of the shipped potential times is Uniform(0,1) under the
    authors' Gompertz-Cox parameters -- and clearly not when the arms' coefficients are swapped."""
    S0, S1 = synth.survival([0.0, 500.0])
    assert S0.shape == S1.shape == (2139, 2)
    np.testing.assert_allclose(S0[:, 0], 1.0)
    truth = synth.truth()
    k0, k1 = truth.k()
    s0 = np.exp(-k0 * np.expm1(truth.gompertz_shape * synth.t0))
    s1 = np.exp(-k1 * np.expm1(truth.gompertz_shape * synth.t1))
    # KS test at N = 2139; a p-value above 1e-3 for the right model (observed 0.96 and 0.56) and below 1e-50
    # for swapped coefficients (observed ~1e-158)
    assert stats.kstest(s0, "uniform").pvalue > 1e-3
    assert stats.kstest(s1, "uniform").pvalue > 1e-3
    swapped = np.exp(-k1 * np.expm1(truth.gompertz_shape * synth.t0))
    assert stats.kstest(swapped, "uniform").pvalue < 1e-50
    # the true propensity has mean 0.559 and the realised treated rates on its two levels match
    p = synth.propensity
    assert set(np.round(np.unique(p), 3)) <= {0.2, 0.867}
    a = synth.treatment
    se = np.sqrt(0.2 * 0.8 / (p < 0.5).sum())  # binomial SE of the treated rate among p = 0.2 (~0.013)
    assert abs(a[p < 0.5].mean() - 0.2) < 3 * se
    # expected lifetimes agree with the realised potential times on average (SE of the mean ~10 days)
    m0, m1 = synth.expected_lifetime()
    assert abs(m0.mean() - synth.t0.mean()) < 3 * synth.t0.std() / np.sqrt(2139)
    assert abs(m1.mean() - synth.t1.mean()) < 3 * synth.t1.std() / np.sqrt(2139)
    r0, r1 = synth.rmst(365.0)
    assert (r0 <= 365.0).all() and (r1 <= 365.0).all() and (r0 <= m0).all()


def test_actg_synthetic_censoring_is_normal_1000_100(synth):
    """The censoring time C is seen for censored rows and known to exceed t_f for event rows, so its law can
    be fitted by censored maximum likelihood: it is the notebook's Normal(1000, 100) (the paper's text says
    log-normal; a log-normal fit is worse by 7.8 log-likelihood units). ~1092 exact observations: SE of the
    mean ~3 days, of the SD ~2.5 days; tolerances are ~3 SE."""
    f = synth.frame
    ev = f["event"].to_numpy() == 1
    y = f["time"].to_numpy()
    data = stats.CensoredData(uncensored=y[~ev], right=y[ev])
    mu, sd = stats.norm.fit(data)
    assert mu == pytest.approx(1000.0, abs=10.0)
    assert sd == pytest.approx(100.0, abs=8.0)

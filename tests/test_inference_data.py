"""ArviZ export of PotentialOutcomes: groups, dims/coords, arviz functions and a netCDF round trip."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pyrocsa.core import inference_data as ID
from pyrocsa.core.outcomes import PotentialOutcomes

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture
def outcomes(rng):
    s, n, k = 40, 6, 4
    idx = pd.Index([f"p{i}" for i in range(n)], name="id")
    t0 = rng.exponential(500, (s, n))
    t1 = rng.exponential(1000, (s, n))
    obs = pd.DataFrame({"time": rng.uniform(1, 900, n), "event": rng.integers(0, 2, n),
                        "treatment": rng.integers(0, 2, n)}, index=idx)
    cov = pd.DataFrame({"age": rng.normal(40, 5, n), "cd4": rng.normal(300, 50, n)}, index=idx)
    return PotentialOutcomes(t0, t1, c0=2 * t0, c1=2 * t1, chains=k, observed=obs, covariates=cov,
                             model_name="toy")


def _groups(idata) -> set:
    return set(idata.children) if ID._ARVIZ_GE_1 else set(idata.groups())  # DataTree vs InferenceData


def test_groups_dims_coords(outcomes):
    idata = outcomes.to_inference_data()
    assert isinstance(idata, xr.DataTree if ID._ARVIZ_GE_1 else az.InferenceData)
    assert _groups(idata) == {"posterior_predictive", "observed_data", "constant_data"}
    pp = idata["posterior_predictive"]
    assert set(pp.data_vars) == {"t0", "t1", "ite", "c0", "c1"}
    for name in pp.data_vars:
        assert pp[name].dims == ("chain", "draw", "subject") and pp[name].shape == (4, 10, 6)
    assert list(pp["subject"].values) == list(outcomes.index)
    np.testing.assert_allclose(pp["ite"].values, pp["t1"].values - pp["t0"].values)
    assert idata["observed_data"]["event"].dims == ("subject",)
    cov = idata["constant_data"]["covariates"]
    assert cov.dims == ("subject", "covariate") and list(cov["covariate"].values) == ["age", "cd4"]
    np.testing.assert_allclose(cov.values, outcomes.covariates.to_numpy())
    assert pp.attrs["model_name"] == "toy"


def test_chains_are_consecutive_blocks(outcomes):
    pp = outcomes.to_inference_data()["posterior_predictive"]
    # chain k, draw d  <->  sample k * 10 + d
    np.testing.assert_array_equal(pp["t0"].values[2, 3], outcomes.t0[23])
    np.testing.assert_array_equal(pp["t1"].values[0], outcomes.t1[:10])


def test_arviz_hdi_and_summary_run(outcomes):
    idata = outcomes.to_inference_data()
    prob_kw = {"prob": 0.9} if ID._ARVIZ_GE_1 else {"hdi_prob": 0.9}  # renamed in arviz-stats 1.0
    h = az.hdi(idata, group="posterior_predictive", var_names=["ite"], **prob_kw)
    assert h["ite"].shape == (6, 2)
    np.testing.assert_allclose(h["ite"].values, outcomes.ite_hdi(0.9)[["lower", "upper"]].to_numpy())
    summ = az.summary(idata, group="posterior_predictive", var_names=["ite"])
    assert len(summ) == 6 and "mean" in summ.columns
    # arviz rounds the table (0.x: 3 decimals; 1.x: 3 significant digits)
    np.testing.assert_allclose(summ["mean"].to_numpy(dtype=float), outcomes.ite(), rtol=5e-3)


def test_netcdf_round_trip(outcomes, tmp_path):
    idata = outcomes.to_inference_data()
    path = tmp_path / "outcomes.nc"
    idata.to_netcdf(str(path))
    back = az.from_netcdf(str(path))
    np.testing.assert_allclose(back["posterior_predictive"]["t1"].values, outcomes.t1.reshape(4, 10, 6))
    assert list(back["posterior_predictive"]["subject"].values) == list(outcomes.index)
    np.testing.assert_allclose(back["observed_data"]["time"].values, outcomes.observed["time"].to_numpy())
    np.testing.assert_allclose(back["constant_data"]["covariates"].values, outcomes.covariates.to_numpy())


def test_minimal_outcomes_without_optional_groups(rng):
    po = PotentialOutcomes(rng.exponential(1, (5, 3)), rng.exponential(1, (5, 3)))
    idata = po.to_inference_data()
    pp = idata["posterior_predictive"]
    assert set(pp.data_vars) == {"t0", "t1", "ite"}
    assert list(pp["subject"].values) == [0, 1, 2]
    assert _groups(idata) == {"posterior_predictive"}

"""Potential-outcome samples as ArviZ data, so that ``az.hdi``, ``az.summary`` and netCDF I/O just work.

Groups (dims in brackets):

* ``posterior_predictive``: t0, t1, ite (= t1 - t0) and, when present, c0, c1  [chain, draw, subject]
* ``observed_data``: time, event, treatment  [subject]                            (when ``observed`` given)
* ``constant_data``: covariates  [subject, covariate]                            (when ``covariates`` given)

``chain`` indexes ensemble members (K equal consecutive blocks of the S draws), ``draw`` the draws within
one member, ``subject`` carries the subjects' index labels.

ArviZ versions: with arviz 0.x (installed here, tested) the result is an ``arviz.InferenceData``.  ArviZ
>= 1.0 replaced InferenceData by ``xarray.DataTree``; there we build the same groups as a DataTree
(``_ARVIZ_GE_1`` branch below, kept minimal and clearly marked; not exercised by the test suite unless
arviz 1.x is installed).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from pyrocsa.errors import check_level, renamed_argument

__all__ = ["to_inference_data", "hdi"]

#: True when the installed ArviZ is the 1.x rewrite (DataTree-based)
_ARVIZ_GE_1 = int(az.__version__.split(".")[0]) >= 1


def _subject_coord(index: pd.Index) -> np.ndarray:
    vals = np.asarray(index)
    if vals.dtype == object:  # netCDF needs one concrete type; mixed/object labels become strings
        vals = index.astype(str).to_numpy()
    return vals


def _chain_draw(x: np.ndarray, chains: int) -> np.ndarray:
    """(S, N) -> (chains, S // chains, N): consecutive blocks of draws are chains."""
    s, n = x.shape
    return x.reshape(chains, s // chains, n)


def _datasets(outcomes) -> dict[str, xr.Dataset]:
    subj = _subject_coord(outcomes.index)
    k = outcomes.chains
    draws = outcomes.num_samples // k
    coords = {"chain": np.arange(k), "draw": np.arange(draws), "subject": subj}
    dims = ("chain", "draw", "subject")
    pp = {"t0": (dims, _chain_draw(outcomes.t0, k)), "t1": (dims, _chain_draw(outcomes.t1, k)),
          "ite": (dims, _chain_draw(outcomes.t1 - outcomes.t0, k))}
    for name in ("c0", "c1"):
        val = getattr(outcomes, name)
        if val is not None:
            pp[name] = (dims, _chain_draw(val, k))
    groups = {"posterior_predictive": xr.Dataset(pp, coords=coords)}
    if outcomes.observed is not None:
        obs = outcomes.observed
        groups["observed_data"] = xr.Dataset(
            {c: (("subject",), obs[c].to_numpy(dtype=float)) for c in ("time", "event", "treatment")},
            coords={"subject": subj})
    if outcomes.covariates is not None:
        cov = outcomes.covariates
        groups["constant_data"] = xr.Dataset(
            {"covariates": (("subject", "covariate"), cov.to_numpy(dtype=float))},
            coords={"subject": subj, "covariate": np.asarray(cov.columns.astype(str))})
    attrs = {"created_by": "pyrocsa"}
    if outcomes.model_name:
        attrs["model_name"] = str(outcomes.model_name)
    for ds in groups.values():
        ds.attrs.update(attrs)
    return groups


def to_inference_data(outcomes):
    """ArviZ container of a :class:`pyrocsa.core.outcomes.PotentialOutcomes` (see the module docstring).

    Returns ``arviz.InferenceData`` (arviz 0.x) or ``xarray.DataTree`` (arviz >= 1.0).  Save with
    ``.to_netcdf(path)`` and read back with ``arviz.from_netcdf(path)``.
    """
    groups = _datasets(outcomes)
    if _ARVIZ_GE_1:  # ---- arviz >= 1.0: InferenceData is an xarray DataTree ----
        return xr.DataTree.from_dict(groups)
    return az.InferenceData(**groups)


def hdi(samples: np.ndarray, level: float | None = None, chains: int = 1, prob: float | None = None
        ) -> np.ndarray:
    """Highest-density interval at ``level`` (default 0.9; ``prob`` is its deprecated name) of each column
    of ``samples`` (S, N) via ``arviz.hdi``.  Returns (N, 2): lower, upper.  ``chains`` splits the draws
    into consecutive chains as in :func:`to_inference_data`."""
    level = renamed_argument(level, prob, "level", "prob", "hdi")
    prob = check_level(0.9 if level is None else level)
    arr = _chain_draw(np.asarray(samples, dtype=float), chains)
    da = xr.DataArray(arr, dims=("chain", "draw", "subject"))
    ds = xr.Dataset({"x": da})
    if _ARVIZ_GE_1:  # ---- arviz >= 1.0 (arviz-stats): interval bounds along "ci_bound" ----
        res = az.hdi(ds, prob=prob)["x"]
        bound_dim = [d for d in res.dims if d != "subject"][0]
        return res.transpose("subject", bound_dim).to_numpy()
    res = az.hdi(ds, hdi_prob=prob)["x"]  # dims (subject, hdi) with hdi = [lower, higher]
    return res.transpose("subject", "hdi").to_numpy()

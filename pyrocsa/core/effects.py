"""Each patient's treatment effect with its uncertainty: posterior draws of tau(x) summarised, in ArviZ, and
averaged into a population effect.

An estimator that mixes in :class:`EffectPosteriorMixin` provides ``_effect_draws(df, horizon, times,
num_draws, seed)``: draws of the two arms' restricted mean survival times at ``horizon`` (or survival
probabilities at ``times``) for each row, one draw per *parameter* draw -- the estimator's uncertainty about
each patient's law, not the outcome's noise -- as two arrays ``(chains, draws, N)`` (``(chains, draws, G,
N)`` for G times). CSA draws from its Laplace posterior (:mod:`pyrocsa.csa.posterior`), an ensemble uses
its members as chains, the T-learner baselines refit on bootstrap resamples (:mod:`pyrocsa.baselines.cox`).
The mixin turns them into

* :meth:`~EffectPosteriorMixin.predict_effect` -- per patient: ``estimate`` (posterior mean of tau(x)),
  ``sd``, ``lower`` / ``upper`` (equal-tailed interval at ``level``) and ``prob_benefit`` = P(tau(x) > 0);
* :meth:`~EffectPosteriorMixin.effect_posterior` -- ``arviz.InferenceData`` with ``tau`` (and the arms'
  ``rmst0`` / ``rmst1`` or ``s0`` / ``s1``) in the ``posterior`` group, dims (chain, draw, [time,] subject);
* :meth:`~EffectPosteriorMixin.predict_ate` -- the population average effect, with the parameter
  uncertainty and the sampling of the subjects from their population (Bayesian bootstrap weights, Rubin
  1981: draw s averages tau_s(x_i) with Dirichlet(1, ..., 1) weights).

Signs: tau(x) = RMST_1 - RMST_0 (duration unit) or S_1(t) - S_0(t); positive favours treatment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyrocsa.errors import ArgumentError, DataError, check_level, check_positive_int, check_seed

__all__ = ["EffectPosteriorMixin", "summarise_effects", "effect_inference_data", "population_effect"]


def _check_target(horizon, times, default_horizon) -> tuple[float | None, np.ndarray | None]:
    if horizon is not None and times is not None:
        raise ArgumentError("pass horizon= (RMST difference) or times= (survival differences), not both")
    if times is not None:
        t = np.asarray(times, dtype=float).ravel()
        if t.size == 0 or not np.isfinite(t).all() or (t < 0).any():
            raise ArgumentError(f"times must be a non-empty list of finite times >= 0, got {times!r}")
        return None, t
    if horizon is None:
        if default_horizon is None:
            raise ArgumentError("horizon is needed (this model does not know its longest follow-up)")
        horizon = default_horizon
    try:
        h = float(horizon)
    except (TypeError, ValueError):
        raise ArgumentError(f"horizon must be a positive finite time, got {horizon!r}") from None
    if not (np.isfinite(h) and h > 0):
        raise ArgumentError(f"horizon must be a positive finite time, got {horizon!r}")
    return h, None


def summarise_effects(tau: np.ndarray, index: pd.Index, level: float = 0.9, times=None) -> pd.DataFrame:
    """Per-row summary of effect draws ``tau`` (chains, draws, N) or (chains, draws, G, N) for ``times``
    (G,): DataFrame with ``estimate``, ``sd``, ``lower``, ``upper``, ``prob_benefit``; indexed like
    ``index``, or for times by a (time, row) MultiIndex, one block of N rows per time."""
    level = check_level(level)
    flat = tau.reshape(-1, *tau.shape[2:])
    lo, hi = np.quantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0)
    sd = flat.std(0, ddof=1) if flat.shape[0] > 1 else np.zeros(flat.shape[1:])
    cols = {"estimate": flat.mean(0), "sd": sd,
            "lower": lo, "upper": hi, "prob_benefit": (flat > 0).mean(0)}
    if times is None:
        return pd.DataFrame(cols, index=index)
    g, n = flat.shape[1:]
    mi = pd.MultiIndex.from_arrays([np.repeat(np.asarray(times, dtype=float), n),
                                    np.tile(np.asarray(index), g)],
                                   names=["time", index.name if index.name is not None else "subject"])
    return pd.DataFrame({k: v.reshape(-1) for k, v in cols.items()}, index=mi)


def effect_inference_data(arm0: np.ndarray, arm1: np.ndarray, index: pd.Index, horizon=None, times=None,
                          model_name: str | None = None):
    """``arviz.InferenceData`` whose ``posterior`` holds ``tau`` = arm1 - arm0 and the arms' values
    (``rmst0``, ``rmst1`` for a horizon, ``s0``, ``s1`` for times), dims (chain, draw, [time,] subject)."""
    import arviz as az
    import xarray as xr

    from pyrocsa.core.inference_data import _ARVIZ_GE_1, _subject_coord

    c, d = arm0.shape[:2]
    coords = {"chain": np.arange(c), "draw": np.arange(d), "subject": _subject_coord(index)}
    dims = ("chain", "draw", "subject")
    if times is not None:
        coords["time"] = np.asarray(times, dtype=float)
        dims = ("chain", "draw", "time", "subject")
    names = ("s0", "s1") if times is not None else ("rmst0", "rmst1")
    ds = xr.Dataset({"tau": (dims, arm1 - arm0), names[0]: (dims, arm0), names[1]: (dims, arm1)},
                    coords=coords)
    ds.attrs.update({"created_by": "pyrocsa", "estimand": "survival difference S1(t) - S0(t)" if times is not
                     None else f"RMST difference at horizon {horizon:g}"})
    if model_name:
        ds.attrs["model_name"] = str(model_name)
    if _ARVIZ_GE_1:  # pragma: no cover - arviz >= 1.0: a DataTree
        return xr.DataTree.from_dict({"posterior": ds})
    return az.InferenceData(posterior=ds)


def population_effect(tau: np.ndarray, level: float = 0.9, seed=0, times=None) -> pd.DataFrame:
    """The average effect over the population the N rows were sampled from: draw s is
    sum_i w_si tau_s(x_i), w_s ~ Dirichlet(1, ..., 1) (the Bayesian bootstrap over subjects) on the
    parameter draws ``tau`` (chains, draws, N) or (chains, draws, G, N). One row (``"ate"``) or one per
    time, with ``estimate``, ``sd``, ``lower``, ``upper``, ``prob_benefit``."""
    level = check_level(level)
    flat = tau.reshape(-1, *tau.shape[2:])
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(flat.shape[-1]), size=flat.shape[0])  # (S, N)
    ate = np.einsum("sn,s...n->s...", w, flat)
    lo, hi = np.quantile(ate, [(1 - level) / 2, (1 + level) / 2], axis=0)
    out = pd.DataFrame({"estimate": np.atleast_1d(ate.mean(0)), "sd": np.atleast_1d(ate.std(0, ddof=1)),
                        "lower": np.atleast_1d(lo), "upper": np.atleast_1d(hi),
                        "prob_benefit": np.atleast_1d((ate > 0).mean(0))},
                       index=pd.Index(["ate"]) if times is None
                       else pd.Index(np.asarray(times, dtype=float), name="time"))
    return out


class EffectPosteriorMixin:
    """``predict_effect`` / ``effect_posterior`` / ``predict_ate`` from ``_effect_draws`` (module docstring).

    ``_default_draws``: the number of parameter draws when ``num_draws`` is None."""

    _default_draws = 200

    def _effect_draws(self, df, horizon, times, num_draws, seed):  # pragma: no cover - interface
        raise NotImplementedError

    def _default_horizon(self) -> float | None:
        """The horizon when none is given: the longest training duration."""
        return getattr(self, "max_duration_", None)

    def _effect_target(self, df, horizon, times, num_draws, seed):
        self._check_fitted()
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise DataError("df has no rows")
        horizon, times = _check_target(horizon, times, self._default_horizon())
        num_draws = check_positive_int(self._default_draws if num_draws is None else num_draws, "num_draws")
        if num_draws < 4:
            raise ArgumentError(f"num_draws must be >= 4 (2 chains of >= 2 draws), got {num_draws}")
        arm0, arm1 = self._effect_draws(df, horizon, times, num_draws, check_seed(seed))
        return horizon, times, arm0, arm1

    def predict_effect(self, df: pd.DataFrame, horizon: float | None = None, times=None, level: float = 0.9,
                       num_draws: int | None = None, seed: int | None = 0) -> pd.DataFrame:
        """Each row's treatment effect tau(x) with its uncertainty about the model's parameters.

        Parameters
        ----------
        horizon : float, optional
            RMST horizon (duration unit): tau(x) = RMST_1(x) - RMST_0(x). Default (neither horizon nor
            times): the longest training duration.
        times : sequence of float, optional
            Instead, survival differences tau_t(x) = S_1(t | x) - S_0(t | x) at these times.
        level : float
            Interval level in (0, 1).
        num_draws : int, optional
            Parameter draws (default: the estimator's; for the bootstrap baselines, refits).
        seed : int or None
            The draws' seed (None: fresh).

        Returns a DataFrame indexed like ``df`` (for ``times``: by a (time, row) MultiIndex, one block of
        rows per time) with ``estimate`` (posterior mean), ``sd``, ``lower``, ``upper`` (equal-tailed
        interval) and ``prob_benefit`` (posterior probability that tau(x) > 0)."""
        horizon, times, arm0, arm1 = self._effect_target(df, horizon, times, num_draws, seed)
        return summarise_effects(arm1 - arm0, df.index, level, times)

    def effect_posterior(self, df: pd.DataFrame, horizon: float | None = None, times=None,
                         num_draws: int | None = None, seed: int | None = 0):
        """The draws behind :meth:`predict_effect` as ``arviz.InferenceData``: ``posterior`` group with
        ``tau`` and the arms' values, dims (chain, draw, [time,] subject), at least 2 chains, so
        ``az.summary(idata, var_names=["tau"])`` reports R-hat (across ensemble members: their
        disagreement)."""
        horizon, times, arm0, arm1 = self._effect_target(df, horizon, times, num_draws, seed)
        return effect_inference_data(arm0, arm1, df.index, horizon, times, getattr(self, "name", None))

    def predict_ate(self, df: pd.DataFrame, horizon: float | None = None, times=None, level: float = 0.9,
                    num_draws: int | None = None, seed: int | None = 0) -> pd.DataFrame:
        """The population average of tau(x) over the population ``df``'s rows represent, from the same
        draws as :meth:`predict_effect` plus the subjects' sampling (:func:`population_effect`): one row
        ``"ate"`` (or one per time) with ``estimate``, ``sd``, ``lower``, ``upper``, ``prob_benefit``. It is
        the model's average effect: it inherits the model's bias (confounding the representation does not
        remove, misspecification); :class:`pyrocsa.DoublyRobust` does not."""
        horizon, times, arm0, arm1 = self._effect_target(df, horizon, times, num_draws, seed)
        return population_effect(arm1 - arm0, level, 0 if seed is None else seed, times)

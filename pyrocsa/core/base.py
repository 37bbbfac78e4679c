"""The interface every pyrocsa estimator shares, so that methods are interchangeable in evaluation code.

An estimator is fitted on a frame (lifelines style) and then yields samples of the potential outcomes of
any frame of subjects as a :class:`pyrocsa.core.outcomes.PotentialOutcomes` (arrays of shape
(num_samples, N)), on which every estimand and metric is computed.
"""

from __future__ import annotations

import abc
import copy
import inspect

import numpy as np
import pandas as pd

from pyrocsa.errors import ArgumentError, DataError

__all__ = ["CounterfactualSurvivalModel"]


class CounterfactualSurvivalModel(abc.ABC):
    """Base class: ``fit(df, duration_col=, event_col=, treatment_col=)`` then
    ``sample_potential_outcomes(df, num_samples=)``."""

    #: short name used in tables
    name: str = "model"
    #: whether ``fit`` takes ``preprocessor=`` (a fitted :class:`pyrocsa.data.Preprocessor` to reuse): the
    #: members of an :class:`pyrocsa.core.ensemble.Ensemble` then share the one fitted on all training rows
    accepts_preprocessor: bool = False
    #: whether S_a(t | x) is continuous in t (a density model): the fit check then evaluates it on a few
    #: dozen times and interpolates (:mod:`pyrocsa.core.fit_check`); step-function models say False
    continuous_survival: bool = False
    #: every estimator class by name (filled as classes are defined): how a saved ensemble finds the class of
    #: its members without the format module importing the estimators
    registry: dict[str, type] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        CounterfactualSurvivalModel.registry.setdefault(cls.__name__, cls)

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [k for k, p in sig.parameters.items()
                if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (sklearn convention), read from the attributes of the same names."""
        missing = [k for k in self._param_names() if not hasattr(self, k)]
        if missing:  # pragma: no cover - a subclass that renames its arguments must override get_params
            raise TypeError(f"{type(self).__name__} does not keep its argument(s) {missing} as attributes; "
                            "it must define get_params")
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        """Rebuild with some constructor arguments changed (validated by the constructor); returns self."""
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ArgumentError(f"unknown parameter(s) {unknown}; {type(self).__name__} takes {names}")
        merged = dict(self.get_params(deep=False), **params)
        self.__init__(**merged)
        return self

    def unfitted_copy(self):
        """A fresh, unfitted estimator with the same constructor arguments (deep-copied: the copy shares no
        mutable argument with ``self``)."""
        return type(self)(**copy.deepcopy(self.get_params(deep=False)))

    @abc.abstractmethod
    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, **kwargs):
        """Fit on ``df``; returns ``self``. Fitted attributes end in ``_``."""

    @abc.abstractmethod
    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None):
        """Draw potential event times for every row of ``df``: returns a ``PotentialOutcomes`` whose
        ``t0``, ``t1`` have shape (num_samples, len(df)), in the duration column's unit."""

    # -- the Kaplan-Meier band check (pyrocsa.core.fit_check) ------------------------------------------
    def check(self, df: pd.DataFrame, max_rows: int = 5000, max_times: int = 1000, seed: int = 0):
        """Does the model reproduce each arm's Kaplan-Meier on ``df``? Returns a
        :class:`pyrocsa.core.fit_check.FitCheck`: per arm, the band ratio max_t |mean_x S_a(t|x) - KM_a(t)|
        over the KM's 95% pointwise half-width on that side (<= 1: inside the band), the time ranges outside
        the band, and the D-calibration p-value. ``df`` needs the duration, event and treatment columns.
        ``max_rows`` subjects per arm enter the model's mean (seeded subset), ``max_times`` event times per
        arm are checked; see :mod:`pyrocsa.core.fit_check` for the cost."""
        from pyrocsa.core.fit_check import fit_check

        return fit_check(self, df, max_rows=max_rows, max_times=max_times, seed=seed)

    def plot_calibration(self, ax=None, df: pd.DataFrame | None = None):
        """Model survival over each arm's Kaplan-Meier and its 95% band, within follow-up: of ``df`` when
        given, else of the training rows (the check ``fit`` ran, ``fit_check_``). Returns the axes."""
        self._check_fitted()
        result = self.check(df) if df is not None else getattr(self, "fit_check_", None)
        if result is None:
            raise DataError(f"{type(self).__name__} kept no check of its training rows: pass df=")
        return result.plot(ax=ax)

    def _arm_survival(self, df: pd.DataFrame, arm: int, times) -> np.ndarray:
        """S_arm(t | x) for every time (G,) and row of ``df``: (G, N). This default estimates it from 200
        seeded draws of :meth:`sample_potential_outcomes`; estimators with exact survival override it."""
        draws = self._arm_draws(df, arm)
        return (draws[:, None, :] > np.asarray(times, dtype=float)[None, :, None]).mean(axis=0)

    def _arm_survival_at(self, df: pd.DataFrame, arm: int, durations) -> np.ndarray:
        """S_arm(t_i | x_i) for each row i of ``df`` at its own time ``durations[i]``: (N,)."""
        return (self._arm_draws(df, arm) > np.asarray(durations, dtype=float)[None, :]).mean(axis=0)

    def _arm_draws(self, df: pd.DataFrame, arm: int, num_samples: int = 200) -> np.ndarray:
        po = self.sample_potential_outcomes(df, num_samples=num_samples, seed=0)
        return np.asarray(po.t1 if arm else po.t0, dtype=float)

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(df, ...) first")

"""The interface every pyrocsa estimator shares, so that methods are interchangeable in evaluation code.

An estimator is fitted on a frame (lifelines style) and then yields samples of the potential outcomes of
any frame of subjects as a :class:`pyrocsa.core.outcomes.PotentialOutcomes` (arrays of shape
(num_samples, N)), on which every estimand and metric is computed.
"""

from __future__ import annotations

import abc
import copy
import inspect

import pandas as pd

__all__ = ["CounterfactualSurvivalModel"]


class CounterfactualSurvivalModel(abc.ABC):
    """Base class: ``fit(df, duration_col=, event_col=, treatment_col=)`` then
    ``sample_potential_outcomes(df, num_samples=)``."""

    #: short name used in tables
    name: str = "model"
    #: whether ``fit`` takes ``preprocessor=`` (a fitted :class:`pyrocsa.data.Preprocessor` to reuse): the
    #: members of an :class:`pyrocsa.core.ensemble.Ensemble` then share the one fitted on all training rows
    accepts_preprocessor: bool = False
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
            raise ValueError(f"unknown parameter(s) {unknown}; {type(self).__name__} takes {names}")
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

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(df, ...) first")

"""The interface every pyrocsa estimator shares, so that methods are interchangeable in evaluation code.

An estimator is fitted on a frame (lifelines style) and then yields samples of the potential outcomes of
any frame of subjects as a :class:`pyrocsa.outcomes.PotentialOutcomes` (arrays of shape
(num_samples, N)), on which every estimand and metric is computed.
"""

from __future__ import annotations

import abc

import pandas as pd

__all__ = ["CounterfactualSurvivalModel"]


class CounterfactualSurvivalModel(abc.ABC):
    """Base class: ``fit(df, duration_col=, event_col=, treatment_col=)`` then
    ``sample_potential_outcomes(df, num_samples=)``."""

    #: short name used in tables
    name: str = "model"

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

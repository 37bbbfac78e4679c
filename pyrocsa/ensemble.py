"""Deprecated module path (pyrocsa <= 0.2): :mod:`pyrocsa.core.ensemble`, whose :class:`Ensemble` wraps any
pyrocsa estimator. Kept here: ``fit_members(config, ...)`` with ``config`` a dict of :class:`pyrocsa.CSA`
arguments, its 0.2 form (the core function takes an unfitted estimator)."""

import warnings

from pyrocsa.core import ensemble as _core
from pyrocsa.core.ensemble import (  # noqa: F401
    Ensemble,
    effect_intervals,
    member_seeds,
    sample_members,
    stratified_bootstrap,
)
from pyrocsa.csa.estimator import CSA

__all__ = ["Ensemble", "stratified_bootstrap", "member_seeds", "fit_members", "sample_members",
           "effect_intervals"]

warnings.warn("pyrocsa.ensemble is deprecated (pyrocsa 0.3 layout): import pyrocsa.core.ensemble (or use "
              "pyrocsa.Ensemble)", DeprecationWarning, stacklevel=2)


def fit_members(config, df, duration_col, event_col, treatment_col, **kwargs):
    """:func:`pyrocsa.core.ensemble.fit_members`; ``config`` may be a dict of CSA keyword arguments (all
    but ``seed``, which comes from ``seed=``), as in pyrocsa 0.2, or an unfitted estimator."""
    if isinstance(config, dict):
        if "seed" in config:
            raise ValueError("config must not set 'seed': member seeds are derived from "
                             "fit_members(seed=...)")
        config = CSA(**dict(config, ensemble_size=1))
    return _core.fit_members(config, df, duration_col, event_col, treatment_col, **kwargs)

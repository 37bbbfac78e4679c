"""Datasets shipped with pyrocsa: ACTG 175, the paper's ``actg`` RCT subset and ``actg-Synthetic``.

>>> from pyrocsa.datasets import load_actg, ACTG_BASELINE
>>> df = load_actg()            # 1054 subjects, treatment "arms", duration "days", event "cens"

A stable public namespace over the data layer: the loaders live in :mod:`pyrocsa.data.actg`, the
actg-Synthetic preset (files + the simulator's exact truth) in :mod:`pyrocsa.data.actg_synthetic`.
"""

from pyrocsa.data.actg import (
    ACTG_BASELINE,
    ACTG_COVARIATES,
    ACTG_POST_RANDOMISATION,
    load_actg,
    load_actg175,
)
from pyrocsa.data.actg_synthetic import ActgSynthetic, load_actg_synthetic

__all__ = [
    "ACTG_BASELINE",
    "ACTG_COVARIATES",
    "ACTG_POST_RANDOMISATION",
    "ActgSynthetic",
    "load_actg",
    "load_actg175",
    "load_actg_synthetic",
]

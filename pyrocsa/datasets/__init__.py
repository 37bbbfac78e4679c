"""Datasets shipped with pyrocsa: ACTG 175, the paper's ``actg`` RCT subset and ``actg-Synthetic``.

>>> from pyrocsa.datasets import load_actg, ACTG_BASELINE
>>> df = load_actg()            # 1054 subjects, treatment "arms", duration "days", event "cens"
"""

from .actg import (
    ACTG_BASELINE,
    ACTG_COVARIATES,
    ACTG_POST_RANDOMISATION,
    ActgSynthetic,
    load_actg,
    load_actg175,
    load_actg_synthetic,
)

__all__ = [
    "ACTG_BASELINE",
    "ACTG_COVARIATES",
    "ACTG_POST_RANDOMISATION",
    "ActgSynthetic",
    "load_actg",
    "load_actg175",
    "load_actg_synthetic",
]

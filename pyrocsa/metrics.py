"""Stable public namespace: the public names of :mod:`pyrocsa.evaluation.metrics`, re-exported."""

from pyrocsa.evaluation.metrics import *  # noqa: F401,F403
from pyrocsa.evaluation.metrics import __all__  # noqa: F401

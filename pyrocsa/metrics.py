"""Stable public name of :mod:`pyrocsa.evaluation.metrics` (its home in the layered layout)."""

from pyrocsa._alias import alias
from pyrocsa.evaluation import metrics as _module

alias(__name__, _module, deprecated=False)

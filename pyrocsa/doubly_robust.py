"""Deprecated alias of :mod:`pyrocsa.evaluation.doubly_robust` (its home since the layered layout,
issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.evaluation import doubly_robust as _module

alias(__name__, _module)

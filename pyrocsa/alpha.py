"""Deprecated alias of :mod:`pyrocsa.csa.alpha` (its home since the layered layout, issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.csa import alpha as _module

alias(__name__, _module)

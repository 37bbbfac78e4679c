"""Deprecated alias of :mod:`pyrocsa.csa.model` (its home since the layered layout, issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.csa import model as _module

alias(__name__, _module)

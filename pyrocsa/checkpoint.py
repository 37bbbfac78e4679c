"""Deprecated alias of :mod:`pyrocsa.core.checkpoint` (its home since the layered layout, issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.core import checkpoint as _module

alias(__name__, _module)

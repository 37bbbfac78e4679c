"""Deprecated alias of :mod:`pyrocsa.core.sampling` (its home since the layered layout, issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.core import sampling as _module

alias(__name__, _module)

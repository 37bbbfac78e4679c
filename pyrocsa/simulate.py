"""Stable public name of :mod:`pyrocsa.data.simulate` (its home in the layered layout)."""

from pyrocsa._alias import alias
from pyrocsa.data import simulate as _module

alias(__name__, _module, deprecated=False)

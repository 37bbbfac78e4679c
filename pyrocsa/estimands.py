"""Stable public name of :mod:`pyrocsa.core.estimands` (its home in the layered layout)."""

from pyrocsa._alias import alias
from pyrocsa.core import estimands as _module

alias(__name__, _module, deprecated=False)

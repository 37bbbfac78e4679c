"""Stable public name of :mod:`pyrocsa.reports.plotting` (its home in the layered layout)."""

from pyrocsa._alias import alias
from pyrocsa.reports import plotting as _module

alias(__name__, _module, deprecated=False)

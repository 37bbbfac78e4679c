"""Stable public namespace: the public names of :mod:`pyrocsa.reports.plotting`, re-exported."""

from pyrocsa.reports.plotting import *  # noqa: F401,F403
from pyrocsa.reports.plotting import __all__  # noqa: F401

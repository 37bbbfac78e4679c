"""Stable public namespace: the public names of :mod:`pyrocsa.data.simulate`, re-exported."""

from pyrocsa.data.simulate import *  # noqa: F401,F403
from pyrocsa.data.simulate import __all__  # noqa: F401

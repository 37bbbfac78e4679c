"""Stable public namespace: the public names of :mod:`pyrocsa.core.estimands`, re-exported."""

from pyrocsa.core.estimands import *  # noqa: F401,F403
from pyrocsa.core.estimands import __all__  # noqa: F401

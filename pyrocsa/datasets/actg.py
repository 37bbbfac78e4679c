"""Deprecated module path (pyrocsa <= 0.2): the loaders are :mod:`pyrocsa.data.actg`, the actg-Synthetic
preset :mod:`pyrocsa.data.actg_synthetic`; both are re-exported by :mod:`pyrocsa.datasets`."""

import warnings

from pyrocsa.data.actg import *  # noqa: F403
from pyrocsa.data.actg import __all__ as _loaders
from pyrocsa.data.actg_synthetic import ActgSynthetic, load_actg_synthetic  # noqa: F401

__all__ = list(_loaders) + ["ActgSynthetic", "load_actg_synthetic"]

warnings.warn("pyrocsa.datasets.actg is deprecated (pyrocsa 0.3 layout): import pyrocsa.datasets, or "
              "pyrocsa.data.actg / pyrocsa.data.actg_synthetic", DeprecationWarning, stacklevel=2)

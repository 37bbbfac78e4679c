"""Deprecated alias of :mod:`pyrocsa.core.inference_data` (its home since the layered layout, issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.core import inference_data as _module

alias(__name__, _module)

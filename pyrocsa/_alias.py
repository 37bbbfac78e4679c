"""Old module paths of pyrocsa <= 0.2 as aliases of the moved modules (issue 19's layout).

An alias module replaces itself in :data:`sys.modules` with the module it names, so ``import
pyrocsa.model`` *is* :mod:`pyrocsa.csa.model` (same objects, private names and monkeypatching included).
Deprecated paths warn once, on first import, with a :class:`DeprecationWarning` naming the new path; the
stable namespaces (``pyrocsa.metrics``, ``pyrocsa.simulate``, ...) do not warn. Only the public layer
(modules outside :data:`pyrocsa.LAYERS`) uses this; nothing inside the layers imports an alias.
"""

from __future__ import annotations

import sys
import warnings


def alias(old: str, module, deprecated: bool = True) -> None:
    """Make the module being imported under the name ``old`` be ``module``."""
    if deprecated:
        warnings.warn(f"{old} is deprecated (pyrocsa 0.3 layout): import {module.__name__} instead",
                      DeprecationWarning, stacklevel=3)
    sys.modules[old] = module

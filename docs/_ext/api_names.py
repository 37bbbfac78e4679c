"""Where each public name of pyrocsa is documented (no Sphinx needed: ``tests/test_docs.py`` uses it too).

Every class and function gets its page at its canonical path, in the module that defines it
(``pyrocsa.csa.estimator.CSA``); the public shortcuts -- ``pyrocsa.CSA`` and the stable namespaces
``pyrocsa.metrics``, ``pyrocsa.datasets``, ... -- link to those pages.
"""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module
from types import ModuleType

#: the packages whose modules get API pages (autosummary ``:recursive:`` in docs/api/index.rst), lowest
#: layer first
DOCUMENTED_PACKAGES = ("pyrocsa.errors", "pyrocsa.data", "pyrocsa.core", "pyrocsa.csa", "pyrocsa.baselines",
                       "pyrocsa.evaluation", "pyrocsa.steam", "pyrocsa.reports")
#: the stable public namespaces, each a re-export of a layer's module (or of several)
STABLE_NAMESPACES = ("pyrocsa.datasets", "pyrocsa.simulate", "pyrocsa.metrics", "pyrocsa.estimands",
                     "pyrocsa.plotting")


def public_names(module: ModuleType) -> list[str]:
    """``module.__all__``, or its public names defined inside pyrocsa when it has none."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items() if not n.startswith("_")
                 and getattr(obj, "__module__", "").startswith("pyrocsa")]
    return list(names)


def canonical_name(obj) -> str | None:
    """The dotted path at which ``obj`` is documented, or None when it is not a class, function or module."""
    if isinstance(obj, ModuleType):
        return obj.__name__
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return None


def exported(namespace: str) -> list[tuple[str, object, str | None]]:
    """(name, object, canonical path or None for data) of every public name of ``namespace``."""
    module = import_module(namespace)
    return [(name, getattr(module, name), canonical_name(getattr(module, name)))
            for name in public_names(module)]


def data_home(name: str, obj) -> str | None:
    """The documented module (not a package, which only re-exports) that defines the constant ``obj``
    under ``name``, as ``module.name``; None when there is none."""
    for module_name in documented_modules():
        module = import_module(module_name)
        if not hasattr(module, "__path__") and vars(module).get(name) is obj:
            return f"{module_name}.{name}"
    return None


def is_documented(path: str) -> bool:
    """Whether ``path`` (a canonical dotted path) lies in a documented package, outside private modules."""
    parts = path.split(".")
    inside = any(path == p or path.startswith(p + ".") for p in DOCUMENTED_PACKAGES)
    return inside and not any(part.startswith("_") for part in parts[:-1])


def resolve(target: str) -> str | None:
    """The canonical path of a public shortcut or re-export -- ``pyrocsa.CSA``, ``pyrocsa.CSA.fit``,
    ``pyrocsa.metrics.pehe``, ``pyrocsa.datasets.ACTG_COVARIATES``, ``pyrocsa.data.SurvivalData`` -- or None
    when ``target`` is not such a name (or is already canonical)."""
    if not target.startswith("pyrocsa"):
        return None
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module prefix
        try:
            obj = import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        break
    else:
        return None
    owner, path = None, None
    for k, attr in enumerate(parts[cut:], start=cut):
        if not hasattr(obj, attr):
            return None
        owner, obj = obj, getattr(obj, attr)
        here = canonical_name(obj)
        if here is not None and here.rsplit(".", 1)[-1] == attr:
            path = here
        elif isinstance(owner, ModuleType):  # a constant: at home in the module that defines it
            path = data_home(attr, obj) if k == len(parts) - 1 else None
        elif path is not None:  # a method or attribute of a class
            path = f"{path}.{attr}"
        if path is None:
            return None
    return path if path != target else None


def documented_modules() -> list[str]:
    """Every module that gets a page: the documented packages and, recursively, their public submodules
    (the modules autosummary's ``:recursive:`` walks)."""
    out = []
    for package in DOCUMENTED_PACKAGES:
        out.append(package)
        module = import_module(package)
        if hasattr(module, "__path__"):
            out += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")
                    if not any(part.startswith("_") for part in info.name.split("."))]
    return out


def public_api() -> list[str]:
    """The canonical path of every public class and function: those defined in a documented module under a
    name without a leading underscore (each gets its own page)."""
    out = []
    for name in documented_modules():
        module = import_module(name)
        for attr, obj in vars(module).items():
            if not attr.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj)) \
                    and obj.__module__ == name:
                out.append(f"{name}.{attr}")
    return out

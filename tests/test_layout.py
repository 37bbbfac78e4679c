"""The package layout: no import cycle between pyrocsa's modules, no import against the declared layer order
(:data:`pyrocsa.LAYERS`), no module at the top level but the layers and the stable namespaces, and the stable
namespaces re-export their layers' public names.

Imports are read with :mod:`ast` from every module's source -- top-level *and* function-level ones, and
``import_module("pyrocsa...")`` calls with a constant name -- so a lazy import that closes a circle fails
here as surely as a top-level one.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import pyrocsa

PKG = Path(pyrocsa.__file__).parent

#: stable public namespaces (no warning) -> their home
STABLE = {
    "pyrocsa.simulate": "pyrocsa.data.simulate",
    "pyrocsa.metrics": "pyrocsa.evaluation.metrics",
    "pyrocsa.estimands": "pyrocsa.core.estimands",
    "pyrocsa.plotting": "pyrocsa.reports.plotting",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_module(name: str) -> bool:
    return name in MODULES


def _imports(name: str, path: Path) -> set[str]:
    """Every pyrocsa module ``name`` imports, anywhere in its source (top-level or inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module
            targets = [f"{mod}.{a.name}" if _is_module(f"{mod}.{a.name}") else mod for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) \
                == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            targets = [node.args[0].value]
        else:
            continue
        for t in targets:
            if t == "pyrocsa" or t.startswith("pyrocsa."):
                while t and not _is_module(t):  # ``import pyrocsa.core.training.x`` -> the module part
                    t = t.rpartition(".")[0]
                if t and t != name:
                    out.add(t)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> int:
    """Index in pyrocsa.LAYERS; the public names (package root, stable namespaces, ``__main__``) sit above
    every layer."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in pyrocsa.LAYERS:
        return pyrocsa.LAYERS.index(parts[1])
    return len(pyrocsa.LAYERS)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_lazy_and_relative_imports():
    """The graph is not vacuous: known edges -- a function-level import among them -- are found."""
    assert "pyrocsa.core.training" in GRAPH["pyrocsa.csa.estimator"]
    assert "pyrocsa.core.distributed" in GRAPH["pyrocsa.core.training"]  # imported inside fit_module
    assert "pyrocsa.steam.metrics" in GRAPH["pyrocsa.steam"]  # ``from . import metrics``
    assert len(MODULES) > 40 and sum(map(len, GRAPH.values())) > 80
    # the cycle finder finds a planted circle, and the layer check a planted upward import
    planted = dict(GRAPH, **{"pyrocsa.data.frame": GRAPH["pyrocsa.data.frame"] | {"pyrocsa.data.simulate"}})
    assert ["pyrocsa.data.frame", "pyrocsa.data.simulate"] in _cycles(planted)
    assert _layer("pyrocsa.core.outcomes") < _layer("pyrocsa.evaluation.doubly_robust") \
        < _layer("pyrocsa.metrics")


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles between pyrocsa modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_imports_follow_the_layer_order():
    bad = [f"{a} (layer {pyrocsa.LAYERS[_layer(a)]}) imports {b} "
           f"({pyrocsa.LAYERS[_layer(b)] if _layer(b) < len(pyrocsa.LAYERS) else 'public names'})"
           for a, targets in GRAPH.items() if _layer(a) < len(pyrocsa.LAYERS)
           for b in sorted(targets) if _layer(b) > _layer(a)]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_every_layer_module_is_in_a_declared_layer():
    """Nothing new lands at the top level unnoticed: the top-level modules are the declared layers, the
    stable namespaces and ``__main__`` -- no alias modules."""
    top = {n for n in MODULES if n.count(".") == 1}
    known = {f"pyrocsa.{layer}" for layer in pyrocsa.LAYERS} | set(STABLE) | {
        "pyrocsa.datasets", "pyrocsa.baselines", "pyrocsa.steam", "pyrocsa.__main__"}
    assert top <= known, f"undeclared top-level modules: {sorted(top - known)}"


@pytest.mark.parametrize("name,home", sorted(STABLE.items()))
def test_stable_namespaces_re_export_their_layer(name, home):
    module, target = importlib.import_module(name), importlib.import_module(home)
    assert module is not target and list(module.__all__) == list(target.__all__)
    assert all(getattr(module, n) is getattr(target, n) for n in target.__all__)
    from pyrocsa.data.actg import load_actg175
    assert pyrocsa.datasets.load_actg175 is load_actg175
    propensity = importlib.import_module("pyrocsa.baselines.propensity")
    assert pyrocsa.steam.PropensityModel is propensity.PropensityModel
    for n in pyrocsa.__all__:
        assert getattr(pyrocsa, n) is not None


@pytest.mark.parametrize("old", ["pyrocsa.model", "pyrocsa.estimator", "pyrocsa.ensemble", "pyrocsa.cli",
                                 "pyrocsa._alias"])
def test_old_module_paths_are_gone(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_python_m_pyrocsa_and_deprecation_warnings_as_errors():
    """``python -m pyrocsa --help`` is the command line; ``import pyrocsa`` raises no DeprecationWarning."""
    res = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-m", "pyrocsa", "--help"],
                         capture_output=True, text=True, cwd=PKG.parent, timeout=120)
    assert res.returncode == 0 and "usage: pyrocsa" in res.stdout, res.stderr


def test_import_pyrocsa_is_light_and_acyclic_at_runtime():
    """``import pyrocsa`` (and each layer's package) imports cleanly in a fresh interpreter, in any order."""
    code = ("import importlib, sys\n"
            "for m in sys.argv[1:]:\n"
            "    importlib.import_module(m)\n"
            "import pyrocsa\n"
            "assert 'pyrocsa.csa.estimator' not in sys.modules or 'pyrocsa.csa.estimator' in sys.argv[1:]\n")
    layered = sorted(n for n in MODULES if _layer(n) < len(pyrocsa.LAYERS))
    for first in (["pyrocsa"], layered, layered[::-1]):
        subprocess.run([sys.executable, "-W", "error::DeprecationWarning:pyrocsa", "-c", code, *first],
                       check=True, cwd=PKG.parent)


def test_bad_input_raises_pyrocsa_errors():
    """The error contract (:mod:`pyrocsa.errors`): no module raises a bare ValueError; a bad argument is an
    ArgumentError and a bad frame or array a DataError (both subclass ValueError)."""
    bare = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        bare += [f"{name}:{node.lineno}" for node in ast.walk(tree)
                 if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                 and getattr(node.exc.func, "id", None) == "ValueError"]
    assert not bare, "bare ValueError raised at " + ", ".join(bare)

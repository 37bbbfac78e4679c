"""The API reference (docs/, built by Sphinx in CI with warnings as errors) covers the public API.

These checks need no Sphinx: they read the docs' sources and the helpers of ``docs/_ext`` that the build
uses, so a new layer, a public name or a notebook that the reference would miss fails here, in seconds.
The build itself checks that every class and function of :func:`api_names.public_api` got its page.
"""

from __future__ import annotations

import argparse
import inspect
import io
import pkgutil
import re
import sys
from importlib import import_module
from pathlib import Path

import pytest

import pyrocsa

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import api_names  # noqa: E402
from house_style import normalise  # noqa: E402


def _recursive_autosummary(rst: str) -> list[str]:
    """The entries of the ``:recursive:`` autosummary in an .rst source."""
    block = re.search(r"\.\. autosummary::\n((?:   .*\n|\n)*)", rst[rst.index(":recursive:") - 60:])
    return [line.strip() for line in block.group(1).splitlines()
            if line.strip() and not line.strip().startswith(":")]


def test_every_layer_is_a_documented_package_listed_on_the_api_page():
    wanted = tuple(f"pyrocsa.{layer}" for layer in pyrocsa.LAYERS)
    assert api_names.DOCUMENTED_PACKAGES == wanted
    assert tuple(_recursive_autosummary((DOCS / "api" / "index.rst").read_text())) == wanted


def test_every_top_level_module_is_a_layer_or_a_stable_namespace():
    """A module at the top of pyrocsa/ outside both lists would get no page."""
    top = {f"pyrocsa.{info.name}" for info in pkgutil.iter_modules(pyrocsa.__path__)}
    assert top - {"pyrocsa.__main__"} == set(api_names.DOCUMENTED_PACKAGES) | set(api_names.STABLE_NAMESPACES)


@pytest.mark.parametrize("namespace", ("pyrocsa",) + api_names.STABLE_NAMESPACES)
def test_every_public_name_has_a_page(namespace):
    pages = set(api_names.public_api())
    index = (DOCS / "api" / "index.rst").read_text()
    names = api_names.exported(namespace)
    assert names, namespace
    for name, obj, path in names:
        if path is not None:  # a class or function: its page at the canonical path
            assert path in pages, f"{namespace}.{name} -> {path} gets no page"
            assert api_names.resolve(f"{namespace}.{name}") in (path, None)
        elif namespace == "pyrocsa":
            assert name == "__version__" or f"autodata:: pyrocsa.{name}" in index, name
        else:  # a constant: documented on the page of the module that defines it
            assert api_names.data_home(name, obj) is not None, f"{namespace}.{name}"


def test_shortcuts_resolve_to_the_canonical_page():
    assert api_names.resolve("pyrocsa.CSA") == "pyrocsa.csa.estimator.CSA"
    assert api_names.resolve("pyrocsa.metrics.pehe") == "pyrocsa.evaluation.metrics.pehe"
    assert api_names.resolve("pyrocsa.csa.estimator.CSA") is None  # already canonical
    assert api_names.resolve("pyrocsa.no_such_name") is None
    assert api_names.resolve("numpy.ndarray") is None


def test_every_executed_notebook_is_in_the_docs():
    executed = sorted(p.stem for p in (ROOT / "notebooks" / "executed").glob("*.ipynb"))
    assert len(executed) >= 4
    listed = re.findall(r"^notebooks/(\S+)$", (DOCS / "index.md").read_text(), flags=re.M)
    assert listed == executed
    assert re.search(r'^nb_execution_mode = "off"$', (DOCS / "conf.py").read_text(), flags=re.M)


def test_the_cli_page_documents_the_installed_command():
    factory = re.search(r"\.\. pyrocsa-cli:: (\S+):(\S+)", (DOCS / "api" / "cli.rst").read_text())
    script = re.search(r'^pyrocsa = "([\w.]+):\w+"$', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    # the page reads the parser of the installed command: its module, or one inside or above it
    assert script.group(1).startswith(factory.group(1)) or factory.group(1).startswith(script.group(1))
    parser = getattr(import_module(factory.group(1)), factory.group(2))()
    assert isinstance(parser, argparse.ArgumentParser)
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0].choices
    assert {"demo", "fit", "predict", "simulate", "synthesize", "evaluate"} <= set(commands)


def test_house_style_sections_become_field_lists():
    doc = """A model.

Parameters
----------
alpha : IPM weight (default 0); ``"auto"``: a grid
    search.
lr, max_epochs : Adam learning rate and epoch cap. seed : seeds |z| draws.
t0, t1 : array (S, N)
    Draws of the event time.

Fitted attributes: ``model_``.

Returns
-------
(N,) int array of positions,
sorted."""
    assert normalise(doc.splitlines()) == [
        "A model.",
        "",
        ":Parameters:",
        '    * **alpha** -- IPM weight (default 0); ``"auto"``: a grid',
        "      search.",
        "    * **lr**, **max_epochs** -- Adam learning rate and epoch cap.",
        r"    * **seed** -- seeds \|z\| draws.",
        "    * **t0**, **t1** (*array (S, N)*) -- Draws of the event time.",
        "",
        "",
        "Fitted attributes: ``model_``.",
        "",
        ":Returns:",
        "    (N,) int array of positions,",
        "    sorted.",
        "",
    ]


def test_house_style_leaves_other_text_alone():
    doc = ["Exact S_a(t | x), as ``|x|`` and :math:`|x|`.", "", ">>> po.ite()", "", "Examples", "--------",
           ">>> 1 + 1", "2"]
    assert normalise(doc) == doc[:4] + [".. rubric:: Examples", ""] + doc[6:]


def _rendered_docstrings():
    """(dotted name, docstring) of every docstring that the API pages render: the documented modules, their
    public classes and functions, and the classes' public methods and properties."""
    for module_name in api_names.documented_modules():
        module = import_module(module_name)
        yield module_name, module.__doc__
    for path in api_names.public_api():
        module_name, _, name = path.rpartition(".")
        obj = getattr(import_module(module_name), name)
        yield path, obj.__doc__
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__call__":
                    continue
                member = getattr(member, "__func__", member)  # classmethod / staticmethod
                if isinstance(member, property) or inspect.isfunction(member):
                    yield f"{path}.{attr}", member.__doc__


def test_docstrings_are_valid_restructuredtext():
    """What the docs build (``-W``) would reject, caught here in seconds without Sphinx: each docstring, as
    the build reads it (:func:`normalise`), parsed by docutils with Sphinx's roles stood in for."""
    from docutils import nodes
    from docutils.core import publish_doctree
    from docutils.parsers.rst import roles

    texts = [(name, "\n".join(normalise(inspect.cleandoc(doc).splitlines())))
             for name, doc in _rendered_docstrings() if doc]
    assert len(texts) > 300
    for role in {r for _, text in texts for r in re.findall(r":([a-z][\w:]*):`", text)}:
        roles.register_generic_role(role, nodes.literal)
    problems = []
    for name, text in texts:
        tree = publish_doctree(text, settings_overrides={"report_level": 5, "halt_level": 5,
                                                         "warning_stream": io.StringIO()})
        problems += [f"{name}: {m.astext()}" for m in tree.findall(nodes.system_message) if m["level"] >= 2]
    assert not problems, "\n".join(problems)


def _exists(path: str) -> bool:
    """Whether the dotted ``path`` names an object: a module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_docstring_references_to_pyrocsa_name_existing_objects():
    """A ``:class:`pyrocsa....``` (or ``:func:``, ``:mod:``, ...) in a docstring names an object that
    exists, on one line: the build (``nitpicky`` for pyrocsa's names) fails on a stale or broken path."""
    problems = []
    for name, doc in _rendered_docstrings():
        for role, target in re.findall(r":(\w+(?::\w+)?):`([^`]*)`", doc or ""):
            target = target.split("<")[-1].rstrip(">").lstrip("~.").removesuffix("()")
            if "\n" in target or " " in target:
                problems.append(f"{name}: :{role}:`{target}` spans lines")
            elif target.startswith("pyrocsa.") and not _exists(target):
                problems.append(f"{name}: :{role}:`{target}` names nothing")
    assert not problems, "\n".join(problems)

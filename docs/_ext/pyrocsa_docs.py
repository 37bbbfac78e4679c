"""Sphinx extension of pyrocsa's docs.

* ``.. pyrocsa-exports:: pyrocsa.metrics`` -- a table of a namespace's public names, each linking to its
  page at the canonical path (a summary line each);
* ``.. pyrocsa-cli:: pyrocsa.reports.cli:build_parser`` -- the command line's ``--help`` and every
  command's, from the parser itself;
* a check that every public class and function has its page (a warning, so an error under ``-W``);
* Markdown links to repository files outside docs/ shown as their paths (the pages cannot serve them);
* public shortcuts in cross-references (``:class:`pyrocsa.CSA```, ``:func:`pyrocsa.metrics.pehe```)
  resolve to the canonical pages.
"""

from __future__ import annotations

import argparse
import builtins
import inspect
import os
from importlib import import_module
from pathlib import Path

from api_names import STABLE_NAMESPACES, data_home, exported, public_api, resolve
from docutils import nodes
from docutils.statemachine import StringList
from house_style import normalise
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


class ExportsDirective(SphinxDirective):
    """The public names of a namespace as an autosummary table of their canonical paths (classes and
    functions), then its constants, each linking to its module's page."""

    required_arguments = 1

    def run(self):
        namespace = self.arguments[0]
        names = exported(namespace)
        rows = [path for _, _, path in names if path is not None]
        lines = [".. autosummary::", "   :nosignatures:", ""] + [f"   ~{path}" for path in rows]
        constants = [data_home(name, obj) for name, obj, path in names if path is None]
        constants = [f":data:`~{home}`" for home in constants if home is not None]
        if constants:
            lines += ["", "Constants: " + ", ".join(constants) + "."]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), self.content_offset,
                                node)
        return node.children


class CLIDirective(SphinxDirective):
    """``prog --help`` and ``prog COMMAND --help`` as literal blocks, a rubric per command."""

    required_arguments = 1

    def run(self):
        module, _, factory = self.arguments[0].partition(":")
        saved = {k: os.environ.get(k) for k in ("COLUMNS", "NO_COLOR")}
        os.environ.update(COLUMNS="80", NO_COLOR="1")  # argparse wraps to the terminal width; plain text
        try:
            parser = getattr(import_module(module), factory)()
            out = [nodes.literal_block(text=parser.format_help(), language="text")]
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, sub in action.choices.items():
                        out.append(nodes.rubric(text=f"{parser.prog} {name}", ids=[f"cli-{name}"]))
                        out.append(nodes.literal_block(text=sub.format_help(), language="text"))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return out


def _missing_reference(app, env, node, contnode):
    """Resolve a public shortcut (``pyrocsa.CSA``, ``pyrocsa.CSA.fit``) or a name that the docstring's
    module imports (``SurvivalData`` in :mod:`pyrocsa.csa.estimator`) to the object's canonical page."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip(".~")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module and not target.startswith("pyrocsa"):
        candidates += [f"{module}.{cls}.{target}"] if cls else []
        candidates.append(f"{module}.{target}")
    domain = env.get_domain("py")
    for candidate in candidates:
        path = resolve(candidate)
        if path is None:
            continue
        new = node.deepcopy()
        new["reftarget"] = path
        found = domain.resolve_xref(env, node.get("refdoc", ""), app.builder, node["reftype"], path, new,
                                    contnode)
        if found is not None:
            return found
    return None


def _process_docstring(app, what, name, obj, options, lines):
    """pyrocsa's docstring style into reST (:mod:`house_style`); a docstring that autodoc inherited from a
    class outside pyrocsa (torch's ``expand``, ...) is dropped: it documents that library, not pyrocsa."""
    if _foreign_docstring(obj) or "\n".join(lines).strip() in _BUILTIN_DOCS:
        lines[:] = []
        return
    lines[:] = normalise(lines)


#: docstrings of builtin types, which autodoc shows for an attribute inherited as a plain value (``name``)
_BUILTIN_DOCS = {inspect.cleandoc(t.__doc__) for t in vars(builtins).values()
                 if isinstance(t, type) and t.__doc__}


def _foreign_docstring(obj) -> bool:
    if getattr(obj, "__doc__", "") is not None or not callable(obj):
        return False
    qualname = getattr(obj, "__qualname__", "")
    owner_name, _, attr = qualname.rpartition(".")
    try:
        owner = import_module(obj.__module__)
        for part in owner_name.split("."):
            owner = getattr(owner, part)
    except (AttributeError, ImportError, TypeError):
        return False
    for base in getattr(owner, "__mro__", ())[1:]:
        member = vars(base).get(attr)
        if member is not None and getattr(member, "__doc__", None):
            return not base.__module__.startswith("pyrocsa")
    return False


class RepositoryLinks(SphinxPostTransform):
    """A Markdown link from a docs page to a repository file outside docs/ (``../benchmarks/README.md``),
    which the built pages cannot serve, becomes its text followed by the file's path in the repository;
    a link to a file that does not exist still warns (myst's resolver, which runs after this)."""

    default_priority = 5  # before myst's reference resolver (9)

    def run(self, **kwargs):
        docs = Path(self.env.srcdir).resolve()
        root = docs.parent
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc":
                continue
            target = node["reftarget"]
            if target in self.env.all_docs:
                continue
            path = Path(target) if Path(target).is_absolute() else docs / target
            found = [p.resolve() for p in (path, path.with_name(path.name + ".md")) if p.is_file()]
            if not found or docs in found[0].parents or root not in found[0].parents:
                continue
            text = node.astext()
            shown = nodes.inline()
            shown += nodes.Text(f"{text} (" if text else "")
            shown += nodes.literal(text=str(found[0].relative_to(root)))
            shown += nodes.Text(")" if text else "")
            node.replace_self(shown)


def _check_pages(app, env):
    """Every public class and function, and every name the public shortcuts export, must have been
    described (a missing page is a warning, so an error under ``-W``)."""
    described = set(env.get_domain("py").objects)
    wanted = set(public_api())
    for namespace in ("pyrocsa",) + STABLE_NAMESPACES:
        wanted |= {path for _, _, path in exported(namespace) if path is not None}
    for path in sorted(wanted - described):
        logger.warning("pyrocsa docs: %s has no API page", path)


def setup(app):
    app.connect("env-check-consistency", _check_pages)
    app.add_post_transform(RepositoryLinks)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.add_directive("pyrocsa-exports", ExportsDirective)
    app.add_directive("pyrocsa-cli", CLIDirective)
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

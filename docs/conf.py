"""Sphinx configuration of pyrocsa's documentation (``python -m sphinx -W -b html docs docs/_build/html``).

The API pages are generated from the docstrings at build time (autosummary, into ``docs/api/generated/``);
the notebook pages are the executed copies in ``notebooks/executed/``, copied into ``docs/notebooks/`` at
build time and rendered without being run. Both generated folders are ignored by git.
"""

import logging
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not whatever pyrocsa is installed
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")
logging.getLogger("arviz.preview").setLevel(logging.WARNING)  # arviz's import-time notes, not the docs'

import pyrocsa  # noqa: E402

project = "pyrocsa"
author = "the pyrocsa developers"
copyright = "the pyrocsa developers"
release = version = pyrocsa.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "pyrocsa_docs",
]

# -- sources ------------------------------------------------------------------------------------------------
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
root_doc = "index"

# -- API pages ----------------------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False  # a name gets its page in the module that defines it, once
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_inherit_docstrings = True
autoclass_content = "class"
add_module_names = False
# a reference to a pyrocsa name that resolves to no page is an error (a stale path in a docstring); other
# libraries' names are not linked (the build reaches no network, so no intersphinx) and not checked
nitpicky = True
nitpick_ignore_regex = [(r".*", r"(?!pyrocsa\.).*"),  # not pyrocsa's
                        (r".*", r".*\._.*")]  # a private base class (Bases: ...)
# pyrocsa's numpy-style sections ("Parameters", "Returns", "Examples") are read by docs/_ext/house_style.py

# -- notebooks: rendered from notebooks/executed/, never executed here --------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# -- output -------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"pyrocsa {release}"
html_static_path = []


def _copy_notebooks(app):
    """Copy the executed notebooks into the source tree (docs/notebooks/) so that myst-nb renders them."""
    target = DOCS / "notebooks"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for nb in sorted((ROOT / "notebooks" / "executed").glob("*.ipynb")):
        shutil.copyfile(nb, target / nb.name)


def setup(app):
    app.connect("builder-inited", _copy_notebooks, priority=100)

"""Notebooks run under pytest (nbmake) with tiny training budgets unless PYROCSA_NB_QUICK is set."""

import os
from pathlib import Path

os.environ.setdefault("PYROCSA_NB_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# the kernels import the pyrocsa of this checkout (not another install of it, e.g. an editable one elsewhere)
_ROOT = str(Path(__file__).resolve().parent.parent)
_REST = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _ROOT]
os.environ["PYTHONPATH"] = os.pathsep.join([_ROOT] + _REST)

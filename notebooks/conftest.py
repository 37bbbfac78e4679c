"""Notebooks run under pytest (nbmake) with tiny training budgets unless PYROCSA_NB_QUICK is set."""

import os

os.environ.setdefault("PYROCSA_NB_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

"""Deprecated alias of :mod:`pyrocsa.reports.cli` (its home since the layered layout, issue 19)."""

from pyrocsa._alias import alias
from pyrocsa.reports import cli as _module

if __name__ == "__main__":  # python -m pyrocsa.cli
    raise SystemExit(_module.main())
alias(__name__, _module)

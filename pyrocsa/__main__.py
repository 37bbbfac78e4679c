"""``python -m pyrocsa``: the command line (:func:`pyrocsa.reports.cli.main`)."""

from pyrocsa.reports.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m pyrocsa.reports.cli``: the same command line as ``pyrocsa`` and ``python -m pyrocsa``."""

import sys

from pyrocsa.reports.cli.app import main

if __name__ == "__main__":
    sys.exit(main())

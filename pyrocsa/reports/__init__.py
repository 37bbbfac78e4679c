"""Layer 7, the front door: plots (:mod:`pyrocsa.reports.plotting`) and the ``pyrocsa`` command
(:mod:`pyrocsa.reports.cli`). May import every layer below it (see :mod:`pyrocsa`)."""

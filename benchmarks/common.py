"""What the benchmarks share: where results go and how a result file records the command that made it."""

from __future__ import annotations

import sys
from pathlib import Path

#: benchmarks/results/: one current result file (or set) per benchmark
RESULTS = Path(__file__).resolve().parent / "results"


def command(module: str, argv: list[str] | None = None) -> str:
    """The command line that reproduces this run, for the header of a result file: ``python -m
    benchmarks.NAME ARGS`` (``module`` is the benchmark's ``__name__`` or its short name)."""
    if module == "__main__":  # run as ``python -m benchmarks.NAME``: the module's real name is in its spec
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else "benchmarks.unknown"
    name = module.rpartition(".")[2]
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["OMP_NUM_THREADS=1 python3 -m", f"benchmarks.{name}", *args])

"""How a failed command ends: one line on stderr and an exit code, never a traceback.

Every command raises :class:`CLIError` for input it rejects; the other exceptions that reach the command
line (pyrocsa's own errors, an unreadable file, a diverged fit, a bug) are mapped here to the same one-line
form, so that :func:`pyrocsa.reports.cli.main` and each process of ``pyrocsa fit --nproc K`` report alike.
"""

from __future__ import annotations

import sys

#: exit code of bad input (a missing file or column, an invalid option, a diverged fit)
EXIT_BAD_INPUT = 2
#: exit code of an internal error (a bug: please report it)
EXIT_INTERNAL = 1


class CLIError(Exception):
    """An error that the command line reports in one line."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _describe(err: Exception) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that ends a command."""
    from pyrocsa.errors import PyrocsaError

    if isinstance(err, (CLIError, PyrocsaError, ValueError)):
        return EXIT_BAD_INPUT, _first_line(err)
    if isinstance(err, ImportError):
        return EXIT_BAD_INPUT, _first_line(err)
    if isinstance(err, OSError):
        where = f" '{err.filename}'" if getattr(err, "filename", None) else ""
        return EXIT_BAD_INPUT, f"{err.strerror or _first_line(err)}{where}"
    if isinstance(err, RuntimeError) and "non-finite" in str(err):
        return EXIT_BAD_INPUT, (f"{_first_line(err)} -- training diverged; try another --seed, fewer "
                                "--epochs, a smaller --alpha, or durations in a coarser unit")
    if isinstance(err, MemoryError):
        return EXIT_BAD_INPUT, "out of memory (try fewer --num-samples or a smaller file)"
    return EXIT_INTERNAL, (f"internal error: {type(err).__name__}: {_first_line(err)} (run again with "
                           "--debug for the traceback, and please report it)")


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line on stderr (installed as :func:`warnings.showwarning` unless ``--debug``)."""
    print(f"pyrocsa: warning: {_first_line(Warning(str(message)))}", file=sys.stderr)

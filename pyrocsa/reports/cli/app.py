"""The ``pyrocsa`` entry point: the parser assembled from the command modules, and :func:`main`.

Each command is a module of this package with ``add_parser(sub)`` and ``run(args)``; ``COMMANDS``
lists them in the order ``pyrocsa --help`` shows. :func:`main` runs one command and turns whatever it
raises into one line on stderr and an exit code (:mod:`pyrocsa.reports.cli.errors`).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import demo, evaluate, fit, predict, simulate, synthesize
from .args import _Parser
from .errors import EXIT_BAD_INPUT, _describe, _one_line_warning

# the command modules, in the order of ``pyrocsa --help``
COMMANDS = (demo, fit, predict, simulate, synthesize, evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The ``pyrocsa`` parser: ``--debug`` and one subparser per module of ``COMMANDS`` (each also
    accepts ``--debug`` after the command). Usage errors end in one line with exit code 2."""
    p = _Parser(prog="pyrocsa", description="Counterfactual survival analysis (CSA-INFO) with Pyro: "
                "treatment effects on time-to-event outcomes.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for cmd in sub.choices.values():  # also accepted after the command: pyrocsa fit ... --debug
        cmd.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the full traceback of an error")
    return p


def main(argv=None) -> int:
    """Run one command; returns the exit code (0 ok, 2 bad input, 1 internal error). Errors are reported as
    one line on stderr; ``--debug`` re-raises them with the traceback."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0), or a usage error already reported in one line (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    debug = bool(getattr(args, "debug", False))
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _one_line_warning
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            if debug:
                raise
            print("pyrocsa: interrupted", file=sys.stderr)
            return 130
        except Exception as err:  # noqa: BLE001 - the command line never shows a traceback
            if debug:
                raise
            code, msg = _describe(err)
            print(f"pyrocsa: error: {msg}", file=sys.stderr)
            return code

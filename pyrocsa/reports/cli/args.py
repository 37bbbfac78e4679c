"""Argument parsing shared by the commands: the parser class, value types and the column options.

The value types raise :class:`argparse.ArgumentTypeError`, which the parser reports as one line naming the
option (``--n must be a positive integer, got '0'``) with exit code 2, before any command starts. The
column options (``--duration``, ``--event``, ``--treatment``, ``--treated-value``, ``--covariates``) are
declared once here so that ``fit``, ``synthesize`` and ``evaluate`` read a file's columns the same way.
"""

from __future__ import annotations

import argparse
import math
import re

from .errors import EXIT_BAD_INPUT, CLIError


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors reported in one line (exit code 2)."""

    def error(self, message):
        m = re.match(r"argument ([^:/]+)(?:/[^:]+)?: (.*)", message)
        if m:  # "argument --n: must be ..." -> "--n must be ..."
            sep = " " if m.group(1).startswith("-") else ": "
            message = f"{m.group(1)}{sep}{m.group(2)}"
        self.exit(EXIT_BAD_INPUT, f"pyrocsa: error: {message} (see '{self.prog} --help')\n")


# -- value types (argparse reports their errors in one line, exit code 2) -----------------------------------
def _int_at_least(v: str, minimum: int, what: str) -> int:
    try:
        out = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a {what} integer, got '{v}'") from None
    if out < minimum:
        raise argparse.ArgumentTypeError(f"must be a {what} integer, got '{v}'")
    return out


def _positive_int(v: str) -> int:
    return _int_at_least(v, 1, "positive")


def _seed(v: str) -> int:
    return _int_at_least(v, 0, "non-negative")


def _finite(v: str) -> float:
    try:
        out = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got '{v}'") from None
    if not math.isfinite(out):
        raise argparse.ArgumentTypeError(f"must be a finite number, got '{v}'")
    return out


def _non_negative(v: str) -> float:
    out = _finite(v)
    if out < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got '{v}'")
    return out


def _positive(v: str) -> float:
    out = _finite(v)
    if out <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got '{v}'")
    return out


def _probability(v: str) -> float:
    out = _finite(v)
    if not 0 < out < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got '{v}'")
    return out


def _alpha_arg(v: str):
    if v in ("auto", "nn-proxy"):
        return v
    try:
        return _non_negative(v)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, 'auto' or 'nn-proxy', got '{v}'") \
            from None


# -- the column options -------------------------------------------------------------------------------------
def _add_columns(p: argparse.ArgumentParser, outcome: bool = True) -> None:
    if outcome:
        p.add_argument("--duration", required=True, help="follow-up time column (e.g. days)")
        p.add_argument("--event", required=True, help="event indicator column (1 = event, 0 = censored)")
    p.add_argument("--treatment", required=True, help="binary treatment column")
    p.add_argument("--treated-value", default=None,
                   help="label of the treated arm when the treatment is not 0/1 (default: 1)")
    p.add_argument("--covariates", default=None,
                   help="comma-separated covariate columns (default: every other column)")


def _covariates(arg: str | None) -> list[str] | None:
    if arg is None:
        return None
    cols = [c.strip() for c in arg.split(",") if c.strip()]
    if not cols:
        raise CLIError(f"--covariates '{arg}' names no columns")
    return cols


def _role_columns(args, *extra: str) -> list[tuple[str, object]]:
    """(option, column) pairs of the column options of ``args`` (``extra``: more option names)."""
    pairs = [("--duration", args.duration), ("--event", args.event), ("--treatment", args.treatment)]
    pairs += [("--covariates", c) for c in (_covariates(args.covariates) or [])]
    pairs += [(opt, getattr(args, opt.lstrip("-").replace("-", "_"))) for opt in extra]
    return pairs


def _treated_value(v):
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        return v

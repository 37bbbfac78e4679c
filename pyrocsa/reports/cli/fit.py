"""``pyrocsa fit``: CSA-INFO fitted on a CSV or Parquet file and saved as a model directory.

Columns are named by options (``--duration``, ``--event``, ``--treatment``, ``--covariates``). The file,
its columns and ``--out`` are checked before training. ``--nproc K`` starts K data-parallel processes on
this machine (:mod:`pyrocsa.core.distributed`); under ``torchrun ... -m pyrocsa fit`` the processes are
already started. ``--stream`` reads Parquet from disk in chunks instead of loading it (cohorts larger than
memory). After the fit, the Kaplan-Meier band check of the training rows is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

from .args import _add_columns, _alpha_arg, _covariates, _positive_int, _role_columns, _seed, _treated_value
from .errors import EXIT_INTERNAL, CLIError, _describe, _one_line_warning
from .files import _check_columns, _output_model_dir, _read_table
from .models import _csa


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``fit`` subparser and its options to ``sub`` (the subparsers action of
    :func:`pyrocsa.reports.cli.build_parser`); returns it."""
    f = sub.add_parser("fit", help="fit CSA-INFO on a CSV/Parquet file and save the model")
    f.add_argument("data", help="CSV or Parquet file, one row per subject (with --stream: a Parquet file "
                                "or a directory of Parquet files)")
    _add_columns(f)
    f.add_argument("--out", required=True, help="model directory to write")
    f.add_argument("--alpha", type=_alpha_arg, default=0.0,
                   help="IPM weight (default 0), 'auto' (grid search by the doubly robust "
                        "effect score on validation rows) or 'nn-proxy' (the paper's proxy rule)")
    f.add_argument("--epochs", type=_positive_int, default=150, help="maximum training epochs (default 150)")
    f.add_argument("--no-informative-censoring", action="store_true", help="plain CSA (no censoring model)")
    f.add_argument("--baseline", choices=("smooth", "steps", "auto"), default="smooth",
                   help="baseline hazard under the flows: 'smooth' (default), 'steps' (piecewise constant: "
                        "follows a hazard that jumps at a fixed time; expected lifetimes less stable) or "
                        "'auto' (smooth, refitted with steps when the smooth fit leaves the Kaplan-Meier "
                        "band and the steps fit inside it)")
    f.add_argument("--seed", type=_seed, default=0)
    f.add_argument("--ensemble-size", type=_positive_int, default=1,
                   help="bootstrap members (default 1: one fit; K > 1: a pyrocsa.Ensemble)")
    f.add_argument("--nproc", type=_positive_int, default=1,
                   help="data-parallel processes on this machine (torch.distributed, gloo on CPU / nccl on "
                        "GPU; default 1). For several machines launch with torchrun instead (README)")
    f.add_argument("--stream", action="store_true",
                   help="stream the Parquet data from disk instead of loading it (cohorts larger than "
                        "memory; no --ensemble-size / --alpha auto)")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=run)
    return f


def _fit_and_save(args, df: pd.DataFrame) -> None:
    from pyrocsa.core import distributed

    model = _csa(args.ensemble_size, informative_censoring=not args.no_informative_censoring,
                 alpha=args.alpha, seed=args.seed, max_epochs=args.epochs, verbose=not args.quiet,
                 baseline=args.baseline)
    model.fit(df if df is not None else str(args.data), duration_col=args.duration, event_col=args.event,
              treatment_col=args.treatment, covariates=_covariates(args.covariates),
              treated_value=_treated_value(args.treated_value))
    model.save(args.out)  # rank 0 writes (data parallel)
    if distributed.is_main():
        check = getattr(model, "fit_check_", None)
        if check is not None:  # the Kaplan-Meier band check of the training rows (pyrocsa.core.fit_check)
            print("fit check on the training rows (model vs Kaplan-Meier 95% band):")
            print("\n".join(check.lines()))
        n = distributed.world_size()
        print(f"model saved to {args.out}" + (f" ({n} processes)" if n > 1 else ""))


def _fit_rank(args) -> None:
    """One process of ``pyrocsa fit --nproc K`` (started by :func:`pyrocsa.core.distributed.spawn`): errors
    end the process with the command line's exit code and one line on stderr, naming the rank."""
    debug = bool(getattr(args, "debug", False))
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _one_line_warning
        try:
            _fit_and_save(args, None if args.stream else _read_table(args.data))
        except Exception as err:  # noqa: BLE001 - one line, as in main()
            if debug:
                raise
            code, msg = _describe(err)
            print(f"pyrocsa: error (process {os.environ.get('RANK', '?')}): {msg}", file=sys.stderr)
            sys.exit(code)


def _stream_source(path: str) -> None:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"input '{path}' does not exist")
    if p.is_file() and p.suffix.lower() not in (".parquet", ".pq"):
        raise CLIError(f"--stream reads Parquet: '{path}' is not a .parquet file or a directory of them")
    if not os.access(p, os.R_OK):
        raise CLIError(f"input '{path}' cannot be read (permission denied)")


def run(args) -> int:
    """Check the file, its columns and ``--out``, then fit and save the model (in ``--nproc`` processes when
    asked); returns the exit code."""
    if args.stream and args.ensemble_size > 1:
        raise CLIError(f"--stream cannot be combined with --ensemble-size {args.ensemble_size}: bootstrap "
                       "members resample the rows, which needs them in memory")
    if args.stream:
        _stream_source(args.data)  # the columns are checked by the statistics pass
        df = None
    else:
        df = _read_table(args.data)
        _check_columns(df, args.data, _role_columns(args))
    _output_model_dir(args.out)
    nproc = int(getattr(args, "nproc", 1) or 1)
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if nproc > 1 and launched > 1:
        raise CLIError(f"--nproc {nproc} under torchrun (WORLD_SIZE={launched}): the processes are "
                       "already started; leave --nproc out")
    if nproc > 1:
        import torch.distributed
        import torch.multiprocessing as mp

        from pyrocsa.core import distributed

        if not torch.distributed.is_available():
            raise CLIError("--nproc needs torch.distributed, which this torch build lacks")
        del df  # each process reads the file itself
        try:
            distributed.spawn(_fit_rank, (args,), nproc)
        except mp.ProcessExitedException as err:
            return int(err.exit_code) if err.exit_code and err.exit_code > 0 else EXIT_INTERNAL
        return 0
    _fit_and_save(args, df)
    return 0

"""``pyrocsa synthesize``: a STEAM-style synthetic cohort (:class:`pyrocsa.steam.SyntheticCohort`) from a
CSV or Parquet file.

The generator learns covariates, treatment assignment and outcomes of the file's cohort and samples new
subjects with the same columns. ``--epochs`` caps the training of its CSA-INFO outcome model (the
generator's default otherwise).
"""

from __future__ import annotations

import argparse

from .args import _add_columns, _covariates, _positive_int, _role_columns, _seed, _treated_value
from .files import _check_columns, _output_file, _read_table


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``synthesize`` subparser and its options to ``sub`` (the subparsers action of
    :func:`pyrocsa.reports.cli.build_parser`); returns it."""
    y = sub.add_parser("synthesize", help="STEAM-style synthetic cohort from a CSV/Parquet file")
    y.add_argument("data")
    _add_columns(y)
    y.add_argument("--n", type=_positive_int, default=None,
                   help="rows to generate (default: as many as the input)")
    y.add_argument("--out", required=True, help="CSV to write")
    y.add_argument("--epochs", type=_positive_int, default=None,
                   help="max epochs of the CSA-INFO outcome model")
    y.add_argument("--seed", type=_seed, default=0)
    y.set_defaults(func=run)
    return y


def run(args) -> int:
    """Fit the generator on the file and write ``--n`` synthetic subjects to ``args.out``; returns the exit
    code (0)."""
    df = _read_table(args.data)
    _check_columns(df, args.data, _role_columns(args))
    _output_file(args.out, "--out")
    from pyrocsa.steam import SyntheticCohort

    kw = {}
    if args.epochs:
        kw["outcome_model"] = _steam_outcome(args)
    gen = SyntheticCohort(**kw).fit(df, duration_col=args.duration, event_col=args.event,
                                    treatment_col=args.treatment, covariates=_covariates(args.covariates),
                                    treated_value=_treated_value(args.treated_value))
    syn = gen.sample(args.n or len(df), seed=args.seed)
    syn.to_csv(args.out, index=False)
    print(f"{len(syn)} synthetic subjects written to {args.out}")
    return 0


def _steam_outcome(args):
    from pyrocsa.csa.estimator import CSA

    return CSA(informative_censoring=True, seed=args.seed, max_epochs=args.epochs, verbose=False)

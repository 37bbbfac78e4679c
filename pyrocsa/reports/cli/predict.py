"""``pyrocsa predict``: per-subject effects of a saved model on a CSV or Parquet file.

Writes a CSV with each subject's ITE (difference of expected event times, treated - control) as its mean
and highest-density interval (``--hdi-prob``), optionally the RMST difference at ``--horizon``, and with
``--netcdf`` every draw as an ArviZ InferenceData. The model may be a CSA or an ensemble of them.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from .args import _positive, _positive_int, _probability, _seed
from .files import _model_dir, _output_file, _read_table
from .models import _load_model


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``predict`` subparser and its options to ``sub`` (the subparsers action of
    :func:`pyrocsa.reports.cli.build_parser`); returns it."""
    pr = sub.add_parser("predict", help="per-subject ITE (mean, HDI) and an ArviZ netCDF from a model")
    pr.add_argument("model", help="model directory written by 'pyrocsa fit'")
    pr.add_argument("data", help="CSV or Parquet file of subjects (covariates + treatment)")
    pr.add_argument("--out", required=True, help="CSV to write")
    pr.add_argument("--netcdf", default=None, help="also write the samples as ArviZ InferenceData (netCDF)")
    pr.add_argument("--num-samples", type=_positive_int, default=200)
    pr.add_argument("--hdi-prob", type=_probability, default=0.9)
    pr.add_argument("--horizon", type=_positive, default=None,
                    help="also write the RMST difference at this time")
    pr.add_argument("--seed", type=_seed, default=0)
    pr.set_defaults(func=run)
    return pr


def run(args) -> int:
    """Check the model, the file and the outputs, then write the per-subject ITE table (and the
    InferenceData); returns the exit code (0)."""
    _model_dir(args.model)
    df = _read_table(args.data)
    _output_file(args.out, "--out")
    _output_file(args.netcdf, "--netcdf")
    model = _load_model(args.model, args.num_samples)
    po = model.sample_potential_outcomes(df, num_samples=args.num_samples, seed=args.seed)
    hdi = po.ite_hdi(level=args.hdi_prob)
    table = pd.DataFrame({"ite_mean": np.asarray(hdi["mean"]), "ite_lower": np.asarray(hdi["lower"]),
                          "ite_upper": np.asarray(hdi["upper"])}, index=df.index)
    if args.horizon:
        table[f"rmst_diff_{args.horizon:g}"] = po.rmst_difference(args.horizon)
    table.index.name = "subject"
    table.to_csv(args.out)
    print(f"per-subject ITE written to {args.out}")
    if args.netcdf:
        po.to_inference_data().to_netcdf(args.netcdf)
        print(f"InferenceData written to {args.netcdf}")
    return 0

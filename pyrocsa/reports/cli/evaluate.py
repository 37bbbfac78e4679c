"""``pyrocsa evaluate``: metrics of a saved model on a file with observed outcomes.

Factual metrics, from each subject's draws under the arm it received: the C-index per arm, the
D-calibration p-value, the mean coefficient of variation of the draws, and HR(t) (median draws and all
draws). With ``--true-t0`` / ``--true-t1`` (simulated truth, e.g. ``pyrocsa simulate --truth``) also the
causal ones: PEHE and ATE error of the expected-lifetime and RMST effects, and the 90% interval coverage of
each potential time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .args import _add_columns, _positive, _positive_int, _role_columns, _seed
from .errors import CLIError
from .files import _check_columns, _model_dir, _output_file, _read_table
from .models import _load_model


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subparser and its options to ``sub`` (the subparsers action of
    :func:`pyrocsa.reports.cli.build_parser`); returns it."""
    e = sub.add_parser("evaluate", help="metrics of a fitted model on a CSV with observed outcomes")
    e.add_argument("model")
    e.add_argument("data")
    _add_columns(e)
    e.add_argument("--true-t0", default=None, help="column with the true potential event time under control")
    e.add_argument("--true-t1", default=None, help="column with the true event time under treatment")
    e.add_argument("--horizon", type=_positive, default=1000.0, help="RMST horizon (default 1000)")
    e.add_argument("--num-samples", type=_positive_int, default=200)
    e.add_argument("--seed", type=_seed, default=0)
    e.add_argument("--json", default=None, help="also write the metrics as JSON")
    e.set_defaults(func=run)
    return e


def _observed_arm(model, df: pd.DataFrame, col, treated_value) -> np.ndarray:
    """0/1 arm of each row by the model's own treatment labels (text labels included)."""
    from pyrocsa.data.frame import validate_treatment

    tv = model.treated_value_
    if treated_value is not None and str(treated_value) != str(tv):
        raise CLIError(f"--treated-value '{treated_value}' is not the model's treated arm '{tv}' (the label "
                       "it was fitted with)")
    s = df[col]
    levels = getattr(model.data_, "meta", {}).get("treatment_levels")
    if levels is None and (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)) and \
            str(tv) in ("1", "True"):
        levels = [False, True] if pd.api.types.is_bool_dtype(s) else [0, 1]
    return validate_treatment(s, col, treated_value=tv, known_levels=levels)


def run(args) -> int:
    """Check the model, the file, its columns and ``--json``, then print the metrics (and write them as
    JSON); returns the exit code (0)."""
    from pyrocsa.data.frame import validate_duration, validate_event

    if (args.true_t0 is None) != (args.true_t1 is None):
        raise CLIError("--true-t0 and --true-t1 go together: give both or neither")
    _model_dir(args.model)
    df = _read_table(args.data)
    _check_columns(df, args.data, _role_columns(args, "--true-t0", "--true-t1"))
    _output_file(args.json, "--json")
    y = validate_duration(df[args.duration], args.duration)
    e = validate_event(df[args.event], args.event)
    truth = None
    if args.true_t0 is not None:
        truth = [validate_duration(df[c], c) for c in (args.true_t0, args.true_t1)]
    model = _load_model(args.model, args.num_samples)
    a = _observed_arm(model, df, args.treatment, args.treated_value)
    for arm, name in ((0, "control"), (1, "treated")):
        if not (a == arm).any():
            raise CLIError(f"{args.data}: no {name} rows in column '{args.treatment}' (the C-index is "
                           "computed per arm)")

    from pyrocsa.evaluation import metrics

    po = model.sample_potential_outcomes(df, num_samples=args.num_samples, seed=args.seed)
    factual = np.where(a[None, :] == 1, po.t1, po.t0)
    med = np.median(factual, axis=0)
    out = {}
    for arm in (0, 1):
        m = a == arm
        out[f"c_index_arm{arm}"] = float(metrics.c_index(med[m], y[m], e[m]))
    dcal = metrics.d_calibration(factual, y, e)
    out["d_calibration_p_value"] = float(dcal["p_value"])
    out["mean_cov"] = float(metrics.mean_cov(factual))
    hr = po.hazard_ratio(seed=args.seed, point="median")
    out.update(hr=float(hr["hr"]), hr_lower=float(hr["lower"]), hr_upper=float(hr["upper"]))
    hr = po.hazard_ratio(seed=args.seed, point="draws")
    out.update(hr_draws=float(hr["hr"]), hr_draws_lower=float(hr["lower"]), hr_draws_upper=float(hr["upper"]))
    if truth is not None:
        t0, t1 = truth
        out["pehe_expected_lifetime"] = float(metrics.pehe(po.ite(), t1 - t0))
        out["ate_error_expected_lifetime"] = float(metrics.ate_error(po.ite(), t1 - t0))
        h = args.horizon
        true_rmst = np.minimum(t1, h) - np.minimum(t0, h)
        out[f"pehe_rmst{h:g}_vs_realised"] = float(metrics.pehe(po.rmst_difference(h), true_rmst))
        out["coverage90_t0"] = float(metrics.interval_coverage(po.t0, t0, level=0.9))
        out["coverage90_t1"] = float(metrics.interval_coverage(po.t1, t1, level=0.9))
    width = max(len(k) for k in out)
    for k, v in out.items():
        print(f"{k:<{width}s}  {v:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0

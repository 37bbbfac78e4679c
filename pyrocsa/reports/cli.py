"""The ``pyrocsa`` command line.

Commands (``pyrocsa COMMAND --help`` for each):

* ``demo``       -- the README's main job: CSA-INFO on the shipped ACTG trial (RMST and survival differences
                    inside follow-up beside the Kaplan-Meier, HR beside the trial's Cox HR)
                    and on actg-Synthetic (PEHE / ATE beside the truth); writes plots.
* ``fit``        -- CSV/Parquet in, column names as options, model directory out (``--nproc K``: K
                    data-parallel processes; or launch with ``torchrun ... -m pyrocsa fit``).
* ``predict``    -- model + CSV -> CSV of per-subject ITE mean and HDI, plus a netCDF InferenceData.
* ``simulate``   -- the paper's Gompertz-Cox simulator to CSV (with ground-truth columns).
* ``synthesize`` -- STEAM-style synthetic cohort from a CSV.
* ``evaluate``   -- factual metrics (C-index, calibration slope, D-calibration) of a model on a CSV, and
                    causal metrics (PEHE, ATE error, coverage) when ground-truth columns are given.

Every path and option is checked before any training. A failure ends with one line on stderr naming the
file, column or option and what is wrong, and exit code 2 (1 for an internal error); never a traceback
unless ``--debug`` is given (``pyrocsa --debug COMMAND ...`` or ``pyrocsa COMMAND ... --debug``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


class CLIError(Exception):
    """An error that the command line reports in one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors reported in one line (exit code 2)."""

    def error(self, message):
        m = re.match(r"argument ([^:/]+)(?:/[^:]+)?: (.*)", message)
        if m:  # "argument --n: must be ..." -> "--n must be ..."
            sep = " " if m.group(1).startswith("-") else ": "
            message = f"{m.group(1)}{sep}{m.group(2)}"
        self.exit(EXIT_BAD_INPUT, f"pyrocsa: error: {message} (see '{self.prog} --help')\n")


# -- argument types (argparse reports their errors in one line, exit code 2) --------------------------------
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


# -- paths: checked before any work -------------------------------------------------------------------------
def _input_file(path: str, arg: str = "input file") -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{arg} '{path}' does not exist")
    if p.is_dir():
        raise CLIError(f"{arg} '{path}' is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise CLIError(f"{arg} '{path}' cannot be read (permission denied)")
    if p.stat().st_size == 0:
        raise CLIError(f"{arg} '{path}' is empty")
    return p


def _read_table(path: str) -> pd.DataFrame:
    p = _input_file(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(p)
        except ImportError:
            raise
        except Exception as err:  # noqa: BLE001 - pyarrow raises its own types
            raise CLIError(f"input file '{path}' could not be read as Parquet "
                           f"({type(err).__name__})") from None
    elif suffix in (".csv", ".txt", ".gz"):
        try:
            df = pd.read_csv(p)
        except pd.errors.EmptyDataError:
            raise CLIError(f"input file '{path}' has no columns (an empty CSV file?)") from None
        except pd.errors.ParserError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else "parse error"
            raise CLIError(f"input file '{path}' could not be parsed as CSV: {first}") from None
        except (UnicodeDecodeError, EOFError, OSError) as err:
            raise CLIError(f"input file '{path}' could not be read as CSV ({type(err).__name__})") from None
    else:
        raise CLIError(f"input file '{path}': unsupported format (use .csv or .parquet)")
    if len(df) == 0:
        raise CLIError(f"input file '{path}' has no data rows")
    if not df.columns.is_unique:
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise CLIError(f"input file '{path}' has duplicate column names {dup[:5]}")
    return df


def _probe_dir(d: Path, arg: str, path: str) -> None:
    """Create ``d`` (and its parents) if needed and check that a file can be written in it."""
    for anc in (d, *d.parents):
        if anc.exists():
            if not anc.is_dir():
                raise CLIError(f"{arg} '{path}': '{anc}' is a file, not a directory")
            break
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as err:
        raise CLIError(f"{arg} '{path}': cannot write to directory '{d}' ({err.strerror or err})") from None


def _output_file(path: str | None, arg: str) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{arg} '{path}' is a directory; give a file name")
    _probe_dir(p.parent if str(p.parent) else Path("."), arg, path)
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{arg} '{path}' exists and cannot be overwritten (permission denied)")


def _output_model_dir(path: str, arg: str = "--out") -> None:
    from pyrocsa.core.checkpoint import check_save_target
    from pyrocsa.errors import ModelFileError

    p = Path(path)
    try:
        check_save_target(p)
    except ModelFileError as err:
        raise CLIError(f"{arg} '{path}': {str(err).split(': ', 1)[-1]}") from None
    _probe_dir(p.parent if str(p.parent) else Path("."), arg, path)  # the model is written beside, then moved


def _output_plot_dir(path: str, arg: str = "--out") -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CLIError(f"{arg} '{path}' exists and is not a directory")
    _probe_dir(p, arg, path)
    return p


def _check_columns(df: pd.DataFrame, path: str, named: list[tuple[str, object]]) -> None:
    """Each option's column must be in the file, and the outcome / treatment options name different ones."""
    for opt, col in named:
        if col is not None and col not in df.columns:
            raise CLIError(f"{opt} '{col}': column '{col}' not in {path} (columns: {list(df.columns)[:20]})")
    roles = [(o, c) for o, c in named if o in ("--duration", "--event", "--treatment") and c]
    for i, (o1, c1) in enumerate(roles):
        for o2, c2 in roles[i + 1:]:
            if c1 == c2:
                raise CLIError(f"{o1} and {o2} both name column '{c1}': one column cannot play two roles")


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


def _add_columns(p: argparse.ArgumentParser, outcome: bool = True) -> None:
    if outcome:
        p.add_argument("--duration", required=True, help="follow-up time column (e.g. days)")
        p.add_argument("--event", required=True, help="event indicator column (1 = event, 0 = censored)")
    p.add_argument("--treatment", required=True, help="binary treatment column")
    p.add_argument("--treated-value", default=None,
                   help="label of the treated arm when the treatment is not 0/1 (default: 1)")
    p.add_argument("--covariates", default=None,
                   help="comma-separated covariate columns (default: every other column)")


def _treated_value(v):
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        return v


def _save_fig(ax_or_fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig = ax_or_fig.figure if hasattr(ax_or_fig, "figure") else ax_or_fig
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _km_rmst_difference(df, duration_col, event_col, treatment_col, horizon: float) -> float:
    """Model-free RMST difference (treated - control) at ``horizon`` from each arm's Kaplan-Meier curve:
    unbiased in a randomised trial, so a reference for the model's RMST ATE."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    arm = df[treatment_col].astype(float)
    rmst = [restricted_mean_survival_time(KaplanMeierFitter().fit(df.loc[arm == a, duration_col],
                                                                  df.loc[arm == a, event_col]), t=horizon)
            for a in (0.0, 1.0)]
    return float(rmst[1] - rmst[0])


#: times (days) of the survival differences the demo prints for ACTG
DEMO_TIMES = (500.0, 1000.0)


def _km_survival_difference(df, duration_col, event_col, treatment_col, times) -> np.ndarray:
    """Kaplan-Meier S1(t) - S0(t) at ``times`` (treated - control): the model-free reference in a trial."""
    from lifelines import KaplanMeierFitter

    arm = df[treatment_col].astype(float)
    surv = [KaplanMeierFitter().fit(df.loc[arm == a, duration_col], df.loc[arm == a, event_col])
            .survival_function_at_times(list(times)).to_numpy() for a in (0.0, 1.0)]
    return surv[1] - surv[0]


def _fmt_hr(d: dict) -> str:
    return f"{d['hr']:.2f} ({d['lower']:.2f}, {d['upper']:.2f})"


def _csa(n_members: int, **config):
    """``CSA(**config)``, or for ``--ensemble-size K > 1`` an ``Ensemble`` of K such fits (bootstrap
    members seeded from the same seed)."""
    from pyrocsa.core.ensemble import Ensemble
    from pyrocsa.csa.estimator import CSA

    model = CSA(**config)
    if n_members == 1:
        return model
    return Ensemble(model, n_members=n_members, seed=config.get("seed", 0))


# -- commands -----------------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    out = _output_plot_dir(args.out)
    if args.num_samples % args.ensemble_size:
        raise CLIError(f"--num-samples {args.num_samples} is not divisible by --ensemble-size "
                       f"{args.ensemble_size} (draws are split evenly across the members)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyrocsa.data import actg as actg_data
    from pyrocsa.data.actg_synthetic import load_actg_synthetic
    from pyrocsa.data.frame import stratified_split
    from pyrocsa.evaluation import metrics
    from pyrocsa.reports import plotting

    written = []
    cfg = dict(informative_censoring=True, alpha=args.alpha, seed=args.seed, max_epochs=args.epochs,
               verbose=not args.quiet)

    # 1. The ACTG 175 RCT, arms 0 vs 1, baseline covariates only.
    actg = actg_data.load_actg()
    cols = list(actg_data.ACTG_BASELINE) + ["days", "cens", "arms"]
    frame = actg[cols]
    split = stratified_split(frame, "cens", "arms", seed=args.seed)
    print("== ACTG 175 RCT (zidovudine vs zidovudine + didanosine), baseline covariates ==")
    print(f"   {len(frame)} patients, {frame['cens'].mean():.1%} events, {frame['arms'].mean():.1%} treated")
    cox = metrics.cox_hazard_ratio(frame, "days", "cens", "arms")
    model = _csa(args.ensemble_size, **cfg).fit(frame.iloc[split["train"]], duration_col="days",
                                                event_col="cens", treatment_col="arms",
                                                val_df=frame.iloc[split["valid"]])
    po = model.sample_potential_outcomes(frame, num_samples=args.num_samples, seed=args.seed)
    # effects inside follow-up first: they rest on the data, not on the model's tail beyond follow-up
    follow_up = float(frame["days"].max())
    print(f"   follow-up: {follow_up:.0f} days (effects below are inside it)")
    print(f"   RMST difference at 1000 days (ATE): {po.rmst_ate(1000.0):.1f} days; the trial's Kaplan-Meier: "
          f"{_km_rmst_difference(frame, 'days', 'cens', 'arms', 1000.0):.1f} days")
    for t, model_diff, km_diff in zip(DEMO_TIMES, po.survival_difference(DEMO_TIMES).mean(axis=0),
                                      _km_survival_difference(frame, 'days', 'cens', 'arms', DEMO_TIMES)):
        print(f"   survival difference S1 - S0 at {t:.0f} days: {model_diff:+.3f}; the trial's Kaplan-Meier: "
              f"{km_diff:+.3f}")
    hr = po.hazard_ratio(seed=args.seed, point="median")
    hr_draws = po.hazard_ratio(seed=args.seed)  # the default: point="draws", the marginal reading
    print(f"   CSA-INFO HR(t), all draws (default)  {_fmt_hr(hr_draws)}")
    print(f"   CSA-INFO HR(t), median draws (paper) {_fmt_hr(hr)}   (fails under heavy censoring: most "
          "medians lie beyond follow-up)")
    print(f"   trial Cox HR                         {_fmt_hr(cox)}   (paper: CoxPH 0.49 (0.38, 0.64))")
    inside = cox["lower"] <= hr_draws["hr"] <= cox["upper"]
    print(f"   CSA-INFO HR (all draws) inside the trial's 95% CI: {inside}")

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    plotting.plot_kaplan_meier(frame, "days", "cens", "arms", ax=axes[0])
    plotting.plot_population_survival(po, ax=axes[1])
    plotting.plot_hazard_ratio(hr_draws, ax=axes[2], reference=cox, reference_label="trial Cox",
                               label="CSA-INFO, all draws")
    written.append(_save_fig(fig, out / "actg_rct.png"))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotting.plot_adjusted_survival(po, ax=ax)  # model-adjusted S_a(t) per arm over the trial's Kaplan-Meier
    written.append(_save_fig(fig, out / "actg_adjusted_survival.png"))

    # 2. actg-Synthetic: known potential outcomes.
    syn = load_actg_synthetic()
    df = syn.frame
    tr = df.iloc[syn.split["train"]]
    va = df.iloc[syn.split["valid"]]
    te = df.iloc[syn.split["test"]]
    print("\n== actg-Synthetic (the paper's split; test set) ==")
    model2 = _csa(args.ensemble_size, **cfg).fit(tr, duration_col="time", event_col="event",
                                                 treatment_col="treatment", val_df=va)
    po2 = model2.sample_potential_outcomes(te, num_samples=args.num_samples, seed=args.seed)
    idx = syn.split["test"]
    true_ite = syn.t1[idx] - syn.t0[idx]
    rm0, rm1 = syn.rmst(1000.0)
    true_rmst = (rm1 - rm0)[idx]
    rows = [
        ("RMST@1000: PEHE vs true conditional", metrics.pehe(po2.rmst_difference(1000.0), true_rmst),
         "constant predictor 110.2"),
        ("RMST@1000: ATE error", metrics.ate_error(po2.rmst_difference(1000.0), true_rmst), ""),
        ("expected lifetime: PEHE vs realised t1-t0", metrics.pehe(po2.t1.mean(0) - po2.t0.mean(0), true_ite),
         "paper CSA-INFO 344.3"),
        ("expected lifetime: ATE error", metrics.ate_error(po2.t1.mean(0) - po2.t0.mean(0), true_ite),
         "paper CSA-INFO 31.2"),
    ]
    for name, val, ref in rows:
        print(f"   {name:<42s} {val:8.1f} days   {ref}")
    beyond = float(np.mean(np.concatenate([po2.t0.ravel(), po2.t1.ravel()]) > po2.follow_up))
    print(f"   true test ATE (realised t1 - t0): {true_ite.mean():.1f} days; model: "
          f"{float(np.mean(po2.t1 - po2.t0)):.1f} days ({beyond:.0%} of the draws lie beyond the follow-up "
          f"of {po2.follow_up:.0f} days, where they come from the model's tail)")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plotting.plot_ite(po2, ax=axes[0], horizon=1000.0)
    axes[1].scatter(true_rmst, po2.rmst_difference(1000.0), s=8, alpha=0.6)
    lim = [min(true_rmst.min(), 0), max(true_rmst.max(), 1)]
    axes[1].plot(lim, lim, color="grey", ls="--", label="y = x")
    axes[1].set_xlabel("true RMST@1000 difference (days)")
    axes[1].set_ylabel("CSA-INFO RMST@1000 difference (days)")
    axes[1].set_title("Individual effects vs truth (test set)")
    axes[1].legend()
    written.append(_save_fig(fig, out / "actg_synthetic.png"))
    print("\nplots written: " + ", ".join(written))
    return 0


def _fit_and_save(args, df: pd.DataFrame) -> None:
    from pyrocsa.core import distributed

    model = _csa(args.ensemble_size, informative_censoring=not args.no_informative_censoring,
                 alpha=args.alpha, seed=args.seed, max_epochs=args.epochs, verbose=not args.quiet)
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


def cmd_fit(args) -> int:
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


def _model_dir(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"model directory '{path}' does not exist")
    if not p.is_dir():
        raise CLIError(f"model directory '{path}' is not a directory")
    return p


def _load_model(path: str, num_samples: int):
    """The model saved in ``path``: a CSA, or an Ensemble of them (``pyrocsa fit --ensemble-size K``)."""
    from pyrocsa.core.ensemble import Ensemble
    from pyrocsa.csa.estimator import CSA

    d = _model_dir(path)
    try:
        saved = json.loads((d / "config.json").read_text()).get("class")
    except (OSError, ValueError, AttributeError):
        saved = None  # CSA.load names the problem
    model = (Ensemble if saved == "Ensemble" else CSA).load(d)
    k = len(getattr(model, "members_", None) or []) or 1
    if num_samples % k:
        raise CLIError(f"--num-samples {num_samples} is not divisible by the {k} members of the model in "
                       f"'{path}' (draws are split evenly across them; use e.g. "
                       f"{k * max(1, num_samples // k)})")
    return model


def cmd_predict(args) -> int:
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


def cmd_simulate(args) -> int:
    _output_file(args.out, "--out")
    from pyrocsa.data import simulate

    cohort = simulate.simulate(n=args.n, seed=args.seed, confounding=args.confounding,
                               censoring=args.censoring, nonlinear=args.nonlinear)
    frame = cohort.frame.copy()
    if args.truth:
        frame["true_t0"], frame["true_t1"] = cohort.t0, cohort.t1
        frame["true_c0"], frame["true_c1"] = cohort.c0, cohort.c1
        frame["propensity"] = cohort.propensity
    frame.to_csv(args.out, index=False)
    print(f"{len(frame)} simulated subjects written to {args.out} ({frame['event'].mean():.1%} events, "
          f"{frame['treatment'].mean():.1%} treated)")
    return 0


def cmd_synthesize(args) -> int:
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


def cmd_evaluate(args) -> int:
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


# -- parser -------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pyrocsa", description="Counterfactual survival analysis (CSA-INFO) with Pyro: "
                "treatment effects on time-to-event outcomes.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="fit CSA-INFO on the shipped ACTG data and write plots")
    d.add_argument("--out", default="pyrocsa-demo", help="folder for the plots (default: pyrocsa-demo)")
    d.add_argument("--epochs", type=_positive_int, default=150,
                   help="maximum training epochs per fit (default 150)")
    d.add_argument("--alpha", type=_non_negative, default=0.0,
                   help="IPM weight (default 0, as CSA)")
    d.add_argument("--num-samples", type=_positive_int, default=200, help="draws per subject (default 200)")
    d.add_argument("--seed", type=_seed, default=0)
    d.add_argument("--ensemble-size", type=_positive_int, default=1,
                   help="bootstrap members per CSA-INFO model (default 1: one fit; K > 1: a "
                        "pyrocsa.Ensemble)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=cmd_demo)

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
    f.set_defaults(func=cmd_fit)

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
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("simulate", help="simulate the paper's Gompertz-Cox cohort to CSV")
    s.add_argument("--out", required=True, help="CSV to write")
    s.add_argument("--n", type=_positive_int, default=2139)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--confounding", type=_non_negative, default=1.0, help="confounding strength (0 = RCT)")
    s.add_argument("--censoring", default="normal", choices=["normal", "informative"])
    s.add_argument("--nonlinear", type=_finite, default=0.0, help="strength of extra nonlinear terms")
    s.add_argument("--truth", action="store_true", help="add true potential times and propensity columns")
    s.set_defaults(func=cmd_simulate)

    y = sub.add_parser("synthesize", help="STEAM-style synthetic cohort from a CSV/Parquet file")
    y.add_argument("data")
    _add_columns(y)
    y.add_argument("--n", type=_positive_int, default=None,
                   help="rows to generate (default: as many as the input)")
    y.add_argument("--out", required=True, help="CSV to write")
    y.add_argument("--epochs", type=_positive_int, default=None,
                   help="max epochs of the CSA-INFO outcome model")
    y.add_argument("--seed", type=_seed, default=0)
    y.set_defaults(func=cmd_synthesize)

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
    e.set_defaults(func=cmd_evaluate)
    for cmd in sub.choices.values():  # also accepted after the command: pyrocsa fit ... --debug
        cmd.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the full traceback of an error")
    return p


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
    print(f"pyrocsa: warning: {_first_line(Warning(str(message)))}", file=sys.stderr)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

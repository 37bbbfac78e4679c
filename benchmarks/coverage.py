"""Does the ensemble's 95% interval of the RMST-difference ATE cover the truth? (issue "Honest uncertainty")

    OMP_NUM_THREADS=1 python3 -m benchmarks.coverage [--replicates 20] [--ensemble-size 5] [--epochs N]
                                                     [--n 2000] [--cox-boot 40] [--small] [--quick]

Scenario (pyrocsa.simulate.simulate): N subjects from the ACTG covariates, Gompertz-Cox event times with a
nonlinear, heterogeneous effect (``nonlinear=1``: arm-specific sin / square / interaction / tanh terms),
the authors' confounded treatment assignment and informative, arm-specific Weibull-Cox censoring with
administrative end of study at 1500 days (``censoring="informative"``). Replicate r uses seed ``seed0 + r``.

Per replicate: CSA-INFO members are fitted on stratified bootstrap resamples of the 70% training split
(early stopping on the shared 15% validation split) and sampled on all N subjects; the target is the
sample-average RMST difference at ``--horizon`` days over the N subjects, mean_i RMST_1(h|x_i) -
RMST_0(h|x_i), from the simulator's exact conditional RMSTs.

* CSA ensemble: ``effect_intervals`` (mean +- t_{K-1} s_K sqrt(1 + 1/K)); the percentile interval over the
  K members is reported beside it.
* Cox T-learner (pyrocsa.baselines.cox.CoxTLearner, one penalised Cox model per arm) fitted on the 85%
  training + validation rows; interval = percentile bootstrap over ``--cox-boot`` stratified resamples of
  those rows, its exact RMST ATE on each (what a user would otherwise do).

Also per subject, on the 15% test split: coverage of the true T_0, T_1 by the 90% central interval of the
draws (ensemble draws for CSA, predictive draws of the full-data Cox fit) and the RMST PEHE
sqrt(mean_i (tau_hat_i - tau_i)^2) of the per-subject RMST difference. The markdown table goes to
benchmarks/results/coverage.md (coverage_quick.md with --quick), rewritten after every replicate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from lifelines.exceptions import ConvergenceError  # noqa: E402

from benchmarks.common import RESULTS as _RESULTS  # noqa: E402
from pyrocsa.baselines.cox import CoxTLearner  # noqa: E402
from pyrocsa.core.ensemble import effect_intervals, fit_members, sample_members, stratified_bootstrap  # noqa: E402
from pyrocsa.csa.estimator import CSA  # noqa: E402
from pyrocsa.metrics import interval_coverage, pehe  # noqa: E402
from pyrocsa.simulate import simulate  # noqa: E402

RESULTS = str(_RESULTS)
COLS = ("time", "event", "treatment")


def csa_config(args) -> dict:
    """The package's CSA-INFO defaults (``--small``: narrow nets and a short, fast schedule instead)."""
    cfg = dict(informative_censoring=True, alpha=args.alpha, verbose=False)
    if args.small:
        cfg.update(hidden=(32, 32), flow_layers=2, lr=3e-3, max_epochs=args.epochs
                   or 10, patience=5)
    elif args.epochs:
        cfg["max_epochs"] = args.epochs
    return cfg


def cox_fit(frame, covs) -> CoxTLearner:
    """CoxTLearner(penalizer=0.01); on a Newton-Raphson failure (a covariate constant within one arm of a
    small resample: lifelines divides by its standard deviation) refit without the covariates that are
    constant within an arm, as a user would."""
    try:
        return CoxTLearner().fit(frame, *COLS, covariates=covs)
    except ConvergenceError:
        varying = frame.groupby("treatment")[covs].nunique().min() > 1
        return CoxTLearner().fit(frame, *COLS, covariates=[c for c in covs if varying[c]])


def cox_boot_ate(fit_rows, pos, covs, df, h) -> float:
    """RMST ATE over ``df`` of a Cox T-learner fitted on the bootstrap rows ``pos`` of ``fit_rows``."""
    boot = fit_rows.iloc[pos].reset_index(drop=True)
    return float(cox_fit(boot, covs).rmst(df, h)["rmst_difference"].mean())


def run_replicate(r: int, args) -> dict:
    co = simulate(n=args.n, seed=args.seed0 + r, nonlinear=args.nonlinear, censoring="informative")
    df, covs, h = co.frame, list(co.covariates), args.horizon
    tr, va, te = (co.split[k] for k in ("train", "valid", "test"))
    tau = co.ite("rmst", horizon=h)  # (N,) true conditional RMST differences
    truth = float(tau.mean())
    out = {"replicate": r, "truth": truth, "events": float(df["event"].mean())}

    # ---- CSA ensemble -------------------------------------------------------------------------------
    t_start = time.time()
    members = fit_members(CSA(**csa_config(args)), df.iloc[tr], *COLS, val_df=df.iloc[va], covariates=covs,
                          K=args.ensemble_size, seed=r, n_jobs=args.jobs)
    po = sample_members(members, df, num_samples=args.num_samples, seed=r)
    for method in ("t", "percentile"):
        eff = effect_intervals(po, h, level=0.95, method=method, hazard_ratio=False)["rmst_difference"]
        out[f"csa_{method}_lo"], out[f"csa_{method}_hi"] = eff["lower"], eff["upper"]
    out["csa_est"] = eff["estimate"]
    out["csa_epochs"] = float(np.mean([len(m.history_) for m in members]))
    out["csa_cov0"] = interval_coverage(po.t0[:, te], co.t0[te], 0.9)
    out["csa_cov1"] = interval_coverage(po.t1[:, te], co.t1[te], 0.9)
    out["csa_pehe"] = pehe(po.rmst_difference(h)[te], tau[te])
    out["csa_time"] = time.time() - t_start

    # ---- Cox T-learner with a bootstrap ------------------------------------------------------------------
    t_start = time.time()
    fit_rows = df.iloc[np.sort(np.concatenate([tr, va]))]
    cox = cox_fit(fit_rows, covs)
    out["cox_est"] = float(cox.rmst(df, h)["rmst_difference"].mean())
    a, d = fit_rows["treatment"].to_numpy(), fit_rows["event"].to_numpy()
    seeds = np.random.SeedSequence([r, 1]).spawn(args.cox_boot)
    resamples = [stratified_bootstrap(a, d, child) for child in seeds]
    boots = Parallel(n_jobs=args.jobs or min(2, os.cpu_count() or 1), backend="loky")(
        delayed(cox_boot_ate)(fit_rows, pos, covs, df, h) for pos in resamples)
    out["cox_lo"], out["cox_hi"] = (float(v) for v in np.quantile(boots, [0.025, 0.975]))
    cpo = cox.sample_potential_outcomes(df.iloc[te], num_samples=200, seed=r)
    out["cox_cov0"] = interval_coverage(cpo.t0, co.t0[te], 0.9)
    out["cox_cov1"] = interval_coverage(cpo.t1, co.t1[te], 0.9)
    out["cox_pehe"] = pehe(cox.rmst(df.iloc[te], h)["rmst_difference"].to_numpy(), tau[te])
    out["cox_time"] = time.time() - t_start
    return out


def summarise(rows: list[dict]) -> dict:
    def cov(lo, hi):
        c = np.array([r[lo] <= r["truth"] <= r[hi] for r in rows], dtype=float)
        return c.mean(), np.sqrt(c.mean() * (1 - c.mean()) / len(c))

    out = {}
    for label, est, lo, hi, pre in (("CSA ensemble, t interval", "csa_est", "csa_t_lo", "csa_t_hi", "csa"),
                                    ("CSA ensemble, percentile", "csa_est", "csa_percentile_lo",
                                     "csa_percentile_hi", "csa"),
                                    ("Cox T-learner, bootstrap", "cox_est", "cox_lo", "cox_hi", "cox")):
        c, se = cov(lo, hi)
        err = np.array([r[est] - r["truth"] for r in rows])
        out[label] = {
            "coverage": c, "coverage_se": se,
            "width": float(np.mean([r[hi] - r[lo] for r in rows])),
            "bias": float(err.mean()), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "cov0": float(np.mean([r[f"{pre}_cov0"] for r in rows])),
            "cov1": float(np.mean([r[f"{pre}_cov1"] for r in rows])),
            "pehe": float(np.mean([r[f"{pre}_pehe"] for r in rows])),
            "time": float(np.mean([r[f"{pre}_time"] for r in rows])),
        }
    return out


def markdown(rows: list[dict], args, command: str, done: bool) -> str:
    s = summarise(rows)
    lines = [
        "# Coverage of the RMST-difference ATE: CSA ensemble vs bootstrap Cox T-learner",
        "",
        f"Command: `{command}`  ",
        f"Status: {'finished' if done else 'partial'} -- {len(rows)} of {args.replicates} replicates; "
        f"written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Scenario: `simulate(n={args.n}, seed={args.seed0}+r, nonlinear={args.nonlinear}, "
        f"censoring='informative')`; horizon {args.horizon:g} days; target = mean over the N subjects of "
        "the true conditional RMST difference. CSA: K = "
        f"{args.ensemble_size} members, config `{csa_config(args)}`, {args.num_samples} draws in total per "
        f"subject. Cox: `CoxTLearner()` on train+valid, {args.cox_boot} stratified bootstrap resamples.",
        "",
        "| model | 95% ATE coverage (MC s.e.) | mean width | bias | RMSE | T0 cov (90%) | T1 cov (90%) "
        "| RMST PEHE | s / replicate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, v in s.items():
        lines.append(f"| {label} | {v['coverage']:.2f} ({v['coverage_se']:.2f}) | {v['width']:.1f} | "
                     f"{v['bias']:+.1f} | {v['rmse']:.1f} | {v['cov0']:.2f} | {v['cov1']:.2f} | "
                     f"{v['pehe']:.1f} | {v['time']:.0f} |")
    lines += ["", "Per replicate (days):", "",
              "| r | truth | CSA est | CSA t interval | Cox est | Cox interval | CSA epochs |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['replicate']} | {r['truth']:.1f} | {r['csa_est']:.1f} | "
                     f"[{r['csa_t_lo']:.1f}, {r['csa_t_hi']:.1f}] | {r['cox_est']:.1f} | "
                     f"[{r['cox_lo']:.1f}, {r['cox_hi']:.1f}] | {r['csa_epochs']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--ensemble-size", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="max epochs (default: the CSA default)")
    ap.add_argument("--small", action="store_true",
                    help="narrow nets, lr 3e-3, 10 epochs (fast; less accurate)")
    ap.add_argument("--alpha", type=float, default=0.0, help="IPM weight of CSA (0 halves the fit time)")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--horizon", type=float, default=1000.0)
    ap.add_argument("--nonlinear", type=float, default=1.0)
    ap.add_argument("--num-samples", type=int, default=100, help="CSA draws per subject (all members)")
    ap.add_argument("--cox-boot", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=None, help="worker processes for the members")
    ap.add_argument("--seed0", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="3 replicates, N=600, K=3, 3 epochs (minutes)")
    ap.add_argument("--out", default=None, help="markdown output (default results/coverage[_quick].md)")
    args = ap.parse_args(argv)
    if args.quick:
        args.replicates, args.n, args.ensemble_size, args.epochs, args.small = 3, 600, 3, 3, True
        args.cox_boot, args.num_samples = 10, 30
    if args.num_samples % args.ensemble_size:
        args.num_samples += args.ensemble_size - args.num_samples % args.ensemble_size
    out_path = args.out or os.path.join(RESULTS, "coverage_quick.md" if args.quick else "coverage.md")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*dropping constant covariate.*")
    command = "python3 -m benchmarks.coverage " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for r in range(args.replicates):
        row = run_replicate(r, args)
        rows.append(row)
        print(f"r={r:2d} truth {row['truth']:7.1f} | CSA {row['csa_est']:7.1f} "
              f"[{row['csa_t_lo']:7.1f}, {row['csa_t_hi']:7.1f}] {row['csa_time']:5.0f}s | Cox "
              f"{row['cox_est']:7.1f} [{row['cox_lo']:7.1f}, {row['cox_hi']:7.1f}] {row['cox_time']:4.0f}s",
              flush=True)
        with open(out_path, "w") as f:
            f.write(markdown(rows, args, command, done=r + 1 == args.replicates))
    print(open(out_path).read())


if __name__ == "__main__":
    main()

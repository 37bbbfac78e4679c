"""``pyrocsa demo``: the README's main job on the shipped data, in one command.

CSA-INFO on the ACTG 175 trial (baseline covariates, arms 0 vs 1): the RMST and survival differences inside
follow-up beside the trial's Kaplan-Meier, and HR(t) beside the trial's Cox HR; then on actg-Synthetic, whose
potential outcomes are known: PEHE and ATE error beside the truth and the paper's numbers. Writes three
plots. In a randomised trial the Kaplan-Meier curves per arm are unbiased, so they are the model-free
reference for the model's effects.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .args import _non_negative, _positive_int, _seed
from .errors import CLIError
from .files import _output_plot_dir
from .models import _csa

#: times (days) of the survival differences the demo prints for ACTG
DEMO_TIMES = (500.0, 1000.0)


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``demo`` subparser and its options to ``sub`` (the subparsers action of
    :func:`pyrocsa.reports.cli.build_parser`); returns it."""
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
    d.set_defaults(func=run)
    return d


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


def _km_survival_difference(df, duration_col, event_col, treatment_col, times) -> np.ndarray:
    """Kaplan-Meier S1(t) - S0(t) at ``times`` (treated - control): the model-free reference in a trial."""
    from lifelines import KaplanMeierFitter

    arm = df[treatment_col].astype(float)
    surv = [KaplanMeierFitter().fit(df.loc[arm == a, duration_col], df.loc[arm == a, event_col])
            .survival_function_at_times(list(times)).to_numpy() for a in (0.0, 1.0)]
    return surv[1] - surv[0]


def _fmt_hr(d: dict) -> str:
    return f"{d['hr']:.2f} ({d['lower']:.2f}, {d['upper']:.2f})"


def run(args) -> int:
    """Fit CSA-INFO on ACTG 175 and on actg-Synthetic, print the effects beside their references and write
    the plots into ``args.out``; returns the exit code (0)."""
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

"""Calibration against the trial's Kaplan-Meier: the mean of a model's S_a(t | x) over arm a's patients.

    OMP_NUM_THREADS=1 python3 -m benchmarks.calibration_km [--seeds 0 1 2] [--extra 'dropout=0.2']
        [--models csa cox aft] [--out benchmarks/results/calibration_km.md]

On the ACTG 175 RCT subset (arms 0 vs 1, ``ACTG_BASELINE`` covariates, 1054 patients), each model is fitted
on the stratified 70/15 train/valid split (seed ``s``), then for every patient of arm a the model's
survival S_a(t | x) under the received arm is averaged over the arm's patients. In a randomised trial this
marginal curve estimates the arm's survival, which the arm's Kaplan-Meier estimates model-free.

* ``sup|S-KM|``: the largest gap over a grid of 60 times from 50 days to the last time at which at least
  10% of the arm is still followed (at risk);
* ``KM band``: the Kaplan-Meier's own pointwise 95% half-width there (the largest), for scale;
* ``Dcal_p``: D-calibration p-value (Haider et al., 2020) of 200 factual draws per patient against the
  observed (censored) outcomes of all 1054 patients (p > 0.05: not rejected).

Models: CSA-INFO (package defaults, plus ``--extra``; exact S from
:meth:`pyrocsa.CSA.predict_survival_function`),
a lifelines Cox model per arm (``CoxTLearner``) and the neural AFT-Weibull baseline (S from 2000 draws per
patient). With ``--plot PATH`` the first seed's curves are overlaid on the Kaplan-Meier (PNG).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa import datasets  # noqa: E402
from pyrocsa.baselines import AFTWeibull, CoxTLearner  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402
from pyrocsa.metrics import d_calibration  # noqa: E402

COLS = ("days", "cens", "arms")


def parse_extra(text: str) -> dict:
    out = {}
    for kv in filter(None, text.split(",")):
        k, v = kv.split("=", 1)
        out[k.strip()] = eval(v)  # noqa: S307 - benchmark command line only
    return out


def km_grid(durations, events, min_share: float = 0.1, n: int = 60, start: float = 50.0):
    """Kaplan-Meier of one arm and the evaluation grid: times with >= ``min_share`` of the arm at risk."""
    km = KaplanMeierFitter().fit(durations, events)
    at_risk = np.array([(durations >= t).mean() for t in np.sort(durations)])
    end = float(np.sort(durations)[at_risk >= min_share].max())
    return km, np.linspace(start, end, n)


def marginal_survival(model, frame, arm_mask, grid, arm, seed):
    """Mean over the arm's patients of S_arm(t | x) on ``grid``: exact where the model has it, else from
    2000 draws per patient."""
    sub = frame[arm_mask]
    if hasattr(model, "predict_survival_function"):
        return model.predict_survival_function(sub, times=grid, treatment=arm).to_numpy().mean(1)
    po = model.sample_potential_outcomes(sub, 2000, seed=seed)
    draws = po.t1 if arm == 1 else po.t0
    return np.array([(draws > t).mean() for t in grid])


def make_model(name, seed, extra):
    if name == "csa":
        priv = {k: v for k, v in extra.items() if k.startswith("_")}
        est = pyrocsa.CSA(seed=seed, verbose=False, **{k: v for k, v in extra.items() if k not in priv})
        for k, v in priv.items():
            setattr(est, k, v)
        return est
    if name == "cox":
        return CoxTLearner()
    if name == "aft":
        return AFTWeibull(seed=seed, verbose=False)
    raise ValueError(f"unknown model {name!r}")


def evaluate(name, seed, extra, frame, plot_data=None):
    split = stratified_split(frame, "cens", "arms", seed=seed)
    model = make_model(name, seed, extra)
    t0 = time.time()
    kw = {"val_df": frame.iloc[split["valid"]]} if name != "cox" else {}
    model.fit(frame.iloc[split["train"]], *COLS, **kw)
    elapsed = time.time() - t0
    row = {"model": name, "seed": seed, "seconds": elapsed}
    for arm in (0, 1):
        m = (frame["arms"] == arm).to_numpy()
        km, grid = km_grid(frame.loc[m, "days"].to_numpy(float), frame.loc[m, "cens"].to_numpy(float))
        s_model = marginal_survival(model, frame, m, grid, arm, seed)
        s_km = km.survival_function_at_times(grid).to_numpy()
        ci = km.confidence_interval_survival_function_
        lo = np.interp(grid, ci.index.to_numpy(), ci.iloc[:, 0].to_numpy())
        hi = np.interp(grid, ci.index.to_numpy(), ci.iloc[:, 1].to_numpy())
        row[f"sup{arm}"] = float(np.max(np.abs(s_model - s_km)))
        row[f"band{arm}"] = float(np.max((hi - lo) / 2))
        if plot_data is not None:
            plot_data.setdefault(arm, {"grid": grid, "km": s_km, "lo": lo, "hi": hi})[name] = s_model
    po = model.sample_potential_outcomes(frame, 200, seed=seed)
    a = frame["arms"].to_numpy()
    fact = np.where(a[None, :] == 1, po.t1, po.t0)
    dcal = d_calibration(fact, frame["days"].to_numpy(float), frame["cens"].to_numpy(float))
    row["Dcal_p"] = dcal["p_value"]
    return row


def plot(plot_data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for arm, ax in zip((0, 1), axes):
        d = plot_data[arm]
        ax.fill_between(d["grid"], d["lo"], d["hi"], color="0.85", label="Kaplan-Meier 95% band")
        ax.plot(d["grid"], d["km"], "k-", lw=2, label="Kaplan-Meier")
        for name, style in (("csa", "C0-"), ("cox", "C1--"), ("aft", "C2:")):
            if name in d:
                ax.plot(d["grid"], d[name], style, label={"csa": "CSA-INFO", "cox": "Cox per arm",
                                                          "aft": "AFT-Weibull"}[name])
        ax.set_title(f"ACTG arm {arm}: mean S_a(t | x) over the arm's patients")
        ax.set_xlabel("days")
    axes[0].set_ylabel("survival")
    axes[0].legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=["csa", "cox", "aft"])
    ap.add_argument("--extra", default="", help="extra CSA kwargs, e.g. 'dropout=0.2'")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    ap.add_argument("--plot", default=None, help="PNG path for the overlay of the first seed")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    extra = parse_extra(args.extra)
    frame = datasets.load_actg()[list(datasets.ACTG_BASELINE) + list(COLS)]
    rows, plot_data = [], {}
    for name in args.models:
        for seed in args.seeds:
            row = evaluate(name, seed, extra, frame, plot_data if seed == args.seeds[0] else None)
            rows.append(row)
            print(f"  {name} seed {seed}: sup0 {row['sup0']:.3f} sup1 {row['sup1']:.3f} "
                  f"Dcal_p {row['Dcal_p']:.3f} ({row['seconds']:.1f} s)", flush=True)
    lines = ["| model | seeds | sup\\|S-KM\\| arm 0 | arm 1 | KM 95% half-width arm 0 / 1 | D-cal p (min) "
             "| fit s |",
             "|---|---|---|---|---|---|---|"]
    labels = {"csa": f"CSA-INFO {extra or '(defaults)'}", "cox": "Cox per arm", "aft": "AFT-Weibull"}
    for name in args.models:
        rs = [r for r in rows if r["model"] == name]
        lines.append(
            f"| {labels[name]} | {len(rs)} | {np.mean([r['sup0'] for r in rs]):.3f} "
            f"(max {np.max([r['sup0'] for r in rs]):.3f}) | {np.mean([r['sup1'] for r in rs]):.3f} "
            f"(max {np.max([r['sup1'] for r in rs]):.3f}) | {rs[0]['band0']:.3f} / {rs[0]['band1']:.3f} | "
            f"{np.min([r['Dcal_p'] for r in rs]):.3f} | {np.mean([r['seconds'] for r in rs]):.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("# Calibration against the ACTG Kaplan-Meier\n\n`OMP_NUM_THREADS=1 python3 "
                     f"python3 -m benchmarks.calibration_km --seeds {' '.join(map(str, args.seeds))}"
                     f"{' --extra ' + repr(args.extra) if args.extra else ''}`\n\n{table}\n")
    if args.plot:
        plot(plot_data, args.plot)


if __name__ == "__main__":
    main()

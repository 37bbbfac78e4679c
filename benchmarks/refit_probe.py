"""Would refitting on the validation rows too close CSA-INFO's gap to the Cox T-learner on the design suite?

The design suite (``design_suite.py``) gives every baseline the training and validation rows (85% of N) and
gives CSA-INFO the training rows (70%), the validation rows going to early stopping. This probe measures
three things per design and seed, RMST PEHE on the test rows:

- ``cox (70%)``: the Cox T-learner on the training rows only (the data CSA-INFO's weights see);
- ``csa``: the default as in the suite (train on 70%, stop early on 15%);
- ``csa refit``: a second fit on training + validation rows (85%, Cox start included) for the number of
  epochs the first fit chose, no early stopping (its ``val_df`` is the validation rows, which it also
  trains on, with patience above the epoch cap, so nothing stops it; the state kept is the best of those
  epochs on rows it has seen, which is the last or close to it).

    OMP_NUM_THREADS=1 python3 benchmarks/refit_probe.py --designs b c e --seeds 0 1 2 3 4 5

``--baselines`` instead prints the Cox and log-normal AFT T-learners fitted on 70% and on 85% of N (the
data cost of the validation split for a model that needs none).

A probe, not a default: see ``results/design_suite_variants.md``.
"""
import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")
import design_suite as ds  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402


def pehe(model, d, split, test):
    r0, r1 = ds.model_rmst(model, test, d.horizon)
    true = d.rmst1[split["test"]] - d.rmst0[split["test"]]
    return float(np.sqrt(np.mean((r1 - r0 - true) ** 2)))


ap = argparse.ArgumentParser()
ap.add_argument("--designs", nargs="+", default=list("bce"))
ap.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
ap.add_argument("--baselines", action="store_true", help="Cox / log-normal AFT on 70%% vs 85%%")
ap.add_argument("--csv", type=Path, default=None, help="write the per-seed rows here")
args = ap.parse_args()
if args.baselines:
    for dname in args.designs:
        for name in ("cox", "lognormal"):
            scores = []
            for seed in args.seeds:
                d = ds.design(dname, seed)
                split = stratified_split(d.frame, "event", "treatment", seed=seed)
                tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
                fits = [ds.make_model(name, seed, {}, 0).fit(f, "time", "event", "treatment",
                                                             covariates=d.covariates)
                        for f in (tr, pd.concat([tr, va]))]
                scores.append([pehe(m, d, split, te) for m in fits])
            m = np.mean(scores, axis=0)
            print(f"({dname}) {name}: 70% {m[0]:.3f}  85% {m[1]:.3f}", flush=True)
    sys.exit(0)
rows = []
for dname in args.designs:
    for seed in args.seeds:
        d = ds.design(dname, seed)
        split = stratified_split(d.frame, "event", "treatment", seed=seed)
        tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
        cox = ds.make_model("cox", seed, {}, 0).fit(tr, "time", "event", "treatment", covariates=d.covariates)
        first = pyrocsa.CSA(seed=seed, verbose=False)
        first.fit(tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
        best = int(np.argmin([h["valid_loss"] for h in first.history_])) + 1
        refit = pyrocsa.CSA(seed=seed, verbose=False, max_epochs=best, patience=best + 1)
        refit.fit(pd.concat([tr, va]), "time", "event", "treatment", val_df=va, covariates=d.covariates)
        row = {"design": dname, "seed": seed, "epochs": best, "cox (70%)": pehe(cox, d, split, te),
               "csa": pehe(first, d, split, te), "csa refit": pehe(refit, d, split, te)}
        rows.append(row)
        print(row, flush=True)
df = pd.DataFrame(rows)
if args.csv is not None:
    df.to_csv(args.csv, index=False)
summary = df.groupby("design")[["cox (70%)", "csa", "csa refit"]].mean()
summary["refit minus csa"] = df.assign(diff=df["csa refit"] - df["csa"]).groupby("design")["diff"].mean()
summary["SE"] = df.assign(diff=df["csa refit"] - df["csa"]).groupby("design")["diff"].sem()
print(summary.round(3).to_string())

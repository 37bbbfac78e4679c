"""Probe (issue 15): is the IPM's gain on the design suite a balancing effect or a penalty on the size of
the representation? Adds ``weight * mean_i ||r_i||^2`` (the minibatch representation's mean squared norm)
to the training loss of CSA-INFO at alpha = 0, through a wrapper of :class:`pyrocsa.csa.losses.CSALoss`
(no package option), and scores each fit as ``design_suite.py`` does.

    OMP_NUM_THREADS=1 python3 benchmarks/norm_probe.py --designs b e --seeds 0 1 2 3 4 5 --weights 0.1 1 \
        --csv benchmarks/results/norm_probe.csv
    OMP_NUM_THREADS=1 python3 benchmarks/norm_probe.py --actg --seeds 0 1 ... 19 --weights 1

``--actg`` runs ``calibration_km.py``'s evaluation (sup |S - KM| per arm on the ACTG RCT, D-calibration)
instead of the design suite; ``--synthetic`` runs ``csa_actg_synthetic.py --configs likelihood`` (the
paper's actg-Synthetic split; first weight only):

    OMP_NUM_THREADS=1 python3 benchmarks/norm_probe.py --synthetic --seeds 0 1 2 3 4 --weights 1

``--compare`` prints, from the shipped result files only, the paired comparison of the last section of
``results/design_suite_variants.md`` (default, alpha 10, the penalty and Cox on seeds 0-5 and 6-11; ACTG
paired on seed).

The penalty is computed on a second encoder pass of the minibatch (with its own dropout mask), not on the
r that the likelihood used; in expectation it is the same penalty on the size of r.

Early stopping still monitors the validation factual loss (the likelihood without the penalty), as it
does with the IPM. Prints one line per fit and a table of means over seeds.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import design_suite as ds  # noqa: E402

from pyrocsa.csa import losses  # noqa: E402

_CALL = losses.CSALoss.__call__
WEIGHT = {"value": 0.0}


def _penalised(self, model, x, a, y, delta):
    total, comps = _CALL(self, model, x, a, y, delta)
    if WEIGHT["value"] > 0:
        r = model.representation(x)
        penalty = r.pow(2).sum(-1).mean()
        total = total + WEIGHT["value"] * penalty
        comps["norm"] = float(penalty.detach())
        comps["total"] = float(total.detach())
    return total, comps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", nargs="+", default=["b", "e"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--csv", default=None)
    ap.add_argument("--actg", action="store_true", help="ACTG calibration against Kaplan-Meier instead")
    ap.add_argument("--synthetic", action="store_true", help="actg-Synthetic (csa_actg_synthetic.py) instead")
    ap.add_argument("--compare", action="store_true", help="summarise the shipped result files and exit")
    args = ap.parse_args()
    if args.compare:
        return compare()
    losses.CSALoss.__call__ = _penalised
    if args.actg:
        return actg(args)
    if args.synthetic:
        import csa_actg_synthetic

        WEIGHT["value"] = args.weights[0]
        sys.argv = ["csa_actg_synthetic.py", "--configs", "likelihood", "--seeds", *map(str, args.seeds)]
        return csa_actg_synthetic.main()
    rows = []
    for dname in args.designs:
        for weight in args.weights:
            WEIGHT["value"] = weight
            for seed in args.seeds:
                row = ds.run_one(dname, seed, "csa", {}, 0.0)
                row["model"] = f"csa + {weight:g} |r|^2"
                row["weight"] = weight
                rows.append(row)
                ds.report(row, f"({dname}) weight {weight:g} seed {seed}", args.csv)
    df = pd.DataFrame(rows)
    table = df.groupby(["design", "weight"])[["RMST_PEHE", "RMST_ATEerr", "cov0", "cov1", "seconds"]].mean()
    print(table.round(3).to_string())


def _md_rows(path, first_cell):
    """The rows of the markdown table in ``path`` whose header's first cell is ``first_cell``."""
    out, inside = [], False
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            inside = True
        elif inside and line.startswith("|") and not cells[0].startswith("---"):
            out.append(cells)
        elif inside and not line.startswith("|"):
            break
    return out


def compare():
    import numpy as np

    res = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    suite = pd.read_csv(os.path.join(res, "design_suite.csv"))
    held = pd.read_csv(os.path.join(res, "design_suite_seeds6-11.csv"))
    norm = pd.read_csv(os.path.join(res, "norm_probe.csv"))
    alpha = held.alpha.astype(str)
    sets = {"0-5": pd.concat([suite[suite.model == "csa"].assign(v="default"),
                              suite[suite.model == "cox"].assign(v="cox"),
                              pd.read_csv(os.path.join(res, "design_suite_alpha10.csv")).assign(v="alpha 10"),
                              norm[(norm.weight == 1.0) & (norm.seed < 6)].assign(v="norm")]),
            "6-11": pd.concat([held[(held.model == "csa") & (alpha == "0.0")].assign(v="default"),
                               held[held.model == "cox"].assign(v="cox"),
                               held[(held.model == "csa") & (alpha == "10.0")].assign(v="alpha 10"),
                               norm[(norm.weight == 1.0) & (norm.seed >= 6)].assign(v="norm")])}
    for name, t in sets.items():
        p = t.pivot_table(index=["design", "seed"], columns="v", values="RMST_PEHE")
        print(f"seeds {name}: RMST PEHE mean (paired difference from the default, SE)")
        for design, g in p.groupby(level=0):
            cells = []
            for v in ("default", "alpha 10", "norm", "cox"):
                d = g[v] - g["default"]
                paired = f" ({d.mean():+.3f}, {d.std() / np.sqrt(len(d)):.3f})"
                cells.append(f"{v} {g[v].mean():.3f}" + ("" if v == "default" else paired))
            print(f"  {design}: " + "; ".join(cells))
        cov = t.groupby(["v", "design"])[["cov0", "cov1"]].mean().min(axis=1).groupby("v").min()
        print("  lowest per-arm coverage:", cov.round(3).to_dict())
        print("  mean fit seconds:", t.groupby("v").seconds.mean().round(1).to_dict())
    default = {int(r[0]): (float(r[2]), float(r[4]))
               for r in _md_rows(os.path.join(res, "calibration_km.md"), "seed")}
    cand = {"alpha 10": {int(r[0]): (float(r[1]), float(r[2]))
                         for r in _md_rows(os.path.join(res, "calibration_km_alpha10.md"), "seed")},
            "norm": {int(r.seed): (round(r.sup0, 3), round(r.sup1, 3))
                     for r in pd.read_csv(os.path.join(res, "norm_probe_actg.csv")).itertuples()}}
    for v, rows in cand.items():
        seeds = sorted(rows)
        for arm in (0, 1):
            d = np.array([rows[s][arm] - default[s][arm] for s in seeds])
            print(f"ACTG {v} arm {arm}: mean {np.mean([rows[s][arm] for s in seeds]):.4f}, paired difference "
                  f"{d.mean():+.4f} (SE {d.std(ddof=1) / np.sqrt(len(d)):.4f}), <= 0.03 on "
                  f"{sum(rows[s][arm] <= 0.0305 for s in seeds)} of {len(seeds)}")


def actg(args):
    import warnings

    import calibration_km as ck
    import torch

    from pyrocsa import datasets

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    frame = datasets.load_actg()[list(datasets.ACTG_BASELINE) + list(ck.COLS)]
    rows = []
    for weight in args.weights:
        WEIGHT["value"] = weight
        for seed in args.seeds:
            row = ck.evaluate("csa", seed, {}, frame)
            row["weight"] = weight
            rows.append(row)
            print(f"  ACTG weight {weight:g} seed {seed}: sup0 {row['sup0']:.3f} sup1 {row['sup1']:.3f} "
                  f"Dcal_p {row['Dcal_p']:.3f} ({row['seconds']:.1f} s)", flush=True)
            if args.csv:
                pd.DataFrame([row]).to_csv(args.csv, mode="a", index=False,
                                           header=not os.path.exists(args.csv))
    df = pd.DataFrame(rows)
    summary = df.groupby("weight")[["sup0", "sup1", "Dcal_p", "seconds"]].agg(["mean", "max"])
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main()

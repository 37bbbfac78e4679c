"""How the joint fit moves an estimator away from its start: validation likelihood and RMST PEHE after
E epochs, on one design of ``design_suite.py`` (issue 15).

    OMP_NUM_THREADS=1 python3 benchmarks/stage_drift.py --design b --seed 0 --epochs 1 3 200

Prints, for each E: epochs run, best epoch, best validation negative log-likelihood (``valid_factual``)
and RMST PEHE on the test rows. Measured in ``results/design_suite_variants.md`` with
``results/cox_start_family.patch`` applied (the start is then fitted before epoch 1).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import design_suite  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 3, 200])
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    d = design_suite.design(args.design, args.seed)
    split = stratified_split(d.frame, "event", "treatment", seed=args.seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    true = d.rmst1[split["test"]] - d.rmst0[split["test"]]
    print("| max_epochs | epochs run | best epoch | best valid NLL | RMST PEHE |\n|---|---|---|---|---|")
    for epochs in args.epochs:
        m = pyrocsa.CSA(seed=args.seed, verbose=False, max_epochs=epochs).fit(
            tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
        effect = (m.predict_rmst(te, d.horizon, treatment=1).to_numpy()
                  - m.predict_rmst(te, d.horizon, treatment=0).to_numpy())
        best = min(m.history_, key=lambda r: r["valid_factual"])
        print(f"| {epochs} | {len(m.history_)} | {best['epoch']} | {best['valid_factual']:.3f} | "
              f"{np.sqrt(np.mean((effect - true) ** 2)):.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""Where a fitted CSA-INFO's expected lifetime comes from on actg-Synthetic: each event head's start (lasso
penalty, covariates kept), the conditional location and scale of a few test subjects, their quantiles
against the end of follow-up, and the draws' mean and upper quantiles (issue 15).

    OMP_NUM_THREADS=1 python3 benchmarks/tail_probe.py --seed 0

Needs ``results/cox_start_family.patch`` applied (it reads ``CSA.start_`` and the heads' linear term).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

import pyrocsa
from pyrocsa.datasets import load_actg_synthetic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subjects", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ds = load_actg_synthetic()
    df = ds.frame
    tr, va, te = (ds.split[k] for k in ("train", "valid", "test"))
    est = pyrocsa.CSA(seed=args.seed, verbose=False).fit(df.iloc[tr], "time", "event", "treatment",
                                                         val_df=df.iloc[va], covariates=list(ds.covariates))
    m = est.model_
    print("start:", {k: (round(v["penalty"], 4) if v["penalty"] else None, v["n_selected"])
                     for k, v in est.start_.items()})
    print(f"end of follow-up: {df['time'].max():.0f}; log-time standardisation: mean "
          f"{float(m.log_time_loc):.3f}, SD {float(m.log_time_scale):.3f}")
    x = torch.as_tensor(est.preprocessor_.transform(df.iloc[te[:args.subjects]]), dtype=torch.float32)
    with torch.no_grad():
        r = m.representation(x)
        for arm in (0, 1):
            loc, scale, _, _ = m.event_heads[arm](r, x)
            law = m.time_dist(r, x, arm)
            print(f"arm {arm}: loc {np.round(loc.numpy(), 2)}, scale {np.round(scale.numpy(), 3)}")
            for q in (0.5, 0.9, 0.99):
                print(f"  quantile {q}: {np.round(law.icdf(torch.full((len(x),), q)).numpy(), 0)}")
    po = est.sample_potential_outcomes(df.iloc[te], 200, seed=args.seed)
    for arm, draws in ((0, po.t0), (1, po.t1)):
        print(f"arm {arm} draws: mean {draws.mean():.0f}, median {np.median(draws):.0f}, "
              f"99th percentile {np.quantile(draws, 0.99):.0f}, max {draws.max():.0f}")


if __name__ == "__main__":
    main()

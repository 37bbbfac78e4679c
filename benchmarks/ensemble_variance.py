"""How much of CSA-INFO's RMST PEHE on the design suite is fit-to-fit variance? (issue 15)

For one design and seed of ``benchmarks/design_suite.py`` (same data, split and RMST truth), fits K
CSA-INFO models (package defaults plus ``--extra``), member k seeded ``1000 * seed + k``, each on the
training rows (``--bootstrap``: on a stratified bootstrap resample of them,
:func:`pyrocsa.core.ensemble.stratified_bootstrap`), the validation rows shared for early stopping. Prints
every member's test RMST PEHE, their mean, and the PEHE of the members' averaged RMST effect::

    OMP_NUM_THREADS=1 python3 benchmarks/ensemble_variance.py b 0,1 5 [--bootstrap] [--extra "hidden=(32,)"]

If averaging K members beats the typical member by much, a single fit's error is mostly variance (seed,
minibatch order, early-stopping epoch; with ``--bootstrap`` also the training sample). Results:
``benchmarks/results/design_suite_variants.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import design_suite as ds  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from variant_probe import parse_extra  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa.core.ensemble import stratified_bootstrap  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402


def run(dname: str, seed: int, members: int, bootstrap: bool, extra: dict) -> dict:
    d = ds.design(dname, seed)
    split = stratified_split(d.frame, "event", "treatment", seed=seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    idx = split["test"]
    true = d.rmst1[idx] - d.rmst0[idx]
    effects, start = [], time.time()
    for k in range(members):
        member_seed = 1000 * seed + k
        rows = tr
        if bootstrap:
            pos = stratified_bootstrap(tr["treatment"].to_numpy(), tr["event"].to_numpy(), member_seed)
            rows = tr.iloc[pos].reset_index(drop=True)
        model = pyrocsa.CSA(seed=member_seed, verbose=False, **extra)
        model.fit(rows, "time", "event", "treatment", val_df=va, covariates=d.covariates)
        r0, r1 = ds.model_rmst(model, te, d.horizon)
        effects.append(r1 - r0)

    def pehe(e):
        return float(np.sqrt(np.mean((e - true) ** 2)))

    each = [pehe(e) for e in effects]
    return {"members": each, "mean_member": float(np.mean(each)), "averaged": pehe(np.mean(effects, 0)),
            "seconds": time.time() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("design", choices=list("abcdef"))
    ap.add_argument("seeds", help="comma-separated design seeds, e.g. 0,1")
    ap.add_argument("members", type=int, help="K, fits per seed")
    ap.add_argument("--bootstrap", action="store_true", help="fit each member on a bootstrap resample")
    ap.add_argument("--extra", default="", help="extra CSA kwargs (literals)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    extra = parse_extra(args.extra) if args.extra else {}
    for seed in (int(s) for s in args.seeds.split(",")):
        row = run(args.design, seed, args.members, args.bootstrap, extra)
        print(f"({args.design}) seed {seed}: members {[round(v, 3) for v in row['members']]} mean-member "
              f"{row['mean_member']:.3f} averaged {row['averaged']:.3f}  {row['seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()

"""What the IPM does to CSA-INFO's representation on a design of the suite (default (b), seeds 0 and 2).

For alpha 0 and alpha 1 it prints the epochs to early stopping and, on the test split, the mean norm of
r = Phi(x) and its effective rank. For each arm's event head it also prints the SD over subjects of the
location and of the network's part of it (location minus the frozen lasso linear term), and the mean and
SD of the scale. See `results/design_suite_variants.md`, the section on design (b).

    OMP_NUM_THREADS=1 python3 benchmarks/representation_probe.py [--design b] [--seeds 0 2]
"""
import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")
import design_suite as ds  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--design", default="b")
ap.add_argument("--seeds", type=int, nargs="+", default=[0, 2])
args = ap.parse_args()
for seed in args.seeds:
    d = ds.design(args.design, seed)
    split = stratified_split(d.frame, "event", "treatment", seed=seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    for alpha in (0.0, 1.0):
        est = pyrocsa.CSA(seed=seed, verbose=False, alpha=alpha)
        est.fit(tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
        m = est.model_
        x = torch.as_tensor(np.asarray(est.preprocessor_.transform(te[d.covariates])), dtype=torch.float32)
        with torch.no_grad():
            r = m.representation(x)
            sv = torch.linalg.svdvals(r - r.mean(0))
            eff_rank = float((sv.sum() ** 2) / (sv ** 2).sum())
            out = []
            for arm in (0, 1):
                loc, scale, layers, outer = m.event_heads[arm](r, x)
                lin = m.event_heads[arm].linear(x).squeeze(-1)
                resid = float((loc.squeeze() - lin).std())
                out.append(f"arm{arm}: sd(loc) {float(loc.std()):.3f} sd(loc-lin) {resid:.3f} "
                           f"scale mean {float(scale.mean()):.3f} sd {float(scale.std()):.3f}")
        norm = float(r.norm(dim=1).mean())
        print(f"design {args.design} seed {seed} alpha {alpha}: epochs {len(est.history_)} |r| {norm:.2f} "
              f"eff rank {eff_rank:.1f} " + "; ".join(out), flush=True)

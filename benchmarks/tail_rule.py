"""Expected lifetimes, which rest on the end-of-follow-up rule, on actg-Synthetic and on the ACTG 175 RCT.

    OMP_NUM_THREADS=1 python3 -m benchmarks.tail_rule [--seeds 0 1 2] [--datasets actg-synthetic actg]
        [--models csa cox] [--csv FILE.csv]

CSA is fitted as ``pyrocsa demo`` fits it (CSA-INFO: ``informative_censoring=True``, alpha 0, 150 epochs,
early stopping on the validation split) and sampled with 200 draws per subject, as the demo does; the Cox
T-learner (:class:`pyrocsa.baselines.CoxTLearner`) is fitted on train + validation. Columns:

* actg-Synthetic (the authors' split, test set): ``PEHE`` / ``ATEerr`` (days), the paper's estimand,
  E[T1 - T0 | x] (the mean of the draws) against the realised t1 - t0; ``PEHE_cond``: against the true
  conditional E[T1 - T0 | x] (:meth:`pyrocsa.data.actg_synthetic.ActgSynthetic.expected_lifetime`);
  ``RMST_PEHE`` / ``RMST_ATEerr``: the RMST difference at 1000 days against the exact one;
* ACTG (stratified 70/15/15 split, split seed 0, test set; no counterfactual truth): ``C_life``, Harrell's
  C-index of the factual arm's expected lifetime (the mean of its draws) on the observed test outcomes,
  which ranks subjects by the tail as well as by follow-up; ``ATE_life`` (days), the expected-lifetime ATE;
  ``RMST_ATE`` (days) at 1000 days beside the trial's Kaplan-Meier RMST difference ``KM_RMST_ATE``;
* ``beyond``: share of the draws past the longest training time (where the tail rule speaks);
  ``baseline``: CSA's fitted baseline ("smooth" or "steps", ``CSA(baseline=...)``).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402
from lifelines.utils import concordance_index, restricted_mean_survival_time  # noqa: E402

from pyrocsa.baselines.cox import CoxTLearner  # noqa: E402
from pyrocsa.csa.estimator import CSA  # noqa: E402
from pyrocsa.data import actg as actg_data  # noqa: E402
from pyrocsa.data.actg_synthetic import load_actg_synthetic  # noqa: E402
from pyrocsa.data.frame import stratified_split  # noqa: E402

HORIZON = 1000.0
NUM_SAMPLES = 200


def _model(name: str, seed: int):
    if name in ("csa", "csa-steps", "csa-auto"):  # the default (baseline "smooth"), or another baseline
        baseline = name.split("-")[1] if "-" in name else "smooth"
        return CSA(informative_censoring=True, alpha=0.0, seed=seed, max_epochs=150, verbose=False,
                   baseline=baseline)
    if name == "cox":
        return CoxTLearner()
    raise ValueError(f"unknown model {name!r}")


def _fit(model, name, tr, va, cols):
    if name.startswith("csa"):
        return model.fit(tr, cols[0], cols[1], cols[2], val_df=va)
    return model.fit(pd.concat([tr, va]), cols[0], cols[1], cols[2])


def _rmst_difference(po, horizon):
    return np.minimum(po.t1, horizon).mean(0) - np.minimum(po.t0, horizon).mean(0)


def run_synthetic(name: str, seed: int) -> dict:
    syn = load_actg_synthetic()
    df = syn.frame
    tr, va, te = (df.iloc[syn.split[k]] for k in ("train", "valid", "test"))
    t_start = time.time()
    model = _fit(_model(name, seed), name, tr, va, ("time", "event", "treatment"))
    po = model.sample_potential_outcomes(te, num_samples=NUM_SAMPLES, seed=seed)
    idx = syn.split["test"]
    realised = syn.t1[idx] - syn.t0[idx]
    life0, life1 = syn.expected_lifetime()
    cond = (life1 - life0)[idx]
    r0, r1 = syn.rmst(HORIZON)
    true_rmst = (r1 - r0)[idx]
    ite = po.t1.mean(0) - po.t0.mean(0)
    rmst = _rmst_difference(po, HORIZON)
    end = float(pd.concat([tr, va])["time"].max()) if name == "cox" else float(tr["time"].max())
    return {"dataset": "actg-synthetic", "model": name, "seed": seed, "seconds": time.time() - t_start,
            "PEHE": float(np.sqrt(np.mean((ite - realised) ** 2))),
            "ATEerr": float(abs(ite.mean() - realised.mean())),
            "PEHE_cond": float(np.sqrt(np.mean((ite - cond) ** 2))),
            "RMST_PEHE": float(np.sqrt(np.mean((rmst - true_rmst) ** 2))),
            "RMST_ATEerr": float(abs(rmst.mean() - true_rmst.mean())),
            "beyond": float(np.mean(np.concatenate([po.t0.ravel(), po.t1.ravel()]) > end)),
            "baseline": getattr(model, "baseline_", "")}


def _km_rmst_difference(df, horizon):
    rmst = [restricted_mean_survival_time(KaplanMeierFitter().fit(df.loc[df.arms == a, "days"],
                                                                  df.loc[df.arms == a, "cens"]), t=horizon)
            for a in (0, 1)]
    return float(rmst[1] - rmst[0])


def run_actg(name: str, seed: int) -> dict:
    actg = actg_data.load_actg()
    frame = actg[list(actg_data.ACTG_BASELINE) + ["days", "cens", "arms"]]
    split = stratified_split(frame, "cens", "arms", seed=0)
    tr, va, te = (frame.iloc[split[k]] for k in ("train", "valid", "test"))
    t_start = time.time()
    model = _fit(_model(name, seed), name, tr, va, ("days", "cens", "arms"))
    po = model.sample_potential_outcomes(te, num_samples=NUM_SAMPLES, seed=seed)
    arm = te["arms"].to_numpy()
    life = np.where(arm == 1, po.t1.mean(0), po.t0.mean(0))
    end = float(pd.concat([tr, va])["days"].max()) if name == "cox" else float(tr["days"].max())
    return {"dataset": "actg", "model": name, "seed": seed, "seconds": time.time() - t_start,
            "C_life": float(concordance_index(te["days"], life, te["cens"])),
            "ATE_life": float((po.t1 - po.t0).mean()),
            "RMST_ATE": float(_rmst_difference(po, HORIZON).mean()),
            "KM_RMST_ATE": _km_rmst_difference(te, HORIZON),
            "beyond": float(np.mean(np.concatenate([po.t0.ravel(), po.t1.ravel()]) > end)),
            "baseline": getattr(model, "baseline_", "")}


def summarise(df: pd.DataFrame) -> str:
    out = []
    for dataset, cols in (("actg-synthetic", ["PEHE", "ATEerr", "PEHE_cond", "RMST_PEHE", "RMST_ATEerr",
                                              "beyond"]),
                          ("actg", ["C_life", "ATE_life", "RMST_ATE", "KM_RMST_ATE", "beyond"])):
        g = df[df.dataset == dataset]
        if g.empty:
            continue
        out += [f"\n{dataset} (mean ± SD over seeds {sorted(int(s) for s in g.seed.unique())})\n",
                "| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, m in g.groupby("model", sort=False):
            cells = [f"{m[c].mean():.3f} ± {m[c].std(ddof=1):.3f}" if len(m) > 1 else f"{m[c].mean():.3f}"
                     for c in cols]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=["actg-synthetic", "actg"])
    ap.add_argument("--models", nargs="+", default=["csa", "cox"])
    ap.add_argument("--csv", default=None, help="append raw rows to this CSV as they come")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows = []
    for dataset in args.datasets:
        run = {"actg-synthetic": run_synthetic, "actg": run_actg}[dataset]
        for name in args.models:
            for seed in args.seeds:
                row = run(name, seed)
                rows.append(row)
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
                if args.csv:  # one file per data set (their columns differ): FILE_<dataset>.csv
                    path = f"{os.path.splitext(args.csv)[0]}_{dataset}.csv"
                    pd.DataFrame([row]).to_csv(path, mode="a", index=False, header=not os.path.exists(path))
    print(summarise(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()

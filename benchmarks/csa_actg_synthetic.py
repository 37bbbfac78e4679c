"""CSA / CSA-INFO on the paper's actg-Synthetic split: causal, factual and uncertainty metrics.

    OMP_NUM_THREADS=1 python3 -m benchmarks.csa_actg_synthetic --seeds 0 1 [--configs likelihood paper]
        [--max-epochs N] [--alpha 1.0|auto] [--extra 'lr=1e-3,early_noise=True']

Rows: the oracle (true conditional means / RMSTs / laws), a constant (the true ATE for everyone), then one
row per model configuration, averaged over seeds (fit on the authors' train split, early stopping on their
valid split, metrics on their test split, 200 draws per subject). Columns:

* PEHE / ATEerr (days): ITE = E[T1 - T0 | x] (mean of t1 - t0 draws) against the realised t1 - t0;
* RMST PEHE / ATEerr (days): RMST_1(1000|x) - RMST_0(1000|x) against the simulator's exact values (the
  model's exact RMST, :meth:`pyrocsa.CSA.predict_rmst`, where it has one; else from the 200 draws);
* C0 / C1: Harrell's C-index of the predicted median time among test subjects who received arm 0 / 1;
* cov0 / cov1: share of test subjects whose per-subject 90% interval of T_a contains the true T_a;
* COV: mean coefficient of variation of the factual draws; time: seconds per fit;
* Dcal_p: D-calibration p-value (Haider et al., 2020) of the factual draws on the observed test outcomes;
* bias0 / bias1 (days): mean predicted E[T_a|x] minus the true mean, over test subjects (tail diagnostics).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lifelines.utils import concordance_index  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa.datasets import load_actg_synthetic  # noqa: E402
from pyrocsa.metrics import d_calibration  # noqa: E402

TAU = 1000.0
CONFIGS = {
    "likelihood": {},  # the package default
    "paper": dict(objective="paper", dropout=0.2, lr=3e-4, batch_size=200),  # = CSA.paper()
}


def metrics(t0, t1, ds, test, a_test, y_test, e_test, exact_rmst=None):
    true_ite = ds.t1[test] - ds.t0[test]
    r0, r1 = ds.rmst(TAU)
    true_rmst = (r1 - r0)[test]
    ite = (t1 - t0).mean(0)
    # the model's RMST difference: exact (integral of its survival function) when it has one, else draws
    rmst = exact_rmst if exact_rmst is not None else np.minimum(t1, TAU).mean(0) - np.minimum(t0, TAU).mean(0)
    out = {
        "PEHE": np.sqrt(np.mean((ite - true_ite) ** 2)), "ATEerr": abs(ite.mean() - true_ite.mean()),
        "RMST_PEHE": np.sqrt(np.mean((rmst - true_rmst) ** 2)),
        "RMST_ATEerr": abs(rmst.mean() - true_rmst.mean()), "RMST_bias": rmst.mean() - true_rmst.mean(),
        "bias0": t0.mean() - ds.expected_lifetime()[0][test].mean(),
        "bias1": t1.mean() - ds.expected_lifetime()[1][test].mean(),
    }
    for arm, draws, truth in ((0, t0, ds.t0[test]), (1, t1, ds.t1[test])):
        m = a_test == arm
        out[f"C{arm}"] = concordance_index(y_test[m], np.median(draws[:, m], 0), e_test[m])
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        out[f"cov{arm}"] = np.mean((truth >= lo) & (truth <= hi))
    fact = np.where(a_test[None, :] == 1, t1, t0)
    out["COV"] = np.mean(fact.std(0) / fact.mean(0))
    # D-calibration of the factual draws against the observed (censored) test outcomes
    out["Dcal_p"] = d_calibration(fact, y_test, e_test)["p_value"]
    return out


def reference_rows(ds, test):
    true_ite = ds.t1[test] - ds.t0[test]
    m0, m1 = ds.expected_lifetime()
    r0, r1 = ds.rmst(TAU)
    true_rmst = (r1 - r0)[test]
    rows = {}
    rows["oracle"] = {"PEHE": np.sqrt(np.mean(((m1 - m0)[test] - true_ite) ** 2)),
                      "ATEerr": abs((m1 - m0)[test].mean() - true_ite.mean()), "RMST_PEHE": 0.0,
                      "RMST_ATEerr": 0.0}
    rows["constant"] = {"PEHE": np.sqrt(np.mean((true_ite.mean() - true_ite) ** 2)), "ATEerr": 0.0,
                        "RMST_PEHE": np.sqrt(np.mean((true_rmst.mean() - true_rmst) ** 2)),
                        "RMST_ATEerr": 0.0}
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--informative", type=int, default=1)
    ap.add_argument("--alpha", default="0.0")
    ap.add_argument("--extra", default="", help="extra CSA kwargs, e.g. 'lr=1e-3,patience=20'")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_actg_synthetic()
    df = ds.frame
    tr, va, te = (ds.split[k] for k in ("train", "valid", "test"))
    covs = list(ds.covariates)
    a_test = df["treatment"].to_numpy()[te]
    y_test, e_test = df["time"].to_numpy()[te], df["event"].to_numpy()[te]
    extra = {}
    for kv in filter(None, args.extra.split(",")):
        k, v = kv.split("=")
        extra[k] = eval(v)  # noqa: S307 - benchmark command line only
    cols = ["PEHE", "ATEerr", "RMST_PEHE", "RMST_ATEerr", "C0", "C1", "cov0", "cov1", "COV", "Dcal_p",
            "bias0", "bias1", "time"]
    print(f"{'model':<28}" + "".join(f"{c:>11}" for c in cols))
    for name, row in reference_rows(ds, te).items():
        print(f"{name:<28}" + "".join(f"{row.get(c, np.nan):>11.3f}" for c in cols), flush=True)
    alpha = args.alpha if args.alpha == "auto" else float(args.alpha)
    for cfg in args.configs:
        kw = dict(CONFIGS[cfg])
        kw.update(extra)
        if args.max_epochs:
            kw["max_epochs"] = args.max_epochs
        rows = []
        for seed in args.seeds:
            est = pyrocsa.CSA(informative_censoring=bool(args.informative), alpha=alpha, seed=seed,
                              verbose=False, **kw)
            t_start = time.time()
            est.fit(df.iloc[tr], "time", "event", "treatment", val_df=df.iloc[va], covariates=covs)
            elapsed = time.time() - t_start
            po = est.sample_potential_outcomes(df.iloc[te], 200, seed=seed)
            exact = None
            if hasattr(est, "predict_rmst"):
                exact = (est.predict_rmst(df.iloc[te], TAU, treatment=1)
                         - est.predict_rmst(df.iloc[te], TAU, treatment=0)).to_numpy()
            row = metrics(po.t0, po.t1, ds, te, a_test, y_test, e_test, exact)
            row["time"] = elapsed
            row["epochs"] = len(est.history_)
            rows.append(row)
            shown = " ".join(f"{c}={row[c]:.3f}" for c in cols + ["RMST_bias"])
            print(f"   seed {seed}: {shown}", flush=True)
        mean = {c: np.mean([r[c] for r in rows]) for c in cols}
        label = f"{cfg} a={alpha} ({len(args.seeds)} seeds)"
        print(f"{label:<28}" + "".join(f"{mean[c]:>11.3f}" for c in cols), flush=True)
        print("   epochs per seed:", [r["epochs"] for r in rows], flush=True)


if __name__ == "__main__":
    main()

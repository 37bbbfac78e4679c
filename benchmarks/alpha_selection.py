"""How ``alpha="auto"`` chooses the IPM weight, one row per alpha of the grid, on the design suite.

    OMP_NUM_THREADS=1 python3 -m benchmarks.alpha_selection [--designs e f] [--seeds 0 1 2]
        [--grid 0 0.1 1 10 100] [--out FILE.md] [--csv FILE]

For each design and seed (the split of ``design_suite.py``) one CSA-INFO model is fitted per alpha of the
grid, exactly as ``alpha="auto"`` fits them (:meth:`pyrocsa.CSA._fit_one`). Each row prints, on the
validation rows (:mod:`pyrocsa.csa.alpha`, all as mean negative log-likelihood per row):

* ``factual``: the factual loss (event + censoring terms, no IPM) on the observed (arm, time, event);
* ``proxy``: the same loss on the nearest-neighbour proxy counterfactuals (the other arm's outcome);
* ``dr``: the doubly robust effect score that ``alpha="auto"`` uses, ``mean_i (tau(x_i) - phi_i)^2``
  against the pseudo-outcomes of the RMST effect at the rule's horizon
  (:func:`pyrocsa.csa.alpha.effect_score`);
* ``factual_se``: the standard error of the factual loss *difference* from alpha = 0, over validation rows
  (paired: the same rows under both models);

and on the test rows the RMST PEHE and ATE error that the choice is meant to minimise. The summary table
shows which alpha each rule picks and the RMST PEHE it gets; ``alpha="auto"`` is the one-SE rule on the
doubly robust score (:func:`pyrocsa.csa.alpha.one_se_choice`). Every fit is seeded as inside
``CSA(alpha="auto")``, so its row is what ``auto`` would return.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import pyrocsa  # noqa: E402
from benchmarks.design_suite import design, model_rmst  # noqa: E402
from pyrocsa.core.influence import rmst_difference_pseudo_outcomes  # noqa: E402
from pyrocsa.csa.alpha import effect_errors, one_se_choice, proxy_counterfactuals, selection_horizon  # noqa: E402,E501
from pyrocsa.csa.estimator import ALPHA_GRID  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402


def _row_losses(model, valid, y, d, a):
    """Per-row negative log-likelihood (N_valid,) of the outcome (y, d) under arm ``a`` (event + censoring
    terms, no IPM): the per-row form of the factual loss that :func:`pyrocsa.csa.alpha.validation_score`
    averages."""
    m = model.model_.eval()
    with torch.no_grad():
        r = m.representation(valid.x)
        total = torch.zeros_like(y, dtype=torch.float64)
        for kind in m.kinds():
            observed = d if kind == "t" else 1.0 - d
            for arm in (0, 1):
                lp = m.time_dist(r, valid.x, arm, kind).censored_log_prob(y, observed).double()
                total = total - torch.where((a > 0.5) == bool(arm), lp, torch.zeros_like(lp))
    return total.numpy()


def run(dname, seed, grid):
    dsn = design(dname, seed)
    split = stratified_split(dsn.frame, "event", "treatment", seed=seed)
    tr, va, te = (dsn.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    idx = split["test"]
    true = dsn.rmst1[idx] - dsn.rmst0[idx]
    rows, base, errors = [], None, {}
    for alpha in grid:
        est = pyrocsa.CSA(seed=seed, verbose=False, alpha=float(alpha))
        est.fit(tr, "time", "event", "treatment", val_df=va, covariates=dsn.covariates)
        valid = est.data_.transform(va, require_outcome=True)
        y_cf, d_cf = proxy_counterfactuals(est.data_, valid)
        if base is None:  # the pseudo-outcomes depend on the data only: once per design and seed
            horizon = selection_horizon(est.data_)
            arrays = [tuple(v.double().numpy() for v in (dd.x, dd.y, dd.delta, dd.a))
                      for dd in (est.data_, valid)]
            phi = rmst_difference_pseudo_outcomes(arrays[0], arrays[1], horizon)
        errors[float(alpha)] = effect_errors(est.model_, valid, phi, horizon)
        dr = float(errors[float(alpha)].mean())
        fact = _row_losses(est, valid, valid.y, valid.delta, valid.a)
        prox = _row_losses(est, valid, y_cf, d_cf, 1 - valid.a)
        if base is None:
            base = fact
        diff = fact - base
        r0, r1 = model_rmst(est, te, dsn.horizon)
        est_ite = r1 - r0
        rows.append({"design": dname, "seed": seed, "alpha": float(alpha), "factual": fact.mean(),
                     "proxy": prox.mean(), "factual_se": diff.std(ddof=1) / np.sqrt(len(diff)),
                     "factual_diff": diff.mean(), "dr": dr,
                     "RMST_PEHE": float(np.sqrt(np.mean((est_ite - true) ** 2))),
                     "RMST_ATEerr": float(abs(est_ite.mean() - true.mean()))})
        print(f"  ({dname}) seed {seed} alpha {alpha:g}: factual {fact.mean():.4f} proxy {prox.mean():.4f} "
              f"dr {dr:.5g} PEHE {rows[-1]['RMST_PEHE']:.3f}", flush=True)
    pick = one_se_choice(errors)
    for r in rows:
        r["auto_pick"] = pick
    return rows


RULES = {
    "paper: min factual + proxy": lambda g: g.loc[(g.factual + g.proxy).idxmin()],
    "doubly robust effect score, lowest": lambda g: g.loc[g.dr.idxmin()],
    "doubly robust, one-SE rule (alpha=\"auto\")": lambda g: g.loc[(g.alpha == g.auto_pick).idxmax()],
    "factual only": lambda g: g.loc[g.factual.idxmin()],
    "alpha = 0": lambda g: g.loc[g.alpha.idxmin()],
    "oracle (min test PEHE)": lambda g: g.loc[g.RMST_PEHE.idxmin()],
}


def summarise(df: pd.DataFrame) -> str:
    lines = ["| design | seed | alpha | factual | factual - alpha 0 (SE) | proxy | factual + proxy | "
             "DR score | RMST PEHE | RMST ATE error |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| {r.design} | {r.seed} | {r.alpha:g} | {r.factual:.4f} | {r.factual_diff:+.4f} "
                     f"({r.factual_se:.4f}) | {r.proxy:.4f} | {r.factual + r.proxy:.4f} | {r.dr:.5g} | "
                     f"{r.RMST_PEHE:.3f} | "
                     f"{r.RMST_ATEerr:.3f} |")
    lines += ["", "| design | rule | alphas picked (per seed) | RMST PEHE (mean over seeds) |",
              "|---|---|---|---|"]
    for dname, g in df.groupby("design", sort=False):
        for name, rule in RULES.items():
            picks = [rule(gs.reset_index(drop=True)) for _, gs in g.groupby("seed")]
            lines.append(f"| {dname} | {name} | {', '.join(f'{p.alpha:g}' for p in picks)} | "
                         f"{np.mean([p.RMST_PEHE for p in picks]):.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", nargs="+", default=["e", "f"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--grid", type=float, nargs="+", default=list(ALPHA_GRID))
    ap.add_argument("--out", default=None)
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    rows = [r for d in args.designs for s in args.seeds for r in run(d, s, args.grid)]
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    cmd = (f"`OMP_NUM_THREADS=1 python3 -m benchmarks.alpha_selection --designs {' '.join(args.designs)} "
           f"--seeds {' '.join(map(str, args.seeds))} --grid {' '.join(f'{g:g}' for g in args.grid)}`")
    text = "# alpha selection, one fit per alpha\n\n" + cmd + "\n\n" + summarise(df) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()

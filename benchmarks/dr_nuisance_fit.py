"""Cross-fitted or full-sample censoring and propensity models in the doubly robust RMST ATE (issue 16).

For each replicate of the ``dr_coverage.py`` design (N = 2000, horizon 1000 days, truth 77.39) this fits
:class:`pyrocsa.DoublyRobust` once (the cross-fitted outcome model is shared by every variant) and
recomputes the one-step estimate and its Wald interval with four ways of fitting the two parametric
nuisances:

* censoring ``G_a(t-|x)`` (a penalised Cox model per arm): cross-fitted (one fit per fold, evaluated on
  the held-out fold) or full-sample (one fit on all rows, evaluated on all rows);
* propensity ``P(A=1|x)`` (logistic regression): cross-fitted or full-sample.

Everything else (clipping of the propensity at 0.01, floor 0.01 of G, preprocessing, folds) is what
``DoublyRobust`` does. One CSV row per replicate and variant; ``--summarise`` prints bias, SD, RMSE,
coverage, mean and median width per variant.

    OMP_NUM_THREADS=1 PYTHONPATH=. python3 benchmarks/dr_nuisance_fit.py 1000 1100 --csv /tmp/nf.csv
    python3 benchmarks/dr_nuisance_fit.py --summarise /tmp/nf.csv
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dr_coverage import DURATION, EVENT, HORIZON, TREATMENT, cohort, outcome_factory, true_rmst_ate, wilson  # noqa: E402


def _x(frame_fit, frame_eval, covs):
    from pyrocsa.data.frame import Preprocessor

    pre = Preprocessor()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*constant.*")
        pre.fit(frame_fit, covs)
    return pre.transform(frame_fit).astype(np.float64), pre.transform(frame_eval).astype(np.float64)


def variants(frame, covs, outcome: str, seed: int, horizon: float = HORIZON) -> list[dict]:
    from pyrocsa import DoublyRobust
    from pyrocsa.baselines.propensity import PropensityModel
    from pyrocsa.evaluation.doubly_robust import _CensoringFit, _integrate_steps, _wald, aipcw_pseudo_outcomes

    factory, label = outcome_factory(outcome)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dr = DoublyRobust(outcome_model=factory, seed=seed).fit(frame, DURATION, EVENT, TREATMENT,
                                                                covariates=covs)
    secs = time.perf_counter() - t0
    y, delta, a = dr.duration_, dr.event_, dr.treatment_
    grid, pos, folds = dr.grid_, dr.grid_position_, dr.folds_
    n = len(frame)
    frame = frame.reset_index(drop=True)
    g = {kind: {arm: np.empty((n, grid.size)) for arm in (0, 1)} for kind in ("xfit", "full")}
    e = {kind: np.empty(n) for kind in ("xfit", "full")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x_all, _ = _x(frame, frame, covs)
        cf = _CensoringFit("cox").fit(x_all, y, delta, a)
        for arm in (0, 1):
            g["full"][arm][:] = cf.left_survival(x_all, grid, arm)
        e["full"][:] = PropensityModel().fit(frame, TREATMENT, covariates=covs).predict_proba(frame)
        for k in range(dr.n_folds):
            te, tr = np.flatnonzero(folds == k), np.flatnonzero(folds != k)
            x_tr, x_te = _x(frame.iloc[tr], frame.iloc[te], covs)
            cf = _CensoringFit("cox").fit(x_tr, y[tr], delta[tr], a[tr])
            for arm in (0, 1):
                g["xfit"][arm][te] = cf.left_survival(x_te, grid, arm)
            e["xfit"][te] = PropensityModel().fit(frame.iloc[tr], TREATMENT, covariates=covs).predict_proba(
                frame.iloc[te])
    rows = []
    for gk in ("xfit", "full"):
        for ek in ("xfit", "full"):
            p = np.clip(e[ek], dr.propensity_clip, 1 - dr.propensity_clip)
            w = {0: (a == 0) / (1 - p), 1: (a == 1) / p}
            phi = {arm: _integrate_steps(aipcw_pseudo_outcomes(
                dr.outcome_survival_[arm], np.maximum(g[gk][arm], dr.censoring_clip), pos, delta, w[arm]),
                grid, horizon) for arm in (0, 1)}
            res = _wald(phi[1] - phi[0], 0.95)
            rows.append(dict(seed=seed, outcome=label, censoring=gk, propensity=ek, estimate=res["estimate"],
                             se=res["se"], lower=res["lower"], upper=res["upper"], seconds=secs))
    return rows


def summarise(df: pd.DataFrame, truth: float) -> str:
    out = []
    for (outcome, gk, ek), grp in df.groupby(["outcome", "censoring", "propensity"], sort=False):
        err = grp["estimate"] - truth
        width = grp["upper"] - grp["lower"]
        cov = (grp["lower"] <= truth) & (truth <= grp["upper"])
        lo, hi = wilson(int(cov.sum()), len(grp))
        out.append(f"| {outcome} | {gk} | {ek} | {len(grp)} | {err.mean():.2f} | {err.std(ddof=1):.2f} | "
                   f"{np.sqrt((err ** 2).mean()):.2f} | {cov.mean():.3f} ({lo:.2f}, {hi:.2f}) | "
                   f"{width.mean():.1f} | {width.median():.1f} | {width.max():.1f} |")
    head = ("| outcome model | censoring | propensity | replicates | bias | SD | RMSE | coverage (95% CI) | "
            "mean width | median width | max width |\n|---|---|---|---|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("first", type=int, nargs="?", default=1000)
    p.add_argument("stop", type=int, nargs="?", default=1010)
    p.add_argument("--outcome-model", choices=("cox", "csa"), default="cox")
    p.add_argument("--csv", type=Path, default=None, help="append one row per replicate and variant here")
    p.add_argument("--summarise", type=Path, nargs="+", default=None, help="summarise these CSVs and exit")
    args = p.parse_args(argv)
    truth = true_rmst_ate()
    if args.summarise:
        print(summarise(pd.concat([pd.read_csv(f) for f in args.summarise], ignore_index=True), truth))
        return 0
    done = set()
    if args.csv is not None and args.csv.exists():
        prev = pd.read_csv(args.csv)
        done = set(prev.loc[prev["outcome"] == outcome_factory(args.outcome_model)[1], "seed"])
    for seed in range(args.first, args.stop):
        if seed in done:
            continue
        frame, covs = cohort(seed)
        rows = pd.DataFrame(variants(frame, covs, args.outcome_model, seed))
        if args.csv is not None:
            rows.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
        print(rows[["seed", "censoring", "propensity", "estimate", "lower", "upper"]].to_string(
            index=False, header=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

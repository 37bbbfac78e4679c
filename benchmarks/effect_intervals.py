"""Per-patient effect intervals: do the 80/90/95% intervals of tau(x) = RMST_1(x) - RMST_0(x) cover the
simulator's true tau(x), and how wide are they?

    OMP_NUM_THREADS=1 python3 -m benchmarks.effect_intervals [--actg-seeds 0 1 2 3 4]
        [--designs a b c d e f] [--design-seeds 0 1 2] [--models csa cox ens5] [--out FILE.md]
    OMP_NUM_THREADS=1 python3 -m benchmarks.effect_intervals --timing --actg-seeds 0 1 2
    python3 -m benchmarks.effect_intervals --summarise [FILE.md]

Data: actg-Synthetic (the authors' train/valid/test split, truth from the Gompertz-Cox simulator,
horizon 1000 days; the seed changes the fit only) and the designs of ``design_suite.py`` (70/15/15 split,
horizon 4). Models, all through the same ``predict_effect(test, horizon=h, level=...)``:

* ``csa``: ``pyrocsa.CSA(seed=s)`` with package defaults: the Laplace posterior of the event heads given the
  representation (prior precision chosen on the validation rows), 200 draws, 2 chains;
* ``cox``: the Cox T-learner, 40 stratified bootstrap refits (fitted on train + valid, as in design_suite);
* ``ens5``: ``Ensemble(CSA(), n_members=5)``: the five members' Laplace posteriors pooled (members = chains);
* ``bart``: the Bayesian anchor, an AFT-BART S-learner with the propensity as a covariate
  (:mod:`benchmarks.aft_bart`; needs ``pip install pymc-bart``), fitted on train + valid, 2 chains x 500
  draws.

Columns, over test subjects: ``cov80`` / ``cov90`` / ``cov95`` the share whose interval holds the true
tau(x); ``width90`` the mean 90% width; ``IS90`` the mean 90% interval score (width + 20 x the miss
distance, Gneiting & Raftery 2007; lower is better); ``PEHE`` sqrt(mean (estimate - tau)^2) of the
``estimate`` column; ``bar`` = width90 / (3.29 PEHE) (the quality bar asks <= 1.2); ``fit_s`` the fit's
seconds (for csa it includes the posterior), ``effect_s`` the seconds of ``predict_effect``.
Each finished fit appends its line to ``--out`` (default ``benchmarks/results/effect_intervals.md``) as it
goes; the table of means follows at the end.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import pyrocsa  # noqa: E402
from benchmarks import design_suite as ds  # noqa: E402
from benchmarks.common import RESULTS, command  # noqa: E402
from pyrocsa.core.effects import summarise_effects  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402

LEVELS = (0.8, 0.9, 0.95)


def _cohort(name: str, seed: int):
    """(train, valid, test frames, covariates, true tau on test, horizon)."""
    if name == "actg":
        from pyrocsa.data.actg_synthetic import load_actg_synthetic

        d = load_actg_synthetic()
        tr, va, te = (d.split[k] for k in ("train", "valid", "test"))
        r0, r1 = d.rmst(1000.0)
        f = d.frame
        return f.iloc[tr], f.iloc[va], f.iloc[te], list(d.covariates), (r1 - r0)[te], 1000.0
    d = ds.design(name, seed)
    split = stratified_split(d.frame, "event", "treatment", seed=seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    idx = split["test"]
    return tr, va, te, d.covariates, d.rmst1[idx] - d.rmst0[idx], d.horizon


def _model(name: str, seed: int):
    if name == "csa":
        return pyrocsa.CSA(seed=seed, verbose=False)
    if name == "ens5":
        return pyrocsa.Ensemble(pyrocsa.CSA(seed=seed, verbose=False), n_members=5, seed=seed, n_jobs=1)
    if name == "cox":
        from pyrocsa.baselines import CoxTLearner

        return CoxTLearner()
    if name == "bart":
        from benchmarks.aft_bart import AFTBart

        return AFTBart(seed=seed)
    raise ValueError(name)


def run_one(cohort: str, seed: int, mname: str) -> list[dict]:
    """One fit; for ``csa`` also the row of the alternative rule for the prior precision (``csa/argmax``:
    the grid value with the best validation log predictive density, instead of the broadest within one
    standard error of it), from the same fit."""
    tr, va, te, covs, tau, h = _cohort(cohort, seed)
    model = _model(mname, seed)
    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mname in ("cox", "bart"):
            model.fit(pd.concat([tr, va]), "time", "event", "treatment", covariates=covs)
        else:
            model.fit(tr, "time", "event", "treatment", val_df=va, covariates=covs)
        fit_s = time.time() - start
    rows = [_score(model, mname, cohort, seed, te, tau, h, fit_s)]
    if mname == "csa" and model.posterior_.scores:
        post = model.posterior_
        chosen = post.prior_precision
        best = max(post.scores, key=post.scores.get)
        post.__init__(post.heads, best, post.scores)
        rows.append(_score(model, "csa/argmax", cohort, seed, te, tau, h, fit_s))
        post.__init__(post.heads, evidence_prior_precision(post.heads), post.scores)
        rows.append(_score(model, "csa/evidence", cohort, seed, te, tau, h, fit_s))
        post.__init__(post.heads, chosen, post.scores)
    return rows


def evidence_prior_precision(heads) -> float:
    """The prior precision that maximises the Laplace marginal likelihood of the training data (MacKay 1992;
    Immer et al. 2021), one lambda for both heads: log Z(lambda) = const - lambda / 2 sum ||theta_hat||^2
    + P / 2 log lambda - 1/2 sum log(ev + lambda), ev the eigenvalues of H_+; on a log grid 1e-3 .. 1e6."""
    grid = np.logspace(-3, 6, 901)
    total = np.zeros_like(grid)
    for head in heads:
        theta = head.mean.numpy()
        ev = np.clip(np.linalg.eigvalsh(0.5 * (head.hessian + head.hessian.T).numpy()), 0.0, None)
        total += (-0.5 * grid * float(theta @ theta) + 0.5 * theta.size * np.log(grid)
                  - 0.5 * np.log(ev[None, :] + grid[:, None]).sum(1))
    return float(grid[int(np.argmax(total))])


def _score(model, mname, cohort, seed, te, tau, h, fit_s) -> dict:
    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.effect_posterior(te, horizon=h, seed=seed)
    effect_s = time.time() - start
    draws = idata.posterior["tau"].to_numpy()
    row = {"cohort": cohort, "seed": seed, "model": mname}
    for level in LEVELS:
        e = summarise_effects(draws, te.index, level)
        lo, hi = e["lower"].to_numpy(), e["upper"].to_numpy()
        row[f"cov{int(level * 100)}"] = float(np.mean((tau >= lo) & (tau <= hi)))
        if level == 0.9:
            alpha = 1 - level
            row["width90"] = float(np.mean(hi - lo))
            row["IS90"] = float(np.mean(hi - lo + 2 / alpha * (np.clip(lo - tau, 0, None)
                                                               + np.clip(tau - hi, 0, None))))
            row["PEHE"] = float(np.sqrt(np.mean((e["estimate"].to_numpy() - tau) ** 2)))
    row["bar"] = row["width90"] / (3.29 * row["PEHE"])
    row["fit_s"], row["effect_s"] = fit_s, effect_s
    if mname not in ("cox", "bart"):
        post = model.members_[0].posterior_ if getattr(model, "members_", None) else model.posterior_
        row["lambda"] = post.prior_precision  # ens5: member 0's
    return row


_COLS = ["cohort", "seed", "model", "cov80", "cov90", "cov95", "width90", "IS90", "PEHE", "bar", "fit_s",
         "effect_s", "lambda"]


def _line(row: dict) -> str:
    cells = []
    for c in _COLS:
        v = row.get(c, "")
        cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
    return "| " + " | ".join(cells) + " |"


def timing(seeds, out):
    """The cost of the posterior on actg-Synthetic: fit seconds with the posterior, the posterior alone
    (fit_laplace re-run on the fitted model, the same work), the fit without it (the difference), and
    predict_effect on the 214 test rows; ``ratio`` = (fit + predict_effect) / fit without the posterior."""
    from pyrocsa.csa.posterior import fit_laplace

    tr, va, te, covs, _, h = _cohort("actg", 0)
    lines = ["", f"## timing {time.strftime('%Y-%m-%d %H:%M')}: `{command('effect_intervals')}`", "",
             "| seed | fit_s (with posterior) | posterior_s | fit_s without | effect_s | ratio |",
             "|---|---|---|---|---|---|"]
    for seed in seeds:
        model = _model("csa", seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.time()
            model.fit(tr, "time", "event", "treatment", val_df=va, covariates=covs)
            fit_s = time.time() - start
            train = model.data_
            valid = model.data_.transform(va, require_outcome=True)
            start = time.time()
            fit_laplace(model.model_, (train.x, train.a, train.y, train.delta),
                        (valid.x, valid.a, valid.y, valid.delta), seed=seed)
            post_s = time.time() - start
            start = time.time()
            model.predict_effect(te, horizon=h, seed=seed)
            effect_s = time.time() - start
        base = fit_s - post_s
        lines.append(f"| {seed} | {fit_s:.1f} | {post_s:.1f} | {base:.1f} | {effect_s:.1f} | "
                     f"{(fit_s + effect_s) / base:.2f} |")
        print(lines[-1], flush=True)
    with open(out, "a") as f:
        f.write("\n".join(lines) + "\n")


def summarise(path) -> str:
    """Means over seeds of every scored row in a results file (several runs appended to it; the last row of a
    (cohort, seed, model) wins), as a markdown table."""
    rows = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(_COLS) and cells[1].isdigit():
            rows.append(dict(zip(_COLS, cells)))
    frame = pd.DataFrame(rows).drop_duplicates(["cohort", "seed", "model"], keep="last")
    metrics = _COLS[3:10]
    frame[metrics] = frame[metrics].apply(pd.to_numeric)
    groups = frame.groupby(["cohort", "model"])
    table = groups[metrics].mean()
    seeds = groups["seed"].apply(lambda s: " ".join(sorted(s, key=int)))
    head = ["cohort", "model", "seeds", *metrics]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join([c, m, seeds[(c, m)]] + [f"{v:.3g}" for v in r]) + " |"
        for (c, m), r in zip(table.index, table.to_numpy())])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timing", action="store_true", help="the posterior's cost on actg-Synthetic only")
    ap.add_argument("--actg-seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    ap.add_argument("--designs", nargs="*", default=list("abcdef"))
    ap.add_argument("--design-seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=["csa", "cox", "ens5"])
    ap.add_argument("--out", default=str(RESULTS / "effect_intervals.md"))
    ap.add_argument("--summarise", nargs="?", const=str(RESULTS / "effect_intervals.md"), default=None,
                    metavar="FILE", help="print the means over seeds of the rows in FILE and exit")
    args = ap.parse_args()
    if args.summarise:
        return print(summarise(args.summarise))
    if args.timing:
        return timing(args.actg_seeds, args.out)
    runs = [("actg", s) for s in args.actg_seeds] + [(d, s) for d in args.designs for s in args.design_seeds]
    with open(args.out, "a") as f:
        f.write(f"\n## run {time.strftime('%Y-%m-%d %H:%M')}: `{command('effect_intervals')}`\n\n"
                "| " + " | ".join(_COLS) + " |\n|" + "---|" * len(_COLS) + "\n")
    rows = []
    for cohort, seed in runs:
        for mname in args.models:
            for row in run_one(cohort, seed, mname):
                rows.append(row)
                print(_line(row), flush=True)
                with open(args.out, "a") as f:
                    f.write(_line(row) + "\n")
    frame = pd.DataFrame(rows)
    groups = frame.groupby(["cohort", "model"], sort=False)
    table = groups[_COLS[3:-1]].mean()
    table.insert(0, "seeds", groups.size())
    head = ["cohort", "model", *table.columns]
    text = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join([str(c), str(m)] + [f"{v:.3g}" for v in r]) + " |"
        for (c, m), r in zip(table.index, table.to_numpy())])
    print(text)
    with open(args.out, "a") as f:
        f.write("\nMeans over seeds:\n\n" + text + "\n")


if __name__ == "__main__":
    main()

"""STEAM-survival vs a generic generator on ACTG 175 (arms 0 vs 1) and actg-Synthetic.

    OMP_NUM_THREADS=1 python3 -m benchmarks.steam_survival [--quick] [--runs 5]
        [--outcome-model weibull|csa-info] [--csa-epochs 40] [--generators steam generic bootstrap]
        [--datasets actg actg-synthetic] [--covariates-only]

Each run r: a stratified 80/20 split of the real data (seed r); every generator is fit on the 80% (real
train) and draws as many synthetic rows; metrics (pyrocsa.steam.metrics.evaluate_cohort) compare the
synthetic rows with real train (covariates, censoring, HR, DCR) and real test (JSD_pi, U_PEHE on real-test
x). Generators:

* ``STEAM-survival``: Gaussian copula for X, logistic propensity for A, per-arm outcome model for (T, C)
  (``--outcome-model``: a Weibull AFT per arm for T and for C, or CSA-INFO);
* ``generic``: the same Gaussian copula on the joint table (X, A, Y, delta);
* ``real bootstrap``: a bootstrap resample of real train -- a reference for the sampling-noise floor of
  each metric (its DCR is 0 by construction: it copies records).

Output: mean and 95% t-interval over runs per metric, printed and written as markdown to
``benchmarks/results/steam_survival_<outcome>[_quick].md`` (raw per-run values in a ``.csv`` beside it).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from benchmarks.common import RESULTS  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402
from pyrocsa.steam import GenericCohort, SyntheticCohort, WeibullOutcomeModel  # noqa: E402
from pyrocsa.steam.metrics import evaluate_cohort  # noqa: E402

HORIZON = 1000.0  # days: RMST horizon of U_PEHE (both datasets follow subjects up to ~1231-1313 days)

COLUMNS = [  # (metric key, table header, higher is better?)
    ("alpha_precision", "P_alpha", True), ("beta_recall", "R_beta", True),
    ("marginal_distance", "KS/TV", False), ("jsd_pi", "JSD_pi", True), ("u_pehe", "U_PEHE (d)", False),
    ("u_pehe_over_horizon", "U_PEHE/h", False), ("censoring_sup", "cens. sup", False),
    ("censoring_integrated", "cens. int", False), ("abs_log_hr_diff", "|dlogHR|", False),
    ("hr_syn_in_real_ci", "HR in CI", True), ("dcr_ratio_median", "DCR ratio", True),
]


def load(name: str):
    """(frame, covariates, duration, event, treatment) of a benchmark dataset."""
    if name == "actg":
        try:
            from pyrocsa.datasets import ACTG_BASELINE, load_actg
            df, cov = load_actg(), list(ACTG_BASELINE)
        except ImportError:  # pragma: no cover - datasets module absent: read the shipped CSV
            path = Path(__file__).resolve().parents[1] / "pyrocsa/datasets/data/ACTG175.csv"
            df = pd.read_csv(path, index_col=0)
            df = df[df["arms"].isin([0, 1])].reset_index(drop=True)
            cov = ["age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race",
                   "gender", "str2", "strat", "symptom", "cd40", "cd80"]
        return df[cov + ["days", "cens", "arms"]].copy(), cov, "days", "cens", "arms"
    if name == "actg-synthetic":
        from pyrocsa.datasets import load_actg_synthetic
        ds = load_actg_synthetic()
        cov = list(ds.baseline_covariates)
        return ds.frame[cov + ["time", "event", "treatment"]].copy(), cov, "time", "event", "treatment"
    raise ValueError(f"unknown dataset {name!r}")


def outcome_model(kind: str, csa_epochs: int, seed: int):
    if kind == "weibull":
        return WeibullOutcomeModel()
    if kind == "weibull-km":
        return WeibullOutcomeModel(censoring="km")
    from pyrocsa import CSA
    return CSA(informative_censoring=True, max_epochs=csa_epochs, verbose=False, seed=seed)


def run_dataset(name, runs, generators, outcome_kinds, csa_epochs, learners,
                covariate_model="trees", first_run=0):
    df, cov, D, E, A = load(name)
    rows = []
    for r in range(first_run, first_run + runs):
        parts = stratified_split(df, E, A, fractions=(0.8, 0.0, 0.2), seed=r)
        train = df.iloc[parts["train"]].reset_index(drop=True)
        test = df.iloc[parts["test"]].reset_index(drop=True)
        jobs = [(g, k) for g in generators for k in (outcome_kinds if g == "steam" else [None])]
        for gen, outcome_kind in jobs:
            t0 = time.time()
            if gen == "steam":
                label = f"STEAM-survival ({outcome_kind})"
                model = SyntheticCohort(covariate_model=covariate_model,
                                        outcome_model=outcome_model(outcome_kind, csa_epochs, r))
                syn = model.fit(train, D, E, A, covariates=cov).sample(len(train), seed=r)
            elif gen == "generic":
                label = f"generic ({covariate_model} on X, A, Y, delta)"
                syn = GenericCohort(covariate_model).fit(train, D, E, A, covariates=cov).sample(len(train),
                                                                                               seed=r)
            elif gen == "bootstrap":
                label = "real bootstrap (reference)"
                syn = train.sample(len(train), replace=True, random_state=r).reset_index(drop=True)
            else:
                raise ValueError(f"unknown generator {gen!r}")
            t_gen = time.time() - t0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = evaluate_cohort(train, test, syn, D, E, A, cov, HORIZON, learners=learners, seed=r)
            res.update(dataset=name, generator=label, run=r, seconds=time.time() - t0, gen_seconds=t_gen)
            rows.append(res)
            print(f"  {name} run {r} {label}: JSD_pi {res['jsd_pi']:.3f}  U_PEHE {res['u_pehe']:.1f}  "
                  f"cens {res['censoring_sup']:.3f}  logHR {res['log_hr_syn']:+.3f} "
                  f"(real {res['log_hr_real']:+.3f}, in CI {res['hr_syn_in_real_ci']})  "
                  f"[{res['seconds']:.0f}s]", flush=True)
    return pd.DataFrame(rows)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval half-width per (dataset, generator, metric)."""
    out = []
    for (ds, gen), g in raw.groupby(["dataset", "generator"], sort=False):
        row = {"dataset": ds, "generator": gen, "runs": len(g)}
        for key, _, _ in COLUMNS:
            v = g[key].astype(float).to_numpy()
            half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            row[key], row[key + "_ci"] = v.mean(), half
        row["log_hr_real"] = g["log_hr_real"].mean()
        row["log_hr_syn"] = g["log_hr_syn"].mean()
        out.append(row)
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame, raw: pd.DataFrame, args) -> str:
    lines = [f"# STEAM-survival vs generic generator ({'quick' if args.quick else 'full'} run)", "",
             f"Command: `OMP_NUM_THREADS=1 python3 -m benchmarks.steam_survival {args.argv}`", "",
             f"{int(summary['runs'].max())} runs (stratified 80/20 splits, seeds 0..), mean +/- 95% "
             f"t-interval half-width. RMST horizon {HORIZON:g} days; "
             f"U_PEHE learners: {', '.join(args.learners)}. "
             "Arrows: better direction. `HR in CI` = share of runs whose synthetic Cox log HR of treatment "
             "lies in the real-train 95% CI; `DCR ratio` = median distance to the closest real training "
             "record, synthetic / real holdout (1 = as far as new patients; bootstrap copies records: 0).",
             ""]
    for ds, s in summary.groupby("dataset", sort=False):
        lines += [f"## {ds}", ""]
        head = "| generator | " + " | ".join(f"{h} {'↑' if up else '↓'}" for _, h, up in COLUMNS) + " |"
        lines += [head, "|" + "---|" * (len(COLUMNS) + 1)]
        for _, row in s.iterrows():
            cells = []
            for key, _, _ in COLUMNS:
                digits = 1 if key == "u_pehe" else 3
                cells.append(f"{row[key]:.{digits}f} ± {row[key + '_ci']:.{digits}f}")
            lines.append(f"| {row['generator']} | " + " | ".join(cells) + " |")
        lines.append("")
        lr = raw.loc[raw.dataset == ds, "log_hr_real"].mean()
        lines.append(f"Mean real log HR (treated vs control) over the splits: {lr:+.3f}; "
                     "synthetic: " + ", ".join(f"{g}: {v:+.3f}" for g, v in
                                                zip(s["generator"], s["log_hr_syn"])) + ".")
        lines.append("")
        lines += verdict(s) + paired(raw[raw.dataset == ds])
        lines.append("")
    secs = raw.groupby(["dataset", "generator"], sort=False)["gen_seconds"].mean().round(1)
    lines += ["Seconds per fit + sample (mean): "
              + "; ".join(f"{d} / {g}: {v}" for (d, g), v in secs.items()), ""]
    return "\n".join(lines)


def verdict(s: pd.DataFrame) -> list[str]:
    """The issue's 'done when' checks: STEAM beats generic on JSD_pi and U_PEHE with non-overlapping
    95% intervals; the STEAM HR lies in the real CI."""
    gen = s[s.generator.str.startswith("generic")]
    out = []
    if gen.empty:
        return out
    ge = gen.iloc[0]
    for _, st in s[s.generator.str.startswith("STEAM")].iterrows():
        for key, name, up in (("jsd_pi", "JSD_pi", True), ("u_pehe", "U_PEHE", False)):
            better = st[key] > ge[key] if up else st[key] < ge[key]
            apart = (st[key] - st[key + "_ci"] > ge[key] + ge[key + "_ci"]) if up else \
                (st[key] + st[key + "_ci"] < ge[key] - ge[key + "_ci"])
            out.append(f"- {st['generator']} vs generic, {name}: {'better' if better else 'NOT better'}; "
                       f"95% intervals {'do not overlap' if apart else 'OVERLAP'}.")
        out.append(f"- {st['generator']}: synthetic log HR in the real 95% CI in "
                   f"{st['hr_syn_in_real_ci']:.0%} of runs (generic {ge['hr_syn_in_real_ci']:.0%}).")
    return out


def covariate_fidelity(datasets, runs) -> str:
    """Gaussian copula vs sequential trees vs independent marginals on the real-train covariates:
    integrated alpha-precision, beta-recall, mean per-column KS/TV, the mean absolute error of the pairwise
    (Pearson) correlations of the preprocessed covariates, and the DCR ratio (median distance of synthetic
    rows to the closest real-train row / the same for the real holdout); mean +/- 95% t-interval over
    ``runs`` splits."""
    from pyrocsa.data import Preprocessor
    from pyrocsa.steam import GaussianCopula, IndependentMarginals, SequentialTrees
    from pyrocsa.steam.metrics import (
        alpha_precision_beta_recall,
        distance_to_closest_record,
        marginal_distances,
    )

    rows = []
    for name in datasets:
        df, cov, D, E, A = load(name)
        for r in range(runs):
            parts = stratified_split(df, E, A, fractions=(0.8, 0.0, 0.2), seed=r)
            train = df.iloc[parts["train"]].reset_index(drop=True)
            test = df.iloc[parts["test"]].reset_index(drop=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pre = Preprocessor().fit(train, cov)
            c_real = np.corrcoef(pre.transform(train), rowvar=False)
            for label, model in (("Gaussian copula", GaussianCopula()),
                                 ("sequential trees", SequentialTrees()),
                                 ("independent marginals", IndependentMarginals())):
                syn = model.fit(train, columns=cov).sample(len(train), seed=r)
                apr = alpha_precision_beta_recall(train, syn, cov, seed=r)
                c_syn = np.corrcoef(pre.transform(syn), rowvar=False)
                off = ~np.eye(len(c_real), dtype=bool)
                rows.append({"dataset": name, "model": label, "alpha_precision": apr["alpha_precision"],
                             "beta_recall": apr["beta_recall"],
                             "marginal_distance": marginal_distances(train, syn, cov)["distance"].mean(),
                             "corr_error": np.abs(c_real - c_syn)[off].mean(),
                             "dcr_ratio": distance_to_closest_record(train, syn, test, cov)[
                                 "dcr_ratio_median"]})
    raw = pd.DataFrame(rows)
    keys = [("alpha_precision", "P_alpha ↑"), ("beta_recall", "R_beta ↑"), ("marginal_distance", "KS/TV ↓"),
            ("corr_error", "corr. error ↓"), ("dcr_ratio", "DCR ratio ↑")]
    lines = ["## Covariate generator fidelity (real-train covariates)", "",
             f"{runs} splits; mean ± 95% t-interval half-width. `corr. error` = mean |r_real - r_syn| over "
             "pairs of preprocessed covariates.", "",
             "| dataset | model | " + " | ".join(h for _, h in keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for (ds, model), g in raw.groupby(["dataset", "model"], sort=False):
        cells = []
        for k, _ in keys:
            v = g[k].to_numpy(float)
            half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            cells.append(f"{v.mean():.3f} ± {half:.3f}")
        lines.append(f"| {ds} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired(raw: pd.DataFrame) -> list[str]:
    """Paired comparison on the same splits: mean and 95% t-interval of (STEAM - generic) per run."""
    gen = raw[raw.generator.str.startswith("generic")].set_index("run")
    out = []
    for label, st in raw[raw.generator.str.startswith("STEAM")].groupby("generator", sort=False):
        st = st.set_index("run")
        runs = st.index.intersection(gen.index)
        if len(runs) < 2:
            continue
        for key, name in (("jsd_pi", "JSD_pi"), ("u_pehe", "U_PEHE")):
            d = (st.loc[runs, key] - gen.loc[runs, key]).to_numpy(float)
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            wins = int((d > 0).sum() if key == "jsd_pi" else (d < 0).sum())
            out.append(f"- paired {label} - generic, {name}: {d.mean():+.4g} ± {half:.2g} "
                       f"(STEAM better in {wins}/{len(d)} splits)")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 runs, two Cox learners (a few minutes)")
    p.add_argument("--runs", type=int, default=None, help="number of splits (default 5; quick: 2)")
    p.add_argument("--outcome-model", nargs="+", choices=["weibull", "weibull-km", "csa-info"],
                   default=["weibull", "weibull-km"],
                   help="STEAM outcome model(s): Weibull AFT per arm for T and C; the same with per-arm "
                        "Kaplan-Meier censoring; CSA-INFO (slow on CPU)")
    p.add_argument("--csa-epochs", type=int, default=40, help="max epochs of CSA-INFO (early stopping on)")
    p.add_argument("--generators", nargs="+", default=["steam", "generic", "bootstrap"],
                   choices=["steam", "generic", "bootstrap"])
    p.add_argument("--datasets", nargs="+", default=["actg", "actg-synthetic"],
                   choices=["actg", "actg-synthetic"])
    p.add_argument("--out", default=None, help="markdown path (default under benchmarks/results/)")
    p.add_argument("--from-csv", default=None,
                   help="re-render the markdown of an earlier run from its per-run .csv (no fitting)")
    p.add_argument("--first-run", type=int, default=0,
                   help="seed of the first split (to add runs to an earlier run; merge the .csv files and "
                        "re-render with --from-csv)")
    p.add_argument("--covariate-model", default="trees", choices=["copula", "trees", "independent"],
                   help="covariate generator of both STEAM-survival and the generic baseline (default: the "
                        "package default, trees)")
    p.add_argument("--covariates-only", action="store_true",
                   help="only compare the covariate generators (copula, sequential trees, independent)")
    args = p.parse_args(argv)
    args.argv = " ".join(argv if argv is not None else __import__("sys").argv[1:])
    runs = args.runs or (2 if args.quick else 5)
    if runs < 1:
        p.error("--runs must be >= 1")
    args.learners = ["cox-t", "cox-s"] if args.quick else ["cox-t", "cox-s", "weibull-t"]
    if args.covariates_only:
        text = covariate_fidelity(args.datasets, runs)
        print(text)
        out = Path(args.out) if args.out else RESULTS / "steam_covariates.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Covariate generator fidelity\n\nCommand: `OMP_NUM_THREADS=1 python3 "
                       f"-m benchmarks.steam_survival {args.argv}`\n\n" + text)
        print(f"written {out}")
        return
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    if args.from_csv:
        raw = pd.read_csv(args.from_csv)
        args.argv += f"  (re-rendered from {Path(args.from_csv).name})"
    else:
        raw = pd.concat([run_dataset(ds, runs, args.generators, args.outcome_model, args.csa_epochs,
                                     args.learners, args.covariate_model, args.first_run)
                         for ds in args.datasets],
                        ignore_index=True)
    summary = summarise(raw)
    text = markdown(summary, raw, args)
    print("\n" + text)
    if args.from_csv and not args.out:
        args.out = str(Path(args.from_csv).with_suffix(".md"))
    out = Path(args.out) if args.out else \
        RESULTS / f"steam_survival_{'_'.join(args.outcome_model)}{'_quick' if args.quick else ''}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if not args.from_csv:
        raw.to_csv(out.with_suffix(".csv"), index=False)
    print(f"written {out}" + ("" if args.from_csv else f" and {out.with_suffix('.csv')}"))


if __name__ == "__main__":
    main()

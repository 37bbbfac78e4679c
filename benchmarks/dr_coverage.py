"""Coverage of the doubly robust RMST ATE interval over simulator replicates (issue 16's quality bar).

Design (:data:`DESIGN`, :func:`pyrocsa.simulate.simulate`, N = 2000 rows resampled from ACTG 175's 2139):

* nonlinear confounding: P(A=1|x) = sigmoid(-0.5 (z_age + z_cd40)) (standardised covariates; logistic, so
  the default propensity model is right) while the outcome depends on age, cd40 and karnof through
  sin(pi u), quadratic and interaction terms (``nonlinear=1``) on top of the authors' linear log-risk;
* nonlinear heterogeneous effect: the nonlinear terms differ between arms (``_nonlinear_terms``) and the
  authors' arm coefficients differ (``heterogeneity=1``);
* censoring that depends on covariates and arm: Weibull-Cox censoring with arm-specific coefficients
  (``censoring="informative"``, scale 1600 days), administrative end at 1500 days.

In this design age and cd40 act on the outcome in opposite directions, so their confounding nearly cancels
in the average effect: the unadjusted population contrast is 76.9 days against the truth 77.4.
``--design confounded`` (:data:`DESIGNS`) assigns treatment on karnof and cd40 instead (same outcome and
censoring): its unadjusted contrast is 57.8 days, so a wrong outcome model's plug-in is biased and double
robustness can be seen.

Truth: the population RMST ATE at the horizon, mean over the 2139 source rows of the simulator's closed
form RMST_1(h|x) - RMST_0(h|x) (the N = 2000 rows are drawn from that empirical distribution).

Methods per replicate:

* ``DR (<outcome>)``: :class:`pyrocsa.DoublyRobust`, 5 folds, logistic propensity and Cox censoring per
  arm (both parametric, so fitted on all rows; ``docs/decisions.md``, section 9, compares them with
  cross-fitted ones); the outcome model (cross-fitted) is ``--outcome-model cox`` (a linear Cox
  T-learner: deliberately misspecified, it misses the nonlinear terms), ``csa`` (CSA-INFO, one member,
  the package default) or ``km`` (a Kaplan-Meier curve per arm, no covariates: wrong under confounding,
  so the estimate rests on the propensity and censoring models alone);
* ``plug-in (<outcome>, cross-fitted)``: the mean of the same cross-fitted outcome model's RMST
  difference (no interval);
* ``Cox T-learner plug-in, bootstrap`` (with ``cox``): a Cox T-learner fitted on the whole replicate, RMST
  ATE plug-in, 95% normal interval from ``--boot`` bootstrap resamples.

``--boot-reps R`` limits the bootstrap comparator to the first R replicates (40 Cox fits each). Results are
cached per replicate in ``benchmarks/results/dr_coverage_<outcome>.csv``
(``dr_coverage_confounded_<outcome>.csv`` for the other design; resumable: replicates already there are
skipped; runs with different ``--seed0`` merge). The summary over every cached replicate (bias, RMSE,
coverage with its Wilson 95% interval, mean width, seconds), and the DR rows of the outcome models paired on
their shared replicates, are printed and written to ``benchmarks/results/dr_coverage.md``
(``dr_coverage_confounded.md``).

    OMP_NUM_THREADS=1 python3 -m benchmarks.dr_coverage --reps 60 --boot 40 --boot-reps 10 \
        --outcome-model cox
    OMP_NUM_THREADS=1 python3 -m benchmarks.dr_coverage --reps 3 --outcome-model csa
    OMP_NUM_THREADS=1 python3 -m benchmarks.dr_coverage --design confounded --reps 200 --seed0 2000 \
        --outcome-model km --no-bootstrap
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.common import RESULTS  # noqa: E402

#: the simulator design of the coverage study (see the module docstring)
DESIGN = dict(confounding=0.5, eta=-1.0, a=0.0, b=1.0, standardise_propensity=True, nonlinear=1.0,
              heterogeneity=1.0, censoring="informative", censoring_scale=1600.0)
#: ``--design``: "main" (above) or "confounded": the same outcome and censoring, treatment assigned on
#: karnof and cd40 (both protective, so the confounding does not cancel as it nearly does for age and cd40
#: in the main design, whose unadjusted contrast is 0.5 days off the truth): the unadjusted population
#: contrast is 57.8 days against the truth 77.4, with propensities in (0.04, 0.95)
DESIGNS = {"main": DESIGN, "confounded": dict(DESIGN, propensity_columns=("karnof", "cd40"))}


def design_tag(design: dict) -> str:
    """The design as stored with every cached row: rows of another design are never mixed in."""
    return ",".join(f"{k}={v}" for k, v in sorted(design.items()))


HORIZON = 1000.0
DURATION, EVENT, TREATMENT = "time", "event", "treatment"


def true_rmst_ate(horizon: float = HORIZON, design: dict = DESIGN) -> float:
    """Population RMST ATE (days): mean over the 2139 ACTG source rows of the closed-form difference."""
    from pyrocsa.simulate import simulate

    pop = simulate(seed=0, **design)  # n = None: every source row once; the truth does not depend on seed
    r0, r1 = pop.rmst(horizon)
    return float((r1 - r0).mean())


def confounding_check(horizon: float = HORIZON, design: dict = DESIGN) -> dict:
    """How much the design confounds the RMST ATE, on the same population as :func:`true_rmst_ate`: the
    unadjusted contrast E[RMST_1 | A=1] - E[RMST_0 | A=0] (propensity-weighted means of the closed-form
    RMSTs) and the range of the true propensities."""
    from pyrocsa.simulate import simulate

    pop = simulate(seed=0, **design)
    r0, r1 = pop.rmst(horizon)
    e = np.asarray(pop.propensity, dtype=float)
    unadjusted = (e * r1).sum() / e.sum() - ((1 - e) * r0).sum() / (1 - e).sum()
    return {"unadjusted": float(unadjusted), "propensity_min": float(e.min()),
            "propensity_max": float(e.max())}


def cohort(seed: int, n: int = 2000, design: dict = DESIGN):
    """(frame, covariates) of one replicate; constant covariates (zprior in ACTG 175) are dropped."""
    from pyrocsa.simulate import simulate

    c = simulate(n=n, seed=seed, **design)
    covs = [col for col in c.covariates if c.frame[col].nunique() > 1]
    return c.frame, covs


def _kaplan_meier_t_learner():
    """A Kaplan-Meier curve per arm that ignores the covariates: the plug-in is the unadjusted (confounded)
    Kaplan-Meier contrast, so only the propensity and censoring models can make the DR estimate right."""
    from lifelines import KaplanMeierFitter

    from pyrocsa.baselines.cox import SurvivalCurves, TLearnerBase

    class KaplanMeierTLearner(TLearnerBase):
        name = "Kaplan-Meier per arm"

        def _fit_arm(self, x, duration, event, seed):
            return KaplanMeierFitter().fit(duration, event)

        def _survival_arm(self, model, x, end_time):
            sf = model.survival_function_.iloc[:, 0]
            sf = sf[sf.index > 0]
            return SurvivalCurves(sf.index.to_numpy(float), np.tile(sf.to_numpy(float), (len(x), 1)),
                                  end_time=end_time)

    return KaplanMeierTLearner()


def outcome_factory(name: str):
    if name == "km":
        return _kaplan_meier_t_learner, "Kaplan-Meier per arm, no covariates"
    if name == "cox":
        from pyrocsa.baselines import CoxTLearner

        return CoxTLearner, "Cox T-learner"
    if name == "csa":
        from pyrocsa import CSA

        return (lambda: CSA(verbose=False)), "CSA-INFO"
    raise SystemExit(f"--outcome-model must be 'cox', 'csa' or 'km', got {name!r}")


def run_dr(frame, covs, outcome: str, horizon: float, folds: int, seed: int) -> tuple[list[dict], object]:
    from pyrocsa import DoublyRobust
    from pyrocsa.core.influence import integrate_steps

    factory, label = outcome_factory(outcome)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dr = DoublyRobust(outcome_model=factory, n_folds=folds, seed=seed).fit(
            frame, DURATION, EVENT, TREATMENT, covariates=covs)
        res = dr.rmst_difference(horizon)
    secs = time.perf_counter() - t
    plug = {a: integrate_steps(dr.outcome_survival_[a], dr.grid_, horizon).mean() for a in (0, 1)}
    rows = [dict(method=f"DR ({label})", estimate=res["estimate"], se=res["se"], lower=res["lower"],
                 upper=res["upper"], seconds=secs, n_clipped=dr.n_clipped_),
            dict(method=f"plug-in ({label}, cross-fitted)", estimate=plug[1] - plug[0], se=np.nan,
                 lower=np.nan, upper=np.nan, seconds=secs, n_clipped=np.nan)]
    return rows, dr


def run_bootstrap_cox(frame, covs, horizon: float, n_boot: int, seed: int, level: float = 0.95) -> dict:
    """Cox T-learner plug-in RMST ATE with a normal interval from the bootstrap SE."""
    from pyrocsa.baselines import CoxTLearner

    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = CoxTLearner().fit(frame, DURATION, EVENT, TREATMENT, covariates=covs).rmst(
            frame, horizon)["rmst_difference"].mean()
        boots = []
        for _ in range(n_boot):
            idx = rng.integers(0, len(frame), len(frame))
            b = frame.iloc[idx].reset_index(drop=True)
            boots.append(CoxTLearner().fit(b, DURATION, EVENT, TREATMENT, covariates=covs).rmst(
                b, horizon)["rmst_difference"].mean())
    se = float(np.std(boots, ddof=1))
    z = stats.norm.ppf(0.5 + level / 2)
    return dict(method=f"Cox T-learner plug-in, bootstrap ({n_boot})", estimate=float(est), se=se,
                lower=est - z * se, upper=est + z * se, seconds=time.perf_counter() - t, n_clipped=np.nan)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for method, g in df.groupby("method", sort=False):
        err = g["estimate"] - g["truth"]
        row = {"method": method, "replicates": len(g), "bias": err.mean(),
               "MC SE of bias": err.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan,
               "RMSE": float(np.sqrt((err ** 2).mean()))}
        if g["lower"].notna().all():
            cov = ((g["lower"] <= g["truth"]) & (g["truth"] <= g["upper"]))
            lo, hi = wilson(int(cov.sum()), len(g))
            row.update({"coverage": cov.mean(), "coverage 95% CI": f"({lo:.2f}, {hi:.2f})",
                        "mean width": (g["upper"] - g["lower"]).mean()})
        else:
            row.update({"coverage": np.nan, "coverage 95% CI": "", "mean width": np.nan})
        row["s / replicate"] = g["seconds"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def seed_ranges(df: pd.DataFrame) -> str:
    """'method: seeds a-b' for every method (a contiguous range, else its count and extremes)."""
    out = []
    for method, g in df.groupby("method", sort=False):
        seeds = np.unique(g["seed"].to_numpy())
        contiguous = len(seeds) == seeds[-1] - seeds[0] + 1
        out.append(f"{method}: {seeds[0]}-{seeds[-1]}" + ("" if contiguous else f" ({len(seeds)} of them)"))
    return "; ".join(out) + "."


def paired_summary(df: pd.DataFrame, prefixes=("DR (",)) -> pd.DataFrame | None:
    """The interval rows of every method whose name starts with one of ``prefixes`` (default: the DR rows of
    every outcome model), restricted to the replicates (seeds) they all share: bias, SD of the estimates,
    mean SE, coverage and width side by side, plus the SD of the per-replicate difference between the first
    two. None when fewer than two methods or no shared seed."""
    dr = df[df["method"].str.startswith(tuple(prefixes)) & df["lower"].notna()]
    methods = list(dict.fromkeys(dr["method"]))
    if len(methods) < 2:
        return None
    shared = set.intersection(*(set(dr.loc[dr["method"] == m, "seed"]) for m in methods))
    if not shared:
        return None
    rows, est = [], {}
    for m in methods:
        g = dr[(dr["method"] == m) & dr["seed"].isin(shared)].drop_duplicates("seed")
        g = g.set_index("seed").sort_index()
        est[m] = g["estimate"]
        cov = (g["lower"] <= g["truth"]) & (g["truth"] <= g["upper"])
        lo, hi = wilson(int(cov.sum()), len(g))
        rows.append({"method": m, "replicates": len(g), "bias": (g["estimate"] - g["truth"]).mean(),
                     "SD of estimates": g["estimate"].std(ddof=1), "mean SE": g["se"].mean(),
                     "coverage": cov.mean(), "coverage 95% CI": f"({lo:.2f}, {hi:.2f})",
                     "mean width": (g["upper"] - g["lower"]).mean()})
    diff = est[methods[0]] - est[methods[1]]
    rows.append({"method": f"{methods[0]} minus {methods[1]}", "replicates": len(diff), "bias": diff.mean(),
                 "SD of estimates": diff.std(ddof=1), "mean SE": np.nan, "coverage": np.nan,
                 "coverage 95% CI": "", "mean width": np.nan})
    return pd.DataFrame(rows)


def to_markdown(tab: pd.DataFrame) -> str:
    cols = list(tab.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in tab.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, (float, np.floating)):
                cells.append("" if np.isnan(v) else (f"{v:.3f}" if c == "coverage" else f"{v:.1f}"))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=60)
    p.add_argument("--outcome-model", choices=("cox", "csa", "km"), default="cox")
    p.add_argument("--seed0", type=int, default=1000)
    p.add_argument("--design", choices=tuple(DESIGNS), default="main")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--horizon", type=float, default=HORIZON)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--boot", type=int, default=50, help="bootstrap resamples of the Cox T-learner (cox only)")
    p.add_argument("--boot-reps", type=int, default=10**9,
                   help="bootstrap the Cox T-learner on the first this-many replicates only (the slow "
                        "part)")
    p.add_argument("--no-bootstrap", action="store_true")
    p.add_argument("--summary-only", action="store_true", help="summarise the cached CSVs and exit")
    p.add_argument("--cache", type=Path, default=None,
                   help="cache CSV (default benchmarks/results/dr_coverage_<outcome>.csv); concatenate "
                        "parallel runs' files into the default one before summarising")
    args = p.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    design = DESIGNS[args.design]
    tag = design_tag(design)
    stem = "dr_coverage" if args.design == "main" else f"dr_coverage_{args.design}"
    truth = true_rmst_ate(args.horizon, design)
    conf = confounding_check(args.horizon, design)
    conf_text = (f"unadjusted population contrast {conf['unadjusted']:.1f} days; true propensities in "
                 f"({conf['propensity_min']:.2f}, {conf['propensity_max']:.2f})")
    print(f"true population RMST ATE at {args.horizon:g} days: {truth:.2f}; {conf_text}")
    cache = args.cache or RESULTS / f"{stem}_{args.outcome_model}.csv"
    done = pd.read_csv(cache) if cache.exists() else pd.DataFrame()

    def cached(seed: int, prefix: str) -> bool:
        return bool(len(done)) and ((done["seed"] == seed) & (done["horizon"] == args.horizon) &
                                    (done["design"] == tag) &
                                    done["method"].str.startswith(prefix)).any()

    if not args.summary_only:
        for r in range(args.reps):
            seed = args.seed0 + r
            want_boot = args.outcome_model == "cox" and not args.no_bootstrap and r < args.boot_reps and \
                not cached(seed, "Cox T-learner plug-in, bootstrap")
            if cached(seed, "DR (") and not want_boot:
                continue
            frame, covs = cohort(seed, args.n, design)
            rows = [] if cached(seed, "DR (") else run_dr(frame, covs, args.outcome_model, args.horizon,
                                                           args.folds, seed)[0]
            if want_boot:
                rows.append(run_bootstrap_cox(frame, covs, args.horizon, args.boot, seed))
            new = pd.DataFrame([dict(seed=seed, n=args.n, horizon=args.horizon, design=tag,
                                     truth=truth, **row) for row in rows])
            done = pd.concat([done, new], ignore_index=True)
            done.to_csv(cache, index=False)
            msg = "; ".join(f"{row['method']}: {row['estimate']:.1f} ({row['lower']:.1f}, {row['upper']:.1f})"
                            f" {row['seconds']:.0f}s" for row in rows)
            print(f"seed {seed}: {msg}", flush=True)

    parts = []
    for name in ("cox", "csa", "km"):
        f = RESULTS / f"{stem}_{name}.csv"
        if f.exists():
            d = pd.read_csv(f)
            parts.append(d[(d["horizon"] == args.horizon) & (d["design"] == tag)])
    allres = pd.concat(parts, ignore_index=True)
    tab = summarise(allres)
    md = to_markdown(tab)
    paired = paired_summary(allres)
    if paired is not None:
        md += ("\n\nPaired on the replicates that the DR rows share (the same data sets, so the Monte Carlo "
               "noise of the replicate draw is common to all):\n\n" + to_markdown(paired))
    boot = "Cox T-learner plug-in, bootstrap"
    paired = paired_summary(allres, (boot, "DR (")) if allres["method"].str.startswith(boot).any() else None
    if paired is not None:
        md += ("\n\nThe same on the replicates of the bootstrap comparator (the width bar):\n\n"
               + to_markdown(paired))
    text = (f"# DR coverage of the RMST ATE at {args.horizon:g} days\n\n"
            f"Design `{args.design}`: `{design}`, N = {args.n}, {args.folds} folds; {conf_text}; "
            f"truth {truth:.2f} days (closed form, "
            f"population of the 2139 ACTG 175 rows). Bias, RMSE, width in days.\n\n"
            f"Commands: `OMP_NUM_THREADS=1 python3 -m benchmarks.dr_coverage --reps R --seed0 S "
            f"--outcome-model cox|csa|km [--no-bootstrap | --boot 40 --boot-reps K] [--cache FILE]`, the "
            f"replicates of parallel runs (their --cache files) concatenated into "
            f"`results/dr_coverage_<outcome>.csv`; this table: `... --summary-only`. Seeds per row: "
            f"{seed_ranges(allres)}\n\n{md}\n")
    (RESULTS / f"{stem}.md").write_text(text)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

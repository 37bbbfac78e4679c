"""Population effects side by side: pyrocsa's doubly robust estimator, pytmle and IPW-weighted Kaplan-Meier.

Data sets (``--datasets``):

* ``actg``: the ACTG 175 trial subset (1054 patients, arms 0 vs 1, ``datasets.ACTG_BASELINE`` covariates;
  randomised, so no truth but the unadjusted Kaplan-Meier is valid);
* ``sim-censoring``: the simulator with covariate- and arm-dependent (Weibull-Cox) censoring and a
  logistic propensity on age and cd40, linear outcome (N = 2000, seed ``--seed``);
* ``sim-nonlinear``: the coverage study's design (``python3 -m benchmarks.dr_coverage``: nonlinear
  confounding, nonlinear heterogeneous effect, covariate- and arm-dependent censoring; N = 2000).

Estimands: the RMST difference at ``--horizon`` (default 1000 days) and the survival difference at the same
time, treated minus control. Methods:

* ``pyrocsa DR (CSA-INFO)``: :class:`pyrocsa.DoublyRobust` with its defaults (CSA-INFO outcome model with one
  member, logistic propensity, Cox censoring per arm, 5 folds), influence-function interval; by default on
  ACTG only (``--csa-datasets all`` for every data set: 5 CSA fits each);
* ``pyrocsa DR (Cox T-learner)``: the same with a Cox T-learner outcome model;
* ``IPW Kaplan-Meier``: Kaplan-Meier per arm weighted by 1 / P(A=a | x) (lifelines ``weights``, logistic
  propensity), interval from ``--boot`` bootstrap resamples (propensity refitted), percentile;
* ``Kaplan-Meier (unadjusted)``: per arm, analytic (Greenwood-type) variance of the RMST / survival;
* ``pytmle``: ``PyTMLE(...).fit(cv_folds=5)`` with its default super learner (DeepHit, Cox, random survival
  forest for event and censoring hazards), run in the virtual environment ``--pytmle-python`` (pytmle pulls
  mlflow and pycox, so it is kept out of pyrocsa's environment). pytmle 0.6.0 estimates counterfactual
  risks and their differences at target times only: the RMST row says so.

Prints a markdown table (estimate, 95% interval, width, truth where known, seconds) and writes it to
``benchmarks/results/<--out>.md`` (default ``dr_effects.md``), with the ACTG checks of issue 16.
The simulated designs: ``--datasets sim-censoring sim-nonlinear --out dr_effects_sim``.

    OMP_NUM_THREADS=1 python3 -m benchmarks.dr_effects
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.common import RESULTS
from benchmarks.dr_coverage import DESIGN

Z = float(stats.norm.ppf(0.975))

SIM_CENSORING = dict(confounding=0.5, eta=-1.0, a=0.0, b=1.0, standardise_propensity=True, nonlinear=0.0,
                     censoring="informative", censoring_scale=1600.0)

PYTMLE_SNIPPET = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from pytmle import PyTMLE
d = pd.read_csv(sys.argv[1]); t = float(sys.argv[2])
start = time.perf_counter()
tm = PyTMLE(d, target_times=[t], verbose=0)
tm.fit(cv_folds=5, n_jobs=1)
rd = tm.predict("rd"); risks = tm.predict("risks")
print(json.dumps({"rd": rd.to_dict(orient="records"), "risks": risks.to_dict(orient="records"),
                  "seconds": time.perf_counter() - start}, default=float))
"""


# ---------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------
def load(name: str, seed: int, horizon: float):
    """(frame, duration, event, treatment, covariates, truth dict or None)."""
    if name == "actg":
        from pyrocsa import datasets

        df = datasets.load_actg()[list(datasets.ACTG_BASELINE) + ["days", "cens", "arms"]]
        return df, "days", "cens", "arms", list(datasets.ACTG_BASELINE), None
    from pyrocsa.simulate import simulate

    design = {"sim-censoring": SIM_CENSORING, "sim-nonlinear": DESIGN}[name]
    c = simulate(n=2000, seed=seed, **design)
    pop = simulate(seed=0, **design)  # the 2139 source rows: the population of the resampled cohort
    r0, r1 = pop.rmst(horizon)
    s0, s1 = pop.survival([horizon])
    truth = {"rmst_difference": float((r1 - r0).mean()), "survival_difference": float((s1 - s0).mean())}
    covs = [col for col in c.covariates if c.frame[col].nunique() > 1]
    return c.frame, "time", "event", "treatment", covs, truth


# ---------------------------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------------------------
def km_curve(y, d, w=None):
    """Weighted Kaplan-Meier (lifelines) as (times, survival) steps."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(y, d, weights=w)
    sf = kmf.survival_function_
    return sf.index.to_numpy(float), sf.iloc[:, 0].to_numpy(float), kmf


def step_rmst(times, surv, horizon):
    knots = np.minimum(np.concatenate([[0.0], times[times > 0], [np.inf]]), horizon)
    vals = np.concatenate([[1.0], surv[times > 0]])
    return float(vals @ np.diff(knots))


def step_at(times, surv, t):
    k = np.searchsorted(times, t, side="right") - 1
    return 1.0 if k < 0 else float(surv[k])


def km_unadjusted(df, dur, ev, trt, horizon):
    """Unadjusted KM RMST and survival differences with analytic variances (Klein & Moeschberger 4.5:
    Var RMST = sum_{t_j <= h} A_j^2 d_j / (r_j (r_j - d_j)), A_j = int_{t_j}^h S; Greenwood for S)."""
    out = {"rmst": [], "surv": []}
    for arm in (0, 1):
        m = df[trt] == arm
        times, surv, kmf = km_curve(df.loc[m, dur], df.loc[m, ev])
        tab = kmf.event_table
        tj = tab.index.to_numpy(float)
        dj, rj = tab["observed"].to_numpy(float), tab["at_risk"].to_numpy(float)
        keep = (tj <= horizon) & (dj > 0) & (rj > dj)
        rm = step_rmst(times, surv, horizon)
        a_j = np.array([rm - step_rmst(times, surv, t) for t in tj[keep]])
        var_r = float(np.sum(a_j ** 2 * dj[keep] / (rj[keep] * (rj[keep] - dj[keep]))))
        s = step_at(times, surv, horizon)
        var_s = s ** 2 * float(np.sum(dj[keep] / (rj[keep] * (rj[keep] - dj[keep]))))
        out["rmst"].append((rm, var_r))
        out["surv"].append((s, var_s))
    res = {}
    for key, name in (("rmst", "rmst_difference"), ("surv", "survival_difference")):
        est = out[key][1][0] - out[key][0][0]
        se = np.sqrt(out[key][1][1] + out[key][0][1])
        res[name] = (est, est - Z * se, est + Z * se)
    return res


def ipw_km(df, dur, ev, trt, covs, horizon, n_boot, seed):
    from pyrocsa.baselines import PropensityModel

    def once(frame):
        e = PropensityModel().fit(frame, trt, covariates=covs).propensity_
        a = frame[trt].to_numpy()
        r, s = [], []
        for arm in (0, 1):
            m = a == arm
            w = 1.0 / (e[m] if arm == 1 else 1.0 - e[m])
            times, surv, _ = km_curve(frame.loc[m, dur].to_numpy(), frame.loc[m, ev].to_numpy(), w)
            r.append(step_rmst(times, surv, horizon))
            s.append(step_at(times, surv, horizon))
        return r[1] - r[0], s[1] - s[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = once(df)
        rng = np.random.default_rng(seed)
        boots = np.array([once(df.iloc[rng.integers(0, len(df), len(df))].reset_index(drop=True))
                          for _ in range(n_boot)])
    res = {}
    for j, name in enumerate(("rmst_difference", "survival_difference")):
        lo, hi = np.quantile(boots[:, j], [0.025, 0.975])
        res[name] = (est[j], lo, hi)
    return res


def dr(df, dur, ev, trt, covs, horizon, outcome, seed):
    from pyrocsa import DoublyRobust

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = DoublyRobust(outcome_model=outcome, seed=seed).fit(df, dur, ev, trt, covariates=covs)
    r, s = est.rmst_difference(horizon), est.survival_difference(horizon)
    return {"rmst_difference": (r["estimate"], r["lower"], r["upper"]),
            "survival_difference": (s["estimate"], s["lower"], s["upper"])}, est


def run_pytmle(df, dur, ev, trt, covs, horizon, python):
    if not python or not Path(python).exists():
        return None, f"pytmle not run: no interpreter at {python!r} (pip install pytmle in a venv)"
    d = df[covs + [dur, ev, trt]].copy()
    d = d.fillna(d.median())
    d = d.rename(columns={dur: "event_time", ev: "event_indicator", trt: "group"})
    d["event_indicator"] = d["event_indicator"].astype(int)
    d["group"] = d["group"].astype(int)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        d.to_csv(path, index=False)
        code = Path(tmp) / "run.py"
        code.write_text(PYTMLE_SNIPPET)
        proc = subprocess.run([python, str(code), str(path), str(horizon)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    if proc.returncode != 0:
        return None, "pytmle failed: " + proc.stderr.strip().splitlines()[-1][:200]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    rd = out["rd"][0]
    # pytmle's risk difference is F_1(t) - F_0(t) = -(S_1(t) - S_0(t))
    keys = {k.lower(): k for k in rd}
    est = -float(rd[keys.get("pt est", "Pt Est")])
    lo = -float(rd[keys.get("ci_upper", "CI_upper")])
    hi = -float(rd[keys.get("ci_lower", "CI_lower")])
    return {"survival_difference": (est, lo, hi), "seconds": out["seconds"]}, None


def actg_default_hazard_ratio(horizon: float, seed: int) -> list[str]:
    """The default CSA-INFO (one model) on the whole ACTG frame: default ``hazard_ratio()`` (point="draws")
    against the trial's Cox CI and the paper's median recipe; then a 5-member ensemble's t interval of the
    RMST difference (the interval DR replaces)."""
    from pyrocsa import CSA, Ensemble, datasets, metrics
    from pyrocsa.core.ensemble import effect_intervals

    df = datasets.load_actg()[list(datasets.ACTG_BASELINE) + ["days", "cens", "arms"]]
    t = time.perf_counter()
    model = CSA(informative_censoring=True, seed=seed, verbose=False).fit(df, "days", "cens", "arms")
    po = model.sample_potential_outcomes(df, num_samples=200, seed=seed)
    secs = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hr = po.hazard_ratio(seed=seed)
        med = po.hazard_ratio(seed=seed, point="median")
        members = Ensemble(CSA(informative_censoring=True, seed=seed, verbose=False), n_members=5,
                           seed=seed).fit(df, "days", "cens", "arms")
        ens = effect_intervals(members.sample_potential_outcomes(df, num_samples=200, seed=seed),
                               horizon=horizon, level=0.95, hazard_ratio=False, target="population")
    cox = metrics.cox_hazard_ratio(df, "days", "cens", "arms")
    inside = cox["lower"] <= hr["hr"] <= cox["upper"]
    r = ens["rmst_difference"]
    return [f"- default `po.hazard_ratio()` (point=\"draws\"), CSA-INFO defaults (one model), seed {seed}: "
            f"{hr['hr']:.2f} ({hr['lower']:.2f}, {hr['upper']:.2f}); trial Cox {cox['hr']:.2f} "
            f"({cox['lower']:.2f}, {cox['upper']:.2f}); inside the Cox CI: {inside}. The paper's recipe "
            f"(point=\"median\"): {med['hr']:.2f} ({med['lower']:.2f}, {med['upper']:.2f}). Fit + sampling "
            f"{secs:.0f} s.",
            f"- a 5-member CSA-INFO ensemble's t interval (population target) of the RMST@{horizon:g} "
            "difference: "
            f"{r['estimate']:.1f} ({r['lower']:.1f}, {r['upper']:.1f}), width {r['upper'] - r['lower']:.1f}"]


def _first(fn, *args):
    """The first element of ``fn(*args)`` (``dr`` returns (effects, fitted estimator))."""
    return fn(*args)[0]


# ---------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["actg", "sim-censoring", "sim-nonlinear"])
    p.add_argument("--horizon", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--boot", type=int, default=200)
    p.add_argument("--skip-csa", action="store_true", help="leave out the CSA-INFO outcome model")
    p.add_argument("--csa-datasets", nargs="+", default=["actg"],
                   help="data sets on which the (slow: 5 CSA fits) CSA-INFO outcome model runs; 'all' for "
                        "all")
    p.add_argument("--pytmle-python", default="/tmp/pytmle_venv/bin/python")
    p.add_argument("--out", default="dr_effects",
                   help="stem of the result files in benchmarks/results (<out>.md, <out>.csv)")
    args = p.parse_args(argv)
    from pyrocsa import CSA
    from pyrocsa.baselines import CoxTLearner

    rows, notes = [], []
    for name in args.datasets:
        df, dur, ev, trt, covs, truth = load(name, args.seed, args.horizon)
        common = (df, dur, ev, trt, covs, args.horizon)
        methods = []
        if not args.skip_csa and (name in args.csa_datasets or "all" in args.csa_datasets):
            methods.append(("pyrocsa DR (CSA-INFO)",
                            partial(_first, dr, *common, partial(CSA, verbose=False),
                                    args.seed)))
        methods += [
            ("pyrocsa DR (Cox T-learner)", partial(_first, dr, *common, CoxTLearner(), args.seed)),
            (f"IPW Kaplan-Meier (bootstrap {args.boot})", partial(ipw_km, *common, args.boot, args.seed)),
            ("Kaplan-Meier (unadjusted)", partial(km_unadjusted, df, dur, ev, trt, args.horizon)),
        ]
        for label, fn in methods:
            t = time.perf_counter()
            res = fn()
            secs = time.perf_counter() - t
            for estimand, (est, lo, hi) in res.items():
                rows.append(dict(dataset=name, method=label, estimand=estimand, estimate=est, lower=lo,
                                 upper=hi, truth=None if truth is None else truth[estimand], seconds=secs))
            shown = "; ".join(f"{k}: {v[0]:.3f} ({v[1]:.3f}, {v[2]:.3f})" for k, v in res.items())
            print(f"{name:14s} {label:32s} {shown}  {secs:.0f}s", flush=True)
        t = time.perf_counter()
        res, why = run_pytmle(df, dur, ev, trt, covs, args.horizon, args.pytmle_python)
        if res is None:
            notes.append(f"{name}: {why}")
            print(f"{name:14s} pytmle: {why}", flush=True)
        else:
            est, lo, hi = res["survival_difference"]
            rows.append(dict(dataset=name, method="pytmle 0.6.0 (default super learner)",
                             estimand="survival_difference", estimate=est, lower=lo, upper=hi,
                             truth=None if truth is None else truth["survival_difference"],
                             seconds=time.perf_counter() - t))
            rows.append(dict(dataset=name, method="pytmle 0.6.0 (default super learner)",
                             estimand="rmst_difference", estimate=np.nan, lower=np.nan, upper=np.nan,
                             truth=None if truth is None else truth["rmst_difference"], seconds=np.nan))
            print(f"{name:14s} pytmle: survival_difference {est:.3f} ({lo:.3f}, {hi:.3f}) "
                  f"{time.perf_counter() - t:.0f}s", flush=True)

    tab = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tab.to_csv(RESULTS / f"{args.out}.csv", index=False)
    lines = [f"# Population effects at {args.horizon:g} days: DR vs pytmle vs IPW Kaplan-Meier", "",
             "Command: `OMP_NUM_THREADS=1 python3 -m benchmarks.dr_effects " +
             " ".join(a for a in (argv or sys.argv[1:])) + "`", "",
             "RMST difference in days, survival difference as a probability (treated - control); 95% "
             "intervals; seconds = wall time of the method on this data set (2 shared CPU cores). "
             "pytmle 0.6.0 "
             "estimates risks and risk differences at target times only (no RMST): its RMST cells are "
             "empty.", ""]
    for estimand in ("rmst_difference", "survival_difference"):
        lines += [f"## {estimand}", "", "| data set | method | estimate | 95% interval | width | truth | "
                  "error | seconds |", "|---|---|---|---|---|---|---|---|"]
        fmt = "{:.1f}" if estimand == "rmst_difference" else "{:.3f}"
        for _, r in tab[tab["estimand"] == estimand].iterrows():
            if np.isnan(r["estimate"]):
                lines.append(f"| {r['dataset']} | {r['method']} | n/a (not estimated by pytmle) | | | | | |")
                continue
            truth = "" if r["truth"] is None or pd.isna(r["truth"]) else fmt.format(r["truth"])
            err = "" if not truth else fmt.format(r["estimate"] - r["truth"])
            lines.append(f"| {r['dataset']} | {r['method']} | {fmt.format(r['estimate'])} | "
                         f"({fmt.format(r['lower'])}, {fmt.format(r['upper'])}) | "
                         f"{fmt.format(r['upper'] - r['lower'])} | {truth} | {err} | {r['seconds']:.0f} |")
        lines.append("")
    if "actg" in args.datasets:
        a = tab[(tab["dataset"] == "actg") & (tab["estimand"] == "rmst_difference")].set_index("method")
        km = a.loc["Kaplan-Meier (unadjusted)"]
        lines += ["## ACTG checks (issue 16)", ""]
        for m in a.index:
            if m.startswith("pyrocsa DR"):
                r = a.loc[m]
                inside = km["lower"] <= r["estimate"] <= km["upper"]
                ratio = (r["upper"] - r["lower"]) / (km["upper"] - km["lower"])
                lines.append(f"- {m}: RMST@{args.horizon:g} difference {r['estimate']:.1f} inside the "
                             "unadjusted "
                             f"KM 95% CI ({km['lower']:.1f}, {km['upper']:.1f}): {inside}; CI width / KM CI "
                             f"width = {ratio:.2f} (bar: <= 1.1)")
        if not args.skip_csa:
            lines += actg_default_hazard_ratio(args.horizon, args.seed)
        lines.append("")
    if notes:
        lines += ["Notes: " + "; ".join(notes), ""]
    text = "\n".join(lines)
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

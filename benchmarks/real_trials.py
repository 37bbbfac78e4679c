"""Real trials nobody here tuned on: does each model reproduce the trial, and does its check say so?

    OMP_NUM_THREADS=1 python3 -m benchmarks.real_trials [--trials colon pbc ...]
        [--models cox csa csa-steps csa-auto]
        [--seed 0] [--out benchmarks/results/real_trials.md]

Needs the ``pyrocsa[trials]`` extra (SurvSet, scikit-survival: GPL-3, read at run time, never copied here);
the trials, their arms and the columns left out are in :mod:`pyrocsa.data.trials`. Every model is fitted
on all rows of the trial (package defaults; CSA-INFO with ``seed``; ``csa-steps`` / ``csa-auto``: its
``baseline`` set, the table names the baseline each fit ended with). Per trial and model:

* ``tau``: the horizon, the last time at which >= 10% of each arm is still at risk;
* ``band0`` / ``band1``: the band ratio of each arm, max_t |mean_x S_a(t|x) - KM_a(t)| over the KM's 95%
  pointwise half-width on that side (<= 1: inside the pointwise band), and in brackets the same against
  the 95% simultaneous band, which ``fit`` warns about (:mod:`pyrocsa.core.fit_check`, all rows);
* ``dcal0`` / ``dcal1``: D-calibration p-value of each arm (exact S_a(y_i | x_i));
* ``HR``: the model's default ``hazard_ratio()`` (200 draws per patient) against the trial's unadjusted Cox
  HR and 95% CI (lifelines, treatment only); ``in`` marks the model's HR inside that CI;
* ``RMST plug-in`` and ``RMST DR``: the model's mean RMST difference at tau (exact) and the doubly robust
  one (:class:`pyrocsa.DoublyRobust` with this model as the outcome model, 5 folds, logistic propensity,
  Cox censoring) with its 95% CI, against the Kaplan-Meier RMST difference and its 95% CI (lifelines
  variance); ``in`` marks the estimate inside the KM CI;
* ``warned``: whether ``fit`` warned (FitWarning, on its training rows).

Rows are appended to ``--out`` as each trial finishes. ``--check-only``: the fits and the band columns
only (no HR, RMST or doubly robust fits).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from lifelines import CoxPHFitter, KaplanMeierFitter  # noqa: E402
from lifelines.utils import restricted_mean_survival_time  # noqa: E402

import pyrocsa  # noqa: E402
from benchmarks.common import RESULTS, command  # noqa: E402
from pyrocsa.baselines import CoxTLearner  # noqa: E402
from pyrocsa.data.trials import TRIALS, load_trial  # noqa: E402
from pyrocsa.errors import FitWarning  # noqa: E402

COLS = ("time", "event", "treatment")


def horizon(frame: pd.DataFrame, share: float = 0.10) -> float:
    """The last time at which at least ``share`` of each arm is still at risk."""
    ends = []
    for arm in (0, 1):
        y = np.sort(frame.loc[frame.treatment == arm, "time"].to_numpy(float))[::-1]
        ends.append(float(y[int(np.ceil(share * y.size)) - 1]))
    return min(ends)


def km_rmst(y: np.ndarray, e: np.ndarray, tau: float) -> tuple[float, float]:
    """Kaplan-Meier RMST at tau and its variance, sum_j A_j^2 d_j / (n_j (n_j - d_j)) over event times
    t_j <= tau with A_j = int_{t_j}^tau S(u) du (Klein & Moeschberger 4.5)."""
    t, first = np.unique(np.sort(y), return_index=True)
    order = np.argsort(y, kind="stable")
    n = (y.size - first).astype(float)
    d = np.add.reduceat(e[order], first)
    keep = (d > 0) & (t <= tau)
    t, n, d = t[keep], n[keep], d[keep]
    s = np.cumprod(1 - d / n)
    knots = np.concatenate([[0.0], t, [tau]])
    steps = np.concatenate([[1.0], s]) * np.diff(knots)  # area of each step up to tau
    area_after = np.cumsum(steps[::-1])[::-1][1:]  # A_j: area from t_j to tau
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, area_after**2 * d / (n * (n - d)), 0.0)
    return float(steps.sum()), float(terms.sum())


def trial_reference(frame: pd.DataFrame, tau: float) -> dict:
    """Unadjusted Cox HR (95% CI) and the Kaplan-Meier RMST difference at tau (95% CI)."""
    cph = CoxPHFitter().fit(frame[list(COLS)], "time", "event")
    ci = np.exp(cph.confidence_intervals_.loc["treatment"].to_numpy())
    rmst, var = [], []
    for arm in (0, 1):
        sub = frame[frame.treatment == arm]
        m, v = km_rmst(sub.time.to_numpy(float), sub.event.to_numpy(float), tau)
        assert np.isclose(m, restricted_mean_survival_time(KaplanMeierFitter().fit(sub.time, sub.event),
                                                           t=tau))
        rmst.append(m)
        var.append(v)
    d, se = rmst[1] - rmst[0], float(np.sqrt(var[0] + var[1]))
    return {"cox_hr": float(np.exp(cph.params_["treatment"])), "cox_lo": float(ci[0]), "cox_hi": float(ci[1]),
            "km_rmst": float(d), "km_lo": float(d - 1.959964 * se), "km_hi": float(d + 1.959964 * se)}


def make(name: str, seed: int):
    if name == "cox":
        return CoxTLearner()
    if name == "csa":
        return pyrocsa.CSA(seed=seed, verbose=False)
    if name in ("csa-smooth", "csa-steps", "csa-auto"):  # CSA with its baseline set (default "smooth")
        return pyrocsa.CSA(seed=seed, verbose=False, baseline=name.split("-")[1])
    raise ValueError(f"unknown model {name!r}")


def label(model, name: str) -> str:
    """The model's name in the tables; for CSA the requested baseline and the one fitted."""
    if isinstance(model, pyrocsa.CSA):
        return f"{model.name} ({name}: {model.baseline_})"
    return model.name


def fit_timed(name: str, seed: int, frame: pd.DataFrame):
    """(model fitted on all rows of ``frame``, fit seconds, whether ``fit`` warned with a FitWarning)."""
    model = make(name, seed)
    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        model.fit(frame, *COLS)
    return model, time.time() - t0, any(issubclass(w.category, FitWarning) for w in caught)


def plug_in_rmst(model, frame, tau) -> float:
    if isinstance(model, CoxTLearner):
        return float(model.rmst(frame, tau)["rmst_difference"].mean())
    return float((model.predict_rmst(frame, tau, treatment=1) - model.predict_rmst(frame, tau, treatment=0))
                 .mean())


def check_only(trial, name: str, seed: int, tau: float) -> dict:
    """The fit and its Kaplan-Meier band check on all rows, nothing else."""
    model, fit_s, warned = fit_timed(name, seed, trial.frame)
    row = {"trial": trial.name, "model": label(model, name), "n": len(trial.frame), "tau": tau,
           "fit_s": fit_s, "warned": warned}
    for arm, a in model.check(trial.frame).arms.items():
        row[f"band{arm}"], row[f"sim{arm}"], row[f"dcal{arm}"] = a.band_ratio, a.simultaneous_ratio, \
            a.d_calibration_p
        row[f"outside{arm}"] = a.describe_outside(simultaneous=True)
    return row


def fmt_check(r: dict) -> str:
    return (f"| {r['trial']} | {r['model']} | {r['n']} | {r['band0']:.2f} ({r['sim0']:.2f}) | "
            f"{r['band1']:.2f} ({r['sim1']:.2f}) | {r['dcal0']:.2g} / {r['dcal1']:.2g} | "
            f"{r['outside0']} / {r['outside1']} | {'yes' if r['warned'] else 'no'} | {r['fit_s']:.0f} |")


def evaluate(trial, name: str, seed: int, tau: float, ref: dict) -> dict:
    frame = trial.frame
    model, fit_s, warned = fit_timed(name, seed, frame)
    check = model.check(frame)
    po = model.sample_potential_outcomes(frame, 200, seed=seed)
    hr = po.hazard_ratio()
    dr = pyrocsa.DoublyRobust(outcome_model=make(name, seed), seed=seed).fit(frame, *COLS)
    drr = dr.rmst_difference(tau)
    plug = plug_in_rmst(model, frame, tau)
    row = {"trial": trial.name, "model": label(model, name), "n": len(frame), "tau": tau, "fit_s": fit_s,
           "warned": warned, "HR": hr["hr"], "HR_in": ref["cox_lo"] <= hr["hr"] <= ref["cox_hi"],
           "plug": plug, "plug_in": ref["km_lo"] <= plug <= ref["km_hi"],
           "dr": drr["estimate"], "dr_lo": drr["lower"], "dr_hi": drr["upper"],
           "dr_in": ref["km_lo"] <= drr["estimate"] <= ref["km_hi"], **ref}
    for arm, a in check.arms.items():
        row[f"band{arm}"], row[f"sim{arm}"], row[f"dcal{arm}"] = a.band_ratio, a.simultaneous_ratio, \
            a.d_calibration_p
    return row


def fmt(r: dict) -> str:
    yes = {True: "in", False: "**out**"}
    return (f"| {r['trial']} | {r['model']} | {r['n']} | {r['tau']:.4g} | "
            f"{r['band0']:.2f} ({r['sim0']:.2f}) | "
            f"{r['band1']:.2f} ({r['sim1']:.2f}) | {r['dcal0']:.2g} / {r['dcal1']:.2g} | "
            f"{r['HR']:.2f} {yes[r['HR_in']]} | {r['cox_hr']:.2f} ({r['cox_lo']:.2f}, {r['cox_hi']:.2f}) | "
            f"{r['plug']:.3g} {yes[r['plug_in']]} | {r['dr']:.3g} ({r['dr_lo']:.3g}, {r['dr_hi']:.3g}) "
            f"{yes[r['dr_in']]} | {r['km_rmst']:.3g} ({r['km_lo']:.3g}, {r['km_hi']:.3g}) | "
            f"{'yes' if r['warned'] else 'no'} | {r['fit_s']:.0f} |")


HEADER = ("| trial | model | n | tau | band0 (sim.) | band1 (sim.) | D-cal p 0 / 1 | HR | "
          "trial Cox HR (CI) | "
          "RMST plug-in | RMST DR (CI) | KM RMST diff (CI) | fit warned | fit s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", nargs="+", default=list(TRIALS))
    ap.add_argument("--models", nargs="+", default=["cox", "csa"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "real_trials.md"))
    ap.add_argument("--check-only", action="store_true", help="fits and band columns only")
    args = ap.parse_args()
    if args.check_only:
        with open(args.out, "w") as fh:
            fh.write(f"# Real trials: the fit check\n\n`{command(__name__)}`\n\nBand ratio per arm on all "
                     "rows, pointwise (simultaneous in brackets); ranges outside the simultaneous band.\n\n"
                     "| trial | model | n | band0 (sim.) | band1 (sim.) | D-cal p 0 / 1 "
                     "| outside (sim.) 0 / 1 "
                     "| fit warned | fit s |\n|---|---|---|---|---|---|---|---|---|\n")
            for name in args.trials:
                trial = load_trial(name)
                for model in args.models:
                    fh.write(fmt_check(check_only(trial, model, args.seed, horizon(trial.frame))) + "\n")
                    fh.flush()
        return
    rows = []
    with open(args.out, "w") as fh:
        fh.write(f"# Real trials\n\n`{command(__name__)}`\n\nFitted on all rows; band ratios pointwise "
                 "(simultaneous in brackets); see the script's docstring.\n\n")
        for name in args.trials:
            trial = load_trial(name)
            fh.write(f"- {trial.name}: {trial.title}; n = {len(trial.frame)}, unit {trial.unit}, covariates "
                     f"{trial.covariates}; left out: {trial.dropped}\n")
        fh.write("\n" + HEADER + "\n")
        fh.flush()
        for name in args.trials:
            trial = load_trial(name)
            tau = horizon(trial.frame)
            ref = trial_reference(trial.frame, tau)
            for model in args.models:
                row = evaluate(trial, model, args.seed, tau, ref)
                rows.append(row)
                fh.write(fmt(row) + "\n")
                fh.flush()
                print(fmt(row), flush=True)
    pd.DataFrame(rows).to_csv(args.out.replace(".md", ".csv"), index=False)


if __name__ == "__main__":
    main()

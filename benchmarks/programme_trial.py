"""Design (h): a simulated trial whose hazard rises when a programme ends. Does the model stay inside the
trial's Kaplan-Meier band, and does its check say so?

    OMP_NUM_THREADS=1 python3 -m benchmarks.programme_trial [--seeds 0 1 2] [--models cox csa]
        [--csv benchmarks/results/programme_trial.csv] [--n 600]
    python3 -m benchmarks.programme_trial --summarise [--csv ...]

The cohort is :func:`pyrocsa.data.simulate.simulate_programme_trial` (randomised, 600 patients, about 95%
with an event, covariates that explain little, hazard x5 at day 90 in the control arm and at day 180 in the
treated arm): the situation in which a held-back public trial showed the model 0.12 away from its
Kaplan-Meier while nothing warned. Each model is fitted on all rows (package defaults, ``seed``), as
``benchmarks/real_trials.py`` fits a trial, and scored by the same three checks:

* ``band0`` / ``band1``: per-arm band ratio, max_t |mean_x S_a(t|x) - KM_a(t)| over the KM's 95% pointwise
  half-width (:meth:`check`, all rows; <= 1: inside the band); ``sup0`` / ``sup1``: max_t |mean S - KM|;
* ``HR`` / ``HR_in``: the model's ``hazard_ratio()`` (200 draws per patient) against the trial's unadjusted
  Cox 95% CI;
* ``plug`` / ``plug_in``: the plug-in RMST difference at tau (the last day with >= 10% of each arm at risk)
  against the Kaplan-Meier difference's 95% CI; ``rmst_true``: the true mean RMST difference of these
  patients at tau (from the simulation's hazards);
* ``warned``: whether ``fit`` warned that the model leaves the band on its training rows.

Models: ``cox`` (the Cox T-learner), ``csa`` (the default, ``baseline="smooth"``), ``csa-steps`` and
``csa-auto`` (``baseline="steps"`` / ``"auto"``); CSA rows name the baseline the fit ended with.

A row is appended to ``--csv`` after every fit; ``--summarise`` prints the means and counts per model
(``steps``: fits that ended with step baselines; ``inside``: fits with both pointwise band ratios <= 1;
``band_max``: the largest ratio of any fit).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.common import RESULTS  # noqa: E402
from benchmarks.real_trials import fit_timed, horizon, label, plug_in_rmst, trial_reference  # noqa: E402
from pyrocsa.data.simulate import simulate_programme_trial  # noqa: E402


def run_one(seed: int, name: str, n: int) -> dict:
    sim = simulate_programme_trial(n=n, seed=seed)
    frame = sim.frame
    tau = horizon(frame)
    ref = trial_reference(frame, tau)
    model, fit_s, warned = fit_timed(name, seed, frame)
    hr = model.sample_potential_outcomes(frame, 200, seed=seed).hazard_ratio()["hr"]
    plug = plug_in_rmst(model, frame, tau)
    r0, r1 = sim.truth.rmst(tau)
    row = {"seed": seed, "model": label(model, name), "n": n, "tau": tau, "fit_s": fit_s,
           "warned": warned,
           "HR": hr, "HR_in": ref["cox_lo"] <= hr <= ref["cox_hi"], "plug": plug,
           "plug_in": ref["km_lo"] <= plug <= ref["km_hi"], "rmst_true": float(np.mean(r1 - r0)), **ref}
    for arm, a in model.check(frame).arms.items():
        row[f"band{arm}"] = a.band_ratio
        row[f"sup{arm}"] = float(np.max(np.abs(a.model - a.km)))
    return row


def summarise(path: str) -> str:
    d = pd.read_csv(path)
    # one group per requested model ("CSA-INFO (csa-auto: steps)" -> "csa-auto"); fits that took steps
    d["steps"] = d.model.str.endswith("steps)")
    d["model"] = d.model.map(lambda m: m.split("(")[1].split(":")[0] if ":" in m else m)
    d["band_max"] = d[["band0", "band1"]].max(axis=1)
    d["inside"] = d.band_max <= 1.0
    d["plug_err"] = (d.plug - d.km_rmst).abs()
    g = d.groupby("model")
    out = g.agg(fits=("seed", "size"), steps=("steps", "sum"), band0=("band0", "mean"),
                band1=("band1", "mean"),
                band_max=("band_max", "max"), inside=("inside", "sum"), sup0=("sup0", "mean"),
                sup1=("sup1", "mean"), HR_in=("HR_in", "sum"), plug_in=("plug_in", "sum"),
                plug_err=("plug_err", "mean"), warned=("warned", "sum"), fit_s=("fit_s", "mean"))
    out = out.round(3).reset_index()
    lines = ["| " + " | ".join(out.columns) + " |", "|" + "---|" * len(out.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in out.itertuples(index=False)]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=["cox", "csa", "csa-steps", "csa-auto"])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--csv", default=str(RESULTS / "programme_trial.csv"))
    ap.add_argument("--summarise", action="store_true", help="print the per-model summary of --csv")
    args = ap.parse_args()
    if args.summarise:
        print(summarise(args.csv))
        return
    rows = []
    for seed in args.seeds:
        for name in args.models:
            rows.append(run_one(seed, name, args.n))
            pd.DataFrame(rows).to_csv(args.csv, index=False)
            r = rows[-1]
            print(f"seed {seed} {r['model']}: band {r['band0']:.2f} / {r['band1']:.2f}, HR {r['HR']:.2f} "
                  f"({r['cox_lo']:.2f}, {r['cox_hi']:.2f}), RMST {r['plug']:.1f} "
                  f"({r['km_lo']:.1f}, {r['km_hi']:.1f}), warned {r['warned']}", flush=True)


if __name__ == "__main__":
    main()

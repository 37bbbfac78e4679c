"""Does CSA-INFO's sampled survival match the ACTG trial's Kaplan-Meier, arm by arm?

    OMP_NUM_THREADS=1 python3 benchmarks/actg_survival_check.py [--extra 'ensemble_size=1,generator="paper"']

Fits CSA-INFO (defaults, seed 0, plus ``--extra`` keyword arguments) on the ACTG RCT subset (arms 0 vs 1,
baseline covariates, the stratified 70/15 train/valid split with seed 0), samples potential event times
for all 1054 patients (200 draws) and prints, per arm, the population RMST at 1000 days and the survival
S(t) at a few times beside the arm's Kaplan-Meier (lifelines). In a randomised trial the two should agree.
Then the effect: the RMST difference at 1000 days, and the paper's linear-slope HR(t) (geometric mean over
the distinct observed times) computed three ways -- from the Kaplan-Meier of the per-subject median draws
(the paper's SM B.2, ``PotentialOutcomes.hazard_ratio()``), from the survival of all draws (the model's
marginal potential-outcome survival), and from the trial's own Kaplan-Meier curves -- beside the trial's
Cox HR.
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402
from lifelines.utils import restricted_mean_survival_time  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa import datasets, estimands, metrics  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402

TIMES = (100, 200, 400, 600, 800, 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", default="", help="extra CSA kwargs, e.g. 'ensemble_size=1'")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    extra = {}
    for kv in filter(None, args.extra.split(",")):
        k, v = kv.split("=")
        extra[k] = eval(v)  # noqa: S307 - benchmark command line only
    frame = datasets.load_actg()[list(datasets.ACTG_BASELINE) + ["days", "cens", "arms"]]
    split = stratified_split(frame, "cens", "arms", seed=0)
    est = pyrocsa.CSA(seed=0, verbose=False, **extra).fit(frame.iloc[split["train"]], "days", "cens", "arms",
                                                          val_df=frame.iloc[split["valid"]])
    po = est.sample_potential_outcomes(frame, 200, seed=0)
    print(f"CSA-INFO {extra or 'defaults'}; S(t) = share of draws > t among the arm's patients")
    for arm, draws in ((0, po.t0), (1, po.t1)):
        m = (frame["arms"] == arm).to_numpy()
        km = KaplanMeierFitter().fit(frame.loc[m, "days"], frame.loc[m, "cens"])
        d = draws[:, m]
        print(f"arm {arm}: RMST@1000 KM {restricted_mean_survival_time(km, t=1000):.1f} "
              f"model {np.minimum(d, 1000).mean():.1f}")
        print("   " + " | ".join(f"S({t}) KM {km.predict(t):.3f} model {(d > t).mean():.3f}" for t in TIMES))
    arms = frame["arms"]
    arm_km = [KaplanMeierFitter().fit(frame.loc[arms == a, "days"], frame.loc[arms == a, "cens"])
              for a in (0, 1)]
    km_rmst = [restricted_mean_survival_time(k, t=1000) for k in arm_km]
    print(f"RMST difference at 1000 days: model {po.rmst_ate(1000.0):.1f}, "
          f"Kaplan-Meier {km_rmst[1] - km_rmst[0]:.1f}")
    grid = np.unique(frame["days"].to_numpy(dtype=float))

    def slope_hr(s0, s1):
        return float(np.exp(np.nanmean(np.log(estimands.hazard_ratio_curve(grid, s0, s1)))))

    kms = [k.survival_function_at_times(grid).to_numpy() for k in arm_km]
    cox = metrics.cox_hazard_ratio(frame, "days", "cens", "arms")
    all_draws = po.hazard_ratio(point="draws", n_boot=0)["hr"]
    print(f"HR(t): median draws (paper) {po.hazard_ratio(seed=0)['hr']:.3f} | all draws {all_draws:.3f} | "
          f"trial Kaplan-Meier {slope_hr(*kms):.3f} | trial Cox {cox['hr']:.2f} "
          f"({cox['lower']:.2f}, {cox['upper']:.2f})")


if __name__ == "__main__":
    main()

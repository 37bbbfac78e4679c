"""Which nuisance widens the doubly robust interval: swap fitted nuisances for the true ones (issue 16).

On replicates of the ``dr_coverage.py`` design, :class:`pyrocsa.DoublyRobust` is fitted with the linear Cox
T-learner outcome model (5 folds; fold seed ``--fold-seed``, default the replicate seed as in
``dr_coverage.py``). The one-step RMST-ATE interval width (days) is then recomputed from its pseudo-outcomes
with the fitted nuisances, with the true S_a(t | x), with the true propensity, and with both. The censoring
model is always the package's fitted one (a Cox model per arm, fitted on all rows since 2026-12-03; the
first table in the results file predates that and used the cross-fitted fold fits). It also prints the
largest |pseudo-outcome - mean|::

    PYTHONPATH=. OMP_NUM_THREADS=1 python3 benchmarks/dr_nuisance_swap.py 1010 1011 1017 [--fold-seed 0]

Results: ``benchmarks/results/dr_censoring_clip.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dr_coverage as dc  # noqa: E402
import numpy as np  # noqa: E402

from pyrocsa import DoublyRobust  # noqa: E402
from pyrocsa.evaluation.doubly_robust import _integrate_steps, aipcw_pseudo_outcomes  # noqa: E402
from pyrocsa.simulate import simulate  # noqa: E402


def width(dr, surv, propensity, censoring, horizon):
    """(95% width, largest |phi - mean|) of the RMST-ATE pseudo-outcomes with the given nuisances."""
    pseudo = {}
    for arm in (0, 1):
        weight = (dr.treatment_ == arm) / (propensity if arm == 1 else 1 - propensity)
        phi = aipcw_pseudo_outcomes(surv[arm], censoring[arm], dr.grid_position_, dr.event_, weight)
        pseudo[arm] = _integrate_steps(phi, dr.grid_, horizon)
    diff = pseudo[1] - pseudo[0]
    return 3.92 * diff.std(ddof=1) / np.sqrt(len(diff)), float(np.abs(diff - diff.mean()).max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("seeds", type=int, nargs="+")
    ap.add_argument("--fold-seed", type=int, default=None)
    args = ap.parse_args()
    for seed in args.seeds:
        frame, covs = dc.cohort(seed)
        truth = simulate(n=2000, seed=seed, **dc.DESIGN)
        factory, _ = dc.outcome_factory("cox")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dr = DoublyRobust(outcome_model=factory, n_folds=5,
                              seed=seed if args.fold_seed is None else args.fold_seed).fit(
                frame, dc.DURATION, dc.EVENT, dc.TREATMENT, covariates=covs)
        true_s = dict(zip((0, 1), truth.truth.survival(dr.grid_)))
        true_pi = np.clip(truth.propensity, 1e-3, 1 - 1e-3)
        fs, fp, fc = dr.outcome_survival_, dr.propensity_, dr.censoring_survival_
        cases = {"fitted": (fs, fp), "true S": (true_s, fp), "true pi": (fs, true_pi),
                 "true S and pi": (true_s, true_pi)}
        parts = [f"{k} {w:.1f} (max |dev| {m:.0f})"
                 for k, (w, m) in ((k, width(dr, s, p, fc, dc.HORIZON)) for k, (s, p) in cases.items())]
        print(f"replicate {seed}: " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    main()

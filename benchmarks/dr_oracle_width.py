"""How narrow can the doubly robust RMST-ATE interval be on the dr_coverage design? (issue 16's width bar)

    OMP_NUM_THREADS=1 python3 benchmarks/dr_oracle_width.py 0 40

The one-step estimator of :mod:`pyrocsa.evaluation.doubly_robust` (its ``aipcw_pseudo_outcomes``) with
*oracle* nuisances on replicates ``first .. last-1`` of ``benchmarks/dr_coverage.py``'s design (N = 2000,
horizon 1000): the simulator's true S_a(t | x) and true propensity, and the censoring by a Cox model per arm
fitted on all rows (correctly specified: that design's censoring is Weibull proportional hazards in the
covariates). Prints per replicate the estimate, SE and 95% width, then bias (against the population truth
and against each sample's own truth), the estimates' SD, the mean width and the coverage. This is the
width a doubly robust interval reaches when its nuisance models are right; compare with the estimator's
width with fitted nuisances (``dr_coverage.md``).
"""
import sys
from pathlib import Path

import numpy as np
from lifelines import CoxPHFitter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dr_coverage import DESIGN, HORIZON, true_rmst_ate  # noqa: E402

from pyrocsa.evaluation.doubly_robust import _integrate_steps, aipcw_pseudo_outcomes  # noqa: E402
from pyrocsa.simulate import simulate  # noqa: E402


def one_replicate(seed: int) -> tuple[float, float, float]:
    """(estimate, SE, the sample's own RMST ATE) for one replicate, with oracle S_a and propensity."""
    c = simulate(n=2000, seed=seed, **DESIGN)
    f = c.frame
    covs = [k for k in c.covariates if f[k].nunique() > 1]
    y, d, a = f["time"].to_numpy(), f["event"].to_numpy(), f["treatment"].to_numpy()
    grid = np.unique(y)
    grid = grid[grid <= HORIZON]
    pos = np.searchsorted(grid, y)
    pos[y > HORIZON] = len(grid)  # at risk over the whole grid
    prev = np.concatenate([[0.0], grid[:-1]])  # G(t_k-) = G(t_{k-1}) for the censoring step function
    pi = np.clip(c.propensity, 1e-3, 1 - 1e-3)
    psi = {}
    for arm, surv in zip((0, 1), c.truth.survival(grid)):
        m = a == arm
        rows = f.loc[m, covs + ["time"]].assign(cens=1 - d[m])
        cens = CoxPHFitter(penalizer=0.01).fit(rows, "time", "cens")
        g = np.clip(cens.predict_survival_function(f[covs], times=prev).to_numpy().T, 1e-3, 1.0)
        weight = m / (pi if arm == 1 else 1 - pi)
        psi[arm] = _integrate_steps(aipcw_pseudo_outcomes(surv, g, pos, d, weight), grid, HORIZON)
    diff = psi[1] - psi[0]
    r0, r1 = c.rmst(HORIZON)
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))), float((r1 - r0).mean())


def main():
    first, last = (int(v) for v in sys.argv[1:3])
    truth = true_rmst_ate()
    rows = []
    for seed in range(first, last):
        est, se, own = one_replicate(seed)
        rows.append((est, se, abs(est - truth) <= 1.96 * se, est - own))
        print(f"seed {seed}: estimate {est:.1f}, SE {se:.2f}, width {2 * 1.96 * se:.1f}, "
              f"covers {rows[-1][2]}", flush=True)
    r = np.array(rows, float)
    n = len(r)
    print(f"population truth {truth:.1f}; replicates {n}; bias {r[:, 0].mean() - truth:.2f}; error against "
          f"each sample's own truth {r[:, 3].mean():.2f} (SE {r[:, 3].std(ddof=1) / np.sqrt(n):.2f}); "
          f"SD of the estimates {r[:, 0].std(ddof=1):.2f}; mean width {np.mean(2 * 1.96 * r[:, 1]):.1f}; "
          f"coverage {r[:, 2].mean():.3f}")


if __name__ == "__main__":
    main()

"""How often does the Kaplan-Meier band check flag a model that is the truth?

    OMP_NUM_THREADS=1 python3 -m benchmarks.fit_check_null [--reps 200] [--n 300 3000]

For each replicate, a two-arm data set of n subjects per arm is drawn from an exponential model (rate 1
under control, 0.7 under treatment, no covariates) with uniform censoring on [0, 3], and the check
(:func:`pyrocsa.core.fit_check.fit_check`) is run for the *true* model. The share of replicates in which
some arm leaves the pointwise band (band ratio > 1) and the simultaneous band (what ``fit`` warns about)
estimates each band's false-alarm rate: the simultaneous band is built for 5% per arm (about 10% for two
arms), the pointwise one for 5% at each single time only.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.common import RESULTS, command  # noqa: E402
from pyrocsa.core.base import CounterfactualSurvivalModel  # noqa: E402
from pyrocsa.core.fit_check import fit_check  # noqa: E402
from pyrocsa.data.frame import SurvivalData  # noqa: E402

RATES = (1.0, 0.7)


class TrueExponential(CounterfactualSurvivalModel):
    """The data's own model: S_a(t) = exp(-RATES[a] t)."""

    name = "truth"

    def fit(self, df, duration_col, event_col, treatment_col, val_df=None, covariates=None, **kwargs):
        self.data_ = SurvivalData.from_frame(df, duration_col, event_col, treatment_col,
                                             covariates=covariates)
        self.fitted_ = True
        return self

    def sample_potential_outcomes(self, df, num_samples=200, seed=None):  # pragma: no cover - not used
        raise NotImplementedError

    def _arm_survival(self, df, arm, times):
        return np.repeat(np.exp(-RATES[arm] * np.asarray(times, float))[:, None], len(df), axis=1)

    def _arm_survival_at(self, df, arm, durations):
        return np.exp(-RATES[arm] * np.asarray(durations, float))


def replicate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    a = np.repeat([0, 1], n)
    t = rng.exponential(1.0 / np.array(RATES)[a])
    c = rng.uniform(0, 3, 2 * n)
    return pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int), "treatment": a,
                         "x": rng.normal(size=2 * n)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "fit_check_null.md"))
    args = ap.parse_args()
    lines = [f"# The fit check under the true model\n\n`{command(__name__)}`\n",
             "| n per arm | replicates | pointwise band left (some arm) | simultaneous band left (some arm) "
             "| median band ratio | median simultaneous ratio |", "|---|---|---|---|---|---|"]
    for n in args.n:
        rng = np.random.default_rng([args.seed, n])
        point, simul = [], []
        for _ in range(args.reps):
            df = replicate(n, rng)
            check = fit_check(TrueExponential().fit(df, "time", "event", "treatment"), df)
            point.append(max(a.band_ratio for a in check.arms.values()))
            simul.append(max(a.simultaneous_ratio for a in check.arms.values()))
        point, simul = np.array(point), np.array(simul)
        lines.append(f"| {n} | {args.reps} | {np.mean(point > 1):.3f} | {np.mean(simul > 1):.3f} | "
                     f"{np.median(point):.2f} | {np.median(simul):.2f} |")
        print(lines[-1], flush=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Does a covariate generator keep the confounding of actg-Synthetic? A check with the simulator's own law.

    OMP_NUM_THREADS=1 python3 -m benchmarks.steam_confounding [--reps 10]

On the authors' training split, covariates X come from (a) the real rows, (b) a Gaussian copula or (c)
sequential trees fitted on them; treatment A ~ Bernoulli(pi(X)) from the same logistic propensity model
(fitted on the real rows); event times from the *true* Gompertz-Cox law of the simulator for the sampled arm,
administratively censored at 2000 days. The crude (marginal) Cox log HR of A mixes the treatment effect with
confounding, so a generator that keeps p(X) -- in particular the joint law of the confounders and the
prognostic covariates -- gives the same crude log HR as the real rows. Printed: mean and sd over ``--reps``
draws of each. No model is fitted to outcomes, so only the covariate generator differs between rows.
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pyrocsa import metrics  # noqa: E402
from pyrocsa.datasets import load_actg_synthetic  # noqa: E402
from pyrocsa.simulate import authors_gompertz_cox  # noqa: E402
from pyrocsa.steam import GaussianCopula, PropensityModel, SequentialTrees  # noqa: E402

ADMIN = 2000.0  # days: administrative censoring of the simulated event times


def crude_log_hr(x: pd.DataFrame, a: np.ndarray, rng: np.random.Generator) -> float:
    t0, t1 = authors_gompertz_cox(x.to_numpy(float)).sample(rng)
    t = np.where(a == 1, t1, t0)
    frame = pd.DataFrame({"treatment": a, "time": np.minimum(t, ADMIN), "event": (t <= ADMIN).astype(int)})
    return float(np.log(metrics.cox_hazard_ratio(frame, "time", "event", "treatment")["hr"]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    ds = load_actg_synthetic()
    train = ds.frame.iloc[ds.split["train"]].reset_index(drop=True)
    cov = list(ds.covariates)
    x_real = train[cov]
    propensity = PropensityModel("logistic").fit(x_real, train["treatment"].to_numpy())
    generators = {"copula": GaussianCopula().fit(train, columns=cov),
                  "sequential trees": SequentialTrees().fit(train, columns=cov)}
    rows = {"real covariates": [], **{name: [] for name in generators}}
    for rep in range(args.reps):
        rng = np.random.default_rng(1000 + rep)
        rows["real covariates"].append(crude_log_hr(x_real, propensity.sample(x_real, rng), rng))
        for name, gen in generators.items():
            x = gen.sample(len(train), seed=rep)[cov]
            rows[name].append(crude_log_hr(x, propensity.sample(x, rng), rng))
    print(f"actg-Synthetic training split (n={len(train)}), logistic propensity, the simulator's true law; "
          f"{args.reps} draws each")
    print(f"{'covariates':<20s} {'crude log HR':>13s} {'sd':>6s} {'shift vs real':>14s}")
    ref = np.mean(rows["real covariates"])
    for name, v in rows.items():
        print(f"{name:<20s} {np.mean(v):+13.3f} {np.std(v, ddof=1):6.3f} {np.mean(v) - ref:+14.3f}")


if __name__ == "__main__":
    main()

"""Does a larger minibatch change what CSA-INFO learns at large N? (issue 18: ``batch_size="auto"``)

    OMP_NUM_THREADS=1 python3 -m benchmarks.batch_size --n 100000 --batches 256 664 4096 --seeds 1 2

Each row: a CSA-INFO fit (constructor defaults but ``batch_size``; max_epochs 80, patience 10) on N rows of
``benchmarks.scale.cohort`` (log-normal event times, log T_a ~ Normal(5.5 + 0.3 a + 0.3 x0 - 0.2 x1,
0.8^2), confounded arm, log-normal censoring), scored on 5000 fresh subjects against the closed-form truth:
RMST@600 PEHE (root mean squared error of the per-subject RMST difference), RMST ATE error, the RMSE of
RMST_0, and the best validation loss (negative log-likelihood per row). Prints a markdown table; ``--out``
also writes it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

from benchmarks.scale import cohort
from pyrocsa import CSA

HORIZON = 600.0


def true_rmst(x: np.ndarray, a: int, horizon: float = HORIZON, points: int = 4001) -> np.ndarray:
    """RMST_a(horizon | x) of the cohort's log-normal law, by the trapezoid rule on ``points`` times."""
    grid = np.linspace(0.0, horizon, points)
    mu = 5.5 + 0.3 * a + 0.3 * x[:, 0] - 0.2 * x[:, 1]
    with np.errstate(divide="ignore"):
        s = norm.sf((np.log(grid)[None, :] - mu[:, None]) / 0.8)
    return np.trapezoid(s, grid, axis=1)


def run(n: int, batch: int, seed: int) -> dict:
    df = cohort(n + 5000, seed=seed)
    train, test = df.iloc[:n], df.iloc[n:]
    x = test[[f"x{j}" for j in range(10)]].to_numpy()
    t0 = time.perf_counter()
    m = CSA(batch_size=batch, max_epochs=80, patience=10, seed=seed, verbose=False, device="cpu")
    m.fit(train, "time", "event", "treatment")
    fit_s = time.perf_counter() - t0
    r0 = m.predict_rmst(test, HORIZON, treatment=0).to_numpy()
    r1 = m.predict_rmst(test, HORIZON, treatment=1).to_numpy()
    true0, true1 = true_rmst(x, 0), true_rmst(x, 1)
    return dict(n=n, batch=m.batch_size_, seed=seed, epochs=len(m.history_), fit_s=fit_s,
                valid=min(h["valid_factual"] for h in m.history_),
                pehe=float(np.sqrt(np.mean((r1 - r0 - (true1 - true0)) ** 2))),
                ate_err=float(abs((r1 - r0).mean() - (true1 - true0).mean())),
                rmse0=float(np.sqrt(np.mean((r0 - true0) ** 2))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--batches", type=int, nargs="+", default=[256, 664, 4096])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    lines = ["| N | batch | seed | epochs | fit s | best valid NLL | RMST PEHE | RMST ATE error | "
             "RMST_0 RMSE |",
             "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for seed in args.seeds:
        for b in args.batches:
            r = run(args.n, b, seed)
            lines.append(f"| {r['n']} | {r['batch']} | {r['seed']} | {r['epochs']} | {r['fit_s']:.0f} | "
                         f"{r['valid']:.4f} | {r['pehe']:.2f} | {r['ate_err']:.2f} | {r['rmse0']:.2f} |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

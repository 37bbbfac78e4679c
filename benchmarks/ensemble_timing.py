"""Wall time of a K-member CSA ensemble vs one fit, and whether torch.func vectorisation would help.

    OMP_NUM_THREADS=1 python3 benchmarks/ensemble_timing.py [--k 5] [--epochs 6] [--n 2000] [--jobs N]

1. One CSA-INFO fit (in-process, 1 torch thread) vs ``fit_members(K)`` with ``n_jobs`` worker processes
   (joblib/loky; default min(K, cpu count)), same config and a fixed number of epochs (patience = epochs,
   so every member runs all of them); the ensemble is timed twice, the first call including the start
   of the worker processes (import of torch/pyro), the second reusing them.
   Ideal ratio on c free cores: ceil(K / c) (5 members on 2 cores: 3 rounds, with the fifth member alone).
2. A training-step micro-benchmark: K copies of the CSA network, forward + backward of the factual sample
   CRPS on one minibatch, as a Python loop over the K models vs one ``torch.func.vmap`` over parameters
   stacked with ``torch.func.stack_module_state`` (batch norm switched to batch statistics with
   ``torch.func.replace_all_batch_norm_modules_``, since running-stat updates cannot be vmapped; no IPM,
   no imputation -- an upper bound on what vmapping the full loss could gain).

The markdown table is printed and written to benchmarks/results/coverage_timing.md.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from pyrocsa.ensemble import fit_members  # noqa: E402
from pyrocsa.estimator import CSA  # noqa: E402
from pyrocsa.losses import energy_score  # noqa: E402
from pyrocsa.model import CSAModel  # noqa: E402
from pyrocsa.simulate import simulate  # noqa: E402

COLS = ("time", "event", "treatment")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def config(args) -> dict:
    return dict(informative_censoring=True, objective="crps", alpha=args.alpha, hidden=(32, 32),
                generator_hidden=(32, 64), noise_dim=16, lr=3e-3, max_epochs=args.epochs,
                patience=args.epochs, verbose=False)


def fit_timing(args):
    co = simulate(n=args.n, seed=0, nonlinear=1.0, censoring="informative")
    df, covs = co.frame, list(co.covariates)
    train, valid = df.iloc[co.split["train"]], df.iloc[co.split["valid"]]
    torch.set_num_threads(1)
    t0 = time.time()
    CSA(seed=0, **config(args)).fit(train, *COLS, val_df=valid, covariates=covs)
    one = time.time() - t0
    ens = []
    for seed in (0, 1):  # first call starts the worker processes, the second reuses them
        t0 = time.time()
        members = fit_members(config(args), train, *COLS, val_df=valid, covariates=covs, K=args.k,
                              seed=seed, n_jobs=args.jobs)
        ens.append(time.time() - t0)
        assert all(len(m.history_) == args.epochs for m in members)
    return one, ens


class _Draw(torch.nn.Module):
    """``model.draw(x, 8)`` as a forward, so that ``torch.func.functional_call`` can swap parameters."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, x):
        return self.m.draw(x, 8)


def _factual_crps(out, scale, a, y):
    t = torch.where(a > 0.5, out["t1"], out["t0"]) / scale
    c = torch.where(a > 0.5, out["c1"], out["c0"]) / scale
    return energy_score(t, y).mean() + energy_score(c, y).mean()


def step_timing(args, n_steps: int = 20):
    torch.manual_seed(0)
    p, b = 22, 200
    x, a, y = torch.randn(b, p), (torch.rand(b) < 0.5).float(), torch.rand(b) + 0.5
    cfg = dict(encoder_hidden=(32, 32), generator_hidden=(32, 64), noise_dim=16, dropout=0.2)
    models = [CSAModel(p, True, **cfg).train() for _ in range(args.k)]

    def loop():
        for m in models:
            m.zero_grad(set_to_none=True)
            _factual_crps(m.draw(x, 8), m.time_scale, a, y).backward()

    vmodels = [_Draw(copy.deepcopy(m)) for m in models]
    for m in vmodels:
        torch.func.replace_all_batch_norm_modules_(m)
    base = copy.deepcopy(vmodels[0]).to("meta")
    params, buffers = torch.func.stack_module_state(vmodels)
    scale = models[0].time_scale

    def loss_one(prm, buf):
        return _factual_crps(torch.func.functional_call(base, (prm, buf), (x,)), scale, a, y)

    grad_fn = torch.func.vmap(torch.func.grad(loss_one), randomness="different")

    def vec():
        return grad_fn(params, buffers)

    out = {}
    for name, fn in (("loop", loop), ("vmap", vec)):
        try:
            fn()  # warm-up (and a check that it runs at all)
            t0 = time.perf_counter()
            for _ in range(n_steps):
                fn()
            out[name] = (time.perf_counter() - t0) / n_steps
        except Exception as err:  # report, do not hide: vmap may not support an op of the model
            out[name] = f"failed: {type(err).__name__}: {str(err)[:150]}"
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--alpha", type=float, default=0.0)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--skip-fit", action="store_true", help="only the vmap micro-benchmark")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*dropping constant covariate.*")
    cores = os.cpu_count() or 1
    jobs = args.jobs or min(args.k, cores)
    lines = [f"# Ensemble wall time ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `python3 benchmarks/ensemble_timing.py {' '.join(argv or sys.argv[1:])}`; CSA config "
             f"`{config(args)}`; cpu count {cores}, load average (1 min) at start "
             f"{os.getloadavg()[0]:.1f}.", "",
             "| measurement | wall | ratio |", "|---|---|---|"]
    if not args.skip_fit:
        one, ens = fit_timing(args)
        lines.append(f"| one CSA fit ({args.epochs} epochs, N={args.n}, 70% train) | {one:.1f} s | 1.00 |")
        for label, t in zip(("cold: starts the workers", "warm: workers reused"), ens):
            lines.append(f"| ensemble of {args.k}, fit_members n_jobs={jobs} ({label}) | {t:.1f} s | "
                         f"{t / one:.2f} |")
        lines.append(f"| ideal on {jobs} idle cores: ceil(K / n_jobs) rounds | - | "
                     f"{math.ceil(args.k / jobs):.2f} |")
    steps = step_timing(args)
    for name, v in steps.items():
        label = f"{args.k} models, one training step ({name})"
        if isinstance(v, float) and isinstance(steps["loop"], float):
            lines.append(f"| {label} | {v * 1e3:.1f} ms | {v / steps['loop']:.2f} |")
        else:
            lines.append(f"| {label} | {v} | - |")
    lines += ["", f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.skip_fit:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "coverage_timing.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

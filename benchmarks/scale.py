"""Scale: training rows/s per epoch (validation included) and peak memory, for 1 and K processes on CPU, and
sampling seconds, on simulated cohorts (issue 18).

    python3 -m benchmarks.scale --n 2000 20000 100000 --epochs 2 --nproc 1 2 [--sample-n 100000]
        [--draws 200] [--threads 2] [--alpha 0] [--batch-size auto] [--parquet] [--profile N] [--out FILE.md]

Every measurement runs in a fresh Python process (so ``ru_maxrss`` is that run's peak):

* train: ``CSA(max_epochs=E)`` with the constructor's other defaults (CSA-INFO, hidden
  (100, 100), 4 planar layers, batch 256, dropout 0.2) fitted on N simulated rows (10 covariates, 85/15
  split). rows/s = training rows x epochs / seconds spent in ``fit_module`` (every epoch's validation pass
  included; the data preparation is not). K processes:
  ``pyrocsa.core.distributed.spawn`` (gloo), ``--threads``
  cores shared among them; the figure is rank 0's, peak memory is each rank's peak summed over ranks.
* ``--parquet``: the same fit from a Parquet file (streamed, :mod:`pyrocsa.core.streaming`), 1 process.
* sample: ``sample_potential_outcomes`` of ``--draws`` draws for ``--sample-n`` subjects from a model fitted
  1 epoch on 2000 rows (CSA-INFO: 4 sites).
* ``--profile N``: cProfile of one training epoch at N rows (1 process), top functions by own time.
* ``--step-batches B ...``: one training step's forward (trace + exact likelihood), the Newton root finding
  inside it and the backward, in ms, at minibatch sizes B (1 process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def cohort(n: int, seed: int = 0, p: int = 10) -> pd.DataFrame:
    """Confounded log-normal event and censoring times with p normal covariates (fast at 10^6 rows)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)).astype(np.float32)
    a = rng.binomial(1, 1 / (1 + np.exp(-0.8 * x[:, 0])))
    lt = 5.5 + 0.3 * a + 0.3 * x[:, 0] - 0.2 * x[:, 1] + 0.8 * rng.normal(size=n)
    lc = 6.3 + 0.1 * x[:, 2] + 0.5 * rng.normal(size=n)
    t, c = np.exp(lt), np.exp(lc)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    df["treatment"], df["time"], df["event"] = a, np.minimum(t, c), (t <= c).astype(int)
    return df


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _timed_fit(args, data, rank_out=None):
    import torch

    from pyrocsa import CSA
    from pyrocsa.core import distributed
    from pyrocsa.csa import estimator

    spent = {}

    def timed(fn, key):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            spent[key] = time.perf_counter() - t0
            return out
        return wrapper

    real, real_start = estimator.fit_module, estimator.fit_start
    estimator.fit_module = timed(real, "s")
    estimator.fit_start = timed(real_start, "start_s")
    m = CSA(max_epochs=args.epochs, patience=args.epochs + 1, alpha=args.alpha,
            batch_size=args.batch_size, seed=0, verbose=False, device="cpu")
    m.fit(data, "time", "event", "treatment")
    res = {"rank": distributed.rank(), "world": distributed.world_size(), "n_train": m.n_train_,
           "n_valid": m.n_valid_, "epochs": len(m.history_), "fit_s": spent["s"],
           "start_s": spent.get("start_s", 0.0),
           "rows_per_s": m.n_train_ * len(m.history_) / spent["s"], "peak_mb": _peak_mb(),
           "threads": torch.get_num_threads(), "batch": m.batch_size_,
           "valid_factual": m.history_[-1]["valid_factual"]}
    if rank_out:
        Path(rank_out, f"rank{res['rank']}.json").write_text(json.dumps(res))
    return res


def _rank_main(args, path, rank_out):
    import torch

    torch.set_num_threads(max(1, args.threads // args.nproc))
    data = pd.read_parquet(path)
    _timed_fit(args, data, rank_out)


def worker(args) -> dict:
    import tempfile

    import torch

    from pyrocsa.core import distributed

    if args.task == "train" and args.nproc == 1:
        torch.set_num_threads(args.threads)
        df = cohort(args.n)
        if args.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "cohort.parquet"
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=65536)
                del df
                return _timed_fit(args, str(path))
        return _timed_fit(args, df)
    if args.task == "train":
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "cohort.parquet"
            cohort(args.n).to_parquet(path)
            distributed.spawn(_rank_main, (args, str(path), d), args.nproc, threads=max(1, args.threads
                                                                                         // args.nproc))
            ranks = [json.loads(Path(d, f"rank{r}.json").read_text()) for r in range(args.nproc)]
        out = dict(ranks[0])
        out["peak_mb"] = sum(r["peak_mb"] for r in ranks)
        out["peak_mb_rank_max"] = max(r["peak_mb"] for r in ranks)
        return out
    if args.task == "sample":
        from pyrocsa import CSA

        torch.set_num_threads(args.threads)
        m = CSA(max_epochs=1, seed=0, verbose=False, device="cpu")
        m.fit(cohort(2000, seed=1), "time", "event", "treatment")
        df = cohort(args.n, seed=2)
        t0 = time.perf_counter()
        po = m.sample_potential_outcomes(df, num_samples=args.draws, seed=0)
        s = time.perf_counter() - t0
        return {"n": args.n, "draws": args.draws, "sample_s": s, "shape": list(po.t1.shape),
                "peak_mb": _peak_mb(), "threads": torch.get_num_threads()}
    if args.task == "profile":
        import cProfile
        import io
        import pstats

        torch.set_num_threads(args.threads)
        df = cohort(args.n)
        args.epochs = 1
        n = args.n
        _timed_fit(args, cohort(300, seed=5))  # warm-up: first-use imports out of the profile
        args.n = n
        prof = cProfile.Profile()
        prof.enable()
        res = _timed_fit(args, df)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
        res["profile"] = s.getvalue()
        return res
    if args.task == "steps":
        return step_costs(args)
    raise ValueError(args.task)


def step_costs(args) -> dict:
    """Milliseconds of one training step's forward (Pyro trace + exact log-likelihood), of the Newton root
    finding inside it (:meth:`pyrocsa.csa.flows.PlanarLayer._root`) and of the backward, per minibatch size,
    on a
    model trained 30 steps (so the flows are not identities). Second of two repetitions."""
    import torch

    import pyrocsa.csa.flows as flows
    from pyrocsa.csa.losses import CSALoss
    from pyrocsa.csa.model import CSAModel
    from pyrocsa.data import SurvivalData

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d = SurvivalData.from_frame(cohort(20000), "time", "event", "treatment")
    ly = d.y.double().log()
    model = CSAModel(d.x.shape[1], True, log_time_loc=float(ly.mean()), log_time_scale=float(ly.std()))
    opt, loss_fn = torch.optim.Adam(model.parameters(), 1e-3), CSALoss()
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        idx = torch.randint(0, len(d), (256,), generator=gen)
        loss, _ = loss_fn(model, d.x[idx], d.a[idx], d.y[idx], d.delta[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    spent = []
    real = flows.PlanarLayer._root

    def timed(self, y):
        t0 = time.perf_counter()
        out = real(self, y)
        spent.append(time.perf_counter() - t0)
        return out

    flows.PlanarLayer._root = timed
    rows = {}
    for b in args.step_batches:
        batch = tuple(t[:b] for t in (d.x, d.a, d.y, d.delta))
        for _ in range(2):
            spent.clear()
            t0 = time.perf_counter()
            loss, _ = loss_fn(model, *batch)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
        rows[b] = {"forward_ms": 1e3 * (t1 - t0), "newton_ms": 1e3 * sum(spent), "root_calls": len(spent),
                   "backward_ms": 1e3 * (t2 - t1), "us_per_row": 1e6 * (t2 - t0) / b}
    flows.PlanarLayer._root = real
    return {"steps": rows}


def _run(argv: list[str]) -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, __file__, "--worker", *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 20000, 100000])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=2, help="cores in all (shared among the processes)")
    ap.add_argument("--alpha", type=float, default=0.0)
    ap.add_argument("--batch-size", type=lambda v: v if v == "auto" else int(v), default="auto",
                    help="CSA(batch_size=): 'auto' (the default) or rows")
    ap.add_argument("--sample-n", type=int, nargs="*", default=[100000])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--parquet", action="store_true", help="also fit from a Parquet file (1 process)")
    ap.add_argument("--profile", type=int, default=None, help="profile one epoch at this N")
    ap.add_argument("--step-batches", type=int, nargs="*", default=[],
                    help="also time one step's forward / Newton roots / backward at these minibatch sizes")
    ap.add_argument("--out", default=None, help="also write the tables (markdown) here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--task", default="train", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.n, args.nproc = args.n[0], args.nproc[0]
        print(json.dumps(worker(args)))
        return
    common = ["--epochs", str(args.epochs), "--threads", str(args.threads), "--alpha", str(args.alpha),
              "--batch-size", str(args.batch_size)]
    lines = [f"threads in all: {args.threads}; epochs: {args.epochs}; alpha: {args.alpha}; batch: "
             f"{args.batch_size}; load average at start: {os.getloadavg()[0]:.2f}", "",
             "| N | processes | source | train rows | batch | Cox start s | epochs | s in fit_module | "
             "train rows/s | peak RSS MB (sum of ranks) |", "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for n in args.n:
        runs = [(k, "frame") for k in args.nproc] + ([(1, "parquet")] if args.parquet else [])
        for k, src in runs:
            r = _run(["--task", "train", "--n", str(n), "--nproc", str(k), *common]
                     + (["--parquet"] if src == "parquet" else []))
            line = (f"| {n} | {k} | {src} | {r['n_train']} | {r.get('batch', '')} | "
                    f"{r.get('start_s', 0.0):.1f} | {r['epochs']} | "
                    f"{r['fit_s']:.1f} | "
                    f"{r['rows_per_s']:,.0f} | {r['peak_mb']:,.0f} |")
            lines.append(line)
            print(line, flush=True)
    if args.sample_n:
        lines += ["", "| subjects | draws | sampling s | peak RSS MB |", "|---|---|---|---|"]
        print("\n".join(lines[-3:]), flush=True)
        for n in args.sample_n:
            r = _run(["--task", "sample", "--n", str(n), "--draws", str(args.draws), *common])
            lines.append(f"| {n} | {args.draws} | {r['sample_s']:.1f} | {r['peak_mb']:,.0f} |")
            print(lines[-1], flush=True)
    if args.profile:
        r = _run(["--task", "profile", "--n", str(args.profile), *common])
        text = f"one epoch at N = {args.profile}: {r['rows_per_s']:,.0f} rows/s\n{r['profile']}"
        lines += ["", "```", text, "```"]
        print(text, flush=True)
    if args.step_batches:
        r = _run(["--task", "steps", "--step-batches", *map(str, args.step_batches), *common])
        lines += ["", "| minibatch | forward ms | of which Newton roots ms | backward ms | us per row |",
                  "|---|---|---|---|---|"]
        for b, v in r["steps"].items():
            lines.append(f"| {b} | {v['forward_ms']:.1f} | {v['newton_ms']:.1f} ({v['root_calls']} calls) | "
                         f"{v['backward_ms']:.1f} | {v['us_per_row']:.1f} |")
        print("\n".join(lines[-2 - len(r["steps"]):]), flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Data-parallel training (pyrocsa.core.distributed): 2 gloo processes on a tiny cohort.

One spawn of two processes does three things (process start-up dominates the cost):
1. one data-parallel step on a fixed global minibatch: the DDP-averaged gradient and the IPM must equal a
   single process's gradient and IPM on the whole minibatch (dropout 0, so it is deterministic), and the
   IPM of either rank's half alone must differ (the negative control: the test can fail);
2. fit_module for 2 epochs: both ranks end with identical weights and identical (reduced) histories;
3. CSA.fit + save through the estimator: identical weights, and only rank 0 writes the model;
4. CSA.fit on a Parquet file (streamed) under DDP: identical weights and histories.
"""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

ALPHA = 10.0


def _cohort(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    a = rng.binomial(1, 1 / (1 + np.exp(-1.5 * x[:, 0])))
    t = rng.exponential(np.exp(1 + 0.5 * a + 0.4 * x[:, 0]))
    c = rng.exponential(6.0, size=n)
    df = pd.DataFrame(x, columns=["x0", "x1", "x2"])
    df["treatment"], df["time"], df["event"] = a, np.minimum(t, c), (t <= c).astype(int)
    return df


def _tensors(df):
    from pyrocsa.data import SurvivalData

    d = SurvivalData.from_frame(df, "time", "event", "treatment")
    return (d.x, d.a, d.y, d.delta)


def _model(p, seed=0):
    from pyrocsa.csa.model import CSAModel

    torch.manual_seed(seed)
    return CSAModel(p, True, hidden=(8,), flow_layers=1, dropout=0.0, log_time_loc=1.0, log_time_scale=1.0)


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from pyrocsa.core import distributed
        from pyrocsa.core.ipm import wasserstein_ipm
        from pyrocsa.core.training import fit_module
        from pyrocsa.csa import estimator
        from pyrocsa.csa.losses import CSALoss

        out = Path(out)
        df = _cohort()
        tensors = _tensors(df)
        result = {}
        # 1. one step on the global minibatch of all 200 rows
        model = _model(tensors[0].shape[1])
        par = distributed.DataParallel(model, CSALoss("likelihood", alpha=ALPHA), torch.device("cpu"))
        loss, comps, local = par.loss(tensors, torch.arange(len(df)))
        loss.backward()
        result["ipm"] = comps["ipm"]
        with torch.no_grad():
            r_local = model.representation(tensors[0][local])
            result["ipm_local_half"] = float(wasserstein_ipm(r_local, tensors[1][local]))
        result["rows"] = int(len(local))
        torch.save({k: p.grad.clone() for k, p in model.named_parameters()}, out / f"grad{rank}.pt")
        # 2. fit_module, 2 epochs, minibatches of 64 split across the ranks
        model = _model(tensors[0].shape[1], seed=rank)  # different inits: DDP must broadcast rank 0's
        hist = fit_module(model, CSALoss("likelihood", alpha=1.0), tensors[:4], tensors[:4], batch_size=64,
                          lr=1e-2, max_epochs=2, patience=5, seed=0, device="cpu", verbose=False,
                          monitor="factual")
        torch.save(model.state_dict(), out / f"fit{rank}.pt")
        result["history"] = hist
        # 3. the estimator; record who writes the model directory
        real_save = estimator.save_estimator

        def recording_save(est, path):
            (out / f"saved_by_{rank}").write_text("yes")
            return real_save(est, path)

        estimator.save_estimator = recording_save
        est = estimator.CSA(hidden=(8,), flow_layers=1, max_epochs=2, batch_size=64, alpha=1.0, seed=0,
                            verbose=False)
        est.fit(df, "time", "event", "treatment")
        est.save(out / "model")
        torch.save(est.model_.state_dict(), out / f"est{rank}.pt")
        result["est_history"] = est.history_
        # 4. the estimator on a Parquet file, streamed: every rank reads the same buffers, shards minibatches
        est = estimator.CSA(hidden=(8,), flow_layers=1, max_epochs=1, batch_size=64, alpha=1.0, seed=0,
                            verbose=False).fit(str(out / "cohort.parquet"), "time", "event",
                                                                "treatment")
        torch.save(est.model_.state_dict(), out / f"stream{rank}.pt")
        result["stream_history"] = est.history_
        (out / f"result{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    import torch.multiprocessing as mp

    from pyrocsa.core.distributed import free_port

    out = tmp_path_factory.mktemp("ddp")
    _cohort().to_parquet(out / "cohort.parquet", row_group_size=50)
    mp.start_processes(_worker, args=(2, free_port(), str(out)), nprocs=2, join=True, start_method="spawn")
    return out, [json.loads((out / f"result{r}.json").read_text()) for r in (0, 1)]


def test_step_equals_single_process_on_the_global_batch(two_ranks):
    from pyrocsa.csa.losses import CSALoss

    out, res = two_ranks
    df = _cohort()
    tensors = _tensors(df)
    model = _model(tensors[0].shape[1])
    loss, comps = CSALoss("likelihood", alpha=ALPHA)(model, *tensors)
    loss.backward()
    assert [r["rows"] for r in res] == [100, 100]
    for r in res:  # the IPM each rank trained on is the IPM of the whole (gathered) minibatch
        assert r["ipm"] == pytest.approx(comps["ipm"], rel=1e-4, abs=1e-7)
        # negative control: the IPM of one rank's half alone is a different number
        assert abs(r["ipm_local_half"] - comps["ipm"]) > 1e-3 * max(comps["ipm"], 1e-3)
    single = {k: p.grad for k, p in model.named_parameters()}
    g0, g1 = (torch.load(out / f"grad{r}.pt") for r in (0, 1))
    for k, g in single.items():
        assert torch.equal(g0[k], g1[k]), k  # DDP: the same averaged gradient on both ranks
        torch.testing.assert_close(g0[k], g, rtol=2e-4, atol=2e-6)  # = the one-process gradient


def test_ranks_end_with_identical_weights_and_history(two_ranks):
    out, res = two_ranks
    for name in ("fit", "est", "stream"):
        s0, s1 = (torch.load(out / f"{name}{r}.pt") for r in (0, 1))
        assert s0.keys() == s1.keys()
        for k in s0:
            assert torch.equal(s0[k], s1[k]), (name, k)
    for key, epochs in (("history", 2), ("est_history", 2), ("stream_history", 1)):
        assert res[0][key] == res[1][key]  # the reduced losses (hence early stopping) agree exactly
        assert len(res[0][key]) == epochs
    # the fit moved the weights away from rank 0's initialisation
    init = _model(3).state_dict()
    s0 = torch.load(out / "fit0.pt")
    assert any(not torch.equal(init[k], s0[k]) for k in s0)


def test_only_rank_zero_saves(two_ranks):
    from pyrocsa import CSA

    out, _ = two_ranks
    assert (out / "saved_by_0").exists()
    assert not (out / "saved_by_1").exists()
    loaded = CSA.load(out / "model")
    s0 = torch.load(out / "est0.pt")
    for k, v in loaded.model_.state_dict().items():
        assert torch.equal(v.cpu(), s0[k]), k


def test_cli_fit_nproc_2(tmp_path, capsys):
    from pyrocsa import CSA
    from pyrocsa.reports.cli import main

    data = tmp_path / "sim.csv"
    _cohort(n=160, seed=3).to_csv(data, index=False)
    before = data.read_bytes()
    args = ["fit", str(data), "--duration", "time", "--event", "event", "--treatment", "treatment", "--out",
            str(tmp_path / "model"), "--epochs", "2", "--quiet", "--alpha", "1"]
    assert main(args + ["--nproc", "2"]) == 0
    assert data.read_bytes() == before
    model = CSA.load(tmp_path / "model")
    assert len(model.history_) == 2 and model.n_train_ + model.n_valid_ == 160


def test_cli_nproc_is_validated(tmp_path, capsys, monkeypatch):
    from pyrocsa.reports.cli import main

    data = tmp_path / "sim.csv"
    _cohort(n=60).to_csv(data, index=False)
    base = ["fit", str(data), "--duration", "time", "--event", "event", "--treatment", "treatment", "--out",
            str(tmp_path / "model"), "--epochs", "1", "--quiet"]
    assert main(base + ["--nproc", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyrocsa: error: --nproc must be a positive integer") and "\n" not in err
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert main(base + ["--nproc", "2"]) == 2
    assert "torchrun" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()

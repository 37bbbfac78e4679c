"""Data-parallel training with ``torch.distributed`` (DDP): helpers used by
:func:`pyrocsa.core.training.fit_module` and :meth:`pyrocsa.CSA.fit` when a process group of more than one
process is running.

How a run is started
--------------------
* ``torchrun --nproc-per-node K -m pyrocsa -- fit ...`` (the ``--`` keeps torchrun from reading
  ``--event`` as its own option), or any script that calls ``CSA.fit``: torchrun sets ``WORLD_SIZE``,
  ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` (called by
  ``CSA.fit``) initialises the default process group from them (``init_method="env://"``).
  Several nodes: the same command on every node with ``--nnodes N --node-rank i --master-addr HOST
  --master-port PORT`` (or ``--rdzv-backend c10d --rdzv-endpoint HOST:PORT``); see the README.
* ``pyrocsa fit ... --nproc K`` starts the K processes on this machine itself (:func:`spawn`, built on
  ``torch.multiprocessing.start_processes``) with a free localhost port.
* A process group the user initialised beforehand (``dist.init_process_group``) is used as it is.

Backends: gloo on CPU, nccl when the model trains on CUDA (each process then uses ``cuda:LOCAL_RANK``).

What one training step does (:class:`DataParallel`)
---------------------------------------------------
Every process holds the same training rows (each reads the same frame and fits the same, deterministic
preprocessing and split) and draws the same epoch permutation (the minibatch generator is seeded
identically on every rank). Each global minibatch of ``batch_size`` rows, exactly the minibatch one process
would use, is split into ``world_size`` contiguous, near-equal parts (``torch.tensor_split``); rank k
computes the factual loss of its part (the DistributedSampler idea applied per minibatch: every row of an
epoch is seen by exactly one rank). The representations r and treatments of all parts are all-gathered
(:func:`gather_rows`: differentiable, the local part keeps its gradient) so
the Wasserstein IPM balances the *global* minibatch. The loss is computed inside the forward of a small
module wrapped in :class:`torch.nn.parallel.DistributedDataParallel`, whose backward averages gradients.

Gradient bookkeeping, so that the averaged gradient equals the one-process gradient of the same minibatch:
rank k's factual mean over its m_k rows is scaled by W m_k / M (M = sum of m_k, W = world size), so
DDP's average is the global row mean; the IPM is computed identically on every rank and the backward of
all_gather sums the W copies of its gradient onto each local part, which DDP's average divides by W again.
Hence one step with W processes equals one step of a single process on the same minibatch up to floating
point (with dropout, the masks differ: each rank draws its own).

Validation rows are sharded contiguously; sums and counts of every loss component are all-reduced, so
every rank sees the same validation loss and stops at the same epoch. Saving happens on rank 0 only.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["active", "rank", "world_size", "is_main", "init_from_env", "device_for", "backend_for",
           "free_port", "gather_rows", "DataParallel", "spawn", "barrier"]


# -- the process group -----------------------------------------------------------------------------------
def active() -> bool:
    """True when a default process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or no process group): the process that saves and prints."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", rank()))


def barrier() -> None:
    if active():
        dist.barrier()


def backend_for(device=None) -> str:
    """nccl when the model trains on CUDA, gloo otherwise."""
    if device is None or device == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device=None) -> bool:
    """Initialise the default process group from torchrun's environment when ``WORLD_SIZE`` > 1 and no group
    is initialised yet; returns :func:`active`. With CUDA, sets the current device to ``cuda:LOCAL_RANK``."""
    want = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if not dist.is_available():
        if want > 1:
            raise RuntimeError(f"WORLD_SIZE={want} but this torch build has no torch.distributed")
        return False
    if dist.is_initialized():
        return active()
    if want <= 1:
        return False
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend, init_method="env://")
    return active()


def device_for(device=None) -> torch.device:
    """The training device of this rank: as :func:`pyrocsa.core.training.resolve_device`, with CUDA mapped to
    ``cuda:LOCAL_RANK``."""
    from pyrocsa.core.device import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank() % max(1, torch.cuda.device_count()))
    return dev


def free_port() -> int:
    """A TCP port that is free on localhost now (for a single-machine process group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broadcast_int(v: int) -> int:
    """Rank 0's value of ``v`` on every rank."""
    if not active():
        return int(v)
    t = torch.tensor([int(v)], dtype=torch.int64, device=_comm_device())
    dist.broadcast(t, src=0)
    return int(t.item())


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# -- collectives on minibatches --------------------------------------------------------------------------
class _AllGatherRows(torch.autograd.Function):
    """all_gather of equal-shaped (m, ...) tensors into (W m, ...), differentiable: the gradient of this
    rank's rows is the sum over ranks of the gradient of the gathered tensor (an all_reduce, then this
    rank's block), the backward of an all_gather. Written here because
    ``torch.distributed.nn.functional.all_gather`` is deprecated in recent torch."""

    @staticmethod
    def forward(ctx, r):
        world, me = dist.get_world_size(), dist.get_rank()
        ctx.m, ctx.me = r.shape[0], me
        parts = [torch.empty_like(r) for _ in range(world)]
        dist.all_gather(parts, r.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.me * ctx.m:(ctx.me + 1) * ctx.m]


def gather_rows(r: torch.Tensor, a: torch.Tensor, sizes) -> tuple[torch.Tensor, torch.Tensor]:
    """All-gather each rank's rows r (m_k, d) and a (m_k,) into (M, d), (M,) in rank order. ``sizes``: the
    m_k of every rank (known to all). The gather of r is differentiable (its backward sums every rank's
    gradient of the gathered tensor onto the local rows); a is gathered without gradient."""
    sizes = [int(s) for s in sizes]
    top = max(sizes)
    m = r.shape[0]
    if m < top:  # all_gather needs equal shapes: pad, then trim
        r = torch.cat([r, r.new_zeros(top - m, *r.shape[1:])])
        a = torch.cat([a, a.new_zeros(top - m)])
    r_all = _AllGatherRows.apply(r)
    a_parts = [torch.empty_like(a) for _ in sizes]
    dist.all_gather(a_parts, a.contiguous())
    keep = torch.cat([torch.arange(k * top, k * top + s, device=r.device) for k, s in enumerate(sizes)])
    return r_all[keep], torch.cat([p[:s] for p, s in zip(a_parts, sizes)])


class _GlobalBatchLoss(nn.Module):
    """The loss of this rank's part of a global minibatch, computed in ``forward`` (so DDP sees it)."""

    def __init__(self, module: nn.Module, loss_fn):
        super().__init__()
        self.module = module
        self.loss_fn = loss_fn
        self.sizes: list[int] = []
        self.comps: dict[str, float] = {}

    def forward(self, x, a, y, delta):
        from pyrocsa.core.ipm import wasserstein_ipm

        world = len(self.sizes)
        big_m = sum(self.sizes)
        weight = world * x.shape[0] / big_m
        lf = self.loss_fn
        if not hasattr(lf, "factual_terms"):  # a generic loss: averaged across ranks, no gathered term
            loss, comps = lf(self.module, x, a, y, delta)
            self.comps = comps
            return loss * weight
        terms, r = lf.factual_terms(self.module, x, a, y, delta)
        factual = sum(terms.values())
        loss = factual * weight
        total = factual.detach()
        if lf.alpha > 0:
            r_all, a_all = gather_rows(r, a, self.sizes)
            ipm = wasserstein_ipm(r_all, a_all)
            terms["ipm"] = ipm
            loss = loss + lf.alpha * ipm
            total = total + lf.alpha * ipm.detach()
        comps = {k: float(v.detach()) for k, v in terms.items()}
        comps["factual"] = float(factual.detach())
        comps["total"] = float(total)
        self.comps = comps
        return loss


class DataParallel:
    """One rank's view of data-parallel training of ``module`` with ``loss_fn`` (see the module docstring).

    ``loss_fn`` is a :class:`pyrocsa.csa.losses.CSALoss` (its IPM is then computed on the gathered global
    minibatch) or any ``loss_fn(module, *batch) -> (loss, comps)`` (averaged across ranks, nothing gathered).
    """

    def __init__(self, module: nn.Module, loss_fn, device: torch.device):
        if not active():
            raise RuntimeError("DataParallel needs an initialised process group with more than one process")
        self.world, self.rank = world_size(), rank()
        self.device = torch.device(device)
        self.inner = _GlobalBatchLoss(module, loss_fn)
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = nn.parallel.DistributedDataParallel(self.inner, device_ids=ids)

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """This rank's part of the global minibatch ``idx`` and the part sizes of all ranks."""
        parts = torch.tensor_split(idx, self.world)
        return parts[self.rank], [len(p) for p in parts]

    def loss(self, tensors: tuple, idx: torch.Tensor):
        """(loss to backpropagate, components of this rank's rows, local row indices) for global batch idx."""
        local, sizes = self.shard(idx)
        self.inner.sizes = sizes
        loss = self.ddp(*(t[local] for t in tensors))
        return loss, self.inner.comps, local

    def all_finite(self, loss: torch.Tensor) -> bool:
        """True when the loss is finite on every rank (every rank takes the same decision)."""
        bad = torch.tensor([0.0 if bool(torch.isfinite(loss.detach())) else 1.0], device=_comm_device())
        dist.all_reduce(bad)
        return float(bad.item()) == 0.0

    def reduce_sums(self, sums: dict[str, float]) -> dict[str, float]:
        """Sum each entry of ``sums`` over ranks (the keys are the same on every rank)."""
        keys = sorted(sums)
        t = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=_comm_device())
        dist.all_reduce(t)
        return dict(zip(keys, t.tolist()))

    def evaluate(self, evaluate, valid: tuple, batch_size: int, seed: int) -> dict[str, float]:
        """The validation means over all ranks' shards of ``valid``: ``evaluate`` (training._evaluate) on this
        rank's contiguous share, then all-reduced sums and counts."""
        n = valid[0].shape[0]
        rows = torch.tensor_split(torch.arange(n, device=valid[0].device), self.world)[self.rank]
        m = len(rows)
        means = evaluate(self.inner.module, self.inner.loss_fn, tuple(t[rows] for t in valid), batch_size,
                         seed) if m else {}
        keys = sorted(means) if m else None
        # every rank needs the keys: take them from rank 0 (which always has rows when n >= world)
        box = [keys]
        dist.broadcast_object_list(box, src=0)
        keys = box[0]
        t = torch.tensor([means.get(k, 0.0) * m for k in keys] + [float(m)], dtype=torch.float64,
                         device=_comm_device())
        dist.all_reduce(t)
        total = float(t[-1])
        return {k: float(v) / total for k, v in zip(keys, t[:-1].tolist())}


# -- starting processes on one machine --------------------------------------------------------------------
def _worker(local, nproc, port, fn, args, threads):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(nproc),
                      RANK=str(local), LOCAL_RANK=str(local), LOCAL_WORLD_SIZE=str(nproc))
    if threads:
        torch.set_num_threads(threads)
    try:
        fn(*args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def spawn(fn, args: tuple, nproc: int, threads: int | None = None) -> None:
    """Run ``fn(*args)`` in ``nproc`` new processes on this machine with torchrun's environment variables
    set (rank 0 .. nproc-1, a free localhost port), so that :func:`init_from_env` forms the group. ``fn``
    must be importable (a module-level function). ``threads``: torch threads per process (default: the
    cores divided among the processes). Raises ``torch.multiprocessing.ProcessExitedException`` /
    ``ProcessRaisedException`` when a process fails (the others are then terminated)."""
    import torch.multiprocessing as mp

    if threads is None and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // nproc)
    mp.start_processes(_worker, args=(nproc, free_port(), fn, args, threads), nprocs=nproc, join=True,
                       start_method="spawn")

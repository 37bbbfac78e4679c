"""A small, reusable optimisation loop: minibatch Adam, early stopping, clipping, history.

:func:`fit_module` trains any ``torch.nn.Module`` (a :class:`pyro.nn.PyroModule` included) with any loss
callable ``loss_fn(module, *batch) -> (loss, components)`` where ``loss`` is a scalar tensor and
``components`` a dict of floats. It optimises ``module.parameters()`` with a plain torch optimiser, so
parameters stay module-local: Pyro's global param store (where a PyroModule's plain ``nn`` submodules are
registered whenever the model runs under Pyro handlers, e.g. ``Predictive``) is never read, and training a
second model after sampling from a first one updates the second model's own weights.
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np
import torch

from pyrocsa.core.device import resolve_device
from pyrocsa.errors import DataError

__all__ = ["auto_batch_size", "fit_module", "resolve_device"]

#: ``batch_size="auto"``: 256 rows until an epoch would take more than 128 steps, then ``n_train // 128``
#: rows, at most 4096. A step's cost is mostly fixed overhead below ~1000 rows, so large cohorts need larger
#: minibatches for throughput (``docs/decisions.md``, section 13).
AUTO_BATCH = (256, 128, 4096)


def auto_batch_size(n_train: int) -> int:
    """Minibatch rows for ``batch_size="auto"`` given ``n_train`` training rows (see :data:`AUTO_BATCH`)."""
    low, steps, high = AUTO_BATCH
    return int(min(high, max(low, int(n_train) // steps)))


def _batches(n: int, batch_size: int, gen: torch.Generator | None, shuffle: bool, min_last: int = 2):
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    starts = list(range(0, n, batch_size))
    # a last batch of one row breaks batch normalisation: merge it into the previous one (with W data-parallel
    # processes, a last batch of fewer than 2 W rows, so that every process gets at least 2)
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        yield order[s:e]


def _evaluate(module, loss_fn, tensors, batch_size, seed):
    """Mean loss and components over ``tensors`` in eval mode, with common random numbers (``seed``)."""
    was_training = module.training
    module.eval()
    n = tensors[0].shape[0]
    totals: dict[str, float] = {}
    devices = [tensors[0].device.index or 0] if tensors[0].device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for idx in _batches(n, max(batch_size, 2), None, shuffle=False):
            _, comps = loss_fn(module, *(t[idx] for t in tensors))
            for k, v in comps.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
    module.train(was_training)
    return {k: v / n for k, v in totals.items()}


def _evaluate_valid(module, loss_fn, valid, batch_size, seed, parallel, dev):
    """:func:`_evaluate` on tensors or on each chunk of a streamed source (row-weighted), across the ranks
    of ``parallel`` (a :class:`pyrocsa.core.distributed.DataParallel`) when given."""
    def one(tensors):
        if parallel is not None:
            return parallel.evaluate(_evaluate, tensors, batch_size, seed)
        return _evaluate(module, loss_fn, tensors, batch_size, seed)

    if not hasattr(valid, "chunks"):
        return one(valid)
    totals: dict[str, float] = {}
    rows = 0
    for tensors in valid.chunks(device=dev):
        m = tensors[0].shape[0]
        for k, v in one(tensors).items():
            totals[k] = totals.get(k, 0.0) + v * m
        rows += m
    if rows == 0:
        raise DataError("valid: the streamed validation source has no rows")
    return {k: v / rows for k, v in totals.items()}


def fit_module(module: torch.nn.Module, loss_fn, train: tuple, valid: tuple | None = None, *,
               batch_size: int = 200, lr: float = 3e-4, betas=(0.9, 0.999), weight_decay: float = 0.0,
               max_epochs: int = 200, patience: int = 20, min_delta: float = 0.0, clip_norm: float = 10.0,
               seed: int | None = 0, device=None, verbose: bool = True, desc: str = "fit",
               eval_batch_size: int = 2048, monitor: str = "total") -> list[dict]:
    """Train ``module`` in place; return the history (one dict per epoch).

    Parameters
    ----------
    module : the model; its ``parameters()`` are optimised with Adam.
    loss_fn : ``loss_fn(module, *batch) -> (scalar tensor, dict of floats)``.
    train, valid : tuples of tensors with the same first dimension (rows); ``valid`` drives early stopping
        (the training loss is used when it is None). Either may instead be a streamed source
        (:class:`pyrocsa.core.streaming.ParquetRows`: ``n_rows``, ``minibatches(batch_size, gen, min_last,
        device)`` yielding ``(tensors, row indices)`` and ``chunks(device)`` yielding tensors).
    batch_size, lr, betas, weight_decay : minibatch size and Adam settings (paper: 200, 3e-4, (0.9, 0.999)).
    max_epochs, patience, min_delta : stop after ``patience`` epochs without a validation improvement of
        more than ``min_delta``; the best weights are restored at the end.
    clip_norm : gradient-norm clipping (None or 0 disables it).
    seed : seeds the initial weights' RNG consumers, minibatch order and draws (CPU runs reproducible).
    device : "cpu", "cuda" or None (auto).
    verbose : tqdm progress bar (only on a TTY).
    monitor : the validation component that drives early stopping ("total" = the loss itself; e.g.
        "factual" to leave out a regulariser such as the IPM).

    Each history row holds ``epoch``, ``train_loss``, ``valid_loss`` and ``train_<component>`` /
    ``valid_<component>`` entries. A non-finite training or validation loss raises ``RuntimeError`` naming
    the epoch (weights are left at the last finite state of that epoch).

    Data parallel: when a ``torch.distributed`` process group of W > 1 processes is initialised, every
    process calls this with the same data; each global minibatch is split across the processes, gradients
    are averaged by DistributedDataParallel, a :class:`~pyrocsa.csa.losses.CSALoss`'s IPM is computed on the
    all-gathered global minibatch and the validation loss is reduced across processes
    (:mod:`pyrocsa.core.distributed`). ``batch_size`` is the global minibatch. With one process nothing
    changes.
    """
    from pyrocsa.core import distributed

    ddp = distributed.active()
    dev = distributed.device_for(device) if ddp else resolve_device(device)
    module.to(dev)
    streamed = hasattr(train, "minibatches")  # a streamed source (pyrocsa.core.streaming), not tensors
    if not streamed:
        train = tuple(t.to(dev) for t in train)
    if valid is not None and not hasattr(valid, "chunks"):
        valid = tuple(t.to(dev) for t in valid)
    n = train.n_rows if streamed else train[0].shape[0]
    if n < 2:
        raise DataError(f"train: need at least 2 rows, got {n}")
    if seed is not None:
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
    gen_seed = seed if seed is not None else int(torch.seed() % 2**31)
    world = 1
    if ddp:
        world = distributed.world_size()
        if n < 2 * world:
            raise DataError(f"train: need at least 2 rows per process ({world} processes), got {n}")
        gen_seed = distributed.broadcast_int(gen_seed)  # the same minibatches on every rank
        parallel = distributed.DataParallel(module, loss_fn, dev)  # broadcasts rank 0's weights
        if seed is not None and distributed.rank() > 0:
            torch.manual_seed(seed + 104729 * distributed.rank())  # each rank its own dropout masks
    gen = torch.Generator().manual_seed(gen_seed)
    eval_seed = (seed or 0) + 7919
    opt = torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(betas), weight_decay=weight_decay)

    history: list[dict] = []
    best, best_state, since_best = math.inf, copy.deepcopy(module.state_dict()), 0
    show = verbose and sys.stderr.isatty() and distributed.is_main()
    bar = None
    if show:
        from tqdm.auto import tqdm
        bar = tqdm(total=max_epochs, desc=desc, leave=False)
    try:
        for epoch in range(1, max_epochs + 1):
            module.train()
            sums: dict[str, float] = {}
            epoch_batches = train.minibatches(batch_size, gen, min_last=2 * world, device=dev) if streamed \
                else ((train, idx) for idx in _batches(n, batch_size, gen, shuffle=True, min_last=2 * world))
            for tensors, idx in epoch_batches:
                if ddp:
                    loss, comps, idx = parallel.loss(tensors, idx)  # idx: this rank's rows
                    finite = parallel.all_finite(loss)
                else:
                    loss, comps = loss_fn(module, *(t[idx] for t in tensors))
                    finite = bool(torch.isfinite(loss))
                if not finite:
                    raise RuntimeError(f"non-finite training loss ({float(loss)}) at epoch {epoch}; "
                                       "lower lr, check the durations or enable clip_norm")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), clip_norm)
                opt.step()
                for k, v in comps.items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
            if ddp:
                sums = parallel.reduce_sums(sums)
            row = {"epoch": epoch, "train_loss": sums["total"] / n}
            row.update({f"train_{k}": v / n for k, v in sums.items() if k != "total"})
            if valid is not None:
                vc = _evaluate_valid(module, loss_fn, valid, eval_batch_size, eval_seed,
                                     parallel if ddp else None, dev)
                row["valid_loss"] = vc["total"]
                row.update({f"valid_{k}": v for k, v in vc.items() if k != "total"})
            else:
                row["valid_loss"] = row["train_loss"]
            if not math.isfinite(row["valid_loss"]):
                raise RuntimeError(f"non-finite validation loss at epoch {epoch}")
            history.append(row)
            key = "valid_loss" if monitor == "total" else f"valid_{monitor}"
            if key not in row and not (valid is None and f"train_{monitor}" in row):
                raise DataError(f"monitor={monitor!r}: the loss reports no such component "
                                 f"(has {sorted(k for k in row if k.startswith('train_'))})")
            current = row.get(key, row.get(f"train_{monitor}"))
            if current < best - min_delta:
                best, since_best = current, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                since_best += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{row['train_loss']:.4f}", valid=f"{row['valid_loss']:.4f}")
            if since_best >= patience:
                break
    finally:
        if bar is not None:
            bar.close()
    module.load_state_dict(best_state)
    module.eval()
    return history

"""Sampling a fitted Pyro model's sites through :class:`pyro.infer.Predictive`, in chunks of subjects.

Shared by :class:`pyrocsa.CSA` and the neural baselines: vectorised over samples (``parallel=True``, no
Python loop over subjects or samples), chunked over subjects so that memory stays bounded, seeded without
touching the global RNG state, and only the requested sites are returned (not the d-dimensional noise).
"""

from __future__ import annotations

import numpy as np
import torch
from pyro.infer import Predictive

__all__ = ["predictive_draws"]


def predictive_draws(model, x: torch.Tensor, sites, num_samples: int, seed=None, chunk: int = 4096
                     ) -> dict[str, np.ndarray]:
    """Draws of ``sites`` from ``pyro.infer.Predictive(model, num_samples, parallel=True)`` on chunks of
    ``chunk`` rows of x (N, p): {site: (num_samples, N) float64}. ``seed`` seeds the draws without touching
    the global RNG state. Sites that do not vary over samples (deterministic) are broadcast."""
    model = model.eval()
    dev = next(model.parameters()).device
    out = {s: np.empty((num_samples, x.shape[0]), dtype=np.float64) for s in sites}
    predictive = Predictive(model, num_samples=num_samples, return_sites=list(sites), parallel=True)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        if seed is not None:
            torch.manual_seed(int(seed))
        for start in range(0, x.shape[0], chunk):
            xb = x[start:start + chunk].to(dev)
            pred = predictive(xb)
            for s in sites:
                v = pred[s].detach().cpu().double()
                v = v.expand(num_samples, *v.shape[-1:]) if v.dim() == 1 else v.reshape(num_samples, -1)
                out[s][:, start:start + xb.shape[0]] = v.numpy()
    for s, v in out.items():
        if not np.isfinite(v).all():
            raise RuntimeError(f"non-finite sampled times at site '{s}'")
    return out

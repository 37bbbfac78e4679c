"""Sampling a fitted Pyro model's sites through :class:`pyro.infer.Predictive`, in chunks of subjects, with
counter-based noise.

Reproducibility contract (what :func:`predictive_draws` guarantees, and so every ``sample_potential_outcomes``
built on it):

* the same ``seed`` gives the same draws;
* ``seed=None`` gives fresh draws on every call (a new seed from the operating system's entropy; the
  global torch / numpy RNG state is neither read nor changed);
* a subject's draws depend only on (seed, site, draw index, the subject's position in the call): not on
  the chunk size, nor on the other rows in the frame beyond their count before it. So sampling rows
  0..999 and then rows 0..99 gives the first 100 subjects the same draws;
* the two arms of one quantity ("t0" and "t1", "c0" and "c1") share their base noise: draw s of a subject
  is (F_0^{-1}(u), F_1^{-1}(u)) for one uniform u, the rank-preserving coupling of the paper's single
  noise eps (each arm's marginal law is exact either way; the coupling only matters for per-draw
  differences t1 - t0, whose Monte-Carlo noise it reduces). A plain ``Predictive`` run without this
  noise draws the arms independently.

How: each site whose law is a :class:`~torch.distributions.TransformedDistribution` is reparameterised
(``poutine.reparam`` with :class:`pyro.infer.reparam.TransformReparam`) into its base-noise site
``"<site>_base"`` and a deterministic transform. The base noise (standard Normal or standard Gumbel, as
the site's base law) is made from uniforms u = (2h + 1) / 2^25, h a 24-bit counter-based hash
(:func:`counter_uniforms`, Wellons' "lowbias32" integer
mixer) of (seed, site, draw, position), and is passed to ``Predictive`` as ``posterior_samples``. Sites with
another law are drawn from torch's RNG seeded per chunk (not chunk-invariant).
"""

from __future__ import annotations

import secrets
import zlib

import numpy as np
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.infer.reparam import TransformReparam

from pyrocsa.errors import ArgumentError

__all__ = ["predictive_draws", "counter_uniforms", "counter_normals", "counter_gumbels", "fresh_seed"]

_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Wellons' lowbias32 integer hash on int64 tensors holding uint32 values (bijective on 32 bits)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def fresh_seed() -> int:
    """A new 63-bit seed from the operating system's entropy (does not touch any RNG state)."""
    return secrets.randbits(63)


def _counter_hash(seed: int, stream: int, draws: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """24-bit hashes h (int64), shape (len(draws), len(positions)), of (seed, stream, draw, position)."""
    seed = int(seed)
    lo, hi = torch.tensor(seed & _M32), torch.tensor((seed >> 32) & _M32)
    key = _mix32(_mix32(lo ^ _mix32(hi ^ 0x9E3779B9)) ^ (int(stream) & _M32))
    kd = _mix32((key + draws.to(torch.int64) * 0x632BE5AB) & _M32)          # (S,)
    h = _mix32((kd.unsqueeze(-1) ^ positions.to(torch.int64).unsqueeze(0)) & _M32)
    return _mix32((h + kd.unsqueeze(-1) * 0x85EBCA6B) & _M32) >> 8          # 24 bits


def _centred(seed, stream, draws, positions) -> torch.Tensor:
    """v = 2u - 1 = (2h + 1 - 2^24) / 2^24 in (-1, 1), exact in float32 (odd integers below 2^24)."""
    h = _counter_hash(seed, stream, draws, positions)
    return (2 * h + 1 - 2 ** 24).to(torch.float32) / 2.0 ** 24


def counter_uniforms(seed: int, stream: int, draws: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Uniforms u = (2h + 1) / 2^25 in (0, 1), shape (len(draws), len(positions)), float32, each a hash of
    (seed, stream, draw, position) alone. ``seed`` any non-negative int (64 bits used); ``stream``
    identifies the site."""
    return 0.5 * (_centred(seed, stream, draws, positions) + 1.0)


def counter_normals(seed: int, stream: int, draws: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Standard normals from :func:`counter_uniforms`: sqrt(2) erfinv(2u - 1), finite (|z| < 5.5)."""
    return 2.0 ** 0.5 * torch.erfinv(_centred(seed, stream, draws, positions))


def counter_gumbels(seed: int, stream: int, draws: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Standard (maximum) Gumbel variates from :func:`counter_uniforms`: -log(-log u), computed in float64,
    finite (-2.9 < g < 17.4)."""
    u = counter_uniforms(seed, stream, draws, positions).double()
    return (-torch.log(-torch.log(u))).float()


_BASE_NOISE = {"normal": counter_normals, "gumbel": counter_gumbels}


def _stream(site: str) -> int:
    """The noise stream of a site: the potential outcomes of one quantity share it ("t0"/"t1" -> "t",
    "c0"/"c1" -> "c"), so the two arms' draws are coupled through one base noise per subject and draw."""
    return zlib.crc32(site.rstrip("01").encode() or site.encode())


class _LatentTransformReparam(TransformReparam):
    """:class:`~pyro.infer.reparam.TransformReparam` for a latent (unobserved) site, whose value is always
    recomputed from its base noise: a value already on the message (``Predictive``'s ``init_to_sample``
    passes put one there) is dropped instead of inverted. The flows' inverse is a Newton root search, and
    those two passes spent about a quarter of the sampling time in it; the draws are unchanged."""

    def apply(self, msg):
        if msg["value"] is not None and not msg["is_observed"]:
            msg = {**msg, "value": None}
        return super().apply(msg)


def predictive_draws(model, x: torch.Tensor, sites, num_samples: int, seed=None, chunk: int = 4096,
                     model_args=(), noise_sites=(), noise: str = "normal") -> dict[str, np.ndarray]:
    """Draws of ``sites`` from ``pyro.infer.Predictive(model, num_samples, parallel=True)`` on chunks of
    ``chunk`` rows of x (N, p): {site: (num_samples, N) float64}.

    ``noise_sites``: the sites (default: none) whose law is a TransformedDistribution, given counter-based
    base noise (module docstring) of the law ``noise``: ``"normal"`` (a Normal(0, 1) base) or ``"gumbel"``
    (a Gumbel(0, 1) base). ``seed``: int or None (fresh).
    ``model_args``: extra positional arguments after x (each (N, ...) tensors, chunked with x).
    Sites that do not vary over samples (deterministic) are broadcast.
    """
    model = model.eval()
    dev = next(model.parameters()).device
    seed = fresh_seed() if seed is None else int(seed)
    if seed < 0:
        raise ArgumentError(f"seed must be a non-negative integer or None, got {seed}")
    if noise not in _BASE_NOISE:
        raise ArgumentError(f"noise must be one of {sorted(_BASE_NOISE)}, got {noise!r}")
    base_noise = _BASE_NOISE[noise]
    sites = list(sites)
    noise_sites = list(noise_sites)
    reparam = poutine.reparam(model, config={s: _LatentTransformReparam() for s in noise_sites})
    out = {s: np.empty((num_samples, x.shape[0]), dtype=np.float64) for s in sites}
    draws = torch.arange(num_samples)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed % 2**63)
        for start in range(0, x.shape[0], chunk):
            xb = x[start:start + chunk].to(dev)
            pos = torch.arange(start, start + xb.shape[0])
            by_stream = {}  # the arms of one quantity share a stream: hash it once
            for s in noise_sites:
                if _stream(s) not in by_stream:
                    by_stream[_stream(s)] = base_noise(seed, _stream(s), draws, pos).to(dev)
            noise = {f"{s}_base": by_stream[_stream(s)] for s in noise_sites}
            predictive = Predictive(reparam, posterior_samples=noise or None,
                                    num_samples=None if noise else num_samples, return_sites=sites,
                                    parallel=True)
            args = tuple(a[start:start + chunk].to(dev) for a in model_args)
            pred = predictive(xb, *args)
            for s in sites:
                # a draw far in the Gumbel tail can underflow float32 to 0: keep times positive
                v = pred[s].detach().to("cpu", torch.float64).clamp_min(1e-300)
                v = v.expand(num_samples, *v.shape[-1:]) if v.dim() == 1 else v.reshape(num_samples, -1)
                out[s][:, start:start + xb.shape[0]] = v.numpy()
    for s, v in out.items():
        if not np.isfinite(v).all():
            raise RuntimeError(f"non-finite sampled times at site '{s}'")
    return out

"""Each head's time scale, warped by its arm's own piecewise-constant hazard.

A planar flow bends log-time smoothly, so a hazard that jumps at a fixed time (the end of a programme, a
scheduled visit) is smeared over the neighbouring months: the model's survival leaves the Kaplan-Meier band
on both sides of the jump. A Cox model has no such problem because its baseline (Breslow) is a step
function. The warp gives every CSA head the same advantage without giving up the exact density:

    Lambda(t) = sum_j lambda_j |[tau_j, tau_{j+1}) cap [0, t)|     piecewise-constant hazard, J pieces
    t' = Lambda(t) / lambda_bar                                    warped time (lambda_bar: the arm's crude
                                                                   rate, events / exposure)

The head's flow is fitted to log t' instead of log t (:class:`HazardWarp` is the last map of the flow, from
log t' to log t). With one piece the warp is the identity; with J pieces a jump at tau_j is in the warp, and
the flow models what is left, which is smooth. The pieces are fitted once, before the Cox start, by
maximum likelihood on the head's own training rows (knots at quantiles of the observed times, rates =
occurrences / exposure, closed form), with as many pieces as leave ``MIN_PER_PIECE`` observed times in
each (at most ``MAX_PIECES``): a histogram of the hazard as fine as its counts allow, as the Breslow
baseline of a Cox model is the finest one. The warp is then fixed: the flow's parameters are fitted as
before, and the parameter posterior does not see it (like the log-time standardisation).

Padding: the buffers hold ``MAX_PIECES`` pieces; a warp with J < ``MAX_PIECES`` pieces repeats its last knot
(zero-width pieces, never selected) and its last rate, so one tensor shape serves every fit and checkpoint.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Transform, constraints

__all__ = ["HazardWarp", "fit_warp", "set_warps", "identity_warp", "MAX_PIECES", "MIN_PER_PIECE", "PIECE_GRID"]

MAX_PIECES = 32
MIN_PER_PIECE = 10  # observed times per piece: each log-rate then has a standard error <= 0.32
PIECE_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


class HazardWarp(Transform):
    """x = log t' -> y = log t, with t = Lambda^{-1}(lambda_bar t') (module docstring).

    ``knots`` (J - 1,) non-decreasing positive times, ``log_rates`` (J,) the log hazard of each piece,
    ``log_rate`` () log lambda_bar; any float dtype and device (cast to the argument's). Piecewise
    closed form both ways; log |dy/dx| = log Lambda(t) - log lambda_j(t) - log t.
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(self, knots: torch.Tensor, log_rates: torch.Tensor, log_rate: torch.Tensor, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.knots, self.log_rates, self.log_rate = knots, log_rates, log_rate

    def __eq__(self, other):
        return other is self

    def with_cache(self, cache_size=1):
        return self if self._cache_size == cache_size else HazardWarp(self.knots, self.log_rates,
                                                                      self.log_rate, cache_size)

    def _pieces(self, like: torch.Tensor):
        knots = self.knots.to(like)
        log_rates = self.log_rates.to(like)
        rates = log_rates.exp()
        lower = torch.cat([torch.zeros_like(knots[:1]), knots])  # (J,) lower edge of each piece
        cum = torch.cat([torch.zeros_like(knots[:1]), torch.cumsum(rates[:-1] * torch.diff(lower), 0)])
        return lower, cum, log_rates, rates, self.log_rate.to(like)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        lower, cum, log_rates, rates, log_rate = self._pieces(x)
        h = torch.exp(x + log_rate)  # Lambda(t)
        j = (torch.searchsorted(cum, h.detach().contiguous(), right=True) - 1).clamp(0, cum.numel() - 1)
        first = j == 0
        t = lower[j] + (h - cum[j]) / rates[j]
        log_t = torch.log(torch.where(first, torch.ones_like(t), t))
        return torch.where(first, x + log_rate - log_rates[0], log_t)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        lower, cum, log_rates, rates, log_rate = self._pieces(y)
        t = torch.exp(y)
        j = (torch.searchsorted(lower, t.detach().contiguous(), right=True) - 1).clamp(0, lower.numel() - 1)
        first = j == 0
        h = cum[j] + rates[j] * (t - lower[j])
        log_h = torch.log(torch.where(first, torch.ones_like(h), h))
        return torch.where(first, y + log_rates[0], log_h) - log_rate

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lower, cum, log_rates, rates, log_rate = self._pieces(y)
        j = (torch.searchsorted(lower, torch.exp(y).detach().contiguous(), right=True) - 1
             ).clamp(0, lower.numel() - 1)
        return x + log_rate - log_rates[j] - y


def identity_warp(dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(knots (MAX_PIECES - 1,), log_rates (MAX_PIECES,), log_rate ()) of the one-piece warp, t' = t."""
    return (torch.zeros(MAX_PIECES - 1, dtype=dtype), torch.zeros(MAX_PIECES, dtype=dtype),
            torch.zeros((), dtype=dtype))


def _pch_rates(time: np.ndarray, observed: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Maximum-likelihood rates (J,) of a piecewise-constant hazard with the given knots (J - 1,):
    occurrences / exposure in each piece."""
    edges = np.concatenate([[0.0], knots, [np.inf]])
    lo, hi = edges[:-1], edges[1:]
    exposure = np.clip(np.minimum(time[:, None], hi) - lo, 0.0, None).sum(0)
    inside = (time[:, None] > lo) & (time[:, None] <= hi)
    return (inside & observed[:, None]).sum(0) / exposure


def fit_warp(time, observed, max_pieces: int = MAX_PIECES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                    int]:
    """The warp of one head from its arm's training rows: ``time`` (n,) positive durations, ``observed``
    (n,) 1 where this head's time was seen (the event for an event head, censoring for a censoring head).

    J is the largest value of :data:`PIECE_GRID` (at most ``max_pieces``) that leaves at least
    :data:`MIN_PER_PIECE` observed times per piece; the knots are the j/J quantiles of the observed times
    (ties merged), the rates occurrences / exposure (maximum likelihood). Returns padded ``(knots,
    log_rates, log_rate, J)`` (float64 tensors, see :func:`identity_warp`); fewer than
    ``2 * MIN_PER_PIECE`` observed times give the identity warp (J = 1)."""
    y = np.asarray(time, dtype=float)
    o = np.asarray(observed, dtype=float) > 0.5
    seen = y[o]
    identity = tuple(v.double() for v in identity_warp())
    fitting = [j for j in PIECE_GRID if 1 < j <= max_pieces and seen.size >= MIN_PER_PIECE * j]
    if not fitting:
        return (*identity, 1)
    knots = np.unique(np.quantile(seen, np.arange(1, fitting[-1]) / fitting[-1]))
    knots = knots[(knots > 0) & (knots < y.max())]
    rates = _pch_rates(y, o, knots)
    if knots.size == 0 or not np.all(rates > 0):
        return (*identity, 1)
    pad = MAX_PIECES - rates.size
    knots_full = np.concatenate([knots, np.full(pad, knots[-1])])
    rates_full = np.concatenate([rates, np.full(pad, rates[-1])])
    crude = seen.size / y.sum()
    return (torch.tensor(knots_full, dtype=torch.float64), torch.tensor(np.log(rates_full), dtype=torch.float64),
            torch.tensor(math.log(crude), dtype=torch.float64), int(rates.size))


def set_warps(model, train: tuple) -> dict:
    """Fit every head's warp of ``model`` (a :class:`pyrocsa.csa.model.CSAModel`) to the training tensors
    ``train`` = (x, treatment, duration, event): the event head of arm a on the rows of arm a with
    ``event``, the censoring head with ``1 - event``. Returns {(kind, arm): number of pieces}.

    Each head's location and scale biases are set so that, with its layers at the identity, the head *is*
    the fitted piecewise-constant hazard (T' exponential with the crude rate: log t' = -log lambda_bar +
    log E, E ~ Exp(1)); the Cox start fits its baseline from there."""
    _, a, y, delta = train
    a = a.detach().cpu().numpy() > 0.5
    y = y.detach().cpu().double().numpy()
    delta = delta.detach().cpu().double().numpy()
    pieces = {}
    for kind, arm, head in model.heads():
        rows = a == bool(arm)
        observed = delta[rows] if kind == "t" else 1.0 - delta[rows]
        pieces[(kind, arm)] = head.set_warp(y[rows], observed)
        with torch.no_grad():
            spread = model.log_time_scale.double()
            head.out.bias[0] = ((-head.warp_log_rate.double() - model.log_time_loc.double()) / spread).to(
                head.out.bias)
            head.out.bias[1] = (-spread.log()).to(head.out.bias)
    return pieces

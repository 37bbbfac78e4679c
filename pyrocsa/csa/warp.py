"""A head's step baseline: a piecewise-constant hazard in the standardised time, as one map of its flow.

A planar flow bends log-time smoothly, so a hazard that jumps at a fixed time (the end of a programme, a
scheduled visit) is smeared over the neighbouring months and the model's survival leaves the Kaplan-Meier
band on both sides of the jump. A Cox model has no such problem because its baseline (Breslow) is a step
function. The warp gives every CSA head a step baseline under its flow, with the density still exact. In
the standardised time s = exp((log t - shift) / spread) (the model's log-time standardisation, so s is
Weibull-scaled time):

    Lambda(s) = sum_j lambda_j |[s_{j-1}, s_j) cap [0, s)|      J pieces, s_0 = 0, s_J = inf
    log s     = W(u) = log Lambda^{-1}(exp(u))                  u: the outer layers' output

so that, with the flow's layers at the identity and a constant scale of 1, the head is a Cox model with
log hazard ratio -loc(x) whose baseline hazard is lambda_j times the Weibull hazard of the
standardisation, k t^(k - 1) with k = 1 / spread, on piece j (:mod:`pyrocsa.csa.distributions`). So the
hazard may jump at every knot, and keeps the Weibull trend within a piece and past the last knot, where
late follow-up has too few events for a step of its own. The flow then models what the steps leave. With
one piece of rate 1 the warp is the identity, the model without it.

The pieces are fitted once, in the Cox start (:mod:`pyrocsa.csa.cox_start`), on the head's own training
rows given its lasso Cox predictor eta: knots at the j/J quantiles of the observed times, J the largest
value of ``PIECE_GRID`` that leaves ``MIN_PER_PIECE`` observed times per piece (a histogram of the hazard
as fine as its counts allow; Breslow's is the finest), and rates by maximum likelihood, lambda_j = d_j /
sum_i exp(eta_i) E_ij (events over the risk-weighted exposure in s). The warp is then fixed, like the
standardisation: neither the joint fit nor the parameter posterior moves it. A head whose time was
seen fewer than ``2 * MIN_PER_PIECE`` times has no warp.

Padding: the buffers hold ``MAX_PIECES`` pieces; a warp with fewer repeats its last knot (zero-width
pieces, never selected) and its last rate, so one tensor shape serves every fit and checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Transform, constraints

__all__ = ["HazardWarp", "fit_warp", "MAX_PIECES", "MIN_PER_PIECE", "PIECE_GRID"]

MAX_PIECES = 32
MIN_PER_PIECE = 10  # observed times per piece: each log-rate then has a standard error of at most ~0.32
PIECE_GRID = (2, 3, 4, 6, 8, 12, 16, 24, 32)


class HazardWarp(Transform):
    """u = log Lambda(s) -> log s for a piecewise-constant hazard Lambda' in s (module docstring).

    ``knots`` (MAX_PIECES - 1,) non-decreasing positive times s_j, ``log_rates`` (MAX_PIECES,) the log
    hazard of each piece (padded as the module docstring says); any float dtype and device (cast to the
    argument's). Closed form both ways; log |d log s / du| = u - log lambda_j(s) - log s.
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(self, knots: torch.Tensor, log_rates: torch.Tensor, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.knots, self.log_rates = knots, log_rates

    def __eq__(self, other):
        return other is self

    def with_cache(self, cache_size=1):
        return self if self._cache_size == cache_size else HazardWarp(self.knots, self.log_rates, cache_size)

    def _pieces(self, like: torch.Tensor):
        knots = self.knots.to(like)
        log_rates = self.log_rates.to(like)
        rates = log_rates.exp()
        lower = torch.cat([torch.zeros_like(knots[:1]), knots])  # (J,) lower edge of each piece
        cum = torch.cat([torch.zeros_like(knots[:1]), torch.cumsum(rates[:-1] * torch.diff(lower), 0)])
        return lower, cum, log_rates, rates

    @staticmethod
    def _piece(edges: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        j = torch.searchsorted(edges, value.detach().contiguous(), right=True) - 1
        return j.clamp(0, edges.numel() - 1)

    def _call(self, u: torch.Tensor) -> torch.Tensor:
        lower, cum, log_rates, rates = self._pieces(u)
        h = torch.exp(u)
        j = self._piece(cum, h)
        first = j == 0
        t = lower[j] + (h - cum[j]) / rates[j]
        # the first piece in log space: exact for tiny times, and no log(0) (or its gradient) elsewhere
        return torch.where(first, u - log_rates[0], torch.log(torch.where(first, torch.ones_like(t), t)))

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        lower, cum, log_rates, rates = self._pieces(y)
        t = torch.exp(y)
        j = self._piece(lower, t)
        first = j == 0
        h = cum[j] + rates[j] * (t - lower[j])
        return torch.where(first, y + log_rates[0], torch.log(torch.where(first, torch.ones_like(h), h)))

    def log_abs_det_jacobian(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lower, _, log_rates, _ = self._pieces(y)
        return u - log_rates[self._piece(lower, torch.exp(y))] - y


def fit_warp(time, observed, eta=None, max_pieces: int = MAX_PIECES
             ) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    """The warp of one head from its training rows: ``time`` (n,) positive times in the warp's scale (the
    standardised time s of the module docstring), ``observed`` (n,) 1 where this head's time was seen (the
    event for an event head, censoring for a censoring head), ``eta`` (n,) the head's Cox linear predictor
    (log hazard ratio; ``None``: 0).

    J is the largest value of :data:`PIECE_GRID` (at most ``max_pieces``) that leaves at least
    :data:`MIN_PER_PIECE` observed times per piece; the knots are the j/J quantiles of the observed times
    (ties merged) and the rates maximum likelihood. Returns ``(knots (MAX_PIECES - 1,), log_rates
    (MAX_PIECES,), J)`` as float64 tensors (padded; module docstring), or ``None`` when fewer than
    ``2 * MIN_PER_PIECE`` times were observed."""
    y = np.asarray(time, dtype=float)
    o = np.asarray(observed, dtype=float) > 0.5
    risk = np.exp(np.zeros_like(y) if eta is None else np.asarray(eta, dtype=float))
    seen = y[o]
    fitting = [j for j in PIECE_GRID if j <= min(max_pieces, MAX_PIECES) and seen.size >= MIN_PER_PIECE * j]
    if not fitting:
        return None
    knots = np.unique(np.quantile(seen, np.arange(1, fitting[-1]) / fitting[-1]))
    knots = knots[(knots > 0) & (knots < y.max())]
    edges = np.concatenate([[0.0], knots, [np.inf]])
    lo, hi = edges[:-1], edges[1:]
    exposure = (risk[:, None] * np.clip(np.minimum(y[:, None], hi) - lo, 0.0, None)).sum(0)
    events = ((y[:, None] > lo) & (y[:, None] <= hi) & o[:, None]).sum(0)
    if knots.size == 0 or not np.all(events > 0):
        return None
    rates = events / exposure
    pad = MAX_PIECES - rates.size
    knots_full = np.concatenate([knots, np.full(pad, knots[-1])])
    rates_full = np.concatenate([rates, np.full(pad, rates[-1])])
    return (torch.tensor(knots_full, dtype=torch.float64),
            torch.tensor(np.log(rates_full), dtype=torch.float64),
            int(rates.size))

"""Time-to-event distributions with an exact density: a planar flow on the log-time scale over a Gumbel base
noise, and its right-censored likelihood, as Pyro distributions.

:class:`FlowTime` is a :class:`pyro.distributions.TransformedDistribution`::

    g   ~ Gumbel(0, 1)                                       base noise, batch shape (N,)
    z   = P_K(... P_1(-g))                                   conditional 1-D planar layers (PlanarLayer)
    v   = loc + scale * z                                    affine map (per subject)
    u   = O_J(... O_1(v))                                    outer planar layers (shared by the subjects)
    u'  = W(u) = log Lambda^{-1}(exp(u))                     the head's step baseline (optional:
                                                             pyrocsa.csa.warp; u' = u without it)
    T   = exp(shift + spread * u')                           log-time standardisation (duration unit)

with per-subject parameters (loc, scale > 0 and the conditional layers' (c, w, m), all of batch shape
(N,)) and outer layers whose parameters broadcast. Every map is strictly increasing in -g, so T is a
decreasing function of g and

    S(t)     = P(G < g(t)) = exp(-exp(-g(t))),
    log f(t) = -g(t) - exp(-g(t)) - log |dt / dg|,

where g(t) is the inverse map (closed form except the planar layers, which are inverted by safeguarded
Newton to float precision, :mod:`pyrocsa.csa.flows`).

Beyond the end of follow-up ``end`` (the largest training duration, when given), the law follows the
package's end-of-follow-up rule (:mod:`pyrocsa.core.tail`): the cumulative hazard continues from H(end)
with a Gompertz or Weibull piece that keeps the trend of the subject's own hazard during follow-up. No
training time lies past ``end``, so the likelihood of the training data is the flow's own; the piece fixes
what draws and expected lifetimes do where the data say nothing (without it the outer layers, which fitted
the baseline hazard within follow-up, revert to the base Weibull shape past their last bend).

Why this family: -g is the standard minimum extreme-value law, so with identity layers T is Weibull
(shape 1 / (spread * scale), scale exp(shift + spread * loc)), and with identity conditional layers and a
constant scale the model is a Cox proportional-hazards model whatever the outer layers are:

    log H(t | x) = O^{-1}((log t - shift) / spread) / scale - loc(x) / scale,

the outer layers being the baseline cumulative hazard and -loc(x) / scale the log hazard ratio. The
conditional layers and the covariate-dependent scale then let the hazards depart from proportionality.

:class:`RightCensored` wraps such a law with the event indicators of the rows: its ``log_prob(y)`` is log f(y)
for events and log S(y) for censored rows, the right-censored log-likelihood, so
``pyro.sample("t", RightCensored(law, event), obs=duration)`` scores survival data.
"""

from __future__ import annotations

import math

import torch
from pyro import distributions as dist
from torch.distributions import AffineTransform, ComposeTransform, ExpTransform, Transform, constraints

from pyrocsa.core.tail import TailPiece, fit_tail, window_times
from pyrocsa.csa.flows import PlanarLayer
from pyrocsa.errors import ArgumentError

__all__ = ["FlowTime", "RightCensored", "EndOfFollowUp"]

_LOG_H_MAX = 50.0  # log cumulative hazard at which a subject is certainly dead (S = exp(-e^50))


class EndOfFollowUp(Transform):
    """log H -> log t: the flow ``inner`` up to ``log_end``, then the end-of-follow-up piece.

    ``inner`` maps x = log H(t) (batch (N,)) to log t. Past the end of follow-up t_end = exp(log_end) the
    cumulative hazard follows the package's tail rule (:mod:`pyrocsa.core.tail`), fitted to each subject's
    own H = exp(inner^-1(log t)) at the window times of follow-up:

        f(x) = inner(x)                                 for x <= x_e = inner^-1(log_end),
        f(x) = log piece.time_at(exp(x))                for x >  x_e,

    continuous and strictly increasing, with log |df/dx| = x - f(x) - log h(exp(f(x))) past the end. The
    piece costs ``WINDOW_POINTS + 1`` inversions of ``inner`` and is fitted once, and only when a value lies
    past the end (the training likelihood never needs it); it carries no gradient.
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(self, inner: list, log_end: torch.Tensor, like: torch.Tensor, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.inner = ComposeTransform(list(inner))
        self.log_end = torch.as_tensor(log_end, dtype=like.dtype, device=like.device)
        self.like = like
        self._knots = None

    def __eq__(self, other):
        return other is self

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        new = EndOfFollowUp(self.inner.parts, self.log_end, self.like, cache_size)
        new._knots = self._knots
        return new

    def knots(self) -> tuple[torch.Tensor, TailPiece]:
        """(x_e, piece): log H at the end of follow-up, of the batch shape of ``like``, and the fitted
        :class:`pyrocsa.core.tail.TailPiece` of the subjects."""
        if self._knots is None:
            with torch.no_grad():
                t_end = float(self.log_end.exp())
                # one inversion per knot, each of one value per subject
                log_t = torch.log(window_times(t_end)).to(self.like)
                # log H beyond _LOG_H_MAX (S = exp(-e^50): no draw ever lands there; an extreme parameter
                # draw of the posterior can reach inf) is held at it, so the piece stays finite
                low = math.log(torch.finfo(self.like.dtype).tiny) + 1.0
                x_end = self.inner.inv(self.log_end.expand(self.like.shape)).clamp(low, _LOG_H_MAX)
                window = torch.stack([self.inner.inv(v.expand(self.like.shape)).clamp(low, _LOG_H_MAX).exp()
                                      .reshape(-1) for v in log_t], -1)
                piece = fit_tail(t_end, window, x_end.exp().reshape(-1))
                shape = self.like.shape
                piece = TailPiece(t_end, *(p.reshape(shape) for p in
                                           (piece.cum_hazard_end, piece.hazard_end, piece.gompertz,
                                            piece.slope)))
            self._knots = (x_end, piece)
        return self._knots

    def _call(self, x):
        y = self.inner(x)
        x_end, piece = self.knots()
        past = x > x_end
        if not bool(past.any()):
            return y
        tail = torch.log(piece.time_at(torch.where(past, x, x_end).exp()))
        return torch.where(past, tail, y)

    def _inverse(self, y):
        x = self.inner.inv(y)
        past = y > self.log_end
        if not bool(past.any()):
            return x
        _, piece = self.knots()
        tail = torch.log(piece.cum_hazard(torch.where(past, y, self.log_end).exp()))
        return torch.where(past, tail, x)

    def log_abs_det_jacobian(self, x, y):
        ladj = self.inner.log_abs_det_jacobian(x, y)
        past = y > self.log_end
        if not bool(past.any()):
            return ladj
        _, piece = self.knots()
        y_past = torch.where(past, y, self.log_end)
        tail = x - y_past - piece.log_hazard(y_past.exp())
        return torch.where(past, tail.expand_as(ladj), ladj)


class FlowTime(dist.TransformedDistribution):
    """T = exp(shift + spread * O(loc + scale * P(-g))), g ~ Gumbel(0, 1); an exact, positive time law.

    Parameters
    ----------
    loc, scale : tensors (N,), the location and scale (> 0) of the conditional part (standardised log-time).
    layers : sequence of (c, w, m) tensors, each (N,): the conditional planar layers P
        (see :class:`pyrocsa.csa.flows.PlanarLayer`).
    outer : sequence of (c, w, m) tensors (broadcastable, usually scalars): the outer planar layers O.
    shift, spread : the log-time standardisation (floats or 0-d tensors; spread > 0).
    warp : an optional :class:`pyrocsa.csa.warp.HazardWarp` (a piecewise-constant hazard in the
        standardised time s = exp((log t - shift) / spread)), the map before the standardisation.
    end : the end of follow-up (duration unit; float or 0-d tensor), past which the law follows the
        end-of-follow-up piece (:class:`EndOfFollowUp`); ``None`` or inf: the flow everywhere.
    """

    arg_constraints = {}
    support = constraints.positive

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, layers=(), outer=(), shift=0.0, spread=1.0,
                 end=None, warp=None, validate_args=None):
        loc, scale = torch.broadcast_tensors(loc, scale)
        base = dist.Gumbel(torch.zeros_like(loc), torch.ones_like(loc))
        self.loc, self.scale = loc, scale
        self.layers = [PlanarLayer(c, w, m) for c, w, m in layers]
        self.outer = [PlanarLayer(c, w, m) for c, w, m in outer]
        self.warp = warp
        steps = [] if warp is None else [warp]
        flow = [*self.layers, AffineTransform(loc, scale), *self.outer, *steps,
                AffineTransform(shift, spread)]
        end = float("inf") if end is None else end
        if not bool(torch.isinf(torch.as_tensor(end))):
            if not float(end) > 0:
                raise ArgumentError(f"end must be a positive time or None, got {float(end)!r}")
            flow = [EndOfFollowUp(flow, torch.as_tensor(end).log(), loc)]
        transforms = [AffineTransform(0.0, -1.0), *flow, ExpTransform()]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(FlowTime, _instance)
        new.loc, new.scale, new.layers, new.outer = self.loc, self.scale, self.layers, self.outer
        new.warp = self.warp
        return super().expand(batch_shape, _instance=new)

    # -- the inverse map, once, for density and survival together -------------------------------------
    def to_base(self, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(g, log |d t / d g|) for times ``value`` (...): the base noise that maps to each time and the
        log-Jacobian of the forward map there (differentiable in the value and the parameters)."""
        y, ladj = value, torch.zeros(())
        for t in reversed(self.transforms):
            x = t.inv(y)
            ladj = ladj + t.log_abs_det_jacobian(x, y)
            y = x
        return y, ladj

    @staticmethod
    def _base_log_density(g: torch.Tensor) -> torch.Tensor:
        return -g - torch.exp(-g)

    @staticmethod
    def _base_log_survival(g: torch.Tensor) -> torch.Tensor:
        """log S(t) at the base value g(t): T decreases in g, so S = P(G < g) = exp(-exp(-g))."""
        return -torch.exp(-g)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        g, ladj = self.to_base(value)
        return self._base_log_density(g) - ladj

    def log_survival(self, value: torch.Tensor) -> torch.Tensor:
        """log S(t) = log P(T > t) = -exp(-g(t)), exact far into the tail."""
        return self._base_log_survival(self.to_base(value)[0])

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(self.log_survival(value))

    def icdf(self, q: torch.Tensor) -> torch.Tensor:
        q = torch.as_tensor(q, dtype=self.loc.dtype, device=self.loc.device)
        x = -torch.log(-torch.log1p(-q))  # the g with P(T <= t(g)) = P(G >= g) = q
        for t in self.transforms:
            x = t(x)
        return x

    def censored_log_prob(self, value: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
        """log f(value) where ``event`` is 1, log S(value) where it is 0, from one inversion."""
        g, ladj = self.to_base(value)
        log_f = self._base_log_density(g) - ladj
        return torch.where(event > 0.5, log_f, self._base_log_survival(g))

    @property
    def median(self) -> torch.Tensor:
        return self.icdf(torch.full_like(self.loc, 0.5))

    def rmst(self, horizon: float, num_points: int = 257) -> torch.Tensor:
        """Restricted mean ``int_0^horizon S(t) dt`` (batch shape, the duration unit) by Simpson's rule on
        ``num_points`` (odd) points of the exact survival function (S(0) = 1)."""
        n = int(num_points) | 1
        t = torch.linspace(0.0, float(horizon), n, dtype=self.loc.dtype, device=self.loc.device)
        t = t.reshape(n, *([1] * len(self.batch_shape)))
        surv = self.log_survival(t[1:].clamp_min(1e-30).expand(n - 1, *self.batch_shape)).exp()
        surv = torch.cat([torch.ones_like(surv[:1]), surv], 0)
        w = torch.ones(n, dtype=surv.dtype, device=surv.device)
        w[1:-1:2], w[2:-1:2] = 4.0, 2.0
        return torch.tensordot(w, surv, dims=1) * (float(horizon) / (n - 1) / 3.0)


class RightCensored(dist.TorchDistribution):
    """The right-censored observation of a time law: log_prob(y) = event * log f(y) + (1 - event) * log S(y).

    Parameters
    ----------
    base : a :class:`FlowTime` (or any distribution with ``log_prob`` and ``log_survival``), batch (N,).
    event : (N,) 1 where the time was observed, 0 where it is only known to exceed the value.

    Sampling returns draws of the uncensored time (the law of ``base``).
    """

    arg_constraints = {}
    support = constraints.positive
    has_rsample = True

    def __init__(self, base, event: torch.Tensor, validate_args=None):
        batch_shape = torch.broadcast_shapes(base.batch_shape, event.shape)
        self.base = base.expand(batch_shape) if base.batch_shape != batch_shape else base
        self.event = event.expand(batch_shape)
        super().__init__(batch_shape, torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return RightCensored(self.base.expand(batch_shape), self.event.expand(batch_shape))

    def sample(self, sample_shape=()):
        return self.base.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if hasattr(self.base, "censored_log_prob"):
            return self.base.censored_log_prob(value, self.event)
        return torch.where(self.event > 0.5, self.base.log_prob(value), self.base.log_survival(value))

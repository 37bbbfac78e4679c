"""Time-to-event distributions with an exact density: a conditional planar flow on the log-time scale, and
its right-censored likelihood, as Pyro distributions.

:class:`FlowTime` is a :class:`pyro.distributions.TransformedDistribution`:

    eps ~ Normal(0, 1)                                       base noise, batch shape (N,)
    z   = P_K(... P_1(eps))                                  1-D planar layers (:class:`PlanarLayer`)
    T   = exp(loc + scale * z)                               affine map, then exp (duration unit)

with per-subject parameters (loc, scale > 0 and the layers' (c, w, m), all of batch shape (N,)). Every
layer is strictly increasing, so

    log f(t) = log phi(eps(t)) - sum_k log P_k'(.) - log scale - log t,
    S(t)     = 1 - Phi(eps(t)) = Phi(-eps(t)),

where eps(t) is the inverse map (closed form except the planar layers, which are inverted by bisection to
float precision, :mod:`pyrocsa.flows`). :class:`RightCensored` wraps such a law with the event indicators
of the rows: its ``log_prob(y)`` is log f(y) for events and log S(y) for censored rows, the right-censored
log-likelihood, so ``pyro.sample("t", RightCensored(law, event), obs=duration)`` scores survival data.
"""

from __future__ import annotations

import math

import torch
from pyro import distributions as dist
from torch.distributions import AffineTransform, ExpTransform, constraints

from pyrocsa.csa.flows import PlanarLayer

__all__ = ["FlowTime", "RightCensored"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class FlowTime(dist.TransformedDistribution):
    """T = exp(loc + scale * P_K(...P_1(eps))), eps ~ Normal(0, 1); an exact, positive time law.

    Parameters
    ----------
    loc, scale : tensors (N,), the location and scale (> 0) of log T after the planar layers.
    layers : sequence of (c, w, m) tensors, each (N,) (see :class:`pyrocsa.flows.PlanarLayer`).
    """

    arg_constraints = {}
    support = constraints.positive

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, layers=(), validate_args=None):
        loc, scale = torch.broadcast_tensors(loc, scale)
        base = dist.Normal(torch.zeros_like(loc), torch.ones_like(loc))
        self.loc, self.scale = loc, scale
        self.layers = [PlanarLayer(c, w, m) for c, w, m in layers]
        transforms = [*self.layers, AffineTransform(loc, scale), ExpTransform()]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(FlowTime, _instance)
        new.loc, new.scale, new.layers = self.loc, self.scale, self.layers
        return super().expand(batch_shape, _instance=new)

    # -- the inverse map, once, for density and survival together -------------------------------------
    def to_base(self, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps, log |d t / d eps|) for times ``value`` (...): the base noise that maps to each time and
        the log-Jacobian of the forward map there (differentiable in the value and the parameters)."""
        y, ladj = value, torch.zeros(())
        for t in reversed(self.transforms):
            x = t.inv(y)
            ladj = ladj + t.log_abs_det_jacobian(x, y)
            y = x
        return y, ladj

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        eps, ladj = self.to_base(value)
        return -0.5 * eps * eps - _LOG_SQRT_2PI - ladj

    def log_survival(self, value: torch.Tensor) -> torch.Tensor:
        """log S(t) = log P(T > t) = log Phi(-eps(t)), stable far into the tail."""
        eps, _ = self.to_base(value)
        return torch.special.log_ndtr(-eps)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        return torch.special.ndtr(self.to_base(value)[0])

    def icdf(self, q: torch.Tensor) -> torch.Tensor:
        x = torch.special.ndtri(torch.as_tensor(q, dtype=self.loc.dtype, device=self.loc.device))
        for t in self.transforms:
            x = t(x)
        return x

    def censored_log_prob(self, value: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
        """log f(value) where ``event`` is 1, log S(value) where it is 0, from one inversion."""
        eps, ladj = self.to_base(value)
        log_f = -0.5 * eps * eps - _LOG_SQRT_2PI - ladj
        return torch.where(event > 0.5, log_f, torch.special.log_ndtr(-eps))

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

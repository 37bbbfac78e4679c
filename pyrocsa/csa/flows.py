"""One-dimensional conditional planar flows with an exact density, as :mod:`torch.distributions` transforms.

A 1-D planar layer (Rezende & Mohamed, 2015) maps a scalar x to

    y = x + u tanh(w x + b),        dy/dx = 1 + u w (1 - tanh^2(w x + b)),

which is strictly increasing, hence invertible, when ``u w > -1`` (the condition Pyro's
:class:`pyro.distributions.transforms.Planar` enforces). :class:`PlanarLayer` is parameterised by

    c = u w in (-1, inf)    (the change of slope at the centre),
    w > 0                   (the inverse width of the bump),
    m = -b / w              (the centre),

so that ``y = x + (c / w) tanh(w (x - m))``: the same map with the constraint built in (w > 0 loses no
generality since tanh is odd) and a well-conditioned limit as w -> 0 (``y -> x + c (x - m)``). The three
parameters are tensors of any batch shape (one value per subject for a conditional flow) that broadcast
against x.

* forward: closed form (sampling is cheap: a tanh per layer per draw);
* log |dy/dx|: closed form, log(1 + c sech^2(w (x - m)));
* inverse: no closed form, but y -> x is the root of a strictly increasing scalar function. It is
  bracketed by the slope bounds (f(m) = m and f' lies between min(1, 1 + c) and max(1, 1 + c)) and found by
  vectorised safeguarded Newton (bisection where a Newton step leaves the bracket) in float64 to machine
  precision without gradient; one Newton step from that root,
  with gradient, gives the exact value and, by the implicit function theorem, exact first derivatives
  with respect to y and to (c, w, m). So ``log_prob`` and ``cdf`` of a
  :class:`~torch.distributions.TransformedDistribution` built from these layers are exact and trainable.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch.distributions import Transform, constraints

__all__ = ["PlanarLayer", "planar_params", "second_order"]

_SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(_SOFTPLUS_ONE) = 1
_POLISH = {"steps": 1}  # Newton steps from the detached root in PlanarLayer._inverse (see second_order)
_MAX_STEPS = 100  # safeguarded Newton: ~5-10 steps typically; bisection alone would need at most ~60


class PlanarLayer(Transform):
    """y = x + (c / w) tanh(w (x - m)) elementwise; ``c`` > -1, ``w`` > 0, ``m`` real (broadcastable)."""

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(self, c: torch.Tensor, w: torch.Tensor, m: torch.Tensor, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.c, self.w, self.m = c, w, m

    def __eq__(self, other):
        return isinstance(other, PlanarLayer) and (self.c is other.c and self.w is other.w
                                                   and self.m is other.m)

    def with_cache(self, cache_size=1):
        return self if self._cache_size == cache_size else PlanarLayer(self.c, self.w, self.m, cache_size)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c / self.w * torch.tanh(self.w * (x - self.m))

    def _slope(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(self.w * (x - self.m))
        return 1.0 + self.c * (1.0 - t * t)

    def _root(self, y: torch.Tensor) -> torch.Tensor:
        """The root x of f(x) = y without gradient: safeguarded Newton in float64 on the slope bracket
        (a Newton step that leaves the bracket is replaced by bisection), to a relative tolerance of
        1e-12 or ``_MAX_STEPS`` steps."""
        with torch.no_grad():
            c, w, m, yd = torch.broadcast_tensors(*(v.detach().double() for v in (self.c, self.w, self.m, y)))
            # f(m) = m and f' lies in [min(1, 1 + c), max(1, 1 + c)]: x - m is between (y - m) / s_max and
            # (y - m) / s_min, with the sign of y - m
            d = yd - m
            s_min = torch.clamp(1.0 + torch.clamp(c, max=0.0), min=1e-12)
            s_max = 1.0 + torch.clamp(c, min=0.0)
            a, b = m + d / s_max, m + d / s_min
            lo, hi = torch.minimum(a, b), torch.maximum(a, b)
            u = c / w
            x = (yd - u * torch.tanh(w * d)).clamp(lo, hi)  # a fixed-point step from x = y: exact as c -> 0
            tol = 1e-12 * (1.0 + yd.abs())
            for step in range(_MAX_STEPS):
                t = torch.tanh(w * (x - m))
                f = x + u * t - yd
                above = f > 0
                hi = torch.where(above, x, hi)
                lo = torch.where(above, lo, x)
                x_new = x - f / (1.0 + c * (1.0 - t * t))
                outside = (x_new < lo) | (x_new > hi)
                x_new = torch.where(outside, 0.5 * (lo + hi), x_new)
                done = (x_new - x).abs() <= tol
                x = x_new
                if step % 4 == 3 and bool(done.all()):
                    break
            return x.to(y.dtype)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        x = self._root(y)
        # one Newton step from the exact root: the same value, with the implicit-function gradient; under
        # second_order() a second step makes the second derivatives exact too (the error of k steps from a
        # root fixed at the current parameters is of order 2^k in a parameter change)
        for _ in range(_POLISH["steps"]):
            x = x - (self._call(x) - y) / self._slope(x)
        return x

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(self.w * (x - self.m))
        return torch.log1p(self.c * (1.0 - t * t))


def planar_params(raw: torch.Tensor, max_slope: float = 20.0) -> tuple[torch.Tensor, torch.Tensor,
                                                                         torch.Tensor]:
    """Constrained (c, w, m) from unconstrained ``raw`` (..., 3): c = -1 + softplus (floored at -1 + 1e-3,
    capped at ``max_slope``), w = softplus + 1e-3, m = raw. Returns three tensors of shape (...)."""
    rc, rw, rm = raw.unbind(-1)
    c = (torch.nn.functional.softplus(rc + _SOFTPLUS_ONE) - 1.0).clamp(-1.0 + 1e-3, max_slope)  # raw 0: c = 0
    w = torch.nn.functional.softplus(rw + _SOFTPLUS_ONE) + 1e-3  # raw 0 -> w ~ 1
    return c, w, rm


@contextmanager
def second_order():
    """Within this block, inverses of :class:`PlanarLayer` have exact second derivatives in their input and
    parameters (two Newton steps from the detached root instead of one; the value is the same to rounding).
    Hessians of a likelihood (:mod:`pyrocsa.csa.posterior`) need it; training needs only first derivatives
    and runs outside it."""
    before = _POLISH["steps"]
    _POLISH["steps"] = 2
    try:
        yield
    finally:
        _POLISH["steps"] = before

"""Planar-flow noise (the paper's eq. 7) as a Pyro distribution.

    eps ~ Uniform(0, 1)^d,      eps~ = eps + U tanh(W eps + b),      U, W in R^{d x d}, b in R^d.

:class:`PlanarFlow` holds (U, W, b) as parameters of an ``nn.Module``; :meth:`PlanarFlow.transform` wraps
them in a :class:`PlanarTransform` (a :class:`torch.distributions.Transform`), and
:func:`planar_noise` returns ``pyro.distributions.TransformedDistribution(Uniform(0,1)^d, [transform])``.

The map is generally not invertible (it is the paper's d x d generalisation of Rezende & Mohamed's rank-one
planar flow), so the distribution can be *sampled* (with reparameterised gradients reaching U, W, b) but
has no density: ``log_prob`` raises. That is why the CSA losses are sample based, as in the paper.
Pyro's own :class:`pyro.distributions.transforms.Planar` is the rank-one special case
``eps + u tanh(w'eps + b)``; it adds a single direction of deformation only.
"""

from __future__ import annotations

import torch
from pyro import distributions as dist
from torch import nn
from torch.distributions import constraints

__all__ = ["PlanarFlow", "PlanarTransform", "planar_noise"]


class PlanarTransform(torch.distributions.Transform):
    """eps -> eps + U tanh(W eps + b) on the last dimension; parameters live in a :class:`PlanarFlow`.

    Sampling only: no inverse and no log-det-Jacobian (the d x d map need not be injective).
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = False

    def __init__(self, flow: PlanarFlow):
        super().__init__(cache_size=0)
        self.flow = flow

    def __eq__(self, other):
        return isinstance(other, PlanarTransform) and other.flow is self.flow

    def _call(self, eps: torch.Tensor) -> torch.Tensor:
        f = self.flow
        return eps + torch.tanh(eps @ f.W.T + f.b) @ f.U.T

    def _inverse(self, y):
        raise NotImplementedError("the planar noise flow is not invertible; CSA scores samples")

    def log_abs_det_jacobian(self, x, y):
        raise NotImplementedError("the planar noise flow has no tractable density")


class PlanarFlow(nn.Module):
    """Parameters (U, W, b) of the d-dimensional planar noise flow, initialised small (near identity)."""

    def __init__(self, dim: int = 100, init_scale: float = 0.01):
        super().__init__()
        self.dim = int(dim)
        self.U = nn.Parameter(torch.empty(dim, dim).uniform_(-init_scale, init_scale))
        self.W = nn.Parameter(torch.empty(dim, dim).uniform_(-init_scale, init_scale))
        self.b = nn.Parameter(torch.zeros(dim))

    def transform(self) -> PlanarTransform:
        return PlanarTransform(self)

    def forward(self, eps: torch.Tensor) -> torch.Tensor:
        return self.transform()(eps)


def planar_noise(flow: PlanarFlow) -> dist.TransformedDistribution:
    """The noise distribution eps~ (event shape (d,), batch shape ()): Uniform(0,1)^d through ``flow``.

    Supports ``sample``/``rsample`` (gradients flow to the flow's parameters); ``log_prob`` raises.
    """
    zeros = flow.U.new_zeros(flow.dim)
    base = dist.Uniform(zeros, zeros + 1.0).to_event(1)
    return dist.TransformedDistribution(base, [flow.transform()])

"""Neural building blocks: the representation encoder Phi and the per-arm time generators (paper SM D.4).

Every block works on inputs with any number of leading batch dimensions, e.g. ``(N, p)`` during training
or ``(S, N, p)`` when :class:`pyro.infer.Predictive` vectorises over S samples: batch normalisation is
applied to the flattened rows, so the vectorised and the plain calls agree in evaluation mode.

These modules are plain :class:`torch.nn.Module` objects (no Pyro state); baselines reuse :class:`Encoder`
and :class:`MLP` directly.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP", "Encoder", "ArmGenerator", "LocationScaleArm", "NoiseShape"]

_SQRT12 = 12.0 ** 0.5


class _Block(nn.Module):
    """Linear -> batch norm -> LeakyReLU -> dropout, for inputs of shape (..., in_dim)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, batch_norm: bool, slope: float):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.norm = nn.BatchNorm1d(out_dim) if batch_norm else None
        self.act = nn.LeakyReLU(slope)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.linear(h)
        if self.norm is not None:
            shape = h.shape
            h = self.norm(h.reshape(-1, shape[-1])).reshape(shape)
        h = self.act(h)
        if self.drop is not None:
            h = self.drop(h)
        return h


class MLP(nn.Module):
    """A stack of hidden blocks ``in_dim -> hidden[0] -> ... -> hidden[-1]`` (no output layer).

    Parameters
    ----------
    in_dim : input width.
    hidden : widths of the hidden layers (may be empty: identity).
    dropout, batch_norm, slope : dropout probability, batch normalisation on/off, LeakyReLU slope.
    """

    def __init__(self, in_dim: int, hidden=(100, 100), dropout: float = 0.2, batch_norm: bool = True,
                 slope: float = 0.2):
        super().__init__()
        widths = [int(in_dim)] + [int(h) for h in hidden]
        self.blocks = nn.ModuleList(_Block(i, o, dropout, batch_norm, slope)
                                    for i, o in zip(widths[:-1], widths[1:]))
        self.out_dim = widths[-1]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return h


class Encoder(MLP):
    """Representation r = Phi(x): (..., p) preprocessed covariates -> (..., hidden[-1]).

    Default: two layers of 100 units, LeakyReLU, batch norm and dropout 0.2 (the paper's SM D.4).
    """


class ArmGenerator(nn.Module):
    """One arm's time generator h_a(r, eps~) (or nu_a for censoring times), returning log-time.

    ``r`` (..., r_dim) goes through a hidden block (``hidden[0]`` units); its output is concatenated with
    the flow-transformed noise ``eps~`` (..., noise_dim) and passed through a second block (``hidden[1]``)
    and a linear output unit. With ``early_noise=True`` the noise is also concatenated to ``r`` at the
    input, so that it can shape every layer (more room for per-subject spread).

    Returns log-time (...,) on the model's internal scale; the caller exponentiates and multiplies by
    the fitted time scale, so the network sees O(1) numbers.
    """

    def __init__(self, r_dim: int, noise_dim: int, hidden=(100, 200), dropout: float = 0.2,
                 batch_norm: bool = True, slope: float = 0.2, early_noise: bool = False):
        super().__init__()
        if len(hidden) != 2:
            raise ValueError(f"hidden must give two widths (before and after the noise), got {hidden}")
        self.early_noise = bool(early_noise)
        self.first = _Block(r_dim + (noise_dim if early_noise else 0), int(hidden[0]), dropout,
                            batch_norm, slope)
        self.second = _Block(int(hidden[0]) + noise_dim, int(hidden[1]), dropout, batch_norm, slope)
        self.out = nn.Linear(int(hidden[1]), 1)

    def forward(self, r: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """r: (N, r_dim) or broadcastable to noise's batch shape; noise: (..., N, noise_dim)."""
        r = r.expand(noise.shape[:-1] + r.shape[-1:])
        # a fixed affine map of the noise: Uniform(0, 1) -> mean 0, variance 1 (an equivalent network whose
        # noise inputs start on the same footing as the batch-normalised representation)
        noise = (noise - 0.5) * _SQRT12
        h = self.first(torch.cat([r, noise], dim=-1) if self.early_noise else r)
        h = self.second(torch.cat([h, noise], dim=-1))
        return self.out(h).squeeze(-1)


class LocationScaleArm(nn.Module):
    """One arm's location and log-scale (mu_a(r), log sigma_a(r)) of a location-scale time generator.

    ``r`` (..., r_dim) -> one hidden block (``hidden`` units) -> a linear layer with two outputs.
    Returns ``(mu, log_sigma)``, each (...,), on the model's internal log-time scale. Used with
    :class:`NoiseShape`: log-time = mu_a(r) + exp(log sigma_a(r)) * z(eps~), an accelerated-failure-time
    generator whose error law z is learned (through the planar-flow noise) and shared by all subjects.
    """

    def __init__(self, r_dim: int, hidden: int = 100, dropout: float = 0.0, batch_norm: bool = True,
                 slope: float = 0.2, shared_scale: bool = False, skip_dim: int = 0):
        super().__init__()
        self.shared_scale = bool(shared_scale)
        self.skip_dim = int(skip_dim)
        self.block = _Block(r_dim, int(hidden), dropout, batch_norm, slope)
        self.out = nn.Linear(int(hidden), 2)
        nn.init.zeros_(self.out.weight)  # start from mu = 0 (the time scale), sigma = 1
        nn.init.zeros_(self.out.bias)
        if self.skip_dim:
            # a linear term of the covariates on the location (a "wide" path beside the deep one)
            self.skip = nn.Linear(self.skip_dim, 1, bias=False)
            nn.init.zeros_(self.skip.weight)

    def forward(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r: (..., r_dim), or (..., r_dim + skip_dim) = [representation, covariates] with a skip path."""
        if self.skip_dim:
            r, xs = r[..., :-self.skip_dim], r[..., -self.skip_dim:]
        mu, log_sigma = self.out(self.block(r)).unbind(-1)
        if self.skip_dim:
            mu = mu + self.skip(xs).squeeze(-1)
        if self.shared_scale:  # one scale per arm: the output's second unit only through its bias
            log_sigma = self.out.bias[1].expand_as(mu)
        return mu, log_sigma.clamp(-7.0, 3.0)


class NoiseShape(nn.Module):
    """The error law of a location-scale generator: z = g(eps~), (..., d) flow noise -> (...,) scalars.

    An MLP of the standardised noise (``hidden`` widths) with a linear output, initialised so that z is
    roughly standard at the start. It sees no covariates: its law is pooled over subjects, so the upper
    tail, observed for subjects with short times, informs the extrapolation for subjects censored early.
    """

    def __init__(self, noise_dim: int, hidden=(100,), batch_norm: bool = True, slope: float = 0.2):
        super().__init__()
        self.mlp = MLP(noise_dim, hidden, 0.0, batch_norm, slope)
        self.out = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.out(self.mlp((noise - 0.5) * _SQRT12)).squeeze(-1)

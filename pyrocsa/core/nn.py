"""Neural building blocks: the representation encoder Phi (paper SM D.4) and its hidden blocks.

Every block works on inputs with any number of leading batch dimensions, e.g. ``(N, p)`` during training
or ``(S, N, p)`` when :class:`pyro.infer.Predictive` vectorises over S samples: batch normalisation is
applied to the flattened rows, so the vectorised and the plain calls agree in evaluation mode.

These modules are plain :class:`torch.nn.Module` objects (no Pyro state); baselines reuse :class:`Encoder`
and :class:`MLP` directly.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP", "Encoder"]


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
    """A stack of hidden blocks of widths ``hidden`` on inputs of width ``in_dim`` (no output layer).

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

"""The device rule every pyrocsa estimator follows (a module of its own so that the training loop and the
data-parallel helpers can both use it without importing each other)."""

from __future__ import annotations

import torch

from pyrocsa.errors import ArgumentError

__all__ = ["resolve_device"]


def resolve_device(device=None) -> torch.device:
    """``None``/"auto" -> CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError(f"device={device!r} requested but CUDA is not available")
    return dev

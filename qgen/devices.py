"""Torch devices by name: None (CPU), "auto" (CUDA when present), "cpu", "cuda", "cuda:N"."""

from __future__ import annotations

from typing import Any

import torch

from qgen.errors import QgenError

__all__ = ["resolve_device"]


def resolve_device(device: Any = None) -> torch.device:
    """A torch device from None (CPU), "auto" (CUDA when present), a name or a device."""
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise QgenError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or 'auto'") from None

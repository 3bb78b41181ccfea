"""Outcome strings: (n, N) integers in [0, K). The one validator, the enumeration and the indexing of strings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgen.devices import resolve_device
from qgen.errors import OutcomeError

__all__ = ["as_outcomes", "all_outcomes", "log_total", "MAX_ENUMERATION"]

# Largest number of outcome strings any exact enumeration will build (float64: 512 MiB).
MAX_ENUMERATION = 2**26


def as_outcomes(outcomes: Any, n_qubits: int, n_outcomes: int, device: torch.device | None = None) -> torch.Tensor:
    """Validate a batch of outcome strings and return it as an int64 tensor of shape (n, N).

    Args:
        outcomes: (n, N) or (N,) integers with values in [0, K).
        n_qubits: N.
        n_outcomes: K.
        device: where the result lives (None: where it is).

    Raises:
        OutcomeError: not integers, wrong shape, or a value outside [0, K).
    """
    if isinstance(outcomes, torch.Tensor):
        t = outcomes
    else:
        arr = np.asarray(outcomes)
        if arr.dtype.kind not in "iub":
            raise OutcomeError(f"outcomes must be integers, got dtype {arr.dtype}")
        t = torch.from_numpy(arr.astype(np.int64, copy=False))
    if t.is_floating_point() or t.is_complex():
        raise OutcomeError(f"outcomes must be integers, got dtype {t.dtype}")
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != n_qubits:
        raise OutcomeError(f"outcomes must have shape (n, {n_qubits}), got {tuple(t.shape)}")
    t = t.to(dtype=torch.int64, device=device)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n_outcomes):
        raise OutcomeError(f"outcomes must lie in [0, {n_outcomes}), got values in [{int(t.min())}, {int(t.max())}]")
    return t


def all_outcomes(n_outcomes: int, n_qubits: int, device: Any = None) -> torch.Tensor:
    """Every string of n_qubits symbols out of n_outcomes, lexicographic (site 0 most significant).

    Example:
        >>> all_outcomes(2, 2).tolist()
        [[0, 0], [0, 1], [1, 0], [1, 1]]
    """
    total = n_outcomes**n_qubits
    if total > MAX_ENUMERATION:
        raise OutcomeError(
            f"enumerating {n_outcomes}^{n_qubits} = {total:.3g} strings exceeds the limit of {MAX_ENUMERATION}"
        )
    idx = torch.arange(total, device=resolve_device(device))
    powers = n_outcomes ** torch.arange(n_qubits - 1, -1, -1, device=idx.device)
    return (idx.unsqueeze(1) // powers) % n_outcomes


def log_total(n_outcomes: int, n_qubits: int) -> float:
    """log(K^N), the size of the outcome space, without overflow."""
    return n_qubits * math.log(n_outcomes)

"""Outcome strings: (n, N) integers in [0, K). The one validator, the enumeration and the indexing of strings.

Every string of N symbols out of K has an index in the lexicographic enumeration, site 0 most significant:
index(a) = sum_i a_i K^(N-1-i). `strings_in_range` walks that enumeration, `string_index` inverts it, and
`all_outcomes` is the whole of it; MAX_ENUMERATION caps how many strings any enumeration may build.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgen.devices import resolve_device
from qgen.errors import OutcomeError, QgenError

__all__ = [
    "as_outcomes",
    "all_outcomes",
    "strings_in_range",
    "string_index",
    "enumeration_size",
    "positive_int",
    "log_total",
    "MAX_ENUMERATION",
]

# Largest number of outcome strings any exact enumeration will build (one float64 table: 512 MiB).
MAX_ENUMERATION = 2**26


def positive_int(value: Any, name: str, *, minimum: int = 1, error: type[QgenError] = QgenError) -> int:
    """value as a Python int, checked to be an integer >= minimum (bools and floats are refused).

    Args:
        value: the number to check (int or numpy integer).
        name: what the number is, for the message ("n_samples", "--epochs", ...).
        minimum: the smallest value allowed.
        error: the QgenError subclass to raise (the caller's kind: MetricError, ModelError, ...).

    Raises:
        error: value is not an integer or is below minimum.

    Example:
        >>> positive_int(3, "n_samples")
        3
        >>> positive_int(0, "n_samples")
        Traceback (most recent call last):
        ...
        qgen.errors.QgenError: n_samples must be an integer >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise error(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def as_outcomes(
    outcomes: Any, n_qubits: int | None, n_outcomes: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Validate a batch of outcome strings and return it as an int64 tensor of shape (n, N).

    Args:
        outcomes: (n, N) integers with values in [0, K) (numpy array, torch tensor or nested lists); a single
            (N,) string is accepted when n_qubits is given.
        n_qubits: N, or None to accept any number of sites (then outcomes must be 2-D).
        n_outcomes: K.
        device: where the result lives (None: where it is; numpy input lands on the CPU without a copy when it
            is already int64).

    Raises:
        OutcomeError: not integers (floats, complex numbers and booleans are refused), wrong shape, or a value
            outside [0, K).

    Example:
        >>> as_outcomes([[0, 3], [1, 2]], 2, 4).tolist()
        [[0, 3], [1, 2]]
    """
    if isinstance(outcomes, torch.Tensor):
        t = outcomes
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise OutcomeError(f"outcomes must be integers, got dtype {t.dtype}")
    else:
        try:
            arr = np.asarray(outcomes)
        except (TypeError, ValueError) as exc:
            raise OutcomeError(f"outcomes must be an integer array of shape (n, N): {exc}") from None
        if arr.dtype.kind not in "iu":
            raise OutcomeError(f"outcomes must be integers, got dtype {arr.dtype}")
        t = torch.from_numpy(arr.astype(np.int64, copy=False))
    if t.ndim == 1 and n_qubits is not None:
        t = t.unsqueeze(0)
    width = "N" if n_qubits is None else n_qubits
    if t.ndim != 2 or (n_qubits is not None and t.shape[1] != n_qubits):
        raise OutcomeError(f"outcomes must have shape (n, {width}), got {tuple(t.shape)}")
    t = t.to(dtype=torch.int64, device=device)
    if t.numel():
        low, high = int(t.min()), int(t.max())
        if low < 0 or high >= n_outcomes:
            raise OutcomeError(f"outcomes must lie in [0, {n_outcomes}), got values in [{low}, {high}]")
    return t


def enumeration_size(n_outcomes: int, n_qubits: int, limit: int = MAX_ENUMERATION) -> int:
    """K^N, the number of strings, checked against the enumeration limit.

    Raises:
        OutcomeError: K^N exceeds limit.
    """
    total = int(n_outcomes) ** int(n_qubits)
    if total > limit:
        raise OutcomeError(f"enumerating {n_outcomes}^{n_qubits} = {total:.3g} strings exceeds the limit of {limit}")
    return total


def strings_in_range(start: int, stop: int, n_outcomes: int, n_qubits: int, device: Any = None) -> torch.Tensor:
    """Strings number start..stop-1 of the lexicographic enumeration (site 0 most significant), int64 (n, N).

    Example:
        >>> strings_in_range(2, 4, 3, 2).tolist()
        [[0, 2], [1, 0]]
    """
    if n_qubits * math.log2(max(n_outcomes, 2)) > 62:
        raise OutcomeError(f"{n_outcomes}^{n_qubits} strings do not fit a 64-bit index")
    if not 0 <= start <= stop <= n_outcomes**n_qubits:
        raise OutcomeError(
            f"string numbers must satisfy 0 <= start <= stop <= {n_outcomes}^{n_qubits}, got {start}, {stop}"
        )
    idx = torch.arange(int(start), int(stop), dtype=torch.int64, device=resolve_device(device))
    powers = n_outcomes ** torch.arange(n_qubits - 1, -1, -1, dtype=torch.int64, device=idx.device)
    return (idx.unsqueeze(1) // powers) % n_outcomes


def string_index(outcomes: Any, n_outcomes: int) -> Any:
    """The index of each string in the lexicographic enumeration (site 0 most significant), int64 (n,).

    The inverse of `strings_in_range`: a numpy array gives a numpy array, a tensor a tensor (same device).
    The strings are not validated here: pass them through `as_outcomes` first.

    Args:
        outcomes: (n, N) integers in [0, K).
        n_outcomes: K.

    Raises:
        OutcomeError: K^N does not fit a 64-bit index.

    Example:
        >>> string_index(np.array([[0, 2], [1, 0]]), 3).tolist()
        [2, 3]
    """
    n_qubits = outcomes.shape[1]
    if n_qubits * math.log2(max(n_outcomes, 2)) > 62:
        raise OutcomeError(f"{n_outcomes}^{n_qubits} strings do not fit a 64-bit index")
    if isinstance(outcomes, torch.Tensor):
        powers = n_outcomes ** torch.arange(n_qubits - 1, -1, -1, dtype=torch.int64, device=outcomes.device)
        return (outcomes.to(torch.int64) * powers).sum(dim=1)
    powers = n_outcomes ** np.arange(n_qubits - 1, -1, -1, dtype=np.int64)
    return np.asarray(outcomes, dtype=np.int64) @ powers


def all_outcomes(n_outcomes: int, n_qubits: int, device: Any = None) -> torch.Tensor:
    """Every string of n_qubits symbols out of n_outcomes, lexicographic (site 0 most significant).

    Raises:
        OutcomeError: K^N exceeds MAX_ENUMERATION.

    Example:
        >>> all_outcomes(2, 2).tolist()
        [[0, 0], [0, 1], [1, 0], [1, 1]]
    """
    return strings_in_range(0, enumeration_size(n_outcomes, n_qubits), n_outcomes, n_qubits, device)


def log_total(n_outcomes: int, n_qubits: int) -> float:
    """log(K^N), the size of the outcome space, without overflow."""
    return n_qubits * math.log(n_outcomes)

"""Outcome strings: (n, N) integers in [0, K). The one validator, the enumeration and the indexing of strings.

Every string of N symbols out of K has an index in the lexicographic enumeration, site 0 most significant:
index(a) = sum_i a_i K^(N-1-i). `string_index` maps strings to indices, `strings_at` indices to strings,
`strings_in_range` walks the enumeration and `all_outcomes` is the whole of it; MAX_ENUMERATION caps how many
strings any enumeration may build. `as_outcomes` (tensors) and `as_outcome_array` (numpy storage) are the one
check of a batch of strings, with the one error class OutcomeError.
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
    "as_outcome_array",
    "first_outside",
    "all_outcomes",
    "strings_in_range",
    "strings_at",
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


def first_outside(values: np.ndarray, high: int, row_offset: int = 0) -> str:
    """Where the first value outside [0, high) sits in a 2-D integer array (rows counted from row_offset).

    Example:
        >>> first_outside(np.array([[0, 1], [4, 2]]), 4, row_offset=10)
        'value 4 at row 11, column 0'
    """
    row, col = np.argwhere((values < 0) | (values >= high))[0]
    return f"value {values[row, col]} at row {row + row_offset}, column {col}"


def _checked(values: np.ndarray | torch.Tensor, n_qubits: int | None, n_outcomes: int, name: str) -> None:
    """The one check of a batch of strings, for numpy arrays and tensors alike (no copy, no conversion)."""
    if isinstance(values, torch.Tensor):
        integer = not (values.is_floating_point() or values.is_complex() or values.dtype == torch.bool)
        unsigned = values.dtype == torch.uint8
    else:
        integer = values.dtype.kind in "iu"
        unsigned = values.dtype.kind == "u"
    if not integer:
        raise OutcomeError(f"{name}: expected integers in [0, {n_outcomes}), found dtype {values.dtype}")
    width = "N" if n_qubits is None else n_qubits
    if values.ndim != 2 or (n_qubits is not None and values.shape[1] != n_qubits):
        raise OutcomeError(f"{name}: expected shape (n, {width}), found {tuple(values.shape)}")
    # One pass over unsigned input (the usual uint8 storage), which cannot go below zero.
    if values.numel() if isinstance(values, torch.Tensor) else values.size:
        if (not unsigned and int(values.min()) < 0) or int(values.max()) >= n_outcomes:
            host = values.cpu().numpy() if isinstance(values, torch.Tensor) else values
            raise OutcomeError(f"{name}: expected values in [0, {n_outcomes}), found {first_outside(host, n_outcomes)}")


def as_outcomes(
    outcomes: Any,
    n_qubits: int | None,
    n_outcomes: int,
    device: torch.device | str | None = None,
    *,
    name: str = "outcomes",
    single: bool = True,
) -> torch.Tensor:
    """Validate a batch of outcome strings and return it as an int64 tensor of shape (n, N).

    Args:
        outcomes: (n, N) integers with values in [0, K) (numpy array, torch tensor or nested lists); a single
            (N,) string is accepted when n_qubits is given and `single` is true.
        n_qubits: N, or None to accept any number of sites (then outcomes must be 2-D).
        n_outcomes: K.
        device: where the result lives (None: where it is; numpy input lands on the CPU without a copy when it
            is already int64).
        name: what the strings are, for the message ("outcomes", "MeasurementData: bases", ...).
        single: accept a lone (N,) string as a batch of one (a model's batch check says False).

    Raises:
        OutcomeError: not integers (floats, complex numbers and booleans are refused), wrong shape, or a value
            outside [0, K) (the message names the first such value, its row and column).

    Example:
        >>> as_outcomes([[0, 3], [1, 2]], 2, 4).tolist()
        [[0, 3], [1, 2]]
    """
    x = outcomes if isinstance(outcomes, torch.Tensor) else _as_array(outcomes, n_outcomes, name)
    if x.ndim == 1 and n_qubits is not None and single:
        x = x[None]
    _checked(x, n_qubits, n_outcomes, name)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x.astype(np.int64, copy=False))
    return x.to(dtype=torch.int64, device=device)


def as_outcome_array(
    outcomes: Any, n_qubits: int | None, n_outcomes: int, *, name: str = "outcomes", dtype: Any = None
) -> np.ndarray:
    """Validate a batch of outcome strings and return it as a numpy array of shape (n, N), for storage.

    The same check as `as_outcomes`, without the int64 tensor: a data set of 10^7 strings stays in its uint8
    storage, and input that already has the requested dtype is returned without a copy.

    Args:
        outcomes: (n, N) integers with values in [0, K) (numpy array, torch tensor on any device, nested lists).
        n_qubits: N, or None to accept any number of sites.
        n_outcomes: K.
        name: what the strings are, for the message.
        dtype: the integer dtype of the result (np.uint8 for storage), or None to keep the input's.

    Raises:
        OutcomeError: as `as_outcomes`, or K symbols do not fit `dtype`.

    Example:
        >>> as_outcome_array([[0, 3], [1, 2]], 2, 4, dtype=np.uint8).dtype
        dtype('uint8')
    """
    if dtype is not None and n_outcomes - 1 > np.iinfo(dtype).max:
        raise OutcomeError(f"{name}: {n_outcomes} symbols do not fit dtype {np.dtype(dtype)}")
    if isinstance(outcomes, torch.Tensor):
        _checked(outcomes, n_qubits, n_outcomes, name)
        arr = outcomes.detach().cpu().numpy()
    else:
        arr = _as_array(outcomes, n_outcomes, name)
        _checked(arr, n_qubits, n_outcomes, name)
    return arr if dtype is None else arr.astype(dtype, copy=False)


def _as_array(outcomes: Any, n_outcomes: int, name: str) -> np.ndarray:
    try:
        arr = outcomes if isinstance(outcomes, np.ndarray) else np.asarray(outcomes)
    except (TypeError, ValueError) as exc:
        raise OutcomeError(f"{name}: expected an integer array of shape (n, N) in [0, {n_outcomes}): {exc}") from None
    if arr.dtype.kind not in "iu":
        raise OutcomeError(f"{name}: expected integers in [0, {n_outcomes}), found dtype {arr.dtype}")
    return arr


def enumeration_size(
    n_outcomes: int, n_qubits: int, limit: int = MAX_ENUMERATION, *, error: type[QgenError] = OutcomeError
) -> int:
    """K^N, the number of strings, checked against the enumeration limit.

    Args:
        n_outcomes: K.
        n_qubits: N.
        limit: the most strings allowed (MAX_ENUMERATION unless a caller's memory policy says fewer).
        error: the QgenError subclass to raise (the caller's kind: MetricError, StateError, ...).

    Raises:
        error: K^N exceeds limit.

    Example:
        >>> enumeration_size(4, 3)
        64
    """
    total = int(n_outcomes) ** int(n_qubits)
    if total > limit:
        raise error(f"enumerating {n_outcomes}^{n_qubits} = {total:.3g} strings exceeds the limit of {limit}")
    return total


def _check_index_width(n_outcomes: int, n_qubits: int) -> None:
    if n_qubits * math.log2(max(n_outcomes, 2)) > 62:
        raise OutcomeError(f"{n_outcomes}^{n_qubits} strings do not fit a 64-bit index")


def strings_at(index: torch.Tensor, n_outcomes: int, n_qubits: int) -> torch.Tensor:
    """The strings with the given indices in the lexicographic enumeration (site 0 most significant), int64 (n, N).

    The inverse of `string_index`; the indices are not checked against K^N here.

    Example:
        >>> strings_at(torch.tensor([5, 0]), 2, 3).tolist()
        [[1, 0, 1], [0, 0, 0]]
    """
    _check_index_width(n_outcomes, n_qubits)
    idx = index.to(torch.int64)
    powers = n_outcomes ** torch.arange(n_qubits - 1, -1, -1, dtype=torch.int64, device=idx.device)
    return (idx.unsqueeze(1) // powers) % n_outcomes


def strings_in_range(start: int, stop: int, n_outcomes: int, n_qubits: int, device: Any = None) -> torch.Tensor:
    """Strings number start..stop-1 of the lexicographic enumeration (site 0 most significant), int64 (n, N).

    Example:
        >>> strings_in_range(2, 4, 3, 2).tolist()
        [[0, 2], [1, 0]]
    """
    _check_index_width(n_outcomes, n_qubits)
    if not 0 <= start <= stop <= n_outcomes**n_qubits:
        raise OutcomeError(
            f"string numbers must satisfy 0 <= start <= stop <= {n_outcomes}^{n_qubits}, got {start}, {stop}"
        )
    idx = torch.arange(int(start), int(stop), dtype=torch.int64, device=resolve_device(device))
    return strings_at(idx, n_outcomes, n_qubits)


def string_index(outcomes: Any, n_outcomes: int) -> Any:
    """The index of each string in the lexicographic enumeration (site 0 most significant), int64 (n,).

    The inverse of `strings_at`: a numpy array gives a numpy array, a tensor a tensor (same device). The
    strings are not validated here: pass them through `as_outcomes` first.

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
    _check_index_width(n_outcomes, n_qubits)
    # Horner's rule, one site at a time: an (n,) int64 accumulator instead of an (n, N) int64 copy of uint8 data.
    if isinstance(outcomes, torch.Tensor):
        index = torch.zeros(outcomes.shape[0], dtype=torch.int64, device=outcomes.device)
    else:
        outcomes = np.asarray(outcomes)
        index = np.zeros(outcomes.shape[0], dtype=np.int64)
    for site in range(n_qubits):
        index = index * n_outcomes + outcomes[:, site]
    return index


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

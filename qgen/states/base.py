"""The State and Measurement interfaces every target implements, and the observable notation they share."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError, StateError
from qgen.noise import Channel, apply_to_povm, spec_of
from qgen.povm import POVM

__all__ = [
    "State",
    "Measurement",
    "parse_observable",
    "as_outcomes",
    "all_outcomes",
    "resolve_device",
    "MAX_ENUMERATION",
]

# Largest number of outcome strings any exact enumeration will build (float64: 512 MiB).
MAX_ENUMERATION = 2**26


def resolve_device(device: Any = None) -> torch.device:
    """A torch device from None (CPU), "auto" (CUDA when present), a name or a device."""
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise StateError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or 'auto'") from None


def parse_observable(observable: Any, n_qubits: int) -> list[tuple[complex, str]]:
    """An observable as a list of (coefficient, Pauli string) terms.

    Args:
        observable: a Pauli string of n_qubits letters among I, X, Y, Z ("XIIZ"), or a dict mapping such
            strings to coefficients (a Hamiltonian).
    """
    if isinstance(observable, str):
        items = [(observable, 1.0)]
    elif isinstance(observable, dict):
        items = list(observable.items())
    else:
        raise StateError(
            f"observable must be a Pauli string or a dict of Pauli strings, got {type(observable).__name__}"
        )
    if not items:
        raise StateError("observable is an empty dict")
    terms = []
    for s, c in items:
        if not isinstance(s, str):
            raise StateError(f"observable term {s!r} is not a string")
        s = s.upper()
        if len(s) != n_qubits or any(ch not in "IXYZ" for ch in s):
            raise StateError(f"Pauli string {s!r} must have exactly {n_qubits} letters among I, X, Y, Z")
        terms.append((complex(c), s))
    return terms


def as_outcomes(outcomes: Any, n_qubits: int, n_outcomes: int, device: torch.device | None = None) -> torch.Tensor:
    """Validate a batch of outcome strings and return it as an int64 tensor of shape (n, N).

    Args:
        outcomes: (n, N) or (N,) integers with values in [0, K).
    """
    if isinstance(outcomes, torch.Tensor):
        t = outcomes
    else:
        arr = np.asarray(outcomes)
        if arr.dtype.kind not in "iub":
            raise StateError(f"outcomes must be integers, got dtype {arr.dtype}")
        t = torch.from_numpy(arr.astype(np.int64, copy=False))
    if t.is_floating_point() or t.is_complex():
        raise StateError(f"outcomes must be integers, got dtype {t.dtype}")
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != n_qubits:
        raise StateError(f"outcomes must have shape (n, {n_qubits}), got {tuple(t.shape)}")
    t = t.to(dtype=torch.int64, device=device)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n_outcomes):
        raise StateError(f"outcomes must lie in [0, {n_outcomes}), got values in [{int(t.min())}, {int(t.max())}]")
    return t


def all_outcomes(n_outcomes: int, n_qubits: int, device: Any = None) -> torch.Tensor:
    """Every string of n_qubits symbols out of n_outcomes, lexicographic (site 0 most significant)."""
    total = n_outcomes**n_qubits
    if total > MAX_ENUMERATION:
        raise MetricError(
            f"enumerating {n_outcomes}^{n_qubits} = {total:.3g} strings exceeds the limit of {MAX_ENUMERATION}"
        )
    idx = torch.arange(total, device=resolve_device(device))
    powers = n_outcomes ** torch.arange(n_qubits - 1, -1, -1, device=idx.device)
    return (idx.unsqueeze(1) // powers) % n_outcomes


class State(ABC):
    """A quantum state of n_qubits qubits that knows its exact observables and measurement statistics."""

    n_qubits: int
    #: JSON-able record that rebuilds this state through qgen.states.from_spec (None for user data).
    spec: dict[str, Any] | None = None

    @abstractmethod
    def expectation(self, observable: str | dict[str, complex]) -> float:
        """Exact <O> for a Pauli string ("XIIZ") or a dict of Pauli strings to coefficients."""

    @abstractmethod
    def measured(self, povm: POVM | str, noise: Channel | None = None, *, device: Any = None) -> Measurement:
        """The exact outcome distribution of measuring every qubit with `povm` after local `noise`."""

    @property
    @abstractmethod
    def is_pure(self) -> bool:
        """True for a state vector or a pure MPS."""


class Measurement(ABC):
    """The exact outcome distribution P(a) = Tr[(M_a0 x ... x M_aN-1) rho] of a state under a local POVM.

    Attributes:
        state: the measured State.
        ideal_povm: the POVM as the experimenter meant it.
        povm: the POVM as applied, noise folded in.
        noise: the local channel applied before the measurement, or None.
    """

    likelihood = "exact"

    def __init__(self, state: State, povm: POVM | str, noise: Channel | None = None, device: Any = None):
        self.state = state
        self.ideal_povm = POVM.from_spec(povm)
        self.noise = noise
        self.povm = apply_to_povm(self.ideal_povm, noise)
        self.device = resolve_device(device)
        self.n_qubits = state.n_qubits

    @property
    def n_outcomes(self) -> int:
        return self.povm.n_outcomes

    @property
    def noise_spec(self) -> list[dict[str, Any]]:
        return spec_of(self.noise)

    @abstractmethod
    def log_prob(self, outcomes: Any) -> torch.Tensor:
        """Exact log P(a), float64, shape (n,), for outcomes of shape (n, N) with values in [0, K)."""

    @abstractmethod
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact samples, an int64 tensor of shape (n, N); the same generator state gives the same bits.

        For dense states the bits can depend on n as well as on the generator: the first m rows of sample(n) are
        not sample(m), because the sampler draws site by site across the whole batch; take subsets of one draw,
        not new draws. MPS measurements draw their uniforms sample by sample, so there the first m rows of
        sample(n) are sample(m), whatever the chunk size and thread count.
        """

    def prob(self, outcomes: Any) -> torch.Tensor:
        """Exact P(a), float64, shape (n,)."""
        return self.log_prob(outcomes).exp()

    def probabilities(self) -> torch.Tensor:
        """P over all K^N strings in lexicographic order (site 0 most significant), float64, shape (K^N,)."""
        strings = all_outcomes(self.n_outcomes, self.n_qubits, self.device)
        chunk = 1 << 16
        return torch.cat([self.prob(strings[i : i + chunk]) for i in range(0, len(strings), chunk)])

    def _check_n(self, n: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise StateError(f"number of samples must be a non-negative integer, got {n!r}")
        return int(n)

    def __repr__(self) -> str:
        noise = f", noise={self.noise!r}" if self.noise is not None else ""
        return f"{type(self).__name__}(n_qubits={self.n_qubits}, povm={self.povm.name!r}{noise})"


def log_total(n_outcomes: int, n_qubits: int) -> float:
    """log(K^N), the size of the outcome space, without overflow."""
    return n_qubits * math.log(n_outcomes)

"""The State interface every target implements: exact observables, and the arrow to its measurement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from qgen.pauli import parse_observable

if TYPE_CHECKING:
    from qgen.measurement.base import Measurement
    from qgen.measurement.noise import Channel
    from qgen.measurement.povm import POVM

__all__ = ["State", "parse_observable"]


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

"""Targets: quantum states with exact observables and exact measurement statistics."""

from __future__ import annotations

from qgen.states.base import Measurement, State, all_outcomes, parse_observable
from qgen.states.dense import DenseMeasurement, DenseState
from qgen.states.hamiltonians import hamiltonian_of, tfim_hamiltonian, xxz_hamiltonian
from qgen.states.library import STATE_NAMES, from_spec, ghz, graph, product, tfim, w, xxz

__all__ = [
    "State",
    "Measurement",
    "DenseState",
    "DenseMeasurement",
    "from_vector",
    "from_density_matrix",
    "from_qutip",
    "ghz",
    "w",
    "product",
    "graph",
    "tfim",
    "xxz",
    "from_spec",
    "tfim_hamiltonian",
    "xxz_hamiltonian",
    "hamiltonian_of",
    "all_outcomes",
    "parse_observable",
    "STATE_NAMES",
]


def from_vector(vector, *, normalize: bool = False) -> DenseState:
    """A pure target from a state vector of length 2^N (site 0 most significant)."""
    return DenseState.normalized(vector) if normalize else DenseState(vector=vector)


def from_density_matrix(rho) -> DenseState:
    """A mixed target from a 2^N x 2^N density matrix."""
    return DenseState(density_matrix=rho)


def from_qutip(qobj) -> DenseState:
    """A target from a qutip ket or density matrix."""
    return DenseState.from_qutip(qobj)

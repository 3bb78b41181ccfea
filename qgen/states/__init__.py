"""Targets: quantum states with exact observables and exact measurement statistics."""

from __future__ import annotations

from qgen.pauli import parse_observable
from qgen.states.base import State
from qgen.states.dense import DenseState
from qgen.states.dmrg import tfim_mps, xxz_mps
from qgen.states.exact_mps import ghz_mps, graph_mps
from qgen.states.free_fermions import tfim_free_fermion_correlators, tfim_free_fermion_energy
from qgen.states.hamiltonians import hamiltonian_of, tfim_hamiltonian, xxz_hamiltonian
from qgen.states.lattice2d import heisenberg2d_hamiltonian, heisenberg2d_mps
from qgen.states.library import (
    STATE_NAMES,
    from_density_matrix,
    from_qutip,
    from_spec,
    from_vector,
    ghz,
    graph,
    heisenberg2d,
    product,
    tfim,
    w,
    xxz,
)
from qgen.states.mps import MPSState
from qgen.states.mps_io import from_quimb, from_tenpy, load_mps, mps_from_text, paper_tfim_to_qgen, save_mps, to_quimb
from qgen.states.reference import reference_values

__all__ = [
    "State",
    "DenseState",
    "MPSState",
    "mps_from_text",
    "paper_tfim_to_qgen",
    "from_quimb",
    "to_quimb",
    "from_tenpy",
    "save_mps",
    "load_mps",
    "tfim_mps",
    "xxz_mps",
    "ghz_mps",
    "graph_mps",
    "tfim_free_fermion_energy",
    "tfim_free_fermion_correlators",
    "reference_values",
    "from_vector",
    "from_density_matrix",
    "from_qutip",
    "ghz",
    "w",
    "product",
    "graph",
    "tfim",
    "xxz",
    "heisenberg2d",
    "heisenberg2d_mps",
    "heisenberg2d_hamiltonian",
    "from_spec",
    "tfim_hamiltonian",
    "xxz_hamiltonian",
    "hamiltonian_of",
    "parse_observable",
    "STATE_NAMES",
]

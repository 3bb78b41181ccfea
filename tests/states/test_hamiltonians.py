"""Exact ground states: NetKet Lanczos against dense diagonalisation and against QuCumber's data."""

from __future__ import annotations

import numpy as np
import pytest

from qgen import StateError
from qgen.data.importers import import_state_vector_text
from qgen.states import from_spec, tfim, tfim_hamiltonian, xxz
from qgen.states.hamiltonians import ground_state, xxz_hamiltonian
from tests.helpers import pauli_matrix_of


def dense_matrix(ham: dict[str, float]) -> np.ndarray:
    return sum(c * pauli_matrix_of(s) for s, c in ham.items())


@pytest.mark.parametrize("boundary", ["open", "periodic"])
@pytest.mark.parametrize("h", [0.5, 1.3])
def test_tfim_lanczos_matches_dense_diagonalisation(h, boundary):
    n = 7
    ham = tfim_hamiltonian(n, h=h, J=0.8, boundary=boundary)
    w, v = np.linalg.eigh(dense_matrix(ham))
    energy, psi = ground_state(ham, n)
    assert abs(energy - w[0]) < 1e-10
    assert abs(abs(np.vdot(v[:, 0], psi)) ** 2 - 1) < 1e-10
    state = tfim(n, h=h, J=0.8, boundary=boundary)
    assert abs(state.expectation(ham) - w[0]) < 1e-10


def test_xxz_lanczos_matches_dense_diagonalisation():
    ham = xxz_hamiltonian(6, delta=0.5, J=1.0)
    w, _ = np.linalg.eigh(dense_matrix(ham))
    state = xxz(6, delta=0.5)
    assert abs(state.expectation(ham) - w[0]) < 1e-10
    assert abs(state.energy - w[0]) < 1e-10


def test_tfim_10_matches_qucumber(reference_dir):
    state = tfim(10, h=1.0, J=1.0, boundary="open")
    assert abs(state.expectation(tfim_hamiltonian(10)) - (-12.38148999965)) < 1e-9
    ref = import_state_vector_text(reference_dir / "qucumber" / "tfim1d_psi.txt")
    fidelity = abs(np.vdot(ref, state.vector)) ** 2 / np.vdot(ref, ref).real
    assert fidelity >= 1 - 1e-9


def test_spec_round_trip_and_errors():
    s = tfim(4, h=0.7, boundary="periodic")
    again = from_spec(s.spec)
    assert abs(np.vdot(s.vector, again.vector)) == pytest.approx(1, abs=1e-12)
    with pytest.raises(StateError, match="boundary"):
        tfim(4, boundary="closed")
    with pytest.raises(StateError, match="unknown state name"):
        from_spec({"name": "cat", "n_qubits": 3})
    with pytest.raises(StateError, match="n_qubits"):
        tfim(1)

"""Exact ground states: the sparse Lanczos against dense diagonalisation, free fermions, NetKet and QuCumber's data."""

from __future__ import annotations

import numpy as np
import pytest

from qgen import StateError
from qgen.data.importers import import_state_vector_text
from qgen.states import from_spec, tfim, tfim_hamiltonian, xxz
from qgen.states.free_fermions import tfim_free_fermion_correlators, tfim_free_fermion_energy
from qgen.states.hamiltonians import ground_state, pauli_sum_matrix, xxz_hamiltonian
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


def random_pauli_sum(n: int, n_terms: int, rng: np.random.Generator) -> dict[str, float]:
    return {"".join(rng.choice(list("IXYZ"), size=n)): float(rng.normal()) for _ in range(n_terms)}


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_pauli_sum_matrix_matches_kronecker_products(n):
    # Random sums include strings with an odd number of Y (imaginary entries) and repeated X patterns.
    rng = np.random.default_rng(n)
    for _ in range(5):
        ham = random_pauli_sum(n, 6, rng)
        matrix = pauli_sum_matrix(ham, n)
        assert np.abs(matrix.toarray() - dense_matrix(ham)).max() < 1e-13
    real = pauli_sum_matrix(tfim_hamiltonian(3, h=0.3, boundary="periodic"), 3)
    assert (
        real.dtype == np.float64 and real.nnz == 4 * 8
    )  # a diagonal (never zero: three bonds) and three flips per row


@pytest.mark.parametrize(
    "ham",
    [
        tfim_hamiltonian(9, h=1.0, J=1.0),
        tfim_hamiltonian(9, h=0.7, J=1.0, boundary="periodic"),
        # An odd XXZ chain has a Kramers doublet; a field on site 0 splits it.
        xxz_hamiltonian(9, delta=0.5, J=1.0) | {"Z" + "I" * 8: 0.3},
        random_pauli_sum(9, 30, np.random.default_rng(7)),
    ],
    ids=["tfim-critical", "tfim-periodic", "xxz", "random-complex"],
)
def test_sparse_lanczos_matches_dense_eigh_beyond_the_dense_cutoff(ham):
    # 9 qubits is past ground_state's dense-eigh cutoff (8), so this runs eigsh against LAPACK's eigh.
    w, v = np.linalg.eigh(dense_matrix(ham))
    assert w[1] - w[0] > 1e-3  # a unique ground state, so the vector is defined up to a phase
    energy, psi = ground_state(ham, 9)
    assert abs(energy - w[0]) < 1e-10
    assert abs(abs(np.vdot(v[:, 0], psi)) ** 2 - 1) < 1e-10
    k = np.argmax(np.abs(psi))
    assert psi[k].imag == 0 and psi[k].real > 0
    again = ground_state(ham, 9)
    assert again[0] == energy and np.array_equal(again[1], psi)  # fixed start vector: the same bits


@pytest.mark.parametrize("h", [0.5, 1.0, 1.5])
def test_tfim_ground_state_matches_free_fermions(h):
    n = 12
    state = tfim(n, h=h, J=1.0)
    assert abs(state.energy - tfim_free_fermion_energy(n, h=h, J=1.0)) < 1e-10
    # The vector itself, through correlators the free-fermion solution gives independently.
    ff = tfim_free_fermion_correlators(n, h=h, J=1.0)
    for i in (0, 5):
        x_i = "I" * i + "X" + "I" * (n - i - 1)
        assert abs(state.expectation(x_i) - ff["X"][i]) < 1e-10
        zz = "I" * i + "Z" + "I" * (n - i - 2) + "Z"
        assert abs(state.expectation(zz) - ff["ZZ"][i, n - 1]) < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize(
    "ham",
    [tfim_hamiltonian(16, h=1.0), tfim_hamiltonian(14, h=0.8, boundary="periodic"), xxz_hamiltonian(14, delta=0.5)],
    ids=["tfim-16", "tfim-14-periodic", "xxz-14"],
)
def test_ground_state_matches_netket_lanczos(ham):
    # Slow: importing NetKet takes 6-16 s here. NetKet builds its own sparse operator from the same Pauli sum.
    import netket as nk

    n = len(next(iter(ham)))
    hilbert = nk.hilbert.Qubit(n)
    strings = list(ham)
    op = nk.operator.PauliStrings(hilbert, strings, [ham[s] for s in strings], dtype=np.float64)
    energies, vectors = nk.exact.lanczos_ed(op, k=1, compute_eigenvectors=True)
    bits = np.asarray(hilbert.all_states(), dtype=np.int64)
    reference = np.zeros(2**n, dtype=np.complex128)
    reference[bits @ (1 << np.arange(n - 1, -1, -1))] = vectors[:, 0]
    energy, psi = ground_state(ham, n)
    assert abs(energy - energies[0]) < 1e-10
    assert abs(abs(np.vdot(reference, psi)) ** 2 - 1) < 1e-10
    if n == 16:
        assert abs(energy - tfim_free_fermion_energy(16)) < 1e-10


def test_pauli_sums_and_sizes_are_checked():
    with pytest.raises(StateError, match="Pauli strings of 3 letters"):
        pauli_sum_matrix({"XX": 1.0}, 3)
    with pytest.raises(StateError, match="Pauli strings"):
        pauli_sum_matrix({"XQ": 1.0}, 2)
    with pytest.raises(StateError, match="hamiltonian\\['ZZ'\\]"):
        pauli_sum_matrix({"ZZ": float("nan")}, 2)
    with pytest.raises(StateError, match="non-empty dict"):
        pauli_sum_matrix({}, 2)
    with pytest.raises(StateError, match="n_qubits"):
        pauli_sum_matrix({"Z": 1.0}, 0)
    with pytest.raises(StateError, match="out of reach"):
        ground_state({"Z" * 25: 1.0}, 25)

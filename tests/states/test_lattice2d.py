"""The 2-D Heisenberg antiferromagnet on a snake path: bonds, MPO and DMRG ground state against exact diagonalisation.

The reference Hamiltonian here is built independently of qgen.states.lattice2d: its bonds come from the lattice
coordinates (x, y) and a snake numbering written out below, and its matrix from Kronecker products of the spin-1/2
matrices. Ground states come from scipy's eigsh on that matrix.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from qgen.errors import StateError
from qgen.states import from_spec, hamiltonian_of, reference_values
from qgen.states.hamiltonians import pauli_sum_matrix
from qgen.states.lattice2d import (
    energy_per_site_ss,
    heisenberg2d_hamiltonian,
    heisenberg2d_mpo,
    heisenberg2d_mps,
    snake_coordinates,
    square_bonds,
)
from qgen.states.library import heisenberg2d

SX = np.array([[0, 1], [1, 0]]) / 2
SY = np.array([[0, -1j], [1j, 0]]) / 2
SZ = np.array([[1, 0], [0, -1]]) / 2


def reference_bonds(lx: int, ly: int, periodic: bool) -> list[tuple[int, int]]:
    """Nearest neighbours of the Lx x Ly lattice, numbered along the snake: row y left-to-right when y is even."""

    def site(x: int, y: int) -> int:
        return y * lx + (x if y % 2 == 0 else lx - 1 - x)

    bonds = set()
    for y in range(ly):
        for x in range(lx):
            if x + 1 < lx or periodic:
                bonds.add(frozenset((site(x, y), site((x + 1) % lx, y))))
            if y + 1 < ly or periodic:
                bonds.add(frozenset((site(x, y), site(x, (y + 1) % ly))))
    return sorted(tuple(sorted(b)) for b in bonds)


def spin_op(op: np.ndarray, i: int, n: int) -> sp.csr_matrix:
    """op on site i (site 0 the most significant bit), identity elsewhere."""
    return sp.kron(sp.kron(sp.identity(2**i), sp.csr_matrix(op)), sp.identity(2 ** (n - 1 - i)), format="csr")


def reference_hamiltonian(lx: int, ly: int, periodic: bool) -> sp.csr_matrix:
    """sum_<ij> S_i . S_j (spin-1/2 units, J = 1) as a sparse matrix."""
    n = lx * ly
    ops = [[spin_op(s, i, n) for i in range(n)] for s in (SX, SY, SZ)]
    h = sp.csr_matrix((2**n, 2**n), dtype=complex)
    for i, j in reference_bonds(lx, ly, periodic):
        for a in range(3):
            h = h + ops[a][i] @ ops[a][j]
    return h


def exact_ground_state(lx: int, ly: int, periodic: bool) -> tuple[float, np.ndarray]:
    vals, vecs = eigsh(reference_hamiltonian(lx, ly, periodic), k=2, which="SA", tol=1e-13)
    order = np.argsort(vals)
    assert vals[order[1]] - vals[order[0]] > 1e-3  # a unique ground state (Lieb-Mattis), so its vector is defined
    return float(vals[order[0]]), vecs[:, order[0]]


def spin_correlations(psi: np.ndarray, n: int) -> np.ndarray:
    """<S_i . S_j> for every pair of a dense state (n, n): Z Z from the bits, X X + Y Y = 2 (s+ s- + s- s+)."""
    idx = np.arange(2**n)
    bits = (idx[:, None] >> (n - 1 - np.arange(n))) & 1
    out = np.zeros((n, n))
    prob = np.abs(psi) ** 2
    for i in range(n):
        for j in range(i + 1, n):
            zz = np.sum(prob * (1 - 2 * (bits[:, i] ^ bits[:, j])))
            flipped = idx ^ (1 << (n - 1 - i)) ^ (1 << (n - 1 - j))
            differ = bits[:, i] != bits[:, j]
            hop = 2 * np.sum(np.conj(psi[differ]) * psi[flipped[differ]]).real
            out[i, j] = out[j, i] = (zz + hop) / 4
    return out


def test_snake_path_steps_between_neighbours():
    for lx, ly in ((2, 2), (3, 4), (8, 8), (5, 3)):
        xy = snake_coordinates(lx, ly)
        assert sorted(map(tuple, xy.tolist())) == [(x, y) for x in range(lx) for y in range(ly)]
        assert np.all(np.abs(np.diff(xy, axis=0)).sum(axis=1) == 1)


@pytest.mark.parametrize(
    "lx,ly,boundary", [(2, 2, "open"), (3, 4, "open"), (8, 8, "open"), (3, 4, "periodic"), (8, 8, "periodic")]
)
def test_bonds_match_the_lattice(lx, ly, boundary):
    periodic = boundary == "periodic"
    bonds = square_bonds(lx, ly, boundary)
    assert bonds == reference_bonds(lx, ly, periodic)
    n = lx * ly
    assert len(bonds) == (2 * n if periodic else ly * (lx - 1) + lx * (ly - 1))


@pytest.mark.parametrize("lx,ly,boundary", [(3, 3, "open"), (2, 3, "open"), (3, 3, "periodic")])
def test_mpo_equals_the_reference_hamiltonian(lx, ly, boundary):
    dense = heisenberg2d_mpo(lx, ly, J=0.7, boundary=boundary).to_dense()
    ref = 4 * 0.7 * reference_hamiltonian(lx, ly, boundary == "periodic").toarray()  # Pauli form = 4 J S.S
    assert np.abs(dense - ref).max() < 1e-12
    # The automaton keeps 3 channels per open site: 3 Lx + 2 for open boundaries.
    if boundary == "open":
        assert heisenberg2d_mpo(lx, ly).max_bond() <= 3 * lx + 2


def test_pauli_sum_equals_the_reference_hamiltonian():
    m = pauli_sum_matrix(heisenberg2d_hamiltonian(3, 3, J=1.3, boundary="periodic"), 9)
    m = m.toarray() if hasattr(m, "toarray") else np.asarray(m)
    assert np.abs(m - 4 * 1.3 * reference_hamiltonian(3, 3, True).toarray()).max() < 1e-12


@pytest.mark.parametrize(
    "lx,ly,boundary,max_bond",
    [(3, 4, "open", 64), (3, 4, "periodic", 64), pytest.param(4, 4, "open", 256, marks=pytest.mark.slow)],
)
def test_dmrg_equals_exact_diagonalisation(lx, ly, boundary, max_bond):
    """At a bond dimension that holds the exact state (2^(N/2)), energy and every <S_i.S_j> to 1e-8."""
    n = lx * ly
    e0, psi0 = exact_ground_state(lx, ly, boundary == "periodic")
    state = heisenberg2d_mps(lx, ly, boundary=boundary, max_bond=max_bond, cache=False)
    assert state.dmrg["converged"]
    assert abs(state.energy / 4 - e0) < 1e-8 * n  # Pauli form / 4 = S.S units
    assert abs(state.expectation(heisenberg2d_hamiltonian(lx, ly, boundary=boundary)) - state.energy) < 1e-8 * n
    psi = state.to_dense()
    assert abs(abs(np.vdot(psi0, psi)) - 1) < 1e-8
    assert np.abs(spin_correlations(psi, n) - spin_correlations(psi0, n)).max() < 1e-8
    assert state.spec == {"name": "heisenberg2d", "n_qubits": n, "Lx": lx, "Ly": ly, "J": 1.0, "boundary": boundary}


def test_periodic_4x4_energy_is_the_published_exact_value():
    """E/N = -0.7017802 J for the 4 x 4 torus (exact diagonalisation: H. J. Schulz, T. A. L. Ziman and
    D. Poilblanc, J. Phys. I France 6, 675 (1996), Table 1: E_0 = -11.228483 for N = 16)."""
    state = heisenberg2d(Lx=4, Ly=4, boundary="periodic", representation="dense")
    assert abs(energy_per_site_ss(state.energy, 16) - (-11.228483 / 16)) < 1e-7


def test_library_dense_and_mps_agree_and_rebuild_from_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    dense = heisenberg2d(12, Lx=3, Ly=4)
    mps = heisenberg2d(Lx=3, Ly=4, representation="mps", max_bond=64)
    assert abs(dense.energy - mps.energy) < 1e-8
    assert dense.spec == mps.spec
    assert abs(abs(np.vdot(dense.vector, mps.to_dense())) - 1) < 1e-8
    cached = heisenberg2d(Lx=3, Ly=4, representation="mps", max_bond=64)  # read back from the cache folder
    assert cached.dmrg["cached"] and abs(cached.energy - mps.energy) < 1e-12
    assert abs(from_spec(dense.spec).energy - dense.energy) < 1e-10
    square = heisenberg2d(16, representation="dense")
    assert (square.spec["Lx"], square.spec["Ly"]) == (4, 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_qubits": 12}, "not a square"),
        ({"Lx": 3}, "both Lx and Ly"),
        ({"Lx": 3, "Ly": 4, "n_qubits": 16}, "does not match"),
        ({"Lx": 2, "Ly": 4, "boundary": "periodic"}, "periodic lattice needs"),
        ({"Lx": 3, "Ly": 3, "boundary": "cyclic"}, "boundary"),
        ({"Lx": 1, "Ly": 3}, "Lx"),
        ({"Lx": 3, "Ly": 3, "J": float("nan")}, "J"),
        ({}, "give Lx and Ly"),
    ],
)
def test_bad_lattices_are_refused(kwargs, match):
    with pytest.raises(StateError, match=match):
        heisenberg2d(**kwargs)


def test_dmrg_arguments_are_checked():
    with pytest.raises(StateError, match="max_bond"):
        heisenberg2d_mps(3, 3, max_bond=1, cache=False)
    with pytest.raises(StateError, match="tol"):
        heisenberg2d_mps(3, 3, tol=-1.0, cache=False)
    with pytest.raises(StateError, match="did not converge"):
        heisenberg2d_mps(4, 4, max_bond=8, tol=1e-14, max_sweeps=2, cache=False)


def test_unconverged_states_are_cached_only_for_lenient_callers(tmp_path, monkeypatch):
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    args = {"max_bond": 8, "tol": 1e-14, "max_sweeps": 2}
    first = heisenberg2d_mps(4, 4, strict=False, **args)
    assert not first.dmrg["converged"] and not first.dmrg["cached"] and first.dmrg["sweeps"] == 2
    again = heisenberg2d_mps(4, 4, strict=False, **args)
    assert again.dmrg["cached"] and not again.dmrg["converged"] and again.energy == first.energy
    with pytest.raises(StateError, match="did not converge"):  # a strict caller recomputes, and fails the same way
        heisenberg2d_mps(4, 4, **args)


def test_truncated_dmrg_is_reproducible():
    a, b = (heisenberg2d_mps(4, 4, max_bond=8, cache=False, strict=False, max_sweeps=4) for _ in range(2))
    assert a.energy == b.energy and all(np.array_equal(x, y) for x, y in zip(a.tensors, b.tensors))


@pytest.mark.parametrize("lx,ly,boundary", [(3, 3, "open"), (4, 2, "open"), (3, 3, "periodic")])
def test_hamiltonian_of_a_spec_is_the_reference_hamiltonian(lx, ly, boundary):
    """hamiltonian_of names the lattice's Pauli sum, and the reference energy of the dense (Lanczos) and DMRG
    ground states is the exact ground energy from dense diagonalisation of the independent matrix, to 1e-8."""
    n, J = lx * ly, 0.7
    ref = 4 * J * reference_hamiltonian(lx, ly, boundary == "periodic").toarray()  # Pauli form = 4 J S.S
    e0 = float(np.linalg.eigvalsh(ref)[0])
    dense = heisenberg2d(Lx=lx, Ly=ly, J=J, boundary=boundary, representation="dense")
    ham = hamiltonian_of(dense.spec)
    assert np.abs(pauli_sum_matrix(ham, n).toarray() - ref).max() < 1e-12
    assert abs(float(reference_values(dense)["energy"]) - e0) < 1e-8
    # A bond dimension of 64 holds these lattices' exact states (2^(N/2) <= 23).
    mps = heisenberg2d_mps(lx, ly, J=J, boundary=boundary, max_bond=64, cache=False)
    energy = float(reference_values(mps)["energy"])
    assert abs(energy - mps.energy) < mps.dmrg["tol"]  # <H> of the stored MPS against DMRG's own energy
    assert abs(energy - e0) < 1e-8


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_qubits": 12}, "not a square"),
        ({"Lx": 3}, "both Lx and Ly"),
        ({"Lx": 3, "Ly": 4, "n_qubits": 16}, "does not match"),
        ({"Lx": 2, "Ly": 4, "boundary": "periodic"}, "periodic lattice needs"),
        ({"n_qubits": 4, "boundary": "periodic"}, "periodic lattice needs"),
        ({"Lx": 3, "Ly": 3, "boundary": "cyclic"}, "boundary"),
        ({"Lx": 1, "Ly": 3}, "Lx"),
        ({"n_qubits": 2}, "n_qubits"),
        ({"Lx": 3, "Ly": 3, "J": float("nan")}, "J"),
        ({}, "give Lx and Ly"),
    ],
)
def test_hamiltonian_of_refuses_what_the_library_refuses_in_its_words(kwargs, match):
    with pytest.raises(StateError, match=match) as from_library:
        heisenberg2d(**kwargs)
    with pytest.raises(StateError, match=match) as from_spec_:
        hamiltonian_of({"name": "heisenberg2d", **kwargs})
    assert str(from_spec_.value) == str(from_library.value)


def test_hamiltonian_of_reads_every_form_of_the_spec():
    square = heisenberg2d_hamiltonian(4, 4)
    assert hamiltonian_of({"name": "heisenberg2d", "n_qubits": 16}) == square
    assert hamiltonian_of({"name": "heisenberg2d", "Lx": 4, "Ly": 4}) == square
    rect = {"name": "heisenberg2d", "n_qubits": 12, "Lx": 4, "Ly": 3, "J": 0.5, "boundary": "periodic"}
    assert hamiltonian_of(rect) == heisenberg2d_hamiltonian(4, 3, J=0.5, boundary="periodic")
    assert hamiltonian_of(rect) != heisenberg2d_hamiltonian(3, 4, J=0.5, boundary="periodic")  # the snake differs
    # The spec a state records names its own Hamiltonian: <H> is its energy.
    state = heisenberg2d(Lx=2, Ly=3, J=1.3)
    assert abs(state.expectation(hamiltonian_of(state.spec)) - state.energy) < 1e-10

"""Spin-chain Hamiltonians as Pauli sums, and their exact ground states for small chains (sparse Lanczos).

Conventions (DESIGN.md): transverse-field Ising H = -J sum Z_i Z_{i+1} - h sum X_i; XXZ
H = J sum (X_i X_{i+1} + Y_i Y_{i+1} + delta Z_i Z_{i+1}) (delta = 1: the Heisenberg chain, antiferromagnetic
for J > 0). Pauli matrices, not spin-1/2 operators. The ground states come from qgen's own sparse matrix
(scipy, no NetKet import: that alone took 16 s); the tests check them against NetKet's Lanczos, to which qgen
hands the Pauli sum itself (NetKet's `Ising` uses +J ZZ), and against the free-fermion energy.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from qgen.errors import StateError
from qgen.strings import positive_int

__all__ = [
    "tfim_hamiltonian",
    "xxz_hamiltonian",
    "ground_state",
    "pauli_sum_matrix",
    "tfim_ground_state",
    "check_boundary",
    "hamiltonian_of",
    "check_parameter",
]

BOUNDARIES = ("open", "periodic")


def check_boundary(boundary: str) -> str:
    if boundary not in BOUNDARIES:
        raise StateError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    return boundary


def check_parameter(value: Any, name: str) -> float:
    """A physics parameter (field, coupling, anisotropy) as a finite float, or a StateError naming it.

    NaN slips through every comparison and an infinite field makes every energy infinite, so both are refused
    where the number enters rather than showing up later as a silently wrong result.

    Example:
        >>> check_parameter(0.5, "h")
        0.5
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise StateError(f"{name} must be a finite real number, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(v):
        raise StateError(f"{name} must be a finite real number, got {value!r}")
    return v


def _bonds(n_qubits: int, boundary: str) -> list[tuple[int, int]]:
    check_boundary(boundary)
    n_qubits = positive_int(n_qubits, "n_qubits (a chain)", minimum=2, error=StateError)
    bonds = [(i, i + 1) for i in range(n_qubits - 1)]
    if boundary == "periodic" and n_qubits > 2:
        bonds.append((n_qubits - 1, 0))
    return bonds


def _two_site(n: int, i: int, j: int, letter: str) -> str:
    s = ["I"] * n
    s[i] = s[j] = letter
    return "".join(s)


def _add(ham: dict[str, float], key: str, value: float) -> None:
    ham[key] = ham.get(key, 0.0) + value


def tfim_hamiltonian(n_qubits: int, h: float = 1.0, J: float = 1.0, boundary: str = "open") -> dict[str, float]:
    """H = -J sum_<ij> Z_i Z_j - h sum_i X_i as a dict of Pauli strings to coefficients."""
    h, J = check_parameter(h, "h"), check_parameter(J, "J")
    ham: dict[str, float] = {}
    for i, j in _bonds(n_qubits, boundary):
        _add(ham, _two_site(n_qubits, i, j, "Z"), -float(J))
    for i in range(n_qubits):
        _add(ham, "I" * i + "X" + "I" * (n_qubits - i - 1), -float(h))
    return ham


def xxz_hamiltonian(n_qubits: int, delta: float = 1.0, J: float = 1.0, boundary: str = "open") -> dict[str, float]:
    """H = J sum_<ij> (X_i X_j + Y_i Y_j + delta Z_i Z_j) as a dict of Pauli strings to coefficients."""
    delta, J = check_parameter(delta, "delta"), check_parameter(J, "J")
    ham: dict[str, float] = {}
    for i, j in _bonds(n_qubits, boundary):
        for letter, c in (("X", J), ("Y", J), ("Z", J * delta)):
            _add(ham, _two_site(n_qubits, i, j, letter), float(c))
    return ham


def pauli_sum_matrix(hamiltonian: dict[str, float], n_qubits: int) -> Any:
    """A Pauli sum as a scipy.sparse CSR matrix of size 2^N, built with bit operations over the whole basis.

    A Pauli string acts on a basis state as P|b> = i^{n_Y} (-1)^{popcount(b & z)} |b ^ x>, where x marks its
    X and Y letters and z its Z and Y letters (Y = iXZ). Terms sharing x fill the same 2^N entries, so row b
    holds one entry per distinct x (N + 1 for the Ising chain) and the matrix is built in O(terms * 2^N)
    vectorised operations. The basis is qgen's (site 0 the most significant bit); the matrix is real
    (float64) where every entry is.

    Example:
        >>> pauli_sum_matrix({"ZI": 1.0, "XX": 0.5}, 2).toarray()
        array([[ 1. ,  0. ,  0. ,  0.5],
               [ 0. ,  1. ,  0.5,  0. ],
               [ 0. ,  0.5, -1. ,  0. ],
               [ 0.5,  0. ,  0. , -1. ]])
    """
    import scipy.sparse

    n = positive_int(n_qubits, "n_qubits", error=StateError)
    if not isinstance(hamiltonian, dict) or not hamiltonian:
        raise StateError(f"hamiltonian must be a non-empty dict of Pauli strings to coefficients, got {hamiltonian!r}")
    groups: dict[int, list[tuple[int, complex]]] = {}
    for string, coefficient in hamiltonian.items():
        if not isinstance(string, str) or len(string) != n or set(string) - set("IXYZ"):
            raise StateError(f"hamiltonian keys must be Pauli strings of {n} letters from IXYZ, got {string!r}")
        c = check_parameter(coefficient, f"hamiltonian[{string!r}]")
        x = z = 0
        for site, letter in enumerate(string):
            bit = 1 << (n - 1 - site)
            x |= bit if letter in "XY" else 0
            z |= bit if letter in "ZY" else 0
        groups.setdefault(x, []).append((z, c * 1j ** string.count("Y")))
    dim = 1 << n
    basis = np.arange(dim, dtype=np.int32 if n < 31 else np.int64)
    real = all(c.imag == 0 for terms in groups.values() for _, c in terms)
    indices = np.empty((dim, len(groups)), dtype=basis.dtype)
    data = np.empty((dim, len(groups)), dtype=np.float64 if real else np.complex128)
    for g, (x, terms) in enumerate(groups.items()):
        row = np.zeros(dim, dtype=data.dtype)
        for z, c in terms:
            # (-1)^popcount(b & z): the signs of the Z and Y letters, for every basis state at once.
            odd = (np.bitwise_count(basis & z) & 1).astype(bool)
            c = c.real if real else c
            row += np.where(odd, -c, c)
        # P|b> = phase(b)|b ^ x> puts phase(b) at H[b ^ x, b]; row b of a Hermitian H holds its conjugate.
        indices[:, g] = basis ^ x
        data[:, g] = row if real else row.conj()
    indptr = np.arange(0, dim * len(groups) + 1, len(groups), dtype=np.int64 if n >= 26 else np.int32)
    matrix = scipy.sparse.csr_matrix((data.ravel(), indices.ravel(), indptr), shape=(dim, dim))
    matrix.eliminate_zeros()
    return matrix


# Below this size LAPACK's dense eigh is faster than Lanczos and needs no convergence criterion.
_DENSE_EIGH_QUBITS = 8


def ground_state(hamiltonian: dict[str, float], n_qubits: int) -> tuple[float, np.ndarray]:
    """Lowest eigenvalue and eigenvector of a Pauli sum by exact diagonalisation.

    Up to 8 qubits the dense matrix goes to LAPACK's eigh. Beyond, the sparse matrix of `pauli_sum_matrix`
    goes to scipy.sparse.linalg.eigsh (ARPACK's implicitly restarted Lanczos, which="SA") with tol=0: the
    Ritz value converged to machine precision relative to the eigenvalue, so the residual
    ||H psi - E psi|| is about 1e-15 |E| and the vector's error about that over the spectral gap (a nearly
    degenerate ground state, as in the Ising chain deep in its ordered phase, is fixed only that well). The
    start vector comes from a fixed seed, so the same call gives the same bits. The residual is checked
    against 1e-9 max(1, |E|) and a StateError raised beyond it.

    The vector is in qgen's order (site 0 most significant), with the phase fixed so that its largest
    component is real and positive.

    Example:
        >>> energy, psi = ground_state({"ZZ": -1.0, "XI": -0.5, "IX": -0.5}, 2)
        >>> bool(abs(energy + np.sqrt(1.0 + 4 * 0.5**2)) < 1e-12)  # two sites: -sqrt(J^2 + 4 h^2)
        True
    """
    n = positive_int(n_qubits, "n_qubits", error=StateError)
    if n > 24:
        raise StateError(f"exact diagonalisation of {n} qubits is out of reach: use representation='mps'")
    matrix = pauli_sum_matrix(hamiltonian, n)
    if n <= _DENSE_EIGH_QUBITS:
        values, vectors = np.linalg.eigh(matrix.toarray())
        energy, vec = float(values[0]), vectors[:, 0]
    else:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        v0 = np.random.default_rng(0).standard_normal(matrix.shape[0]).astype(matrix.dtype)
        try:
            values, vectors = eigsh(matrix, k=1, which="SA", tol=0, v0=v0)
        except ArpackNoConvergence as exc:
            raise StateError(f"Lanczos did not converge for the ground state of {n} qubits: {exc}") from None
        energy, vec = float(values[0]), vectors[:, 0]
        residual = float(np.linalg.norm(matrix @ vec - energy * vec))
        if residual > 1e-9 * max(1.0, abs(energy)):
            raise StateError(f"Lanczos ground state of {n} qubits has residual {residual:.2e}: not converged")
    psi = np.asarray(vec, dtype=np.complex128)
    k = int(np.argmax(np.abs(psi)))
    psi *= abs(psi[k]) / psi[k]
    psi /= np.linalg.norm(psi)
    psi[k] = abs(psi[k])  # exactly real: the rotation above leaves a rounding-sized imaginary part
    return energy, psi


@lru_cache(maxsize=32)
def _tfim_cached(n_qubits: int, h: float, J: float, boundary: str) -> tuple[float, np.ndarray]:
    energy, psi = ground_state(tfim_hamiltonian(n_qubits, h, J, boundary), n_qubits)
    psi.setflags(write=False)
    return energy, psi


def tfim_ground_state(
    n_qubits: int, h: float = 1.0, J: float = 1.0, boundary: str = "open"
) -> tuple[float, np.ndarray]:
    """Exact ground-state energy and vector of the transverse-field Ising chain (cached per process)."""
    h, J = check_parameter(h, "h"), check_parameter(J, "J")
    return _tfim_cached(int(n_qubits), h, J, check_boundary(boundary))


def hamiltonian_of(spec: dict | None) -> dict[str, float] | None:
    """The Pauli-sum Hamiltonian a state spec names (its ground state's), or None for other states."""
    if not spec:
        return None
    n = spec.get("n_qubits")
    if spec.get("name") == "tfim":
        return tfim_hamiltonian(n, spec.get("h", 1.0), spec.get("J", 1.0), spec.get("boundary", "open"))
    if spec.get("name") == "xxz":
        return xxz_hamiltonian(n, spec.get("delta", 1.0), spec.get("J", 1.0), spec.get("boundary", "open"))
    return None

"""Spin Hamiltonians (chains, the square lattice) as Pauli sums, and exact ground states of small ones (Lanczos).

Conventions (DESIGN.md): transverse-field Ising H = -J sum Z_i Z_{i+1} - h sum X_i; XXZ
H = J sum (X_i X_{i+1} + Y_i Y_{i+1} + delta Z_i Z_{i+1}) (delta = 1: the Heisenberg chain, antiferromagnetic
for J > 0); the square-lattice Heisenberg antiferromagnet H = J sum_<ij> (X_i X_j + Y_i Y_j + Z_i Z_j) over the
nearest-neighbour bonds of an Lx x Ly lattice, sites numbered along a snake path. Pauli matrices, not spin-1/2
operators. The lattice and its Pauli sum live here rather than in qgen.states.lattice2d (its MPO and DMRG
ground state) so that `hamiltonian_of` builds it without importing that module, which imports this one.

The ground states come from qgen's own sparse matrix (scipy, no NetKet import: that alone took 16 s); the tests
check them against NetKet's Lanczos, to which qgen hands the Pauli sum itself (NetKet's `Ising` uses +J ZZ), and
against the free-fermion energy.
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
    "heisenberg2d_hamiltonian",
    "heisenberg2d_lattice",
    "snake_coordinates",
    "square_bonds",
    "ground_state",
    "pauli_sum_matrix",
    "tfim_ground_state",
    "check_boundary",
    "check_lattice",
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


def check_lattice(Lx: Any, Ly: Any, boundary: str) -> tuple[int, int]:
    """The sides of an Lx x Ly square lattice (>= 2 each, >= 3 when periodic) as ints, or a StateError."""
    lx = positive_int(Lx, "Lx", minimum=2, error=StateError)
    ly = positive_int(Ly, "Ly", minimum=2, error=StateError)
    check_boundary(boundary)
    if boundary == "periodic" and min(lx, ly) < 3:
        # A periodic side of 2 would join the same two sites twice.
        raise StateError(f"a periodic lattice needs Lx, Ly >= 3 (got {lx} x {ly}): use boundary='open'")
    return lx, ly


def heisenberg2d_lattice(
    n_qubits: Any = None, Lx: Any = None, Ly: Any = None, boundary: str = "open"
) -> tuple[int, int]:
    """The lattice a `heisenberg2d` state or spec names: Lx and Ly, or only n_qubits = L^2 for an L x L lattice.

    The one parser of those arguments, shared by `qgen.states.library.heisenberg2d` and `hamiltonian_of`, so a
    spec the library accepts names the same Hamiltonian and a spec it refuses is refused with the same message.

    Example:
        >>> heisenberg2d_lattice(16), heisenberg2d_lattice(Lx=3, Ly=4), heisenberg2d_lattice(12, 4, 3)
        ((4, 4), (3, 4), (4, 3))
    """
    if Lx is None and Ly is None:
        if n_qubits is None:
            raise StateError("heisenberg2d: give Lx and Ly, or n_qubits = L^2 for an L x L lattice")
        n = positive_int(n_qubits, "n_qubits", minimum=4, error=StateError)
        side = int(round(np.sqrt(n)))
        if side * side != n:
            raise StateError(f"heisenberg2d: n_qubits={n} is not a square L^2; give Lx and Ly for a rectangle")
        Lx = Ly = side
    elif Lx is None or Ly is None:
        raise StateError(f"heisenberg2d: give both Lx and Ly (got Lx={Lx!r}, Ly={Ly!r})")
    lx = positive_int(Lx, "Lx", minimum=2, error=StateError)
    ly = positive_int(Ly, "Ly", minimum=2, error=StateError)
    if n_qubits is not None and n_qubits != lx * ly:
        raise StateError(f"heisenberg2d: n_qubits={n_qubits} does not match Lx * Ly = {lx} * {ly} = {lx * ly}")
    return check_lattice(lx, ly, boundary)


def snake_coordinates(Lx: int, Ly: int) -> np.ndarray:
    """(x, y) of every site k of the snake path, shape (Lx Ly, 2).

    Site k sits in row y = k // Lx, at column x = k % Lx on even rows and Lx - 1 - k % Lx on odd ones, so
    consecutive sites are always lattice neighbours.

    Example:
        >>> snake_coordinates(3, 2).tolist()
        [[0, 0], [1, 0], [2, 0], [2, 1], [1, 1], [0, 1]]
    """
    lx, ly = check_lattice(Lx, Ly, "open")
    k = np.arange(lx * ly)
    y = k // lx
    x = np.where(y % 2 == 0, k % lx, lx - 1 - k % lx)
    return np.stack([x, y], axis=1)


def square_bonds(Lx: int, Ly: int, boundary: str = "open") -> list[tuple[int, int]]:
    """The nearest-neighbour bonds (i, j), i < j, of the Lx x Ly lattice as snake-path site indices, sorted.

    Example:
        >>> square_bonds(2, 2)
        [(0, 1), (0, 3), (1, 2), (2, 3)]
        >>> len(square_bonds(4, 4)), len(square_bonds(4, 4, "periodic"))
        (24, 32)
    """
    lx, ly = check_lattice(Lx, Ly, boundary)
    xy = snake_coordinates(lx, ly)
    index = {(int(x), int(y)): k for k, (x, y) in enumerate(xy)}
    bonds = set()
    for (x, y), k in index.items():
        for nx, ny in ((x + 1, y), (x, y + 1)):
            if boundary == "periodic":
                nx, ny = nx % lx, ny % ly
            if (nx, ny) in index:
                bonds.add(tuple(sorted((k, index[(nx, ny)]))))
    return sorted(bonds)


def heisenberg2d_hamiltonian(Lx: int, Ly: int, *, J: float = 1.0, boundary: str = "open") -> dict[str, float]:
    """H = J sum_<ij> (X_i X_j + Y_i Y_j + Z_i Z_j) as a dict of Pauli strings (snake order) to coefficients.

    Example:
        >>> h = heisenberg2d_hamiltonian(2, 2)
        >>> len(h), h["XIIX"]
        (12, 1.0)
    """
    J = check_parameter(J, "J")
    lx, ly = check_lattice(Lx, Ly, boundary)
    n = lx * ly
    ham: dict[str, float] = {}
    for i, j in square_bonds(lx, ly, boundary):
        for letter in "XYZ":
            _add(ham, _two_site(n, i, j, letter), J)
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
    """The Pauli-sum Hamiltonian a state spec names (its ground state's), or None for other states.

    Knows "tfim", "xxz" and "heisenberg2d" (Lx and Ly, or n_qubits = L^2, with J and boundary: the keys and
    defaults of qgen.states.library's constructors, and for heisenberg2d the library's own parser). A spec of
    one of these that names no valid Hamiltonian raises the StateError the library would.

    Example:
        >>> h = hamiltonian_of({"name": "heisenberg2d", "n_qubits": 4, "J": 0.5})
        >>> len(h), h["ZZII"]
        (12, 0.5)
        >>> hamiltonian_of({"name": "ghz", "n_qubits": 3}) is None
        True
    """
    if not spec:
        return None
    n = spec.get("n_qubits")
    if spec.get("name") == "tfim":
        return tfim_hamiltonian(n, spec.get("h", 1.0), spec.get("J", 1.0), spec.get("boundary", "open"))
    if spec.get("name") == "xxz":
        return xxz_hamiltonian(n, spec.get("delta", 1.0), spec.get("J", 1.0), spec.get("boundary", "open"))
    if spec.get("name") == "heisenberg2d":
        boundary = spec.get("boundary", "open")
        lx, ly = heisenberg2d_lattice(n, spec.get("Lx"), spec.get("Ly"), boundary)
        return heisenberg2d_hamiltonian(lx, ly, J=spec.get("J", 1.0), boundary=boundary)
    return None

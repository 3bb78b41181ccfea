"""Spin-chain Hamiltonians as Pauli sums, and their exact ground states for small chains (NetKet Lanczos).

Conventions (DESIGN.md): transverse-field Ising H = -J sum Z_i Z_{i+1} - h sum X_i; XXZ
H = J sum (X_i X_{i+1} + Y_i Y_{i+1} + delta Z_i Z_{i+1}) (delta = 1: the Heisenberg chain, antiferromagnetic
for J > 0). Pauli matrices, not spin-1/2 operators. NetKet's `Ising` uses +J ZZ, so qgen hands NetKet the
Pauli sum itself and never relies on another library's sign.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from qgen.errors import StateError

__all__ = [
    "tfim_hamiltonian",
    "xxz_hamiltonian",
    "ground_state",
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
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 2:
        raise StateError(f"a chain needs n_qubits >= 2, got {n_qubits!r}")
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


def ground_state(hamiltonian: dict[str, float], n_qubits: int) -> tuple[float, np.ndarray]:
    """Lowest eigenvalue and eigenvector of a Pauli sum, by NetKet's Lanczos (scipy ARPACK underneath).

    The vector is in qgen's order (site 0 most significant), with the phase fixed so that its largest
    component is real and positive.
    """
    import netket as nk

    if n_qubits > 24:
        raise StateError(f"exact diagonalisation of {n_qubits} qubits is out of reach: use representation='mps'")
    hilbert = nk.hilbert.Qubit(n_qubits)
    strings = list(hamiltonian)
    op = nk.operator.PauliStrings(hilbert, strings, [hamiltonian[s] for s in strings], dtype=np.float64)
    energies, vectors = nk.exact.lanczos_ed(op, k=1, compute_eigenvectors=True)
    vec = np.asarray(vectors[:, 0], dtype=np.complex128)
    # NetKet enumerates its basis in its own order; place each amplitude by its bit string explicitly.
    bits = np.asarray(hilbert.all_states(), dtype=np.int64)
    index = bits @ (1 << np.arange(n_qubits - 1, -1, -1, dtype=np.int64))
    psi = np.zeros_like(vec)
    psi[index] = vec
    k = int(np.argmax(np.abs(psi)))
    psi *= abs(psi[k]) / psi[k]
    return float(energies[0]), psi / np.linalg.norm(psi)


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

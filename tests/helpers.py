"""Helpers shared by the test modules: random states, independent dense references, reference-data paths."""

from __future__ import annotations

from functools import reduce
from pathlib import Path

import numpy as np
import torch

from qgen.pauli import PAULI
from qgen.states.mps import MPSState

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference-data"


def random_density_matrix(n_qubits: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    dim = 2**n_qubits
    a = rng.normal(size=(dim, rank or dim)) + 1j * rng.normal(size=(dim, rank or dim))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


def random_vector(n_qubits: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=2**n_qubits) + 1j * rng.normal(size=2**n_qubits)
    return v / np.linalg.norm(v)


def pauli_matrix_of(string: str) -> np.ndarray:
    op = np.ones((1, 1))
    for ch in string:
        op = np.kron(op, PAULI[ch])
    return op


def random_mps(n: int, chi: int, seed: int, complex_: bool = True) -> MPSState:
    rng = np.random.default_rng(seed)
    dims = [1] + [min(chi, 2 ** min(i, n - i)) for i in range(1, n)] + [1]
    tensors = []
    for i in range(n):
        t = rng.normal(size=(dims[i], 2, dims[i + 1]))
        if complex_:
            t = t + 1j * rng.normal(size=t.shape)
        tensors.append(t)
    return MPSState(tensors)


def tfim_vector(n: int, h: float, J: float = 1.0) -> np.ndarray:
    """Ground state of H = -J sum Z_i Z_{i+1} - h sum X_i (open chain), by dense diagonalisation."""
    H = np.zeros((2**n, 2**n))
    for i in range(n - 1):
        H -= J * reduce(np.kron, [PAULI["Z"].real if k in (i, i + 1) else np.eye(2) for k in range(n)])
    for i in range(n):
        H -= h * reduce(np.kron, [PAULI["X"].real if k == i else np.eye(2) for k in range(n)])
    return np.linalg.eigh(H)[1][:, 0].astype(np.complex128)


def tfim_hamiltonian_dict(n: int, h: float, J: float = 1.0) -> dict[str, float]:
    ham = {}
    for i in range(n - 1):
        ham["".join("Z" if k in (i, i + 1) else "I" for k in range(n))] = -J
    for i in range(n):
        ham["".join("X" if k == i else "I" for k in range(n))] = -h
    return ham


SITE_PROBS = torch.tensor(
    [[0.70, 0.10, 0.10, 0.10], [0.10, 0.60, 0.20, 0.10], [0.25, 0.25, 0.25, 0.25], [0.05, 0.05, 0.10, 0.80]],
    dtype=torch.float64,
)


def product_samples(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    columns = [torch.multinomial(p, n, replacement=True, generator=g) for p in SITE_PROBS]
    return torch.stack(columns, dim=1).to(torch.uint8)

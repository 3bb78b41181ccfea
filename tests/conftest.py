"""Shared fixtures: random states, the reference data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# `make test` runs two pytest-xdist workers on two cores: one torch thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

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


@pytest.fixture
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE

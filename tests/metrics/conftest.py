"""Fixtures shared by the metrics tests: two Ising ground states on N = 4 and independent dense references."""

from __future__ import annotations

import itertools
from functools import reduce

import numpy as np
import pytest
import torch

from qgen.states.dense import DenseState
from tests.helpers import tfim_vector

N = 4


def _numpy_probabilities(rho: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """P(a) = Tr[(M_a0 x ... x M_aN-1) rho] for all K^N strings, lexicographic, by explicit Kronecker products."""
    n = int(np.log2(rho.shape[0]))
    strings = itertools.product(range(len(elements)), repeat=n)
    return np.array([np.trace(reduce(np.kron, [elements[a] for a in s]) @ rho).real for s in strings])


class Float32Model:
    """A stand-in model with an exact likelihood computed in float32, as neural models do."""

    likelihood = "exact"

    def __init__(self, measurement):
        self.m, self.n_qubits, self.n_outcomes = measurement, measurement.n_qubits, measurement.n_outcomes

    def log_prob(self, x):
        return self.m.log_prob(x).to(torch.float32)

    def sample(self, n, *, generator=None):
        return self.m.sample(n, generator=generator)


class SamplesOnly(Float32Model):
    """A model whose log_prob is not a likelihood (a GAN, say): metrics must not use it."""

    likelihood = "none"

    def log_prob(self, x):
        return torch.full((len(x),), float("nan"))


@pytest.fixture(scope="session")
def numpy_probabilities():
    """The brute-force Kronecker-product reference for P(a)."""
    return _numpy_probabilities


@pytest.fixture(scope="session")
def float32_model():
    return Float32Model


@pytest.fixture(scope="session")
def samples_only():
    return SamplesOnly


@pytest.fixture(scope="module")
def ising():
    """{h: (DenseState, its tetra Measurement)} for the N = 4 Ising chain at h = 1.0 and h = 1.3."""
    states = {h: DenseState(vector=tfim_vector(N, h)) for h in (1.0, 1.3)}
    return {h: (s, s.measured("tetra")) for h, s in states.items()}


@pytest.fixture(scope="module")
def samples(ising):
    """20,000 exact samples of the h = 1.0 chain's tetra measurement, numpy int64 (n, 4)."""
    _, m = ising[1.0]
    return m.sample(20_000, generator=torch.Generator().manual_seed(11)).numpy()

"""Tests of qgen.metrics.fidelity: projection onto the physical states and the quantum fidelity of reconstructions."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from qgen.errors import MetricError
from qgen.measurement.noise import depolarizing
from qgen.measurement.povm import PAULI
from qgen.metrics import project_to_physical, quantum_fidelity
from qgen.states.dense import DenseState
from qgen.states.mps import MPSState
from tests.helpers import tfim_vector


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex by sorting (an independent reference)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    k = np.nonzero(u * np.arange(1, len(v) + 1) > css - 1)[0][-1]
    return np.maximum(v - (css[k] - 1) / (k + 1), 0)


def test_projection_example_of_smolin_et_al():
    # PRL 108, 070502 (2012): mu = (3/5, 1/2, 7/20, 1/10, -11/20) -> lambda = (9/20, 7/20, 1/5, 0, 0).
    rng = np.random.default_rng(0)
    u = np.linalg.qr(rng.normal(size=(5, 5)) + 1j * rng.normal(size=(5, 5)))[0]
    mu = np.array([3 / 5, 1 / 2, 7 / 20, 1 / 10, -11 / 20])
    rho = project_to_physical((u * mu) @ u.conj().T)
    lam = np.sort(np.linalg.eigvalsh(rho))[::-1]
    assert np.allclose(lam, [9 / 20, 7 / 20, 1 / 5, 0, 0], atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_projection_is_the_simplex_projection_of_the_spectrum(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    h = (a + a.conj().T) / 2
    h = h / np.trace(h).real if np.trace(h).real > 0 else h + (1 - np.trace(h).real) / 8 * np.eye(8)
    rho = project_to_physical(h)
    w, v = np.linalg.eigh(h)
    expected = (v * simplex_projection(w)) @ v.conj().T
    assert np.allclose(rho, expected, atol=1e-12)
    assert abs(np.trace(rho) - 1) < 1e-12 and np.linalg.eigvalsh(rho).min() > -1e-12


def test_quantum_fidelity_of_exact_probabilities(ising):
    (s1, m1), (s2, _) = ising[1.0], ising[1.3]
    f = quantum_fidelity(m1, s1)
    assert f.method == "exact" and f.stderr == 0
    assert abs(f.value - 1) < 1e-10
    overlap = abs(np.vdot(s1.vector, s2.vector)) ** 2
    assert abs(quantum_fidelity(m1, s2).value - overlap) < 1e-10


def test_quantum_fidelity_of_a_depolarised_measurement():
    p, psi = 0.1, tfim_vector(3, 1.0)
    state = DenseState(vector=psi)
    noisy = state.measured("tetra", noise=depolarizing(p))
    # Analytic noisy state: each qubit's channel (1 - p) rho + p/3 (X rho X + Y rho Y + Z rho Z).
    rho = np.outer(psi, psi.conj())
    for i in range(3):
        ops = [reduce(np.kron, [PAULI[s] if k == i else np.eye(2) for k in range(3)]) for s in "XYZ"]
        rho = (1 - p) * rho + p / 3 * sum(o @ rho @ o for o in ops)
    analytic = np.vdot(psi, rho @ psi).real
    # The ideal POVM's duals reconstruct the noisy state; the POVM as applied inverts the noise.
    assert abs(quantum_fidelity(noisy, state, povm=noisy.ideal_povm).value - analytic) < 1e-10
    assert abs(quantum_fidelity(noisy, state, povm=noisy.povm).value - 1) < 1e-10
    # A mixed target goes through qutip (accurate to ~1e-8, see uhlmann_fidelity).
    mixed = DenseState(density_matrix=rho)
    assert abs(quantum_fidelity(noisy, mixed, povm=noisy.ideal_povm).value - 1) < 1e-6
    assert analytic < 0.9


def test_dual_frame_monte_carlo_fidelity(ising):
    (s1, m1), (s2, _) = ising[1.0], ising[1.3]
    overlap = abs(np.vdot(s1.vector, s2.vector)) ** 2
    est = quantum_fidelity(m1, s2, method="mc-dual", n_samples=20_000, generator=5)
    assert est.method == "mc-dual" and est.details["per_sample_variance"] > 1
    assert abs(est.value - overlap) < 4 * est.stderr
    # The MPS contraction gives the same per-sample values as the dense one.
    same = quantum_fidelity(m1, MPSState.from_dense(s2.vector), method="mc-dual", n_samples=20_000, generator=5)
    assert abs(same.value - est.value) < 1e-10


def test_quantum_fidelity_errors(ising, float32_model):
    s1, m1 = ising[1.0]
    with pytest.raises(MetricError, match="carries no POVM"):
        quantum_fidelity(float32_model(m1), s1)
    with pytest.raises(MetricError, match="qubits"):
        quantum_fidelity(m1, DenseState(vector=tfim_vector(3, 1.0)))
    with pytest.raises(MetricError, match="pure"):
        quantum_fidelity(m1, DenseState(density_matrix=np.eye(16) / 16), method="mc-dual")

"""Tests of qgen.metrics: distances, observables and quantum fidelity against independent numpy values."""

from __future__ import annotations

import itertools
import math
from functools import reduce

import numpy as np
import pytest
import torch

from qgen.errors import MetricError
from qgen.measurement.noise import depolarizing
from qgen.measurement.povm import PAULI, POVM
from qgen.metrics import (
    EmpiricalDistribution,
    Estimate,
    classical_fidelity,
    correlation_matrix,
    expectation,
    kl_divergence,
    magnetization,
    project_to_physical,
    quantum_fidelity,
    reverse_kl,
)
from qgen.metrics.observables import pauli_coefficients
from qgen.states.dense import DenseState
from qgen.states.mps import MPSState
from tests.helpers import tfim_hamiltonian_dict, tfim_vector

N = 4


def numpy_probabilities(rho: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """P(a) = Tr[(M_a0 x ... x M_aN-1) rho] for all K^N strings, lexicographic, by explicit Kronecker products."""
    n = int(np.log2(rho.shape[0]))
    strings = itertools.product(range(len(elements)), repeat=n)
    return np.array([np.trace(reduce(np.kron, [elements[a] for a in s]) @ rho).real for s in strings])


@pytest.fixture(scope="module")
def ising():
    states = {h: DenseState(vector=tfim_vector(N, h)) for h in (1.0, 1.3)}
    return {h: (s, s.measured("tetra")) for h, s in states.items()}


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


def test_identical_distributions_exact(ising):
    _, m = ising[1.0]
    f = classical_fidelity(m, m, "exact")
    kl = kl_divergence(m, m, "exact")
    assert (f.method, f.stderr, kl.stderr) == ("exact", 0.0, 0.0)
    assert abs(f.value - 1) < 1e-12
    assert kl.value == 0.0
    assert reverse_kl(m, m, "exact").value == 0.0


def test_ising_distances_against_numpy(ising):
    povm = POVM.named("tetra")
    p = numpy_probabilities(ising[1.0][0].density_matrix, povm.elements)
    q = numpy_probabilities(ising[1.3][0].density_matrix, povm.elements)
    mp, mq = ising[1.0][1], ising[1.3][1]
    assert abs(classical_fidelity(mp, mq).value - np.sum(np.sqrt(p * q))) < 1e-10
    assert abs(kl_divergence(mp, mq).value - np.sum(p * np.log(p / q))) < 1e-10
    assert abs(reverse_kl(mp, mq).value - np.sum(q * np.log(q / p))) < 1e-10
    assert classical_fidelity(mp, mq).method == "exact"  # "auto" enumerates 256 strings


def test_float32_model_evaluated_in_float64(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = classical_fidelity(mp, mq).value
    assert abs(classical_fidelity(mp, Float32Model(mq)).value - exact) < 1e-6


@pytest.mark.parametrize(
    "metric, kwargs",
    [
        (classical_fidelity, {"sampler": "q"}),
        (classical_fidelity, {"sampler": "p"}),
        (kl_divergence, {}),
        (kl_divergence, {"direction": "reverse"}),
    ],
)
def test_monte_carlo_two_sigma_coverage(ising, metric, kwargs):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = metric(mp, mq, "exact", **{k: v for k, v in kwargs.items() if k == "direction"}).value
    gen = torch.Generator().manual_seed(1234)
    hits = []
    for _ in range(200):
        est = metric(mp, mq, "mc", n_samples=400, generator=gen, **kwargs)
        lo, hi = est.interval(2.0)
        hits.append(lo <= exact <= hi)
    assert est.method == "mc" and est.n_samples == 400
    assert 0.9 <= np.mean(hits) <= 0.99


def test_importance_weighted_kl_is_unbiased(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = kl_divergence(mp, mq, "exact").value
    est = kl_divergence(mp, mq, "mc", sampler="q", n_samples=50_000, generator=3)
    assert est.details["sampler"] == "q"
    assert abs(est.value - exact) < 4 * est.stderr


def test_same_seed_same_estimate(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    a = classical_fidelity(mp, mq, "mc", n_samples=500, generator=7)
    b = classical_fidelity(mp, mq, "mc", n_samples=500, generator=7)
    assert a == b


def test_model_without_likelihood_goes_through_its_samples(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = classical_fidelity(mp, mq).value
    est = classical_fidelity(mp, SamplesOnly(mq), n_samples=40_000, generator=0)
    assert est.method == "empirical" and est.n_samples == 40_000
    assert np.isfinite(est.value) and est.stderr > 0
    # The plug-in estimate is biased low by O(K^N / n); allow that on top of the noise.
    assert abs(est.value - exact) < 4 * est.stderr + 256 / 40_000
    with pytest.raises(MetricError, match="exact likelihoods"):
        classical_fidelity(mp, SamplesOnly(mq), "mc")


def test_empirical_kl_is_infinite_on_unseen_strings(ising):
    mp = ising[1.0][1]
    few = EmpiricalDistribution(mp.sample(20, generator=torch.Generator().manual_seed(0)), 4)
    est = kl_divergence(mp, few)
    assert est.method == "empirical" and est.value == math.inf
    assert est.to_dict()["value"] == "inf"
    assert np.isfinite(reverse_kl(mp, few).value)


def test_errors(ising):
    mp = ising[1.0][1]
    other = DenseState(vector=tfim_vector(3, 1.0)).measured("tetra")
    with pytest.raises(MetricError, match="n_qubits"):
        classical_fidelity(mp, other)
    with pytest.raises(MetricError, match="method"):
        classical_fidelity(mp, mp, "bogus")
    with pytest.raises(MetricError, match="direction"):
        kl_divergence(mp, mp, direction="sideways")
    with pytest.raises(MetricError, match="log_prob"):
        classical_fidelity(mp, object())


# ---- observables ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(ising):
    _, m = ising[1.0]
    return m.sample(20_000, generator=torch.Generator().manual_seed(11)).numpy()


def test_dual_frame_estimator_is_unbiased_by_enumeration(ising):
    # sum_a P(a) prod_i Tr(P_i Q_{a_i}) = <P> exactly: the estimator's mean, with no sampling noise.
    state, m = ising[1.0]
    p = numpy_probabilities(state.density_matrix, m.povm.elements)
    strings = np.array(list(itertools.product(range(4), repeat=N)))
    table = pauli_coefficients(m.povm)
    for obs in ("XIII", "ZZII", "IXIX", "ZIIZ", "YYII"):
        per_string = np.prod([table[ch][strings[:, i]] for i, ch in enumerate(obs)], axis=0)
        assert abs(p @ per_string - state.expectation(obs)) < 1e-12


def test_observables_from_samples_within_error_bars(ising, samples):
    state, m = ising[1.0]
    for obs in ("XIII", "IIXI", "ZZII", "ZIIZ", "XXII", "YIYI", tfim_hamiltonian_dict(N, 1.0)):
        value, stderr = expectation(samples, m.povm, obs)
        assert stderr > 0
        assert abs(value - state.expectation(obs)) < 4 * stderr, obs


def test_hamiltonian_error_bar_counts_covariances(ising, samples):
    # The stderr is that of the per-sample total estimator, not the quadrature sum of the terms' errors.
    povm = ising[1.0][1].povm
    ham = {"ZIII": 1.0, "IZII": 1.0}
    cz = pauli_coefficients(povm)["Z"]
    total = cz[samples[:, 0]] + cz[samples[:, 1]]
    value, stderr = expectation(samples, povm, ham)
    assert abs(value - total.mean()) < 1e-12
    assert abs(stderr - total.std(ddof=1) / math.sqrt(len(total))) < 1e-12


def test_correlation_matrix_matches_pairwise_expectations(ising, samples):
    povm = ising[1.0][1].povm
    for pauli in "XZ":
        values, stderrs = correlation_matrix(samples, povm, pauli)
        assert values.shape == stderrs.shape == (N, N)
        assert np.all(np.diag(values) == 1) and np.all(np.diag(stderrs) == 0)
        for i, j in itertools.combinations(range(N), 2):
            v, e = expectation(samples, povm, "".join(pauli if k in (i, j) else "I" for k in range(N)))
            assert abs(values[i, j] - v) < 1e-10 and abs(values[j, i] - v) < 1e-10
            assert abs(stderrs[i, j] - e) < 1e-10


def test_magnetization_matches_single_site_expectations(ising, samples):
    povm = ising[1.0][1].povm
    values, stderrs = magnetization(samples, povm, "X")
    for i in range(N):
        v, e = expectation(samples, povm, "".join("X" if k == i else "I" for k in range(N)))
        assert abs(values[i] - v) < 1e-12 and abs(stderrs[i] - e) < 1e-12


def test_observables_accept_torch_tensors(ising, samples):
    povm = ising[1.0][1].povm
    a = correlation_matrix(samples, povm)
    b = correlation_matrix(torch.from_numpy(samples).to(torch.uint8), povm)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_observable_errors(ising, samples):
    povm = ising[1.0][1].povm
    with pytest.raises(MetricError, match="4 letters"):
        expectation(samples, povm, "XX")
    with pytest.raises(MetricError, match="real"):
        expectation(samples, povm, {"XIII": 1j})
    with pytest.raises(MetricError, match="integers"):
        magnetization(samples.astype(float), povm)
    with pytest.raises(MetricError, match=r"\[0, 4\)"):
        magnetization(samples + 4, povm)
    with pytest.raises(MetricError, match="at least 2"):
        correlation_matrix(samples[:1], povm)


# ---- quantum fidelity ----------------------------------------------------------------------------------------


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


def test_quantum_fidelity_errors(ising):
    s1, m1 = ising[1.0]
    with pytest.raises(MetricError, match="carries no POVM"):
        quantum_fidelity(Float32Model(m1), s1)
    with pytest.raises(MetricError, match="qubits"):
        quantum_fidelity(m1, DenseState(vector=tfim_vector(3, 1.0)))
    with pytest.raises(MetricError, match="pure"):
        quantum_fidelity(m1, DenseState(density_matrix=np.eye(16) / 16), method="mc-dual")


def test_estimate_to_dict():
    d = Estimate(0.5, 0.01, "mc", 100, {"sampler": "q"}).to_dict()
    assert d == {"value": 0.5, "stderr": 0.01, "method": "mc", "n_samples": 100, "details": {"sampler": "q"}}
    assert Estimate(math.nan, math.inf, "mc").to_dict()["value"] == "nan"

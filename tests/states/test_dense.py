"""Dense targets: exact P(a) against brute-force Kronecker products, samplers by goodness of fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import qutip
import torch

from qgen import StateError
from qgen.errors import OutcomeError
from qgen.measurement.noise import amplitude_damping, depolarizing
from qgen.measurement.povm import NAMED_POVMS
from qgen.states import DenseState, from_qutip, ghz, graph, product, w
from tests.helpers import assert_samples_fit, pauli_matrix_of, random_density_matrix, random_vector


def brute_probabilities(rho: np.ndarray, elements: np.ndarray, n: int) -> np.ndarray:
    out = []
    for a in itertools.product(range(len(elements)), repeat=n):
        op = elements[a[0]]
        for x in a[1:]:
            op = np.kron(op, elements[x])
        out.append(np.trace(op @ rho).real)
    return np.array(out)


NOISES = {"ideal": None, "noisy": depolarizing(0.1).then(amplitude_damping(0.2))}


@pytest.mark.parametrize("noise", list(NOISES))
@pytest.mark.parametrize("povm", NAMED_POVMS)
@pytest.mark.parametrize("pure", [True, False], ids=["pure", "mixed"])
def test_log_prob_matches_kronecker_products(povm, noise, pure):
    rng = np.random.default_rng(3)
    n = 3
    state = (
        DenseState(vector=random_vector(n, rng)) if pure else DenseState(density_matrix=random_density_matrix(n, rng))
    )
    m = state.measured(povm, NOISES[noise])
    expected = brute_probabilities(state.density_matrix, m.povm.elements, n)
    strings = torch.tensor(list(itertools.product(range(m.n_outcomes), repeat=n)))
    np.testing.assert_allclose(m.log_prob(strings).exp().numpy(), expected, atol=1e-14)
    np.testing.assert_allclose(m.probabilities().numpy(), expected, atol=1e-14)
    assert abs(m.probabilities().sum().item() - 1) < 1e-12


@pytest.mark.parametrize("noise", list(NOISES))
@pytest.mark.parametrize("povm", NAMED_POVMS)
@pytest.mark.parametrize("sampler", ["table", "sites"])
def test_samples_follow_exact_probabilities(povm, noise, sampler):
    rng = np.random.default_rng(11)
    n = 3 if povm == "pauli6" else 4
    state = DenseState(density_matrix=random_density_matrix(n, rng, rank=2))
    m = state.measured(povm, NOISES[noise])
    gen = torch.Generator().manual_seed(5)
    n_samples = 60_000
    samples = m.sample(n_samples, generator=gen) if sampler == "table" else m._sample_sites(n_samples, gen)
    assert_samples_fit(samples, m.probabilities().numpy(), m.n_outcomes)


def test_pure_ancestral_sampler_goodness_of_fit():
    m = ghz(4).measured("tetra")
    samples = m._sample_sites(40_000, torch.Generator().manual_seed(2))
    assert_samples_fit(samples, m.probabilities().numpy(), 4)


def test_sampling_is_deterministic_under_a_seed():
    m = ghz(5).measured("pauli4", depolarizing(0.05))
    a = m.sample(1000, generator=torch.Generator().manual_seed(42))
    b = m.sample(1000, generator=torch.Generator().manual_seed(42))
    c = m.sample(1000, generator=torch.Generator().manual_seed(43))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.int64 and a.shape == (1000, 5)
    a2 = m._sample_sites(300, torch.Generator().manual_seed(42))
    assert torch.equal(a2, m._sample_sites(300, torch.Generator().manual_seed(42)))


@pytest.mark.parametrize("pure", [True, False])
def test_expectation_matches_trace(pure):
    rng = np.random.default_rng(5)
    n = 4
    state = (
        DenseState(vector=random_vector(n, rng)) if pure else DenseState(density_matrix=random_density_matrix(n, rng))
    )
    rho = state.density_matrix
    for _ in range(20):
        s = "".join(rng.choice(list("IXYZ"), size=n))
        assert abs(state.expectation(s) - np.trace(pauli_matrix_of(s) @ rho).real) < 1e-13
    ham = {"ZZII": -1.0, "IXIY": 0.5, "YYYY": 0.25}
    expected = sum(c * np.trace(pauli_matrix_of(s) @ rho).real for s, c in ham.items())
    assert abs(state.expectation(ham) - expected) < 1e-13


def test_qutip_round_trip_and_expectation():
    rng = np.random.default_rng(9)
    rho = random_density_matrix(3, rng)
    q = DenseState(density_matrix=rho).to_qutip()
    assert q.dims == [[2, 2, 2], [2, 2, 2]]
    zxz = qutip.tensor(qutip.sigmaz(), qutip.sigmax(), qutip.sigmaz())
    assert abs(from_qutip(q).expectation("ZXZ") - qutip.expect(zxz, q)) < 1e-13
    ket = qutip.tensor(qutip.basis(2, 0), qutip.basis(2, 1))
    assert from_qutip(ket).expectation("ZZ") == pytest.approx(-1.0, abs=1e-14)


def test_named_states():
    g = ghz(4)
    assert g.expectation("ZZII") == pytest.approx(1, abs=1e-14)
    assert g.expectation("XXXX") == pytest.approx(1, abs=1e-14)
    ws = w(5)
    assert ws.expectation("ZIIII") == pytest.approx(1 - 2 / 5, abs=1e-14)
    c = graph(4)
    # Linear cluster stabilisers: X_i Z_{i-1} Z_{i+1}.
    for s in ["XZII", "ZXZI", "IZXZ", "IIZX"]:
        assert c.expectation(s) == pytest.approx(1, abs=1e-14)
    p = product(["0", "+", "-i"])
    assert p.expectation("ZXY") == pytest.approx(-1, abs=1e-14)
    assert product("+", 3).expectation("XXX") == pytest.approx(1, abs=1e-14)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vector": [1, 1, 0]}, "power-of-two"),
        ({"vector": [1, 1]}, "norm 1"),
        ({"density_matrix": np.eye(4)}, "unit trace"),
        ({"density_matrix": np.diag([1.5, -0.5])}, "not positive"),
        ({"density_matrix": [[0.5, 0.1], [0.0, 0.5]]}, "not Hermitian"),
    ],
)
def test_invalid_states_raise(kwargs, message):
    with pytest.raises(StateError, match=message):
        DenseState(**kwargs)


def test_bad_outcomes_and_observables_raise():
    m = ghz(3).measured("tetra")
    with pytest.raises(OutcomeError, match=r"shape \(n, 3\)"):
        m.log_prob(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(OutcomeError, match=r"\[0, 4\)"):
        m.log_prob(torch.tensor([[0, 1, 4]]))
    with pytest.raises(OutcomeError, match="integers"):
        m.log_prob(torch.zeros(2, 3))
    with pytest.raises(StateError, match="exactly 3 letters"):
        ghz(3).expectation("XX")
    with pytest.raises(StateError, match="number of samples must be an integer >= 0"):
        m.sample(-1)


def test_enumeration_of_a_pure_state_with_a_rank_two_element_uses_the_density_form():
    # Pauli-4's last element has rank 2: 8^10 ket branches would not fit, so the table comes from rho.
    m = ghz(10).measured("pauli4")
    p = m.probabilities()
    assert p.shape == (4**10,) and abs(p.sum().item() - 1) < 1e-12
    strings = torch.randint(0, 4, (200, 10), generator=torch.Generator().manual_seed(0))
    index = (strings * 4 ** torch.arange(9, -1, -1)).sum(1)
    np.testing.assert_allclose(p[index].numpy(), m.log_prob(strings).exp().numpy(), rtol=1e-12, atol=1e-16)


def _reference_probabilities(vector: np.ndarray, elements: np.ndarray, strings: np.ndarray) -> np.ndarray:
    """<psi| M_a0 x ... x M_aN-1 |psi>, one string at a time, each M applied to its own axis (no contraction
    order, chunking or prefix table in common with DenseMeasurement)."""
    n = strings.shape[1]
    psi = vector.reshape([2] * n)
    out = []
    for a in strings:
        phi = psi
        for site, x in enumerate(a):
            phi = np.moveaxis(np.tensordot(elements[x], phi, axes=(1, site)), 0, site)
        out.append(np.vdot(psi, phi).real)
    return np.array(out)


@pytest.mark.parametrize("budget", ["default", "no_prefix", "one_string_chunks"])
@pytest.mark.parametrize(
    ("povm", "noise"),
    [("tetra", "ideal"), ("pauli4", "ideal"), ("pauli6", "ideal"), ("pauli4", "noisy"), ("trine", "noisy")],
)
def test_chunked_log_prob_matches_a_string_by_string_reference(povm, noise, budget, monkeypatch):
    # tetra/pauli6: every element rank 1; pauli4: ranks 1 and 2 (ragged branches); noisy: every element rank 2.
    import qgen.measurement.dense as dense

    if budget == "no_prefix":
        monkeypatch.setattr(dense, "_PREFIX_BYTES", 0)
    if budget == "one_string_chunks":
        monkeypatch.setattr(dense, "_CHUNK_BYTES", 1)
    rng = np.random.default_rng(21)
    n = 7
    state = DenseState(vector=random_vector(n, rng))
    m = state.measured(povm, NOISES[noise])
    strings = rng.integers(0, m.n_outcomes, size=(150, n))
    expected = _reference_probabilities(state.vector, m.povm.elements, strings)
    got = m.log_prob(torch.from_numpy(strings)).exp().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    if budget == "default":
        assert m._prefix_sites > 0


@pytest.mark.parametrize("noise", list(NOISES))
def test_chunked_log_prob_of_a_mixed_state_matches_the_trace(noise, monkeypatch):
    import qgen.measurement.dense as dense

    monkeypatch.setattr(dense, "_CHUNK_BYTES", 1 << 12)
    rng = np.random.default_rng(22)
    n = 5
    rho = random_density_matrix(n, rng)
    m = DenseState(density_matrix=rho).measured("pauli4", NOISES[noise])
    strings = rng.integers(0, 4, size=(60, n))
    expected = []
    for a in strings:
        op = m.povm.elements[a[0]]
        for x in a[1:]:
            op = np.kron(op, m.povm.elements[x])
        expected.append(np.trace(op @ rho).real)
    np.testing.assert_allclose(m.log_prob(torch.from_numpy(strings)).exp().numpy(), expected, rtol=1e-12, atol=0)


def _first_sites_probabilities(vector: np.ndarray, elements: np.ndarray, k: int) -> np.ndarray:
    """P(a_0..a_k-1) from the reduced density matrix of the first k qubits (partial trace of |psi><psi|)."""
    psi = vector.reshape(2**k, -1)
    return brute_probabilities(psi @ psi.conj().T, elements, k)


@pytest.mark.parametrize(("povm", "noise"), [("pauli4", "ideal"), ("tetra", "noisy")])
def test_a_pure_state_beyond_the_table_samples_through_its_exact_mps(povm, noise):
    # 4^12 strings exceed the table: the sampler is the MPS one, so its bits are sample by sample.
    rng = np.random.default_rng(23)
    n = 12
    m = DenseState(vector=random_vector(n, rng)).measured(povm, NOISES[noise])
    assert m.n_outcomes**n > 1 << 22
    samples = m.sample(20_000, generator=torch.Generator().manual_seed(3))
    assert samples.shape == (20_000, n) and samples.dtype == torch.int64
    assert torch.equal(samples, m.as_mps().sample(20_000, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(m.sample(1000, generator=torch.Generator().manual_seed(3)), samples[:1000])
    # The MPS is the dense state: log-probabilities agree to rounding.
    lp_dense, lp_mps = m.log_prob(samples[:300]), m.as_mps().log_prob(samples[:300])
    np.testing.assert_allclose(lp_mps.numpy(), lp_dense.numpy(), rtol=0, atol=1e-10)
    # Goodness of fit of the first three sites against the reduced density matrix of the dense vector.
    p = _first_sites_probabilities(m.state.vector, m.povm.elements, 3)
    assert_samples_fit(samples[:, :3], p, m.n_outcomes)


def test_as_mps_needs_a_pure_state():
    m = DenseState(density_matrix=random_density_matrix(2, np.random.default_rng(0))).measured("tetra")
    with pytest.raises(StateError, match="pure state"):
        m.as_mps()

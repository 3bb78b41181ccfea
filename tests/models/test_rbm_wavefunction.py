"""Wavefunction RBMs against dense linear algebra: basis rotations, normalisation, sampling, known states."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from qgen.autocorrelation import integrated_time
from qgen.data import BasisSamplingWarning, import_qucumber
from qgen.data.importers import import_state_vector_text
from qgen.errors import MetricError, ModelError
from qgen.measurement.povm import POVM
from qgen.metrics.positive import model_state
from qgen.models import build
from qgen.models.base import Step
from qgen.models.rbm import ComplexRBM, PositiveRBM
from qgen.models.rbm.bases import BASIS_ROWS, rotated_log_amplitude
from qgen.models.rbm.overlap import target_log_amplitudes
from qgen.states.dense import DenseState
from qgen.states.exact_mps import ghz_mps
from qgen.states.mps import MPSState
from qgen.train import Trainer
from tests.helpers import (
    assert_chains_resume_bit_exact,
    assert_samples_fit,
    pauli_matrix_of,
    positive_product_rbm,
    random_vector,
    tfim_vector,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pauli6_strings(n: int) -> torch.Tensor:
    return torch.as_tensor(list(itertools.product(range(6), repeat=n)))


def rotation(bases: list[int]) -> np.ndarray:
    """The dense 2^N x 2^N matrix with rows <s_b| for the setting `bases` (kron of the one-qubit rows)."""
    out = np.ones((1, 1))
    for b in bases:
        out = np.kron(out, BASIS_ROWS[b].numpy())
    return out


def randomize(model: torch.nn.Module, seed: int, scale: float = 0.4) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def fit(model, data: torch.Tensor, *, epochs: int, lr: float, batch_size: int | None = None) -> None:
    """Adam through the common Trainer on every row (no validation split), full batch unless `batch_size`."""
    Trainer(
        model,
        lr=lr,
        batch_size=batch_size or len(data),
        epochs=epochs,
        val_fraction=0.0,
        early_stopping_patience=None,
        monitor="none",
        clip_grad=None,
        progress=False,
        device="cpu",
    ).fit(data)


def exact_frequency_data(probs: np.ndarray, strings: torch.Tensor, n: int) -> torch.Tensor:
    """Each string repeated round(n p) times: data whose frequencies are the probabilities (to 1/n)."""
    counts = torch.as_tensor(np.round(n * probs).astype(np.int64))
    return strings.repeat_interleave(counts, dim=0)


# ---- the basis rotation -------------------------------------------------------------------------------------------


def test_basis_rows_are_the_pauli6_povm() -> None:
    """3 M_{2b+s} = |s_b><s_b| with <s_b|sigma> = BASIS_ROWS[b, s, sigma]."""
    elements = POVM.named("pauli6").elements
    for b, s in itertools.product(range(3), range(2)):
        ket = BASIS_ROWS[b, s].numpy().conj()
        np.testing.assert_allclose(3 * elements[2 * b + s], np.outer(ket, ket.conj()), atol=1e-14)


@pytest.mark.parametrize("n_qubits", [1, 3, 4])
def test_rotated_amplitudes_match_dense_rotation(n_qubits: int) -> None:
    rng = np.random.default_rng(n_qubits)
    psi = random_vector(n_qubits, rng)
    table = torch.as_tensor(np.log(psi.astype(np.complex128)))
    powers = 2 ** torch.arange(n_qubits - 1, -1, -1)

    def log_psi(sigma: torch.Tensor) -> torch.Tensor:
        return table[(sigma * powers).sum(1)]

    outcomes = torch.as_tensor(rng.integers(0, 6, size=(200, n_qubits)))
    got = torch.exp(rotated_log_amplitude(log_psi, outcomes)).numpy()
    for row, a in enumerate(outcomes.tolist()):
        bases, bits = [c // 2 for c in a], [c % 2 for c in a]
        expected = (rotation(bases) @ psi)[int("".join(map(str, bits)), 2)]
        assert abs(got[row] - expected) < 1e-12


def test_too_many_rotated_sites_are_refused() -> None:
    model = build("rbm-complex", n_qubits=4, n_outcomes=6, n_hidden=2, max_rotated=2)
    with pytest.raises(ModelError, match="3 qubits in the X or Y basis"):
        model.log_prob(torch.tensor([[2, 2, 4, 0]]))


# ---- the complex RBM ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_qubits", [2, 3])
def test_complex_rbm_is_the_pauli6_distribution_of_its_state(n_qubits: int) -> None:
    model = build("rbm-complex", n_qubits=n_qubits, n_outcomes=6, n_hidden=3, seed=0).double()
    randomize(model, seed=n_qubits)
    strings = pauli6_strings(n_qubits)
    with torch.no_grad():
        log_p = model.log_prob(strings) - model.log_normalizer().value
    assert abs(torch.logsumexp(log_p, 0).item()) < 1e-12
    reference = model.as_state().measured("pauli6").log_prob(strings)
    torch.testing.assert_close(log_p, reference.to(log_p.dtype), rtol=0, atol=1e-10)


def test_complex_rbm_state_vector_is_exp_of_log_psi() -> None:
    model = build("rbm-complex", n_qubits=3, n_outcomes=6, n_hidden=3, seed=0).double()
    randomize(model, seed=1)
    sigma = torch.as_tensor(list(itertools.product((0, 1), repeat=3)))
    with torch.no_grad():
        unnormalised = torch.exp(model.log_psi(sigma)).numpy()
    expected = unnormalised / np.linalg.norm(unnormalised)
    np.testing.assert_allclose(model.state_vector().numpy(), expected, atol=1e-14)


def test_complex_rbm_samples_pass_chi_square() -> None:
    model = build("rbm-complex", n_qubits=2, n_outcomes=6, n_hidden=3, seed=0).double()
    randomize(model, seed=2, scale=0.8)
    strings = pauli6_strings(2)
    with torch.no_grad():
        probs = torch.exp(model.log_prob(strings) - model.log_normalizer().value).numpy()
    n = 30_000
    x = model.sample(n, generator=3)
    assert_samples_fit(x, probs / probs.sum(), 6)
    assert torch.equal(x, model.sample(n, generator=3))


def test_complex_rbm_gradient_matches_finite_differences() -> None:
    model = build("rbm-complex", n_qubits=3, n_outcomes=6, n_hidden=2, seed=0).double()
    randomize(model, seed=4)
    x = torch.as_tensor(np.random.default_rng(0).integers(0, 6, size=(40, 3)))
    (update,) = model.training_step(x, Step(0, 0, torch.Generator()))
    params = list(model.parameters())
    grads = torch.autograd.grad(update.loss, params)

    def nll() -> float:
        with torch.no_grad():
            return float(-2 * model.rotated_log_psi(x).real.mean() + model.amplitude.log_partition())

    eps = 1e-6
    for p, grad in zip(params, grads):
        flat, gflat = p.data.view(-1), grad.view(-1)
        for j in range(0, flat.numel(), 3):
            keep = float(flat[j])
            flat[j] = keep + eps
            up = nll()
            flat[j] = keep - eps
            down = nll()
            flat[j] = keep
            assert abs((up - down) / (2 * eps) - float(gflat[j])) < 1e-7


@pytest.mark.slow
def test_complex_rbm_recovers_a_complex_bell_state_from_exact_frequencies() -> None:
    """(|00> + i|11>)/sqrt(2): no positive wavefunction has these X and Y statistics."""
    target = DenseState(vector=np.array([1, 0, 0, 1j]) / math.sqrt(2))
    strings = pauli6_strings(2)
    probs = target.measured("pauli6").log_prob(strings).exp().numpy()
    data = exact_frequency_data(probs, strings, 360)  # every P(a) is a multiple of 1/36: exact
    model = build("rbm-complex", n_qubits=2, n_outcomes=6, n_hidden=4, seed=0)
    assert len(data) == 360
    fit(model, data, epochs=800, lr=0.05)
    assert model.as_state().fidelity(target) > 0.99


def test_complex_rbm_options_are_checked() -> None:
    with pytest.raises(ModelError, match="n_outcomes must be 6"):
        build("rbm-complex", n_qubits=2, n_outcomes=4)
    with pytest.raises(ModelError, match="max_rotated"):
        build("rbm-complex", n_qubits=2, n_outcomes=6, max_rotated=-1)
    with pytest.raises(ModelError, match="exceeds the limit of 20; use fidelity"):
        ComplexRBM(21, n_hidden=2).as_state()
    with pytest.raises(ModelError, match="method must be"):
        ComplexRBM(2).log_normalizer("bogus")
    with pytest.raises(ModelError, match="negative_phase must be one of"):
        ComplexRBM(2, negative_phase="cd")
    with pytest.raises(ModelError, match="negative_phase='exact' sums log Z"):
        ComplexRBM(24, n_hidden=24, negative_phase="exact")
    with pytest.raises(ModelError, match="n_chains must be an integer >= 1"):
        ComplexRBM(2, n_chains=0)
    with pytest.raises(ModelError, match="method must be 'auto', 'exact' or 'mc'"):
        ComplexRBM(2).fidelity(DenseState(vector=np.ones(4) / 2), method="ais")


# ---- the positive RBM ---------------------------------------------------------------------------------------------


def test_positive_rbm_state_is_the_square_root_of_its_distribution() -> None:
    model = build("rbm-positive", n_qubits=4, n_outcomes=2, n_hidden=3, seed=0).double()
    randomize(model, seed=5)
    sigma = torch.as_tensor(list(itertools.product((0, 1), repeat=4)))
    with torch.no_grad():
        p = torch.exp(model.log_prob(sigma) - model.log_normalizer().value).numpy()
    state = model.as_state()
    np.testing.assert_allclose(state.vector, np.sqrt(p), atol=1e-12)
    # an off-diagonal observable, against the dense Pauli matrix
    expected = np.sqrt(p) @ pauli_matrix_of("IXXI").real @ np.sqrt(p)
    assert abs(state.expectation("IXXI") - expected) < 1e-12
    assert model.hyperparameters["gradient"] == "exact"


@pytest.mark.slow
def test_positive_rbm_recovers_a_tfim_ground_state_from_exact_frequencies() -> None:
    psi = tfim_vector(4, h=1.0).real
    sigma = torch.as_tensor(list(itertools.product((0, 1), repeat=4)))
    data = exact_frequency_data(psi**2, sigma, 20_000)
    model = build("rbm-positive", n_qubits=4, n_outcomes=2, n_hidden=4, seed=0)
    fit(model, data, epochs=400, lr=0.05)
    state = model.as_state()
    assert state.fidelity(DenseState(vector=psi)) > 0.995
    assert abs(state.expectation("XIII") - DenseState(vector=psi).expectation("XIII")) < 0.02


def test_positive_rbm_needs_bits() -> None:
    with pytest.raises(ModelError, match="n_outcomes must be 2"):
        build("rbm-positive", n_qubits=3, n_outcomes=4)
    assert PositiveRBM(30, n_hidden=40).hyperparameters["gradient"] == "pcd"
    with pytest.raises(ModelError, match="exceeds the limit"):
        PositiveRBM(30, n_hidden=4).as_state()


# ---- QuCumber's tutorial data -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_qucumber_two_qubit_complex_state(reference_dir) -> None:
    """QuCumber's `qubits_*`: 1000 shots in 5 of the 9 two-qubit settings; quantum fidelity >= 0.99."""
    folder = reference_dir / "qucumber"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BasisSamplingWarning)  # 5 fixed settings, not uniform: expected here
        data = import_qucumber(folder / "qubits_train.txt", folder / "qubits_train_bases.txt")
    target = DenseState.normalized(import_state_vector_text(folder / "qubits_psi.txt"))
    model = build("rbm-complex", n_qubits=2, n_outcomes=6, n_hidden=2, seed=0)
    fit(model, torch.as_tensor(data.outcomes.astype(np.int64)), epochs=150, lr=0.02, batch_size=100)
    assert model.as_state().fidelity(target) > 0.99


# ---- the sampled negative phase -----------------------------------------------------------------------------------


def sampled_twin(model, **options):
    """The same parameters with a sampled negative phase (persistent chains)."""
    twin = build(**{**model.config, "negative_phase": "sampled", **options}, seed=0).to(model.dtype)
    twin.load_state_dict(model.state_dict(), strict=False)
    return twin


def flat_gradient(model, x: torch.Tensor, step: Step) -> torch.Tensor:
    (update,) = model.training_step(x, step)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(update.loss, list(model.parameters()))])


def test_negative_phase_is_chosen_by_the_enumeration_limit_and_recorded() -> None:
    assert ComplexRBM(6, n_hidden=4).hyperparameters["negative_phase"] == "exact"
    # the exact log Z sums the smaller layer: 2^4 hidden configurations at N = 24
    assert ComplexRBM(24, n_hidden=4).hyperparameters["negative_phase"] == "exact"
    model = ComplexRBM(24, n_hidden=24, k=3, n_chains=10)
    assert model.config["negative_phase"] == "sampled" and model.config["k"] == 3
    assert model.chains.shape == (10, 24) and model.monitor is None
    assert "chains" not in ComplexRBM(3).state_dict()  # an exact model's files are unchanged
    assert build(**model.config, seed=0).config == model.config
    assert "negative_phase='sampled'" in repr(model)


def test_sampled_negative_phase_matches_the_exact_gradient() -> None:
    """N = 6: the mean over 300 chain updates of the sampled gradient is the exact one.

    z = (mean - exact) / stderr per parameter, the stderr std / sqrt(n / tau) with tau the integrated
    autocorrelation time over updates; max |z| < 4.5 over the 64 amplitude parameters (P < 5e-4 for Gaussian
    z, even if independent). The phase RBM is not normalised: its gradients agree to rounding.
    """
    exact = build("rbm-complex", n_qubits=6, n_outcomes=6, n_hidden=4, seed=0).double()
    randomize(exact, seed=1)
    sampled = sampled_twin(exact, k=2, n_chains=500)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(np.where(rng.random((20, 6)) < 0.1, 2, 0) + rng.integers(0, 2, size=(20, 6)))  # Z, some X
    reference = flat_gradient(exact, x, Step(0, 0, torch.Generator()))
    generator = torch.Generator().manual_seed(5)
    sampled.prepare(x, generator)
    for index in range(25):  # burn-in: 50 sweeps
        list(sampled.training_step(x, Step(0, index, generator)))
    grads = torch.stack([flat_gradient(sampled, x, Step(0, index, generator)) for index in range(300)])
    n_amplitude = sum(p.numel() for p in sampled.amplitude.parameters())
    amplitude, phase = grads[:, :n_amplitude], grads[:, n_amplitude:]
    torch.testing.assert_close(phase, reference[n_amplitude:].expand_as(phase), rtol=0, atol=1e-12)
    tau, reliable = integrated_time(amplitude.T.numpy())
    assert reliable and tau < 5
    stderr = amplitude.std(0) * math.sqrt(tau / len(amplitude))
    z = (amplitude.mean(0) - reference[:n_amplitude]) / stderr
    assert float(z.abs().max()) < 4.5, z


def test_persistent_chains_pass_chi_square_against_the_exact_distribution() -> None:
    """6000 chains after 45 sweeps from one string (a far start) are a sample of the model's own |psi|^2."""
    model = build(
        "rbm-complex", n_qubits=5, n_outcomes=6, n_hidden=3, seed=0, negative_phase="sampled", k=3, n_chains=6000
    ).double()
    randomize(model, seed=2, scale=0.8)
    x = torch.zeros(10, 5, dtype=torch.int64)
    generator = torch.Generator().manual_seed(7)
    model.prepare(x, generator)
    assert bool((model.chains == 0).all())
    for index in range(15):
        list(model.training_step(x, Step(0, index, generator)))
    probabilities = (model.state_vector().abs() ** 2).numpy()
    assert_samples_fit(model.chains, probabilities, 2)


def test_sampled_training_resumes_bit_exact_with_its_chains(tmp_path) -> None:
    rng = np.random.default_rng(3)
    data = torch.as_tensor(rng.integers(0, 6, size=(60, 3)))

    def make():
        return build("rbm-complex", n_qubits=3, n_outcomes=6, n_hidden=2, seed=0, negative_phase="sampled", k=2)

    assert_chains_resume_bit_exact(make, data, tmp_path)


def twisted_tfim_vector(n: int) -> np.ndarray:
    """The critical TFIM ground state with local phases exp(i theta_i sigma_i), theta_i from 0.3 to 1.2: complex, and
    no positive wavefunction has its X and Y statistics."""
    sigma = np.array(list(itertools.product((0, 1), repeat=n)))
    return tfim_vector(n, h=1.0).real * np.exp(1j * (sigma * np.linspace(0.3, 1.2, n)).sum(1))


@pytest.mark.slow
def test_sampled_training_recovers_a_complex_state_from_exact_frequencies() -> None:
    """The twisted TFIM state on 4 qubits from all 1296 pauli6 frequencies (to 1/3000) with persistent chains
    (k = 5, 500 chains): fidelity >= 0.99 (0.9968 measured; the exact negative phase: 0.9948)."""
    target = DenseState(vector=twisted_tfim_vector(4))
    strings = pauli6_strings(4)
    data = exact_frequency_data(target.measured("pauli6").log_prob(strings).exp().numpy(), strings, 3000)
    model = build(
        "rbm-complex", n_qubits=4, n_outcomes=6, n_hidden=4, seed=0, negative_phase="sampled", k=5, n_chains=500
    )
    fit(model, data, epochs=200, lr=0.05, batch_size=1000)
    assert model.fidelity(target).value >= 0.99


def test_monte_carlo_fidelity_matches_the_exact_one() -> None:
    """N = 8: the two-sided Monte Carlo overlap within 4 standard errors of the dense fidelity."""
    model = build("rbm-complex", n_qubits=8, n_outcomes=6, n_hidden=4, seed=0, n_chains=500).double()
    randomize(model, seed=6, scale=0.3)
    rng = np.random.default_rng(6)
    psi = model.state_vector().numpy()
    target = DenseState.normalized(psi + 0.03 * (rng.normal(size=psi.size) + 1j * rng.normal(size=psi.size)))
    exact = model.fidelity(target)
    estimate = model.fidelity(target, method="mc", n_samples=5000, generator=0)
    assert exact.method == "exact" and estimate.method == "mc" and 0.3 < exact.value < 0.95
    assert 0 < estimate.stderr < 0.02
    assert abs(estimate.value - exact.value) < 4 * estimate.stderr
    assert estimate.details["gibbs"]["thinning"] >= 1 and estimate.details["n_target_samples"] == 5000


def product_mps(vectors: np.ndarray) -> MPSState:
    return MPSState([v.reshape(1, 2, 1) for v in vectors])


def test_monte_carlo_fidelity_of_a_product_state_at_24_qubits() -> None:
    """Beyond the dense limit, against the closed form prod_i |<phi_i|psi_i>|^2 of two product states.

    With all weights 0 the RBM is the product psi_i(s) = exp(b_i(s) / 2 + i b'_i(s) / 2) of its visible biases
    (amplitude b, phase b'); the target's sites are psi_i's rotated slightly.
    """
    n = 24
    model = build("rbm-complex", n_qubits=n, n_outcomes=6, n_hidden=2, seed=0, n_chains=200).double()
    rng = np.random.default_rng(8)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.amplitude.visible_bias.copy_(torch.as_tensor(rng.normal(size=(n, 2))))
        model.phase.visible_bias.copy_(torch.as_tensor(rng.normal(size=(n, 2))))
    b, b_phase = model.amplitude.visible_bias.detach().numpy(), model.phase.visible_bias.detach().numpy()
    sites = np.exp(0.5 * b + 0.5j * b_phase)
    sites /= np.linalg.norm(sites, axis=1, keepdims=True)
    targets = sites + 0.1 * (rng.normal(size=(n, 2)) + 1j * rng.normal(size=(n, 2)))
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    closed_form = float(np.prod(np.abs((targets.conj() * sites).sum(1)) ** 2))
    estimate = model.fidelity(product_mps(targets), n_samples=4000, generator=1)
    assert estimate.method == "mc" and 0.2 < closed_form < 0.9
    assert abs(estimate.value - closed_form) < 4 * estimate.stderr and estimate.stderr < 0.03


def test_a_24_qubit_model_trains_with_the_sampled_phase_and_its_state_is_refused_clearly() -> None:
    """GHZ_24 Z-basis shots: beyond enumeration, training runs on chains; the dense state is refused with a clear
    error (also through the metrics' `model_state`) and the fidelity with the target MPS comes by Monte Carlo."""
    n = 24
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(400, 1, generator=g) < 0.5).long().repeat(1, n)
    model = build("rbm-complex", n_qubits=n, n_outcomes=6, n_hidden=n, seed=0, k=2, n_chains=100)
    assert model.hyperparameters["negative_phase"] == "sampled"
    history = Trainer(
        model, lr=0.05, batch_size=200, epochs=2, val_fraction=0.0, progress=False, device="cpu", monitor="none"
    ).fit(data)
    assert all(math.isfinite(v) for v in history["train_free_energy_gap"])
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    with pytest.raises(ModelError, match="24 qubits exceeds the limit of 20; use fidelity"):
        model.as_state()
    with pytest.raises(MetricError, match="as_state\\(\\) is unavailable"):
        model_state(model)
    with pytest.raises(ModelError, match="exceeds the limit of 20"):
        model.sample(3, generator=0)
    estimate = model.fidelity(ghz_mps(n), n_samples=500, generator=2)
    assert estimate.method == "mc" and estimate.stderr > 0 and -0.1 < estimate.value < 1.1


def test_positive_rbm_monte_carlo_fidelity_at_24_qubits() -> None:
    """rbm-positive beyond the dense limit: its `sample` (PCD model, Gibbs) and -F / 2 give the closed form."""
    model, target, closed_form = positive_product_rbm(24, seed=9)
    estimate = model.fidelity(target, n_samples=4000, generator=1)
    assert model.hyperparameters["gradient"] == "exact"  # 2^2 hidden configurations: log Z stays exact
    assert estimate.method == "mc" and 0.2 < closed_form < 0.9
    assert abs(estimate.value - closed_form) < 4 * estimate.stderr and estimate.stderr < 0.03


def test_target_amplitudes_of_an_mps_are_its_dense_vector() -> None:
    """The batched MPS contraction (rescaled per site) against the dense vector, phases included."""
    rng = np.random.default_rng(11)
    psi = random_vector(6, rng)
    mps = MPSState.from_dense(psi)
    sigma = torch.as_tensor(list(itertools.product((0, 1), repeat=6)))
    got = torch.exp(target_log_amplitudes(mps, sigma)).numpy()
    np.testing.assert_allclose(got, mps.to_dense(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(got, psi / np.linalg.norm(psi), rtol=0, atol=1e-12)
    dense = torch.exp(target_log_amplitudes(DenseState(vector=mps.to_dense()), sigma)).numpy()
    np.testing.assert_allclose(dense, got, rtol=0, atol=1e-13)

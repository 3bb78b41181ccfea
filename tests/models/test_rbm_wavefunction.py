"""Wavefunction RBMs against dense linear algebra: basis rotations, normalisation, sampling, known states."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from qgen.data import BasisSamplingWarning, import_qucumber
from qgen.data.importers import import_state_vector_text
from qgen.errors import ModelError
from qgen.measurement.povm import POVM
from qgen.models import build
from qgen.models.base import Step
from qgen.models.rbm import ComplexRBM, PositiveRBM
from qgen.models.rbm.bases import BASIS_ROWS, rotated_log_amplitude
from qgen.states.dense import DenseState
from qgen.train import Trainer
from tests.helpers import assert_samples_fit, pauli_matrix_of, random_vector, tfim_vector

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
    with pytest.raises(ModelError, match="exceeds the limit"):
        ComplexRBM(21)
    with pytest.raises(ModelError, match="method must be"):
        ComplexRBM(2).log_normalizer("ais")


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

"""The positive wavefunction of Z-basis shots and the state route of evaluation, against dense linear algebra."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

from qgen.data import MeasurementData, import_qucumber
from qgen.data.importers import computational_povm
from qgen.errors import MetricError
from qgen.measurement.povm import POVM
from qgen.metrics import EmpiricalDistribution, positive_state
from qgen.metrics.positive import (
    MAX_POSITIVE_QUBITS,
    POSITIVE_METHOD,
    is_computational,
    model_state,
    state_fidelity,
    state_observables,
)
from qgen.models import build
from qgen.models.rbm import PositiveRBM
from qgen.report.evaluation import evaluate
from qgen.states import tfim
from qgen.states.dense import DenseState
from qgen.train import Trainer
from tests.helpers import (
    REFERENCE,
    pauli_matrix_of,
    random_density_matrix,
    random_vector,
    tfim_hamiltonian_dict,
    tfim_vector,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N = 4
# Exact ground-state energy of QuCumber's TFIM data (N = 10, h = J = 1, open chain), by free fermions.
TFIM10_ENERGY = -12.381489999654754


def dense_expectation(psi: np.ndarray, string: str) -> float:
    return float(np.vdot(psi, pauli_matrix_of(string) @ psi).real)


def randomize(model: torch.nn.Module, seed: int, scale: float = 0.5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.fixture(scope="module")
def exact_z_shots():
    """The TFIM N = 4 ground state (h = 0.8) measured in the Z basis: its exact distribution, and the dense
    reference vector from tests.helpers (independent of qgen.states)."""
    return tfim(N, h=0.8).measured(computational_povm()), tfim_vector(N, 0.8)


def test_positive_state_of_the_exact_distribution_is_the_ground_state(exact_z_shots) -> None:
    measurement, psi = exact_z_shots
    state = positive_state(measurement)
    assert state.is_pure and np.all(state.vector.real >= 0) and np.all(state.vector.imag == 0)
    assert abs(abs(np.vdot(psi, state.vector)) ** 2 - 1) < 1e-12
    for i in range(N):
        string = "".join("X" if k == i else "I" for k in range(N))
        assert state.expectation(string) == pytest.approx(dense_expectation(psi, string), abs=1e-10)
    energy = sum(c * dense_expectation(psi, s) for s, c in tfim_hamiltonian_dict(N, 0.8).items())
    assert state.expectation(tfim_hamiltonian_dict(N, 0.8)) == pytest.approx(energy, abs=1e-10)


def test_positive_state_of_an_rnn_is_the_square_root_of_its_log_prob() -> None:
    """An autoregressive model goes through the prefix-tree table: compare with log_prob string by string."""
    model = build("rnn", n_qubits=3, n_outcomes=2, seed=1)
    randomize(model, 1)
    strings = torch.as_tensor(list(itertools.product(range(2), repeat=3)))
    with torch.no_grad():
        p = torch.exp(model.log_prob(strings).double()).numpy()
    state = positive_state(model)
    np.testing.assert_allclose(state.vector.real, np.sqrt(p / p.sum()), rtol=1e-6, atol=1e-7)


def test_positive_state_of_an_rbm_agrees_with_its_own_state() -> None:
    """The unnormalized route (log Z subtracted by the metrics) against PositiveRBM.as_state (its own)."""
    rbm = PositiveRBM(4, n_hidden=3)
    randomize(rbm, 2)
    ours, own = positive_state(rbm).vector, rbm.as_state().vector
    np.testing.assert_allclose(ours, own, atol=1e-7)


def test_positive_state_of_exact_frequencies_is_close(exact_z_shots) -> None:
    """The shots themselves (EmpiricalDistribution): sqrt of the frequencies of 2 10^5 exact samples.

    The infidelity 1 - F = sum (sqrt p - sqrt q)^2 is about (2^N - 1) / (4 n) ~ 2e-5 for n draws: 1e-3 is 50x.
    """
    measurement, psi = exact_z_shots
    shots = measurement.sample(200_000, generator=torch.Generator().manual_seed(0))
    state = positive_state(EmpiricalDistribution(shots, 2))
    assert abs(np.vdot(psi, state.vector)) ** 2 > 1 - 1e-3


def test_positive_state_refuses_what_is_not_z_basis_bits(exact_z_shots) -> None:
    with pytest.raises(MetricError, match="K = 2.*K = 4"):
        positive_state(tfim(3, h=1.0).measured("pauli4"))
    x_basis = POVM([[[0.5, 0.5], [0.5, 0.5]], [[0.5, -0.5], [-0.5, 0.5]]], name="x-basis")
    with pytest.raises(MetricError, match="computational-basis shots.*'x-basis'"):
        positive_state(exact_z_shots[0], povm=x_basis)
    big = build("rnn", n_qubits=MAX_POSITIVE_QUBITS + 1, n_outcomes=2, seed=0)
    with pytest.raises(MetricError, match=f"N <= {MAX_POSITIVE_QUBITS}, got N = {MAX_POSITIVE_QUBITS + 1}"):
        positive_state(big)
    gan = build("gan", n_qubits=3, n_outcomes=2, seed=0)
    with pytest.raises(MetricError, match="likelihood 'none'"):
        positive_state(gan)


def test_a_models_recorded_povm_is_checked() -> None:
    model = build("rnn", n_qubits=2, n_outcomes=2, seed=0)
    flipped = POVM(computational_povm().elements[::-1], name="flipped")
    model.measurement = MeasurementData(np.zeros((2, 2), np.uint8), flipped).measurement_record()
    with pytest.raises(MetricError, match="'flipped'"):
        positive_state(model)
    model.measurement = MeasurementData(np.zeros((2, 2), np.uint8), computational_povm()).measurement_record()
    assert positive_state(model).n_qubits == 2
    assert is_computational(computational_povm()) and not is_computational(flipped)


def test_model_state_prefers_the_models_own_state() -> None:
    rbm = PositiveRBM(3, n_hidden=2)
    state, method = model_state(rbm, positive=True)
    assert method == "rbm-positive as_state(), exact over 2^N"
    np.testing.assert_array_equal(state.vector, rbm.as_state().vector)
    rnn = build("rnn", n_qubits=3, n_outcomes=2, seed=0)
    assert model_state(rnn) is None
    assert model_state(rnn, positive=True)[1] == POSITIVE_METHOD
    density = build("rbm-density", n_qubits=2, n_outcomes=6, seed=0, n_hidden=2, n_aux=2)
    assert model_state(density)[1] == "rbm-density as_state(), exact over 4^N"


def test_state_observables_against_dense_matrices() -> None:
    rng = np.random.default_rng(3)
    psi = random_vector(3, rng)
    ham = {"ZZI": -1.0, "IZZ": -1.0, "XII": -0.5, "IXI": -0.5, "IIX": -0.5}
    obs = state_observables(DenseState(vector=psi), "m", ham)
    for i in range(3):
        x = "".join("X" if k == i else "I" for k in range(3))
        z = "".join("Z" if k == i else "I" for k in range(3))
        assert obs["magnetization_x"].value[i] == pytest.approx(dense_expectation(psi, x), abs=1e-12)
        assert obs["magnetization_z"].value[i] == pytest.approx(dense_expectation(psi, z), abs=1e-12)
        for j in range(3):
            zz = "".join("Z" if k in (i, j) else "I" for k in range(3)) if i != j else "III"
            assert obs["correlation_zz"].value[i, j] == pytest.approx(dense_expectation(psi, zz), abs=1e-12)
    energy = sum(c * dense_expectation(psi, s) for s, c in ham.items())
    assert obs["energy"].value == pytest.approx(energy, abs=1e-12)
    assert obs["energy"].method == "m" and obs["energy"].stderr == 0.0


def test_state_fidelity_in_every_pure_and_mixed_combination() -> None:
    rng = np.random.default_rng(4)
    psi, phi = random_vector(2, rng), random_vector(2, rng)
    rho = random_density_matrix(2, rng)
    pure, other = DenseState(vector=psi), DenseState(vector=phi)
    mixed = DenseState(density_matrix=rho)
    assert state_fidelity(pure, other, "m").value == pytest.approx(abs(np.vdot(psi, phi)) ** 2, abs=1e-12)
    assert state_fidelity(pure, mixed, "m").value == pytest.approx(np.vdot(psi, rho @ psi).real, abs=1e-12)
    assert state_fidelity(mixed, other, "m").value == pytest.approx(np.vdot(phi, rho @ phi).real, abs=1e-12)
    # Two commuting (diagonal) density matrices: F = (sum_i sqrt(p_i q_i))^2 in closed form.
    p, q = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    value = state_fidelity(DenseState(density_matrix=np.diag(p)), DenseState(density_matrix=np.diag(q)), "m").value
    assert value == pytest.approx(np.sum(np.sqrt(p * q)) ** 2, abs=1e-7)  # qutip's sqrt: ~1e-8 accurate
    with pytest.raises(MetricError, match="3 qubits but the target has 2"):
        state_fidelity(DenseState(vector=random_vector(3, rng)), pure, "m")


def test_evaluate_positive_reports_x_and_energy_from_the_state(exact_z_shots) -> None:
    measurement, psi = exact_z_shots
    target = tfim(N, h=0.8)
    report = evaluate(measurement, target, povm=computational_povm(), positive=True, n_samples=500)
    assert report["model"]["state"] == {"method": POSITIVE_METHOD, "pure": True}
    x = report["observables"]["magnetization_x"]
    assert x["model"]["method"] == POSITIVE_METHOD
    np.testing.assert_allclose(x["model"]["value"], x["exact"]["value"], atol=1e-10)
    assert x["model_samples"]["status"] == "not determined by this measurement"
    assert report["observables"]["energy"]["model"]["value"] == pytest.approx(
        target.expectation(tfim_hamiltonian_dict(N, 0.8)), abs=1e-10
    )
    assert report["quantum_fidelity"]["value"] == pytest.approx(1.0, abs=1e-12)
    assert report["quantum_fidelity"]["method"] == POSITIVE_METHOD
    # Without --positive the same model has no <X>: the dual frame of Z-basis shots does not determine it.
    plain = evaluate(measurement, target, povm=computational_povm(), n_samples=500)
    assert plain["observables"]["magnetization_x"]["model"]["status"] == "not determined by this measurement"
    assert "state" not in plain["model"]


def test_evaluate_positive_refuses_other_povms() -> None:
    target = tfim(3, h=1.0)
    with pytest.raises(MetricError, match="K = 2"):
        evaluate(target.measured("pauli4"), target, positive=True, n_samples=100)


@pytest.mark.slow
@pytest.mark.reference(REFERENCE / "qucumber" / "tfim1d_data.txt")
def test_positive_rbm_on_qucumber_tfim_gives_x_and_energy(reference_dir) -> None:
    """QuCumber's TFIM N = 10 Z-basis shots (10^4): <X_i> within 5 % and the energy within 1 % of exact, where
    the dual-frame average reports them as not determined (~11 s of training on one thread)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = import_qucumber(reference_dir / "qucumber" / "tfim1d_data.txt")
    model = PositiveRBM(10, n_hidden=10)
    x = torch.as_tensor(data.outcomes.astype(np.int64))
    Trainer(
        model,
        lr=0.01,
        batch_size=1000,
        epochs=100,
        val_fraction=0.0,
        early_stopping_patience=None,
        monitor="none",
        clip_grad=None,
        progress=False,
        device="cpu",
        seed=0,
    ).fit(x)
    report = evaluate(model, tfim(10, h=1.0), data=data, n_samples=1000)
    obs = report["observables"]
    exact_x = np.asarray(obs["magnetization_x"]["exact"]["value"])
    np.testing.assert_allclose(obs["magnetization_x"]["model"]["value"], exact_x, rtol=0.05)
    assert obs["energy"]["exact"]["value"] == pytest.approx(TFIM10_ENERGY, abs=1e-8)
    assert obs["energy"]["model"]["value"] == pytest.approx(TFIM10_ENERGY, rel=0.01)
    assert report["quantum_fidelity"]["value"] > 0.98
    assert obs["magnetization_x"]["data"]["status"] == "not determined by this measurement"

"""RBMs and positive wavefunctions on the command line: import QuCumber's shots, train, evaluate from the state.

Every number the report takes from the model's state is checked against the saved model's state and the
target read independently (numpy on QuCumber's text files, dense Pauli matrices), not against qgen's own path.
"""

from __future__ import annotations

import json
import warnings
from functools import reduce
from pathlib import Path

import numpy as np
import pytest

from qgen.cli import main
from qgen.data import BasisSamplingWarning
from qgen.metrics import positive_state
from qgen.metrics.positive import POSITIVE_METHOD
from qgen.models import load as load_model
from tests.helpers import REFERENCE, pauli_matrix_of, tfim_hamiltonian_dict

QUCUMBER = REFERENCE / "qucumber"
pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.reference(QUCUMBER / "tfim1d_data.txt")]
NOT_DETERMINED = "not determined by this measurement"


def head(source: Path, rows: int, folder: Path) -> Path:
    """The first `rows` lines of a QuCumber text file, as a file in `folder` (a small data set trains fast)."""
    out = folder / source.name
    out.write_text("".join(source.read_text().splitlines(keepends=True)[:rows]))
    return out


def qucumber_vector(name: str) -> np.ndarray:
    """QuCumber's 'Re Im' lines as a complex vector, read with numpy alone."""
    table = np.loadtxt(QUCUMBER / name)
    return table[:, 0] + 1j * table[:, 1]


def train(model: str, data: Path, out: Path, *options: str, epochs: int = 2, batch: int = 250) -> None:
    argv = ["train", "--model", model, "--data", str(data), "--epochs", str(epochs), "--batch-size", str(batch)]
    argv += ["--lr", "0.02", "--seed", "1", "--quiet", "-o", str(out)]
    for option in options:
        argv += ["--option", option]
    assert main(argv) == 0


def evaluate(model: Path, data: Path, report: Path, *extra: str) -> dict:
    argv = ["evaluate", "--model", str(model), "--data", str(data), "--json", str(report), "--n-samples", "500"]
    assert main([*argv, *extra]) == 0
    return json.loads(report.read_text())


def dense_energy(psi: np.ndarray, n: int) -> float:
    """<psi|H|psi> for the TFIM at h = J = 1 on an open chain, H built from Kronecker products."""
    h = sum(c * pauli_matrix_of(s) for s, c in tfim_hamiltonian_dict(n, 1.0).items())
    return float(np.vdot(psi, h @ psi).real)


@pytest.fixture(scope="module")
def tfim_data(tmp_path_factory) -> Path:
    """QuCumber's TFIM N = 10 Z-basis shots (first 2000 rows) imported with `qgen import qucumber`."""
    folder = tmp_path_factory.mktemp("tfim")
    out = folder / "tfim.h5"
    assert main(["import", "qucumber", str(head(QUCUMBER / "tfim1d_data.txt", 2000, folder)), "-o", str(out)]) == 0
    return out


def test_positive_rbm_trains_and_reports_its_state(tfim_data, tmp_path, capsys) -> None:
    model = tmp_path / "rbm.pt"
    train("rbm-positive", tfim_data, model, "n_hidden=4")
    report = evaluate(model, tfim_data, tmp_path / "r.json", "--target", "tfim:h=1")
    method = "rbm-positive as_state(), exact over 2^N"
    assert report["model"]["state"] == {"method": method, "pure": True}
    psi = load_model(model).as_state().vector
    fidelity = report["quantum_fidelity"]
    assert fidelity["method"] == method
    assert fidelity["value"] == pytest.approx(abs(np.vdot(qucumber_vector("tfim1d_psi.txt"), psi)) ** 2, abs=1e-9)
    energy = report["observables"]["energy"]
    assert energy["model"]["method"] == method
    assert energy["model"]["value"] == pytest.approx(dense_energy(psi, 10), abs=1e-8)
    assert energy["model_samples"]["status"] == NOT_DETERMINED
    # Classical fidelity and KL through the RBM's exact log Z (2^4 hidden configurations).
    assert report["classical_fidelity"]["method"] == "exact" and report["kl_divergence"]["method"] == "exact"
    assert method in capsys.readouterr().out


def test_evaluate_positive_turns_an_rnn_into_a_wavefunction(tfim_data, tmp_path) -> None:
    model = tmp_path / "rnn.pt"
    train("rnn", tfim_data, model, "hidden_size=8", epochs=1, batch=500)
    plain = evaluate(model, tfim_data, tmp_path / "plain.json", "--target", "tfim:h=1")
    assert plain["observables"]["magnetization_x"]["model"]["status"] == NOT_DETERMINED
    report = evaluate(model, tfim_data, tmp_path / "positive.json", "--target", "tfim:h=1", "--positive")
    psi = positive_state(load_model(model)).vector
    assert report["model"]["state"]["method"] == POSITIVE_METHOD
    x = report["observables"]["magnetization_x"]["model"]
    assert x["method"] == POSITIVE_METHOD
    assert x["value"][0] == pytest.approx(np.vdot(psi, pauli_matrix_of("X" + "I" * 9) @ psi).real, abs=1e-9)
    assert report["observables"]["energy"]["model"]["value"] == pytest.approx(dense_energy(psi, 10), abs=1e-8)
    target = qucumber_vector("tfim1d_psi.txt")
    assert report["quantum_fidelity"]["value"] == pytest.approx(abs(np.vdot(target, psi)) ** 2, abs=1e-9)


def test_positive_on_basis_data_is_refused(tmp_path, capsys) -> None:
    data = tmp_path / "qubits.h5"
    with pytest.warns(BasisSamplingWarning, match="not drawn uniformly"):
        files = [str(QUCUMBER / "qubits_train.txt"), str(QUCUMBER / "qubits_train_bases.txt")]
        assert main(["import", "qucumber", *files, "-o", str(data)]) == 0
    model = tmp_path / "rnn.pt"
    train("rnn", data, model, "hidden_size=4", epochs=1)
    capsys.readouterr()
    argv = ["evaluate", "--model", str(model), "--data", str(data), "--json", str(tmp_path / "r.json"), "--positive"]
    assert main(argv) == 2
    assert "K = 2 outcomes per qubit" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_complex_rbm_on_qucumber_basis_data(tmp_path) -> None:
    data = tmp_path / "qubits.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BasisSamplingWarning)  # 5 of the 9 settings: tested in the importers
        files = [str(QUCUMBER / "qubits_train.txt"), str(QUCUMBER / "qubits_train_bases.txt")]
        assert main(["import", "qucumber", *files, "-o", str(data)]) == 0
    model = tmp_path / "complex.pt"
    train("rbm-complex", data, model, "n_hidden=2", epochs=3, batch=100)
    report = evaluate(model, data, tmp_path / "r.json", "--target", str(QUCUMBER / "qubits_psi.txt"))
    method = "rbm-complex as_state(), exact over 2^N"
    psi = load_model(model).as_state().vector
    target = qucumber_vector("qubits_psi.txt")
    target = target / np.linalg.norm(target)
    assert report["quantum_fidelity"]["method"] == method
    assert report["quantum_fidelity"]["value"] == pytest.approx(abs(np.vdot(target, psi)) ** 2, abs=1e-9)
    x1 = report["observables"]["magnetization_x"]
    assert x1["model"]["value"][1] == pytest.approx(np.vdot(psi, pauli_matrix_of("IX") @ psi).real, abs=1e-9)
    assert x1["exact"]["value"][1] == pytest.approx(np.vdot(target, pauli_matrix_of("IX") @ target).real, abs=1e-9)
    # pauli6 is informationally complete: the sample-based estimate is there too, within 5 standard errors.
    samples = x1["model_samples"]
    assert abs(samples["value"][1] - x1["model"]["value"][1]) < 5 * samples["stderr"][1]


def uhlmann(rho: np.ndarray, sigma: np.ndarray) -> float:
    """(Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2 by eigendecompositions (numpy only)."""

    def sqrtm(m: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh((m + m.conj().T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.conj().T

    root = sqrtm(rho)
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root @ sigma @ root), 0, None))) ** 2)


def test_density_rbm_on_the_depolarised_w_state(tmp_path) -> None:
    data = tmp_path / "w.h5"
    folder = tmp_path / "w"
    folder.mkdir()
    # Every 10th shot of the 9000 keeps all settings and trains in well under a second an epoch.
    for name in ("N2_W_state_1000_samples_data.txt", "N2_W_state_1000_samples_bases.txt"):
        lines = (QUCUMBER / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join(lines[::10]))
    files = [str(folder / "N2_W_state_1000_samples_data.txt"), str(folder / "N2_W_state_1000_samples_bases.txt")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BasisSamplingWarning)  # a subsample of a fixed design of settings
        assert main(["import", "qucumber", *files, "-o", str(data)]) == 0
    model = tmp_path / "density.pt"
    train("rbm-density", data, model, "n_hidden=2", "n_aux=2", epochs=2, batch=100)
    real, imag = QUCUMBER / "N2_W_state_target_real.txt", QUCUMBER / "N2_W_state_target_imag.txt"
    report = evaluate(model, data, tmp_path / "r.json", "--target", f"{real},{imag}")
    method = "rbm-density as_state(), exact over 4^N"
    assert report["model"]["state"] == {"method": method, "pure": False}
    rho = load_model(model).as_state().density_matrix
    sigma = np.loadtxt(real) + 1j * np.loadtxt(imag)
    assert report["quantum_fidelity"]["method"] == method
    # qutip's fidelity (the report's) is accurate to ~1e-8 (see qgen.metrics.fidelity.uhlmann_fidelity).
    assert report["quantum_fidelity"]["value"] == pytest.approx(uhlmann(rho, sigma), abs=1e-6)
    zz = report["observables"]["correlation_zz"]["model"]["value"][0][1]
    assert zz == pytest.approx(np.trace(reduce(np.kron, [pauli_matrix_of("Z")] * 2) @ rho).real, abs=1e-9)

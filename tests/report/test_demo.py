"""The demo, `make demo`'s job, runs end to end (quick size) and writes what it promises."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qgen.report.demo import DEMO_DEFAULTS, run_demo
from tests.helpers import pauli_matrix_of, tfim_hamiltonian_dict


def test_quick_demo_writes_data_model_report_and_figures(tmp_path, capsys):
    report = run_demo(tmp_path, quick=True)
    for name in ("data.h5", "model.pt", "report.json"):
        assert (tmp_path / name).is_file()
    figures = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert figures == [
        "correlation_matrix.png",
        "correlation_vs_distance.png",
        "learning_curve.png",
        "magnetization_x.png",
        "magnetization_z.png",
    ]
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["classical_fidelity"]["method"] == "exact"
    # Two epochs on 2,000 samples of a 4-qubit chain: well above the uniform distribution (F = 0.861).
    assert report["classical_fidelity"]["value"] > 0.95
    assert len(report["plots"]) == 5
    assert "classical_fidelity" in capsys.readouterr().out


def test_demo_trains_with_the_recipe_qgen_train_uses():
    # No epochs or batch size of its own: the demo shows what `qgen train` does with no flags.
    assert DEMO_DEFAULTS["model"] == "rnn"
    assert DEMO_DEFAULTS["epochs"] is None and DEMO_DEFAULTS["batch_size"] is None


@pytest.mark.slow  # the full demo: about 1.5 min on one loaded core
def test_full_demo_converges_energy_within_its_error_bar(tmp_path):
    report = run_demo(tmp_path)
    energy = report["observables"]["energy"]
    model, exact = energy["model"], energy["exact"]["value"]
    # The exact column against an independent reference: the lowest eigenvalue of the dense 256 x 256 matrix.
    h = sum(c * pauli_matrix_of(s) for s, c in tfim_hamiltonian_dict(8, 1.0).items())
    assert exact == pytest.approx(np.linalg.eigvalsh(h)[0], abs=1e-9)
    # A converged reconstruction: the model's energy within 2 of its standard errors of the exact value (at this
    # seed it is 0.5), the exact classical fidelity above 0.99 and the exact quantum fidelity above 0.97.
    assert abs(model["value"] - exact) <= 2 * model["stderr"]
    assert report["classical_fidelity"]["value"] > 0.99
    assert report["quantum_fidelity"]["method"] == "exact" and report["quantum_fidelity"]["value"] > 0.97

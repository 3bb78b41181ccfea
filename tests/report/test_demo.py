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


@pytest.mark.slow  # the full demo: about 30 s on one core
def test_full_demo_reconstructs_the_energy_and_reports_the_models_own(tmp_path):
    from qgen.measurement.povm import POVM
    from qgen.metrics.prefix_tree import autoregressive_log_probabilities
    from qgen.models import load

    report = run_demo(tmp_path)
    energy = report["observables"]["energy"]
    model, exact = energy["model"], energy["exact"]["value"]
    # The exact column against an independent reference: the lowest eigenvalue of the dense 256 x 256 matrix.
    terms = tfim_hamiltonian_dict(8, 1.0)
    h = sum(c * pauli_matrix_of(s) for s, c in terms.items())
    assert exact == pytest.approx(np.linalg.eigvalsh(h)[0], abs=1e-9)
    # The model's estimate (its samples, conditional means) against the model's own exact energy, from its 4^8
    # probabilities through the dual frame: within 4 standard errors (at this seed 0.1), with an error bar
    # below 0.02 (the dual frame alone gave 0.07).
    p = np.exp(autoregressive_log_probabilities(load(tmp_path / "model.pt"))).reshape((4,) * 8)
    duals = {letter: POVM.named("tetra").coefficients(letter).real for letter in "XYZ"}
    own = 0.0
    for string, coef in terms.items():
        factors = [duals[letter] if letter != "I" else np.ones(4) for letter in string]
        own += coef * float(np.einsum(p, list(range(8)), *sum(([f, [i]] for i, f in enumerate(factors)), []), []))
    assert model["method"] == "mc-conditional" and model["stderr"] < 0.02
    assert abs(model["value"] - own) <= 4 * model["stderr"]
    # A reconstruction: the energy within 2 % of exact (at this seed 1.6 %: the model's own bias, which the small
    # error bar resolves), the exact classical fidelity above 0.99 and the exact quantum fidelity above 0.97.
    assert abs(own - exact) <= 0.02 * abs(exact)
    assert report["classical_fidelity"]["value"] > 0.99
    assert report["quantum_fidelity"]["method"] == "exact" and report["quantum_fidelity"]["value"] > 0.97

"""Conditional models in reports: exact observables from a probability table, evaluation at a condition."""

from __future__ import annotations

import numpy as np
import pytest

from qgen.data.scan import simulate_scan
from qgen.measurement.povm import POVM
from qgen.models import build
from qgen.report.conditional import evaluate_at, observables_from_table, phase_diagram
from qgen.report.plots import plot_phase_diagram
from qgen.states.library import tfim

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("h", [0.5, 1.3])
def test_observables_from_the_exact_table_are_the_exact_expectations(h):
    """<X> and <Z_0 Z_{N/2}> read off the target's own K^N outcome probabilities equal state.expectation (1e-10)."""
    state, povm = tfim(5, h=h), POVM.named("tetra")
    log_p = np.log(state.measured(povm).probabilities().double().numpy())
    obs = observables_from_table(log_p, povm, 5)
    x = np.mean([state.expectation("I" * i + "X" + "I" * (4 - i)) for i in range(5)])
    assert abs(obs["x"] - x) < 1e-10 and abs(obs["zz"] - state.expectation("ZIZII")) < 1e-10


def test_phase_diagram_and_evaluation_at_a_condition():
    """An (untrained) conditional model is evaluated at any h: the diagram's fidelity is the report's exact one,
    and a scan's rows at that h (only those) are the raw-data baseline."""
    data = simulate_scan({"name": "tfim", "n_qubits": 3}, "h", "0.5,1.0", "tetra", 400, seed=0, reference=False)
    model = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, n_layers=1, n_conditions=1, condition_names=["h"])
    model.condition_rows(data)
    model.measurement = data.measurement_record()
    diagram = phase_diagram(model, {"name": "tfim", "n_qubits": 3}, "h", [0.5, 0.75], "tetra")
    assert diagram["values"] == [0.5, 0.75] and len(diagram["fidelity"]) == 2
    assert abs(diagram["x_exact"][0] - np.mean([tfim(3, h=0.5).expectation(p) for p in ("XII", "IXI", "IIX")])) < 1e-10
    report = evaluate_at(model, {"name": "tfim", "n_qubits": 3, "h": 0.5}, data=data, n_samples=500)
    assert report["condition"] == {"h": 0.5}
    assert report["classical_fidelity"]["method"] == "exact"
    assert abs(report["classical_fidelity"]["value"] - diagram["fidelity"][0]) < 1e-6
    assert len(plot_phase_diagram(diagram, trained=[0.5]).axes) == 3

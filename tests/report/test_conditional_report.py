"""Conditional models in reports: exact observables from a probability table, evaluation at a condition."""

from __future__ import annotations

import numpy as np
import pytest

from qgen.data.scan import simulate_scan
from qgen.errors import MetricError
from qgen.measurement.povm import POVM
from qgen.models import build
from qgen.report.conditional import choose_method, evaluate_at, observables_from_table, phase_diagram, phase_point
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


def _small_conditional(n_qubits: int = 4):
    data = simulate_scan({"name": "tfim", "n_qubits": n_qubits}, "h", "0.5,1.0", "tetra", 200, seed=0, reference=False)
    model = build(
        "rnn", n_qubits=n_qubits, n_outcomes=4, hidden_size=8, n_layers=1, n_conditions=1, condition_names=["h"], seed=3
    )
    model.condition_rows(data)
    return model


def test_sampled_point_agrees_with_the_exact_one():
    """The sampled estimators (F over target samples, observables over model samples) agree with the exact
    enumeration within 4 standard errors on an untrained conditional model at an unseen field (N = 4, 20,000
    samples; the fidelity's error about 2e-3), and name their estimators."""
    model, target = _small_conditional().at(h=0.8), tfim(4, h=0.8)
    exact = phase_point(model, target, "tetra", method="exact")
    sampled = phase_point(model, target, "tetra", method="sampled", n_samples=20_000, seed=1)
    assert exact["method"] == "exact" and sampled["method"] == "sampled"
    assert exact["fidelity_stderr"] == exact["x_stderr"] == exact["zz_stderr"] == 0.0
    for key in ("fidelity", "x", "zz"):
        assert 0 < sampled[f"{key}_stderr"] < 0.02
        assert abs(sampled[key] - exact[key]) < 4 * sampled[f"{key}_stderr"], key
    assert sampled["x_exact"] == exact["x_exact"] and sampled["zz_exact"] == exact["zz_exact"]
    assert sampled["methods"]["fidelity"].startswith("mc:") and "20,000" in sampled["methods"]["observables"]
    assert exact["methods"]["fidelity"].startswith("exact")


def test_sampled_point_of_the_target_itself_on_an_mps():
    """Evaluated against itself, the MPS target's outcome distribution (N = 16: 4^16 strings, sampled by "auto")
    has F = 1 exactly (every term sqrt(p/p) = 1, stderr 0) and its sampled <X>, <Z_0 Z_8> lie within 4 standard
    errors of the MPS's exact values, which agree with the free-fermion solution to 1e-6 (DMRG converged)."""
    from qgen.states.free_fermions import tfim_free_fermion_correlators

    target = tfim(16, h=0.9, representation="mps")
    point = phase_point(target.measured("tetra"), target, "tetra", n_samples=2_000, seed=0)
    assert point["method"] == "sampled"
    assert abs(point["fidelity"] - 1.0) < 1e-9 and point["fidelity_stderr"] < 1e-9
    for key in ("x", "zz"):
        assert abs(point[key] - point[f"{key}_exact"]) < 4 * point[f"{key}_stderr"], key
    free = tfim_free_fermion_correlators(16, h=0.9)
    assert abs(point["x_exact"] - free["X"].mean()) < 1e-6 and abs(point["zz_exact"] - free["ZZ"][0, 8]) < 1e-6


def test_phase_diagram_sampled_over_mps_targets():
    """Beyond the enumeration limit the diagram samples every point (errors > 0) and says so once."""
    model = _small_conditional(12)
    diagram = phase_diagram(
        model, {"name": "tfim", "n_qubits": 12}, "h", [0.6, 1.2], "tetra", n_samples=500, representation="mps"
    )
    assert diagram["method"] == "sampled" and "500" in diagram["methods"]["fidelity"]
    assert len(diagram["fidelity_stderr"]) == 2 and all(e > 0 for e in diagram["x_stderr"] + diagram["zz_stderr"])
    assert diagram["x_exact"][1] > diagram["x_exact"][0]  # <X> grows with the field


def test_method_choice_and_bad_input():
    assert choose_method("auto", 10, 4) == "exact" and choose_method("auto", 11, 4) == "sampled"
    with pytest.raises(MetricError, match="over the limit"):
        choose_method("exact", 14, 4)
    with pytest.raises(MetricError, match="'auto', 'exact' or 'sampled'"):
        choose_method("mc", 4, 4)
    model = _small_conditional().at(h=0.8)
    with pytest.raises(MetricError, match="n_samples"):
        phase_point(model, tfim(4, h=0.8), "tetra", method="sampled", n_samples=1)
    with pytest.raises(MetricError, match="N = 4"):
        phase_point(model, tfim(5, h=0.8), "tetra")

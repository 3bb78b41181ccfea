"""Tests of qgen.evaluation: the report against exact values, the empirical distribution, the CLI entry."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from qgen.data import MeasurementData, save
from qgen.errors import MetricError, StateError
from qgen.report.evaluation import EmpiricalDistribution, evaluate, exact_observables, run_evaluate, write_json
from qgen.states.dense import DenseState
from tests.helpers import positive_product_rbm, tfim_hamiltonian_dict, tfim_vector

N = 4


@pytest.fixture(scope="module")
def target():
    return DenseState(vector=tfim_vector(N, 1.0), spec={"name": "tfim", "n_qubits": N, "h": 1.0, "J": 1.0})


@pytest.fixture(scope="module")
def data(target):
    m = target.measured("tetra")
    x = m.sample(20_000, generator=torch.Generator().manual_seed(2)).numpy()
    return MeasurementData(x, m.povm, state=target.spec)


def _value_objects(tree):
    """Every dict in the report that carries a value."""
    if isinstance(tree, dict):
        if "value" in tree:
            yield tree
        for v in tree.values():
            yield from _value_objects(v)


def test_empirical_distribution_matches_counts(data):
    emp = EmpiricalDistribution(data)
    counts = Counter(map(tuple, data.outcomes.tolist()))
    seen = np.array(list(counts)[:50])
    expected = np.log([counts[tuple(r)] / data.n_samples for r in seen.tolist()])
    assert np.allclose(emp.log_prob(seen).numpy(), expected, rtol=0, atol=1e-12)
    assert emp.log_prob(np.array([[0, 0, 0, 0]] * 2)).shape == (2,)
    unseen = [s for s in np.ndindex(*(4,) * N) if s not in counts]
    if unseen:
        assert emp.log_prob(np.array(unseen[:3])).numpy().max() == -np.inf
    assert abs(emp.probabilities().sum().item() - 1) < 1e-12
    rows = emp.sample(100, generator=torch.Generator().manual_seed(0)).numpy()
    assert all(tuple(r) in counts for r in rows.tolist())
    assert emp.likelihood == "empirical" and emp.n_qubits == N and emp.n_outcomes == 4


def test_exact_observables_against_dense_state(target):
    ref = exact_observables(target)
    assert set(ref) == {"magnetization_x", "magnetization_z", "correlation_zz", "energy"}
    assert abs(ref["energy"] - np.linalg.eigvalsh(_dense_h(N, 1.0)).min()) < 1e-10
    assert np.all(np.diag(ref["correlation_zz"]) == 1)
    assert abs(ref["correlation_zz"][0, 2] - target.expectation("ZIZI")) < 1e-14
    assert np.allclose(ref["magnetization_z"], 0, atol=1e-12)  # Z2 symmetry of the open chain's ground state


def _dense_h(n, h):
    from functools import reduce

    from qgen.measurement.povm import PAULI

    out = np.zeros((2**n, 2**n), dtype=complex)
    for s, c in tfim_hamiltonian_dict(n, h).items():
        out += c * reduce(np.kron, [PAULI[ch] for ch in s])
    return out


def test_report_of_the_exact_measurement(target, data):
    report = evaluate(target.measured("tetra"), target, data=data, n_samples=20_000, seed=1)
    assert abs(report["classical_fidelity"]["value"] - 1) < 1e-12
    assert report["classical_fidelity"]["method"] == "exact"
    assert report["kl_divergence"]["value"] == 0.0
    assert abs(report["quantum_fidelity"]["value"] - 1) < 1e-10
    obs = report["observables"]
    assert set(obs) == {"magnetization_x", "magnetization_z", "correlation_zz", "energy"}
    for name, entry in obs.items():
        assert set(entry) == {"model", "exact", "data"}
        model, exact = np.array(entry["model"]["value"]), np.array(entry["exact"]["value"])
        err = np.array(entry["model"]["stderr"])
        assert np.all(np.abs(model - exact) <= 4 * err + 1e-12), name
    for obj in _value_objects(report):
        assert {"value", "stderr", "method"} <= set(obj)
    json.dumps(report, allow_nan=False)


def test_report_of_raw_data(data, target):
    report = evaluate(data, n_samples=5_000)
    assert report["model"]["likelihood"] == "empirical"
    assert report["classical_fidelity"]["method"] == "empirical"
    assert 0.99 < report["classical_fidelity"]["value"] < 1
    assert "data" not in report["observables"]["energy"]  # the model is the data
    # The raw data's energy is the dual-frame estimate over all rows.
    e, err = report["observables"]["energy"]["model"]["value"], report["observables"]["energy"]["model"]["stderr"]
    assert abs(e - target.expectation(tfim_hamiltonian_dict(N, 1.0))) < 4 * err


def test_report_without_target_uses_reference_group(data):
    ref = {"magnetization_z": np.zeros(N), "correlation_zz": np.eye(N)}
    bare = MeasurementData(data.outcomes[:2000], data.povm, reference=ref)
    report = evaluate(bare, n_samples=1000)
    assert report["reference"] == "data" and report["target"] is None
    assert report["observables"]["magnetization_z"]["exact"]["method"] == "reference"
    assert "exact" not in report["observables"]["magnetization_x"]
    assert "quantum_fidelity" not in report


def test_report_errors(data):
    with pytest.raises(MetricError, match="POVM"):
        evaluate(EmpiricalDistribution(data.outcomes, 4))


def test_run_evaluate_writes_json_and_plots(tmp_path):
    from qgen.states import ghz

    state = ghz(3)
    m = state.measured("pauli4")
    x = m.sample(3000, generator=torch.Generator().manual_seed(0)).numpy()
    save(MeasurementData(x, m.povm, state=state.spec), tmp_path / "d.h5")
    out = tmp_path / "out" / "report.json"
    report = run_evaluate(tmp_path / "d.h5", tmp_path / "d.h5", out, plots_dir=tmp_path / "plots", n_samples=500)
    written = json.loads(out.read_text())
    assert written["classical_fidelity"] == report["classical_fidelity"]
    assert written["target"] == {"name": "ghz", "n_qubits": 3}
    assert written["kl_divergence"]["value"] in ("inf",) or np.isfinite(written["kl_divergence"]["value"])
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "correlation_matrix.png",
        "correlation_vs_distance.png",
        "magnetization_x.png",
        "magnetization_z.png",
    ]
    # --target overrides the recorded state: a product state has <Z_0 Z_2> = 1, GHZ too, but <X_0> differs.
    other = run_evaluate(
        tmp_path / "d.h5",
        tmp_path / "d.h5",
        out,
        target_spec='{"name": "product", "states": ["+", "+", "+"]}',
        n_samples=500,
    )
    assert other["observables"]["magnetization_x"]["exact"]["value"] == pytest.approx([1, 1, 1])
    assert report["observables"]["magnetization_x"]["exact"]["value"] == pytest.approx([0, 0, 0], abs=1e-12)
    with pytest.raises(StateError, match="JSON spec"):
        run_evaluate(tmp_path / "d.h5", tmp_path / "d.h5", out, target_spec="not json")


def test_write_json_is_atomic(tmp_path):
    path = tmp_path / "r.json"
    write_json({"a": np.arange(3), "b": float("inf")}, path)
    assert json.loads(path.read_text()) == {"a": [0, 1, 2], "b": "inf"}
    with pytest.raises(TypeError):
        write_json({"bad": object()}, path)
    assert json.loads(path.read_text())["a"] == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ---- one table per distribution, one set of model samples, what the measurement cannot determine ----------


def test_report_distances_match_brute_force_enumeration(target, data):
    from qgen.models import build
    from qgen.strings import all_outcomes

    model = build("rnn", n_qubits=N, n_outcomes=4, seed=3, hidden_size=8, n_layers=1)
    report = evaluate(model, target, data=data, n_samples=500, seed=0)
    strings = all_outcomes(4, N)
    with torch.no_grad():
        lq = model.log_prob(strings).double().numpy()
    lp = target.measured("tetra").log_prob(strings).numpy()  # per-string, not probabilities()
    p, q = np.exp(lp), np.exp(lq)
    assert report["classical_fidelity"]["method"] == "exact"
    assert abs(report["classical_fidelity"]["value"] - np.sum(np.sqrt(p * q))) < 1e-6
    assert abs(report["kl_divergence"]["value"] - np.sum(p * (lp - lq))) < 1e-5
    assert abs(report["kl_divergence_reverse"]["value"] - np.sum(q * (lq - lp))) < 1e-5


def test_report_entries_are_estimates(target, data):
    from qgen.estimate import Estimate
    from qgen.metrics import correlation_matrix, magnetization
    from qgen.metrics.distributions import draw
    from qgen.seeding import as_generator

    model = target.measured("tetra")
    report = evaluate(model, target, data=data, n_samples=2000, seed=5)
    # The observables are computed on the first draw of the report's generator: one set of model samples.
    x = draw(model, 2000, as_generator(5))
    obs = report["observables"]
    assert Estimate.from_dict(obs["magnetization_x"]["model"]) == magnetization(x, data.povm, "X")
    assert Estimate.from_dict(obs["correlation_zz"]["data"]) == correlation_matrix(data.outcomes, data.povm, "Z")
    assert obs["energy"]["model"]["method"] == "mc-dual" and obs["energy"]["model"]["n_samples"] == 2000
    assert Estimate.from_dict(obs["energy"]["exact"]).stderr == 0.0


def test_monte_carlo_distances_share_the_model_samples():
    from qgen.metrics import classical_fidelity, kl_divergence
    from qgen.metrics.distributions import draw
    from qgen.models import build
    from qgen.seeding import as_generator
    from qgen.states import ghz

    state = ghz(11)  # 4^11 strings: above AUTO_ENUMERATION, so the distances go Monte Carlo
    model = build("rnn", n_qubits=11, n_outcomes=4, seed=0, hidden_size=8, n_layers=1)
    report = evaluate(model, state, povm="tetra", n_samples=400, seed=2)
    x = draw(model, 400, as_generator(2))
    m = state.measured("tetra")
    assert report["classical_fidelity"] == classical_fidelity(m, model, "mc", samples=x).to_dict()
    reverse = kl_divergence(m, model, "mc", direction="reverse", samples=x).to_dict()
    assert report["kl_divergence_reverse"] == reverse
    assert report["classical_fidelity"]["method"] == "mc" and "quantum_fidelity" not in report


def test_z_basis_data_report_what_they_do_not_determine(tmp_path):
    from qgen.measurement.povm import POVM

    state = DenseState(vector=tfim_vector(N, 1.0), spec={"name": "tfim", "n_qubits": N, "h": 1.0, "J": 1.0})
    z_basis = POVM([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], name="z-basis")
    x = state.measured(z_basis).sample(4000, generator=torch.Generator().manual_seed(0)).numpy()
    data = MeasurementData(x, z_basis, state=state.spec)
    report = evaluate(data, n_samples=1000)
    obs = report["observables"]
    for name in ("magnetization_x", "energy"):
        entry = obs[name]["model"]
        assert entry["status"] == "not determined by this measurement" and entry["value"] is None
        assert "exact" in obs[name]  # the target's value is still known
    zz = obs["correlation_zz"]["model"]
    assert np.all(np.abs(np.array(zz["value"]) - np.array(obs["correlation_zz"]["exact"]["value"])) < 0.1)
    json.dumps(report, allow_nan=False)
    from qgen.report.evaluation import write_plots

    paths = write_plots(report, tmp_path)
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "correlation_matrix.png",
        "correlation_vs_distance.png",
        "magnetization_z.png",
    ]


def test_depolarizing_three_quarters_determines_no_observable(target):
    from qgen.measurement.noise import depolarizing

    m = target.measured("tetra", depolarizing(0.75))
    x = m.sample(2000, generator=torch.Generator().manual_seed(0)).numpy()
    report = evaluate(MeasurementData(x, m.povm, ideal_povm=m.ideal_povm, state=target.spec), n_samples=500)
    for name, entry in report["observables"].items():
        assert entry["model"]["status"] == "not determined by this measurement", name
        assert entry["model"]["value"] is None  # never 0.0 +- 0.0


def test_figures_take_the_observables_estimates(data):
    from qgen.metrics import correlation_matrix, magnetization
    from qgen.report import plots

    mag = magnetization(data.outcomes, data.povm, "X")
    corr = correlation_matrix(data.outcomes, data.povm, "Z")
    from_estimate = plots.plot_magnetization(mag, data_values=mag)
    from_arrays = plots.plot_magnetization(mag.value, mag.stderr, data_values=mag.value, data_stderrs=mag.stderr)
    for a, b in zip(from_estimate.axes[0].lines, from_arrays.axes[0].lines):
        np.testing.assert_array_equal(a.get_xydata(), b.get_xydata())  # points and error-bar ends
    np.testing.assert_array_equal(
        plots.plot_correlation_vs_distance(corr).axes[0].lines[0].get_ydata(),
        plots.plot_correlation_vs_distance(corr.value, corr.stderr).axes[0].lines[0].get_ydata(),
    )
    assert len(plots.plot_correlation_matrix(corr, corr.value).axes) == 3


def test_run_evaluate_reads_file_targets_and_draws_the_learning_curve(tmp_path):
    from qgen.models import build
    from qgen.models import save as save_model
    from qgen.report.evaluation import learning_curve_keys
    from qgen.states import ghz

    state = ghz(3)
    m = state.measured("pauli4")
    x = m.sample(2000, generator=torch.Generator().manual_seed(0)).numpy()
    save(MeasurementData(x, m.povm, state=state.spec), tmp_path / "d.h5")
    model = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, n_layers=1, seed=0)
    model.history = {"epoch": [1.0, 2.0], "train_loss": [4.1, 3.9], "val_loss": [4.0, float("nan")], "lr": [1e-3] * 2}
    save_model(model, tmp_path / "m.pt")
    # The same state as a .npy vector gives the same exact numbers as the recorded spec (same seed, same samples).
    psi = np.zeros(8)
    psi[[0, 7]] = 2**-0.5
    np.save(tmp_path / "ghz.npy", psi)
    by_spec = run_evaluate(tmp_path / "m.pt", tmp_path / "d.h5", tmp_path / "a.json", n_samples=500)
    by_file = run_evaluate(
        tmp_path / "m.pt",
        tmp_path / "d.h5",
        tmp_path / "b.json",
        target_spec=tmp_path / "ghz.npy",
        n_samples=500,
        plots_dir=tmp_path / "plots",
    )
    for key in ("classical_fidelity", "kl_divergence", "quantum_fidelity"):
        assert by_file[key]["value"] == pytest.approx(by_spec[key]["value"], abs=1e-12), key
    assert by_file["target_source"] == str(tmp_path / "ghz.npy")
    assert (tmp_path / "plots" / "learning_curve.png").is_file()
    assert str(tmp_path / "plots" / "learning_curve.png") in by_file["plots"]
    # Which columns the curve shows: a recorded fidelity first, else the losses, else the other train_/val_ columns.
    assert learning_curve_keys(model.history) == ["train_loss", "val_loss"]
    assert learning_curve_keys({"classical_fidelity": [0.9], "train_loss": [1.0]}) == ["classical_fidelity"]
    assert learning_curve_keys({"train_d_loss": [1.0], "train_d_loss_stderr": [0.1], "lr": [1.0]}) == ["train_d_loss"]
    assert learning_curve_keys({}) == [] and learning_curve_keys({"val_loss": [float("nan")]}) == []


def test_progress_is_silent_while_quick_then_shows_the_running_stage() -> None:
    import io
    import time

    from qgen.report.progress import Progress

    out = io.StringIO()
    with Progress("qgen evaluate", mode="lines", delay=0.1, stream=out) as progress:
        progress.stage("quick step")  # over before the delay: never shown
        progress.stage("slow step")
        time.sleep(0.8)  # the delay passes during this stage: it is shown then (margin for a loaded machine)
        progress.stage("last step")  # after the delay: shown at once
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["qgen evaluate: slow step", "qgen evaluate: last step"]
    assert all(line.endswith(" s)") for line in lines)
    quick = io.StringIO()
    with Progress("qgen evaluate", mode=True, delay=5.0, stream=quick) as progress:
        progress.stage("step")
    assert quick.getvalue() == ""
    # On a terminal: one status line rewritten in place, wiped at the end.
    bar = io.StringIO()
    with Progress("qgen evaluate", mode="bar", delay=0.0, stream=bar) as progress:
        progress.stage("model table")
        time.sleep(0.1)
    text = bar.getvalue()
    assert text.startswith("\rqgen evaluate: model table (") and text.endswith("\r") and "\n" not in text
    silent = io.StringIO()
    with Progress("qgen evaluate", mode=False, delay=0.0, stream=silent) as progress:
        progress.stage("step")
        time.sleep(0.05)
    assert silent.getvalue() == ""
    with pytest.raises(MetricError, match="progress must be"):
        Progress("qgen evaluate", mode="verbose")


def test_evaluate_reports_each_stage_in_order(target, data) -> None:
    import io

    from qgen.report.progress import Progress

    out = io.StringIO()
    with Progress("qgen evaluate", mode="lines", delay=0.0, stream=out) as progress:
        evaluate(target.measured("tetra"), target, data=data, n_samples=500, seed=1, progress=progress)
    stages = [line.split(": ", 1)[1].rsplit(" (", 1)[0] for line in out.getvalue().splitlines()]
    assert stages == [
        "drawing 500 model samples",
        f"target table: all 4^{N} probabilities",
        f"model table: all 4^{N} probabilities",
        "classical fidelity",
        "KL divergence",
        "reverse KL divergence",
        "observables of the model samples",
        "the model's state",
        "observables of the data",
        "exact observables",
        "quantum fidelity",
    ]


def test_qgen_evaluate_shows_progress_on_stderr_unless_quiet(tmp_path, monkeypatch, capsys) -> None:
    from qgen.cli import main
    from qgen.report import evaluation
    from qgen.states import ghz

    m = ghz(3).measured("pauli4")
    x = m.sample(2000, generator=torch.Generator().manual_seed(0)).numpy()
    save(MeasurementData(x, m.povm, state=ghz(3).spec), tmp_path / "d.h5")
    argv = ["evaluate", "--model", str(tmp_path / "d.h5"), "--data", str(tmp_path / "d.h5"), "--n-samples", "300"]
    # A quick report (well under the 2 s delay) prints no progress.
    assert main([*argv, "--json", str(tmp_path / "a.json")]) == 0
    assert "qgen evaluate:" not in capsys.readouterr().err
    monkeypatch.setattr(evaluation, "PROGRESS_DELAY", 0.0)  # as if every step were slow
    assert main([*argv, "--json", str(tmp_path / "b.json")]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0].startswith("qgen evaluate: loading the model, the data and the target (")
    assert any(line.startswith("qgen evaluate: classical fidelity (") for line in err)
    assert err[-1].startswith("qgen evaluate: writing the report (")
    assert "qgen evaluate:" not in captured.out  # the table and the final line stay on stdout, untouched
    assert main([*argv, "--json", str(tmp_path / "c.json"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert (
        json.loads((tmp_path / "b.json").read_text())["classical_fidelity"]
        == json.loads((tmp_path / "c.json").read_text())["classical_fidelity"]
    )


def test_rbm_beyond_its_dense_state_gets_its_monte_carlo_quantum_fidelity() -> None:
    """rbm-positive at N = 24 (beyond as_state's 20 qubits) against a product-state MPS: evaluate reports the
    model's own Monte Carlo overlap (method "mc"), within 4 stderr of the closed form prod_i <phi_i|psi_i>^2."""
    from qgen.measurement.povm import POVM

    model, target, closed_form = positive_product_rbm(24, seed=9)
    z_basis = POVM([[[1, 0], [0, 0]], [[0, 0], [0, 1]]])
    report = evaluate(model, target, povm=z_basis, n_samples=2000, seed=1)
    fidelity = report["quantum_fidelity"]
    assert fidelity["method"] == "mc", fidelity
    assert abs(fidelity["value"] - closed_form) < 4 * fidelity["stderr"] and fidelity["stderr"] < 0.05

"""The qgen command line: simulate and info work, bad input exits non-zero with one line and no traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qgen.cli import main
from qgen.data import load
from qgen.measurement.povm import POVM


def test_simulate_then_info(tmp_path, capsys):
    out = tmp_path / "ghz.h5"
    rc = main(
        ["simulate", "--state", "ghz", "--n-qubits", "4", "--povm", "pauli4", "--samples", "500", "--seed", "3"]
        + ["--noise", "depolarizing:0.05", "-o", str(out), "--quiet"]
    )
    assert rc == 0
    data = load(out)
    assert data.outcomes.shape == (500, 4) and data.seed == 3
    assert data.state == {"name": "ghz", "n_qubits": 4}
    assert data.noise == [{"name": "depolarizing", "p": 0.05}]
    assert data.povm_name == "pauli4"
    # The same seed gives the same bits.
    again = tmp_path / "again.h5"
    main(
        ["simulate", "--state", "ghz", "--n-qubits", "4", "--povm", "pauli4", "--samples", "500", "--seed", "3"]
        + ["--noise", "depolarizing:0.05", "-o", str(again), "--quiet"]
    )
    assert np.array_equal(load(again).outcomes, data.outcomes)
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "500" in text and "pauli4" in text


def test_tfim_simulation_records_its_spec(tmp_path):
    out = tmp_path / "tfim.h5"
    args = ["simulate", "--state", "tfim", "--n-qubits", "4", "--field", "0.7", "--boundary", "periodic"]
    assert main(args + ["--samples", "100", "-o", str(out), "--quiet"]) == 0
    spec = load(out).state
    assert spec == {"name": "tfim", "n_qubits": 4, "h": 0.7, "J": 1.0, "boundary": "periodic"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            [
                "simulate",
                "--state",
                "ghz",
                "--n-qubits",
                "3",
                "--samples",
                "10",
                "--noise",
                "depol:0.1",
                "-o",
                "{tmp}/x.h5",
            ],
            "NAME:VALUE",
        ),
        (
            [
                "simulate",
                "--state",
                "ghz",
                "--n-qubits",
                "3",
                "--samples",
                "10",
                "--noise",
                "depolarizing:2",
                "-o",
                "{tmp}/x.h5",
            ],
            "must be in [0, 1]",
        ),
        (
            ["simulate", "--state", "ghz", "--n-qubits", "3", "--samples", "10", "-o", "{tmp}/missing/x.h5"],
            "does not exist",
        ),
        (["simulate", "--state", "ghz", "--n-qubits", "3", "--samples", "0", "-o", "{tmp}/x.h5"], "positive integer"),
        (["info", "{tmp}/nothing.h5"], "nothing.h5"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_not_hdf5_file_and_module_entry_point(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a data set")
    proc = subprocess.run([sys.executable, "-m", "qgen", "info", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad.h5" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "qgen", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("qgen ")


def test_train_sample_evaluate_pipeline(tmp_path, capsys):
    data = tmp_path / "d.h5"
    sim = ["simulate", "--state", "product", "--product-state", "0,+", "--n-qubits", "2", "--povm", "tetra"]
    assert main(sim + ["--samples", "2000", "--seed", "1", "-o", str(data), "--quiet"]) == 0
    model = tmp_path / "m.pt"
    train = ["train", "--model", "rnn", "--data", str(data), "--epochs", "5", "--option", "hidden_size=16"]
    assert main(train + ["--option", "n_layers=1", "--quiet", "-o", str(model)]) == 0
    samples = tmp_path / "s.h5"
    assert main(["sample", "--model", str(model), "-n", "300", "--seed", "4", "-o", str(samples)]) == 0
    out = load(samples)
    assert out.outcomes.shape == (300, 2) and out.povm_name == "tetra"
    assert out.state == {"name": "product", "n_qubits": 2, "states": ["0", "+"]}
    report = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--json", str(report)]) == 0
    import json

    r = json.loads(report.read_text())
    assert r["classical_fidelity"]["method"] == "exact"
    # An untrained (uniform) model already scores F_u = sum_a sqrt(P(a) / 16) = 0.929 on this target; the
    # trained one must remove 90% of its infidelity (5 epochs reach 1 - F = 6e-4; 2000 samples allow ~1e-3).
    m = POVM.named("tetra").elements
    zero, plus = np.array([[1, 0], [0, 0]]), np.full((2, 2), 0.5)
    p = np.einsum("aij,ji->a", m, zero).real[:, None] * np.einsum("aij,ji->a", m, plus).real[None, :]
    uniform = np.sqrt(p.ravel() / 16).sum()
    assert abs(uniform - 0.9292) < 1e-4
    assert 1 - r["classical_fidelity"]["value"] < 0.1 * (1 - uniform)
    assert {"classical_fidelity", "kl_divergence", "observables", "quantum_fidelity"} <= set(r)


def test_train_rejects_bad_option(tmp_path, capsys):
    data = tmp_path / "d.h5"
    main(["simulate", "--state", "ghz", "--n-qubits", "2", "--samples", "50", "-o", str(data), "--quiet"])
    capsys.readouterr()
    rc = main(["train", "--model", "rnn", "--data", str(data), "--option", "hidden_size", "-o", str(tmp_path / "m.pt")])
    assert rc == 2 and "KEY=VALUE" in capsys.readouterr().err


def test_import_qgen_is_light():
    code = "import sys, qgen; qgen.POVM.named('tetra'); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False"


def test_mps_data_set_carries_its_mps_and_evaluates_without_dmrg(tmp_path, monkeypatch):
    out = tmp_path / "ghz20.h5"
    args = ["simulate", "--state", "ghz", "--n-qubits", "20", "--povm", "tetra", "--samples", "2000"]
    assert main(args + ["-o", str(out), "--quiet"]) == 0
    data = load(out)
    assert sorted(data.reference["mps"]) == [f"site_{i:03d}" for i in range(20)]
    assert np.allclose(data.reference["correlation_zz"], 1.0)
    from qgen.report.evaluation import evaluate, target_of

    target = target_of(data)
    assert target.n_qubits == 20 and target.expectation("Z" * 2 + "I" * 18) == pytest.approx(1.0, abs=1e-12)
    # The raw data evaluated as a model against the stored target: <Z_i Z_j> within errors of 1.
    report = evaluate(data, data=data, n_samples=2000, seed=1)
    zz = np.asarray(report["observables"]["correlation_zz"]["model"]["value"])
    err = np.asarray(report["observables"]["correlation_zz"]["model"]["stderr"])
    assert np.all(np.abs(zz - 1)[err > 0] < 5 * err[err > 0])

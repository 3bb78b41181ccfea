"""The conditional command line: simulate a scan, train one model on it and another file, evaluate at any h."""

from __future__ import annotations

import json

import pytest

from qgen.cli import main
from qgen.data import load
from qgen.models import load as load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # 8 s here: in the default suite, it caught a broken path


def test_scan_train_evaluate(tmp_path, capsys, monkeypatch):
    scan, one, model, report = (tmp_path / name for name in ("scan.h5", "one.h5", "m.pt", "r.json"))
    assert main(["simulate", "--state", "tfim", "--n-qubits", "4", "--field", "0.5:1.5:3", "--samples", "300",
                 "-o", str(scan), "--quiet"]) == 0  # fmt: skip
    data = load(scan)
    assert data.n_samples == 900 and data.condition_names == ["h"]
    assert sorted(set(data.conditions[:, 0].tolist())) == [0.5, 1.0, 1.5]
    assert main(["simulate", "--state", "tfim", "--n-qubits", "4", "--field", "0.8", "--samples", "100",
                 "-o", str(one), "--quiet"]) == 0  # fmt: skip
    assert main(["train", "--model", "rnn", "--condition", "h", "--data", str(scan), str(one), "--epochs", "1",
                 "--option", "hidden_size=8", "-o", str(model), "--quiet"]) == 0  # fmt: skip
    trained = load_model(model)
    assert trained.condition_names == ("h",) and trained.condition_table.flatten().tolist() == [0.5, 0.8, 1.0, 1.5]
    target = json.dumps({"name": "tfim", "n_qubits": 4, "h": 0.93})
    assert main(["evaluate", "--model", str(model), "--target", target, "--json", str(report),
                 "--n-samples", "200"]) == 0  # fmt: skip
    written = json.loads(report.read_text())
    assert written["condition"] == {"h": 0.93} and written["classical_fidelity"]["method"] == "exact"
    assert 0.0 < written["classical_fidelity"]["value"] <= 1.0 + 1e-9
    assert "qgen evaluate:" not in capsys.readouterr().err  # quicker than the progress delay: silent
    monkeypatch.setattr("qgen.report.evaluation.PROGRESS_DELAY", 0.0)
    assert main(["evaluate", "--model", str(model), "--target", target, "--json", str(report), "--force",
                 "--n-samples", "200"]) == 0  # fmt: skip
    steps = capsys.readouterr().err
    for step in ("loading the model and the data", "building the target at {'h': 0.93}", "writing the report"):
        assert f"qgen evaluate: {step}" in steps, steps
    assert main(["evaluate", "--model", str(model), "--target", target, "--json", str(report), "--force",
                 "--n-samples", "200", "--quiet"]) == 0  # fmt: skip
    assert "qgen evaluate:" not in capsys.readouterr().err
    assert main(["train", "--model", "rnn", "--data", str(scan), str(one), "-o", str(tmp_path / "x.pt")]) == 2
    assert "name its condition with --condition" in capsys.readouterr().err
    assert main(["simulate", "--state", "tfim", "--n-qubits", "4", "--field", "0.5:1.5:1", "--samples", "5",
                 "-o", str(tmp_path / "bad.h5")]) == 2  # fmt: skip

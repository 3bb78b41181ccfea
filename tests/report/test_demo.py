"""The demo, `make demo`'s job, runs end to end (quick size) and writes what it promises."""

from __future__ import annotations

import json

from qgen.report.demo import run_demo


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

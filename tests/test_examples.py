"""Every script in examples/ runs in its fast mode, so none of them rots."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from qgen.measurement.noise import depolarizing
from qgen.report.validate import channel_fidelity
from qgen.states import ghz

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run examples/NAME as `python examples/NAME ARGS...` in this process; its exit status (0 if none)."""
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *args])
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_every_example_is_tested():
    tested = {
        "reconstruct_lab_data.py",
        "validate_setup.py",
        "reproduce_figure.py",
        "large_n_tfim.py",
        "bring_your_own_state.py",
        "generic_backend_toy.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_reconstruct_lab_data(tmp_path, monkeypatch, capsys):
    assert run_example("reconstruct_lab_data.py", "--fast", "-o", str(tmp_path), monkeypatch=monkeypatch) == 0
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "shots.txt").is_file()
    assert "<X_i>" in capsys.readouterr().out


def test_validate_setup(tmp_path, monkeypatch, capsys):
    status = run_example("validate_setup.py", "--fast", "-o", str(tmp_path), monkeypatch=monkeypatch)
    report = json.loads((tmp_path / "validation.json").read_text())
    assert status == report["exit_code"] in (0, 1, 3)
    # the simulated lab state's exact fidelity (GHZ_4, depolarizing p = 0.03 per qubit; closed form and dense
    # checks of channel_fidelity in tests/report/test_validate.py): the direct estimate lies within 4 errors
    exact = channel_fidelity(ghz(4), depolarizing(0.03))
    assert exact == pytest.approx(0.8858574, abs=1e-6)
    direct = report["direct_fidelity"]
    assert abs(direct["value"] - exact) < 4 * direct["stderr"]
    assert "verdict" in capsys.readouterr().out


def test_reproduce_figure(tmp_path, monkeypatch):
    assert run_example("reproduce_figure.py", "--fast", "-o", str(tmp_path), monkeypatch=monkeypatch) == 0
    saved = json.loads((tmp_path / "paper-fig2.json").read_text())
    assert [row["p"] for row in saved["numbers"]["final"]] == [0.0, 0.3]


@pytest.mark.slow  # DMRG (quimb) and MPS sampling of 20 sites: about 15 s
def test_large_n_tfim(tmp_path, monkeypatch, capsys):
    assert run_example("large_n_tfim.py", "--fast", "-o", str(tmp_path), monkeypatch=monkeypatch) == 0
    assert (tmp_path / "tfim.pt").is_file() and "classical fidelity" in capsys.readouterr().out


def test_bring_your_own_state(tmp_path, monkeypatch, capsys):
    assert run_example("bring_your_own_state.py", "--fast", "-o", str(tmp_path), monkeypatch=monkeypatch) == 0
    assert "quantum fidelity" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["flow", "mixture"])
def test_generic_backend_toy(family, tmp_path, monkeypatch, capsys):
    args = ("--fast", "--family", family, "-o", str(tmp_path))
    assert run_example("generic_backend_toy.py", *args, monkeypatch=monkeypatch) == 0
    assert (tmp_path / f"{family}.pt").is_file() and (tmp_path / f"{family}.png").stat().st_size > 5_000
    out = capsys.readouterr().out
    # the model file loads back and gives the same held-out NLL the script printed
    from qgen.data.toy import two_moons
    from qgen.metrics.vectors import heldout_nll
    from qgen.models import load

    nll = heldout_nll(load(tmp_path / f"{family}.pt"), two_moons(noise=0.1).sample(300, generator=1))
    assert f"held-out NLL {nll:.4f}" in out
    # the true density's NLL of the same points, and the fit cannot beat it by more than noise (KL >= 0)
    true = float(out.split("true density ")[1].split(" +- ")[0])
    assert nll.value > true - 4 * nll.stderr

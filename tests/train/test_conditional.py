"""Training a conditional model (qgen.train.conditional, `qgen train --condition`): its recipe, plan and flags."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from qgen.cli import main
from qgen.data.scan import simulate_scan, write_scan
from qgen.errors import TrainingError
from qgen.models import load
from qgen.train.conditional import train_conditional
from qgen.train.defaults import CONDITIONAL_MODEL, conditional_recipe

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAMILY = {"name": "tfim", "n_qubits": 4}


def test_conditional_recipe_is_the_conditional_benchmarks() -> None:
    """bench_conditional.py's settings: Transformer d 32, 4 heads, 2 layers, Adam 3e-3 cosine, batch 256, 20
    epochs, no early stopping; a model without a conditional benchmark falls back to the plain recipe."""
    recipe = conditional_recipe(CONDITIONAL_MODEL, 50_000, 10)
    assert CONDITIONAL_MODEL == "transformer"
    assert recipe.model_options == {"d_model": 32, "n_heads": 4, "n_layers": 2}
    expected = {"lr": 3e-3, "optimizer": "adam", "weight_decay": 0.0, "batch_size": 256, "schedule": "cosine"}
    assert recipe.settings == {**expected, "epochs": 20, "early_stopping_patience": None}
    assert "bench_conditional.py" in recipe.source and "N = 50" in conditional_recipe("transformer", 50_000, 50).source
    assert "no conditional benchmark" in conditional_recipe("pixelcnn", 50_000).source


def test_large_n_conditional_gru_is_the_n50_benchmarks() -> None:
    """From CONDITIONAL_LARGE_N qubits on, the GRU takes the settings of bench_conditional50.py's passing runs (the
    command lines in benchmarks/results/conditional50_gru96_around_s*.json); below, the N = 10 GRU recipe."""
    import json
    from pathlib import Path

    from qgen.train.recipes import CONDITIONAL_LARGE_N

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    for seed in (0, 1):
        command = json.loads((results / f"conditional50_gru96_around_s{seed}.json").read_text())["command"]
        flags = ("--model rnn", "--width 96", "--optimizer adamw", "--weight-decay 0.1", "--lr 2e-3", "--epochs 30")
        assert all(flag in command for flag in flags), command
    large = conditional_recipe("rnn", 50_000, 50)
    assert large.model_options == {"cell": "gru", "n_layers": 2, "hidden_size": 96}
    expected = {"lr": 2e-3, "optimizer": "adamw", "weight_decay": 0.1, "batch_size": 256, "schedule": "cosine"}
    assert large.settings == {**expected, "epochs": 30, "early_stopping_patience": None}
    assert "bench_conditional50.py" in large.source and "here N" not in large.source
    assert "measured at N = 50, here N = 64" in conditional_recipe("rnn", 50_000, 64).source
    small = conditional_recipe("rnn", 50_000, CONDITIONAL_LARGE_N - 1)
    assert small.model_options["hidden_size"] == 64 and "bench_conditional.py" in small.source
    # the Transformer has no N = 50 recipe of its own: the N = 10 one, said to be measured there
    assert conditional_recipe("transformer", 50_000, 50).model_options["d_model"] == 32


def test_no_model_named_takes_the_benchmarks_best_for_the_data_n(tmp_path: Path, monkeypatch) -> None:
    """At N >= CONDITIONAL_LARGE_N a conditional model named by nobody is the N = 50 benchmark's GRU 2 x 96."""
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    data = simulate_scan({"name": "tfim", "n_qubits": 30}, "h", "0.8,1.2", "tetra", 64, seed=0, reference=False)
    plan = io.StringIO()
    model = train_conditional(None, data, epochs=1, progress=False, plan=plan)
    assert type(model).__name__ == "RNN" and model.config["hidden_size"] == 96
    assert plan.getvalue().startswith("plan: rnn {'cell': 'gru', 'n_layers': 2, 'hidden_size': 96}")
    assert "bench_conditional50.py" in plan.getvalue()


def test_no_flags_take_the_conditional_recipe_and_print_its_plan() -> None:
    data = simulate_scan(FAMILY, "h", "0.5,1.0", "tetra", 100, seed=0, reference=False)
    plan = io.StringIO()
    model = train_conditional(None, data, epochs=1, progress=False, plan=plan)
    text = plan.getvalue()
    assert type(model).__name__ == "Transformer" and model.config["d_model"] == 32
    assert text.startswith("plan: transformer {'d_model': 32, 'n_heads': 4, 'n_layers': 2}")
    assert "defaults from  benchmarks/bench_conditional.py" in text
    assert "conditions     h: 2 values in [0.5, 1] (0.5, 1): one model for all" in text
    assert "200 strings of N = 4, K = 4: 180 to train, 20 to validate" in text
    assert "adam lr 0.003, cosine schedule" in text and "early stopping none (all epochs run)" in text
    assert "time           about" in text


def test_cli_flags_reach_the_trainer_and_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`qgen train --condition h` with the plain command's training flags: each shows in the plan (which reads
    the Trainer's own settings), --option reaches the model, --max-minutes 1e-4 pauses after one epoch and
    --resume finishes the run."""
    scan, out = tmp_path / "scan.h5", tmp_path / "m.pt"
    write_scan(scan, FAMILY, "h", "0.5,1.0", "tetra", 100, seed=0, reference=False)
    flags = ["--optimizer", "adamw", "--weight-decay", "0.05", "--schedule", "none", "--patience", "3"]
    flags += ["--val-fraction", "0.25", "--epochs", "2", "--lr", "0.01", "--batch-size", "50", "--max-minutes", "1e-4"]
    command = ["train", "--condition", "h", "--data", str(scan), *flags, "--option", "d_model=8", "-o", str(out)]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "plan: transformer {'d_model': 8, 'n_heads': 4, 'n_layers': 2}" in err
    assert "150 to train, 50 to validate" in err
    assert "adamw lr 0.01, weight decay 0.05, constant lr" in err
    assert "at most 2; early stopping after 3 epochs without a better val_loss" in err
    assert "batch 50: 3 per epoch, 6 in all" in err and "time budget    0.0001 min" in err
    assert len(load(out).history["epoch"]) == 1  # paused by the time budget
    assert main(["train", "--condition", "h", "--data", str(scan), *flags[:-2], "--option", "d_model=8", "-o",
                 str(out), "--resume", "--quiet"]) == 0  # fmt: skip
    assert len(load(out).history["epoch"]) == 2
    assert "plan:" not in capsys.readouterr().err  # --quiet leaves the plan out


def test_data_without_conditions_is_refused() -> None:
    data = simulate_scan(FAMILY, "h", "0.5,1.0", "tetra", 5, seed=0, reference=False)
    data.conditions = None
    with pytest.raises(TrainingError, match="condition column"):
        train_conditional(None, data, epochs=1, progress=False)

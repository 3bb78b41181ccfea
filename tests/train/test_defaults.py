"""Training with the benchmarks' defaults (qgen.train.defaults): what `qgen train` runs, its plan and time budget."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from qgen.models import build, load
from qgen.train import Trainer
from qgen.train.checkpoint import read_checkpoint
from qgen.train.defaults import LARGE_DATA, TimeBudget, default_recipe, default_settings, resolve_settings, train
from qgen.train.plan import describe_plan
from tests.helpers import product_samples


def test_checkpoint_and_model_file_rebuild_the_model(tmp_path: Path) -> None:
    data = product_samples(1_000)
    data[:, 3] = data[:, 3].clamp(max=2)  # symbol 3 never occurs; K must still come from the data set's POVM
    measurement_data = SimpleNamespace(outcomes=data.numpy(), n_outcomes=4)
    model = train("pixelcnn", measurement_data, seed=1, epochs=2, output=tmp_path / "m.pt", progress=False)
    assert model.n_outcomes == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.ckpt"]
    x = data[:50].long()
    for file in ("m.pt", "m.pt.ckpt"):
        loaded = load(tmp_path / file)
        assert loaded.config == model.config
        assert loaded.history["val_loss"] == model.history["val_loss"]
        assert loaded.log_prob(x).equal(model.eval().log_prob(x))


def test_default_settings_scale_with_data_size() -> None:
    small_set, large_set = default_settings(1_000), default_settings(1_000_000)
    assert small_set["batch_size"] < large_set["batch_size"]
    assert small_set["epochs"] > large_set["epochs"]


@pytest.mark.parametrize("n_samples", sorted({int(n) for n in np.logspace(1, 7, 121)} | {570_000, 10_000_000}))
def test_default_settings_stay_near_20k_steps(n_samples: int) -> None:
    # The documented budget: about 20,000 optimizer steps, within a factor 4/3 (rounding the number of
    # epochs), unless the 500-epoch cap makes a small set's run shorter. The steps are counted as the
    # Trainer makes them: ceil(n_train / batch_size) batches per epoch, n_train = n - round(0.1 n).
    s = default_settings(n_samples)
    batch_size, epochs = s["batch_size"], s["epochs"]
    assert batch_size in (32, 64, 128, 256, 512)
    assert 1 <= epochs <= 500
    steps = epochs * math.ceil((n_samples - round(0.1 * n_samples)) / batch_size)
    assert steps <= 20_000 * 4 / 3
    if epochs < 500:
        assert steps >= 20_000 * 2 / 3


def test_default_settings_at_ten_million_samples() -> None:
    # One epoch of ceil(9 * 10^6 / 512) = 17,579 steps (a 20-epoch floor made it 351,580).
    assert default_settings(10_000_000) == {
        "batch_size": 512,
        "epochs": 1,
        "early_stopping_patience": 10,
        "schedule": "plateau",
    }


# ------------------------------------------------------------------------------- the benchmarks' recipes


def test_large_data_gets_the_tfim50_recipe() -> None:
    # benchmarks/README.md, "50-site critical Ising chain": GRU 2 x 96, AdamW 0.1, lr 2e-3, cosine over 20
    # epochs, batch 256, patience 4 reached F = 0.9921 +- 0.0011 from 10^5 strings.
    recipe = default_recipe("rnn", 100_000, 50)
    assert recipe.model_options == {"cell": "gru", "n_layers": 2, "hidden_size": 96}
    assert recipe.settings == {
        "lr": 2e-3,
        "optimizer": "adamw",
        "weight_decay": 0.1,
        "batch_size": 256,
        "schedule": "cosine",
        "epochs": 20,
        "early_stopping_patience": 4,
    }
    assert "bench_tfim50.py" in recipe.source and "0.9921" in recipe.source and "outside" not in recipe.source
    # Beyond the measured size the epochs shrink to keep about 20,000 steps: 10^6 strings, 3,516 steps an epoch.
    assert default_recipe("rnn", 1_000_000, 50).settings["epochs"] == 6
    assert default_recipe("rnn", 10_000_000, 50).settings["epochs"] == 1


@pytest.mark.parametrize("n_samples", [1_000, 2_000, 5_000, 10_000, LARGE_DATA - 1])
def test_small_data_gets_the_ghz_scan_recipe(n_samples: int) -> None:
    # bench_ghz_samples.py: ScanSettings (lr 3e-3, batch 128, about 800 steps in 5-40 epochs, patience 6, cosine).
    from qgen.reproduce.paper_fig3 import MODEL_PRESETS, ScanSettings, epochs_for

    scan = ScanSettings(model="rnn")
    recipe = default_recipe("rnn", n_samples, 20)
    assert recipe.model_options == MODEL_PRESETS["rnn"]
    n_train = n_samples - round(0.1 * n_samples)
    expected = epochs_for(n_train, scan.batch_size, scan.steps, scan.min_epochs, scan.max_epochs)
    assert recipe.settings["epochs"] == expected
    assert (recipe.settings["lr"], recipe.settings["batch_size"]) == (scan.lr, scan.batch_size)
    assert recipe.settings["early_stopping_patience"] == scan.patience
    assert recipe.settings["optimizer"] == "adam" and recipe.settings["weight_decay"] == 0.0
    assert "N = 4 lies outside" in default_recipe("rnn", n_samples, 4).source


def test_unmeasured_models_keep_the_generic_settings() -> None:
    for name in ("rbm", "pixelcnn", None):
        recipe = default_recipe(name, 5_000)
        assert recipe.settings == default_settings(5_000) and recipe.model_options == {}
        assert recipe.source.startswith("generic")
    assert default_settings(100_000, 50, "rnn") == default_recipe("rnn", 100_000, 50).settings


def test_what_the_caller_gives_wins_and_another_optimizer_drops_the_recipe_weight_decay() -> None:
    recipe = default_recipe("rnn", 100_000, 50)
    settings, options = resolve_settings(recipe, {"epochs": None, "lr": 5e-4}, {"n_layers": 3})
    assert settings["epochs"] == 20 and settings["lr"] == 5e-4
    assert options == {"cell": "gru", "n_layers": 3, "hidden_size": 96}
    settings, _ = resolve_settings(recipe, {"optimizer": "adam"})
    assert settings["weight_decay"] == 0.0  # not an L2 penalty of 0.1
    settings, _ = resolve_settings(recipe, {"optimizer": "sgd", "weight_decay": 0.01})
    assert settings["weight_decay"] == 0.01
    # None switches a schedule, early stopping or clipping off; it is not "not given" there.
    settings, _ = resolve_settings(recipe, {"schedule": None, "early_stopping_patience": None, "clip_grad": None})
    assert settings["schedule"] is None and settings["early_stopping_patience"] is None
    assert settings["clip_grad"] is None


def test_train_uses_the_recipe_for_what_it_is_not_told(tmp_path: Path) -> None:
    data = product_samples(1_000)
    model = train("rnn", data, epochs=1, output=tmp_path / "m.pt", progress=False)
    assert (model.config["n_layers"], model.config["hidden_size"]) == (2, 64)
    settings = read_checkpoint(tmp_path / "m.pt.ckpt")["settings"]
    assert (settings["lr"], settings["batch_size"], settings["schedule"]) == (3e-3, 128, "cosine")
    assert settings["epochs"] == 1 and settings["early_stopping_patience"] == 6


# ------------------------------------------------------------------------------------------- time budget


def test_time_budget_stops_after_the_epoch_that_passes_it_and_the_summary_says_so(capsys) -> None:
    model = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, n_layers=1, seed=0)
    trainer = Trainer(model, epochs=5, batch_size=100, progress="lines", callbacks=[TimeBudget(0.0)])
    trainer.fit(product_samples(300)[:, :3])
    assert trainer.epoch == 1 and trainer.finished
    assert trainer.stop_reason.startswith("time budget of 0 min used: ") and "after epoch 1" in trainer.stop_reason
    err = capsys.readouterr().err
    assert "trained 1 epochs (time budget of 0 min used" in err

    # A stop without a reason still says that a callback asked.
    def plain_stop(t, epoch):
        t.stop = True

    trainer = Trainer(model, epochs=5, batch_size=100, progress=False, callbacks=[plain_stop])
    trainer.fit(product_samples(300)[:, :3])
    assert trainer.stop_reason == "a callback asked to stop"


def test_a_run_the_time_budget_stopped_resumes_bit_identical(tmp_path: Path) -> None:
    data = product_samples(600)
    options = {"hidden_size": 8, "n_layers": 1}
    paused = train(
        "rnn", data, epochs=3, output=tmp_path / "p.pt", progress=False, max_minutes=0, model_options=options
    )
    assert len(paused.history["epoch"]) == 1  # stopped after epoch 1
    resumed = train("rnn", data, epochs=3, output=tmp_path / "p.pt", progress=False, resume=True, model_options=options)
    whole = train("rnn", data, epochs=3, output=tmp_path / "w.pt", progress=False, model_options=options)
    assert len(resumed.history["epoch"]) == 3
    assert resumed.history["val_loss"] == whole.history["val_loss"]
    for a, b in zip(resumed.state_dict().values(), whole.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_time_budget_refuses_a_negative_or_infinite_budget() -> None:
    for bad in (-1.0, math.inf, True, "5"):
        with pytest.raises(Exception, match="max_minutes"):
            TimeBudget(bad)  # type: ignore[arg-type]


def test_resumed_run_gives_its_own_reason(tmp_path: Path) -> None:
    data = product_samples(300)[:, :3]
    model = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, n_layers=1, seed=0)
    ckpt = tmp_path / "c.ckpt"
    Trainer(model, epochs=1, batch_size=100, progress=False, checkpoint=ckpt).fit(data)
    resumed = Trainer.resume(ckpt, epochs=3, progress=False)
    resumed.fit(data)
    assert resumed.epoch == 3 and resumed.stop_reason == "all 3 epochs done"


# --------------------------------------------------------------------------------------------------- plan


def test_plan_states_the_run_and_timing_it_leaves_the_run_bit_identical(tmp_path: Path) -> None:
    data = product_samples(2_000)
    plan = io.StringIO()
    planned = train("rnn", data, epochs=2, progress=False, plan=plan, max_minutes=60)
    unplanned = train("rnn", data, epochs=2, progress=False)
    for a, b in zip(planned.state_dict().values(), unplanned.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    text = plan.getvalue()
    n_params = sum(p.numel() for p in planned.parameters())
    assert text.startswith(f"plan: rnn {{'cell': 'gru', 'n_layers': 2, 'hidden_size': 64}} ({n_params:,} parameters)")
    # 2,000 strings, 200 held out, batches of 128: ceil(1800 / 128) = 15 steps an epoch, 30 in 2 epochs.
    assert "2,000 strings of N = 4, K = 4: 1,800 to train, 200 to validate" in text
    assert "batch 128: 15 per epoch, 30 in all" in text
    assert "adam lr 0.003, cosine schedule" in text and "at most 2;" in text
    assert re.search(r"time +about [0-9.]+ (s|min|h) per epoch, .* an estimate from timing 8 steps", text)
    assert "time budget    60 min" in text and "bench_ghz_samples.py" in text


def test_plan_estimate_is_steps_times_step_time_plus_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    # The arithmetic of the estimate, with the timing replaced by known values (no timed assertion here):
    # 3,600 training rows in batches of 64 are 57 steps; 0.5 s each plus 400 validation rows at 0.01 s is
    # 32.5 s an epoch, 3 epochs 98 s (printed "2 min").
    import qgen.train.plan as plan

    monkeypatch.setattr(plan, "time_steps", lambda trainer, rows: {"step": 0.5, "val_row": 0.01, "steps": 8})
    model = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=8, n_layers=1, seed=0)
    trainer = Trainer(model, epochs=3, batch_size=64, progress=False)
    text = describe_plan(trainer, product_samples(4_000), model_name="rnn", options={}, source="test")
    assert "batch 64: 57 per epoch, 171 in all" in text
    assert "about 32 s per epoch, 2 min for all 3" in text
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert "not estimated under torchrun" in describe_plan(
        trainer, product_samples(40), model_name="rnn", options={}, source=""
    )

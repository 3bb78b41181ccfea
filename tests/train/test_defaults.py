"""Training with data-size defaults (qgen.autotrain): what `qgen train` runs."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from qgen.models import load
from qgen.train.defaults import default_settings, train
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

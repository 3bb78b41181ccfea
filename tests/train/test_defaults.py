"""Training with data-size defaults (qgen.autotrain): what `qgen train` runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

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
    for n in (10, 1_000, 100_000, 10_000_000):
        s = default_settings(n)
        steps = s["epochs"] * max(1, round(0.9 * n / s["batch_size"]))
        assert 32 <= s["batch_size"] <= 512 and 20 <= s["epochs"] <= 500 and steps <= 500 * 10_000_000

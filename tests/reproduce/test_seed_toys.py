"""seed-toys: every family's panel and metrics, a failing family recorded instead of hiding the others."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qgen.data.toy import toy_density
from qgen.reproduce import reproduce, seed_toys

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_default_families_are_registered_vector_models():
    from qgen.models.registry import model_class

    for name in seed_toys.FULL["families"]:
        assert "vectors" in model_class(name).supports
        assert set(seed_toys.FAMILIES[name]) == {"options", "train"}


def test_seed_toys_tiny(tmp_path, monkeypatch):
    # a family that cannot be built: its panel says so and the others are still drawn
    broken = {**seed_toys.FAMILIES, "flow": {"options": {"kind": "nope"}, "train": {"epochs": 1, "lr": 1e-3}}}
    monkeypatch.setattr(seed_toys, "FAMILIES", broken)
    plan = {
        "families": ("mixture", "kde", "gan", "flow"),
        "sets": ("8gaussians",),
        "n_train": 400,
        "n_eval": 300,
        "epoch_scale": 0.05,
        "n_bootstrap": 5,
    }
    reproduce("seed-toys", tmp_path, plan=plan, log=lambda line: None)
    saved = json.loads((tmp_path / "seed-toys.json").read_text())
    assert (tmp_path / "seed-toys.png").stat().st_size > 10_000
    record = saved["numbers"]["8gaussians"]
    fams = record["families"]
    assert "kind must be one of" in fams["flow"]["error"]
    # the true NLL of the held-out points (seed + 1) against the closed-form density
    truth = toy_density("8gaussians")
    held_out = truth.sample(300, generator=1)
    assert record["true"]["heldout_nll"]["value"] == pytest.approx(-float(truth.log_prob(held_out).mean()), rel=1e-12)
    # two independent true samples: the energy distance is zero within its bootstrap noise
    floor = record["true"]["energy_distance"]
    assert abs(floor["value"]) < 4 * floor["stderr"]
    # exact-likelihood fits: NLL(model) - NLL(true) estimates KL(true || model) >= 0, so it is not far below 0
    for name in ("mixture", "kde"):
        nll = fams[name]["heldout_nll"]
        assert nll["method"] == "exact"
        assert nll["value"] - record["true"]["heldout_nll"]["value"] > -4 * nll["stderr"]
    # the GAN has no likelihood: samples only
    assert "heldout_nll" not in fams["gan"] and fams["gan"]["likelihood"] == "none"
    assert np.isfinite(fams["gan"]["energy_distance"]["value"])
    assert fams["mixture"]["train"]["batch_size"] == 400  # EM on the whole set at once


def test_fit_family_scales_epochs():
    x = toy_density("moons").sample(200, generator=0).float()
    model, used = seed_toys.fit_family("mixture", x, epoch_scale=0.05)
    assert used["train"]["epochs"] == 3 and used["options"] == {"n_components": 16}
    assert bool(torch.isfinite(model.log_prob(x)).all())


@pytest.mark.slow
def test_wgan_gp_fits_two_moons_at_the_quick_settings():
    from qgen.metrics.vectors import energy_distance

    truth = toy_density("moons")
    x = truth.sample(2_000, generator=0).float()
    model, used = seed_toys.fit_family("wgan-gp", x, epoch_scale=seed_toys.QUICK["epoch_scale"])
    assert used["train"]["epochs"] == 30 and model.hyperparameters["penalty"] == "one-sided"
    with torch.no_grad():
        samples = model.sample(1_000, generator=torch.Generator().manual_seed(1)).double()
    held_out = truth.sample(1_000, generator=1)
    ed = energy_distance(samples, held_out, n_bootstrap=5, seed=0)
    # Measured 0.0071 (seeds 1, 2: 0.011, 0.010); the collapsed fits of the two-sided penalty at the same
    # settings scored 0.43 (lr 3e-4) and 1.14 (lr 1e-4).
    assert ed.value < 0.03
    # Both moons are drawn: the spread of the samples is the truth's (collapse shrinks it towards 0).
    spread = samples.std(0) / held_out.std(0)
    assert bool(((spread > 0.85) & (spread < 1.15)).all())

"""The generic backends' recipes (qgen.train.recipes): the benchmarks' settings, scaled by data size, in qgen train."""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from qgen.cli import main
from qgen.data import load as load_data
from qgen.metrics import EmpiricalDistribution, classical_fidelity
from qgen.models import build, load
from qgen.models.registry import options
from qgen.states import ghz
from qgen.train import Trainer
from qgen.train.checkpoint import read_checkpoint
from qgen.train.defaults import default_recipe, resolve_settings, train
from qgen.train.recipes import BACKEND_TRAIN_ROWS, FULL_BATCH_MAX

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# The string families of bench_backends.py (FAMILIES) and of bench_backends_b.py (FAMILIES_GHZ) with a recipe.
BACKENDS = ("vae", "diffusion", "gan", "wgan-gp", "flow", "mixture", "kde")


def _bench(name: str) -> ModuleType:
    """A benchmark script as a module (benchmarks/ is not a package; importing it runs no benchmark)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _benchmark_run(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(constructor options, Trainer settings) the benchmark ran `name` with on GHZ-6, as its own code builds them."""
    if name in _bench("bench_backends").FAMILIES:
        spec = _bench("bench_backends").FAMILIES[name]
        # bench_backends.run_family: batch 128, 10 % held out, cosine, no early stopping, then the family's own.
        common = {"batch_size": 128, "val_fraction": 0.1, "schedule": "cosine", "early_stopping_patience": None}
    else:
        spec = _bench("bench_backends_b").FAMILIES_GHZ[name]
        # bench_backends_b.fit: 10 % held out, cosine, no early stopping, then the family's own.
        common = {"val_fraction": 0.1, "schedule": "cosine", "early_stopping_patience": None}
    trainer_defaults = {
        p.name: p.default for p in inspect.signature(Trainer.__init__).parameters.values() if p.default is not p.empty
    }
    return spec["options"], {**trainer_defaults, **common, **spec["train"]}


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_recipe_is_the_benchmark_setting(name: str) -> None:
    # At the benchmark's own size (10^4 strings of N = 6, 9,000 training) the run is the benchmark's run.
    bench_options, bench_settings = _benchmark_run(name)
    recipe = default_recipe(name, 10_000, 6)
    settings, model_options = resolve_settings(recipe, {})
    for key in ("lr", "optimizer", "weight_decay", "schedule", "epochs", "early_stopping_patience"):
        assert settings[key] == bench_settings[key], key
    if bench_settings["batch_size"] == BACKEND_TRAIN_ROWS:  # full batch: the whole training split there and here
        assert settings["batch_size"] >= 10_000 - round(0.1 * 10_000)
    else:
        assert settings["batch_size"] == bench_settings["batch_size"]
    # The model the recipe builds has every option the benchmark gave, and the recipe repeats none of the model's
    # own defaults (its source says which of the benchmark's options those are).
    model = build(name, n_qubits=6, n_outcomes=4, seed=0, **model_options)
    for key, value in bench_options.items():
        if name == "kde" and key == "bandwidth":
            continue  # "auto" is "cv" on strings: checked by the bandwidth it chooses, below
        assert model.config[key] == value, key
    defaults = options(name)
    assert all(defaults[key] != value for key, value in recipe.model_options.items())
    assert "bench_backends" in recipe.source and "the model's default" in recipe.source


def test_kde_default_bandwidth_is_the_benchmarks_cross_validation() -> None:
    data = torch.randint(0, 4, (500, 6), generator=torch.Generator().manual_seed(0))
    lam = []
    for bandwidth in ("auto", "cv"):
        kde = build("kde", n_qubits=6, n_outcomes=4, bandwidth=bandwidth)
        kde.prepare(data, torch.Generator().manual_seed(1))
        lam.append(float(kde.lam))
    assert lam[0] == lam[1] and 0 < lam[0] <= 0.75


@pytest.mark.parametrize("name", BACKENDS)
def test_the_recipe_source_quotes_the_benchmark_readme(name: str) -> None:
    # Every fidelity the source line gives is one benchmarks/README.md reports (the numbers cannot drift apart).
    readme = (BENCHMARKS / "README.md").read_text()
    source = default_recipe(name, 10_000, 6).source
    figures = re.findall(r"0\.9\d{3}", source)
    assert figures, source
    for figure in figures:
        assert figure in readme, figure
    assert "measured at N" not in source  # N = 6 is a measured size
    assert "here N = 20" in default_recipe(name, 10_000, 20).source


@pytest.mark.parametrize("name", ["vae", "diffusion", "gan", "wgan-gp", "flow"])
@pytest.mark.parametrize("n_samples", [500, 3_000, 10_000, 40_000, 100_000, 1_000_000])
def test_larger_data_keep_the_benchmarks_steps_smaller_data_its_epochs(name: str, n_samples: int) -> None:
    _, bench = _benchmark_run(name)
    settings = default_recipe(name, n_samples).settings
    steps_there = bench["epochs"] * math.ceil(BACKEND_TRAIN_ROWS / 128)  # e.g. the flow: 80 x 71 = 5,680
    per_epoch = math.ceil((n_samples - round(0.1 * n_samples)) / 128)
    assert settings["batch_size"] == 128 and 1 <= settings["epochs"] <= bench["epochs"]
    if n_samples <= 10_000:
        assert settings["epochs"] == bench["epochs"]
    else:  # the fewest epochs that reach the benchmark's steps
        assert settings["epochs"] * per_epoch >= steps_there > (settings["epochs"] - 1) * per_epoch


@pytest.mark.parametrize("n_samples", [100, 10_000, 1_000_000])
def test_full_batch_families_take_every_row_in_one_batch(n_samples: int) -> None:
    mixture, kde = default_recipe("mixture", n_samples).settings, default_recipe("kde", n_samples).settings
    # every row up to FULL_BATCH_MAX (the mixture's E-step memory grows with the batch), batches of that size above
    assert mixture["batch_size"] == kde["batch_size"] == min(n_samples, FULL_BATCH_MAX)
    assert (mixture["epochs"], mixture["early_stopping_patience"], kde["epochs"]) == (300, 10, 1)


def test_vectors_and_unmeasured_models_keep_the_generic_settings() -> None:
    # The string settings are no default for the same families on points (the 2-D sets measured others).
    for name in ("flow", "mixture", "kde", "vae"):
        recipe = default_recipe(name, 5_000, vectors=True)
        assert recipe.source.startswith("generic") and "points" in recipe.source and recipe.model_options == {}
    assert default_recipe("ebm", 5_000).source.startswith("generic")


# ---------------------------------------------------------------------------------------------- qgen train


@pytest.fixture
def ghz4(tmp_path: Path) -> Path:
    path = tmp_path / "ghz4.h5"
    argv = ["simulate", "--state", "ghz", "--n-qubits", "4", "--povm", "tetra", "--samples", "1000", "--seed", "0"]
    assert main([*argv, "-o", str(path), "--quiet"]) == 0
    return path


def test_qgen_train_wgan_gp_prints_the_recipe_and_a_flag_overrides_it(ghz4: Path, tmp_path: Path, capsys) -> None:
    # No training flag: the plan names the benchmark and its settings (stopped by the time budget after epoch 1).
    out = tmp_path / "w.pt"
    assert main(["train", "--model", "wgan-gp", "--data", str(ghz4), "--max-minutes", "1e-6", "-o", str(out)]) == 0
    plan = capsys.readouterr().err
    assert "bench_backends.py FAMILIES" in plan and "F = 0.9910" in plan, plan
    assert "plan: wgan-gp {'hidden_size': 128, 'latent_dim': 16}" in plan
    assert "critic: adam lr 0.0003, cosine schedule; generator: adam lr 0.0003, cosine schedule" in plan
    assert "at most 30; early stopping none" in plan and "batch 128: 8 per epoch, 240 in all" in plan
    saved = read_checkpoint(str(out) + ".ckpt")["settings"]
    assert (saved["lr"], saved["batch_size"], saved["epochs"], saved["schedule"]) == (3e-4, 128, 30, "cosine")
    # Flags win over the recipe, which still gives the rest.
    argv = ["train", "--model", "wgan-gp", "--data", str(ghz4), "--epochs", "1", "--lr", "1e-4", "--batch-size", "64"]
    assert main([*argv, "--option", "latent_dim=4", "-o", str(tmp_path / "w2.pt")]) == 0
    plan = capsys.readouterr().err
    assert "plan: wgan-gp {'hidden_size': 128, 'latent_dim': 4}" in plan
    assert "generator: adam lr 0.0001, cosine schedule" in plan and "batch 64: 15 per epoch, 15 in all" in plan
    assert load(tmp_path / "w2.pt").config["latent_dim"] == 4


def test_qgen_train_vae_writes_the_recipes_model(ghz4: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "vae.pt"
    assert (
        main(["train", "--model", "vae", "--data", str(ghz4), "--epochs", "3", "--device", "cpu", "-o", str(out)]) == 0
    )
    assert "VAE latent 8, MLP 2 x 128" in capsys.readouterr().err
    model = load(out)
    config = model.config
    assert (config["latent_dim"], config["hidden_size"], config["bound_samples"]) == (8, 128, 64)
    assert (config["objective"], config["train_samples"], config["bound"]) == ("iwae", 8, "iwae")
    assert len(model.history["epoch"]) == 3
    # The command is the library's train with the recipe: the same weights, bit for bit.
    reference = train("vae", load_data(ghz4), epochs=3, progress=False, device="cpu")
    for (key, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), key
    # exp(log_prob) is the 64-draw importance estimate of q(x), unbiased: over all 4^4 strings it sums to 1 up to
    # the draws' noise (0.998-1.002 measured after 3 epochs on seeds 0-2).
    strings = torch.cartesian_prod(*[torch.arange(4)] * 4)
    with torch.no_grad():
        total = float(model.eval().log_prob(strings).exp().sum())
    assert abs(total - 1) < 0.01, total


def test_qgen_train_mixture_runs_classical_em_on_all_rows_and_beats_the_frequencies(
    ghz4: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "mixture.pt"
    assert main(["train", "--model", "mixture", "--data", str(ghz4), "--device", "cpu", "-o", str(out)]) == 0
    plan = capsys.readouterr().err
    assert "plan: mixture {'n_components': 16}" in plan and "batch 1000: 1 per epoch, 300 in all" in plan
    assert "early stopping after 10 epochs" in plan
    # Against the exact GHZ-4 tetra distribution: the 16-product mixture fitted to 900 strings is closer than the
    # frequencies of all 1,000 (measured 0.9737 against 0.9514 +- 0.0054).
    target = ghz(4).measured("tetra")
    fitted = classical_fidelity(target, load(out).eval(), "exact").value
    frequencies = classical_fidelity(target, EmpiricalDistribution(torch.as_tensor(load_data(ghz4).outcomes), 4))
    assert fitted > frequencies.value + 3 * frequencies.stderr, (fitted, frequencies)

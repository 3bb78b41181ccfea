"""The qgen command line on continuous data: toy data sets written by `simulate --toy`, summarised by `info`,
modelled by `train` (a model on vectors) and sampled by `sample` (a vector data set back)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.cli import main
from qgen.data import load_vectors
from qgen.data.toy import toy_data, toy_density
from qgen.models import load as load_model
from qgen.models.base import Vectors
from qgen.train.defaults import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _error(capsys, text: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and text in err, err


@pytest.fixture
def moons(tmp_path):
    path = tmp_path / "moons.h5"
    assert main(["simulate", "--toy", "moons", "--samples", "2000", "--seed", "4", "-o", str(path), "--quiet"]) == 0
    return path


def test_simulate_toy_writes_the_seeded_points(moons, tmp_path):
    data = load_vectors(moons)
    assert data.vectors.shape == (2000, 2) and data.name == "moons" and data.seed == 4
    assert data.extra == {"noise": 0.1}
    # The same points as the library's seeded sampler, bit for bit.
    np.testing.assert_array_equal(data.vectors, toy_data("moons", 2000, seed=4).numpy())
    other = tmp_path / "other.h5"
    main(["simulate", "--toy", "moons", "--samples", "2000", "--seed", "5", "-o", str(other), "--quiet"])
    assert not np.array_equal(load_vectors(other).vectors, data.vectors)


def test_info_summarises_a_vector_file(moons, capsys):
    capsys.readouterr()
    assert main(["info", str(moons)]) == 0
    out = capsys.readouterr().out
    x = load_vectors(moons).vectors
    assert "2,000 points of dimension 2" in out and "moons" in out
    assert f"mean {x[:, 0].mean():.4g}" in out and f"std {x[:, 1].std(ddof=1):.4g}" in out


def test_train_flow_on_vectors_is_the_library_training(moons, tmp_path):
    out = tmp_path / "flow.pt"
    argv = ["train", "--model", "flow", "--data", str(moons), "--epochs", "2", "--batch-size", "256", "--seed", "1"]
    options = ["--option", "kind=realnvp", "--option", "transforms=2"]
    assert main(argv + options + ["-o", str(out), "--quiet"]) == 0
    model = load_model(out)
    assert model.support == Vectors(2) and model.likelihood == "exact"
    reference = train(
        "flow",
        load_vectors(moons),
        seed=1,
        epochs=2,
        batch_size=256,
        progress=False,
        device="cpu",
        model_options={"kind": "realnvp", "transforms": 2},
    )
    x = torch.as_tensor(load_vectors(moons).vectors[:50], dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(model.log_prob(x), reference.log_prob(x), rtol=0, atol=0)


def test_train_mixture_by_cli_fits_eight_gaussians(tmp_path):
    data = tmp_path / "g8.h5"
    assert main(["simulate", "--toy", "8gaussians", "--samples", "4000", "-o", str(data), "--quiet"]) == 0
    out = tmp_path / "gmm.pt"
    argv = ["train", "--model", "mixture", "--data", str(data), "--epochs", "60", "--batch-size", "3600"]
    assert main(argv + ["--option", "n_components=8", "-o", str(out), "--quiet"]) == 0
    model = load_model(out)
    truth = toy_density("8gaussians")
    test = truth.sample(4000, generator=123)
    with torch.no_grad():
        gap = (truth.log_prob(test) - model.log_prob(test.float()).double()).numpy()
    # KL(truth || model) by Monte Carlo: an 8-component EM fit of the 8-Gaussian truth is within noise of it
    # (the gap's standard error here is about 0.01).
    assert abs(gap.mean()) < 0.03, gap.mean()


def test_sample_a_vector_model(moons, tmp_path):
    model_file = tmp_path / "gmm.pt"
    argv = ["train", "--model", "mixture", "--data", str(moons), "--epochs", "5", "--batch-size", "1800"]
    assert main(argv + ["-o", str(model_file), "--quiet"]) == 0
    out = tmp_path / "samples.h5"
    assert main(["sample", "--model", str(model_file), "-n", "300", "--seed", "7", "-o", str(out)]) == 0
    drawn = load_vectors(out)
    assert drawn.vectors.shape == (300, 2) and drawn.seed == 7 and drawn.name == "mixture"
    assert drawn.extra["generated_by"] == str(model_file) and drawn.extra["model"]["n_components"] == 8
    expected = load_model(model_file).sample(300, generator=torch.Generator().manual_seed(7))
    np.testing.assert_array_equal(drawn.vectors, expected.double().numpy())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--toy", "moons", "--state", "ghz", "--samples", "5"], "drop --state"),
        (["simulate", "--toy", "moons", "--povm", "pauli4", "--samples", "5"], "drop --povm"),
        (["simulate", "--samples", "5"], "--state and --n-qubits are required"),
        (["simulate", "--toy", "spiral", "--samples", "5"], "invalid choice"),
    ],
)
def test_bad_toy_commands_answer_in_one_line(argv, message, tmp_path, capsys):
    assert main(argv + ["-o", str(tmp_path / "x.h5")]) == 2
    _error(capsys, message)


def test_string_models_refuse_vector_data(moons, tmp_path, capsys):
    rc = main(["train", "--model", "rnn", "--data", str(moons), "--epochs", "1", "-o", str(tmp_path / "m.pt")])
    assert rc == 2
    _error(capsys, "not vectors")


def test_sample_refuses_a_measurement_record_for_vectors(moons, tmp_path, capsys):
    model_file = tmp_path / "kde.pt"
    assert main(["train", "--model", "kde", "--data", str(moons), "--epochs", "1", "-o", str(model_file)]) == 0
    capsys.readouterr()
    rc = main(["sample", "--model", str(model_file), "-n", "5", "--data", str(moons), "-o", str(tmp_path / "s.h5")])
    assert rc == 2
    _error(capsys, "models vectors")

"""The model contract, for every entry of the model registry on every support it accepts.

A family registered in qgen.models.registry is covered the day it is registered: shapes and dtypes,
finiteness, normalisation over all K^N strings where the likelihood is exact (or exact up to a computable
log Z), goodness of fit between `sample` and `log_prob`, save/load, seed determinism, and a resumed training
run that ends where an uninterrupted one does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qgen.errors import ModelError
from qgen.models import load, save
from qgen.models.base import Strings, Vectors
from qgen.models.registry import MODELS, build, model_class
from qgen.strings import all_outcomes
from qgen.train import Trainer
from tests.helpers import Interrupted, InterruptedTrainer, assert_samples_fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Small, fast settings per family; a family not listed is tested with its defaults.
OPTIONS: dict[str, dict] = {
    "rnn": {"hidden_size": 16, "n_layers": 1},
    "pixelcnn": {"channels": 8},
    "transformer": {"d_model": 16, "n_heads": 2, "n_layers": 1},
    "rbm": {"n_hidden": 4},
    "rbm-positive": {"n_hidden": 4},
    "rbm-complex": {"n_hidden": 2},
    "rbm-density": {"n_hidden": 2, "n_aux": 2},
}
# The strings each family is tested on (N, K); default (3, 3). Wavefunction RBMs know their measurement.
STRINGS: dict[str, tuple[int, int]] = {"rbm-positive": (3, 2), "rbm-complex": (2, 6), "rbm-density": (2, 6)}
VECTOR_DIM: dict[str, int] = {"mixture-kl": 1}

CASES = [(name, support) for name in sorted(MODELS) for support in model_class(name).supports]


def make(name: str, support: str, seed: int = 0):
    if support == "vectors":
        return build(name, dim=VECTOR_DIM.get(name, 2), seed=seed, **OPTIONS.get(name, {}))
    n, k = STRINGS.get(name, (3, 3))
    return build(name, n_qubits=n, n_outcomes=k, seed=seed, **OPTIONS.get(name, {}))


def training_data(model, n: int = 240) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    if isinstance(model.support, Vectors):
        return 0.3 + 0.5 * torch.randn(n, model.support.dim, generator=g)
    # a product distribution that is far from uniform
    k = model.n_outcomes
    p = torch.softmax(torch.arange(k, dtype=torch.float64) * 1.5, 0)
    return torch.multinomial(p, n * model.n_qubits, replacement=True, generator=g).reshape(n, model.n_qubits)


def fitted(name: str, support: str, seed: int = 0):
    """The model after `prepare` on its training data, so data-dependent models (KDE, mixtures) are complete."""
    model = make(name, support, seed)
    model.prepare(model.check_outcomes(training_data(model)), torch.Generator().manual_seed(0))
    return model


@pytest.fixture(params=CASES, ids=[f"{n}-{s}" for n, s in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


def test_samples_have_the_support_shape_and_log_prob_is_finite(case) -> None:
    model = fitted(*case)
    x = model.sample(64, generator=torch.Generator().manual_seed(1))
    if isinstance(model.support, Strings):
        assert x.shape == (64, model.n_qubits) and x.dtype == torch.int64
        assert int(x.min()) >= 0 and int(x.max()) < model.n_outcomes
    else:
        assert x.shape == (64, model.support.dim) and x.dtype.is_floating_point
        assert bool(torch.isfinite(x).all())
    if model.likelihood == "none":
        with pytest.raises(ModelError):
            model.log_prob(x)
        return
    with torch.no_grad():
        lp = model.log_prob(x)
    assert lp.shape == (64,) and bool(torch.isfinite(lp).all())


def _log_probabilities(model) -> torch.Tensor:
    """log P over all K^N strings, normalised by the exact log Z for unnormalized models."""
    strings = all_outcomes(model.n_outcomes, model.n_qubits)
    with torch.no_grad():
        lp = model.log_prob(strings).double()
    if model.likelihood == "unnormalized":
        lp = lp - model.log_normalizer(method="exact").value
    return lp


@pytest.mark.parametrize("name", [n for n, s in CASES if s == "strings"])
def test_probabilities_over_all_strings_sum_to_one(name: str) -> None:
    model = fitted(name, "strings")
    if model.likelihood == "none":
        pytest.skip(f"{name} has no density")
    total = float(torch.logsumexp(_log_probabilities(model), 0).exp())
    if model.likelihood == "lower_bound":
        assert total <= 1 + 1e-5  # a bound on each log P sums to at most 1
    else:
        assert total == pytest.approx(1.0, abs=1e-5)  # float32 networks: 1e-5


@pytest.mark.parametrize("name", [n for n, s in CASES if s == "strings"])
def test_samples_fit_the_probabilities(name: str) -> None:
    model = fitted(name, "strings")
    if model.likelihood not in ("exact", "unnormalized"):
        pytest.skip(f"{name}'s log_prob is a {model.likelihood!r}: no exact probabilities to test against")
    probabilities = _log_probabilities(model).exp().numpy()
    samples = model.sample(4000, generator=torch.Generator().manual_seed(5))
    assert_samples_fit(samples, probabilities / probabilities.sum(), model.n_outcomes)


def test_save_and_load_give_the_same_distribution(case, tmp_path: Path) -> None:
    model = fitted(*case)
    save(model, tmp_path / "m.pt")
    again = load(tmp_path / "m.pt")
    assert type(again) is type(model) and again.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    x = model.sample(32, generator=torch.Generator().manual_seed(2))
    y = again.sample(32, generator=torch.Generator().manual_seed(2))
    assert torch.equal(x, y)
    if model.likelihood != "none":
        with torch.no_grad():
            torch.testing.assert_close(model.log_prob(x), again.log_prob(x), rtol=0, atol=0)


def test_a_seed_gives_the_same_model_and_the_same_samples(case) -> None:
    a, b = make(*case, seed=4), make(*case, seed=4)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    a, b = fitted(*case), fitted(*case)
    assert torch.equal(a.sample(40, generator=7), b.sample(40, generator=7))


def test_resumed_training_ends_where_an_uninterrupted_run_does(case, tmp_path: Path) -> None:
    name, support = case
    data = training_data(make(name, support))
    options = {"epochs": 2, "batch_size": 60, "lr": 1e-3, "progress": False, "seed": 1, "device": "cpu"}
    straight = make(name, support)
    Trainer(straight, **options).fit(data)
    path = tmp_path / "run.ckpt"
    with pytest.raises(Interrupted):
        InterruptedTrainer(make(name, support), checkpoint=path, **options).fit(data)
    resumed = Trainer.resume(path, progress=False)
    resumed.fit(data)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key

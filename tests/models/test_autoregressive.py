"""One property suite run over every autoregressive model: normalisation, causality, gradients, sampling."""

from __future__ import annotations

import itertools

import pytest
import torch

import qgen.models.autoregressive as base
from qgen.errors import ModelError, OutcomeError
from qgen.models import MODELS, AutoregressiveModel, PixelCNN, build, load, register, save
from tests.helpers import assert_samples_fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Small hyperparameters keep the suite fast; each exercises the same code paths as the defaults.
CASES = {
    "rnn-gru": ("rnn", {"cell": "gru", "n_layers": 2, "hidden_size": 16}),
    "rnn-lstm": ("rnn", {"cell": "lstm", "n_layers": 2, "hidden_size": 16}),
    "pixelcnn": ("pixelcnn", {"channels": 16, "kernel_size": 2}),
    "transformer": ("transformer", {"d_model": 16, "n_heads": 2, "n_layers": 2}),
}


def make(case: str, n_qubits: int, n_outcomes: int, seed: int = 0, spread: float = 0.0) -> AutoregressiveModel:
    """A model of the case; `spread` adds seeded noise to every weight so the distribution is far from uniform."""
    name, hyper = CASES[case]
    model = build(name, n_qubits=n_qubits, n_outcomes=n_outcomes, seed=seed, **hyper)
    if spread:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(spread * torch.randn(p.shape, generator=g))
    return model


def all_strings(n_qubits: int, n_outcomes: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(n_outcomes), repeat=n_qubits)), dtype=torch.long)


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize(("n_qubits", "n_outcomes"), [(1, 4), (3, 3), (5, 4), (4, 3)])
def test_normalised_over_all_strings(case: str, n_qubits: int, n_outcomes: int) -> None:
    model = make(case, n_qubits, n_outcomes, spread=0.3).double()
    logp = model.log_prob(all_strings(n_qubits, n_outcomes))
    assert logp.dtype == torch.float64
    assert torch.logsumexp(logp, 0).exp().item() == pytest.approx(1.0, abs=1e-12)
    # float32 (the training precision) meets the 1e-5 requirement too.
    logp32 = make(case, n_qubits, n_outcomes, spread=0.3).log_prob(all_strings(n_qubits, n_outcomes))
    assert logp32.double().exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_log_prob_shape_and_finite(case: str) -> None:
    model = make(case, 7, 4)
    x = torch.randint(0, 4, (11, 7), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    logp = model.log_prob(x)
    assert logp.shape == (11,)
    assert logp.dtype == torch.float32
    assert torch.isfinite(logp).all() and (logp <= 0).all()
    assert model.log_prob(x.long()).equal(logp)
    assert model.log_prob(x.numpy()).equal(logp)


def test_conditionals_are_causal(case: str) -> None:
    """Conditional i depends on sites < i only: changing the suffix from site i on leaves it unchanged."""
    n_qubits = 13  # past several dilation levels and positions
    model = make(case, n_qubits, 3, spread=0.3).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 3, (8, n_qubits), generator=g)
    for i in range(n_qubits):
        y = x.clone()
        y[:, i:] = torch.randint(0, 3, (8, n_qubits - i), generator=g)
        a = model.conditional_logits(model.shifted(x))[:, : i + 1]
        b = model.conditional_logits(model.shifted(y))[:, : i + 1]
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_incremental_steps_match_full_pass(case: str) -> None:
    """The cached sampling path (begin/step) computes the same conditionals as the training pass."""
    model = make(case, 9, 4, spread=0.3).double()
    x = torch.randint(0, 4, (5, 9), generator=torch.Generator().manual_seed(2))
    full = model.conditional_logits(model.shifted(x))
    state, token = model.begin(5), torch.full((5,), model.start_token)
    for site in range(9):
        logits, state = model.step(token, state, site)
        torch.testing.assert_close(logits, full[:, site], rtol=0, atol=1e-10)
        token = x[:, site]


def test_gradients_reach_every_parameter(case: str) -> None:
    model = make(case, 6, 4, spread=0.1)
    x = torch.randint(0, 4, (32, 6), generator=torch.Generator().manual_seed(3))
    model.loss(x).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_samples_agree_with_log_prob(case: str) -> None:
    n_qubits, n_outcomes, n = 3, 3, 30_000
    model = make(case, n_qubits, n_outcomes, spread=0.5).double()
    probs = model.log_prob(all_strings(n_qubits, n_outcomes)).detach().exp().numpy()
    assert probs.max() / probs.min() > 3  # a non-uniform target, so the test has power
    samples = model.sample(n, generator=torch.Generator().manual_seed(4))
    assert samples.shape == (n, n_qubits) and samples.dtype == torch.long
    assert_samples_fit(samples, probs, n_outcomes)


def test_sampling_is_deterministic_under_a_seed(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make(case, 6, 4, spread=0.3)
    a = model.sample(50, generator=torch.Generator().manual_seed(7))
    b = model.sample(50, generator=7)
    c = model.sample(50, generator=8)
    assert a.equal(b)
    assert not a.equal(c)
    # The bits do not depend on how sampling is chunked.
    monkeypatch.setattr(base, "_SAMPLE_CHUNK", 7)
    assert model.sample(50, generator=7).equal(a)
    assert model.sample(0, generator=7).shape == (0, 6)
    assert model.training  # sampling restores the training mode it found


def test_save_load_round_trip(case: str, tmp_path) -> None:
    model = make(case, 5, 3, spread=0.3)
    model.history = {"train_loss": [2.0, 1.5]}
    path = tmp_path / "model.pt"
    save(model, path)
    loaded = load(path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert loaded.history == model.history
    x = torch.randint(0, 3, (20, 5), generator=torch.Generator().manual_seed(5))
    assert loaded.log_prob(x).equal(model.eval().log_prob(x))
    assert loaded.sample(10, generator=1).equal(model.sample(10, generator=1))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_seeded_build_is_reproducible(case: str) -> None:
    a, b, c = make(case, 4, 4, seed=3), make(case, 4, 4, seed=3), make(case, 4, 4, seed=4)
    assert all(p.equal(q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(p.equal(q) for p, q in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(3, 4, dtype=torch.long),  # wrong N
        torch.zeros(3, 5),  # float
        torch.zeros(5, dtype=torch.long),  # 1D
        torch.full((3, 5), 4, dtype=torch.long),  # value K
        torch.full((3, 5), -1, dtype=torch.long),  # negative
        torch.zeros(3, 5, dtype=torch.bool),
        "not outcomes",
    ],
)
def test_bad_input_raises_outcome_error(case: str, bad) -> None:
    model = make(case, 5, 4)
    with pytest.raises(OutcomeError):
        model.log_prob(bad)


def test_bad_construction_raises_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="unknown model"):
        build("boltzmann-machine-that-is-not-there", n_qubits=3, n_outcomes=4)
    with pytest.raises(ModelError):
        build("rnn", n_qubits=0, n_outcomes=4)
    with pytest.raises(ModelError):
        build("rnn", n_qubits=3, n_outcomes=1)
    with pytest.raises(ModelError, match="cell"):
        build("rnn", n_qubits=3, n_outcomes=4, cell="vanilla")
    with pytest.raises(ModelError, match="n_heads"):
        build("transformer", n_qubits=3, n_outcomes=4, d_model=10, n_heads=4)
    with pytest.raises(ModelError, match="receptive field"):
        build("pixelcnn", n_qubits=40, n_outcomes=4, kernel_size=2, n_layers=3)
    with pytest.raises(ModelError):
        build("rnn", n_qubits=3, n_outcomes=4, no_such_option=1)
    with pytest.raises(ModelError):
        make("rnn-gru", 3, 4).sample(-1)
    with pytest.raises(ModelError, match="no such model file"):
        load(tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelError):
        load(tmp_path / "garbage.pt")


def _last_conditional_depends_on_site_0(model: AutoregressiveModel) -> bool:
    """Whether P(a_{N-1} | a_<N-1) changes when a_0 alone changes (in one of 6 random strings at least: a
    dependence the network has, rather than one every input shows; a ReLU can hide it for some inputs)."""
    n, k = model.n_qubits, model.n_outcomes
    x = torch.randint(0, k, (6, n), generator=torch.Generator().manual_seed(9))
    y = x.clone()
    y[:, 0] = (x[:, 0] + 1) % k
    a = model.conditional_logits(model.shifted(x))[:, -1].log_softmax(-1)
    b = model.conditional_logits(model.shifted(y))[:, -1].log_softmax(-1)
    return bool((a - b).abs().amax() > 1e-9)


@pytest.mark.parametrize("n_qubits", [2, 13, 33])
def test_last_conditional_sees_site_0(case: str, n_qubits: int) -> None:
    """With the depth as configured, the last site's conditional depends on the first site."""
    model = make(case, n_qubits, 3, spread=0.3).double()
    assert _last_conditional_depends_on_site_0(model)


def _measured_receptive_field(model: PixelCNN, length: int) -> int:
    """How many input positions the network's last output reads, found by changing one input at a time."""
    x = torch.randint(0, model.n_outcomes + 1, (4, 1, length), generator=torch.Generator().manual_seed(10))
    # y[s, t] is string s with position t changed: all the changes in one batch.
    y = x.repeat(1, length, 1)
    diagonal = torch.arange(length)
    y[:, diagonal, diagonal] = (y[:, diagonal, diagonal] + 1) % (model.n_outcomes + 1)
    ref = model.conditional_logits(x[:, 0])[:, -1]
    changed = model.conditional_logits(y.reshape(-1, length))[:, -1].reshape(4, length, -1) - ref[:, None]
    seen = (changed.abs().amax(dim=(0, 2)) > 1e-9).tolist()
    assert all(seen[seen.index(True) :]), "the inputs a causal network reads form a contiguous window"
    return length - seen.index(True)


@pytest.mark.parametrize("n_qubits", [2, 3, 5, 9, 17, 33, 80])
@pytest.mark.parametrize("kernel_size", [2, 3, 5])
def test_pixelcnn_default_depth_is_the_smallest_covering_n(n_qubits: int, kernel_size: int) -> None:
    """Behaviour, not the formula: at the default depth the last conditional reads site 0 and the network's
    receptive field covers N positions; without its last block it does not."""
    model = build("pixelcnn", n_qubits=n_qubits, n_outcomes=3, seed=11, channels=8, kernel_size=kernel_size)
    assert isinstance(model, PixelCNN)
    model = model.double()
    assert _last_conditional_depends_on_site_0(model)
    # Measured on a longer input (the field is measured up to its length), the last output reads N positions:
    # the start token, which the shifted string begins with, through its own.
    length = n_qubits + 4
    assert _measured_receptive_field(model, length) >= n_qubits
    model.blocks = model.blocks[:-1]
    assert _measured_receptive_field(model, length) < n_qubits


def test_register_makes_a_model_buildable() -> None:
    register("rnn-alias-for-test", "qgen.models.rnn:RNN")
    try:
        model = build("rnn-alias-for-test", n_qubits=2, n_outcomes=2, hidden_size=4)
        assert model.n_qubits == 2 and model.hyperparameters["hidden_size"] == 4
    finally:
        del MODELS["rnn-alias-for-test"]

"""Conditional reconstructors: P(a | c) normalised for every c, rows with condition indices, views, files, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.errors import ModelError, OutcomeError
from qgen.metrics.prefix_tree import autoregressive_log_probabilities
from qgen.models import build, load, save
from qgen.models.autoregressive import AtCondition
from qgen.models.conditional import ConditionalStrings
from qgen.strings import all_outcomes
from qgen.train import Trainer
from tests.helpers import Interrupted, InterruptedTrainer, assert_samples_fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPTIONS = {
    "rnn": {"hidden_size": 16, "n_layers": 2},
    "lstm": {"cell": "lstm", "hidden_size": 16, "n_layers": 2},
    "pixelcnn": {"channels": 8},
    "transformer": {"d_model": 16, "n_heads": 2, "n_layers": 1},
}
# Every family with each way a condition enters: "rnn-film" is the RNN with conditioning="film".
FAMILIES = [f"{case}-{how}" for case in OPTIONS for how in ("add", "film")]


def make(case: str, n_qubits: int = 3, n_outcomes: int = 4, n_conditions: int = 2, seed: int = 0, **extra):
    """A small model of `case` ("rnn", "rnn-film", ...); a FiLM model's modulation is drawn at random (it starts
    as the identity, under which the condition would change nothing), unless `perturb=False`."""
    family, _, how = case.partition("-")
    perturb = extra.pop("perturb", True)
    model = build(
        "rnn" if family == "lstm" else family,
        n_qubits=n_qubits,
        n_outcomes=n_outcomes,
        seed=seed,
        n_conditions=n_conditions,
        **({"conditioning": how} if how else {}),
        **OPTIONS[family],
        **extra,
    )
    if how == "film" and n_conditions and perturb:
        last = model.condition_embedding.encoder.net[-1]
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            last.weight.copy_(0.5 * torch.randn(last.weight.shape, generator=gen))
            last.bias.copy_(0.5 * torch.randn(last.bias.shape, generator=gen))
    return model


@pytest.mark.parametrize("case", FAMILIES)
def test_unconditional_model_is_unchanged(case):
    """n_conditions=0 adds nothing: same config keys, same state-dict keys, and (the condition modules being
    created last) a conditional model draws the same initial weights for every shared parameter."""
    plain, conditional = make(case, n_conditions=0), make(case, n_conditions=2)
    assert "n_conditions" not in plain.config and "condition_names" not in plain.config
    assert not any("condition" in key for key in plain.state_dict())
    assert type(plain.support) is not ConditionalStrings
    shared = conditional.state_dict()
    for key, value in plain.state_dict().items():
        assert torch.equal(value, shared[key]), key
    assert conditional.config["n_conditions"] == 2 and conditional.config["condition_names"] == ["c0", "c1"]
    assert conditional.config["condition_table"] == []


@pytest.mark.parametrize("case", FAMILIES)
def test_normalised_at_every_condition(case):
    """sum_a P(a | c) = 1 over all K^N strings, for conditions inside and far outside any training range."""
    model = make(case).double().requires_grad_(False)
    x = all_outcomes(4, 3)
    for c in ([0.0, 0.0], [0.7, -1.3], [25.0, 3.0]):
        total = torch.logsumexp(model.log_prob(x, conditions=c), 0)
        assert abs(float(total)) < 1e-10, (c, float(total))


@pytest.mark.parametrize("case", FAMILIES)
def test_rows_conditions_and_views_agree(case):
    """log P(a | c) is the same through training rows, per-row conditions, and the view at c; and it depends on c."""
    model = make(case).double().requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    outcomes = torch.randint(0, 4, (12, 3), generator=gen)
    conditions = torch.tensor([[0.5, 1.0], [1.5, -1.0], [0.5, 1.0]]).repeat(4, 1)
    rows = model.condition_rows(outcomes, conditions)
    assert rows.dtype == torch.uint8 and rows.shape == (12, 4)
    assert model.condition_table.tolist() == [[0.5, 1.0], [1.5, -1.0]]  # sorted unique vectors
    by_rows = model.log_prob(rows)
    by_conditions = model.log_prob(outcomes, conditions=conditions)
    torch.testing.assert_close(by_rows, by_conditions, rtol=0, atol=1e-12)
    at = model.at([1.5, -1.0])
    torch.testing.assert_close(at.log_prob(outcomes[1::3]), by_rows[1::3], rtol=0, atol=1e-12)
    other = model.at(c0=0.5, c1=1.0).log_prob(outcomes[1::3])
    assert float((other - by_rows[1::3]).abs().max()) > 1e-6  # the condition changes the distribution


@pytest.mark.parametrize("case", FAMILIES)
def test_cached_steps_match_the_training_pass(case):
    """At a condition, begin/step (sampling, prefix tree) give the conditionals of the full causal pass."""
    model = make(case, n_qubits=5).double().eval().requires_grad_(False)
    conditions = torch.tensor([[0.3, -0.2], [1.1, 0.4], [2.0, 2.0]], dtype=torch.float64)
    x = torch.randint(0, 4, (3, 5), generator=torch.Generator().manual_seed(2))
    full = model.conditional_logits(model.shifted(x), conditions)
    state, token = model.begin(3, conditions), torch.full((3,), model.start_token)
    for site in range(5):
        logits, state = model.step(token, state, site)
        torch.testing.assert_close(logits, full[:, site], rtol=0, atol=1e-10)
        token = x[:, site]
    view = model.at([1.1, 0.4])
    table = autoregressive_log_probabilities(view)  # the cached prefix-tree walk, checked against log_prob
    np.testing.assert_allclose(table, view.log_prob(all_outcomes(4, 5)).numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", ["rnn-film", "transformer-film", "transformer-add"])
def test_samples_fit_the_probabilities_at_a_condition(case):
    """Ancestral samples of P(. | c) pass a chi-square test against exp(log_prob(. | c)), for a view and for
    per-row conditions alike, and a seed gives the same bits through both."""
    model = make(case, n_qubits=3).double().requires_grad_(False)
    c = [0.8, -0.4]
    probs = model.at(c).log_prob(all_outcomes(4, 3)).exp().detach().numpy()
    samples = model.at(c).sample(20_000, generator=5)
    assert_samples_fit(samples, probs, 4)
    assert torch.equal(samples, model.sample(20_000, generator=5, conditions=c))


@pytest.mark.parametrize("case", [f for f in FAMILIES if f.endswith("-film")])
def test_film_starts_as_the_unconditional_model(case):
    """FiLM starts at gamma = 1, beta = 0: at any condition a fresh model gives, bit for bit, the log-probabilities
    and samples of the unconditional model built with the same seed (the shared weights are drawn alike)."""
    plain = make(case, n_conditions=0).double().requires_grad_(False)
    fresh = make(case, perturb=False).double().requires_grad_(False)
    gamma, beta = fresh.condition_embedding(torch.tensor([[0.3, -2.0], [7.0, 1.0]], dtype=torch.float64))
    assert bool((gamma == 1).all()) and bool((beta == 0).all())
    x = all_outcomes(4, 3)
    for c in ([0.0, 0.0], [0.7, -1.3], [25.0, 3.0]):
        torch.testing.assert_close(fresh.log_prob(x, conditions=c), plain.log_prob(x), rtol=0, atol=0)
    assert torch.equal(fresh.sample(200, generator=3, conditions=[0.7, -1.3]), plain.sample(200, generator=3))


def test_conditioning_is_checked():
    with pytest.raises(ModelError, match=r"conditioning must be one of \['add', 'film'\], got 'prefix'"):
        make("rnn", conditioning="prefix")
    assert "conditioning" not in make("transformer-film", n_conditions=0).config  # unconditional: nothing added
    assert make("transformer-film").config["conditioning"] == "film"


def test_condition_rows_extend_the_table_and_keep_indices():
    model = make("rnn", n_conditions=1, condition_names=["h"])
    x = torch.zeros(4, 3, dtype=torch.long)
    first = model.condition_rows(x, [[1.0], [0.5], [1.0], [0.5]])
    assert first[:, -1].tolist() == [1, 0, 1, 0] and model.condition_table.flatten().tolist() == [0.5, 1.0]
    second = model.condition_rows(x, [[1.0], [0.75], [0.25], [0.5]])  # new values appended, sorted among themselves
    assert model.condition_table.flatten().tolist() == [0.5, 1.0, 0.25, 0.75]
    assert second[:, -1].tolist() == [1, 3, 2, 0]
    assert model.support.n_table == 4
    one = model.condition_rows(x, 0.5)  # one condition for every row
    assert one[:, -1].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("case", ["transformer-add", "transformer-film", "lstm-film", "pixelcnn-film"])
def test_saved_model_keeps_its_table_and_names(tmp_path, case):
    model = make(case, n_conditions=1, condition_names=["h"])
    rows = model.condition_rows(torch.randint(0, 4, (6, 3)), [[0.5], [1.0], [1.5]] * 2)
    save(model, tmp_path / "m.pt")
    again = load(tmp_path / "m.pt")
    assert again.condition_names == ("h",) and torch.equal(again.condition_table, model.condition_table)
    assert again.support == model.support
    torch.testing.assert_close(again.log_prob(rows), model.eval().log_prob(rows), rtol=0, atol=0)
    assert repr(again.at(h=0.93)).startswith("AtCondition(")
    assert again.config == model.config


def test_errors_name_what_was_expected():
    model = make("rnn", n_conditions=1, condition_names=["h"])
    plain = make("rnn", n_conditions=0)
    x = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(OutcomeError, match="no condition table yet"):
        model.log_prob(torch.zeros(2, 4, dtype=torch.long))
    model.condition_rows(x, 1.0)
    with pytest.raises(OutcomeError, match=r"rows of 4 integers.*model.at"):
        model.log_prob(x)
    with pytest.raises(OutcomeError, match=r"condition index \(column 3\) must lie in \[0, 1\)"):
        model.log_prob(torch.tensor([[0, 1, 2, 1]]))
    with pytest.raises(ModelError, match=r"conditional on \['h'\]: give conditions"):
        model.sample(2)
    with pytest.raises(ModelError, match="takes no conditions|not conditional"):
        plain.log_prob(x, conditions=[1.0])
    with pytest.raises(ModelError, match=r"unknown condition J: this model's conditions are \['h'\]"):
        model.at(J=1.0)
    with pytest.raises(ModelError, match=r"lacks \['h'\]"):
        model.at({"name": "tfim", "n_qubits": 3})
    with pytest.raises(ModelError, match="finite"):
        model.at(float("nan"))
    with pytest.raises(ModelError, match=r"conditions: 3 rows for 2 outcome strings"):
        model.condition_rows(x, [[1.0], [2.0], [3.0]])
    with pytest.raises(ModelError, match="condition_names"):
        make("rnn", n_conditions=2, condition_names=["h"])
    with pytest.raises(ModelError, match="n_conditions must be an integer >= 0"):
        make("rnn", n_conditions=-1)


def test_view_takes_a_state_spec():
    model = make("pixelcnn", n_conditions=1, condition_names=["h"])
    view = model.at({"name": "tfim", "n_qubits": 3, "h": 0.93})
    assert isinstance(view, AtCondition) and view.condition_map == {"h": 0.93}
    assert view.n_qubits == 3 and view.support.n_sites == 3 and view.likelihood == "exact"


def _two_regimes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Product distributions with P(a_i = 0) = 0.9 at c = -1 and P(a_i = 1) = 0.9 at c = +1 (K = 2)."""
    gen = torch.Generator().manual_seed(seed)
    c = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    p_one = torch.where(c > 0, 0.9, 0.1).unsqueeze(1).expand(n, 3)
    return (torch.rand(n, 3, generator=gen) < p_one).long(), c.unsqueeze(1)


def _product_probabilities(p_one: float) -> np.ndarray:
    strings = all_outcomes(2, 3).numpy()
    return np.prod(np.where(strings == 1, p_one, 1 - p_one), axis=1)


@pytest.mark.parametrize(
    "case",
    ["transformer-add", "transformer-film", pytest.param("rnn-film", marks=pytest.mark.slow)],  # rnn: ~14 s
)
def test_trainer_learns_each_condition(case):
    """Trained by the common Trainer on rows of two regimes, the model at each condition is the exact product
    distribution of that regime to a classical fidelity >= 0.99 (2,000 strings; the sampling noise alone
    leaves 1 - F of about 2e-3)."""
    outcomes, conditions = _two_regimes(2000, seed=0)
    model = make(case, n_outcomes=2, n_conditions=1, condition_names=["h"], perturb=False)
    rows = model.condition_rows(outcomes, conditions)
    Trainer(model, epochs=8, batch_size=100, lr=1e-2, progress=False, early_stopping_patience=None).fit(rows)
    for h, p_one in ((-1.0, 0.1), (1.0, 0.9)):
        q = model.at(h=h).log_prob(all_outcomes(2, 3)).exp().detach().numpy()
        fidelity = float(np.sqrt(q * _product_probabilities(p_one)).sum())
        assert fidelity >= 0.99, (h, fidelity)


def test_resume_is_bit_exact(tmp_path):
    """A conditional run interrupted after its first checkpoint ends with the weights and table of a straight run."""
    outcomes, conditions = _two_regimes(600, seed=1)
    settings = {"epochs": 3, "batch_size": 100, "progress": False, "seed": 4}
    straight = make("transformer", n_outcomes=2, n_conditions=1)
    rows = straight.condition_rows(outcomes, conditions)
    Trainer(straight, **settings).fit(rows)
    interrupted = make("transformer", n_outcomes=2, n_conditions=1)
    interrupted.condition_rows(outcomes, conditions)
    with pytest.raises(Interrupted):
        InterruptedTrainer(interrupted, checkpoint=tmp_path / "run.ckpt", **settings).fit(rows)
    resumed = Trainer.resume(tmp_path / "run.ckpt", progress=False)
    resumed.fit(rows)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_the_trainer_takes_a_scan_data_set_directly() -> None:
    from qgen.data.scan import simulate_scan
    from qgen.models import build
    from qgen.train import Trainer

    data = simulate_scan({"name": "tfim", "n_qubits": 3}, "h", [0.5, 1.5], "tetra", 200, seed=1, reference=False)
    model = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, n_conditions=1, condition_names=["h"], seed=0)
    history = Trainer(model, epochs=1, batch_size=100, progress=False).fit(data)
    assert len(history["train_loss"]) == 1
    torch.testing.assert_close(model.condition_table.flatten().double(), torch.tensor([0.5, 1.5], dtype=torch.float64))

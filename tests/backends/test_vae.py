"""VAE: ELBO <= IWAE <= exact log-likelihood (by Gauss-Hermite quadrature over a 1-D latent), sampling, training."""

from __future__ import annotations

import math

import pytest
import torch

from qgen.backends.vae import VAE
from qgen.errors import ModelError, OutcomeError
from qgen.models import build, load, save
from qgen.models.base import Step, Vectors
from qgen.strings import all_outcomes
from qgen.train import Trainer
from tests.backends.training import train_locally


def exact_log_marginal(model: VAE, x: torch.Tensor, points: int = 40001) -> torch.Tensor:
    """log p(x) = log integral N(z; 0, 1) p(x | z) dz for a 1-D latent, by the trapezoid rule on [-10, 10].

    A uniform grid 5e-4 apart resolves even a sharply peaked decoder (its error is far below the tolerances
    below; the rule is exponentially accurate for smooth integrands that vanish at the ends).
    """
    z = torch.linspace(-10, 10, points, dtype=torch.float64)
    log_w = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + math.log(float(z[1] - z[0]))
    with torch.no_grad():
        log_lik = model.decoder_log_prob(x, z.view(-1, 1, 1).expand(points, x.shape[0], 1))
    return torch.logsumexp(log_w.unsqueeze(-1) + log_lik, dim=0)


def correlated_strings(n: int, seed: int) -> torch.Tensor:
    """N = 3 bits: 000 and 111 with probability 0.4 each, the other six strings 0.2 / 6 each."""
    g = torch.Generator().manual_seed(seed)
    strings = all_outcomes(2, 3)
    probs = torch.full((8,), 0.2 / 6)
    probs[0] = probs[7] = 0.4
    return strings[torch.multinomial(probs, n, replacement=True, generator=g)]


@pytest.fixture(scope="module")
def string_vae() -> VAE:
    torch.manual_seed(0)
    model = VAE(3, 2, latent_dim=1, hidden_size=16)
    train_locally(model, correlated_strings(2000, 0), steps=150, lr=5e-3)
    return model.double()  # trained in float32 (faster), compared with the reference in float64


def test_quadrature_normalises_the_string_model(string_vae: VAE) -> None:
    # The reference itself: the exact marginal of a normalised decoder sums to 1 over all 2^3 strings.
    total = exact_log_marginal(string_vae, all_outcomes(2, 3)).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-10)


def test_elbo_and_iwae_bound_the_exact_log_likelihood_on_strings(string_vae: VAE) -> None:
    x = all_outcomes(2, 3)
    exact = exact_log_marginal(string_vae, x)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        log_lik, _, kl = string_vae._bound_terms(x, 4000, g)
        draws = log_lik - kl  # 4000 single-draw ELBO estimates per string
        elbo, se = draws.mean(0), draws.std(0) / math.sqrt(4000)
        iw = torch.stack([string_vae.iw_bound(x, 10, generator=g) for _ in range(400)])
        iw10, iw_se = iw.mean(0), iw.std(0) / math.sqrt(400)
        iw_big = string_vae.iw_bound(x, 20000, generator=g)
    # ELBO <= IWAE(10) <= log p(x) (Burda et al. 2016, Theorem 1), up to 4 sigma of Monte-Carlo error.
    assert bool((elbo - 4 * se <= iw10 + 4 * iw_se).all())
    assert bool((iw10 - 4 * iw_se <= exact).all())
    assert bool((elbo - 4 * se < exact).all())
    # The ELBO is strictly looser somewhere (the posterior is not Gaussian), and IWAE(20000) reaches log p(x).
    assert float((exact - elbo).max()) > 0.01
    assert torch.allclose(iw_big, exact, atol=0.01)


def test_bounds_on_vectors_against_quadrature() -> None:
    torch.manual_seed(0)
    model = VAE(Vectors(2), latent_dim=1, hidden_size=16).double()
    g = torch.Generator().manual_seed(0)
    t = torch.randn(3000, 1, generator=g, dtype=torch.float64)
    data = torch.cat([t.sin(), t + 0.3 * torch.randn(3000, 1, generator=g, dtype=torch.float64)], 1) * 4 + 1
    train_locally(model, data, steps=300, lr=3e-3)
    x = data[:5]
    exact = exact_log_marginal(model, x)  # includes the standardization's Jacobian via decoder_log_prob
    with torch.no_grad():
        iw_big = model.iw_bound(x, 20000, generator=1)
        elbo = model.elbo(x, k=20000, generator=2)
    assert torch.allclose(iw_big, exact, atol=0.03)
    assert bool((elbo < exact).all())


def test_log_prob_is_the_chosen_bound_and_deterministic() -> None:
    torch.manual_seed(0)
    elbo_model = VAE(3, 2, latent_dim=2, hidden_size=8, bound="elbo", bound_samples=8)
    iwae_model = VAE(3, 2, latent_dim=2, hidden_size=8, bound="iwae", bound_samples=8)
    iwae_model.load_state_dict(elbo_model.state_dict())
    x = all_outcomes(2, 3)
    with torch.no_grad():
        assert torch.equal(elbo_model.log_prob(x), elbo_model.log_prob(x))
        # The same latent draws (fixed seed): log mean_j w_j >= mean_j log w_j (Jensen), and the ELBO with the
        # analytic KL is the expectation of the latter, so averaged over all strings IWAE(8) is above it.
        assert float(iwae_model.log_prob(x).mean()) >= float(elbo_model.log_prob(x).mean()) - 0.05
    assert elbo_model.likelihood == "lower_bound"


@pytest.mark.parametrize("support", [Vectors(2), (3, 4)])
def test_sampling_shape_dtype_and_seed(support: object) -> None:
    torch.manual_seed(0)
    model = VAE(*support, hidden_size=8) if isinstance(support, tuple) else VAE(support, hidden_size=8)
    a = model.sample(40, generator=5)
    assert torch.equal(a, model.sample(40, generator=5)) and not torch.equal(a, model.sample(40, generator=6))
    if isinstance(support, tuple):
        assert a.shape == (40, 3) and a.dtype == torch.int64 and int(a.max()) < 4
    else:
        assert a.shape == (40, 2) and a.dtype == torch.float32
    assert model.log_prob(a).shape == (40,)


def test_sampler_agrees_with_the_exact_marginal(string_vae: VAE) -> None:
    s = string_vae.sample(100_000, generator=0)
    codes = s[:, 0] * 4 + s[:, 1] * 2 + s[:, 2]
    freq = torch.bincount(codes, minlength=8).double() / len(s)
    exact = exact_log_marginal(string_vae, all_outcomes(2, 3)).exp()
    assert torch.allclose(freq, exact, atol=0.008)  # binomial stderr <= 0.0016: 5 sigma


def test_string_and_vector_defaults() -> None:
    # Strings: trained and evaluated on the importance-weighted bound (the GHZ-6 benchmark's finding); vectors: ELBO.
    strings, vectors = VAE(3, 2).hyperparameters, VAE(Vectors(2)).hyperparameters
    assert (strings["objective"], strings["bound"], strings["train_samples"]) == ("iwae", "iwae", 8)
    assert (vectors["objective"], vectors["bound"], vectors["train_samples"]) == ("elbo", "elbo", 1)
    assert VAE(3, 2, objective="elbo", train_samples=1).hyperparameters["objective"] == "elbo"


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_training_loss_is_the_chosen_bound_with_k_draws(objective: str) -> None:
    torch.manual_seed(0)
    model = VAE(3, 2, latent_dim=2, hidden_size=8, objective=objective, train_samples=5, beta=1.0).double()
    x = all_outcomes(2, 3)
    (update,) = model.training_step(x, Step(0, 0, torch.Generator().manual_seed(3)))
    with torch.no_grad():
        if objective == "iwae":
            expected = -model.iw_bound(x, 5, generator=3).mean()
        else:
            expected = -model.elbo(x, k=5, generator=3).mean()
    # The same generator seed gives the same five latent draws per row: the loss is the bound, to rounding.
    assert float(update.loss.detach()) == pytest.approx(float(expected), rel=1e-12)
    assert float(update.log["loss"]) == pytest.approx(float(expected), rel=1e-12)
    update.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_iwae_training_tightens_the_iwae_bound_on_held_out_strings() -> None:
    # Burda et al. 2016, Sec. 5: trained on the k-draw bound, the model's IWAE(k) log-likelihood is higher than
    # the same network's trained on the ELBO (same data, seed and steps); measured: -1.428 against -1.450 nats
    # (the truth's entropy is 1.413).
    data, test = correlated_strings(2000, 0), correlated_strings(2000, 1)
    scores = {}
    for objective in ("elbo", "iwae"):
        torch.manual_seed(0)
        model = VAE(3, 2, latent_dim=1, hidden_size=16, objective=objective, train_samples=8, bound="iwae")
        train_locally(model, data, steps=150, lr=5e-3)
        with torch.no_grad():
            scores[objective] = float(model.iw_bound(test, 64, generator=0).mean())
    assert scores["iwae"] > scores["elbo"]


def test_bad_options_are_named() -> None:
    with pytest.raises(ModelError, match="bound"):
        VAE(Vectors(1), bound="exact")
    with pytest.raises(ModelError, match="objective must be one of"):
        VAE(3, 2, objective="kl")
    with pytest.raises(ModelError, match="train_samples"):
        VAE(3, 2, train_samples=0)
    with pytest.raises(ModelError, match="beta"):
        VAE(Vectors(1), beta=-1.0)
    with pytest.raises(ModelError, match="latent_dim"):
        VAE(Vectors(1), latent_dim=0)


def test_save_load_round_trip(tmp_path) -> None:
    model = build("vae", dim=2, hidden_size=8, seed=0)
    model.prepare(torch.randn(50, 2) * 5 + 2, torch.Generator().manual_seed(0))
    save(model, tmp_path / "vae.pt")
    again = load(tmp_path / "vae.pt")
    x = torch.randn(10, 2)
    assert torch.equal(again.log_prob(x), model.log_prob(x))
    assert torch.equal(again.sample(10, generator=2), model.sample(10, generator=2))


@pytest.mark.slow
def test_vae_learns_correlated_strings_through_the_trainer() -> None:
    model = build("vae", n_qubits=3, n_outcomes=2, latent_dim=2, hidden_size=32, seed=0)
    Trainer(model, epochs=30, batch_size=100, lr=3e-3, progress=False, seed=0).fit(correlated_strings(4000, 1))
    s = model.sample(50_000, generator=0)
    codes = s[:, 0] * 4 + s[:, 1] * 2 + s[:, 2]
    freq = torch.bincount(codes, minlength=8).double() / len(s)
    truth = torch.full((8,), 0.2 / 6, dtype=torch.float64)
    truth[0] = truth[7] = 0.4
    # Classical fidelity of the samples' frequencies with the truth (plug-in bias ~ 8 / (8 * 5e4)).
    assert float(torch.sqrt(freq * truth).sum()) > 0.99  # untrained (uniform): 0.834; measured 0.9935


# ---- the conditional VAE ---------------------------------------------------------------------------------------

# Two regimes of N = 3 bits: at c = -1 the string 000 has probability 0.7 and 111 0.1, at c = +1 the reverse;
# the other six strings share 0.2 in both. Correlated (not a product), so the latent variable has work to do.
REGIMES = {-1.0: (0.7, 0.1), 1.0: (0.1, 0.7)}


def regime_probabilities(c: float) -> torch.Tensor:
    probs = torch.full((8,), 0.2 / 6, dtype=torch.float64)
    probs[0], probs[7] = REGIMES[c]
    return probs


def two_regime_data(n_per_condition: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(2n, 3) strings and their (2n, 1) conditions, n drawn in each regime."""
    g = torch.Generator().manual_seed(seed)
    strings, conditions = [], []
    for c in REGIMES:
        draws = torch.multinomial(regime_probabilities(c), n_per_condition, replacement=True, generator=g)
        strings.append(all_outcomes(2, 3)[draws])
        conditions.append(torch.full((n_per_condition, 1), c))
    return torch.cat(strings), torch.cat(conditions)


def exact_conditional_probabilities(model: VAE, c: float, points: int = 40001) -> torch.Tensor:
    """P(x | c) of all 2^3 strings by the trapezoid rule over the 1-D latent (as exact_log_marginal), float64."""
    x = all_outcomes(2, 3)
    z = torch.linspace(-10, 10, points, dtype=torch.float64)
    log_w = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + math.log(float(z[1] - z[0]))
    conditions = torch.full((len(x), 1), c, dtype=torch.float64)
    with torch.no_grad():
        log_lik = model.decoder_log_prob(x, z.view(-1, 1, 1).expand(points, len(x), 1), conditions)
    return torch.logsumexp(log_w.unsqueeze(-1) + log_lik, dim=0).exp()


@pytest.fixture(scope="module")
def conditional_vae() -> VAE:
    torch.manual_seed(0)
    # ELBO training (not the strings' IWAE default): its encoder is a close proposal, so IWAE(20000) below
    # reaches log p(x | c) to 0.01 (an IWAE-trained encoder is broader: 0.013 measured).
    model = VAE(
        3, 2, latent_dim=1, hidden_size=16, n_conditions=1, condition_names=["h"], objective="elbo", train_samples=1
    )
    rows = model.condition_rows(*two_regime_data(2000, seed=0))
    train_locally(model, rows, steps=300, lr=5e-3)
    return model.double()


def test_conditional_elbo_bounds_the_exact_log_likelihood_at_each_condition(conditional_vae: VAE) -> None:
    x = all_outcomes(2, 3)
    g = torch.Generator().manual_seed(3)
    for c in REGIMES:
        exact = exact_conditional_probabilities(conditional_vae, c)
        assert float(exact.sum()) == pytest.approx(1.0, abs=1e-10)  # the reference normalises at each c
        with torch.no_grad():
            log_lik, _, kl = conditional_vae._bound_terms(x, 4000, g, torch.full((8, 1), c, dtype=torch.float64))
            draws = log_lik - kl  # 4000 single-draw ELBO estimates per string
            iw_big = conditional_vae.iw_bound(x, 20000, generator=g, conditions=[c])
        elbo, se = draws.mean(0), draws.std(0) / math.sqrt(4000)
        # ELBO(x | c) <= log p(x | c) up to 4 sigma of Monte-Carlo error, and IWAE(20000) reaches log p(x | c).
        assert bool((elbo - 4 * se <= exact.log()).all()), c
        assert torch.allclose(iw_big, exact.log(), atol=0.01), c


def test_training_on_two_conditions_separates_them(conditional_vae: VAE) -> None:
    fidelities = {}
    for c in REGIMES:
        exact = exact_conditional_probabilities(conditional_vae, c)
        fidelities[c] = float(torch.sqrt(exact * regime_probabilities(c)).sum())
        # The other regime's distribution is far: F(regime -1, regime +1) = 2 sqrt(0.07) + 0.2 = 0.729.
        other = regime_probabilities(-c)
        assert fidelities[c] > float(torch.sqrt(exact * other).sum()) + 0.15, c
    # 4,000 training strings. A model that ignores c (the pooled data, 0.4 on 000 and 111) has F = 0.929 at each c.
    assert min(fidelities.values()) > 0.985, fidelities  # measured: 0.9937 and 0.9940


def test_conditional_rows_conditions_and_view_agree(conditional_vae: VAE) -> None:
    x = all_outcomes(2, 3)
    rows = conditional_vae.condition_rows(x, [1.0])
    assert conditional_vae.condition_table.flatten().tolist() == [-1.0, 1.0]  # no new entry for a known c
    with torch.no_grad():
        by_rows = conditional_vae.log_prob(rows)
        by_conditions = conditional_vae.log_prob(x, conditions=torch.ones(8, 1))
        view = conditional_vae.at(h=1.0)
        by_view = view.log_prob(x)
    torch.testing.assert_close(by_rows, by_conditions, rtol=0, atol=1e-12)
    torch.testing.assert_close(by_view, by_conditions, rtol=0, atol=1e-12)
    assert view.likelihood == "lower_bound" and view.n_qubits == 3 and "h=1" in repr(view)
    a = view.sample(500, generator=4)
    assert torch.equal(a, conditional_vae.sample(500, generator=4, conditions=[1.0]))
    assert a.shape == (500, 3) and not torch.equal(a, conditional_vae.sample(500, generator=4, conditions=[-1.0]))


def test_unconditional_vae_is_unchanged_by_the_option() -> None:
    torch.manual_seed(0)
    plain = VAE(3, 2, latent_dim=2, hidden_size=8)
    torch.manual_seed(0)
    explicit = VAE(3, 2, latent_dim=2, hidden_size=8, n_conditions=0)
    assert "n_conditions" not in explicit.config and plain.state_dict().keys() == explicit.state_dict().keys()
    for key, value in plain.state_dict().items():
        assert torch.equal(value, explicit.state_dict()[key]), key


def test_conditional_save_load_keeps_the_table(tmp_path) -> None:
    model = build("vae", n_qubits=3, n_outcomes=2, hidden_size=8, n_conditions=1, condition_names=["h"], seed=0)
    rows = model.condition_rows(*two_regime_data(5, seed=1))
    save(model, tmp_path / "cvae.pt")
    again = load(tmp_path / "cvae.pt")
    assert again.config == model.config and again.config["condition_table"] == [[-1.0], [1.0]]
    assert torch.equal(again.log_prob(rows), model.log_prob(rows))
    assert torch.equal(again.at(h=0.3).sample(20, generator=1), model.at(h=0.3).sample(20, generator=1))


def test_the_trainer_takes_a_scan_data_set() -> None:
    from qgen.data.scan import simulate_scan

    data = simulate_scan({"name": "tfim", "n_qubits": 3}, "h", [0.5, 1.5], "tetra", 200, seed=1, reference=False)
    model = build("vae", n_qubits=3, n_outcomes=4, hidden_size=8, n_conditions=1, condition_names=["h"], seed=0)
    history = Trainer(model, epochs=1, batch_size=100, progress=False).fit(data)
    assert len(history["train_loss"]) == 1 and bool(torch.isfinite(torch.tensor(history["val_loss"])).all())
    torch.testing.assert_close(model.condition_table.flatten(), torch.tensor([0.5, 1.5], dtype=torch.float64))


def test_conditional_errors_name_what_was_expected() -> None:
    model = VAE(3, 2, hidden_size=8, n_conditions=1, condition_names=["h"])
    plain = VAE(3, 2, hidden_size=8)
    with pytest.raises(ModelError, match="strings"):
        VAE(Vectors(2), n_conditions=1)
    with pytest.raises(ModelError, match="give conditions"):
        model.sample(3, generator=0)
    with pytest.raises(ModelError, match="takes no conditions"):
        plain.log_prob(torch.zeros(2, 3, dtype=torch.long), conditions=[1.0])
    with pytest.raises(ModelError, match="2 rows for 3"):
        model.log_prob(torch.zeros(3, 3, dtype=torch.long), conditions=[[1.0], [2.0]])
    with pytest.raises(OutcomeError, match="condition_rows"):
        model.log_prob(torch.zeros(3, 3, dtype=torch.long))

"""Diffusion: DDPM forward marginals and posteriors in closed form, masked diffusion's ELBO against enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from qgen.backends.diffusion import Diffusion
from qgen.errors import ModelError
from qgen.models import build, load, save
from qgen.models.base import Vectors
from qgen.strings import all_outcomes
from qgen.train import Trainer


def test_forward_chain_marginals_match_the_closed_form() -> None:
    model = Diffusion(Vectors(2), hidden_size=8, n_steps=50).double()
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([1.5, -0.5], dtype=torch.float64).expand(40_000, 2)
    x = x0.clone()
    for t in range(1, 51):
        x = model.forward_step(x, t, torch.randn(x.shape, generator=g, dtype=torch.float64))
        if t in (1, 10, 50):
            abar = math.prod(1 - float(b) for b in model.betas[:t])
            assert float(model.abar[t - 1]) == pytest.approx(abar, rel=1e-6)  # float32 buffers
            # q(x_t | x_0) = N(sqrt(abar) x_0, (1 - abar) I): 40,000 draws, mean stderr <= 0.005.
            assert torch.allclose(x.mean(0), math.sqrt(abar) * x0[0], atol=0.025)
            assert torch.allclose(x.var(0), torch.full((2,), 1 - abar, dtype=torch.float64), atol=0.03)
            direct = model.q_sample(
                x0, torch.full((40_000,), t), torch.randn(x.shape, generator=g, dtype=torch.float64)
            )
            assert torch.allclose(direct.mean(0), x.mean(0), atol=0.035)


def test_posterior_matches_gaussian_conditioning() -> None:
    model = Diffusion(Vectors(1), hidden_size=8, n_steps=20).double()
    x0, xt = torch.tensor([[0.7]], dtype=torch.float64), torch.tensor([[-0.4]], dtype=torch.float64)
    for t in (2, 7, 20):
        # Joint of (x_{t-1}, x_t) given x_0, then condition on x_t (dense 2x2 Gaussian algebra).
        abar_prev, beta = float(model.abar[t - 2]), float(model.betas[t - 1])
        m1, v1 = math.sqrt(abar_prev) * 0.7, 1 - abar_prev
        m2, v2, c = math.sqrt(1 - beta) * m1, (1 - beta) * v1 + beta, math.sqrt(1 - beta) * v1
        mean, var = model.posterior(x0, xt, torch.tensor([t]))
        assert mean.item() == pytest.approx(m1 + c / v2 * (-0.4 - m2), rel=1e-6)  # the schedule buffers are float32
        assert var.item() == pytest.approx(v1 - c * c / v2, rel=1e-6)  # the schedule buffers are float32


def test_ddpm_elbo_is_below_the_exact_density_with_the_optimal_denoiser(monkeypatch: pytest.MonkeyPatch) -> None:
    # For standardized data x_0 ~ N(0, 1), x_t ~ N(0, 1) and E[eps | x_t] = sqrt(1 - abar_t) x_t exactly.
    model = Diffusion(Vectors(1), hidden_size=8, n_steps=100).double()
    monkeypatch.setattr(model, "predict_noise", lambda xt, t: (1 - model.abar[t - 1]).sqrt().unsqueeze(-1) * xt)
    x = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model.standardize.fit(x)
    elbo = model.log_prob(x)
    exact = -0.5 * (math.log(2 * math.pi) + model.standardize(x).pow(2)).squeeze(1) + model.standardize.log_det()
    gap = exact - elbo
    # E[gap] = KL(q(x_0:T) || p(x_0:T)) = sum_t E KL(q(x_{t-1} | x_t) || p(x_{t-1} | x_t)): here every marginal
    # is N(0, 1), so the true reverse step is N(sqrt(1 - beta_t) x_t, beta_t), the same mean as the model's, and
    # only the variances differ (model: the posterior variance for t >= 2; exact at t = 1).
    ratio = (model.betas[1:] / model.sigma2[1:]).double()
    expected = float((0.5 * (ratio - 1 - ratio.log())).sum())
    se = float(gap.std()) / math.sqrt(len(gap))
    assert expected > 0.1  # the bound is not tight here, so the comparison has teeth
    assert abs(float(gap.mean()) - expected) < 4 * se + 1e-3


def test_masking_ends_fully_masked() -> None:
    model = Diffusion(5, 3, hidden_size=8)
    x = torch.randint(0, 3, (20_000, 5), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    assert bool((model.mask(x, 1.0, g) == 3).all())
    assert torch.equal(model.mask(x, 0.0, g), x)
    masked = model.mask(x, 0.3, g)
    frac = float((masked == 3).double().mean())
    assert abs(frac - 0.3) < 4 * math.sqrt(0.3 * 0.7 / x.numel())
    assert torch.equal(masked[masked != 3], x[masked != 3])  # visible sites are untouched
    with pytest.raises(ModelError, match="time"):
        model.mask(x, 1.5)


def _exact_masked_quantities(model: Diffusion, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """By enumeration: the ELBO (every visible set of every size) and the sampler's log-probability (every order)."""
    n = model.n_qubits
    mask = model.n_outcomes
    with torch.no_grad():

        def cond(visible: tuple[int, ...]) -> torch.Tensor:  # (rows, N) log p(x_i | x_visible)
            z = x.clone()
            hidden = [i for i in range(n) if i not in visible]
            z[:, hidden] = mask
            return model.conditional_log_probs(z).gather(-1, x.unsqueeze(-1)).squeeze(-1)

        elbo = torch.zeros(len(x), dtype=torch.float64)
        for m in range(n):
            sets = list(itertools.combinations(range(n), m))
            for s in sets:
                hidden = [i for i in range(n) if i not in s]
                elbo += cond(s)[:, hidden].sum(-1).double() / (n - m) / len(sets)
        orders = list(itertools.permutations(range(n)))
        per_order = []
        for order in orders:
            lp = torch.zeros(len(x), dtype=torch.float64)
            for k, site in enumerate(order):
                lp += cond(tuple(order[:k]))[:, site].double()
            per_order.append(lp)
        sampler = torch.logsumexp(torch.stack(per_order), 0) - math.log(len(orders))
    return elbo, sampler


@pytest.fixture(scope="module")
def small_masked() -> Diffusion:
    torch.manual_seed(0)
    model = Diffusion(3, 3, hidden_size=16, n_layers=2)
    # Push the random network away from uniform so that the orders disagree (a non-trivial bound).
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


def test_masked_elbo_bounds_the_sampler_distribution(small_masked: Diffusion) -> None:
    x = all_outcomes(3, 3)
    elbo, sampler = _exact_masked_quantities(small_masked, x)
    assert sampler.exp().sum().item() == pytest.approx(1.0, abs=1e-5)  # the sampler's distribution is normalised
    assert bool((elbo <= sampler + 1e-6).all())
    assert float((sampler - elbo).max()) > 1e-3  # strict somewhere: a bound, not the value
    with torch.no_grad():
        assert torch.allclose(small_masked.exhaustive_elbo(x).double(), elbo, atol=1e-5)
    # log_prob draws one visible set per size: an unbiased estimate of the enumerated ELBO.
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = torch.stack([small_masked._masked_elbo(x, g).double() for _ in range(3000)])
    se = draws.std(0) / math.sqrt(3000)
    assert bool(((draws.mean(0) - elbo).abs() <= 4 * se + 1e-6).all())


def test_masked_sampler_matches_the_order_mixture(small_masked: Diffusion) -> None:
    x = all_outcomes(3, 3)
    _, sampler = _exact_masked_quantities(small_masked, x)
    s = small_masked.sample(200_000, generator=0)
    freq = torch.bincount(s[:, 0] * 9 + s[:, 1] * 3 + s[:, 2], minlength=27).double() / len(s)
    assert torch.allclose(freq, sampler.exp(), atol=5 * math.sqrt(0.25 / 200_000))


@pytest.mark.parametrize("support", [Vectors(2), (3, 4)])
def test_sampling_shape_dtype_seed_and_save_load(support: object, tmp_path) -> None:
    torch.manual_seed(0)
    model = Diffusion(*support, hidden_size=8) if isinstance(support, tuple) else Diffusion(support, hidden_size=8)
    if isinstance(support, Vectors):
        model.prepare(torch.randn(100, 2) * 3 - 1, torch.Generator().manual_seed(0))
    a = model.sample(30, generator=4)
    assert torch.equal(a, model.sample(30, generator=4)) and not torch.equal(a, model.sample(30, generator=5))
    if isinstance(support, tuple):
        assert a.shape == (30, 3) and a.dtype == torch.int64 and int(a.max()) < 4
    else:
        assert a.shape == (30, 2) and a.dtype == torch.float32
    save(model, tmp_path / "d.pt")
    again = load(tmp_path / "d.pt")
    assert torch.equal(again.sample(30, generator=4), a)
    assert torch.equal(again.log_prob(a), model.log_prob(a))


def test_bad_schedule_is_named() -> None:
    with pytest.raises(ModelError, match="beta_start"):
        Diffusion(Vectors(1), beta_start=0.5, beta_end=0.1)
    with pytest.raises(ModelError, match="n_steps"):
        Diffusion(Vectors(1), n_steps=1)


@pytest.mark.slow
def test_masked_diffusion_learns_correlated_strings_through_the_trainer() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.full((8,), 0.2 / 6)
    probs[0] = probs[7] = 0.4
    data = all_outcomes(2, 3)[torch.multinomial(probs, 4000, replacement=True, generator=g)]
    model = build("diffusion", n_qubits=3, n_outcomes=2, hidden_size=32, n_layers=2, seed=0)
    Trainer(model, epochs=30, batch_size=100, lr=3e-3, progress=False, seed=0).fit(data)
    x = all_outcomes(2, 3)
    elbo, sampler = _exact_masked_quantities(model, x)
    # Fidelity of the sampler's exact distribution with the truth, and the ELBO's own fidelity (a lower bound).
    assert float(torch.sqrt(sampler.exp() * probs.double()).sum()) > 0.995
    assert float(torch.sqrt(elbo.exp() * probs.double()).sum()) > 0.99

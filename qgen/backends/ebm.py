"""Energy-based models on vectors: a neural energy sampled by Langevin dynamics, and a Gaussian-binary RBM.

References:
    Du and Mordatch, "Implicit generation and modeling with energy-based models", NeurIPS 2019 (contrastive loss
    with an energy-magnitude penalty, a replay buffer of persistent Langevin chains); Welling and Teh, "Bayesian
    learning via stochastic gradient Langevin dynamics", ICML 2011 (the unadjusted Langevin step); seed 004
    (/work/shared/seeds/004, "Gaussian-binary RBM": the energy E(x, h) below); Cho, Ilin, Raiko, "Improved
    learning of Gaussian-Bernoulli restricted Boltzmann machines", ICANN 2011.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.backends.networks import mlp
from qgen.errors import ModelError
from qgen.estimate import Estimate
from qgen.models.base import GenerativeModel, MaximumLikelihood, Step, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["EBM", "GaussianBinaryRBM"]


def _positive(value: object, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or not math.isfinite(value):
        raise ModelError(f"{label} must be a positive number, got {value!r}")
    return float(value)


class EBM(GenerativeModel):
    """p(x) = exp(-E_theta(x)) / Z with E an MLP; trained contrastively, sampled by Langevin dynamics.

    Each training step moves a batch of persistent chains (a replay buffer; a fraction `reinit` restarts from
    uniform noise) by `langevin_steps` unadjusted Langevin steps x <- x - (eps/2) grad E(x) + sqrt(eps) xi, then
    descends E(data) - E(chains) + alpha (E(data)^2 + E(chains)^2). Data are standardised in `prepare`, and the
    chains live in the standardised space. `log_prob` is -E(x) (up to log Z: likelihood "unnormalized");
    `log_normalizer` integrates exp(-E) on a grid in 1-D and 2-D and estimates it by importance sampling in any
    dimension. Samples are Markov-chain samples ("mcmc"):
    `sample_steps` Langevin steps from uniform noise, so they are only as good as the chain's mixing.

    Args:
        support: Vectors(dim).
        hidden: widths of the energy MLP (SiLU activations).
        langevin_steps: Langevin steps per training step.
        step_size: eps, the Langevin step (in standardised units squared).
        sample_steps: Langevin steps of `sample`.
        buffer_size: persistent chains kept in the replay buffer.
        reinit: the fraction of chains restarted from noise at each step.
        alpha: the weight of the energy-magnitude penalty.

    Example:
        >>> from qgen.models.base import Vectors
        >>> model = EBM(Vectors(1), hidden=(8,), buffer_size=16)
        >>> model.log_prob(torch.zeros(3, 1)).shape
        torch.Size([3])
    """

    name: ClassVar[str] = "ebm"
    likelihood: ClassVar[Literal["unnormalized"]] = "unnormalized"
    sampling: ClassVar[Literal["mcmc"]] = "mcmc"
    monitor: ClassVar[str | None] = None  # the contrastive loss is no measure of fit
    supports: ClassVar[tuple[str, ...]] = ("vectors",)

    def __init__(
        self,
        support: Support,
        *,
        hidden: tuple[int, ...] | list[int] = (64, 64),
        langevin_steps: int = 30,
        step_size: float = 0.01,
        sample_steps: int = 500,
        buffer_size: int = 10_000,
        reinit: float = 0.05,
        alpha: float = 0.1,
    ) -> None:
        super().__init__(support)
        if not isinstance(self.support, Vectors):
            raise ModelError(f"EBM models vectors, not {self.support}")
        hidden = tuple(hidden)
        if not hidden:
            raise ModelError("hidden must name at least one layer width")
        hidden = tuple(positive_int(h, "hidden", error=ModelError) for h in hidden)
        langevin_steps = positive_int(langevin_steps, "langevin_steps", error=ModelError)
        sample_steps = positive_int(sample_steps, "sample_steps", error=ModelError)
        buffer_size = positive_int(buffer_size, "buffer_size", error=ModelError)
        _positive(step_size, "step_size")
        if not isinstance(reinit, int | float) or not 0 <= reinit <= 1:
            raise ModelError(f"reinit must lie in [0, 1], got {reinit!r}")
        if not isinstance(alpha, int | float) or not alpha >= 0:
            raise ModelError(f"alpha must be a number >= 0, got {alpha!r}")
        self.hyperparameters = {
            "hidden": list(hidden),
            "langevin_steps": langevin_steps,
            "step_size": float(step_size),
            "sample_steps": sample_steps,
            "buffer_size": buffer_size,
            "reinit": float(reinit),
            "alpha": float(alpha),
        }
        d = self.support.dim
        self.energy_net = mlp(d, 1, hidden)
        self.register_buffer("shift", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))
        self.register_buffer("chains", torch.zeros(buffer_size, d))

    _BOX = 3.0  # chains (re)start uniform in [-3, 3]^d of the standardised space

    def energy(self, u: Tensor) -> Tensor:
        """E(u) per row, for points u in the standardised space."""
        return self.energy_net(u).squeeze(-1)

    def log_prob(self, x: Tensor) -> Tensor:
        x = self.check_outcomes(x)
        return -self.energy((x - self.shift) / self.scale) - self.scale.log().sum()

    def langevin(self, u: Tensor, steps: int, generator: torch.Generator | None) -> Tensor:
        """`steps` unadjusted Langevin steps from u (standardised space); returns the new points, detached."""
        eps = self.hyperparameters["step_size"]
        gen_device = generator.device if generator is not None else u.device
        u = u.detach()
        with torch.enable_grad():
            for _ in range(steps):
                u.requires_grad_(True)
                (grad,) = torch.autograd.grad(self.energy(u).sum(), u)
                noise = torch.randn(u.shape, generator=generator, dtype=u.dtype, device=gen_device).to(u.device)
                u = (u - 0.5 * eps * grad + math.sqrt(eps) * noise).detach()
        return u

    def _noise(self, n: int, generator: torch.Generator | None) -> Tensor:
        gen_device = generator.device if generator is not None else self.device
        shape = (n, self.support.dim)
        u = torch.rand(shape, generator=generator, dtype=self.scale.dtype, device=gen_device).to(self.device)
        return (2 * u - 1) * self._BOX

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        n = positive_int(n, "n", minimum=0, error=ModelError)
        g = as_generator(generator, self.device)
        u = self.langevin(self._noise(n, g), self.hyperparameters["sample_steps"], g)
        return u * self.scale + self.shift

    def log_normalizer(
        self,
        method: str = "auto",
        generator: torch.Generator | int | None = None,
        *,
        n_samples: int = 1 << 17,
        proposal_std: float = 1.5,
    ) -> Estimate:
        """log Z, by quadrature in 1-D and 2-D ("auto" there) or by importance sampling in any dimension.

        "quadrature": the trapezoid rule over [-8, 8]^d of the standardised space; the error bar is the change
        from a grid of half the resolution (the rule's own error estimate).

        "importance" ("auto" above 2-D): Z = E_q[exp(-E(u)) / q(u)] with q = N(0, proposal_std^2 I) in the
        standardised space (where the data have unit variance), from `n_samples` draws; the value is the log of
        that unbiased estimate of Z (so biased low by about stderr^2 / 2), the error bar the delta-method
        std(w) / (sqrt(n) mean(w)); `details` carry the effective sample size (sum w)^2 / sum w^2, which is small
        when q misses mass that exp(-E) has (then the error bar itself is unreliable).
        """
        if method not in ("auto", "quadrature", "importance"):
            raise ModelError(
                f"EBM's log-normalizer method must be 'auto', 'quadrature' or 'importance', got {method!r}"
            )
        d = self.support.dim
        if method == "importance" or (method == "auto" and d > 2):
            return self._importance_log_normalizer(as_generator(generator, self.device), n_samples, proposal_std)
        if d > 2:
            raise ModelError(f"EBM.log_normalizer integrates on a grid in 1-D and 2-D only, not in {d}-D")
        points = 4001 if d == 1 else 401

        def integrate(m: int) -> float:
            g = torch.linspace(-8, 8, m, dtype=torch.float64, device=self.device)
            grid = g.unsqueeze(1) if d == 1 else torch.cartesian_prod(g, g)
            with torch.no_grad():
                e = -self.energy(grid.to(self.scale.dtype)).double()
            shift = float(e.max())
            w = (e - shift).exp().reshape((m,) * d)
            for _ in range(d):
                w = torch.trapezoid(w, g, dim=0)
            # log_prob carries -sum log scale, the Jacobian of x -> u: Z in x equals the integral over u.
            return float(w.log()) + shift

        fine, coarse = integrate(points), integrate((points + 1) // 2)
        return Estimate(fine, abs(fine - coarse), "quadrature", 0, {"box": [-8.0, 8.0], "points": points})

    def _importance_log_normalizer(self, g: torch.Generator | None, n: int, sigma: float) -> Estimate:
        n = positive_int(n, "n_samples", error=ModelError)
        _positive(sigma, "proposal_std")
        d = self.support.dim
        gen_device = g.device if g is not None else self.device
        log_w = []
        with torch.no_grad():
            for start in range(0, n, 1 << 14):
                size = min(1 << 14, n - start)
                z = torch.randn(size, d, generator=g, dtype=torch.float64, device=gen_device).to(self.device)
                u = sigma * z
                log_q = -0.5 * z.pow(2).sum(1) - d * math.log(sigma) - 0.5 * d * math.log(2 * math.pi)
                log_w.append(-self.energy(u.to(self.scale.dtype)).double() - log_q)
        lw = torch.cat(log_w)
        shift = float(lw.max())
        w = (lw - shift).exp()
        mean = float(w.mean())
        value = math.log(mean) + shift
        stderr = float(w.std()) / (math.sqrt(n) * mean) if n > 1 else math.inf
        ess = float(w.sum()) ** 2 / float(w.pow(2).sum())
        details = {"proposal": "normal", "proposal_std": sigma, "effective_sample_size": ess}
        return Estimate(value, stderr, "importance", n, details)

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        x = self.check_outcomes(train)
        with torch.no_grad():
            self.shift.copy_(x.mean(0))
            self.scale.copy_(x.std(0).clamp_min(1e-6) if x.shape[0] > 1 else torch.ones_like(self.scale))
            self.chains.copy_(self._noise(self.chains.shape[0], generator))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        g = step.generator
        gen_device = g.device if g is not None else self.device
        n = x.shape[0]
        rows = torch.randint(self.chains.shape[0], (n,), generator=g, device=gen_device).to(self.device)
        start = self.chains[rows]
        fresh = torch.rand(n, generator=g, device=gen_device).to(self.device) < self.hyperparameters["reinit"]
        start = torch.where(fresh[:, None], self._noise(n, g), start)
        neg = self.langevin(start, self.hyperparameters["langevin_steps"], g)
        with torch.no_grad():
            self.chains[rows] = neg
        e_pos = self.energy((x - self.shift) / self.scale)
        e_neg = self.energy(neg)
        contrast = e_pos.mean() - e_neg.mean()
        loss = contrast + self.hyperparameters["alpha"] * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        yield Update("model", loss=loss, log={"loss": loss.detach(), "contrast": contrast.detach()})


class GaussianBinaryRBM(MaximumLikelihood):
    """Seed 004's Gaussian-binary RBM, E(x, h) = sum_i (x_i - a_i)^2 / (2 s_i^2) - b.h - sum_ij x_i W_ij h_j / s_i^2,
    with exact likelihood and exact samples through the enumeration of its 2^H hidden states (H <= 16).

    Given h, x is Gaussian with mean a + W h and variances s^2, so p(h) is proportional to
    exp(b.h + sum_i ((a_i + (W h)_i)^2 - a_i^2) / (2 s_i^2)); summing over h gives log Z exactly, and
    -log p(x) = F(x) + log Z with the free energy F(x) = sum_i (x_i - a_i)^2 / (2 s_i^2)
    - sum_j softplus(b_j + sum_i x_i W_ij / s_i^2). Trained by exact maximum likelihood (autograd), sampled
    ancestrally (h from p(h), then x given h). The variances s_i^2 are learnt too (log-parametrised).

    Args:
        support: Vectors(dim).
        n_hidden: H, the number of binary hidden units (1..16).

    Example:
        >>> from qgen.models.base import Vectors
        >>> rbm = GaussianBinaryRBM(Vectors(2), n_hidden=3)
        >>> rbm.sample(5, generator=0).shape
        torch.Size([5, 2])
    """

    name: ClassVar[str] = "gb-rbm"
    supports: ClassVar[tuple[str, ...]] = ("vectors",)

    def __init__(self, support: Support, *, n_hidden: int = 8) -> None:
        super().__init__(support)
        if not isinstance(self.support, Vectors):
            raise ModelError(f"GaussianBinaryRBM models vectors, not {self.support}")
        n_hidden = positive_int(n_hidden, "n_hidden", error=ModelError)
        if n_hidden > 16:
            raise ModelError(f"n_hidden must be at most 16 (its 2^H states are enumerated), got {n_hidden}")
        self.hyperparameters = {"n_hidden": n_hidden}
        d = self.support.dim
        self.a = nn.Parameter(torch.zeros(d))
        self.b = nn.Parameter(torch.zeros(n_hidden))
        self.W = nn.Parameter(0.1 * torch.randn(d, n_hidden))
        self.log_s = nn.Parameter(torch.zeros(d))
        hidden_states = torch.tensor(list(itertools.product((0.0, 1.0), repeat=n_hidden)))
        self.register_buffer("hidden_states", hidden_states, persistent=False)

    def free_energy(self, x: Tensor) -> Tensor:
        """F(x) with exp(-F(x)) = sum_h exp(-E(x, h)), per row."""
        s2 = torch.exp(2 * self.log_s)
        quad = ((x - self.a) ** 2 / (2 * s2)).sum(-1)
        return quad - nn.functional.softplus(self.b + (x / s2) @ self.W).sum(-1)

    def _log_weights_h(self) -> Tensor:
        """log of the unnormalised p(h) (without the h-independent Gaussian normaliser), for every h."""
        s2 = torch.exp(2 * self.log_s)
        h = self.hidden_states.to(self.a.dtype)
        mean = self.a + h @ self.W.T  # (2^H, d)
        return h @ self.b + ((mean**2 - self.a**2) / (2 * s2)).sum(-1)

    def log_partition(self) -> Tensor:
        """log Z = log sum_h exp(log_weights_h) + sum_i log(sqrt(2 pi) s_i)."""
        return torch.logsumexp(self._log_weights_h(), 0) + (self.log_s + 0.5 * math.log(2 * math.pi)).sum()

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.free_energy(self.check_outcomes(x)) - self.log_partition()

    def forward(self, x: Tensor) -> Tensor:
        return (self.free_energy(x) + self.log_partition()).mean()

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        n = positive_int(n, "n", minimum=0, error=ModelError)
        g = as_generator(generator, self.device)
        gen_device = g.device if g is not None else self.device
        with torch.no_grad():
            p_h = torch.softmax(self._log_weights_h().double(), 0).to(gen_device)
            idx = torch.multinomial(p_h, max(n, 1), replacement=True, generator=g)[:n].to(self.device)
            mean = self.a + self.hidden_states[idx].to(self.a.dtype) @ self.W.T
            eps = torch.randn(mean.shape, generator=g, dtype=self.a.dtype, device=gen_device).to(self.device)
            return mean + eps * torch.exp(self.log_s)

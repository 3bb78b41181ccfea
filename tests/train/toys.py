"""Test-only toy models with the shapes of every training family, to prove the engine before the families exist.

- `TwoPlayer` (adversarial shape): two parameter groups, a critic and a generator, updated in turn, with noise
  drawn from the step's generator.
- `ExplicitGradients`: a product of categoricals whose update is its analytic gradient, not a loss.
- `ClosedForm` (EM shape): no parameters; per-site counts summed over ranks, probabilities in closed form.
- `Gaussian` on Vectors: maximum likelihood of a diagonal Gaussian.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, MaximumLikelihood, Step, Strings, Update, Vectors

__all__ = ["TwoPlayer", "ExplicitGradients", "ClosedForm", "Gaussian", "TOYS"]


class TwoPlayer(GenerativeModel):
    """A generator mu + 0.1 z against a linear critic c(x) = w . x with a penalty on w.

    Critic loss: -(E_data[c] - E_gen[c]) + |w|^2 (its optimum is w = (mean_data - mean_gen) / 2); generator
    loss: -E_gen[c]. At the fixed point mu equals the data mean and w = 0.
    """

    name = "toy-two-player"
    likelihood: ClassVar[str] = "none"
    supports = ("vectors",)
    n_noise = 32

    def __init__(self, support: Vectors, critic_steps: int = 2) -> None:
        super().__init__(support)
        self.mu = nn.Parameter(torch.zeros(support.dim))
        self.w = nn.Parameter(torch.zeros(support.dim))
        self.critic_steps = critic_steps
        self.hyperparameters = {"critic_steps": critic_steps}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"critic": [self.w], "generator": [self.mu]}

    def _fake(self, generator: torch.Generator) -> Tensor:
        z = torch.randn(self.n_noise, self.support.dim, generator=generator, device=generator.device)
        return self.mu + 0.1 * z.to(self.mu.dtype)

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        for _ in range(self.critic_steps):
            fake = self._fake(step.generator).detach()
            loss = -((x * self.w).sum(1).mean() - (fake * self.w).sum(1).mean()) + (self.w**2).sum()
            yield Update("critic", loss=loss, log={"critic": loss.detach()})
        fake = self._fake(step.generator)
        loss = -(fake * self.w.detach()).sum(1).mean()
        yield Update("generator", loss=loss, log={"generator": loss.detach()})

    def log_prob(self, x: Tensor) -> Tensor:
        raise ModelError("an implicit model (likelihood 'none') has no density")

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        g = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        return (self.mu + 0.1 * torch.randn(n, self.support.dim, generator=g)).detach()


class _ProductCategorical(GenerativeModel):
    likelihood: ClassVar[str] = "exact"

    def log_probs(self) -> Tensor:
        """(N, K) log-probabilities of each symbol at each site."""
        raise ModelError(f"{type(self).__name__} must define log_probs")

    def log_prob(self, x: Tensor) -> Tensor:
        x = self.check_outcomes(x)
        lp = self.log_probs()
        return lp.gather(1, x.T).sum(0)

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        g = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        p = self.log_probs().exp().detach()
        return torch.stack([torch.multinomial(p[i], n, replacement=True, generator=g) for i in range(len(p))], 1)

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return {"loss": -self.log_prob(x).mean().detach()}


class ExplicitGradients(_ProductCategorical):
    """P(a) = prod_i softmax(theta_i)[a_i], updated by the analytic gradient of the mean NLL:
    d/d theta_ik = softmax(theta_i)_k - frequency of k at site i in the batch."""

    name = "toy-explicit-gradients"
    monitor = "loss"

    def __init__(self, n_qubits: int, n_outcomes: int) -> None:
        super().__init__(n_qubits, n_outcomes)
        self.theta = nn.Parameter(torch.zeros(n_qubits, n_outcomes))

    def log_probs(self) -> Tensor:
        return F.log_softmax(self.theta, dim=1)

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        freq = F.one_hot(x, self.n_outcomes).to(self.theta.dtype).mean(0)
        with torch.no_grad():
            grad = self.log_probs().exp() - freq
            nll = -self.log_prob(x).mean()
        yield Update("model", grads=[grad], log={"loss": nll})


class ClosedForm(_ProductCategorical):
    """No parameters: per-site counts (buffers) summed over ranks; P = (counts + 1) / (total + K) (Laplace)."""

    name = "toy-closed-form"
    monitor = "loss"

    def __init__(self, n_qubits: int, n_outcomes: int) -> None:
        super().__init__(n_qubits, n_outcomes)
        self.register_buffer("counts", torch.zeros(n_qubits, n_outcomes, dtype=torch.float64))

    def log_probs(self) -> Tensor:
        c = self.counts + 1.0
        return (c / c.sum(1, keepdim=True)).log()

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        local = F.one_hot(x, self.n_outcomes).to(torch.float64).sum(0)
        self.counts += step.ranks.sum(local)
        yield Update(None, log={"loss": -self.log_prob(x).mean().detach()})


class Gaussian(MaximumLikelihood):
    """A diagonal Gaussian on Vectors(d), fitted by maximum likelihood."""

    name = "toy-gaussian"
    supports = ("vectors",)

    def __init__(self, support: Vectors) -> None:
        super().__init__(support)
        self.mean = nn.Parameter(torch.zeros(support.dim))
        self.log_std = nn.Parameter(torch.zeros(support.dim))

    def log_prob(self, x: Tensor) -> Tensor:
        x = self.check_outcomes(x)
        z = (x - self.mean) / self.log_std.exp()
        return (-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(1)

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        g = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        z = torch.randn(n, self.support.dim, generator=g)
        return (self.mean + self.log_std.exp() * z).detach()


TOYS = {
    TwoPlayer.name: TwoPlayer,
    ExplicitGradients.name: ExplicitGradients,
    ClosedForm.name: ClosedForm,
    Gaussian.name: Gaussian,
}


def support_of(name: str) -> Strings | Vectors:
    """The support each toy is tested on."""
    return Vectors(2) if "vectors" in TOYS[name].supports else Strings(3, 3)

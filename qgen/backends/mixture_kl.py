"""Seed 000's model: two equal-weight Gaussians in 1-D fitted by gradient descent on a binned KL divergence.

The tutorial ("Training a generative model", alqor.io; /work/shared/seeds/000) estimates p_data(x) by counting the
data points in a bin of width b around each data point, p_model(x) by a two-point quadrature of the model
density over the bin, and descends the mean of p_data log(p_data / p_model) over the data points, with a
central finite-difference gradient. This module reproduces that recipe to the bit (including the tutorial's
quadrature points x - b/2 and x + b, an asymmetric rule it labels a trapezoid over [x - b, x + b]) and offers
the same objective with autograd's gradient instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["BinnedKLGaussians"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class BinnedKLGaussians(GenerativeModel):
    """p(x) = (1/C) sum_c N(x; mu_c, sigma_c^2) on Vectors(1), trained on seed 000's binned KL divergence.

    Parameters are float64 (the tutorial works in numpy float64), in one group "model" of 2C numbers
    (mu_1..mu_C, sigma_1..sigma_C) that plain SGD updates, as the tutorial's theta <- theta - eta grad KL does.

    Args:
        support: Vectors(1).
        means: the initial means (the tutorial: (-0.3, 0.6)).
        stds: the initial standard deviations (the tutorial: (0.2, 0.2)).
        bin_width: b, the bin width of both probability estimates (the tutorial: 1e-3).
        gradient: "finite_difference" (the tutorial's central difference, step `eps`) or "autograd".
        eps: the finite-difference step (the tutorial: 1e-3).

    Example:
        >>> from qgen.data.toy import seed000_points
        >>> model = BinnedKLGaussians(Vectors(1))
        >>> x = torch.as_tensor(seed000_points()).unsqueeze(1)
        >>> round(float(model.binned_kl(x).detach()), 6)  # the KL of the tutorial's starting point
        0.033551
    """

    name: ClassVar[str] = "mixture-kl"
    likelihood: ClassVar[Literal["exact"]] = "exact"
    sampling: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "kl"
    supports: ClassVar[tuple[str, ...]] = ("vectors",)

    def __init__(
        self,
        support: Support,
        *,
        means: Any = (-0.3, 0.6),
        stds: Any = (0.2, 0.2),
        bin_width: float = 1e-3,
        gradient: str = "finite_difference",
        eps: float = 1e-3,
    ) -> None:
        super().__init__(support)
        if not isinstance(self.support, Vectors) or self.support.dim != 1:
            raise ModelError(f"BinnedKLGaussians models Vectors(1), got {self.support}")
        mu = torch.as_tensor(means, dtype=torch.float64).reshape(-1)
        sd = torch.as_tensor(stds, dtype=torch.float64).reshape(-1)
        if mu.numel() == 0 or sd.shape != mu.shape or not bool((sd > 0).all()):
            raise ModelError(f"means and stds need one entry per component and stds > 0, got {means!r}, {stds!r}")
        if gradient not in ("finite_difference", "autograd"):
            raise ModelError(f"gradient must be 'finite_difference' or 'autograd', got {gradient!r}")
        for label, value in (("bin_width", bin_width), ("eps", eps)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ModelError(f"{label} must be a positive number, got {value!r}")
        self.hyperparameters = {
            "means": mu.tolist(),
            "stds": sd.tolist(),
            "bin_width": float(bin_width),
            "gradient": gradient,
            "eps": float(eps),
        }
        # One vector, as the tutorial's model_parameters = [mu_1, mu_2, sigma_1, sigma_2].
        self.theta = nn.Parameter(torch.cat([mu, sd]))

    @property
    def means(self) -> Tensor:
        return self.theta[: self.theta.numel() // 2]

    @property
    def stds(self) -> Tensor:
        return self.theta[self.theta.numel() // 2 :]

    @staticmethod
    def _density(x: Tensor, theta: Tensor) -> Tensor:
        """(1/C) sum_c N(x; mu_c, sigma_c^2) for x (n,) and theta (..., 2C) -> (..., n)."""
        c = theta.shape[-1] // 2
        mu, sd = theta[..., :c, None], theta[..., c:, None]
        z = (x - mu) / sd
        return (torch.exp(-0.5 * z**2) / (sd * math.sqrt(2 * math.pi))).mean(-2)

    def log_prob(self, x: Tensor) -> Tensor:
        x = self.check_outcomes(x)[:, 0]
        mu, sd = self.means[:, None], self.stds[:, None]
        comp = -0.5 * ((x - mu) / sd) ** 2 - sd.log() - _LOG_SQRT_2PI
        return torch.logsumexp(comp, dim=0) - math.log(mu.shape[0])

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        n = positive_int(n, "n", minimum=0, error=ModelError)
        g = as_generator(generator)
        c = self.means.shape[0]
        k = torch.randint(c, (n,), generator=g)
        eps = torch.randn(n, generator=g, dtype=torch.float64)
        with torch.no_grad():
            return (self.means[k] + self.stds[k] * eps).unsqueeze(1)

    # ---- the tutorial's objective --------------------------------------------------------------------------

    def binned_kl(self, x: Tensor, theta: Tensor | None = None) -> Tensor:
        """The tutorial's KL: mean over data points x_i of p_D(x_i) log(p_D(x_i) / p_model(x_i)).

        p_D(x_i) = #{j : x_i - b/2 <= x_j < x_i + b/2} / n; p_model(x_i) = b (rho(x_i + b) + rho(x_i - b/2)) / 2.
        `theta` (..., 2C) evaluates other parameters (a batch of them at once); default: the model's.
        """
        x = self.check_outcomes(x)[:, 0]
        b = self.hyperparameters["bin_width"]
        theta = self.theta if theta is None else theta
        inside = (x[None, :] >= x[:, None] - b / 2) & (x[None, :] < x[:, None] + b / 2)
        p_data = inside.sum(1).to(torch.float64) / x.shape[0]
        p_model = b * (self._density(x + b, theta) + self._density(x - b / 2, theta)) / 2
        return (p_data * p_data.log() - p_data * p_model.log()).mean(-1)

    def default_group_options(self) -> dict[str, dict[str, Any]]:
        """The tutorial's optimizer: plain gradient descent (no momentum, no clipping) with learning rate 0.2."""
        return {"model": {"optimizer": "sgd", "momentum": 0.0, "lr": 0.2, "clip_grad": None}}

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        if self.hyperparameters["gradient"] == "autograd":
            kl = self.binned_kl(x)
            yield Update("model", loss=kl, log={"kl": kl.detach()})
            return
        with torch.no_grad():
            eps = self.hyperparameters["eps"]
            shifts = eps * torch.eye(self.theta.numel(), dtype=torch.float64)
            theta = self.theta.detach()
            plus = self.binned_kl(x, theta + shifts)  # row k: theta + eps e_k
            minus = self.binned_kl(x, theta - shifts)
            grad = (plus - minus) / (2 * eps)
            kl = self.binned_kl(x)
        yield Update("model", grads=[grad], log={"kl": kl})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        with torch.no_grad():
            return {"kl": self.binned_kl(x), "loss": -self.log_prob(x).mean()}

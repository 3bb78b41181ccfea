"""Normalizing flows (RealNVP, MAF, neural spline) from zuko: exact on vectors, dequantized bound on strings.

References:
    Dinh, Sohl-Dickstein, Bengio, "Density estimation using Real NVP", ICLR 2017; Papamakarios, Pavlakou, Murray,
    "Masked autoregressive flow for density estimation", NeurIPS 2017; Durkan et al., "Neural spline flows",
    NeurIPS 2019; Theis, van den Oord, Bethge, "A note on the evaluation of generative models", ICLR 2016
    (uniform dequantization bounds the discrete likelihood); Burda, Grosse, Salakhutdinov, "Importance weighted
    autoencoders", ICLR 2016 (the k-sample bound); Rozet et al., zuko (github.com/probabilists/zuko).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar, Literal

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["Flow", "FLOW_KINDS"]

FLOW_KINDS = ("realnvp", "maf", "nsf")
# Strings are dequantized into (0, 1)^N and mapped to R^N by a logit; alpha keeps the logit finite at the edges.
_ALPHA = 1e-3


class Flow(GenerativeModel):
    """A normalizing flow x = f^-1(z), z ~ N(0, I), with log p(x) = log N(f(x)) + log |det df/dx| (zuko inside).

    On vectors the density is exact (`likelihood == "exact"`); the data are standardised in `prepare` (an affine
    map whose log-determinant `log_prob` includes). On strings of N symbols out of K the flow models
    y = (a + u) / K, u ~ U[0, 1)^N, through a logit; the model's distribution on strings is the flow's mass on
    each cell, and its samples are floor(K y). `log_prob` then returns the k-sample importance-weighted lower
    bound log (1/k) sum_i p_y((a + u_i)/K) - N log K <= log P(a) (in expectation over the u_i), and the
    instance's `likelihood` is "lower_bound": on strings the attribute is set per instance, shadowing the class
    attribute "exact" (read `model.likelihood`, not `Flow.likelihood`).

    Args:
        support: Vectors(dim) or Strings(N, K) (or n_qubits, n_outcomes).
        kind: "realnvp" (affine coupling), "maf" (affine autoregressive) or "nsf" (autoregressive rational-
            quadratic splines on [-5, 5], identity outside).
        transforms: the number of stacked transforms.
        hidden: the widths of each conditioner MLP.
        bins: spline bins ("nsf").
        bound_samples: k, the dequantization samples per string in `log_prob` (strings); training uses 1.
        bound_seed: the seed of those samples, so `log_prob` returns the same numbers for the same input.

    Example:
        >>> from qgen.models.base import Vectors
        >>> flow = Flow(Vectors(2), kind="realnvp", hidden=(8,))
        >>> x = torch.randn(4, 2)
        >>> z, ladj = flow.transform(x)
        >>> bool(torch.allclose(flow.inverse(z), x, atol=1e-5))
        True
    """

    name: ClassVar[str] = "flow"
    likelihood: ClassVar[Literal["exact", "lower_bound"]] = "exact"
    sampling: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "loss"
    supports: ClassVar[tuple[str, ...]] = ("vectors", "strings")

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        kind: str = "nsf",
        transforms: int = 4,
        hidden: tuple[int, ...] | list[int] = (64, 64),
        bins: int = 8,
        bound_samples: int = 16,
        bound_seed: int = 0,
    ) -> None:
        super().__init__(support, n_outcomes)
        import zuko

        if kind not in FLOW_KINDS:
            raise ModelError(f"kind must be one of {FLOW_KINDS}, got {kind!r}")
        transforms = positive_int(transforms, "transforms", error=ModelError)
        bins = positive_int(bins, "bins", error=ModelError)
        bound_samples = positive_int(bound_samples, "bound_samples", error=ModelError)
        hidden = tuple(positive_int(h, "hidden", error=ModelError) for h in hidden)
        if not hidden:
            raise ModelError("hidden must name at least one layer width, got an empty sequence")
        self.hyperparameters = {
            "kind": kind,
            "transforms": transforms,
            "hidden": list(hidden),
            "bins": bins,
            "bound_samples": bound_samples,
            "bound_seed": bound_seed,
        }
        self.features = self.support.dim if isinstance(self.support, Vectors) else self.support.n_sites
        common = {"features": self.features, "transforms": transforms, "hidden_features": hidden}
        if kind == "realnvp":
            self.flow = zuko.flows.RealNVP(**common)
        elif kind == "maf":
            self.flow = zuko.flows.MAF(**common)
        else:
            self.flow = zuko.flows.NSF(bins=bins, **common)
        # Standardisation of vector data (prepare sets it): x -> (x - shift) / scale before the flow.
        self.register_buffer("shift", torch.zeros(self.features))
        self.register_buffer("scale", torch.ones(self.features))
        if not isinstance(self.support, Vectors):
            self.likelihood = "lower_bound"  # per instance: see the class docstring

    # ---- the bijection -------------------------------------------------------------------------------------

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f(x) and log |det df/dx| per row, for x in the flow's space (standardised vectors or logits)."""
        return self.flow().transform.call_and_ladj(x)

    def inverse(self, z: Tensor) -> Tensor:
        """x = f^-1(z)."""
        return self.flow().transform.inv(z)

    def _flow_log_prob(self, x: Tensor) -> Tensor:
        return self.flow().log_prob(x)

    # ---- strings: dequantization ---------------------------------------------------------------------------

    def _dequantized_log_density(self, a: Tensor, u: Tensor) -> Tensor:
        """log p_y((a + u) / K) - N log K for strings a (n, N) and uniforms u (..., n, N): the per-sample bound."""
        k = self.support.n_symbols
        y = (a.to(u.dtype) + u) / k
        s = _ALPHA + (1 - 2 * _ALPHA) * y
        z = torch.log(s) - torch.log1p(-s)
        # log |dz/dy| = sum_j log((1 - 2 alpha) / (s_j (1 - s_j))), the logit's Jacobian.
        log_jac = (math.log(1 - 2 * _ALPHA) - torch.log(s) - torch.log1p(-s)).sum(-1)
        flat = z.reshape(-1, self.features)
        log_pz = self._flow_log_prob(flat).reshape(z.shape[:-1])
        return log_pz + log_jac - self.features * math.log(k)

    def bound(self, x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
        """The k-sample importance-weighted dequantization bound on log P(a), per string (strings only)."""
        a = self.check_outcomes(x)
        gen_device = generator.device if generator is not None else self.device
        u = torch.rand((k, *a.shape), generator=generator, dtype=self.dtype, device=gen_device).to(self.device)
        return torch.logsumexp(self._dequantized_log_density(a, u), dim=0) - math.log(k)

    # ---- the distribution ----------------------------------------------------------------------------------

    def log_prob(self, x: Tensor) -> Tensor:
        if isinstance(self.support, Vectors):
            x = self.check_outcomes(x)
            return self._flow_log_prob((x - self.shift) / self.scale) - self.scale.log().sum()
        g = torch.Generator(device=self.device).manual_seed(self.hyperparameters["bound_seed"])
        return self.bound(x, self.hyperparameters["bound_samples"], g)

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        n = positive_int(n, "n", minimum=0, error=ModelError)
        g = as_generator(generator, self.device)
        gen_device = g.device if g is not None else self.device
        with torch.no_grad():
            z = torch.randn(n, self.features, generator=g, dtype=self.dtype, device=gen_device).to(self.device)
            x = self.inverse(z)
            if isinstance(self.support, Vectors):
                return x * self.scale + self.shift
            y = (torch.sigmoid(x) - _ALPHA) / (1 - 2 * _ALPHA)
            return (y * self.support.n_symbols).floor().long().clamp_(0, self.support.n_symbols - 1)

    # ---- the training contract -----------------------------------------------------------------------------

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        if isinstance(self.support, Vectors):
            x = self.check_outcomes(train)
            with torch.no_grad():
                self.shift.copy_(x.mean(0))
                self.scale.copy_(x.std(0).clamp_min(1e-6) if x.shape[0] > 1 else torch.ones_like(self.scale))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        if isinstance(self.support, Vectors):
            nll = -self.log_prob(x).mean()
        else:
            nll = -self.bound(x, 1, step.generator).mean()  # fresh dequantization noise each step
        yield Update("model", loss=nll, log={"loss": nll.detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        with torch.no_grad():
            return {"loss": -self.log_prob(x).mean()}

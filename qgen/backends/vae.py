"""Variational autoencoder: Gaussian encoder, Gaussian or categorical decoder, ELBO and importance-weighted bounds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.backends.encodings import normal, one_hot, sample_categorical
from qgen.backends.networks import Standardize, check_nonnegative, mlp
from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Strings, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["VAE"]

_BOUNDS = ("elbo", "iwae")
_LOG_2PI = math.log(2 * math.pi)
# The decoder's log-variance is kept in this range: below, a Gaussian decoder can collapse onto one training
# point and its density diverges; above, it is a flat background that teaches nothing.
_LOG_VAR_RANGE = (-12.0, 6.0)
# log_prob draws its latent samples from a generator with this seed, so it is a deterministic function of the
# batch (the same rows give the same numbers on every call).
_BOUND_SEED = 0
_CHUNK = 8192


def _gaussian_log_density(x: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log N(x; mean, diag(exp(log_var))), summed over the last axis."""
    return -0.5 * (_LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(-1)


class VAE(GenerativeModel):
    """A variational autoencoder: p(x) = integral N(z; 0, I) p(x | z) dz, trained on the (beta-weighted) ELBO.

    The encoder is q(z | x) = N(mu(x), diag sigma^2(x)); the decoder p(x | z) is a diagonal Gaussian on vectors
    and a product of per-site categoricals on strings (sites are independent given z; z correlates them).
    `log_prob` is a lower bound of log p(x) (`likelihood = "lower_bound"`): the ELBO
    E_q[log p(x | z)] - KL(q(z | x) || N(0, I)), or the importance-weighted bound
    E[log (1/k) sum_j p(x, z_j) / q(z_j | x)], which is tighter and tends to log p(x) as k grows. Both are
    Monte-Carlo estimates with `bound_samples` latent draws per row.

    References:
        D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (eq. 10, Appendix B: the
        Gaussian KL); I. Higgins et al., "beta-VAE", ICLR 2017; Y. Burda, R. Grosse, R. Salakhutdinov,
        "Importance Weighted Autoencoders", ICLR 2016 (eq. 8, Theorem 1); seeds 001, 002, 004.

    Args:
        support: `Vectors(dim)`, `Strings(N, K)`, or n_qubits with n_outcomes.
        n_outcomes: K, when the first argument is n_qubits.
        latent_dim: dimension of z.
        hidden_size: width of encoder and decoder.
        n_layers: hidden layers of encoder and decoder (0: linear maps).
        beta: weight of the KL term in the training loss (1: the ELBO; the reported bound always uses 1).
        bound: what `log_prob` returns: "elbo" or "iwae".
        bound_samples: latent samples per row in `log_prob` (k of the importance-weighted bound).

    Example:
        >>> vae = VAE(3, 2, latent_dim=1, hidden_size=8)
        >>> vae.log_prob(torch.tensor([[0, 1, 1]])).shape
        torch.Size([1])
    """

    name = "vae"
    likelihood: ClassVar[str] = "lower_bound"
    monitor: ClassVar[str | None] = "loss"
    supports: ClassVar[tuple[str, ...]] = ("strings", "vectors")

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        latent_dim: int = 4,
        hidden_size: int = 64,
        n_layers: int = 2,
        beta: float = 1.0,
        bound: str = "elbo",
        bound_samples: int = 16,
    ) -> None:
        super().__init__(support, n_outcomes)
        latent_dim = positive_int(latent_dim, "latent_dim", error=ModelError)
        n_layers = positive_int(n_layers, "n_layers", minimum=0, error=ModelError)
        bound_samples = positive_int(bound_samples, "bound_samples", error=ModelError)
        if bound not in _BOUNDS:
            raise ModelError(f"bound must be one of {_BOUNDS}, got {bound!r}")
        self.hyperparameters = {
            "latent_dim": latent_dim,
            "hidden_size": hidden_size,
            "n_layers": n_layers,
            "beta": check_nonnegative(beta, "beta"),
            "bound": bound,
            "bound_samples": bound_samples,
        }
        if isinstance(self.support, Strings):
            width, out = self.support.n_sites * self.support.n_symbols, self.support.n_sites * self.support.n_symbols
        else:
            width, out = self.support.dim, 2 * self.support.dim
            self.standardize = Standardize(width)
        self.encoder = mlp(width, 2 * latent_dim, hidden_size, n_layers)
        self.decoder = mlp(latent_dim, out, hidden_size, n_layers)

    # ---- encoder and decoder -------------------------------------------------------------------------------

    def _code(self, x: Tensor) -> Tensor:
        """The data as the networks see them: one-hot codes (n, N K), or standardized vectors (n, dim)."""
        if isinstance(self.support, Strings):
            return one_hot(x, self.support.n_symbols, self.dtype, flatten=True)
        return self.standardize(x)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): mean and log-variance (n, latent_dim) of a validated batch."""
        mean, log_var = self.encoder(self._code(x)).chunk(2, dim=-1)
        return mean, log_var

    def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) for x (n, ...) validated and z (..., n, latent_dim); returns (..., n).

        Vectors: the density of x itself (the standardization's Jacobian included).
        """
        out = self.decoder(z)
        if isinstance(self.support, Strings):
            logits = out.unflatten(-1, (self.support.n_sites, self.support.n_symbols))
            logp = F.log_softmax(logits, dim=-1)
            index = x.expand(*logits.shape[:-1]).unsqueeze(-1)
            return logp.gather(-1, index).squeeze(-1).sum(-1)
        mean, log_var = out.chunk(2, dim=-1)
        return _gaussian_log_density(self.standardize(x), mean, log_var.clamp(*_LOG_VAR_RANGE)) + (
            self.standardize.log_det()
        )

    # ---- bounds --------------------------------------------------------------------------------------------

    def _bound_terms(self, x: Tensor, k: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """For k reparametrised draws z_j ~ q(z | x): log p(x | z_j), log p(z_j) - log q(z_j | x) (k, n), KL (n)."""
        mean, log_var = self.encode(x)
        eps = normal((k, *mean.shape), generator, mean.device, mean.dtype)
        z = mean + (0.5 * log_var).exp() * eps
        log_lik = self.decoder_log_prob(x, z)
        # log N(z; 0, I) - log N(z; mean, sigma^2), with (z - mean) / sigma = eps.
        log_ratio = 0.5 * (log_var + eps.pow(2) - z.pow(2)).sum(-1)
        # KL(N(mean, sigma^2) || N(0, I)) in closed form (Kingma and Welling 2014, Appendix B).
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
        return log_lik, log_ratio, kl

    def elbo(self, x: Tensor, k: int = 1, generator: torch.Generator | int | None = None) -> Tensor:
        """The ELBO E_q[log p(x | z)] - KL(q || p), its expectation estimated with k draws per row; (n,)."""
        x = self.check_outcomes(x)
        log_lik, _, kl = self._bound_terms(x, positive_int(k, "k", error=ModelError), as_generator(generator))
        return log_lik.mean(0) - kl

    def iw_bound(self, x: Tensor, k: int, generator: torch.Generator | int | None = None) -> Tensor:
        """The importance-weighted bound log (1/k) sum_j p(x, z_j) / q(z_j | x), one draw of it per row; (n,).

        Its expectation increases with k and tends to log p(x) (Burda et al. 2016, Theorem 1).
        """
        x = self.check_outcomes(x)
        log_lik, log_ratio, _ = self._bound_terms(x, positive_int(k, "k", error=ModelError), as_generator(generator))
        return torch.logsumexp(log_lik + log_ratio, dim=0) - math.log(k)

    def log_prob(self, x: Tensor) -> Tensor:
        """A lower bound of log p(x) per row: the `bound` ("elbo" or "iwae") with `bound_samples` draws.

        The draws come from a generator of fixed seed, so the same batch gives the same numbers every call.

        Args:
            x: (n, N) integers in [0, K), or (n, dim) reals.

        Returns:
            (n,) tensor in the model's dtype.
        """
        x = self.check_outcomes(x)
        gen = torch.Generator(device=self.device).manual_seed(_BOUND_SEED)
        k = self.hyperparameters["bound_samples"]
        bound = self.elbo if self.hyperparameters["bound"] == "elbo" else self.iw_bound
        parts = [bound(chunk, k, gen) for chunk in x.split(_CHUNK)]
        return torch.cat(parts) if parts else torch.empty(0, dtype=self.dtype, device=self.device)

    # ---- sampling ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Ancestral sampling: z ~ N(0, I), then x ~ p(x | z). Exact draws of the model's p(x).

        Returns:
            strings: (n, N) int64 in [0, K); vectors: (n, dim) in the model's dtype.
        """
        n = positive_int(n, "number of samples", minimum=0, error=ModelError)
        gen = as_generator(generator)
        z = normal((n, self.hyperparameters["latent_dim"]), gen, self.device, self.dtype)
        out = self.decoder(z)
        if isinstance(self.support, Strings):
            logits = out.view(n, self.support.n_sites, self.support.n_symbols)
            return sample_categorical(logits, gen)
        mean, log_var = out.chunk(2, dim=-1)
        std = (0.5 * log_var.clamp(*_LOG_VAR_RANGE)).exp()
        return self.standardize.inverse(mean + std * normal(tuple(mean.shape), gen, self.device, self.dtype))

    # ---- training ------------------------------------------------------------------------------------------

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """Vectors: fit the standardization to the training data."""
        if isinstance(self.support, Vectors):
            self.standardize.fit(train.to(self.dtype))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        """One update of encoder and decoder together on -(E_q log p(x | z) - beta KL), one draw per row."""
        log_lik, _, kl = self._bound_terms(x, 1, step.generator)
        reconstruction = log_lik.mean(0)
        loss = -(reconstruction - self.hyperparameters["beta"] * kl).mean()
        yield Update("model", loss=loss, log={"loss": -(reconstruction - kl).mean().detach(), "kl": kl.mean().detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """ "loss": the negative ELBO (beta = 1) of a held-out batch, one draw per row; "kl": its KL term."""
        with torch.no_grad():
            log_lik, _, kl = self._bound_terms(x, 1, generator)
            return {"loss": -(log_lik.mean(0) - kl).mean(), "kl": kl.mean()}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """One group, "model": encoder and decoder are trained together on the same bound."""
        return {"model": list(self.parameters())}

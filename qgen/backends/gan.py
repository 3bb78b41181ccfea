"""Generative adversarial networks: a non-saturating GAN with an R1 penalty, and a WGAN-GP, on vectors and strings.

On `Vectors(dim)` the generator maps Gaussian noise to a vector. On `Strings(N, K)` it maps the noise to
per-site logits and emits each site by a straight-through Gumbel-softmax: the critic sees exact one-hot draws,
the generator receives the relaxed gradient (`critic_input` offers the relaxed sample or the probabilities
instead). A GAN has no density (`likelihood = "none"`): it is evaluated
through its samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.backends.encodings import gumbel_softmax, gumbel_softmax_st, normal, one_hot, sample_categorical
from qgen.backends.networks import Standardize, check_nonnegative, mlp
from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Strings, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["GAN", "WGANGP", "r1_penalty", "interpolated_gradient_penalty"]

# Samples are generated in chunks of this many rows (bounded memory; the bits depend only on n).
_SAMPLE_CHUNK = 65536
_PENALTIES = ("two-sided", "one-sided")
_CRITIC_INPUTS = ("hard", "relaxed", "soft")


def r1_penalty(critic: nn.Module, real: Tensor) -> Tensor:
    """E_x ||grad_x D(x)||^2 over real data, the R1 regulariser (without its gamma / 2).

    References:
        L. Mescheder, A. Geiger, S. Nowozin, "Which Training Methods for GANs do actually Converge?",
        ICML 2018, eq. (9).
    """
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
    return grad.pow(2).sum(1).mean()


def interpolated_gradient_penalty(
    critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor, one_sided: bool = False
) -> Tensor:
    """E_i (||grad D(x_i)||_2 - 1)^2 at x_i = eps_i real_i + (1 - eps_i) fake_i, the norm taken per sample.

    With `one_sided`, E_i max(0, ||grad D(x_i)||_2 - 1)^2: only slopes above 1 are penalised (Petzka et al.).

    The gradient of sum_i D(x_i) with respect to x_i is each sample's own gradient (the critic treats rows
    independently), so the norm is per row; a norm of the whole batch's gradient is a different, wrong number.

    References:
        I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of Wasserstein
        GANs", NeurIPS 2017, Algorithm 1 (lambda = 10); H. Petzka, A. Fischer, D. Lukovnikov, "On the
        regularization of Wasserstein GANs", ICLR 2018, eq. (8) (the one-sided penalty).

    Args:
        critic: maps (n, D) to (n,) scores.
        real, fake: (n, D).
        eps: (n, 1) uniforms in [0, 1], one per sample.
        one_sided: penalise only gradient norms above 1.
    """
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    excess = grad.norm(dim=1) - 1
    return (excess.clamp(min=0) if one_sided else excess).pow(2).mean()


class _Critic(nn.Module):
    """An MLP score D(x) whose last hidden layer is the feature map h(x) of feature matching."""

    def __init__(self, n_in: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        self.features = nn.Sequential(mlp(n_in, hidden, hidden, n_layers - 1), nn.SiLU())
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(-1)


class _Adversarial(GenerativeModel):
    """A generator network and a critic network trained against each other; subclasses set the objective."""

    likelihood: ClassVar[str] = "none"
    supports: ClassVar[tuple[str, ...]] = ("strings", "vectors")
    monitor: ClassVar[str | None] = None

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None,
        *,
        latent_dim: int,
        hidden_size: int,
        n_layers: int,
        n_critic: int,
        instance_noise: float,
        feature_matching: float,
        tau: float,
        critic_input: str,
    ) -> None:
        super().__init__(support, n_outcomes)
        latent_dim = positive_int(latent_dim, "latent_dim", error=ModelError)
        n_layers = positive_int(n_layers, "n_layers", error=ModelError)
        n_critic = positive_int(n_critic, "n_critic", error=ModelError)
        if not (isinstance(tau, (int, float)) and not isinstance(tau, bool) and tau > 0):
            raise ModelError(f"tau (Gumbel-softmax temperature) must be a number > 0, got {tau!r}")
        if critic_input not in _CRITIC_INPUTS:
            raise ModelError(f"critic_input must be one of {_CRITIC_INPUTS}, got {critic_input!r}")
        self.hyperparameters = {
            "latent_dim": latent_dim,
            "hidden_size": hidden_size,
            "n_layers": n_layers,
            "n_critic": n_critic,
            "instance_noise": check_nonnegative(instance_noise, "instance_noise"),
            "feature_matching": check_nonnegative(feature_matching, "feature_matching"),
            "tau": float(tau),
            "critic_input": critic_input,
        }
        if isinstance(self.support, Strings):
            width = self.support.n_sites * self.support.n_symbols
        else:
            if critic_input != "hard":
                raise ModelError(f"critic_input={critic_input!r} is for strings; on vectors the critic sees the points")
            width = self.support.dim
            self.standardize = Standardize(width)
        self.generator = mlp(latent_dim, width, hidden_size, n_layers)
        self.critic = _Critic(width, hidden_size, n_layers)

    # ---- the two networks ----------------------------------------------------------------------------------

    def _encode(self, x: Tensor) -> Tensor:
        """Data as the critic sees it: one-hot codes (n, N K) of strings, standardized vectors (n, dim)."""
        if isinstance(self.support, Strings):
            return one_hot(x, self.support.n_symbols, self.dtype, flatten=True)
        return self.standardize(x)

    def _generate(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """n generated points as the critic sees them (with the generator's gradient), and as samples."""
        z = normal((n, self.hyperparameters["latent_dim"]), generator, self.device, self.dtype)
        out = self.generator(z)
        if isinstance(self.support, Vectors):
            return out, self.standardize.inverse(out)
        logits = out.view(n, self.support.n_sites, self.support.n_symbols)
        tau, kind = self.hyperparameters["tau"], self.hyperparameters["critic_input"]
        if kind == "hard":
            code, index = gumbel_softmax_st(logits, tau, generator)
        elif kind == "relaxed":
            code, index = gumbel_softmax(logits, tau, generator)
        else:
            code, index = torch.softmax(logits, -1), sample_categorical(logits, generator)
        return code.flatten(1), index

    def _noisy(self, v: Tensor, generator: torch.Generator | None) -> Tensor:
        """Instance noise: Gaussian noise of scale sigma on every critic input, real and generated alike.

        References:
            C. K. Sønderby, J. Caballero, L. Theis, W. Shi, F. Huszár, "Amortised MAP Inference for Image
            Super-resolution", ICLR 2017, Sec. 3.2; M. Arjovsky, L. Bottou, "Towards Principled Methods for
            Training Generative Adversarial Networks", ICLR 2017 (seed 002: "add noise to the samples").
        """
        sigma = self.hyperparameters["instance_noise"]
        if sigma == 0:
            return v
        return v + sigma * normal(tuple(v.shape), generator, v.device, v.dtype)

    # ---- the distribution ----------------------------------------------------------------------------------

    def log_prob(self, x: Tensor) -> Tensor:
        """A GAN has no density: raises ModelError (evaluate it through `sample`)."""
        raise ModelError(f"{type(self).__name__} has no density (likelihood 'none'): evaluate it through its samples")

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Draw n points: noise z ~ N(0, I) through the generator (strings: one Gumbel-max draw per site).

        Returns:
            strings: (n, N) int64 in [0, K); vectors: (n, dim) in the model's dtype.
        """
        n = positive_int(n, "number of samples", minimum=0, error=ModelError)
        gen = as_generator(generator)
        with self.evaluating():
            chunks = [self._generate(min(_SAMPLE_CHUNK, n - s), gen)[1] for s in range(0, n, _SAMPLE_CHUNK)]
        if chunks:
            return torch.cat(chunks)
        if isinstance(self.support, Strings):
            return torch.empty(0, self.support.n_sites, dtype=torch.long, device=self.device)
        return torch.empty(0, self.support.dim, dtype=self.dtype, device=self.device)

    def generator_logits(self, z: Tensor) -> Tensor:
        """Strings only: the per-site logits (n, N, K) the generator gives latent points z (n, latent_dim).

        Given z, the sites are independent categoricals; the model is the mixture of these over z ~ N(0, I).
        """
        strings = self._strings()
        return self.generator(z).view(z.shape[0], strings.n_sites, strings.n_symbols)

    # ---- training ------------------------------------------------------------------------------------------

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Two groups, one optimizer each: "critic" and "generator"."""
        return {"critic": list(self.critic.parameters()), "generator": list(self.generator.parameters())}

    def default_group_options(self) -> dict[str, dict[str, Any]]:
        """Adam with betas (0.5, 0.9) for both networks: a short momentum memory, as Gulrajani et al. (2017) use."""
        return {group: {"betas": (0.5, 0.9)} for group in ("critic", "generator")}

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """Vectors: fit the standardization to the training data."""
        if isinstance(self.support, Vectors):
            self.standardize.fit(train.to(self.dtype))

    def _critic_objective(self, real: Tensor, fake: Tensor, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def _generator_objective(self, fake_score: Tensor) -> Tensor:
        raise NotImplementedError

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        """`n_critic` critic updates (fresh noise each, the same real batch), then one generator update."""
        gen = step.generator
        real = self._encode(x)
        n = real.shape[0]
        for _ in range(self.hyperparameters["n_critic"]):
            with torch.no_grad():
                fake, _ = self._generate(n, gen)
            loss, log = self._critic_objective(self._noisy(real, gen), self._noisy(fake, gen), gen)
            yield Update("critic", loss=loss, log=log)
        fake, _ = self._generate(n, gen)
        noisy_fake = self._noisy(fake, gen)
        loss = self._generator_objective(self.critic(noisy_fake))
        log: dict[str, Any] = {"generator_loss": loss.detach()}
        weight = self.hyperparameters["feature_matching"]
        if weight > 0:
            # Feature matching: || E h(real) - E h(fake) ||^2 on the critic's last hidden layer (Salimans,
            # Goodfellow, Zaremba, Cheung, Radford, Chen, "Improved Techniques for Training GANs", NeurIPS
            # 2016, Sec. 3.1; seed 002, "Fight for the gradients").
            target = self.critic.features(self._noisy(real, gen)).mean(0).detach()
            matching = (self.critic.features(noisy_fake).mean(0) - target).pow(2).sum()
            loss = loss + weight * matching
            log["feature_matching"] = matching.detach()
        yield Update("generator", loss=loss, log=log)

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """The critic's gap E D(real) - E D(fake) on a held-out batch (not a likelihood: no early stopping)."""
        with torch.no_grad():
            fake, _ = self._generate(x.shape[0], generator)
            return {"critic_gap": (self.critic(self._encode(x)).mean() - self.critic(fake).mean()).detach()}


class GAN(_Adversarial):
    """Non-saturating GAN with the R1 gradient penalty on real data.

    The critic minimises softplus(-D(x)) + softplus(D(G(z))) + gamma / 2 E||grad D(x)||^2 over real x; the
    generator minimises softplus(-D(G(z))), the non-saturating loss (Goodfellow et al., NeurIPS 2014, Sec. 3).

    References:
        L. Mescheder, A. Geiger, S. Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018
        (R1); seed 001 ("GAN with discriminator gradient penalty").

    Args:
        support: `Vectors(dim)`, `Strings(N, K)`, or n_qubits with n_outcomes.
        n_outcomes: K, when the first argument is n_qubits.
        latent_dim: dimension of the generator's Gaussian noise.
        hidden_size: width of both networks.
        n_layers: hidden layers of both networks.
        r1: gamma, the weight of the R1 penalty (0 turns it off).
        n_critic: critic updates per generator update.
        instance_noise: standard deviation of Gaussian noise added to every critic input (0: none).
        feature_matching: weight of the feature-matching term in the generator loss (0: none).
        tau: Gumbel-softmax temperature of the straight-through gradient (strings).
        critic_input: strings only: what the critic sees of a generated string, "hard" (one-hot draws with the
            straight-through gradient), "relaxed" (Gumbel-softmax samples) or "soft" (the probabilities).

    Example:
        >>> gan = GAN(Vectors(2), hidden_size=16)
        >>> gan.sample(5, generator=0).shape
        torch.Size([5, 2])
    """

    name = "gan"

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        latent_dim: int = 8,
        hidden_size: int = 64,
        n_layers: int = 2,
        r1: float = 1.0,
        n_critic: int = 1,
        instance_noise: float = 0.0,
        feature_matching: float = 0.0,
        tau: float = 1.0,
        critic_input: str = "hard",
    ) -> None:
        super().__init__(
            support,
            n_outcomes,
            latent_dim=latent_dim,
            hidden_size=hidden_size,
            n_layers=n_layers,
            n_critic=n_critic,
            instance_noise=instance_noise,
            feature_matching=feature_matching,
            tau=tau,
            critic_input=critic_input,
        )
        self.hyperparameters["r1"] = check_nonnegative(r1, "r1")

    def _critic_objective(
        self, real: Tensor, fake: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, dict[str, Any]]:
        adversarial = F.softplus(-self.critic(real)).mean() + F.softplus(self.critic(fake)).mean()
        loss, log = adversarial, {"critic_loss": adversarial.detach()}
        if self.hyperparameters["r1"] > 0:
            penalty = r1_penalty(self.critic, real)
            loss = loss + 0.5 * self.hyperparameters["r1"] * penalty
            log["r1"] = penalty.detach()
        return loss, log

    def _generator_objective(self, fake_score: Tensor) -> Tensor:
        return F.softplus(-fake_score).mean()


class WGANGP(_Adversarial):
    """Wasserstein GAN with the per-sample interpolated gradient penalty (WGAN-GP).

    The critic minimises E D(G(z)) - E D(x) + lambda E(||grad D(x_hat)||_2 - 1)^2 at random interpolates
    x_hat between real and generated samples; the generator minimises -E D(G(z)). `n_critic` critic updates
    precede each generator update.

    The default penalty is the one-sided max(0, ||grad D|| - 1)^2 of Petzka et al. (2018), not the paper's
    two-sided one, measured one seed each (`benchmarks/README.md`, n_critic 5, lambda 10): on two moons the
    two-sided penalty collapsed (energy distance 0.43 after 30 epochs at lr 3e-4) where the one-sided one reached
    0.007; on a 1-D two-Gaussian mixture (lr 1e-4) the two-sided generator ran away (mean 28) where the one-sided
    one fitted it; on GHZ N = 6 strings (tetra, 10^4 samples, 20 epochs, F from 10^5 samples) two-sided reached
    0.949 / 0.961 at lr 3e-4 (Adam betas (0.5, 0.9) / (0, 0.9)) and 0.981 at 5e-4, one-sided 0.982 / 0.983 and
    0.985: on strings the learning rate mattered more than the penalty. A plausible reason for the collapse:
    the two-sided penalty asks for slope 1 even between a real and a generated point that coincide, so the
    critic cannot flatten where the distributions already agree; and in 1-D the slopes +1 and -1 it allows are
    separated by the penalised slope 0, so a critic that starts with the wrong sign cannot turn over.

    On strings the critic sees, and the penalty interpolates, the representation `critic_input` names: "hard"
    (default), the one-hot codes of exact draws with the straight-through gradient; "relaxed", the
    Gumbel-softmax samples at temperature `tau`; "soft", the generator's probabilities (the input of Gulrajani
    et al.'s language model). Both alternatives trained worse on GHZ N = 6 (0.74 and 0.55 after 20 epochs,
    two-sided penalty) because a critic can tell a relaxed or soft vector from a one-hot code whatever the
    distribution.

    References:
        I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of Wasserstein
        GANs", NeurIPS 2017, Algorithm 1 (lambda = 10, n_critic = 5), Sec. 5 (the language model's softmax
        input); H. Petzka, A. Fischer, D. Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018
        (the one-sided penalty); seed 001.

    Args:
        support: `Vectors(dim)`, `Strings(N, K)`, or n_qubits with n_outcomes.
        n_outcomes: K, when the first argument is n_qubits.
        latent_dim, hidden_size, n_layers, instance_noise, feature_matching, tau: as for `GAN`.
        gp: lambda, the weight of the gradient penalty.
        n_critic: critic updates per generator update.
        penalty: "one-sided" (max(0, ||grad|| - 1)^2, the default) or "two-sided" ((||grad|| - 1)^2, Gulrajani
            et al.).
        critic_input: as for `GAN` (see above).

    Example:
        >>> wgan = WGANGP(3, 4, hidden_size=16)
        >>> wgan.sample(2, generator=0).shape
        torch.Size([2, 3])
    """

    name = "wgan-gp"

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        latent_dim: int = 8,
        hidden_size: int = 64,
        n_layers: int = 2,
        gp: float = 10.0,
        n_critic: int = 5,
        instance_noise: float = 0.0,
        feature_matching: float = 0.0,
        tau: float = 1.0,
        penalty: str = "one-sided",
        critic_input: str = "hard",
    ) -> None:
        super().__init__(
            support,
            n_outcomes,
            latent_dim=latent_dim,
            hidden_size=hidden_size,
            n_layers=n_layers,
            n_critic=n_critic,
            instance_noise=instance_noise,
            feature_matching=feature_matching,
            tau=tau,
            critic_input=critic_input,
        )
        if penalty not in _PENALTIES:
            raise ModelError(f"penalty must be one of {_PENALTIES}, got {penalty!r}")
        self.hyperparameters["gp"] = check_nonnegative(gp, "gp")
        self.hyperparameters["penalty"] = penalty

    def _critic_objective(
        self, real: Tensor, fake: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, dict[str, Any]]:
        gap = self.critic(real).mean() - self.critic(fake).mean()
        eps = torch.rand((real.shape[0], 1), generator=generator, device=generator.device if generator else None)
        one_sided = self.hyperparameters["penalty"] == "one-sided"
        penalty = interpolated_gradient_penalty(self.critic, real, fake, eps.to(real.device, real.dtype), one_sided)
        loss = -gap + self.hyperparameters["gp"] * penalty
        return loss, {"wasserstein": gap.detach(), "gradient_penalty": penalty.detach()}

    def _generator_objective(self, fake_score: Tensor) -> Tensor:
        return -fake_score.mean()

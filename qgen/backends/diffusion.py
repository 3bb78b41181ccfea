"""Diffusion models: DDPM on vectors and masked (absorbing-state) diffusion on strings, each with its ELBO.

Neither sampler's distribution has a tractable likelihood: `log_prob` is a lower bound of the log-probability
of the distribution the sampler draws from (`likelihood = "lower_bound"`), and the model is evaluated through
its samples or through that bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.backends.encodings import normal, one_hot, sample_categorical
from qgen.backends.networks import Standardize, mlp
from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Strings, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["Diffusion"]

_LOG_2PI = math.log(2 * math.pi)
_BOUND_SEED = 0  # log_prob's draws: a fixed seed makes it a deterministic function of the batch
_CHUNK = 8192
# Up to this many sites, log_prob on strings enumerates all 2^N visible sets instead of sampling one per size.
_EXHAUSTIVE_SITES = 8


class Diffusion(GenerativeModel):
    """A diffusion model: DDPM on `Vectors(dim)`, masked (absorbing-state) diffusion on `Strings(N, K)`.

    **Vectors (DDPM).** The forward chain q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I), t = 1..T,
    has the marginal q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), abar_t = prod_s (1 - beta_s). A network
    eps(x_t, t) predicts the noise; the reverse step is p(x_{t-1} | x_t) = N(mu(x_t, t), sigma_t^2 I) with
    mu = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) and sigma_t^2 the posterior variance
    (beta_1 at t = 1). Training minimises the "simple" loss E||eps - eps(x_t, t)||^2 over uniform t (Ho et al.
    2020, eq. 14); `log_prob` is the ELBO
    log p(x_0) >= E_q[log p(x_0 | x_1) - sum_{t>=2} KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))
    - KL(q(x_T | x_0) || N(0, I))] (Ho et al. 2020, eq. 5), every t summed, one noise draw per t.
    The sampler runs the T reverse steps; its distribution (a T-fold integral) has no closed-form density, so the
    ELBO is a lower bound of it, not its value.

    **Strings (masked diffusion).** The forward process masks each site independently, a site still visible
    at time t in [0, 1] with probability alpha_t = 1 - t; at t = 1 every site is the mask symbol K. A network
    predicts each masked site's symbol from the partly masked string (visible sites are copied). In continuous
    time the ELBO is log p(x) >= E_t [(alpha_t' / (1 - alpha_t)) sum_{masked i} log p(x_i | x_t)] (Sahoo et al.
    2024, eq. 10), which for the linear schedule equals the any-order autoregressive bound
    sum_{m=0}^{N-1} E_{|S| = m} [(1 / (N - m)) sum_{i not in S} log p(x_i | x_S)] over uniformly random
    visible sets S of m sites (Hoogeboom et al. 2022, eq. 4; Ou et al. 2024): training draws one m and one S
    per row, `log_prob` enumerates every S (N <= 8) or sums every m with one random S each. The sampler reveals
    one site at a time in a uniformly random order, drawing it from the network's conditional; its distribution
    is the mixture over orders of autoregressive models, whose log-probability is >= the bound (Jensen's
    inequality) but has no closed form for N! orders.

    References:
        J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020; J. Sohl-Dickstein
        et al., ICML 2015; S. Sahoo et al., "Simple and Effective Masked Diffusion Language Models" (MDLM),
        NeurIPS 2024; E. Hoogeboom et al., "Autoregressive Diffusion Models", ICLR 2022; J. Ou et al., "Your
        Absorbing Discrete Diffusion Secretly Models the Conditional Distributions of Clean Data", 2024;
        seed 004 (Luo, arXiv:2208.11970).

    Args:
        support: `Vectors(dim)`, `Strings(N, K)`, or n_qubits with n_outcomes.
        n_outcomes: K, when the first argument is n_qubits.
        hidden_size: width of the denoising network.
        n_layers: hidden layers of the denoising network.
        n_steps: T, the number of DDPM steps (vectors).
        beta_start, beta_end: the linear DDPM schedule of beta_t (vectors); None scales Ho et al.'s 1e-4 and
            0.02 for T = 1000 by 1000 / T (at most 0.01 and 0.5), so that abar_T stays near zero.

    Example:
        >>> model = Diffusion(3, 4, hidden_size=16)
        >>> model.sample(2, generator=0).shape
        torch.Size([2, 3])
    """

    name = "diffusion"
    likelihood: ClassVar[str] = "lower_bound"
    monitor: ClassVar[str | None] = "loss"
    supports: ClassVar[tuple[str, ...]] = ("strings", "vectors")

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        hidden_size: int = 128,
        n_layers: int = 3,
        n_steps: int = 100,
        beta_start: float | None = None,
        beta_end: float | None = None,
    ) -> None:
        super().__init__(support, n_outcomes)
        n_layers = positive_int(n_layers, "n_layers", minimum=0, error=ModelError)
        n_steps = positive_int(n_steps, "n_steps", minimum=2, error=ModelError)
        self.hyperparameters = {
            "hidden_size": hidden_size,
            "n_layers": n_layers,
            "n_steps": n_steps,
            "beta_start": beta_start,
            "beta_end": beta_end,
        }
        if isinstance(self.support, Strings):
            n, k = self.support.n_sites, self.support.n_symbols
            # Input: one-hot over K symbols plus the mask; output: logits over the K symbols.
            self.denoiser = mlp(n * (k + 1), n * k, hidden_size, n_layers)
            return
        b0 = min(1e-4 * 1000 / n_steps, 0.01) if beta_start is None else beta_start
        b1 = min(0.02 * 1000 / n_steps, 0.5) if beta_end is None else beta_end
        if not (isinstance(b0, (int, float)) and isinstance(b1, (int, float)) and 0 < b0 <= b1 < 1):
            raise ModelError(f"need 0 < beta_start <= beta_end < 1, got beta_start={b0!r}, beta_end={b1!r}")
        betas = torch.linspace(b0, b1, n_steps, dtype=torch.float64)
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        # Posterior variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eq. 7); it vanishes at t = 1, where the
        # decoder p(x_0 | x_1) uses beta_1 instead.
        posterior = betas * (1 - abar_prev) / (1 - abar)
        sigma2 = torch.cat([betas[:1], posterior[1:]])
        # The schedule is a function of the hyperparameters: non-persistent buffers, rebuilt on load.
        for key, value in (("betas", betas), ("abar", abar), ("abar_prev", abar_prev), ("sigma2", sigma2)):
            self.register_buffer(key, value.float(), persistent=False)
        self.standardize = Standardize(self.support.dim)
        self.time_embedding = 16
        self.denoiser = mlp(self.support.dim + self.time_embedding, self.support.dim, hidden_size, n_layers)

    # ---- DDPM (vectors) ------------------------------------------------------------------------------------

    def _embed(self, t: Tensor) -> Tensor:
        """Sinusoidal embedding of integer steps t (1..T) (Vaswani et al. 2017; Ho et al. 2020, Appendix B)."""
        half = self.time_embedding // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=self.dtype) / half)
        angle = t.to(self.dtype).unsqueeze(-1) * freqs
        return torch.cat([angle.sin(), angle.cos()], dim=-1)

    def predict_noise(self, xt: Tensor, t: Tensor) -> Tensor:
        """eps(x_t, t): the network's estimate of the noise in standardized x_t (n, dim) at steps t (n,) in 1..T."""
        return self.denoiser(torch.cat([xt, self._embed(t)], dim=-1))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise, a draw of q(x_t | x_0) (Ho et al. 2020, eq. 4)."""
        abar = self.abar[t - 1].unsqueeze(-1)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def forward_step(self, x: Tensor, t: int, noise: Tensor) -> Tensor:
        """One step of the forward chain: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) noise."""
        beta = self.betas[t - 1]
        return (1 - beta).sqrt() * x + beta.sqrt() * noise

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (n, dim) and variance (n, 1) of q(x_{t-1} | x_t, x_0) for t >= 2 (Ho et al. 2020, eqs. 6-7)."""
        beta, abar, abar_prev = (v[t - 1].unsqueeze(-1) for v in (self.betas, self.abar, self.abar_prev))
        mean = (abar_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - abar_prev) * xt) / (1 - abar)
        return mean, beta * (1 - abar_prev) / (1 - abar)

    def _reverse_mean(self, xt: Tensor, t: Tensor) -> Tensor:
        """mu(x_t, t) = (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) / sqrt(1 - beta_t) (Ho et al. eq. 11)."""
        beta, abar = self.betas[t - 1].unsqueeze(-1), self.abar[t - 1].unsqueeze(-1)
        return (xt - beta / (1 - abar).sqrt() * self.predict_noise(xt, t)) / (1 - beta).sqrt()

    def _ddpm_elbo(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        x0 = self.standardize(x)
        n, dim = x0.shape
        total = torch.zeros(n, dtype=self.dtype, device=x0.device)
        for step in range(1, self.hyperparameters["n_steps"] + 1):
            t = torch.full((n,), step, device=x0.device, dtype=torch.long)
            xt = self.q_sample(x0, t, normal((n, dim), generator, x0.device, self.dtype))
            var = self.sigma2[step - 1]
            mu = self._reverse_mean(xt, t)
            if step == 1:  # the decoder term log p(x_0 | x_1), a Gaussian density of the data
                total += -0.5 * (_LOG_2PI + var.log() + (x0 - mu).pow(2) / var).sum(-1)
            else:  # - KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)): both variances are sigma_t^2
                mean_q, _ = self.posterior(x0, xt, t)
                total -= 0.5 * (mean_q - mu).pow(2).sum(-1) / var
        abar_t = self.abar[-1]
        # - KL(N(sqrt(abar_T) x_0, (1 - abar_T) I) || N(0, I)), in closed form.
        prior = 0.5 * (abar_t * x0.pow(2) + (1 - abar_t) - 1 - torch.log(1 - abar_t)).sum(-1)
        return total - prior + self.standardize.log_det()

    # ---- masked diffusion (strings) ------------------------------------------------------------------------

    def mask(self, x: Tensor, t: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A draw of the forward process at time t: each site replaced by the mask symbol K with probability t.

        Args:
            x: (n, N) int64 strings.
            t: time in [0, 1], a number or (n,) per row.

        Returns:
            (n, N) int64 in [0, K]; K marks a masked site.
        """
        strings = self._strings()
        t = torch.as_tensor(t, dtype=torch.float64, device=x.device)
        if bool(((t < 0) | (t > 1)).any()):
            raise ModelError(f"diffusion time t must lie in [0, 1], got {t}")
        u = torch.rand(
            x.shape, generator=generator, dtype=torch.float64, device=generator.device if generator else None
        )
        hidden = u.to(x.device) < (t.unsqueeze(-1) if t.ndim else t)
        return torch.where(hidden, torch.full_like(x, strings.n_symbols), x)

    def conditional_log_probs(self, masked: Tensor) -> Tensor:
        """log p(x_i = a | visible sites) for every site i and symbol a: (n, N, K), from (n, N) masked strings."""
        strings = self._strings()
        code = one_hot(masked, strings.n_symbols + 1, self.dtype, flatten=True)
        logits = self.denoiser(code).view(-1, strings.n_sites, strings.n_symbols)
        return F.log_softmax(logits, dim=-1)

    def _random_visible(self, n: int, m: Tensor, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """(n, N) bool: for row r, a uniformly random set of m[r] visible sites (the m smallest random keys)."""
        keys = torch.rand((n, self.n_qubits), generator=generator, device=generator.device if generator else None)
        rank = keys.to(device).argsort(-1).argsort(-1)
        return rank < m.unsqueeze(-1)

    def _masked_terms(self, x: Tensor, m: Tensor, generator: torch.Generator | None) -> Tensor:
        """(1 / (N - m)) sum_{i not in S} log p(x_i | x_S) for one random visible set S of size m per row; (n,)."""
        visible = self._random_visible(x.shape[0], m, generator, x.device)
        masked = torch.where(visible, x, torch.full_like(x, self.n_outcomes))
        logp = self.conditional_log_probs(masked).gather(-1, x.unsqueeze(-1)).squeeze(-1)
        return torch.where(visible, torch.zeros_like(logp), logp).sum(-1) / (self.n_qubits - m).to(self.dtype)

    def _masked_elbo(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        total = torch.zeros(x.shape[0], dtype=self.dtype, device=x.device)
        for m in range(self.n_qubits):
            total += self._masked_terms(x, torch.full((x.shape[0],), m, device=x.device), generator)
        return total

    def exhaustive_elbo(self, x: Tensor) -> Tensor:
        """Strings: the masked-diffusion ELBO with every visible set of every size enumerated (no sampling).

        Costs 2^N network passes per row, so it is for small N (exact evaluation, tests, benchmarks); its exp
        sums to at most 1 over all strings, which the one-set-per-size estimate of `log_prob` only does on average.

        Returns:
            (n,) tensor in the model's dtype.
        """
        x = self.check_outcomes(x)
        n_sites = self.n_qubits
        if n_sites > 16:
            raise ModelError(f"exhaustive_elbo enumerates 2^N visible sets; N = {n_sites} is too many (at most 16)")
        total = torch.zeros(x.shape[0], dtype=self.dtype, device=x.device)
        bits = torch.arange(n_sites, device=x.device)
        for code in range(2**n_sites - 1):  # every visible set except all sites
            visible = (code >> bits) & 1 == 1
            m = int(visible.sum())
            masked = torch.where(visible, x, torch.full_like(x, self.n_outcomes))
            logp = self.conditional_log_probs(masked).gather(-1, x.unsqueeze(-1)).squeeze(-1)
            total += logp[:, ~visible].sum(-1) / ((n_sites - m) * math.comb(n_sites, m))
        return total

    # ---- the distribution ----------------------------------------------------------------------------------

    def log_prob(self, x: Tensor) -> Tensor:
        """The ELBO per row, a lower bound of the log-probability of the sampler's distribution.

        Vectors: every DDPM step, one noise draw each. Strings: up to 8 sites, every visible set enumerated
        (`exhaustive_elbo`: an exact lower bound, whose exp sums to at most 1); beyond, every number of visible
        sites with one random visible set each (unbiased for the ELBO). The draws come from a generator of fixed
        seed (a deterministic function of the batch).

        Returns:
            (n,) tensor in the model's dtype.
        """
        x = self.check_outcomes(x)
        if isinstance(self.support, Strings) and self.n_qubits <= _EXHAUSTIVE_SITES:
            return self.exhaustive_elbo(x)
        gen = torch.Generator(device=self.device).manual_seed(_BOUND_SEED)
        elbo = self._masked_elbo if isinstance(self.support, Strings) else self._ddpm_elbo
        parts = [elbo(chunk, gen) for chunk in x.split(_CHUNK)]
        return torch.cat(parts) if parts else torch.empty(0, dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Run the reverse process: T DDPM steps from N(0, I) (vectors), or N reveals in random order (strings).

        Returns:
            strings: (n, N) int64 in [0, K); vectors: (n, dim) in the model's dtype.
        """
        n = positive_int(n, "number of samples", minimum=0, error=ModelError)
        gen = as_generator(generator)
        with self.evaluating():
            if isinstance(self.support, Strings):
                return self._sample_strings(n, gen)
            return self._sample_vectors(n, gen)

    def _sample_vectors(self, n: int, gen: torch.Generator | None) -> Tensor:
        x = normal((n, self.support.dim), gen, self.device, self.dtype)
        for step in range(self.hyperparameters["n_steps"], 0, -1):
            t = torch.full((n,), step, device=self.device, dtype=torch.long)
            # Noise at t = 1 too (Ho et al.'s Algorithm 2 stops at the mean): the sampler then draws from the
            # decoder p(x_0 | x_1) whose density the ELBO bounds.
            noise = normal((n, self.support.dim), gen, self.device, self.dtype)
            x = self._reverse_mean(x, t) + self.sigma2[step - 1].sqrt() * noise
        return self.standardize.inverse(x)

    def _sample_strings(self, n: int, gen: torch.Generator | None) -> Tensor:
        n_sites = self.n_qubits
        order = torch.rand((n, n_sites), generator=gen, device=gen.device if gen else None).to(self.device)
        order = order.argsort(-1)
        x = torch.full((n, n_sites), self.n_outcomes, dtype=torch.long, device=self.device)
        rows = torch.arange(n, device=self.device)
        for k in range(n_sites):
            site = order[:, k]
            logp = self.conditional_log_probs(x)[rows, site]
            x[rows, site] = sample_categorical(logp, gen)
        return x

    # ---- training ------------------------------------------------------------------------------------------

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """Vectors: fit the standardization to the training data."""
        if isinstance(self.support, Vectors):
            self.standardize.fit(train.to(self.dtype))

    def _loss(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Per-row training loss: the noise-prediction error (vectors) or an unbiased -ELBO draw (strings)."""
        n = x.shape[0]
        if isinstance(self.support, Strings):
            # One number m of visible sites per row, uniform in 0..N-1; N times its term is unbiased for the ELBO.
            dev = generator.device if generator else None
            m = torch.randint(self.n_qubits, (n,), generator=generator, device=dev).to(x.device)
            return -self.n_qubits * self._masked_terms(x, m, generator)
        x0 = self.standardize(x)
        dev = generator.device if generator else None
        t = torch.randint(1, self.hyperparameters["n_steps"] + 1, (n,), generator=generator, device=dev).to(x.device)
        noise = normal(tuple(x0.shape), generator, x0.device, self.dtype)
        return (self.predict_noise(self.q_sample(x0, t, noise), t) - noise).pow(2).sum(-1)

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        """One update of the denoiser (strings: on the -ELBO; vectors: on the simple noise-prediction loss)."""
        loss = self._loss(x, step.generator).mean()
        yield Update("model", loss=loss, log={"loss": loss.detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """ "loss": the training loss on a held-out batch (one draw per row)."""
        with torch.no_grad():
            return {"loss": self._loss(x, generator).mean()}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """One group, "model": the denoising network."""
        return {"model": list(self.parameters())}

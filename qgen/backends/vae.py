"""Variational autoencoder: Gaussian encoder, categorical decoder, ELBO and IWAE bounds, conditional VAE."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.backends.encodings import normal, one_hot, sample_categorical
from qgen.backends.networks import Standardize, check_nonnegative, mlp
from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Strings, Support, Update, Vectors
from qgen.models.conditional import ConditionTable
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
# On strings the ELBO-trained VAE stops short of the target (GHZ N = 6, tetra, 10^4 samples: classical fidelity
# 0.978 from its samples, 0.959 by its bound); trained on the importance-weighted bound with 8 draws it reaches
# 0.995 (benchmarks/README.md, "Generic backends on GHZ N = 6"). The ELBO's gap is KL(q(z | x) || p(z | x)),
# so ELBO training favours decoders whose posteriors a diagonal Gaussian fits; the k-draw bound's gap shrinks
# with k, which frees the decoder (Burda et al. 2016, Sec. 3; Cremer, Li, Duvenaud, "Inference Suboptimality in
# Variational Autoencoders", ICML 2018).
_STRING_DEFAULTS = {"bound": "iwae", "objective": "iwae", "train_samples": 8}
_VECTOR_DEFAULTS = {"bound": "elbo", "objective": "elbo", "train_samples": 1}


def _gaussian_log_density(x: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log N(x; mean, diag(exp(log_var))), summed over the last axis."""
    return -0.5 * (_LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(-1)


class VAE(ConditionTable, GenerativeModel):
    """A variational autoencoder: p(x) = integral N(z; 0, I) p(x | z) dz, trained on the ELBO or the IWAE bound.

    The encoder is q(z | x) = N(mu(x), diag sigma^2(x)); the decoder p(x | z) is a diagonal Gaussian on vectors
    and a product of per-site categoricals on strings (sites are independent given z; z correlates them).
    `log_prob` is a lower bound of log p(x) (`likelihood = "lower_bound"`): the ELBO
    E_q[log p(x | z)] - KL(q(z | x) || N(0, I)), or the importance-weighted bound
    E[log (1/k) sum_j p(x, z_j) / q(z_j | x)], which is tighter and tends to log p(x) as k grows. Both are
    Monte-Carlo estimates with `bound_samples` latent draws per row.

    References:
        D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (eq. 10, Appendix B: the
        Gaussian KL); I. Higgins et al., "beta-VAE", ICLR 2017; Y. Burda, R. Grosse, R. Salakhutdinov,
        "Importance Weighted Autoencoders", ICLR 2016 (eq. 8, Theorem 1); K. Sohn, H. Lee, X. Yan, "Learning
        Structured Output Representation using Deep Conditional Generative Models", NeurIPS 2015 (eq. 4: the
        conditional VAE); seeds 001, 002, 004.

    Conditional VAE (strings only, `n_conditions` = C >= 1): p(x | c) = integral N(z; 0, I) p(x | z, c) dz with
    encoder q(z | x, c); the C condition values are appended to the encoder's input (after the one-hot string)
    and to the decoder's (after z), and the bound is that of log p(x | c). The prior stays N(0, I) (Sohn et
    al.'s simplest variant: c enters through the decoder). Conditions travel as in the conditional
    autoregressive models (qgen.models.conditional): training rows are the N outcomes then the index of the
    row's condition in the model's `condition_table`, `model.condition_rows(outcomes, conditions)` or
    `Trainer(model).fit(data_set_with_conditions)` builds them, `log_prob` and `sample` take `conditions=`, and
    `model.at(h=0.9)` is a plain model of strings at one condition that every metric takes.

    Args:
        support: `Vectors(dim)`, `Strings(N, K)`, or n_qubits with n_outcomes.
        n_outcomes: K, when the first argument is n_qubits.
        latent_dim: dimension of z.
        hidden_size: width of encoder and decoder.
        n_layers: hidden layers of encoder and decoder (0: linear maps).
        beta: weight of the KL term in the training loss (1: the ELBO; the reported bound always uses 1).
        bound: what `log_prob` returns: "elbo" or "iwae" (default: "iwae" on strings, "elbo" on vectors).
        bound_samples: latent samples per row in `log_prob` (k of the importance-weighted bound).
        objective: what training maximises: "elbo" (with beta) or "iwae" (the importance-weighted bound with
            `train_samples` draws, which fits the marginal p(x) rather than the ELBO's compromise with q).
            Default: "iwae" on strings, "elbo" on vectors.
        train_samples: latent draws per row in each training step (k of the training objective); default 8 on
            strings, 1 on vectors.
        n_conditions: C, the length of a condition vector (0: not conditional); strings only.
        condition_names: the C names (default c0, c1, ...).
        condition_table: the (T, C) table of known conditions (saved models restore theirs from `config`).

    Example:
        >>> vae = VAE(3, 2, latent_dim=1, hidden_size=8)
        >>> vae.log_prob(torch.tensor([[0, 1, 1]])).shape
        torch.Size([1])
        >>> cvae = VAE(3, 2, latent_dim=1, hidden_size=8, n_conditions=1, condition_names=["h"])
        >>> rows = cvae.condition_rows(torch.tensor([[0, 1, 1], [1, 1, 1]]), torch.tensor([[0.5], [1.5]]))
        >>> rows.tolist(), cvae.at(h=1.0).sample(2, generator=0).shape
        ([[0, 1, 1, 0], [1, 1, 1, 1]], torch.Size([2, 3]))
    """

    name = "vae"
    likelihood: ClassVar[str] = "lower_bound"
    monitor: ClassVar[str | None] = "loss"
    supports: ClassVar[tuple[str, ...]] = ("strings", "vectors")
    #: C, the length of the condition vector (0: not conditional)
    n_conditions: int = 0
    condition_names: tuple[str, ...] = ()

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        latent_dim: int = 4,
        hidden_size: int = 64,
        n_layers: int = 2,
        beta: float = 1.0,
        bound: str | None = None,
        bound_samples: int = 16,
        objective: str | None = None,
        train_samples: int | None = None,
        n_conditions: int = 0,
        condition_names: Sequence[str] | None = None,
        condition_table: Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__(support, n_outcomes)
        if n_conditions or condition_names is not None or condition_table is not None:
            if not isinstance(self.support, Strings):
                raise ModelError(
                    f"a conditional VAE models outcome strings: n_conditions needs strings, got {self.support}"
                )
            from qgen.models.conditional import enable_conditions

            enable_conditions(self, n_conditions, condition_names, condition_table)
        # Strings default to the importance-weighted objective and bound (see _STRING_DEFAULTS), vectors to the ELBO.
        defaults = _STRING_DEFAULTS if isinstance(self.support, Strings) else _VECTOR_DEFAULTS
        bound = defaults["bound"] if bound is None else bound
        objective = defaults["objective"] if objective is None else objective
        train_samples = defaults["train_samples"] if train_samples is None else train_samples
        latent_dim = positive_int(latent_dim, "latent_dim", error=ModelError)
        n_layers = positive_int(n_layers, "n_layers", minimum=0, error=ModelError)
        bound_samples = positive_int(bound_samples, "bound_samples", error=ModelError)
        if bound not in _BOUNDS:
            raise ModelError(f"bound must be one of {_BOUNDS}, got {bound!r}")
        if objective not in _BOUNDS:
            raise ModelError(f"objective must be one of {_BOUNDS}, got {objective!r}")
        train_samples = positive_int(train_samples, "train_samples", error=ModelError)
        self.hyperparameters = {
            "latent_dim": latent_dim,
            "hidden_size": hidden_size,
            "n_layers": n_layers,
            "beta": check_nonnegative(beta, "beta"),
            "bound": bound,
            "bound_samples": bound_samples,
            "objective": objective,
            "train_samples": train_samples,
        }
        if isinstance(self.support, Strings):
            width, out = self.support.n_sites * self.support.n_symbols, self.support.n_sites * self.support.n_symbols
        else:
            width, out = self.support.dim, 2 * self.support.dim
            self.standardize = Standardize(width)
        # The conditions are C more inputs of both networks; C = 0 leaves the unconditional model unchanged.
        self.encoder = mlp(width + self.n_conditions, 2 * latent_dim, hidden_size, n_layers)
        self.decoder = mlp(latent_dim + self.n_conditions, out, hidden_size, n_layers)

    # ---- conditions (see qgen.models.conditional) ----------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """As GenerativeModel.config; a conditional VAE adds n_conditions, condition_names and its table."""
        config = super().config
        if self.n_conditions:
            config.update(
                n_conditions=self.n_conditions,
                condition_names=list(self.condition_names),
                condition_table=self.condition_table.tolist(),
            )
        return config

    def at(self, condition: Any = None, **named: float) -> GenerativeModel:
        """The conditional VAE at one condition (`model.at(h=0.93)`): a model of strings sharing the weights."""
        from qgen.backends.vae_condition import VAEAtCondition

        return VAEAtCondition(self, condition, **named)

    def _split(self, x: Tensor, conditions: Any) -> tuple[Tensor, Tensor | None]:
        """A checked batch as (strings, per-row conditions (n, C) or None).

        A conditional model takes (n, N + 1) rows without `conditions`, or (n, N) strings with them.
        """
        if not self.n_conditions:
            if conditions is not None:
                raise ModelError("this VAE takes no conditions (built with n_conditions=0)")
            return self.check_outcomes(x), None
        from qgen.models.conditional import per_row_conditions

        if conditions is None:
            rows = self.check_outcomes(x)
            return rows[:, :-1], self.condition_table[rows[:, -1]]
        strings = Strings(self.n_qubits, self.n_outcomes).check(x, self.device)
        return strings, per_row_conditions(self, strings.shape[0], conditions)

    def _with_conditions(self, inputs: Tensor, conditions: Tensor | None) -> Tensor:
        """The network input with the conditions appended on the last axis (broadcast over leading axes)."""
        if conditions is None:
            return inputs
        c = conditions.to(device=inputs.device, dtype=inputs.dtype).expand(*inputs.shape[:-1], -1)
        return torch.cat([inputs, c], dim=-1)

    # ---- encoder and decoder -------------------------------------------------------------------------------

    def _code(self, x: Tensor) -> Tensor:
        """The data as the networks see them: one-hot codes (n, N K), or standardized vectors (n, dim)."""
        if isinstance(self.support, Strings):
            return one_hot(x, self.support.n_symbols, self.dtype, flatten=True)
        return self.standardize(x)

    def encode(self, x: Tensor, conditions: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z | x) (q(z | x, c) with (n, C) conditions): mean and log-variance (n, latent_dim) of a validated batch."""
        mean, log_var = self.encoder(self._with_conditions(self._code(x), conditions)).chunk(2, dim=-1)
        return mean, log_var

    def decoder_log_prob(self, x: Tensor, z: Tensor, conditions: Tensor | None = None) -> Tensor:
        """log p(x | z) (or log p(x | z, c)) for x (n, ...) validated and z (..., n, latent_dim); returns (..., n).

        Vectors: the density of x itself (the standardization's Jacobian included). Conditional models take
        the (n, C) conditions of the rows.
        """
        out = self.decoder(self._with_conditions(z, conditions))
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

    def _bound_terms(
        self, x: Tensor, k: int, generator: torch.Generator | None, conditions: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """For k reparametrised draws z_j ~ q(z | x): log p(x | z_j), log p(z_j) - log q(z_j | x) (k, n), KL (n).

        x is a validated batch of the data (strings, not rows); conditions (n, C) or None.
        """
        mean, log_var = self.encode(x, conditions)
        eps = normal((k, *mean.shape), generator, mean.device, mean.dtype)
        z = mean + (0.5 * log_var).exp() * eps
        log_lik = self.decoder_log_prob(x, z, conditions)
        # log N(z; 0, I) - log N(z; mean, sigma^2), with (z - mean) / sigma = eps.
        log_ratio = 0.5 * (log_var + eps.pow(2) - z.pow(2)).sum(-1)
        # KL(N(mean, sigma^2) || N(0, I)) in closed form (Kingma and Welling 2014, Appendix B).
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
        return log_lik, log_ratio, kl

    def elbo(
        self, x: Tensor, k: int = 1, generator: torch.Generator | int | None = None, conditions: Any = None
    ) -> Tensor:
        """The ELBO E_q[log p(x | z)] - KL(q || p), its expectation estimated with k draws per row; (n,).

        Conditional models: x are (n, N + 1) rows, or (n, N) strings with `conditions` ((n, C) or one (C,)).
        """
        x, c = self._split(x, conditions)
        log_lik, _, kl = self._bound_terms(x, positive_int(k, "k", error=ModelError), as_generator(generator), c)
        return log_lik.mean(0) - kl

    def iw_bound(
        self, x: Tensor, k: int, generator: torch.Generator | int | None = None, conditions: Any = None
    ) -> Tensor:
        """The importance-weighted bound log (1/k) sum_j p(x, z_j) / q(z_j | x), one draw of it per row; (n,).

        Its expectation increases with k and tends to log p(x) (Burda et al. 2016, Theorem 1). Conditions as
        in `elbo`.
        """
        x, c = self._split(x, conditions)
        k = positive_int(k, "k", error=ModelError)
        log_lik, log_ratio, _ = self._bound_terms(x, k, as_generator(generator), c)
        return torch.logsumexp(log_lik + log_ratio, dim=0) - math.log(k)

    def log_prob(self, x: Tensor, conditions: Any = None) -> Tensor:
        """A lower bound of log p(x) (log p(x | c)) per row: the `bound` ("elbo" or "iwae"), `bound_samples` draws.

        The draws come from a generator of fixed seed, so the same batch gives the same numbers every call.

        Args:
            x: (n, N) integers in [0, K), or (n, dim) reals; for a conditional model without `conditions`,
                (n, N + 1) training rows (outcomes, then the condition's index in the model's table).
            conditions: conditional models only: (n, C) per-row conditions or one (C,) vector for all rows.

        Returns:
            (n,) tensor in the model's dtype.
        """
        x, c = self._split(x, conditions)
        gen = torch.Generator(device=self.device).manual_seed(_BOUND_SEED)
        k = self.hyperparameters["bound_samples"]
        bound = self.elbo if self.hyperparameters["bound"] == "elbo" else self.iw_bound
        if c is None:
            parts = [bound(chunk, k, gen) for chunk in x.split(_CHUNK)]
        else:
            parts = [bound(xs, k, gen, cs) for xs, cs in zip(x.split(_CHUNK), c.split(_CHUNK))]
        return torch.cat(parts) if parts else torch.empty(0, dtype=self.dtype, device=self.device)

    # ---- sampling ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | int | None = None, conditions: Any = None) -> Tensor:
        """Ancestral sampling: z ~ N(0, I), then x ~ p(x | z) (p(x | z, c)). Exact draws of the model's p(x).

        Args:
            n: number of samples.
            generator: torch.Generator or integer seed.
            conditions: conditional models only (and required there): one (C,) condition for every string,
                or (n, C), one per string.

        Returns:
            strings: (n, N) int64 in [0, K); vectors: (n, dim) in the model's dtype.
        """
        n = positive_int(n, "number of samples", minimum=0, error=ModelError)
        c = None
        if conditions is not None or self.n_conditions:
            from qgen.models.conditional import per_row_conditions

            if conditions is None:
                raise ModelError(
                    f"this VAE is conditional on {list(self.condition_names)}: give conditions, or take the model at "
                    "one condition with model.at(...)"
                )
            c = per_row_conditions(self, n, conditions)
        gen = as_generator(generator)
        z = normal((n, self.hyperparameters["latent_dim"]), gen, self.device, self.dtype)
        out = self.decoder(self._with_conditions(z, c))
        if isinstance(self.support, Strings):
            logits = out.view(n, self.support.n_sites, self.support.n_symbols)
            return sample_categorical(logits, gen)
        mean, log_var = out.chunk(2, dim=-1)
        std = (0.5 * log_var.clamp(*_LOG_VAR_RANGE)).exp()
        return self.standardize.inverse(mean + std * normal(tuple(mean.shape), gen, self.device, self.dtype))

    # ---- training ------------------------------------------------------------------------------------------

    def _rows(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """A validated training batch as (data, conditions): a conditional model's rows end in a table index."""
        if not self.n_conditions:
            return x, None
        return x[:, :-1], self.condition_table[x[:, -1]]

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """Vectors: fit the standardization to the training data."""
        if isinstance(self.support, Vectors):
            self.standardize.fit(train.to(self.dtype))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        """One update of encoder and decoder together on the `objective` with `train_samples` draws per row."""
        yield self.bound_update(*self._rows(x), step.generator)

    def bound_update(self, x: Tensor, conditions: Tensor | None, generator: torch.Generator) -> Update:
        """The Update of one batch of data x (not rows) with its (n, C) conditions or None.

        "elbo": -(mean_j log p(x | z_j) - beta KL) over k = `train_samples` draws; "iwae": -log (1/k) sum_j
        p(x, z_j) / q(z_j | x), the importance-weighted bound, whose gradient weights each draw by its normalised
        importance weight (Burda et al. 2016, eq. 14); beta does not enter it. Logged: "loss" (the negative
        bound trained on, beta = 1) and "kl".
        """
        k = self.hyperparameters["train_samples"]
        log_lik, log_ratio, kl = self._bound_terms(x, k, generator, conditions)
        if self.hyperparameters["objective"] == "iwae":
            nll = -(torch.logsumexp(log_lik + log_ratio, dim=0) - math.log(k)).mean()
            return Update("model", loss=nll, log={"loss": nll.detach(), "kl": kl.mean().detach()})
        reconstruction = log_lik.mean(0)
        loss = -(reconstruction - self.hyperparameters["beta"] * kl).mean()
        log = {"loss": -(reconstruction - kl).mean().detach(), "kl": kl.mean().detach()}
        return Update("model", loss=loss, log=log)

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """ "loss": the negative training bound (beta = 1) of a held-out batch; "kl": the KL term."""
        with torch.no_grad():
            return dict(self.bound_update(*self._rows(x), generator).log)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """One group, "model": encoder and decoder are trained together on the same bound."""
        return {"model": list(self.parameters())}

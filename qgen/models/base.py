"""The GenerativeModel interface every model implements, and the shared autoregressive machinery."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.seeding import as_generator

__all__ = ["GenerativeModel", "AutoregressiveModel", "as_generator"]

# Sampling draws its uniforms for all samples up front, then runs the network over chunks of this many
# samples, so memory stays bounded (a transformer's key/value cache grows as n * N) and the bits do not
# depend on the chunking.
_SAMPLE_CHUNK = 16384


class GenerativeModel(nn.Module, metaclass=ABCMeta):
    """A probability distribution over strings of N symbols out of K, learnt from samples.

    Models know no physics: an outcome string is a row of N integers in [0, K). Subclasses set `name` (the
    key `qgen.models.build` knows them by) and `likelihood`, and store their hyperparameters in
    `self.hyperparameters` so `config` rebuilds them.

    Attributes:
        likelihood: what `log_prob` returns: "exact" (normalised log-probability), "lower_bound" (e.g. an
            ELBO), "unnormalized" (up to a constant, e.g. an RBM's free energy) or "none".
        n_qubits: N, the length of a string.
        n_outcomes: K, the number of symbols per site.
        history: the training history (learning curves) a Trainer attached; saved with the model.
    """

    name: ClassVar[str] = ""
    likelihood: ClassVar[Literal["exact", "lower_bound", "unnormalized", "none"]] = "none"

    def __init__(self, n_qubits: int, n_outcomes: int) -> None:
        super().__init__()
        for label, value, low in (("n_qubits", n_qubits, 1), ("n_outcomes", n_outcomes, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ModelError(f"{label} must be an integer >= {low}, got {value!r}")
        self.n_qubits = n_qubits
        self.n_outcomes = n_outcomes
        self.hyperparameters: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {}
        # What the training data were (POVM as applied and ideal, state spec, noise), set by whoever trains
        # on a data set and saved with the model, so its samples can be written as a data set of their own.
        self.measurement: dict[str, Any] = {}

    @property
    def config(self) -> dict[str, Any]:
        """Everything `qgen.models.build(**config)` needs to rebuild this model (weights aside)."""
        return {"name": self.name, "n_qubits": self.n_qubits, "n_outcomes": self.n_outcomes, **self.hyperparameters}

    @property
    def device(self) -> torch.device:
        """The device the model's parameters live on."""
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the model's parameters (float32 unless `.double()` was called)."""
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    def check_outcomes(self, x: Any) -> Tensor:
        """Validate a batch of outcome strings and return it as an int64 tensor on the model's device.

        Args:
            x: (n, N) integer tensor or array with values in [0, K); uint8 and int64 are both accepted.

        Returns:
            (n, N) int64 tensor on `self.device`.

        Raises:
            ModelError: wrong type, dtype, shape or a value outside [0, K).
        """
        if not isinstance(x, Tensor):
            try:
                x = torch.as_tensor(x)
            except (TypeError, ValueError, RuntimeError) as err:
                raise ModelError(f"outcomes must be an integer tensor of shape (n, N), got {type(x).__name__}") from err
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise ModelError(f"outcomes must have an integer dtype, got {x.dtype}")
        if x.dim() != 2 or x.shape[1] != self.n_qubits:
            raise ModelError(f"outcomes must have shape (n, {self.n_qubits}) for this model, got {tuple(x.shape)}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.n_outcomes):
            raise ModelError(
                f"outcomes must lie in [0, {self.n_outcomes}), found values in [{int(x.min())}, {int(x.max())}]"
            )
        return x.to(device=self.device, dtype=torch.long)

    @abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """log P(x) per string; what it means is `likelihood`.

        Args:
            x: (n, N) integer tensor with values in [0, K).

        Returns:
            (n,) tensor in the model's dtype.
        """

    @abstractmethod
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Draw n strings from the model.

        Args:
            n: number of strings.
            generator: torch.Generator or integer seed; None uses the global torch RNG.

        Returns:
            (n, N) int64 tensor with values in [0, K), on the model's device.
        """

    def loss(self, x: Tensor) -> Tensor:
        """The training objective on a batch: the mean negative log-likelihood.

        Args:
            x: (n, N) integer tensor with values in [0, K).

        Returns:
            scalar tensor.
        """
        return -self.log_prob(x).mean()

    def forward(self, x: Tensor) -> Tensor:
        """The training objective, so DistributedDataParallel and torch.compile wrap `loss`."""
        return self.loss(x)


class AutoregressiveModel(GenerativeModel):
    """P(a) = prod_i P(a_i | a_<i), with each conditional a softmax over K symbols.

    Subclasses implement `conditional_logits` (all sites at once, for training) and may override
    `begin`/`step` with a cache for O(N) sampling; the default step recomputes the prefix.

    The input at site i is the symbol at site i-1, with a start token (index K) at site 0.
    """

    likelihood: ClassVar[Literal["exact", "lower_bound", "unnormalized", "none"]] = "exact"

    @property
    def start_token(self) -> int:
        """The index of the start symbol fed at site 0 (one past the last outcome)."""
        return self.n_outcomes

    def shifted(self, x: Tensor) -> Tensor:
        """Inputs for teacher forcing: (n, N) outcomes -> (n, N) with the start token prepended, last dropped."""
        start = torch.full((x.shape[0], 1), self.start_token, dtype=torch.long, device=x.device)
        return torch.cat([start, x[:, :-1]], dim=1)

    @abstractmethod
    def conditional_logits(self, inputs: Tensor) -> Tensor:
        """Unnormalised log P(a_i | a_<i) for every site of a prefix.

        Args:
            inputs: (n, L) int64, L <= N, the shifted strings (start token, a_0, ..., a_{L-2}).

        Returns:
            (n, L, K) logits; entry [:, i] may depend on inputs[:, : i + 1] only.
        """

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log P(x), a sum of N log-softmax conditionals.

        Args:
            x: (n, N) integer tensor with values in [0, K).

        Returns:
            (n,) tensor in the model's dtype.
        """
        return self._log_prob(self.check_outcomes(x))

    def _log_prob(self, x: Tensor) -> Tensor:
        """log_prob without validation: x is (n, N) int64 on the model's device, values in [0, K)."""
        logp = F.log_softmax(self.conditional_logits(self.shifted(x)), dim=-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        """The mean NLL of a batch the Trainer has already validated.

        Skipping the range check here keeps `torch.compile` graphs whole and avoids a host sync per batch on
        CUDA (the check reads min and max back to the host).
        """
        return -self._log_prob(x.long()).mean()

    def begin(self, n: int) -> Any:
        """The sampling state before site 0, for n strings (default: the inputs fed so far)."""
        return torch.empty(n, 0, dtype=torch.long, device=self.device)

    def step(self, token: Tensor, state: Any, site: int) -> tuple[Tensor, Any]:
        """Logits of site `site` given the previous symbol and the state; the default recomputes the prefix.

        Args:
            token: (n,) int64, the symbol at site-1 (the start token at site 0).
            state: what `begin` or the previous `step` returned.
            site: the site whose conditional is wanted.

        Returns:
            (n, K) logits and the new state.
        """
        inputs = torch.cat([state, token.unsqueeze(1)], dim=1)
        return self.conditional_logits(inputs)[:, -1], inputs

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Ancestral sampling, vectorised over samples, one network step per site.

        Each site's symbol is drawn by inverting the conditional CDF at a uniform from `generator`, so the
        same seed gives the same strings on any device and for any chunking.

        Args:
            n: number of strings.
            generator: torch.Generator (any device) or integer seed; None uses the global torch RNG.

        Returns:
            (n, N) int64 tensor with values in [0, K), on the model's device.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ModelError(f"number of samples must be a non-negative integer, got {n!r}")
        gen = as_generator(generator)
        rand_device = gen.device if gen is not None else torch.device("cpu")
        uniforms = torch.rand(n, self.n_qubits, generator=gen, dtype=torch.float64, device=rand_device)
        # Site-major so each site's column is contiguous for searchsorted.
        uniforms = uniforms.to(self.device).T.contiguous()
        was_training = self.training
        self.eval()
        try:
            chunks = [self._sample_chunk(u) for u in uniforms.split(_SAMPLE_CHUNK, dim=1)] if n else []
        finally:
            self.train(was_training)
        if not chunks:
            return torch.empty(0, self.n_qubits, dtype=torch.long, device=self.device)
        return torch.cat(chunks)

    def _sample_chunk(self, uniforms: Tensor) -> Tensor:
        """Strings for one chunk; uniforms: (N, n) float64, one per site and sample."""
        n = uniforms.shape[1]
        out = torch.empty(n, self.n_qubits, dtype=torch.long, device=self.device)
        token = torch.full((n,), self.start_token, dtype=torch.long, device=self.device)
        state = self.begin(n)
        for site in range(self.n_qubits):
            logits, state = self.step(token, state, site)
            # float64 CDF normalised to end at exactly 1, so a zero-probability symbol is never drawn.
            cdf = torch.softmax(logits.double(), dim=-1).cumsum(-1)
            cdf = cdf / cdf[:, -1:]
            token = torch.searchsorted(cdf, uniforms[site].unsqueeze(1), right=True).squeeze(1)
            token = token.clamp_(max=self.n_outcomes - 1)
            out[:, site] = token
        return out

"""Autoregressive models: P(a) = prod_i P(a_i | a_<i), exact log-probabilities and ancestral sampling."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from qgen.errors import ModelError
from qgen.models.base import MaximumLikelihood
from qgen.seeding import as_generator

__all__ = ["AutoregressiveModel"]

# Sampling draws its uniforms for all samples up front, then runs the network over chunks of this many
# samples, so memory stays bounded (a transformer's key/value cache grows as n * N) and the bits do not
# depend on the chunking.
_SAMPLE_CHUNK = 16384


class AutoregressiveModel(MaximumLikelihood):
    """P(a) = prod_i P(a_i | a_<i), with each conditional a softmax over K symbols.

    Subclasses implement `conditional_logits` (all sites at once, for training) and may override
    `begin`/`step` with a cache for O(N) sampling; the default step recomputes the prefix.

    The input at site i is the symbol at site i-1, with a start token (index K) at site 0.
    """

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

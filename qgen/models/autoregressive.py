"""Autoregressive models: P(a) = prod_i P(a_i | a_<i), exact log-probabilities and ancestral sampling."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from qgen.errors import ModelError
from qgen.models.base import MaximumLikelihood, Strings
from qgen.models.conditional import ConditionTable
from qgen.seeding import as_generator

__all__ = ["AutoregressiveModel", "AtCondition"]

# Sampling draws its uniforms for all samples up front, then runs the network over chunks of this many
# samples, so memory stays bounded (a transformer's key/value cache grows as n * N) and the bits do not
# depend on the chunking.
_SAMPLE_CHUNK = 16384


class AutoregressiveModel(ConditionTable, MaximumLikelihood):
    """P(a) = prod_i P(a_i | a_<i), with each conditional a softmax over K symbols.

    Subclasses implement `conditional_logits` (all sites at once, for training) and may override
    `begin`/`step` with a cache for O(N) sampling; the default step recomputes the prefix.

    The input at site i is the symbol at site i-1, with a start token (index K) at site 0.

    With `n_conditions` = C >= 1 the model is conditional, P(a | c) for a vector c of C numbers (see
    qgen.models.conditional): `conditional_logits` and `begin` then take the conditions, training rows carry a
    condition index after the outcomes, and `at(...)` is the model at one condition. C = 0 (the default)
    leaves the model exactly as it is without conditions.
    """

    #: C, the length of the condition vector (0: not conditional)
    n_conditions: int = 0
    condition_names: tuple[str, ...] = ()

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int,
        *,
        n_conditions: int = 0,
        condition_names: Sequence[str] | None = None,
        condition_table: Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__(n_qubits, n_outcomes)
        if n_conditions or condition_names is not None or condition_table is not None:
            from qgen.models.conditional import enable_conditions

            enable_conditions(self, n_conditions, condition_names, condition_table)

    @property
    def config(self) -> dict[str, Any]:
        """As GenerativeModel.config; a conditional model adds n_conditions, condition_names and its table
        (so a checkpoint or file rebuilds a model whose rows' indices mean what they meant in training)."""
        config = super().config
        if self.n_conditions:
            config.update(
                n_conditions=self.n_conditions,
                condition_names=list(self.condition_names),
                condition_table=self.condition_table.tolist(),
            )
        return config

    def condition_features(self, conditions: Tensor | None) -> Tensor | None:
        """e(c), the learned embedding of (n, C) conditions, (n, width); None for an unconditional model."""
        if conditions is None:
            if self.n_conditions:
                raise ModelError(
                    f"this {type(self).__name__} is conditional on {list(self.condition_names)}: give conditions, "
                    "or take the model at one condition with model.at(...)"
                )
            return None
        if not self.n_conditions:
            raise ModelError(f"this {type(self).__name__} takes no conditions (built with n_conditions=0)")
        return self.condition_embedding(conditions)

    def at(self, condition: Any = None, **named: float) -> AutoregressiveModel:
        """The conditional model at one condition (`model.at(h=0.93)`): a model of strings sharing the weights."""
        return AtCondition(self, condition, **named)

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

        Conditional models take a second argument, `conditions`: (n, C) floats (None is refused).

        Args:
            inputs: (n, L) int64, L <= N, the shifted strings (start token, a_0, ..., a_{L-2}).

        Returns:
            (n, L, K) logits; entry [:, i] may depend on inputs[:, : i + 1] only.
        """

    def log_prob(self, x: Tensor, conditions: Any = None) -> Tensor:
        """Exact log P(x), a sum of N log-softmax conditionals (log P(x | c) for a conditional model).

        Args:
            x: (n, N) integer tensor with values in [0, K); for a conditional model without `conditions`,
                (n, N + 1) training rows (outcomes, then the condition's index in the model's table).
            conditions: conditional models only: (n, C) per-row conditions or one (C,) vector for all rows.

        Returns:
            (n,) tensor in the model's dtype.
        """
        if conditions is not None:
            from qgen.models.conditional import per_row_conditions

            x = Strings(self.n_qubits, self.n_outcomes).check(x, self.device)
            return self._log_prob(x, per_row_conditions(self, x.shape[0], conditions))
        return self._log_prob(self.check_outcomes(x))

    def _log_prob(self, x: Tensor, conditions: Tensor | None = None) -> Tensor:
        """log_prob without validation: x is (n, N) int64 on the model's device, values in [0, K).

        A conditional model without `conditions` reads (n, N + 1) rows: outcomes, then the table index.
        """
        if conditions is None and self.n_conditions:
            x, conditions = x[:, :-1], self.condition_table[x[:, -1]]
        inputs = self.shifted(x)
        logits = self.conditional_logits(inputs) if conditions is None else self.conditional_logits(inputs, conditions)
        logp = F.log_softmax(logits, dim=-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        """The mean NLL of a batch the Trainer has already validated.

        Skipping the range check here keeps `torch.compile` graphs whole and avoids a host sync per batch on
        CUDA (the check reads min and max back to the host).
        """
        return -self._log_prob(x.long()).mean()

    def begin(self, n: int) -> Any:
        """The sampling state before site 0, for n strings (default: the inputs fed so far).

        Conditional models take a second argument, `conditions`: (n, C) floats, kept in the state.
        """
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
    def sample(self, n: int, *, generator: torch.Generator | int | None = None, conditions: Any = None) -> Tensor:
        """Ancestral sampling, vectorised over samples, one network step per site.

        Each site's symbol is drawn by inverting the conditional CDF at a uniform from `generator`, so the
        same seed gives the same strings on any device and for any chunking.

        Args:
            n: number of strings.
            generator: torch.Generator (any device) or integer seed; None uses the global torch RNG.
            conditions: conditional models only (and required there): one (C,) condition for every string,
                or (n, C), one per string.

        Returns:
            (n, N) int64 tensor with values in [0, K), on the model's device.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ModelError(f"number of samples must be a non-negative integer, got {n!r}")
        parts: list[Any] = [None] * (-(-n // _SAMPLE_CHUNK))
        if conditions is not None or self.n_conditions:
            from qgen.models.conditional import per_row_conditions

            if conditions is None:
                self.condition_features(None)  # raises: a conditional model needs its conditions
            parts = list(per_row_conditions(self, n, conditions).split(_SAMPLE_CHUNK))
        gen = as_generator(generator)
        rand_device = gen.device if gen is not None else torch.device("cpu")
        uniforms = torch.rand(n, self.n_qubits, generator=gen, dtype=torch.float64, device=rand_device)
        # Site-major so each site's column is contiguous for searchsorted.
        uniforms = uniforms.to(self.device).T.contiguous()
        was_training = self.training
        self.eval()
        try:
            chunks = [self._sample_chunk(u, c) for u, c in zip(uniforms.split(_SAMPLE_CHUNK, dim=1), parts)]
        finally:
            self.train(was_training)
        if not chunks:
            return torch.empty(0, self.n_qubits, dtype=torch.long, device=self.device)
        return torch.cat(chunks)

    def _sample_chunk(self, uniforms: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Strings for one chunk; uniforms: (N, n) float64, one per site and sample; conditions: (n, C) or None."""
        n = uniforms.shape[1]
        out = torch.empty(n, self.n_qubits, dtype=torch.long, device=self.device)
        token = torch.full((n,), self.start_token, dtype=torch.long, device=self.device)
        state = self.begin(n) if conditions is None else self.begin(n, conditions)
        for site in range(self.n_qubits):
            logits, state = self.step(token, state, site)
            # float64 CDF normalised to end at exactly 1, so a zero-probability symbol is never drawn.
            cdf = torch.softmax(logits.double(), dim=-1).cumsum(-1)
            cdf = cdf / cdf[:, -1:]
            token = torch.searchsorted(cdf, uniforms[site].unsqueeze(1), right=True).squeeze(1)
            token = token.clamp_(max=self.n_outcomes - 1)
            out[:, site] = token
        return out


class AtCondition(AutoregressiveModel):
    """A conditional model at one condition: a plain model of N-symbol strings that shares its weights.

    Every metric, the prefix-tree enumeration and the Trainer take it as they take any autoregressive model;
    training it trains the shared weights at that one condition. Save the conditional model, not the view.

    Args:
        model: a conditional RNN, PixelCNN or Transformer.
        condition: (C,) condition values (see `condition_vector` for the accepted forms).

    Attributes:
        condition: the (C,) float64 condition (a buffer).
        condition_map: {name: value}, for reports.
    """

    name = "at-condition"

    def __init__(self, model: AutoregressiveModel, condition: Any = None, **named: float) -> None:
        if not isinstance(model, AutoregressiveModel):
            raise ModelError(f"AtCondition takes a conditional autoregressive model, got {type(model).__name__}")
        from qgen.models.conditional import condition_vector

        vector = condition_vector(model, condition, **named)
        super().__init__(model.n_qubits, model.n_outcomes)
        self.model = model
        self.register_buffer("condition", vector.to(model.device))
        self.condition_map = {s: float(v) for s, v in zip(model.condition_names, vector.tolist())}
        self.hyperparameters = {"condition": dict(self.condition_map)}
        self.history, self.measurement = model.history, model.measurement

    def _rows(self, n: int) -> Tensor:
        return self.condition.unsqueeze(0).expand(n, -1)

    def conditional_logits(self, inputs: Tensor) -> Tensor:
        """The conditional model's logits at this condition, (n, L, K)."""
        return self.model.conditional_logits(inputs, self._rows(inputs.shape[0]))

    def begin(self, n: int) -> Any:
        """The conditional model's sampling state at this condition."""
        return self.model.begin(n, self._rows(n))

    def step(self, token: Tensor, state: Any, site: int) -> tuple[Tensor, Any]:
        """The conditional model's cached step (the condition lives in the state `begin` made)."""
        return self.model.step(token, state, site)

    def __repr__(self) -> str:
        where = ", ".join(f"{k}={v:g}" for k, v in self.condition_map.items())
        return f"AtCondition({type(self.model).__name__}, {where})"

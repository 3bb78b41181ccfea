"""Recurrent autoregressive model (GRU or LSTM), the reconstructor of Carrasquilla et al. (2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.autoregressive import AutoregressiveModel
from qgen.models.conditional import ConditionEncoder

__all__ = ["RNN"]


class RNN(AutoregressiveModel):
    """A stacked GRU or LSTM reading the previous symbol (one-hot) and emitting the next conditional.

    References:
        J. Carrasquilla, G. Torlai, R. G. Melko, L. Aolita, "Reconstructing quantum states with generative
        models", Nat. Mach. Intell. 1, 155 (2019): 3 GRU layers of 100 units, softmax output.

    Args:
        n_qubits: N, the string length.
        n_outcomes: K, the number of symbols per site.
        cell: "gru" or "lstm".
        n_layers: number of stacked recurrent layers.
        hidden_size: units per layer.
        n_conditions: C, the length of a condition vector c (0: not conditional); tanh e(c), a learned
            embedding, is every layer's initial hidden state (qgen.models.conditional).
        condition_names: the conditions' names (e.g. ["h"]), for `at(h=...)` and reports.
        condition_table: the (T, C) condition vectors that training rows index (`condition_rows` fills it).

    Example:
        >>> model = RNN(n_qubits=4, n_outcomes=4, hidden_size=8)
        >>> model.sample(3, generator=0).shape
        torch.Size([3, 4])
    """

    name = "rnn"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int,
        *,
        cell: Literal["gru", "lstm"] = "gru",
        n_layers: int = 3,
        hidden_size: int = 100,
        n_conditions: int = 0,
        condition_names: Sequence[str] | None = None,
        condition_table: Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__(
            n_qubits,
            n_outcomes,
            n_conditions=n_conditions,
            condition_names=condition_names,
            condition_table=condition_table,
        )
        if cell not in ("gru", "lstm"):
            raise ModelError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        for label, value in (("n_layers", n_layers), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{label} must be a positive integer, got {value!r}")
        self.hyperparameters = {"cell": cell, "n_layers": n_layers, "hidden_size": hidden_size}
        recurrent = nn.GRU if cell == "gru" else nn.LSTM
        # K + 1 inputs: the K symbols and the start token.
        self.recurrent = recurrent(n_outcomes + 1, hidden_size, num_layers=n_layers, batch_first=True)
        self.output = nn.Linear(hidden_size, n_outcomes)
        if self.n_conditions:  # created last, so an unconditional model draws the same initial weights as ever
            width = n_layers * hidden_size * (2 if cell == "lstm" else 1)
            self.condition_embedding = ConditionEncoder(self.n_conditions, width)

    def _one_hot(self, tokens: Tensor) -> Tensor:
        return F.one_hot(tokens, self.n_outcomes + 1).to(self.dtype)

    def _initial_state(self, conditions: Tensor | None) -> Any:
        """None (zeros) without conditions; else tanh e(c) as (layers, n, hidden), and an LSTM's cell state."""
        features = self.condition_features(conditions)
        if features is None:
            return None
        layers, hidden = self.hyperparameters["n_layers"], self.hyperparameters["hidden_size"]
        state = torch.tanh(features).view(features.shape[0], -1, layers, hidden).permute(1, 2, 0, 3).contiguous()
        return (state[0], state[1]) if self.hyperparameters["cell"] == "lstm" else state[0]

    def conditional_logits(self, inputs: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Logits for every site of a prefix.

        Args:
            inputs: (n, L) int64 shifted strings, start token first.
            conditions: (n, C) condition vectors (conditional models only).

        Returns:
            (n, L, K) logits.
        """
        hidden, _ = self.recurrent(self._one_hot(inputs), self._initial_state(conditions))
        return self.output(hidden)

    def begin(self, n: int, conditions: Tensor | None = None) -> Any:
        """The initial hidden state: zeros (None) without conditions, tanh e(c) with them."""
        return self._initial_state(conditions)

    def step(self, token: Tensor, state: Any, site: int) -> tuple[Tensor, Any]:
        """One recurrent step: O(1) work per site, so sampling costs O(N).

        Args:
            token: (n,) int64, the previous symbol.
            state: the recurrent hidden state (None before site 0).
            site: unused; the recurrence carries the position.

        Returns:
            (n, K) logits and the new hidden state.
        """
        hidden, state = self.recurrent(self._one_hot(token).unsqueeze(1), state)
        return self.output(hidden[:, 0]), state

"""Recurrent autoregressive model (GRU or LSTM), the reconstructor of Carrasquilla et al. (2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.autoregressive import AutoregressiveModel
from qgen.models.conditional import ConditionEncoder, FiLM, check_conditioning, modulate

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
        n_conditions: C, the length of a condition vector c (0: not conditional; see qgen.models.conditional).
        condition_names: the conditions' names (e.g. ["h"]), for `at(h=...)` and reports.
        condition_table: the (T, C) condition vectors that training rows index (`condition_rows` fills it).
        conditioning: how c enters (conditional models only): "film" scales and shifts every layer's output
            features, gamma(c) * h + beta(c) (identity at initialisation), between the layers and before the
            output; "add" makes tanh e(c), a learned embedding, every layer's initial hidden state.

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
        conditioning: str = "add",
    ) -> None:
        super().__init__(
            n_qubits,
            n_outcomes,
            n_conditions=n_conditions,
            condition_names=condition_names,
            condition_table=condition_table,
        )
        check_conditioning(conditioning)
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
            self.hyperparameters["conditioning"] = conditioning
            if conditioning == "film":
                self.condition_embedding: nn.Module = FiLM(self.n_conditions, n_layers, hidden_size)
            else:
                width = n_layers * hidden_size * (2 if cell == "lstm" else 1)
                self.condition_embedding = ConditionEncoder(self.n_conditions, width)

    @property
    def _film(self) -> bool:
        return self.hyperparameters.get("conditioning") == "film"

    def _layers(self, x: Tensor, states: list[Any], film: tuple[Tensor, Tensor]) -> tuple[Tensor, list[Any]]:
        """The stacked recurrence one layer at a time, FiLM on each layer's output (n, L, hidden).

        Runs each layer with the op that nn.GRU / nn.LSTM run on all layers at once (torch.gru, torch.lstm),
        on the same parameters, so the weights keep their names and layout.
        """
        lstm = self.hyperparameters["cell"] == "lstm"
        out = []
        for layer, state in enumerate(states):
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            params = [getattr(self.recurrent, f"{w}_l{layer}") for w in names]
            if lstm:
                x, h, c = torch.lstm(x, state, params, True, 1, 0.0, self.training, False, True)
                state = (h, c)
            else:
                x, state = torch.gru(x, state, params, True, 1, 0.0, self.training, False, True)
            x = modulate(x, film, layer)
            out.append(state)
        return x, out

    def _zero_states(self, n: int) -> list[Any]:
        hidden = self.hyperparameters["hidden_size"]
        zeros = lambda: torch.zeros(1, n, hidden, dtype=self.dtype, device=self.device)  # noqa: E731
        lstm = self.hyperparameters["cell"] == "lstm"
        return [(zeros(), zeros()) if lstm else zeros() for _ in range(self.hyperparameters["n_layers"])]

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
        if self._film:
            film = self.condition_features(conditions)
            hidden, _ = self._layers(self._one_hot(inputs), self._zero_states(inputs.shape[0]), film)
            return self.output(hidden)
        hidden, _ = self.recurrent(self._one_hot(inputs), self._initial_state(conditions))
        return self.output(hidden)

    def begin(self, n: int, conditions: Tensor | None = None) -> Any:
        """The initial hidden state: zeros (None) without conditions, tanh e(c) with them ("add"); with FiLM,
        zero per-layer states and FiLM's (gamma, beta)."""
        if self._film:
            return self._zero_states(n), self.condition_features(conditions)
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
        if self._film:
            states, film = state
            hidden, states = self._layers(self._one_hot(token).unsqueeze(1), states, film)
            return self.output(hidden[:, 0]), (states, film)
        hidden, state = self.recurrent(self._one_hot(token).unsqueeze(1), state)
        return self.output(hidden[:, 0]), state

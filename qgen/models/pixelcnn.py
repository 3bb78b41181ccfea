"""PixelCNN for strings: gated, dilated, causal 1D convolutions giving exact autoregressive conditionals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.autoregressive import AutoregressiveModel
from qgen.models.conditional import ConditionEncoder, FiLM, check_conditioning, modulate

__all__ = ["PixelCNN", "receptive_field"]


def receptive_field(kernel_size: int, dilations: list[int]) -> int:
    """Number of input positions one output of a stack of causal convolutions sees (itself included)."""
    return 1 + sum((kernel_size - 1) * d for d in dilations)


class _GatedCausalBlock(nn.Module):
    """tanh(W_f * h) ⊙ sigmoid(W_g * h) with a causal dilated convolution, plus a residual 1x1 convolution."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(channels, 2 * channels, kernel_size, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        # Padding on the left only: output t sees inputs <= t, which keeps the stack causal.
        filt, gate = self.conv(F.pad(h, (self.left_pad, 0))).chunk(2, dim=1)
        return h + self.mix(torch.tanh(filt) * torch.sigmoid(gate))

    def step(self, h: Tensor, history: Tensor, site: int) -> Tensor:
        """The block's output at one position from the inputs it has seen (the WaveNet fast-generation cache).

        Args:
            h: (n, C, 1) the block's input at `site`.
            history: (n, C, N) the block's inputs so far; position `site` is written here.
        """
        history[:, :, site] = h[:, :, 0]
        kernel_size, dilation = self.conv.kernel_size[0], self.conv.dilation[0]
        taps = [site - (kernel_size - 1 - j) * dilation for j in range(kernel_size)]
        # Taps before position 0 read the zero padding of the full pass.
        window = torch.stack([history[:, :, t] if t >= 0 else torch.zeros_like(h[:, :, 0]) for t in taps], dim=2)
        filt, gate = F.conv1d(window, self.conv.weight, self.conv.bias).chunk(2, dim=1)
        return h + self.mix(torch.tanh(filt) * torch.sigmoid(gate))


class PixelCNN(AutoregressiveModel):
    """Gated PixelCNN over a 1D string, dilations doubling per layer so the receptive field covers N.

    The network reads the shifted string (start token, a_0, ..., a_{N-2}), so causal convolutions that see
    their own position give P(a_i | a_<i) at position i without a separate "mask A" first layer.

    References:
        A. van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016 (gated
        activations); A. van den Oord et al., "WaveNet", arXiv:1609.03499 (dilated causal convolutions).

    Args:
        n_qubits: N, the string length.
        n_outcomes: K, the number of symbols per site.
        channels: width of every layer.
        kernel_size: taps per causal convolution (>= 2).
        n_layers: gated blocks; None picks the fewest whose receptive field covers N. When more are asked
            for, dilations cycle through 1, 2, 4, ... up to that covering depth.
        n_conditions: C, the length of a condition vector c (0: not conditional; see qgen.models.conditional).
        condition_names: the conditions' names (e.g. ["h"]), for `at(h=...)` and reports.
        condition_table: the (T, C) condition vectors that training rows index (`condition_rows` fills it).
        conditioning: how c enters (conditional models only): "film" scales and shifts every gated block's
            output channels, gamma(c) * h + beta(c) (identity at initialisation); "add" adds a learned
            embedding e(c) to every position's input features.

    Example:
        >>> model = PixelCNN(n_qubits=10, n_outcomes=4, channels=8)
        >>> model.log_prob(torch.zeros(2, 10, dtype=torch.long)).shape
        torch.Size([2])
    """

    name = "pixelcnn"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int,
        *,
        channels: int = 64,
        kernel_size: int = 3,
        n_layers: int | None = None,
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
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ModelError(f"channels must be a positive integer, got {channels!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 2:
            raise ModelError(f"kernel_size must be an integer >= 2, got {kernel_size!r}")
        covering = 1
        while receptive_field(kernel_size, [2**i for i in range(covering)]) < n_qubits:
            covering += 1
        if n_layers is None:
            n_layers = covering
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < covering:
            raise ModelError(
                f"n_layers={n_layers!r} gives a receptive field smaller than N={n_qubits} with "
                f"kernel_size={kernel_size}; use n_layers >= {covering} (or None)"
            )
        self.hyperparameters = {"channels": channels, "kernel_size": kernel_size, "n_layers": n_layers}
        self.dilations = [2 ** (i % covering) for i in range(n_layers)]
        self.embed = nn.Conv1d(n_outcomes + 1, channels, 1)
        self.blocks = nn.ModuleList(_GatedCausalBlock(channels, kernel_size, d) for d in self.dilations)
        self.output = nn.Sequential(nn.ReLU(), nn.Conv1d(channels, channels, 1), nn.ReLU())
        self.head = nn.Conv1d(channels, n_outcomes, 1)
        if self.n_conditions:  # created last, so an unconditional model draws the same initial weights as ever
            self.hyperparameters["conditioning"] = conditioning
            self.condition_embedding = (
                FiLM(self.n_conditions, n_layers, channels)
                if conditioning == "film"
                else ConditionEncoder(self.n_conditions, channels)
            )

    def _condition(self, conditions: Tensor | None) -> tuple[Tensor | None, Any]:
        """(e(c) to add to the inputs, FiLM's (gamma, beta)): one of them None, both without conditions."""
        features = self.condition_features(conditions)
        if self.hyperparameters.get("conditioning") == "film":
            return None, features
        return features, None

    def conditional_logits(self, inputs: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Logits for every site of a prefix.

        Args:
            inputs: (n, L) int64 shifted strings, start token first.
            conditions: (n, C) condition vectors (conditional models only).

        Returns:
            (n, L, K) logits.
        """
        h = self.embed(F.one_hot(inputs, self.n_outcomes + 1).to(self.dtype).transpose(1, 2))
        bias, film = self._condition(conditions)
        if bias is not None:
            h = h + bias.unsqueeze(2)
        for i, block in enumerate(self.blocks):
            h = modulate(block(h), film, i, feature_dim=1)
        return self.head(self.output(h)).transpose(1, 2)

    def begin(self, n: int, conditions: Tensor | None = None) -> Any:
        """Per-block input histories, (n, C, N) each, so a step costs O(layers * kernel) rather than O(N), the
        condition embedding (n, C, 1) added to every position's input and FiLM's (gamma, beta) (None if unused)."""
        channels = self.hyperparameters["channels"]
        bias, film = self._condition(conditions)
        histories = [torch.zeros(n, channels, self.n_qubits, dtype=self.dtype, device=self.device) for _ in self.blocks]
        return histories, None if bias is None else bias.unsqueeze(2), film

    def step(self, token: Tensor, state: Any, site: int) -> tuple[Tensor, Any]:
        """One position through every block, reading earlier positions from the caches.

        Args:
            token: (n,) int64, the previous symbol.
            state: per-block input histories, the condition embedding and FiLM's parameters, from `begin`.
            site: the position being generated.

        Returns:
            (n, K) logits and the updated histories.
        """
        histories, bias, film = state
        h = self.embed(F.one_hot(token, self.n_outcomes + 1).to(self.dtype).unsqueeze(2))
        if bias is not None:
            h = h + bias
        for i, (block, history) in enumerate(zip(self.blocks, histories)):
            h = modulate(block.step(h, history, site), film, i, feature_dim=1)
        return self.head(self.output(h))[:, :, 0], state

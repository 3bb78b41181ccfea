"""Causal transformer decoder over strings, with a key/value cache for O(N)-step sampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.autoregressive import AutoregressiveModel
from qgen.models.conditional import ConditionEncoder, FiLM, check_conditioning, modulate

__all__ = ["Transformer"]


class _CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def _heads(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n, length, d = h.shape
        q, k, v = self.qkv(h).view(n, length, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        return q, k, v  # each (n, heads, L, d_head)

    def forward(self, h: Tensor) -> Tensor:
        q, k, v = self._heads(h)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).flatten(2))

    def step(self, h: Tensor, cache: tuple[Tensor, Tensor], site: int) -> Tensor:
        """Attention of one new position over the cached keys and values of positions <= site.

        Args:
            h: (n, 1, d) the new position's input.
            cache: keys and values, each (n, heads, N, d_head); position `site` is written here.
        """
        q, k, v = self._heads(h)
        keys, values = cache
        keys[:, :, site] = k[:, :, 0]
        values[:, :, site] = v[:, :, 0]
        # No mask needed: the cache holds only positions <= site.
        out = F.scaled_dot_product_attention(q, keys[:, :, : site + 1], values[:, :, : site + 1])
        return self.proj(out.transpose(1, 2).flatten(2))


class _Block(nn.Module):
    """Pre-norm decoder block: x + attn(LN(x)), then x + MLP(LN(x)); with FiLM, gamma * LN(x) + beta."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = _CausalSelfAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, film: Any = None, layer: int = 0) -> Tensor:
        h = h + self.drop(self.attn(modulate(self.norm1(h), film, layer)))
        return h + self.drop(self.mlp(modulate(self.norm2(h), film, layer + 1)))

    def step(self, h: Tensor, cache: tuple[Tensor, Tensor], site: int, film: Any = None, layer: int = 0) -> Tensor:
        h = h + self.attn.step(modulate(self.norm1(h), film, layer), cache, site)
        return h + self.mlp(modulate(self.norm2(h), film, layer + 1))


class Transformer(AutoregressiveModel):
    """A GPT-style causal decoder: token and learned position embeddings, pre-norm blocks, softmax head.

    References:
        A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017; P. Cha et al., "Attention-based
        quantum tomography", Mach. Learn.: Sci. Technol. 3, 01LT01 (2021).

    Args:
        n_qubits: N, the string length.
        n_outcomes: K, the number of symbols per site.
        d_model: embedding width (a multiple of n_heads).
        n_heads: attention heads.
        n_layers: decoder blocks.
        dropout: dropout rate in training (0 keeps training deterministic given the seed).
        n_conditions: C, the length of a condition vector c (0: not conditional; see qgen.models.conditional).
        condition_names: the conditions' names (e.g. ["h"]), for `at(h=...)` and reports.
        condition_table: the (T, C) condition vectors that training rows index (`condition_rows` fills it).
        conditioning: how c enters (conditional models only): "film" scales and shifts the features after
            every layer norm (gamma(c) * LN(h) + beta(c), identity at initialisation); "add" adds a learned
            embedding e(c) to every position's input.

    Example:
        >>> model = Transformer(n_qubits=6, n_outcomes=4, d_model=16, n_heads=2, n_layers=1)
        >>> model.sample(2, generator=0).shape
        torch.Size([2, 6])
    """

    name = "transformer"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int,
        *,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dropout: float = 0.0,
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
        for label, value in (("d_model", d_model), ("n_heads", n_heads), ("n_layers", n_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{label} must be a positive integer, got {value!r}")
        if d_model % n_heads:
            raise ModelError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.hyperparameters = {"d_model": d_model, "n_heads": n_heads, "n_layers": n_layers, "dropout": dropout}
        self.token = nn.Embedding(n_outcomes + 1, d_model)
        self.position = nn.Parameter(torch.randn(n_qubits, d_model) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_outcomes)
        if self.n_conditions:  # created last, so an unconditional model draws the same initial weights as ever
            self.hyperparameters["conditioning"] = conditioning
            self.condition_embedding = (
                FiLM(self.n_conditions, 2 * n_layers + 1, d_model)  # the blocks' two norms each, and the last
                if conditioning == "film"
                else ConditionEncoder(self.n_conditions, d_model)
            )

    def _condition(self, conditions: Tensor | None) -> tuple[Tensor | None, Any]:
        """(e(c) to add to the inputs, FiLM's (gamma, beta)): one of them None, both without conditions."""
        features = self.condition_features(conditions)
        if self.hyperparameters.get("conditioning") == "film":
            return None, features
        return features, None

    def conditional_logits(self, inputs: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Logits for every site of a prefix, all positions in one causal pass.

        Args:
            inputs: (n, L) int64 shifted strings, start token first.
            conditions: (n, C) condition vectors (conditional models only).

        Returns:
            (n, L, K) logits.
        """
        h = self.token(inputs) + self.position[: inputs.shape[1]]
        bias, film = self._condition(conditions)
        if bias is not None:
            h = h + bias.unsqueeze(1)
        h = self.drop(h)
        for i, block in enumerate(self.blocks):
            h = block(h, film, 2 * i)
        return self.head(modulate(self.norm(h), film, 2 * len(self.blocks)))

    def begin(self, n: int, conditions: Tensor | None = None) -> Any:
        """Empty key/value caches, (n, heads, N, d_head) per layer, filled one position per step, the condition
        embedding (n, 1, d_model) added at every position and FiLM's (gamma, beta) (None where not used)."""
        d_model, n_heads = self.hyperparameters["d_model"], self.hyperparameters["n_heads"]
        shape = (n, n_heads, self.n_qubits, d_model // n_heads)
        empty = lambda: torch.empty(shape, dtype=self.dtype, device=self.device)  # noqa: E731
        bias, film = self._condition(conditions)
        return [(empty(), empty()) for _ in self.blocks], None if bias is None else bias.unsqueeze(1), film

    def step(self, token: Tensor, state: Any, site: int) -> tuple[Tensor, Any]:
        """One position: attends over the cache, so each step costs O(site) instead of a full O(site^2) pass.

        Args:
            token: (n,) int64, the previous symbol.
            state: per-layer key/value caches, the condition embedding and FiLM's parameters, from `begin`.
            site: the position being generated.

        Returns:
            (n, K) logits and the updated caches.
        """
        caches, bias, film = state
        h = self.token(token).unsqueeze(1) + self.position[site]
        if bias is not None:
            h = h + bias
        for i, (block, cache) in enumerate(zip(self.blocks, caches)):
            h = block.step(h, cache, site, film, 2 * i)
        return self.head(modulate(self.norm(h), film, 2 * len(self.blocks)))[:, 0], state

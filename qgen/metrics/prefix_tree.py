"""The log-probabilities of all K^N strings of an autoregressive model, by walking its prefix tree.

An autoregressive model factorises P(a) = prod_i P(a_i | a_<i): strings that share a prefix share its
conditionals, so enumerating every string through `log_prob` (K^N strings x N sites) recomputes each prefix
once per descendant. Walking the tree computes each node once. Two walks, both through the model's public
interface only, both checked against `log_prob`:

- cached (models whose `step` keeps a cache, as RNN, PixelCNN and Transformer do): the top levels of the tree
  are one batch of K^j prefixes; below them a depth-first walk calls `step` once per node with the whole batch,
  branching each node's state into its K children. About K^(N-1) * K / (K - 1) site evaluations.
- causal (any model): one `conditional_logits` pass over each of the K^(N-1) prefixes of length N - 1 gives
  the conditionals of every level along that path and the K leaves below it: K^(N-1) * N site evaluations.

Conditionals are normalised in float64 (log-softmax of the model's logits), as `log_prob` defines them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError
from qgen.strings import enumeration_size, strings_in_range

__all__ = ["autoregressive_log_probabilities"]

# Prefixes per batch: a few MiB of activations per call, and few enough Python calls per tree.
_BATCH = 1 << 10
# Tokens (prefixes x sites) per call of conditional_logits in the causal walk.
_CAUSAL_TOKENS = 1 << 14
# Strings checked against log_prob after a cached walk, and the tolerance (log_prob may sum in float32).
_N_CHECK = 16
_CHECK_ATOL = 1e-3


def _device(model: Any) -> torch.device:
    dev = getattr(model, "device", None)
    return dev if isinstance(dev, torch.device) else torch.device("cpu")


def _causal_walk(model: Any, k: int, n: int, out: np.ndarray) -> None:
    device = _device(model)
    prefixes = k ** (n - 1)
    rows = max(1, _CAUSAL_TOKENS // n)
    for start in range(0, prefixes, rows):
        stop = min(start + rows, prefixes)
        body = strings_in_range(start, stop, k, n - 1, device=device)
        first = torch.full((stop - start, 1), int(model.start_token), dtype=torch.int64, device=device)
        logits = model.conditional_logits(torch.cat([first, body], dim=1))
        logp = torch.log_softmax(logits.to(torch.float64), dim=-1)  # (rows, N, K)
        path = logp[:, : n - 1].gather(-1, body.unsqueeze(-1)).squeeze(-1).sum(dim=1)
        out[start * k : stop * k] = (path.unsqueeze(1) + logp[:, n - 1]).reshape(-1).cpu().numpy()


def _cached_walk(model: Any, k: int, n: int, out: np.ndarray) -> None:
    device = _device(model)
    top = 0  # levels enumerated as one batch of k^top prefixes
    while top < n - 1 and k ** (top + 1) <= _BATCH:
        top += 1
    batch = k**top
    prefix = strings_in_range(0, batch, k, top, device=device)
    table = out.reshape(batch, k ** (n - top))  # row: the top prefix; column: the rest of the string
    state = model.begin(batch)
    token = torch.full((batch,), int(model.start_token), dtype=torch.int64, device=device)
    path = torch.zeros(batch, dtype=torch.float64, device=device)
    for site in range(top):
        logits, state = model.step(token, state, site)
        token = prefix[:, site]
        path = path + torch.log_softmax(logits.to(torch.float64), dim=-1).gather(1, token.unsqueeze(1)).squeeze(1)

    def visit(site: int, token: torch.Tensor, state: Any, path: torch.Tensor, below: int) -> None:
        # `below`: the index of a_top..a_{site-1} among the strings below the top prefix. A child reuses its
        # parent's state: a cache position is written at its own site and only positions <= site are read.
        logits, state = model.step(token, state, site)
        logp = torch.log_softmax(logits.to(torch.float64), dim=-1)  # (batch, K)
        if site == n - 1:
            table[:, below * k : below * k + k] = (path.unsqueeze(1) + logp).cpu().numpy()
            return
        for symbol in range(k):
            child = torch.full((batch,), symbol, dtype=torch.int64, device=device)
            visit(site + 1, child, state, path + logp[:, symbol], below * k + symbol)

    visit(top, token, state, path, 0)


def _agrees_with_log_prob(model: Any, k: int, n: int, table: np.ndarray) -> bool:
    total = k**n
    idx = np.unique(np.linspace(0, total - 1, min(_N_CHECK, total)).astype(np.int64))
    strings = torch.cat([strings_in_range(int(i), int(i) + 1, k, n) for i in idx])
    lp = model.log_prob(strings.to(_device(model))).detach().to("cpu", torch.float64).numpy()
    return bool(np.all(np.abs(table[idx] - lp) <= _CHECK_ATOL))


def autoregressive_log_probabilities(model: Any) -> np.ndarray:
    """log P(a) of all K^N strings of an autoregressive model, float64 (K^N,), lexicographic order.

    Uses the cached walk when the model overrides `AutoregressiveModel.step` with a cache, checked on a few
    strings against `log_prob` (a model whose state cannot be branched falls back to the causal walk), and
    the causal walk otherwise. The model is evaluated in eval mode (no dropout) and left in the mode it had.

    Args:
        model: an AutoregressiveModel (`conditional_logits`, `begin`, `step`, `start_token`, `log_prob`,
            `n_qubits`, `n_outcomes`).

    Raises:
        MetricError: K^N exceeds qgen.strings.MAX_ENUMERATION.

    Example:
        >>> from qgen.models import RNN
        >>> table = autoregressive_log_probabilities(RNN(3, 4, hidden_size=8))
        >>> table.shape, round(float(np.exp(table).sum()), 6)
        ((64,), 1.0)
    """
    from qgen.models.autoregressive import AutoregressiveModel

    k, n = int(model.n_outcomes), int(model.n_qubits)
    out = np.empty(enumeration_size(k, n, error=MetricError), dtype=np.float64)
    cached = type(model).step is not AutoregressiveModel.step and hasattr(model, "begin")
    # Dropout off: the table is the distribution that log_prob and sample describe.
    with model.evaluating(), torch.no_grad():
        if cached:
            _cached_walk(model, k, n, out)
            if _agrees_with_log_prob(model, k, n, out):
                return out
        _causal_walk(model, k, n, out)
        return out

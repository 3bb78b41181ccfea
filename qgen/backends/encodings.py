"""Outcome strings as continuous tensors and back: one-hot codes, Gumbel-max and straight-through Gumbel-softmax.

The generic backends work on real tensors; on `Strings(N, K)` a string is its one-hot code, (n, N, K) or
flattened to (n, N * K), and a network that outputs per-site logits (n, N, K) emits strings through these.
Every random draw takes an explicit generator and is made on the generator's device, so the same seed gives the
same bits on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from qgen.errors import ModelError

__all__ = ["one_hot", "normal", "gumbel", "sample_categorical", "gumbel_softmax", "gumbel_softmax_st"]

# Uniforms are clamped away from 0 and 1 so that -log(-log u) stays finite in float32.
_TINY = 1e-20


def one_hot(x: Tensor, n_symbols: int, dtype: torch.dtype = torch.float32, *, flatten: bool = False) -> Tensor:
    """One-hot code of a batch of strings.

    Args:
        x: (n, N) integer tensor with values in [0, K).
        n_symbols: K.
        dtype: floating dtype of the code.
        flatten: return (n, N * K) instead of (n, N, K).

    Example:
        >>> one_hot(torch.tensor([[0, 2]]), 3, flatten=True).tolist()
        [[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
    """
    code = F.one_hot(x.long(), n_symbols).to(dtype)
    return code.flatten(1) if flatten else code


def _draw(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, kind: str) -> Tensor:
    dev = generator.device if generator is not None else device
    if kind == "normal":
        return torch.randn(shape, generator=generator, device=dev, dtype=torch.float32).to(device)
    return torch.rand(shape, generator=generator, device=dev, dtype=torch.float64).to(device)


def normal(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Standard normal draws (float32 from the generator, then cast), made on the generator's device."""
    return _draw(shape, generator, device, "normal").to(dtype)


def gumbel(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Standard Gumbel draws -log(-log U), from float64 uniforms made on the generator's device."""
    u = _draw(shape, generator, device, "uniform").clamp(_TINY, 1 - 1e-16)
    return (-torch.log(-torch.log(u))).to(dtype)


def sample_categorical(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One categorical draw per row of the last axis by the Gumbel-max trick: argmax(logits + G).

    Args:
        logits: (..., K) unnormalised log-probabilities.
        generator: the randomness (None: torch's global RNG).

    Returns:
        (...) int64 indices in [0, K).

    Example:
        >>> sample_categorical(torch.tensor([[0.0, -1e9], [-1e9, 0.0]]), torch.Generator().manual_seed(0)).tolist()
        [0, 1]
    """
    return (logits + gumbel(tuple(logits.shape), generator, logits.device, logits.dtype)).argmax(-1)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Gumbel-softmax (Concrete) relaxed sample softmax((logits + G) / tau), and the exact draw argmax(logits + G).

    Both come from the same Gumbel noise G: the relaxed sample is the continuous stand-in of the one-hot draw,
    and it tends to it as tau -> 0.

    References:
        E. Jang, S. Gu, B. Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017, eq. (1);
        C. J. Maddison, A. Mnih, Y. W. Teh, "The Concrete Distribution", ICLR 2017.

    Args:
        logits: (..., K) unnormalised log-probabilities.
        tau: temperature of the relaxation (> 0).
        generator: the randomness.

    Returns:
        (relaxed samples (..., K) on the simplex, with their gradient; indices (...) int64).

    Example:
        >>> soft, index = gumbel_softmax(torch.zeros(2, 3), 0.5, torch.Generator().manual_seed(0))
        >>> soft.sum(-1).tolist(), torch.equal(index, soft.argmax(-1))
        ([1.0, 1.0], True)
    """
    if not (isinstance(tau, (int, float)) and not isinstance(tau, bool) and tau > 0):
        raise ModelError(f"Gumbel-softmax temperature tau must be a number > 0, got {tau!r}")
    perturbed = logits + gumbel(tuple(logits.shape), generator, logits.device, logits.dtype)
    return torch.softmax(perturbed / tau, dim=-1), perturbed.argmax(-1)


def gumbel_softmax_st(
    logits: Tensor, tau: float = 1.0, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Straight-through Gumbel-softmax: exact categorical one-hot samples with the relaxed sample's gradient.

    The forward value is the one-hot code of argmax(logits + G), an exact draw from softmax(logits); the
    backward pass sees softmax((logits + G) / tau), the Gumbel-softmax relaxation.

    References:
        E. Jang, S. Gu, B. Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017 (Sec. 2.2,
        straight-through estimator); C. J. Maddison, A. Mnih, Y. W. Teh, "The Concrete Distribution", ICLR 2017.

    Args:
        logits: (..., K) unnormalised log-probabilities.
        tau: temperature of the relaxation (> 0).
        generator: the randomness.

    Returns:
        (one-hot samples (..., K) carrying the relaxed gradient, indices (...) int64).
    """
    soft, index = gumbel_softmax(logits, tau, generator)
    hard = F.one_hot(index, logits.shape[-1]).to(logits.dtype)
    return hard - soft.detach() + soft, index

"""Randomness from explicit seeds: one conversion from a seed or generator to a torch.Generator."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from qgen.errors import QgenError

__all__ = ["as_generator", "uniform"]


def as_generator(generator: torch.Generator | int | None, device: Any = None) -> torch.Generator | None:
    """A torch.Generator from a generator (returned as is), an integer seed, or None (torch's global RNG).

    Args:
        device: where a generator made from a seed lives (CPU by default).
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator(device=device or "cpu").manual_seed(int(generator))
    raise QgenError(f"generator must be a torch.Generator, an integer seed or None, got {type(generator).__name__}")


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """float64 uniforms in [0, 1) drawn on the generator's device and moved to `device`."""
    dev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=dev).to(device)

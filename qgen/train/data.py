"""Training data as the Trainer sees it: validated once, split once, batched in the model's dtype."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from qgen.errors import TrainingError
from qgen.models.base import GenerativeModel, Strings

__all__ = ["as_training_data", "check_training_data", "split", "batch_rows"]

# Rows validated at a time: the validator's int64 copy of a chunk stays small whatever the data size.
_CHECK_ROWS = 1 << 16


def as_training_data(data: Any) -> Tensor:
    """Training data as a CPU tensor: a tensor, a numpy array, or anything with `.outcomes` / `.vectors`."""
    for attribute in ("outcomes", "vectors"):
        if hasattr(data, attribute):
            data = getattr(data, attribute)
            break
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, Tensor):
        raise TrainingError(
            f"data must be an (n, N) tensor or array, or have .outcomes or .vectors; got {type(data).__name__}"
        )
    return data.cpu()


def check_training_data(model: GenerativeModel, data: Any) -> Tensor:
    """The data validated against the model's support (OutcomeError names what is wrong).

    Strings stay in their compact dtype (uint8 on disk) until a batch is drawn; vectors are returned as the
    support's validator makes them.
    """
    x = as_training_data(data)
    if x.ndim != 2 or x.shape[0] < 1:
        raise TrainingError(f"data must be a non-empty (n, d) array, got shape {tuple(x.shape)}")
    if not isinstance(model.support, Strings):
        return model.support.check(x)
    for start in range(0, x.shape[0], _CHECK_ROWS):
        model.support.check(x[start : start + _CHECK_ROWS])
    return x


def split(x: Tensor, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train, validation) rows: a seeded permutation, the last round(val_fraction * n) rows held out."""
    n = x.shape[0]
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    if n - n_val < 1:
        raise TrainingError(f"{n} samples leave nothing to train on with val_fraction={val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return x[perm[n_val:]], x[perm[:n_val]]


def batch_rows(model: GenerativeModel, rows: Tensor) -> Tensor:
    """A batch as the model takes it: int64 strings, or vectors in the model's dtype."""
    if isinstance(model.support, Strings):
        return rows.long()
    return rows.to(model.dtype)

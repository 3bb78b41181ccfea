"""The training history: one value per epoch and column, and batch-size-weighted means summed over ranks."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from qgen.train.distributed import Distributed

__all__ = ["WeightedMeans", "record", "epoch_line", "summary_line", "divergence"]


class WeightedMeans:
    """Running batch-size-weighted sums of named scalars, kept on the device (no host sync per batch).

    Example:
        >>> m = WeightedMeans(torch.device("cpu"))
        >>> m.add({"loss": 2.0}, 1); m.add({"loss": 5.0}, 2)
        >>> m.means(Distributed())
        {'loss': 4.0}
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, values: dict[str, Any], n: int) -> None:
        """Add batch means `values` of a batch of n rows."""
        for key, value in values.items():
            value = torch.as_tensor(value, dtype=torch.float64, device=self.device).detach()
            self.sums[key] = self.sums.get(key, 0.0) + value * n
        self.count += n

    def current(self, key: str) -> float:
        """This rank's running mean of one column (for a progress bar)."""
        return float(self.sums[key]) / max(self.count, 1)

    def means(self, dist: Distributed) -> dict[str, float]:
        """The means over every row of every rank (one collective for all columns)."""
        keys = sorted(self.sums)
        count = torch.tensor(float(self.count), dtype=torch.float64, device=self.device)
        totals = dist.sum_over_ranks(torch.stack([*(self.sums[k] for k in keys), count]))
        if totals[-1] <= 0:
            return {}
        return {k: float(totals[i] / totals[-1]) for i, k in enumerate(keys)}


def record(history: dict[str, list[float]], epoch: int, values: dict[str, float]) -> None:
    """Set epoch `epoch`'s (from 1) entries; every column stays one value per epoch (NaN where missing)."""
    for key, value in values.items():
        column = history.setdefault(key, [])
        column.extend([math.nan] * (epoch - len(column)))
        column[epoch - 1] = float(value)
    for column in history.values():
        column.extend([math.nan] * (epoch - len(column)))


def epoch_line(epoch: int, epochs: int, shown: dict[str, str], values: dict[str, float]) -> str:
    """The log line of one epoch: "epoch 3/50  loss=2.3010  val=2.3120  lr=0.001  12.3 s"."""
    numbers = "  ".join(f"{k}={v}" for k, v in shown.items())
    return f"epoch {epoch}/{epochs}  {numbers}  lr={values['lr']:.3g}  {values['time']:.1f} s"


def summary_line(history: dict[str, list[float]], epochs_run: int, reason: str, restored: str | None, mode: str) -> str:
    """The final line: epochs run, why training stopped, and the best value of the restored column.

    Example:
        >>> summary_line({"val_loss": [3.0, 2.0, 2.5]}, 3, "all 3 epochs done", "val_loss", "min")
        'trained 3 epochs (all 3 epochs done); best val_loss 2 at epoch 2, weights restored'
    """
    text = f"trained {epochs_run} epochs ({reason})"
    finite = [v for v in history.get(restored or "", []) if math.isfinite(v)]
    if restored and finite:
        best = min(finite) if mode == "min" else max(finite)
        text += f"; best {restored} {best:.6g} at epoch {history[restored].index(best) + 1}, weights restored"
    return text


def divergence(history: dict[str, list[float]], n_sites: int, n_symbols: int) -> str:
    """Why a maximum-likelihood run on strings failed, or "" when it did not.

    A model that never comes near the uniform distribution, whose NLL per string is N log K, has learnt nothing
    and blown up: its best loss (validation if any, else training) more than 10 % (at least 0.5 nats) above that
    line means the run diverged. A short run that has not yet left the uniform level is not flagged.

    Example:
        >>> divergence({"val_loss": [9.1, 8.7]}, 4, 4)  # 4 log 4 = 5.545
        "the best val_loss 8.7 is far above the uniform distribution's 5.545 (N log K): training diverged"
        >>> divergence({"val_loss": [5.7]}, 4, 4)  # not better than uniform yet, but not diverged
        ''
    """
    uniform = n_sites * math.log(n_symbols)
    for key in ("val_loss", "train_loss"):
        finite = [v for v in history.get(key, []) if math.isfinite(v)]
        if finite:
            best = min(finite)
            if best > uniform + max(0.5, 0.1 * uniform):
                return (
                    f"the best {key} {best:.4g} is far above the uniform distribution's {uniform:.4g} (N log K): "
                    "training diverged"
                )
            return ""
    return ""

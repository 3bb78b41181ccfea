"""Training: one engine (Trainer) for every model family, checkpoints, data parallelism, data-size defaults."""

from __future__ import annotations

from qgen.train.defaults import default_settings, train
from qgen.train.trainer import Callback, Trainer

__all__ = ["Trainer", "Callback", "train", "default_settings"]

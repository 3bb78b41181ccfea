"""Reconstructors: the GenerativeModel interface, the autoregressive models, and build/save/load by name."""

from __future__ import annotations

from qgen.models.autoregressive import AutoregressiveModel
from qgen.models.base import GenerativeModel
from qgen.models.io import load, save
from qgen.models.pixelcnn import PixelCNN
from qgen.models.registry import MODELS, build, from_config, register
from qgen.models.rnn import RNN
from qgen.models.transformer import Transformer
from qgen.seeding import as_generator

__all__ = [
    "GenerativeModel",
    "AutoregressiveModel",
    "RNN",
    "PixelCNN",
    "Transformer",
    "MODELS",
    "register",
    "build",
    "from_config",
    "save",
    "load",
    "as_generator",
]

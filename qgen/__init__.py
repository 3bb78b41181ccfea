"""qgen: reconstruct quantum states from measurement data with generative models."""

from __future__ import annotations

from qgen.errors import (
    DataFormatError,
    MetricError,
    ModelError,
    NoiseError,
    POVMError,
    QgenError,
    StateError,
    TrainingError,
)
from qgen.povm import POVM

__version__ = "0.1.0"

__all__ = [
    "POVM",
    "QgenError",
    "POVMError",
    "NoiseError",
    "StateError",
    "DataFormatError",
    "ModelError",
    "TrainingError",
    "MetricError",
    "__version__",
]

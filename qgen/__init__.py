"""qgen: reconstruct quantum states from measurement data with generative models."""

from __future__ import annotations

import importlib
from typing import Any

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
from qgen.measurement.povm import POVM
from qgen.version import __version__

# Public names that live in modules importing torch, h5py or scipy: loaded on first use, so that
# `import qgen` and `qgen --help` stay fast (torch alone takes seconds to import).
_LAZY = {
    "MeasurementData": "qgen.data",
    "save": "qgen.data",
    "load": "qgen.data",
    "MeasurementWriter": "qgen.data",
    "BasisSamplingWarning": "qgen.data",
    "import_qucumber": "qgen.data",
    "import_outcomes": "qgen.data",
    "import_state_vector_text": "qgen.data",
    "import_density_matrix_text": "qgen.data",
    "reconstruct_density_matrix": "qgen.metrics",
    "simulate": "qgen.data",
    "classical_fidelity": "qgen.metrics",
    "kl_divergence": "qgen.metrics",
    "reverse_kl": "qgen.metrics",
    "quantum_fidelity": "qgen.metrics",
    "expectation": "qgen.metrics",
    "correlation_matrix": "qgen.metrics",
    "magnetization": "qgen.metrics",
    "Estimate": "qgen.metrics",
    "EmpiricalDistribution": "qgen.metrics",
    "evaluate": "qgen.report",
    "write_simulation": "qgen.data",
    "Trainer": "qgen.train",
}
# Subpackages and modules reachable as attributes of `qgen` (imported on first use).
_SUBMODULES = {
    "states": "qgen.states",
    "measurement": "qgen.measurement",
    "noise": "qgen.measurement.noise",
    "data": "qgen.data",
    "models": "qgen.models",
    "backends": "qgen.backends",
    "train": "qgen.train",
    "metrics": "qgen.metrics",
    "observables": "qgen.metrics.observables",
    "report": "qgen.report",
    "plots": "qgen.report.plots",
    "reproduce": "qgen.reproduce",
}

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
    *_LAZY,
    *_SUBMODULES,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'qgen' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

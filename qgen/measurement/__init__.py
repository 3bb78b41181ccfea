"""Measurement: POVMs, local noise, and the exact outcome distributions P(a) of states (log_prob, sampling)."""

from __future__ import annotations

import importlib
from typing import Any

from qgen.measurement.povm import NAMED_POVMS, POVM

__all__ = [
    "POVM",
    "NAMED_POVMS",
    "Measurement",
    "DenseMeasurement",
    "MPSMeasurement",
    "refine_povm",
    "noise",
]

# Re-exported on first use: these modules import torch, which `import qgen` must not pay for.
_LAZY = {
    "Measurement": "qgen.measurement.base",
    "DenseMeasurement": "qgen.measurement.dense",
    "MPSMeasurement": "qgen.measurement.mps",
    "refine_povm": "qgen.measurement.mps",
}


def __getattr__(name: str) -> Any:
    if name == "noise":
        return importlib.import_module("qgen.measurement.noise")
    if name not in _LAZY:
        raise AttributeError(f"module 'qgen.measurement' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)

"""The qgen exception hierarchy: one base class, one subclass per kind of bad input."""

from __future__ import annotations

__all__ = [
    "QgenError",
    "POVMError",
    "NoiseError",
    "StateError",
    "DataFormatError",
    "ModelError",
    "TrainingError",
    "MetricError",
    "OutcomeError",
]


class QgenError(Exception):
    """Base class of every error qgen raises on purpose."""


class POVMError(QgenError, ValueError):
    """A POVM is not valid (not Hermitian, not positive, does not sum to the identity, wrong shape)."""


class NoiseError(QgenError, ValueError):
    """A noise channel was given a parameter outside its range or an unknown name."""


class StateError(QgenError, ValueError):
    """A quantum state or observable is malformed (wrong size, not normalised, unknown name)."""


class DataFormatError(QgenError, ValueError):
    """A data set file or array does not follow the qgen format; the message names the file and field."""


class ModelError(QgenError, ValueError):
    """A model was asked for something it cannot do, or a checkpoint does not rebuild a model."""


class TrainingError(QgenError, RuntimeError):
    """Training cannot start or continue (bad configuration, missing or corrupt checkpoint)."""


class MetricError(QgenError, ValueError):
    """An evaluation was asked for something ill-posed (mismatched sizes, too many strings to enumerate)."""


class OutcomeError(QgenError, ValueError):
    """A batch of outcome strings is malformed: not integers, wrong shape, or a symbol outside [0, K)."""

"""Alias of `qgen.measurement.povm` (single-qubit POVMs), kept so that existing imports of `qgen.povm` work."""

from qgen.measurement.povm import *  # noqa: F403
from qgen.measurement.povm import __all__  # noqa: F401

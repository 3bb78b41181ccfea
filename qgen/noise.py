"""Alias of `qgen.measurement.noise` (local noise channels), kept so that existing imports of `qgen.noise` work."""

from qgen.measurement.noise import *  # noqa: F403
from qgen.measurement.noise import __all__  # noqa: F401

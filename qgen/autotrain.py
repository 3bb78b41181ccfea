"""Alias of `qgen.train.defaults` (training with data-size defaults), kept so `qgen.autotrain` imports work."""

from qgen.train.defaults import *  # noqa: F403
from qgen.train.defaults import __all__  # noqa: F401

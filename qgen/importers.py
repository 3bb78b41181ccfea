"""Alias of `qgen.data.importers` (QuCumber and text importers), kept so `qgen.importers` imports work."""

from qgen.data.importers import *  # noqa: F403
from qgen.data.importers import __all__  # noqa: F401

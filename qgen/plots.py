"""Alias of `qgen.report.plots` (figures), kept so that existing imports of `qgen.plots` work."""

from qgen.report.plots import *  # noqa: F403
from qgen.report.plots import __all__  # noqa: F401

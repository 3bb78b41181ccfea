"""Alias of `qgen.report.evaluation` (evaluation reports), kept so that existing imports of `qgen.evaluation` work."""

from qgen.report.evaluation import *  # noqa: F403
from qgen.report.evaluation import __all__  # noqa: F401

"""Paper and tutorial figures, one module each, run by name through a registry (`qgen reproduce`)."""

from __future__ import annotations

from qgen.reproduce.registry import FIGURES, MISSING, FigureEntry, figure_entry, reproduce

__all__ = ["FIGURES", "MISSING", "FigureEntry", "figure_entry", "reproduce"]

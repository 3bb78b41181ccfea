"""Reports for people: evaluate a model against a target or data (JSON), figures, the demo."""

from __future__ import annotations

from qgen.report.evaluation import evaluate, run_evaluate, target_of, write_json

__all__ = ["evaluate", "run_evaluate", "target_of", "write_json"]

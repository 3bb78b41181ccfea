"""Estimate: a number, its standard error, and the estimator that produced it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qgen.errors import MetricError

__all__ = ["Estimate", "sample_mean"]


@dataclass(frozen=True)
class Estimate:
    """A value with its one-sigma standard error and the name of the estimator.

    Attributes:
        value: the estimate (may be inf, for example a KL divergence against a distribution that vanishes on
            the support of the other).
        stderr: one standard error; 0 for an exact enumeration.
        method: which estimator: "exact", "mc" (Monte Carlo from samples of the distribution named in
            `sampler`), "empirical" (plug-in estimate from the frequencies of samples), "mc-dual", ...
        n_samples: how many samples the estimate used (0 for an exact enumeration).
        details: extra JSON-able facts about the estimator (which distribution was sampled, the direction of a
            KL divergence, bootstrap size, ...).
    """

    value: float
    stderr: float
    method: str
    n_samples: int = 0
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; non-finite numbers become the strings "inf", "-inf" or "nan" (JSON has none)."""
        out = asdict(self)
        out["value"] = _json_number(self.value)
        out["stderr"] = _json_number(self.stderr)
        if self.details is None:
            del out["details"]
        return out

    def interval(self, n_sigma: float = 2.0) -> tuple[float, float]:
        """The interval value +- n_sigma * stderr."""
        return self.value - n_sigma * self.stderr, self.value + n_sigma * self.stderr

    def __format__(self, spec: str) -> str:
        spec = spec or ".6g"
        return f"{self.value:{spec}} +- {self.stderr:{spec}} ({self.method})"


def _json_number(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def sample_mean(values: np.ndarray, method: str, details: dict[str, Any] | None = None) -> Estimate:
    """The mean of per-sample values with the standard error std / sqrt(n) (ddof = 1).

    Args:
        values: (n,) float64 per-sample estimator values, n >= 2.
        method: the estimator name recorded in the result.
        details: extra facts recorded in the result.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    n = v.size
    if n < 2:
        raise MetricError(f"a Monte-Carlo estimate with an error bar needs at least 2 samples, got {n}")
    mean = float(v.mean())
    if not math.isfinite(mean):
        return Estimate(mean, math.nan, method, n, details)
    return Estimate(mean, float(v.std(ddof=1) / math.sqrt(n)), method, n, details)

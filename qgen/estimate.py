"""Estimate: a number or an array of numbers, its standard error, and the estimator that produced it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from qgen.errors import MetricError

__all__ = ["Estimate", "sample_mean"]


def _as_value(x: Any, name: str) -> float | np.ndarray:
    """A float for a scalar, a read-only float64 array for anything with dimensions."""
    if isinstance(x, str):
        return _from_json_number(x)
    try:
        arr = np.array(x, dtype=np.float64)  # a copy: the Estimate must not change when the caller's array does
    except (TypeError, ValueError) as exc:
        raise MetricError(f"Estimate {name} must be a number or an array of numbers: {exc}") from None
    if arr.ndim == 0:
        return float(arr)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Estimate:
    """A value with its one-sigma standard error and the name of the estimator.

    Scalar or array-valued: an array of magnetizations (N,) or a correlation matrix (N, N) is one Estimate with
    value and stderr of the same shape (a scalar stderr is broadcast), estimated by one method from one set of
    samples. `est[i]` is the scalar Estimate of one entry.

    Attributes:
        value: the estimate, a float or a read-only float64 array (may hold inf, for example a KL divergence
            against a distribution that vanishes on the support of the other).
        stderr: one standard error, same shape as value; 0 for an exact enumeration.
        method: which estimator: "exact", "mc" (Monte Carlo from samples of the distribution named in
            `sampler`), "empirical" (plug-in estimate from the frequencies of samples), "mc-dual" (mean of the
            dual-frame estimator over outcome strings), ...
        n_samples: how many samples the estimate used (0 for an exact enumeration).
        details: extra JSON-able facts about the estimator (which distribution was sampled, the direction of a
            KL divergence, bootstrap size, ...).

    Example:
        >>> e = Estimate([0.5, -0.25], [0.01, 0.02], "mc-dual", 100)
        >>> e.to_dict()["value"], f"{e[1]:.2f}"
        ([0.5, -0.25], '-0.25 +- 0.02 (mc-dual)')
        >>> Estimate.from_dict(e.to_dict()) == e
        True
    """

    value: float | np.ndarray
    stderr: float | np.ndarray
    method: str
    n_samples: int = 0
    details: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        value = _as_value(self.value, "value")
        stderr = _as_value(self.stderr, "stderr")
        if np.shape(stderr) != np.shape(value):
            if np.ndim(stderr) != 0:
                raise MetricError(f"Estimate stderr has shape {np.shape(stderr)} but value has shape {np.shape(value)}")
            stderr = np.full(np.shape(value), stderr)
            stderr.setflags(write=False)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "stderr", stderr)
        object.__setattr__(self, "n_samples", int(self.n_samples))

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value: () for a scalar."""
        return np.shape(self.value)

    def __getitem__(self, index: Any) -> Estimate:
        """The Estimate of some entries of an array-valued estimate (same method, samples and details)."""
        if not self.shape:
            raise MetricError("a scalar Estimate cannot be indexed")
        return Estimate(self.value[index], self.stderr[index], self.method, self.n_samples, self.details)

    def __iter__(self) -> Any:
        # Observables used to return (value, stderr) tuples: unpacking an Estimate must fail loudly, not iterate
        # over the entries of an array-valued one (which for N = 2 would unpack silently into two entries).
        raise TypeError("an Estimate is not a (value, stderr) tuple: read .value and .stderr")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Estimate):
            return NotImplemented
        return (
            self.shape == other.shape
            and bool(np.array_equal(self.value, other.value, equal_nan=True))
            and bool(np.array_equal(self.stderr, other.stderr, equal_nan=True))
            and (self.method, self.n_samples, self.details) == (other.method, other.n_samples, other.details)
        )

    __hash__ = None  # type: ignore[assignment]  # equal estimates may hold arrays: not hashable

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: arrays become nested lists, and non-finite numbers the strings "inf", "-inf" or
        "nan" (JSON has none)."""
        out: dict[str, Any] = {
            "value": _json_numbers(self.value),
            "stderr": _json_numbers(self.stderr),
            "method": self.method,
            "n_samples": self.n_samples,
        }
        if self.details is not None:
            out["details"] = dict(self.details)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
        """The Estimate a `to_dict` output (for example read back from a report's JSON) describes."""
        try:
            value, stderr, method = d["value"], d["stderr"], d["method"]
        except (KeyError, TypeError):
            raise MetricError(f"an Estimate dict needs 'value', 'stderr' and 'method', got {d!r}") from None
        return cls(_from_json(value), _from_json(stderr), method, d.get("n_samples", 0), d.get("details"))

    def interval(self, n_sigma: float = 2.0) -> tuple[Any, Any]:
        """The interval value +- n_sigma * stderr (arrays for an array-valued estimate)."""
        return self.value - n_sigma * self.stderr, self.value + n_sigma * self.stderr

    def __format__(self, spec: str) -> str:
        spec = spec or ".6g"
        if not self.shape:
            return f"{self.value:{spec}} +- {self.stderr:{spec}} ({self.method})"
        fmt = {"float_kind": lambda x: format(x, spec)}
        value = np.array2string(self.value, formatter=fmt)
        stderr = np.array2string(self.stderr, formatter=fmt)
        return f"{value} +- {stderr} ({self.method})"


def _json_number(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _json_numbers(x: float | np.ndarray) -> Any:
    if isinstance(x, np.ndarray):
        if np.all(np.isfinite(x)):
            return x.tolist()
        return [_json_numbers(row) for row in x] if x.ndim > 1 else [_json_number(v) for v in x]
    return _json_number(x)


def _from_json_number(x: Any) -> float:
    if isinstance(x, str):
        if x not in ("inf", "-inf", "nan"):
            raise MetricError(f"an Estimate number must be a number, 'inf', '-inf' or 'nan', got {x!r}")
        return float(x)
    return float(x)


def _from_json(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_from_json(v) for v in x]
    return _from_json_number(x)


def sample_mean(values: Any, method: str, details: dict[str, Any] | None = None) -> Estimate:
    """The mean of per-sample values with the standard error std / sqrt(n) (ddof = 1).

    Args:
        values: (n,) per-sample values of a scalar estimator, or (n, ...) of an array-valued one (the mean is
            over the first axis); n >= 2.
        method: the estimator name recorded in the result.
        details: extra facts recorded in the result.

    Example:
        >>> sample_mean(np.array([[1.0, 0.0], [3.0, 0.0]]), "mc")
        Estimate(value=array([2., 0.]), stderr=array([1., 0.]), method='mc', n_samples=2, details=None)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0:
        v = v.reshape(1)
    n = v.shape[0]
    if n < 2:
        raise MetricError(f"a Monte-Carlo estimate with an error bar needs at least 2 samples, got {n}")
    mean = v.mean(axis=0)
    if v.ndim == 1:
        mean = float(mean)
        if not math.isfinite(mean):
            return Estimate(mean, math.nan, method, n, details)
        return Estimate(mean, float(v.std(ddof=1) / math.sqrt(n)), method, n, details)
    with np.errstate(invalid="ignore"):
        stderr = v.std(axis=0, ddof=1) / math.sqrt(n)
    stderr[~np.isfinite(mean)] = math.nan
    return Estimate(mean, stderr, method, n, details)

"""Outcome distributions as the metrics see them: any object with log_prob and sample, and the empirical one.

Models, targets' Measurements and EmpiricalDistribution meet here through `log_prob`, `sample`, `n_qubits`,
`n_outcomes` and `likelihood` alone (duck typing); the helpers below read them in float64 on the CPU.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError
from qgen.seeding import as_generator
from qgen.strings import MAX_ENUMERATION

__all__ = [
    "EmpiricalDistribution",
    "outcomes_array",
    "string_codes",
    "lexicographic_strings",
    "log_prob64",
    "draw",
    "as_generator",
    "likelihood_of",
    "check_enumerable",
    "outcome_probabilities",
]

# Strings enumerated per call of log_prob.
_CHUNK = 1 << 16


def likelihood_of(d: Any) -> str:
    """What d.log_prob means: "exact" (targets and exact models), "empirical", "lower_bound", ..."""
    return str(getattr(d, "likelihood", "exact"))


def _device(d: Any) -> torch.device:
    dev = getattr(d, "device", None)
    return dev if isinstance(dev, torch.device) else torch.device("cpu")


def log_prob64(d: Any, x: torch.Tensor) -> np.ndarray:
    """d.log_prob(x) as float64 numpy (n,): models may compute in float32; every sum downstream is float64."""
    with torch.no_grad():
        lp = d.log_prob(x.to(_device(d)))
    return torch.as_tensor(lp).detach().to("cpu", torch.float64).numpy().reshape(-1)


def draw(d: Any, n: int, generator: torch.Generator) -> torch.Tensor:
    """n samples of d as an int64 CPU tensor (n, N)."""
    with torch.no_grad():
        x = d.sample(int(n), generator=generator)
    return torch.as_tensor(x).detach().to("cpu", torch.int64)


def lexicographic_strings(start: int, stop: int, n_outcomes: int, n_qubits: int) -> torch.Tensor:
    """Strings number start..stop-1 of the lexicographic enumeration (site 0 most significant), int64."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    powers = n_outcomes ** torch.arange(n_qubits - 1, -1, -1, dtype=torch.int64)
    return (idx.unsqueeze(1) // powers) % n_outcomes


def outcomes_array(outcomes: Any, n_qubits: int | None = None, n_outcomes: int | None = None) -> np.ndarray:
    """Outcome strings as an int64 numpy array (n, N), validated; accepts numpy arrays and torch tensors.

    Args:
        outcomes: (n, N) integers with values in [0, K).
        n_qubits: N, checked when given.
        n_outcomes: K, checked when given.
    """
    if isinstance(outcomes, torch.Tensor):
        if outcomes.is_floating_point() or outcomes.is_complex():
            raise MetricError(f"outcomes must be integers, got dtype {outcomes.dtype}")
        arr = outcomes.detach().to("cpu", torch.int64).numpy()
    else:
        arr = np.asarray(outcomes)
        if arr.dtype.kind not in "iu":
            raise MetricError(f"outcomes must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
    if arr.ndim != 2:
        raise MetricError(f"outcomes must have shape (n_samples, n_qubits), got {arr.shape}")
    if n_qubits is not None and arr.shape[1] != n_qubits:
        raise MetricError(f"outcomes have {arr.shape[1]} sites, expected {n_qubits}")
    if arr.size and (arr.min() < 0 or (n_outcomes is not None and arr.max() >= n_outcomes)):
        raise MetricError(f"outcomes must lie in [0, {n_outcomes}), got values in [{arr.min()}, {arr.max()}]")
    return arr


def string_codes(outcomes: np.ndarray, n_outcomes: int) -> np.ndarray:
    """The index of each string in the lexicographic enumeration (site 0 most significant), int64 (n,)."""
    n_qubits = outcomes.shape[1]
    if n_qubits * math.log2(n_outcomes) > 62:
        raise MetricError(f"{n_outcomes}^{n_qubits} strings do not fit a 64-bit index")
    powers = n_outcomes ** np.arange(n_qubits - 1, -1, -1, dtype=np.int64)
    return outcomes @ powers


class EmpiricalDistribution:
    """The empirical distribution of a set of strings: P(a) = (number of rows equal to a) / n.

    It has the interface of a generative model (`log_prob`, `sample`, `n_qubits`, `n_outcomes`), so the raw
    data can be evaluated like a model: the baseline any reconstruction should beat. `likelihood` is
    "empirical": `log_prob` is exact for this distribution (-inf on strings never seen) but the distribution
    is only an estimate of the one the rows were drawn from.

    Args:
        outcomes: (n, N) integer array or tensor with values in [0, K), n >= 1; or a MeasurementData (its
            outcomes, POVMs and state spec are taken over).
        n_outcomes: K; taken from the data's POVM when not given.
    """

    likelihood = "empirical"

    def __init__(self, outcomes: Any, n_outcomes: int | None = None) -> None:
        self.povm = getattr(outcomes, "povm", None)
        self.ideal_povm = getattr(outcomes, "ideal_povm", None)
        self.state_spec = getattr(outcomes, "state", None)
        if hasattr(outcomes, "outcomes"):
            outcomes = outcomes.outcomes
        if n_outcomes is None:
            if self.povm is None:
                raise MetricError("EmpiricalDistribution needs n_outcomes when the outcomes carry no POVM")
            n_outcomes = self.povm.n_outcomes
        self.n_outcomes = int(n_outcomes)
        self.outcomes = outcomes_array(outcomes, n_outcomes=self.n_outcomes)
        if len(self.outcomes) == 0:
            raise MetricError("an empirical distribution needs at least one outcome string")
        self.n_qubits = int(self.outcomes.shape[1])
        self.unique, self.counts = np.unique(self.outcomes, axis=0, return_counts=True)

    @property
    def n_samples(self) -> int:
        """n, the number of rows."""
        return int(len(self.outcomes))

    def log_prob(self, x: Any) -> torch.Tensor:
        """log of the empirical frequency of each string, float64 (n,), -inf for strings never seen.

        Args:
            x: (n, N) integers in [0, K).
        """
        q = outcomes_array(x, self.n_qubits, self.n_outcomes)
        if len(q) == 0:
            return torch.zeros(0, dtype=torch.float64)
        # Jointly index stored and queried rows; works for any N, with no 64-bit string index needed.
        _, inverse = np.unique(np.concatenate([self.unique, q]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        counts = np.zeros(inverse.max() + 1, dtype=np.float64)
        counts[inverse[: len(self.unique)]] = self.counts
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(counts[inverse[len(self.unique) :]] / self.n_samples))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n rows drawn with replacement (a bootstrap resample), int64 (n, N)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise MetricError(f"number of samples must be a non-negative integer, got {n!r}")
        idx = torch.randint(self.n_samples, (int(n),), generator=generator)
        return torch.from_numpy(self.outcomes)[idx]

    def codes(self) -> np.ndarray:
        """The lexicographic index of every row, int64 (n,)."""
        return string_codes(self.outcomes, self.n_outcomes)

    def probabilities(self) -> torch.Tensor:
        """The frequencies of all K^N strings in lexicographic order (site 0 most significant), float64."""
        total = self.n_outcomes**self.n_qubits
        if total > MAX_ENUMERATION:
            raise MetricError(f"{self.n_outcomes}^{self.n_qubits} strings exceed the enumeration limit")
        counts = np.bincount(self.codes(), minlength=total).astype(np.float64)
        return torch.from_numpy(counts / self.n_samples)

    def __repr__(self) -> str:
        return f"EmpiricalDistribution(n_qubits={self.n_qubits}, n_outcomes={self.n_outcomes}, n={self.n_samples})"


def check_enumerable(n_qubits: int, n_outcomes: int) -> int:
    """K^N, or a MetricError when it exceeds MAX_ENUMERATION."""
    total = n_outcomes**n_qubits
    if total > MAX_ENUMERATION:
        raise MetricError(
            f"exact enumeration of {n_outcomes}^{n_qubits} = {total:.3g} strings exceeds the limit of "
            f"{MAX_ENUMERATION}: use method='mc'"
        )
    return total


def outcome_probabilities(
    d: Any, n_qubits: int, n_outcomes: int, n_samples: int, gen: torch.Generator
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """d's probabilities of all K^N strings, as exactly as d allows.

    Exact likelihood: exp(log_prob) enumerated in chunks. EmpiricalDistribution: its frequencies. Any other
    model: the frequencies of n_samples of its samples.

    Returns:
        (probabilities (K^N,) float64, lexicographic codes (n,) of the rows the frequencies count or None when
        exact, number of rows counted).
    """
    total = check_enumerable(n_qubits, n_outcomes)
    if isinstance(d, EmpiricalDistribution):
        return d.probabilities().numpy(), d.codes(), d.n_samples
    if likelihood_of(d) == "exact":
        starts = range(0, total, _CHUNK)
        chunks = (lexicographic_strings(s, min(s + _CHUNK, total), n_outcomes, n_qubits) for s in starts)
        probs = np.concatenate([np.exp(log_prob64(d, x)) for x in chunks])
        return probs, None, 0
    codes = string_codes(draw(d, n_samples, gen).numpy(), n_outcomes)
    return np.bincount(codes, minlength=total) / len(codes), codes, len(codes)

"""Outcome distributions as the metrics see them: any object with log_prob and sample, tables, and the empirical one.

Models, targets' Measurements and EmpiricalDistribution meet here through `log_prob`, `sample`, `n_qubits`,
`n_outcomes` and `likelihood` alone (duck typing); the helpers below read them in float64 on the CPU. Exact
metrics share one table of log-probabilities per distribution (`log_probability_table`, `tabulate`): a target
gives it through `probabilities()`, an autoregressive model by walking its prefix tree
(`autoregressive_log_probabilities`, from qgen.metrics.prefix_tree), any other exact model through chunked
`log_prob`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError, QgenError
from qgen.metrics.prefix_tree import autoregressive_log_probabilities
from qgen.seeding import as_generator
from qgen.strings import (
    MAX_ENUMERATION,
    as_outcome_array,
    enumeration_size,
    positive_int,
    string_index,
    strings_in_range,
)

__all__ = [
    "EmpiricalDistribution",
    "TabulatedDistribution",
    "tabulate",
    "log_probability_table",
    "autoregressive_log_probabilities",
    "outcomes_array",
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


def draw(d: Any, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """n samples of d as an int64 CPU tensor (n, N)."""
    n = positive_int(n, "n_samples", error=MetricError)
    with torch.no_grad():
        x = d.sample(n, generator=generator)
    return torch.as_tensor(x).detach().to("cpu", torch.int64)


def outcomes_array(outcomes: Any, n_qubits: int | None = None, n_outcomes: int | None = None) -> np.ndarray:
    """Outcome strings as an int64 numpy array (n, N), validated by `qgen.strings.as_outcome_array`.

    Args:
        outcomes: (n, N) integers with values in [0, K) (numpy array, tensor or lists).
        n_qubits: N, checked when given.
        n_outcomes: K, checked when given (otherwise only values >= 0 are required).

    Raises:
        OutcomeError: not integers, wrong shape, or a value outside [0, K).
    """
    k = n_outcomes if n_outcomes is not None else np.iinfo(np.int64).max
    return as_outcome_array(outcomes, n_qubits, k, dtype=np.int64)


def check_enumerable(n_qubits: int, n_outcomes: int) -> int:
    """K^N, or a MetricError when it exceeds qgen.strings.MAX_ENUMERATION (the one enumeration limit)."""
    try:
        return enumeration_size(n_outcomes, n_qubits, error=MetricError)
    except MetricError as exc:
        raise MetricError(f"{exc}: use method='mc'") from None


class EmpiricalDistribution:
    """The empirical distribution of a set of strings: P(a) = (number of rows equal to a) / n.

    It has the interface of a generative model (`log_prob`, `sample`, `n_qubits`, `n_outcomes`), so the raw
    data can be evaluated like a model: the baseline any reconstruction should beat. `likelihood` is
    "empirical": `log_prob` is exact for this distribution (-inf on strings never seen) but the distribution
    is only an estimate of the one the rows were drawn from.

    The distinct strings are sorted once at construction (O(n log n), `np.unique` on their lexicographic
    indices, or on their bytes when K^N exceeds 64 bits); `log_prob` finds each query by binary search
    (O(log n) per string).

    Args:
        outcomes: (n, N) integer array or tensor with values in [0, K), n >= 1; or a MeasurementData (its
            outcomes, POVMs and state spec are taken over).
        n_outcomes: K; taken from the data's POVM when not given.

    Example:
        >>> emp = EmpiricalDistribution(np.array([[0, 1], [0, 1], [1, 1]]), 2)
        >>> emp.log_prob(np.array([[0, 1], [1, 0]])).exp().tolist()
        [0.6666666666666666, 0.0]
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
        self.n_outcomes = positive_int(n_outcomes, "n_outcomes", minimum=2, error=MetricError)
        self.outcomes = outcomes_array(outcomes, n_outcomes=self.n_outcomes)
        if len(self.outcomes) == 0:
            raise MetricError("an empirical distribution needs at least one outcome string")
        self.n_qubits = int(self.outcomes.shape[1])
        # Whether every string has a 64-bit lexicographic index (K^N < 2^62).
        self._indexable = self.n_qubits * math.log2(self.n_outcomes) <= 62
        keys = self._key(self.outcomes)
        self._codes = keys if self._indexable else None
        self._keys, self._counts = np.unique(keys, return_counts=True)

    def _key(self, rows: np.ndarray) -> np.ndarray:
        """One sortable key per row: its lexicographic index, or its bytes when K^N does not fit 64 bits."""
        if self._indexable:
            return string_index(rows, self.n_outcomes)
        dtype = np.uint8 if self.n_outcomes <= 256 else np.dtype(">u4")  # big-endian: bytes sort like numbers
        packed = np.ascontiguousarray(rows.astype(dtype))
        return packed.view(np.dtype((np.void, packed.shape[1] * packed.itemsize))).reshape(-1)

    @property
    def n_samples(self) -> int:
        """n, the number of rows."""
        return int(len(self.outcomes))

    @property
    def counts(self) -> np.ndarray:
        """How often each distinct row occurs, (m,) int64, in the order of the sorted keys."""
        return self._counts

    def log_prob(self, x: Any) -> torch.Tensor:
        """log of the empirical frequency of each string, float64 (n,), -inf for strings never seen.

        Args:
            x: (n, N) integers in [0, K).
        """
        q = outcomes_array(x, self.n_qubits, self.n_outcomes)
        if len(q) == 0:
            return torch.zeros(0, dtype=torch.float64)
        keys = self._key(q)
        pos = np.searchsorted(self._keys, keys)
        inside = pos < len(self._keys)
        found = np.zeros(len(q), dtype=bool)
        found[inside] = self._keys[pos[inside]] == keys[inside]
        out = np.full(len(q), -np.inf)
        out[found] = np.log(self._counts[pos[found]] / self.n_samples)
        return torch.from_numpy(out)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n rows drawn with replacement (a bootstrap resample), int64 (n, N)."""
        n = positive_int(n, "number of samples", minimum=0, error=MetricError)
        idx = torch.randint(self.n_samples, (n,), generator=generator)
        return torch.from_numpy(self.outcomes)[idx]

    def codes(self) -> np.ndarray:
        """The lexicographic index of every row, int64 (n,).

        Raises:
            OutcomeError: K^N does not fit a 64-bit index.
        """
        return self._codes if self._codes is not None else string_index(self.outcomes, self.n_outcomes)

    def probabilities(self) -> torch.Tensor:
        """The frequencies of all K^N strings in lexicographic order (site 0 most significant), float64."""
        total = check_enumerable(self.n_qubits, self.n_outcomes)
        counts = np.zeros(total)
        counts[self._keys] = self._counts
        return torch.from_numpy(counts / self.n_samples)

    def __repr__(self) -> str:
        return f"EmpiricalDistribution(n_qubits={self.n_qubits}, n_outcomes={self.n_outcomes}, n={self.n_samples})"


def _is_autoregressive(d: Any) -> bool:
    from qgen.models.autoregressive import AutoregressiveModel

    return isinstance(d, AutoregressiveModel)


def log_probability_table(d: Any, n_qubits: int | None = None, n_outcomes: int | None = None) -> np.ndarray:
    """log P(a) of all K^N strings, float64 (K^N,), lexicographic order (site 0 most significant).

    From the cheapest exact source d has: a `TabulatedDistribution`'s table; a target's `probabilities()`
    (one contraction for all strings); an autoregressive model's prefix-tree walk; chunked `log_prob` for any
    other distribution with an exact likelihood. An EmpiricalDistribution gives its log-frequencies.

    Raises:
        MetricError: K^N exceeds MAX_ENUMERATION, or d's likelihood is neither exact nor empirical.
    """
    n = int(d.n_qubits if n_qubits is None else n_qubits)
    k = int(d.n_outcomes if n_outcomes is None else n_outcomes)
    total = check_enumerable(n, k)
    if isinstance(d, TabulatedDistribution):
        return d.table
    kind = likelihood_of(d)
    if kind not in ("exact", "empirical"):
        raise MetricError(f"a table of log-probabilities needs an exact likelihood, {type(d).__name__} has {kind!r}")
    probabilities = getattr(d, "probabilities", None)
    if callable(probabilities):
        try:
            p = torch.as_tensor(probabilities()).detach().to("cpu", torch.float64).numpy().reshape(-1)
        except QgenError:
            p = None  # too large for this representation's enumeration: fall back to log_prob in chunks
        if p is not None:
            with np.errstate(divide="ignore"):
                return np.log(p)
    if _is_autoregressive(d):
        return autoregressive_log_probabilities(d)
    chunks = (strings_in_range(s, min(s + _CHUNK, total), k, n) for s in range(0, total, _CHUNK))
    return np.concatenate([log_prob64(d, x) for x in chunks])


class TabulatedDistribution:
    """A distribution with the log-probabilities of all K^N strings computed once: `log_prob` is a lookup.

    Exact metrics of the same pair of distributions (classical fidelity, both KL divergences, the quantum
    fidelity) then share one table each instead of enumerating every string once per metric. `sample` is the
    source's. POVM attributes (`povm`, `ideal_povm`) are passed through.

    Args:
        source: a target's Measurement, a model with an exact likelihood, or an EmpiricalDistribution.
        table: the (K^N,) log-probabilities, when already computed (default: `log_probability_table(source)`).
    """

    def __init__(self, source: Any, table: np.ndarray | None = None) -> None:
        self.source = source
        self.n_qubits, self.n_outcomes = int(source.n_qubits), int(source.n_outcomes)
        self.likelihood = likelihood_of(source)
        self.table = log_probability_table(source) if table is None else np.asarray(table, dtype=np.float64)
        if self.table.shape != (self.n_outcomes**self.n_qubits,):
            raise MetricError(f"table must have shape ({self.n_outcomes}^{self.n_qubits},), got {self.table.shape}")
        self.table.setflags(write=False)
        for name in ("povm", "ideal_povm", "state"):
            if hasattr(source, name):
                setattr(self, name, getattr(source, name))

    def log_prob(self, x: Any) -> torch.Tensor:
        """log P(x) looked up in the table, float64 (n,)."""
        a = outcomes_array(x, self.n_qubits, self.n_outcomes)
        return torch.from_numpy(self.table[string_index(a, self.n_outcomes)])

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples of the source."""
        return self.source.sample(n, generator=generator)

    def probabilities(self) -> torch.Tensor:
        """P of all K^N strings, float64, lexicographic order."""
        return torch.from_numpy(np.exp(self.table))

    def __repr__(self) -> str:
        return f"TabulatedDistribution({self.source!r})"


def tabulate(d: Any) -> Any:
    """d with its table of log-probabilities computed once (a TabulatedDistribution), if d has an exact
    likelihood and K^N <= MAX_ENUMERATION; d itself otherwise."""
    if isinstance(d, TabulatedDistribution) or likelihood_of(d) != "exact":
        return d
    if d.n_outcomes**d.n_qubits > MAX_ENUMERATION:
        return d
    return TabulatedDistribution(d)


def outcome_probabilities(
    d: Any, n_qubits: int, n_outcomes: int, n_samples: int, gen: torch.Generator | None
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """d's probabilities of all K^N strings, as exactly as d allows.

    Exact likelihood: exp of `log_probability_table`. EmpiricalDistribution: its frequencies. Any other
    model: the frequencies of n_samples of its samples.

    Returns:
        (probabilities (K^N,) float64, lexicographic codes (n,) of the rows the frequencies count or None when
        exact, number of rows counted).
    """
    total = check_enumerable(n_qubits, n_outcomes)
    if isinstance(d, EmpiricalDistribution):
        return d.probabilities().numpy(), d.codes(), d.n_samples
    if likelihood_of(d) == "exact":
        return np.exp(log_probability_table(d, n_qubits, n_outcomes)), None, 0
    codes = string_index(draw(d, n_samples, gen).numpy(), n_outcomes)
    return np.bincount(codes, minlength=total) / len(codes), codes, len(codes)

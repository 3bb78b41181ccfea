"""Observables from outcome strings through the dual frame: Pauli strings, Hamiltonians, correlation matrices.

For a product observable O = x_i O_i and outcome strings a ~ P, <O> = E_a[prod_i Tr(O_i Q_{a_i})] where Q are
the duals of the POVM the strings were measured with (Carrasquilla et al., Nat. Mach. Intell. 1, 155
(2019)). Every function here averages that per-sample estimator over the strings and reports the standard
error std / sqrt(n) of the mean. Which POVM to pass decides what is estimated: the POVM as applied (noise
folded in) gives the noiseless state's observables (noise inverted); the ideal POVM gives the noisy state's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import MetricError, StateError
from qgen.measurement.povm import POVM
from qgen.metrics.distributions import outcomes_array
from qgen.pauli import parse_observable

__all__ = ["expectation", "correlation_matrix", "magnetization", "pauli_coefficients"]

# Rows of samples processed at once by correlation_matrix: bounds the (rows, N) float64 working arrays.
_ROWS = 1 << 16


def pauli_coefficients(povm: POVM) -> dict[str, np.ndarray]:
    """Tr(P Q_a) for P in X, Y, Z, each a real (K,) array; I maps to ones (its marginal needs no estimate)."""
    out = {p: np.asarray(povm.coefficients(p), dtype=np.float64) for p in "XYZ"}
    out["I"] = np.ones(povm.n_outcomes)
    return out


def _prepare(outcomes: Any, povm: POVM) -> np.ndarray:
    if not isinstance(povm, POVM):
        raise MetricError(f"povm must be a qgen.POVM, got {type(povm).__name__}")
    a = outcomes_array(outcomes, n_outcomes=povm.n_outcomes)
    if len(a) < 2:
        raise MetricError(f"an observable with an error bar needs at least 2 outcome strings, got {len(a)}")
    return a


def _mean_stderr(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def expectation(outcomes: Any, povm: POVM, observable: str | dict[str, complex]) -> tuple[float, float]:
    """<O> and its standard error from outcome strings, for a Pauli string or a sum of them.

    For a sum O = sum_k c_k P_k (a Hamiltonian) the per-sample estimator is the total
    sum_k c_k prod_i Tr(P_k,i Q_{a_i}), so the standard error includes the covariances between the terms.

    Args:
        outcomes: (n, N) integer array or tensor with values in [0, K), n >= 2.
        povm: the POVM whose duals turn outcomes into estimates (see the module docstring).
        observable: a Pauli string of N letters among I, X, Y, Z ("XIIZ"), or a dict of such strings to real
            coefficients.

    Returns:
        (value, stderr).
    """
    a = _prepare(outcomes, povm)
    try:
        terms = parse_observable(observable, a.shape[1])
    except StateError as exc:
        raise MetricError(str(exc)) from None
    if any(abs(c.imag) > 1e-12 for c, _ in terms):
        raise MetricError("observable coefficients must be real (a Hermitian sum of Pauli strings)")
    table = pauli_coefficients(povm)
    total = np.zeros(len(a))
    for coef, string in terms:
        term = np.full(len(a), coef.real)
        for site, letter in enumerate(string):
            if letter != "I":
                term *= table[letter][a[:, site]]
        total += term
    return _mean_stderr(total)


def magnetization(outcomes: Any, povm: POVM, pauli: str = "Z") -> tuple[np.ndarray, np.ndarray]:
    """<P_i> on every site with standard errors, both (N,).

    Args:
        outcomes: (n, N) integers in [0, K), n >= 2.
        povm: the POVM whose duals turn outcomes into estimates.
        pauli: "X", "Y" or "Z".
    """
    a = _prepare(outcomes, povm)
    c = _site_table(povm, pauli)[a]
    return c.mean(axis=0), c.std(axis=0, ddof=1) / np.sqrt(len(a))


def _site_table(povm: POVM, pauli: str) -> np.ndarray:
    if not isinstance(pauli, str) or pauli.upper() not in ("X", "Y", "Z"):
        raise MetricError(f"pauli must be 'X', 'Y' or 'Z', got {pauli!r}")
    return pauli_coefficients(povm)[pauli.upper()]


def correlation_matrix(outcomes: Any, povm: POVM, pauli: str = "Z") -> tuple[np.ndarray, np.ndarray]:
    """<P_i P_j> for all pairs of sites with standard errors, both (N, N), in one vectorised pass.

    With c[s, i] = Tr(P Q_{a_si}), the estimate is C = c^T c / n and the variance of each entry comes from the
    second moment (c^2)^T (c^2) / n. The diagonal is exactly 1 with stderr 0 (P^2 = I), not an estimate; this
    is the convention of the exact values (`State.expectation`) and of the data sets' /reference group.

    Args:
        outcomes: (n, N) integers in [0, K), n >= 2.
        povm: the POVM whose duals turn outcomes into estimates.
        pauli: "X", "Y" or "Z".

    Returns:
        (values, stderrs), symmetric (N, N) float64 arrays.
    """
    a = _prepare(outcomes, povm)
    table = _site_table(povm, pauli)
    n, n_sites = a.shape
    first = np.zeros((n_sites, n_sites))
    second = np.zeros((n_sites, n_sites))
    for start in range(0, n, _ROWS):
        c = table[a[start : start + _ROWS]]
        first += c.T @ c
        c2 = c * c
        second += c2.T @ c2
    mean = first / n
    var = np.clip(second / n - mean**2, 0.0, None) * n / (n - 1)
    stderr = np.sqrt(var / n)
    np.fill_diagonal(mean, 1.0)
    np.fill_diagonal(stderr, 0.0)
    return mean, stderr

"""Observables from outcome strings through the dual frame: Pauli strings, Hamiltonians, correlation matrices.

For a product observable O = x_i O_i and outcome strings a ~ P, <O> = E_a[prod_i Tr(O_i Q_{a_i})] where Q are
the duals of the POVM the strings were measured with (Carrasquilla et al., Nat. Mach. Intell. 1, 155
(2019)). Every function here averages that per-sample estimator over the strings and returns an `Estimate`
with method "mc-dual" and the standard error std / sqrt(n) of the mean. Which POVM to pass decides what is
estimated: the POVM as applied (noise folded in) gives the noiseless state's observables (noise inverted); the
ideal POVM gives the noisy state's.

The estimator is unbiased only for observables in the span of the POVM's elements: the canonical dual frame
reconstructs R(O) = sum_a Tr(O Q_a) M_a, the orthogonal projection of O onto that span, and <R(O)> is what the
average estimates. A POVM that is not informationally complete (Z-basis data: span {I, Z}; the trine: no Y;
depolarizing noise of 3/4, which makes every element proportional to the identity) does not determine the
rest, and these functions raise a MetricError saying "not determined by this measurement" instead of
returning the projection's value (often 0.0 +- 0.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import MetricError, StateError
from qgen.estimate import Estimate, sample_mean
from qgen.measurement.povm import POVM
from qgen.metrics.distributions import outcomes_array
from qgen.pauli import PAULI, parse_observable

__all__ = [
    "expectation",
    "correlation_matrix",
    "magnetization",
    "pauli_coefficients",
    "reconstruction_matrix",
    "check_determined",
    "determined_terms",
    "NOT_DETERMINED",
]

#: The phrase every error about an observable the measurement cannot estimate contains (reports key on it).
NOT_DETERMINED = "not determined by this measurement"
# Rows of samples processed at once by correlation_matrix: bounds the (rows, N) float64 working arrays.
_ROWS = 1 << 16
# Relative Hilbert-Schmidt residual |O - R(O)|^2 / |O|^2 above which O is not in the POVM's span.
_SPAN_TOL = 1e-10
_LETTERS = "IXYZ"


def pauli_coefficients(povm: POVM) -> dict[str, np.ndarray]:
    """Tr(P Q_a) for P in X, Y, Z, each a real (K,) array; I maps to ones (its marginal needs no estimate)."""
    out = {p: np.asarray(povm.coefficients(p), dtype=np.float64) for p in "XYZ"}
    out["I"] = np.ones(povm.n_outcomes)
    return out


def reconstruction_matrix(povm: POVM) -> np.ndarray:
    """G[P, P'] = Tr(P' R(P)) / 2 for P, P' in I, X, Y, Z: the dual-frame reconstruction in the Pauli basis.

    R(P) = sum_a Tr(P Q_a) M_a is the orthogonal projection of P onto the span of the elements (canonical dual
    frame), so G is a symmetric projector: the identity for an informationally complete POVM, diag(1, 0, 0, 1)
    for a Z-basis measurement.

    Example:
        >>> z_basis = POVM([[[1, 0], [0, 0]], [[0, 0], [0, 1]]])
        >>> np.round(reconstruction_matrix(z_basis), 12).diagonal().tolist()
        [1.0, 0.0, 0.0, 1.0]
    """
    g = np.empty((4, 4))
    for i, p in enumerate(_LETTERS):
        r = np.einsum("a,aij->ij", povm.coefficients(PAULI[p]), povm.elements)
        for j, q in enumerate(_LETTERS):
            g[i, j] = np.trace(PAULI[q] @ r).real / 2
    return g


def _describe(terms: list[tuple[float, str]]) -> str:
    if len(terms) == 1:
        return f"<{terms[0][1]}>"
    return f"the expectation of this sum of {len(terms)} Pauli strings"


def check_determined(povm: POVM, terms: list[tuple[float, str]], what: str | None = None) -> None:
    """Raise unless the observable sum_k c_k P_k lies in the span of the POVM's N-site product elements.

    With G = `reconstruction_matrix(povm)`, the projection of O onto that span misses
    |O - R(O)|^2 = sum_kl c_k c_l (delta_kl - prod_i G[P_k,i, P_l,i]) (Hilbert-Schmidt, per 2^N); only terms
    with a letter that R does not reproduce contribute, so an informationally complete POVM costs nothing.

    Args:
        povm: the POVM whose duals estimate the observable.
        terms: (real coefficient, Pauli string) pairs.
        what: how the message names the observable.

    Raises:
        MetricError: the observable is not determined by this measurement.
    """
    g = reconstruction_matrix(povm)
    missing = [p for i, p in enumerate(_LETTERS) if abs(g[i, i] - 1) > _SPAN_TOL]
    if not missing:
        return
    merged: dict[str, float] = {}
    for c, s in terms:
        merged[s] = merged.get(s, 0.0) + float(c)
    bad = [(c, s) for s, c in merged.items() if c != 0 and any(ch in missing for ch in s)]
    if not bad:
        return
    norm = sum(c * c for c in merged.values())
    if np.all(np.abs(g - np.diag(np.diag(g))) <= _SPAN_TOL):
        # The span is spanned by Pauli letters (Z-basis data, the trine, full depolarization): distinct
        # strings are orthogonal after R, and each bad string loses all of its weight.
        residual = sum(c * c for c, _ in bad)
    else:
        idx = np.array([[_LETTERS.index(ch) for ch in s] for _, s in bad])
        coef = np.array([c for c, _ in bad])
        overlap = np.ones((len(bad), len(bad)))
        for site in range(idx.shape[1]):
            overlap *= g[idx[:, site][:, None], idx[:, site][None, :]]
        residual = float(coef @ (np.eye(len(bad)) - overlap) @ coef)
    if residual > _SPAN_TOL * norm:
        letters = ", ".join(missing)
        raise MetricError(
            f"{what or _describe(terms)} is {NOT_DETERMINED}: the POVM as applied ({povm.name}, "
            f"{povm.n_outcomes} outcomes) does not span {letters} on a qubit, so the dual-frame average would "
            "estimate only the observable's projection onto what was measured"
        )


def determined_terms(observable: str | dict[str, complex], n_sites: int, povm: POVM) -> list[tuple[float, str]]:
    """The (real coefficient, Pauli string) terms of an observable on n_sites, checked to be estimable.

    Raises:
        MetricError: malformed, not Hermitian (complex coefficients), or not determined by this measurement.
    """
    try:
        terms = parse_observable(observable, n_sites)
    except StateError as exc:
        raise MetricError(str(exc)) from None
    if any(abs(c.imag) > 1e-12 for c, _ in terms):
        raise MetricError("observable coefficients must be real (a Hermitian sum of Pauli strings)")
    real_terms = [(c.real, s) for c, s in terms]
    check_determined(povm, real_terms)
    return real_terms


def _prepare(outcomes: Any, povm: POVM) -> np.ndarray:
    if not isinstance(povm, POVM):
        raise MetricError(f"povm must be a qgen.POVM, got {type(povm).__name__}")
    a = outcomes_array(outcomes, n_outcomes=povm.n_outcomes)
    if len(a) < 2:
        raise MetricError(f"an observable with an error bar needs at least 2 outcome strings, got {len(a)}")
    return a


def _details(povm: POVM) -> dict[str, Any]:
    return {"povm": povm.name}


def expectation(outcomes: Any, povm: POVM, observable: str | dict[str, complex]) -> Estimate:
    """<O> with its standard error from outcome strings, for a Pauli string or a sum of them.

    For a sum O = sum_k c_k P_k (a Hamiltonian) the per-sample estimator is the total
    sum_k c_k prod_i Tr(P_k,i Q_{a_i}), so the standard error includes the covariances between the terms.

    Args:
        outcomes: (n, N) integer array or tensor with values in [0, K), n >= 2.
        povm: the POVM whose duals turn outcomes into estimates (see the module docstring).
        observable: a Pauli string of N letters among I, X, Y, Z ("XIIZ"), or a dict of such strings to real
            coefficients.

    Returns:
        Estimate (scalar) with method "mc-dual" and n_samples = n.

    Raises:
        MetricError: the observable is malformed, or not determined by this measurement.
        OutcomeError: the outcomes are malformed.

    Example:
        >>> import torch
        >>> from qgen.states import ghz
        >>> x = ghz(3).measured("tetra").sample(20_000, generator=torch.Generator().manual_seed(0))
        >>> e = expectation(x, POVM.named("tetra"), "ZZI")
        >>> e.method, e.n_samples, abs(e.value - 1) < 4 * e.stderr
        ('mc-dual', 20000, True)
    """
    a = _prepare(outcomes, povm)
    real_terms = determined_terms(observable, a.shape[1], povm)
    table = pauli_coefficients(povm)
    total = np.zeros(len(a))
    for coef, string in real_terms:
        term = np.full(len(a), coef)
        for site, letter in enumerate(string):
            if letter != "I":
                term *= table[letter][a[:, site]]
        total += term
    return sample_mean(total, "mc-dual", _details(povm))


def _site_table(povm: POVM, pauli: str, what: str) -> np.ndarray:
    if not isinstance(pauli, str) or pauli.upper() not in ("X", "Y", "Z"):
        raise MetricError(f"pauli must be 'X', 'Y' or 'Z', got {pauli!r}")
    letter = pauli.upper()
    check_determined(povm, [(1.0, letter)], what.format(p=letter))
    return pauli_coefficients(povm)[letter]


def magnetization(outcomes: Any, povm: POVM, pauli: str = "Z") -> Estimate:
    """<P_i> on every site, an array-valued Estimate of shape (N,).

    Args:
        outcomes: (n, N) integers in [0, K), n >= 2.
        povm: the POVM whose duals turn outcomes into estimates.
        pauli: "X", "Y" or "Z".

    Returns:
        Estimate with value and stderr of shape (N,), method "mc-dual", n_samples = n.

    Raises:
        MetricError: P is not determined by this measurement (the POVM as applied does not span it).
    """
    a = _prepare(outcomes, povm)
    c = _site_table(povm, pauli, "<{p}_i>")[a]
    return sample_mean(c, "mc-dual", _details(povm))


def correlation_matrix(outcomes: Any, povm: POVM, pauli: str = "Z") -> Estimate:
    """<P_i P_j> for all pairs of sites in one vectorised pass, an array-valued Estimate of shape (N, N).

    With c[s, i] = Tr(P Q_{a_si}), the estimate is C = c^T c / n and the variance of each entry comes from the
    second moment (c^2)^T (c^2) / n. The diagonal is exactly 1 with stderr 0 (P^2 = I), not an estimate; this
    is the convention of the exact values (`State.expectation`) and of the data sets' /reference group.

    Args:
        outcomes: (n, N) integers in [0, K), n >= 2.
        povm: the POVM whose duals turn outcomes into estimates.
        pauli: "X", "Y" or "Z".

    Returns:
        Estimate with symmetric (N, N) float64 value and stderr, method "mc-dual", n_samples = n.

    Raises:
        MetricError: P is not determined by this measurement (P x P lies in the span of the product elements
            only if P lies in the single-qubit span).
    """
    a = _prepare(outcomes, povm)
    n, n_sites = a.shape
    table = _site_table(povm, pauli, "<{p}_i {p}_j>")
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
    return Estimate(mean, stderr, "mc-dual", n, _details(povm))

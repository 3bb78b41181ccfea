"""Distances between outcome distributions (classical fidelity, KL divergence), with the estimator named.

The two arguments p and q are anything with `log_prob`, `sample`, `n_qubits` and `n_outcomes`: a target's
`Measurement`, a `GenerativeModel`, an `EmpiricalDistribution`. What their `log_prob` means is read from
their `likelihood` attribute ("exact" when absent): distributions with an exact likelihood are enumerated or
importance-weighted; the others are evaluated through their samples.

Definitions (Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019), Methods):
classical fidelity F(p, q) = sum_a sqrt(p(a) q(a)) in [0, 1]; KL(p || q) = sum_a p(a) log(p(a) / q(a)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError
from qgen.estimate import Estimate
from qgen.metrics.distributions import (
    as_generator,
    draw,
    likelihood_of,
    log_prob64,
    log_probability_table,
    outcome_probabilities,
)
from qgen.metrics.normalized import mean_of_samples, normalized, with_normalizer_error
from qgen.strings import as_outcomes

__all__ = ["classical_fidelity", "kl_divergence", "reverse_kl", "AUTO_ENUMERATION"]

#: Policy, not a limit: the largest outcome space that method="auto" enumerates exactly (and on which it evaluates
#: a model without an exact likelihood by the frequencies of its samples); above it "auto" goes Monte Carlo.
#: Explicit method="exact" enumerates up to qgen.strings.MAX_ENUMERATION, the one enumeration limit.
AUTO_ENUMERATION = 2**20
_CHUNK = 1 << 16
_N_BOOTSTRAP = 100
_METHODS = ("auto", "exact", "mc", "empirical")

LogTerm = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _fidelity_terms(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    # sqrt(p q) from logs: no underflow of tiny probabilities, and exp(-inf) = 0 where either vanishes.
    return np.exp(0.5 * (lp + lq))


def _kl_terms(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    # p log(p/q), with 0 log 0 = 0 and +inf where q vanishes on the support of p.
    out = np.zeros_like(lp)
    seen = lp > -np.inf
    with np.errstate(invalid="ignore"):
        out[seen] = np.exp(lp[seen]) * (lp[seen] - lq[seen])
    return out


def _shape(p: Any, q: Any) -> tuple[int, int]:
    """(N, K), checked equal for both distributions."""
    dims = []
    for name, d in (("p", p), ("q", q)):
        if not (hasattr(d, "log_prob") and hasattr(d, "sample")):
            raise MetricError(f"{name} must have log_prob and sample methods, got {type(d).__name__}")
        n = getattr(d, "n_qubits", None)
        k = getattr(d, "n_outcomes", None)
        if n is None or k is None:
            raise MetricError(f"{name} ({type(d).__name__}) must have n_qubits and n_outcomes attributes")
        dims.append((int(n), int(k)))
    if dims[0] != dims[1]:
        raise MetricError(f"p has (n_qubits, n_outcomes) = {dims[0]} but q has {dims[1]}")
    return dims[0]


def _exact_sum(p: Any, q: Any, n_qubits: int, n_outcomes: int, terms: LogTerm) -> tuple[float, dict[str, Any]]:
    """sum_a terms(log p(a), log q(a)) over all K^N strings, from one table per distribution; also the total
    masses of p and q (summed in chunks, so the temporaries stay small)."""
    lp_all = log_probability_table(p, n_qubits, n_outcomes)
    lq_all = log_probability_table(q, n_qubits, n_outcomes)
    acc, mass_p, mass_q = 0.0, 0.0, 0.0
    for start in range(0, len(lp_all), _CHUNK):
        lp, lq = lp_all[start : start + _CHUNK], lq_all[start : start + _CHUNK]
        acc += float(terms(lp, lq).sum())
        mass_p += float(np.exp(lp).sum())
        mass_q += float(np.exp(lq).sum())
    # A model whose "exact" likelihood is not normalised gives meaningless distances: say so, loudly.
    for name, mass in (("p", mass_p), ("q", mass_q)):
        if abs(mass - 1) > 1e-3:
            raise MetricError(f"{name} claims an exact likelihood but its probabilities sum to {mass:.6g}")
    return acc, {"total_probability_p": mass_p, "total_probability_q": mass_q}


def _sampled(d: Any, n_samples: int, gen: torch.Generator | None, samples: Any) -> torch.Tensor:
    """samples (validated) when given, else n_samples fresh draws of d."""
    if samples is None:
        return draw(d, n_samples, gen)
    return as_outcomes(samples, int(d.n_qubits), int(d.n_outcomes), device="cpu")


def _empirical(
    p: Any, q: Any, n_qubits: int, n_outcomes: int, n_samples: int, gen: torch.Generator, terms: LogTerm
) -> Estimate:
    """Plug-in estimate from frequencies, with a bootstrap standard error over the sampled side(s)."""
    total = n_outcomes**n_qubits
    (pp, cp, n_p), (pq, cq, n_q) = (outcome_probabilities(d, n_qubits, n_outcomes, n_samples, gen) for d in (p, q))

    def value(a: np.ndarray, b: np.ndarray) -> float:
        with np.errstate(divide="ignore"):
            return float(terms(np.log(a), np.log(b)).sum())

    estimate = value(pp, pq)
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
    reps = []
    for _ in range(_N_BOOTSTRAP):
        bp = pp if cp is None else np.bincount(rng.choice(cp, len(cp)), minlength=total) / len(cp)
        bq = pq if cq is None else np.bincount(rng.choice(cq, len(cq)), minlength=total) / len(cq)
        reps.append(value(bp, bq))
    reps = np.asarray(reps)
    stderr = float(reps.std(ddof=1)) if np.all(np.isfinite(reps)) else math.inf
    details = {"n_samples_p": n_p, "n_samples_q": n_q, "bootstrap": _N_BOOTSTRAP}
    return Estimate(estimate, stderr, "empirical", max(n_p, n_q), details)


def _choose(method: str, p: Any, q: Any, n_qubits: int, n_outcomes: int) -> str:
    if method not in _METHODS:
        raise MetricError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
    kinds = (likelihood_of(p), likelihood_of(q))
    both_exact = all(k == "exact" for k in kinds)
    small = n_outcomes**n_qubits <= AUTO_ENUMERATION
    if method == "auto":
        if both_exact:
            return "exact" if small else "mc"
        if small:
            return "empirical"
        raise MetricError(
            f"likelihoods {kinds}: a distribution without an exact likelihood is evaluated through the frequencies "
            f"of its samples, which needs K^N <= {AUTO_ENUMERATION} (here {n_outcomes}^{n_qubits}); "
            "compare observables instead"
        )
    if method == "mc" and not both_exact:
        raise MetricError(f"method 'mc' needs exact likelihoods for both p and q, got {kinds}: use 'empirical'")
    if method == "exact" and not all(k in ("exact", "empirical") for k in kinds):
        raise MetricError(f"method 'exact' needs exact likelihoods for both p and q, got {kinds}: use 'empirical'")
    if method == "exact" and not both_exact:
        return "empirical"
    return method


def classical_fidelity(
    p: Any,
    q: Any,
    method: str = "auto",
    *,
    n_samples: int = 10_000,
    generator: torch.Generator | int | None = None,
    sampler: str = "q",
    samples: Any = None,
) -> Estimate:
    """Classical fidelity F(p, q) = sum_a sqrt(p(a) q(a)) between two outcome distributions on K^N strings.

    Args:
        p: the reference distribution (typically the target's Measurement).
        q: the other distribution (typically the model).
        method: "exact" enumerates all K^N strings (up to MAX_ENUMERATION) and has stderr 0; "mc" averages over
            n_samples samples of `sampler`; "empirical" uses the frequencies of the samples of every distribution
            whose likelihood is not exact (small K^N only; bootstrap stderr); "auto" picks "exact" when both
            likelihoods are exact and K^N <= AUTO_ENUMERATION, "mc" when they are exact and K^N is larger,
            "empirical" otherwise.
        n_samples: samples drawn for "mc" and for sampling a non-exact distribution in "empirical".
        generator: torch.Generator or integer seed for the samples.
        sampler: which distribution the "mc" samples come from.
            "q": F = E_{a~q}[sqrt(p(a)/q(a))], the estimator of Carrasquilla et al. (2019), who sampled the
            model. Unbiased when the samples are exact draws of q and log p, log q are the exact normalised
            log-probabilities.
            "p": F = E_{a~p}[sqrt(q(a)/p(a))], unbiased under the same conditions with the roles exchanged
            (useful when the target is cheap to sample exactly, e.g. an MPS).
            No support condition is needed for either: strings where the sampled distribution vanishes are
            never drawn, and they contribute sqrt(p q) = 0 to F anyway. The variance is small when p ~ q and
            grows when the sampled distribution puts little weight where the other is large.
        samples: for "mc", (n, N) samples of the `sampler` distribution to average over instead of drawing
            n_samples new ones (so several metrics can share one set of model samples).

    Returns:
        Estimate with value in [0, 1] (up to Monte-Carlo noise); details name the sampler.
    """
    n_qubits, n_outcomes = _shape(p, q)
    gen = as_generator(generator)
    p, q = normalized(p, gen), normalized(q, gen)
    chosen = _choose(method, p, q, n_qubits, n_outcomes)
    if chosen == "exact":
        value, details = _exact_sum(p, q, n_qubits, n_outcomes, _fidelity_terms)
        est = Estimate(value, 0.0, "exact", 0, details)
    elif chosen == "empirical":
        est = _empirical(p, q, n_qubits, n_outcomes, n_samples, gen, _fidelity_terms)
    else:
        if sampler not in ("p", "q"):
            raise MetricError(f"sampler must be 'p' or 'q', got {sampler!r}")
        src, other = (q, p) if sampler == "q" else (p, q)
        x = _sampled(src, n_samples, gen, samples)
        ratio = np.exp(0.5 * (log_prob64(other, x) - log_prob64(src, x)))
        est = mean_of_samples(ratio, src, "mc", {"sampler": sampler})
    # F = sum sqrt(p q) scales as exp(-log Z / 2) in each normalised distribution
    return with_normalizer_error(est, [(p, 0.5 * float(est.value)), (q, 0.5 * float(est.value))])


def kl_divergence(
    p: Any,
    q: Any,
    method: str = "auto",
    *,
    direction: str = "forward",
    n_samples: int = 10_000,
    generator: torch.Generator | int | None = None,
    sampler: str | None = None,
    samples: Any = None,
) -> Estimate:
    """Kullback-Leibler divergence KL(p || q) = sum_a p(a) log(p(a)/q(a)) (direction="forward"), or KL(q || p).

    Args:
        p: the reference distribution (typically the target's Measurement).
        q: the other distribution (typically the model).
        method: "exact", "mc", "empirical" or "auto", as in `classical_fidelity`.
        direction: "forward" for KL(p || q) (the paper's KL of the model from the truth), "reverse" for KL(q || p).
        n_samples: samples drawn for "mc" and for sampling a non-exact distribution in "empirical".
        generator: torch.Generator or integer seed.
        sampler: which distribution the "mc" samples come from, "p" or "q"; default: the first argument of the
            KL in the chosen direction (p for forward). With samples of the first argument, u, the estimator
            E_{a~u}[log u(a) - log v(a)] of KL(u || v) is unbiased when the samples are exact and both log-
            probabilities are exact and normalised, provided v > 0 wherever u > 0; if v vanishes somewhere on u's
            support the true KL is +inf, and the estimate is +inf only if a sample lands there. With samples of
            the second argument, the importance-weighted E_{a~v}[(u/v) log(u/v)] is unbiased only when u's
            support lies inside v's, and is usually much noisier.
        samples: for "mc", (n, N) samples of the `sampler` distribution to average over instead of drawing
            n_samples new ones.

    Returns:
        Estimate (value >= 0 up to Monte-Carlo noise, +inf when the support condition fails on enumerated or
        sampled strings); details record the direction and the sampler. For "empirical" the plug-in KL against
        frequencies is biased, often +inf (strings never sampled); the bootstrap stderr covers only the noise.
    """
    if direction not in ("forward", "reverse"):
        raise MetricError(f"direction must be 'forward' or 'reverse', got {direction!r}")
    if sampler is not None and sampler not in ("p", "q"):
        raise MetricError(f"sampler must be 'p' or 'q', got {sampler!r}")
    label = "KL(p||q)" if direction == "forward" else "KL(q||p)"
    n_qubits, n_outcomes = _shape(p, q)
    gen = as_generator(generator)
    p, q = normalized(p, gen), normalized(q, gen)
    u, v = (p, q) if direction == "forward" else (q, p)
    est = _kl(u, v, label, method, direction, n_qubits, n_outcomes, n_samples, gen, sampler, samples)
    # KL(u||v) = E_u[log u - log v]: +1 per unit of log Z_v; -1 per unit of log Z_u (first order)
    return with_normalizer_error(est, [(v, 1.0), (u, 1.0)])


def _kl(
    u: Any,
    v: Any,
    label: str,
    method: str,
    direction: str,
    n_qubits: int,
    n_outcomes: int,
    n_samples: int,
    gen: torch.Generator | None,
    sampler: str | None,
    samples: Any,
) -> Estimate:
    chosen = _choose(method, u, v, n_qubits, n_outcomes)
    if chosen == "exact":
        value, details = _exact_sum(u, v, n_qubits, n_outcomes, _kl_terms)
        return Estimate(value, 0.0, "exact", 0, {"divergence": label, **details})
    if chosen == "empirical":
        est = _empirical(u, v, n_qubits, n_outcomes, n_samples, gen, _kl_terms)
        return Estimate(est.value, est.stderr, est.method, est.n_samples, {"divergence": label, **est.details})
    first = "p" if direction == "forward" else "q"
    sampler = sampler or first
    details = {"divergence": label, "sampler": sampler}
    if sampler == first:
        x = _sampled(u, n_samples, gen, samples)
        lu, lv = log_prob64(u, x), log_prob64(v, x)
        with np.errstate(invalid="ignore"):
            return mean_of_samples(lu - lv, u, "mc", details)
    x = _sampled(v, n_samples, gen, samples)
    lu, lv = log_prob64(u, x), log_prob64(v, x)
    return mean_of_samples(_kl_terms(lu - lv, np.zeros_like(lu)), v, "mc", details)


def reverse_kl(p: Any, q: Any, method: str = "auto", **kwargs: Any) -> Estimate:
    """KL(q || p): `kl_divergence(p, q, direction="reverse")`."""
    return kl_divergence(p, q, method, direction="reverse", **kwargs)

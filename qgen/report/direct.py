"""The model-free direct fidelity estimate <psi|rho|psi> through the dual frame, and the verdict of an estimate.

With Q(a) = Q_{a_0} x ... x Q_{a_N-1}, rho = sum_a P(a) Q(a), so F = E_{a ~ P}[<psi|Q(a)|psi>]: the mean over the
shots is unbiased and its standard error is std / sqrt(n) (Carrasquilla et al., Nat. Mach. Intell. 1, 155 (2019),
Methods). `decide` turns any fidelity estimate into PASS, FAIL or INCONCLUSIVE against a threshold; `validate`
(qgen.report.validate) uses both.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from qgen.errors import MetricError
from qgen.estimate import Estimate, sample_mean
from qgen.measurement.povm import POVM
from qgen.strings import as_outcome_array

__all__ = ["direct_fidelity", "decide", "confidence_z"]

# Shots per batch of dual-frame contractions: bounds the (rows, chi, chi) complex environments of an MPS target.
_ROWS = 1 << 13


def confidence_z(confidence: float) -> float:
    """z = Phi^-1(confidence), the one-sided normal quantile, for a confidence in (0.5, 1)."""
    if not 0.5 < float(confidence) < 1.0:
        raise MetricError(f"confidence must be in (0.5, 1), got {confidence!r}")
    return NormalDist().inv_cdf(float(confidence))


def _check_ready(target: Any, povm: POVM) -> None:
    if not getattr(target, "is_pure", False):
        raise MetricError("the direct fidelity estimate <psi|rho|psi> needs a pure target (a state vector or MPS)")
    if not povm.is_informationally_complete:
        raise MetricError(
            f"POVM {povm.name!r} is not informationally complete: <psi|rho|psi> is not determined by its outcomes"
        )


def direct_fidelity(outcomes: Any, target: Any, povm: POVM) -> Estimate:
    """Model-free, unbiased estimate of <psi|rho|psi> from raw outcome strings through the dual frame.

    Each shot a contributes <psi|Q_{a_0} x ... x Q_{a_N-1}|psi>, contracted site by site (MPS target) or applied
    to the state vector (dense target), batched over shots (qgen.metrics.fidelity.dual_overlaps).

    Args:
        outcomes: (n, N) integer array with values in [0, K), n >= 2.
        target: a pure State (DenseState with a vector, or MPSState).
        povm: an informationally complete POVM whose duals are used (the ideal one, to validate the noisy state).

    Returns:
        Estimate with method "direct-dual", stderr std / sqrt(n), and in details the per-shot variance and the
        measured growth of the second moment per qubit, (E[x^2])^(1/N).

    Raises:
        OutcomeError: outcomes are not (n, N) integers in [0, K) (floats are refused, not truncated).
        MetricError: the target is not pure or the POVM not informationally complete.

    Example:
        >>> from qgen.states import ghz
        >>> from qgen.data import simulate
        >>> data = simulate(ghz(3), "tetra", 4000, seed=1)
        >>> est = direct_fidelity(data.outcomes, ghz(3), data.povm)
        >>> abs(est.value - 1) < 4 * est.stderr
        True
    """
    from qgen.metrics.fidelity import dual_overlaps

    _check_ready(target, povm)
    a = as_outcome_array(outcomes, target.n_qubits, povm.n_outcomes, dtype=np.int64)
    x = np.concatenate([dual_overlaps(target, povm, a[s : s + _ROWS]) for s in range(0, len(a), _ROWS)])
    second = float(np.mean(x**2))
    details = {
        "per_shot_variance": float(x.var(ddof=1)) if len(x) > 1 else math.nan,
        "second_moment_per_qubit": second ** (1.0 / a.shape[1]),
        "povm": povm.name,
    }
    return sample_mean(x, "direct-dual", details)


def decide(value: float, stderr: float, n_shots: int, threshold: float, confidence: float) -> dict[str, Any]:
    """The verdict of a fidelity estimate against a threshold, from its one-sided normal confidence bounds.

    PASS when value - z stderr >= threshold, FAIL when value + z stderr < threshold, else INCONCLUSIVE, with
    z = Phi^-1(confidence). The shots that would decide assume the error falls as 1/sqrt(n) and the estimate
    stays where it is: n_decide = n (z stderr / |value - threshold|)^2.

    Example:
        >>> decide(0.95, 0.01, 1000, 0.9, 0.95)["verdict"]
        'PASS'
        >>> decide(0.91, 0.01, 1000, 0.9, 0.95)["further_shots"]
        1706
    """
    z = confidence_z(confidence)
    lower, upper = value - z * stderr, value + z * stderr
    verdict = "PASS" if lower >= threshold else "FAIL" if upper < threshold else "INCONCLUSIVE"
    gap = abs(value - threshold)
    if not math.isfinite(stderr) or gap == 0:
        needed: float | int = math.inf
    else:
        needed = math.ceil(n_shots * (z * stderr / gap) ** 2)
    further = 0 if verdict != "INCONCLUSIVE" else (needed - n_shots if math.isfinite(needed) else math.inf)
    return {
        "verdict": verdict,
        "threshold": float(threshold),
        "confidence": float(confidence),
        "lower_bound": lower,
        "upper_bound": upper,
        "shots_to_decide": needed,
        "further_shots": further,
    }

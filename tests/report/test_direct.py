"""direct_fidelity's input check: outcome strings go through the one validator (qgen.strings)."""

from __future__ import annotations

import numpy as np
import pytest

from qgen.errors import OutcomeError
from qgen.measurement.povm import POVM
from qgen.report.direct import direct_fidelity
from qgen.states import ghz


@pytest.mark.parametrize(
    "outcomes, message",
    [
        (np.array([[0.0, 1.7], [2.0, 3.0]]), "expected integers"),  # once truncated to [[0, 1], [2, 3]]
        (np.zeros((3, 3), dtype=np.int64), r"expected shape \(n, 2\)"),
        (np.array([[0, 4], [1, 1]]), r"expected values in \[0, 4\), found value 4 at row 0, column 1"),
    ],
)
def test_malformed_outcomes_are_refused_with_the_one_error_class(outcomes: np.ndarray, message: str) -> None:
    with pytest.raises(OutcomeError, match=message):
        direct_fidelity(outcomes, ghz(2), POVM.named("tetra"))


def test_ghz_bell_pair_direct_fidelity_of_exact_frequencies_is_one() -> None:
    # Independent reference: weighting each of the 16 strings by its exact P(a) makes the dual-frame sum
    # sum_a P(a) <psi|Q(a)|psi> = <psi|rho|psi> = 1 exactly; integer counts 10^6 P(a) (rounded) reproduce it
    # to the rounding error.
    m = ghz(2).measured("tetra")
    p = m.probabilities().numpy()
    counts = np.round(p * 1e6).astype(np.int64)
    strings = np.array([[a, b] for a in range(4) for b in range(4)])
    outcomes = np.repeat(strings, counts, axis=0)
    est = direct_fidelity(outcomes, ghz(2), POVM.named("tetra"))
    assert abs(est.value - 1.0) < 1e-5

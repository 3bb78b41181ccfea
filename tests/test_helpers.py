"""The shared test helpers do what the tests rely on: the chi-square helper, string counts, reference data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest, chisquare

from qgen.strings import all_outcomes
from tests.helpers import (
    GOF_THRESHOLD,
    assert_counts_fit,
    assert_samples_fit,
    chi_square_p_value,
    outcome_counts,
    require_reference,
)

# 12 cells, four of them rare: with 2,000 draws those expect 0.2 to 2 counts and are pooled.
PROBS = np.array([0.2, 0.15, 0.15, 0.1, 0.1, 0.1, 0.08, 0.0999, 0.02, 0.001, 0.0001, 0.0])
PROBS = PROBS / PROBS.sum()


def test_outcome_counts_use_the_order_of_all_outcomes() -> None:
    strings = all_outcomes(3, 4)
    assert np.array_equal(outcome_counts(strings, 3), np.ones(81, dtype=np.int64))
    for i in (0, 1, 27, 80):
        assert outcome_counts(strings[i : i + 1], 3).nonzero()[0].tolist() == [i]


def test_small_cells_are_pooled() -> None:
    counts = np.array([400, 300, 300, 200, 200, 200, 160, 200, 40, 0, 0, 0])
    n = counts.sum()
    expected = n * PROBS
    # Cells 9..11 expect 2.0, 0.2 and 0 counts: pooled into one cell of 2.2, still under 5, so it joins the
    # smallest other cell (cell 8, 40 expected).
    pooled_observed = list(counts[:8]) + [counts[8:].sum()]
    pooled_expected = list(expected[:8]) + [expected[8:].sum()]
    assert chi_square_p_value(counts, PROBS) == pytest.approx(chisquare(pooled_observed, pooled_expected).pvalue)
    # With a looser rule nothing but the zero cell is pooled.
    unpooled = chisquare(counts[:11], expected[:11]).pvalue
    assert chi_square_p_value(counts, PROBS, min_expected=1e-9) == pytest.approx(unpooled)


def test_an_impossible_outcome_fails() -> None:
    counts = np.array([400, 300, 300, 200, 200, 200, 160, 200, 40, 0, 0, 1])
    assert chi_square_p_value(counts, PROBS) == 0.0
    with pytest.raises(AssertionError, match="do not follow"):
        assert_counts_fit(counts, PROBS)


def test_p_values_are_uniform_under_the_null() -> None:
    # 400 seeded multinomial draws from PROBS itself: the fraction with p < 0.1 is a binomial(400, 0.1) count when
    # the pooled statistic is chi-square distributed; exact binomial test at 1e-3.
    rng = np.random.default_rng(0)
    p_values = np.array([chi_square_p_value(rng.multinomial(2_000, PROBS), PROBS) for _ in range(400)])
    assert binomtest(int((p_values < 0.1).sum()), 400, 0.1).pvalue > 1e-3
    assert binomtest(int((p_values < 0.5).sum()), 400, 0.5).pvalue > 1e-3


def test_a_slightly_wrong_distribution_is_rejected() -> None:
    # Samples from a 10% admixture of the uniform distribution over the possible cells.
    rng = np.random.default_rng(1)
    wrong = 0.9 * PROBS + 0.1 * (PROBS > 0) / (PROBS > 0).sum()
    samples = rng.choice(12, size=20_000, p=wrong)
    assert chi_square_p_value(np.bincount(samples, minlength=12), PROBS) < 1e-10
    assert assert_counts_fit(np.bincount(rng.choice(12, size=20_000, p=PROBS), minlength=12), PROBS) > GOF_THRESHOLD


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(AssertionError, match="sum to"):
        chi_square_p_value(np.array([10, 10]), np.array([0.5, 0.6]))
    with pytest.raises(AssertionError, match="integers"):
        chi_square_p_value(np.array([10.5, 10]), np.array([0.5, 0.5]))
    with pytest.raises(AssertionError, match="fewer than two cells"):
        chi_square_p_value(np.array([3, 0]), np.array([0.5, 0.5]))


def test_assert_samples_fit_counts_strings() -> None:
    strings = all_outcomes(2, 3)
    probs = np.arange(1, 9) / 36
    rng = np.random.default_rng(2)
    samples = strings[rng.choice(8, size=5_000, p=probs)]
    assert assert_samples_fit(samples, probs, 2) > GOF_THRESHOLD
    with pytest.raises(AssertionError):
        assert_samples_fit(samples, probs[::-1].copy(), 2)


def test_require_reference_skips_locally_and_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert require_reference(tmp_path) == tmp_path
    missing = tmp_path / "not-there"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not-there"):
        require_reference(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_reference(missing)

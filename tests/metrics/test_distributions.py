"""Tests of qgen.metrics.distributions: tables of log-probabilities, the prefix-tree walk, the empirical one."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from qgen.errors import MetricError, OutcomeError
from qgen.metrics.distributions import (
    EmpiricalDistribution,
    TabulatedDistribution,
    log_probability_table,
    outcome_probabilities,
    tabulate,
)
from qgen.strings import all_outcomes
from tests.helpers import product_samples


def test_table_of_a_target_is_its_log_probabilities(ising):
    _, m = ising[1.0]
    table = log_probability_table(m)
    np.testing.assert_allclose(table, m.log_prob(all_outcomes(4, 4)).numpy(), rtol=1e-10, atol=1e-12)
    t = TabulatedDistribution(m)
    x = m.sample(50, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(t.log_prob(x).numpy(), table[(x.numpy() * 4 ** np.arange(3, -1, -1)).sum(1)])
    assert t.povm is m.povm and t.likelihood == "exact" and tabulate(t) is t
    assert torch.equal(t.sample(5, generator=torch.Generator().manual_seed(1)), m.sample(5, generator=1))


def test_tables_refuse_what_is_not_a_likelihood(ising, samples_only):
    with pytest.raises(MetricError, match="exact likelihood"):
        log_probability_table(samples_only(ising[1.0][1]))
    assert tabulate(samples_only(ising[1.0][1])).likelihood == "none"  # left as it is
    with pytest.raises(MetricError, match="shape"):
        TabulatedDistribution(ising[1.0][1], np.zeros(7))


def test_empirical_distribution_matches_counts():
    x = product_samples(5000, seed=3).numpy()
    emp = EmpiricalDistribution(x, 4)
    counts = Counter(map(tuple, x.tolist()))
    queries = np.concatenate([x[:200], all_outcomes(4, 4).numpy()])
    expected = np.array([np.log(counts[tuple(r)] / 5000) if tuple(r) in counts else -np.inf for r in queries])
    np.testing.assert_array_equal(emp.log_prob(queries).numpy(), expected)
    probs, codes, n = outcome_probabilities(emp, 4, 4, 0, None)
    assert n == 5000 and abs(probs.sum() - 1) < 1e-12
    np.testing.assert_array_equal(np.bincount(codes, minlength=256) / 5000, probs)


def test_empirical_distribution_beyond_64_bit_indices():
    # 40 sites out of 4: 2^80 strings, no 64-bit index; rows are keyed by their bytes.
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 4, size=(300, 40))
    x = np.concatenate([rows, rows[:100], rows[:10]])
    emp = EmpiricalDistribution(x, 4)
    lp = emp.log_prob(np.concatenate([rows[:3], rows[150:151], rows[:1] ^ 1])).numpy()
    np.testing.assert_allclose(lp[:4], np.log(np.array([3, 3, 3, 1]) / 410))
    assert lp[4] == -np.inf
    with pytest.raises(OutcomeError, match="64-bit"):
        emp.codes()


def test_empirical_distribution_errors():
    with pytest.raises(OutcomeError, match="integers"):
        EmpiricalDistribution(np.zeros((3, 2)), 2)
    with pytest.raises(MetricError, match="at least one"):
        EmpiricalDistribution(np.zeros((0, 2), dtype=int), 2)
    with pytest.raises(MetricError, match="n_outcomes"):
        EmpiricalDistribution(np.zeros((3, 2), dtype=int))
    with pytest.raises(OutcomeError, match="shape"):
        EmpiricalDistribution(np.zeros((3, 2), dtype=int), 2).log_prob(np.zeros((1, 3), dtype=int))

"""Tests of qgen.strings: the one outcome validator, the enumeration and indexing of strings, positive_int."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qgen.errors import MetricError, OutcomeError, QgenError
from qgen.strings import (
    MAX_ENUMERATION,
    all_outcomes,
    as_outcome_array,
    as_outcomes,
    enumeration_size,
    positive_int,
    string_index,
    strings_in_range,
)


def test_enumeration_is_itertools_product():
    for k, n in ((2, 3), (3, 2), (4, 4)):
        expected = list(itertools.product(range(k), repeat=n))  # lexicographic, site 0 most significant
        assert [tuple(r) for r in all_outcomes(k, n).tolist()] == expected
        assert strings_in_range(5, 8, k, n).tolist() == [list(r) for r in expected[5:8]]
    with pytest.raises(OutcomeError, match="start <= stop"):
        strings_in_range(5, 9, 2, 3)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 7), st.integers(1, 12), st.integers(0, 2**31))
def test_string_index_inverts_the_enumeration(k, n, seed):
    total = k**n
    idx = np.random.default_rng(seed).integers(0, total, size=20)
    strings = torch.cat([strings_in_range(int(i), int(i) + 1, k, n) for i in idx])
    np.testing.assert_array_equal(string_index(strings.numpy(), k), idx)
    torch.testing.assert_close(string_index(strings, k), torch.from_numpy(idx))


def test_enumeration_limit():
    assert enumeration_size(4, 13) == 4**13 <= MAX_ENUMERATION
    with pytest.raises(OutcomeError, match="exceeds the limit"):
        all_outcomes(4, 14)
    with pytest.raises(OutcomeError, match="64-bit"):
        string_index(np.zeros((1, 40), dtype=np.int64), 4)


def test_as_outcomes_accepts_integers_of_any_kind():
    x = np.array([[0, 3], [2, 1]], dtype=np.uint8)
    for given_ in (x, torch.from_numpy(x), x.tolist(), x.astype(np.int16)):
        out = as_outcomes(given_, 2, 4)
        assert out.dtype == torch.int64 and out.tolist() == [[0, 3], [2, 1]]
    assert as_outcomes([1, 2], 2, 4).shape == (1, 2)  # one string
    assert as_outcomes(np.zeros((0, 5), dtype=int), None, 4).shape == (0, 5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 3)), "integers"),
        (torch.zeros(2, 3), "integers"),
        (np.zeros((2, 3), dtype=bool), "integers"),
        (torch.zeros(2, 3, dtype=torch.bool), "integers"),
        (np.array([["a", "b", "c"]]), "integers"),
        (np.zeros((2, 4), dtype=int), r"shape \(n, 3\)"),
        (np.zeros((2, 3, 1), dtype=int), r"shape \(n, 3\)"),
        (np.array([[0, 1, 4]]), r"expected values in \[0, 4\), found value 4 at row 0, column 2"),
        (torch.tensor([[0, 1, 2], [0, -1, 2]]), "value -1 at row 1, column 1"),
        (np.array([[0, -1, 2]]), r"\[0, 4\)"),
    ],
)
def test_as_outcomes_refuses_with_one_error_class(bad, match):
    with pytest.raises(OutcomeError, match=match):
        as_outcomes(bad, 3, 4)


def test_as_outcome_array_is_the_same_check_in_storage_form():
    x = np.array([[0, 3], [2, 1]], dtype=np.uint8)
    assert as_outcome_array(x, 2, 4, dtype=np.uint8) is x  # already stored: no copy
    assert as_outcome_array(x.astype(np.int64), None, 4).dtype == np.int64  # dtype=None keeps the input's
    assert as_outcome_array(torch.from_numpy(x), 2, 4, dtype=np.uint8).tolist() == x.tolist()
    for bad in (np.array([[0, 4]]), [[0.0, 1.0]], [0, 1], np.zeros((1, 3), dtype=int)):
        with pytest.raises(OutcomeError, match="MeasurementData: bases: expected"):
            as_outcome_array(bad, 2, 4, name="MeasurementData: bases")
    with pytest.raises(OutcomeError, match="300 symbols do not fit dtype uint8"):
        as_outcome_array(x, 2, 300, dtype=np.uint8)


def test_a_model_batch_refuses_a_lone_string():
    assert as_outcomes([1, 2], 2, 4).shape == (1, 2)
    with pytest.raises(OutcomeError, match=r"shape \(n, 2\), found \(2,\)"):
        as_outcomes([1, 2], 2, 4, single=False)


def test_positive_int():
    assert positive_int(np.int64(5), "n") == 5 and type(positive_int(np.int64(5), "n")) is int
    assert positive_int(0, "n", minimum=0) == 0
    for bad in (0, -3, 2.0, True, "3", None):
        with pytest.raises(QgenError, match="n_samples must be an integer >= 1"):
            positive_int(bad, "n_samples")
    with pytest.raises(MetricError):
        positive_int(0, "n_samples", error=MetricError)

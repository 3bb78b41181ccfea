"""Tests of qgen.estimate: scalar and array-valued Estimates, their JSON form and the sample mean."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qgen.errors import MetricError
from qgen.estimate import Estimate, sample_mean


def test_estimate_to_dict():
    d = Estimate(0.5, 0.01, "mc", 100, {"sampler": "q"}).to_dict()
    assert d == {"value": 0.5, "stderr": 0.01, "method": "mc", "n_samples": 100, "details": {"sampler": "q"}}
    assert Estimate(math.nan, math.inf, "mc").to_dict()["value"] == "nan"


def test_array_estimate_round_trips_through_json():
    value = np.array([[1.0, -0.25], [math.inf, 0.5]])
    est = Estimate(value, np.array([[0.0, 0.1], [math.nan, 0.2]]), "mc-dual", 1000, {"povm": "tetra"})
    text = json.dumps(est.to_dict(), allow_nan=False)
    assert json.loads(text)["value"] == [[1.0, -0.25], ["inf", 0.5]]
    back = Estimate.from_dict(json.loads(text))
    assert back == est and back.shape == (2, 2)
    np.testing.assert_array_equal(back.value, value)
    assert Estimate.from_dict(Estimate(-math.inf, 0.0, "exact").to_dict()).value == -math.inf


def test_array_estimate_is_a_frozen_copy_and_indexes_to_scalars():
    value = np.array([0.1, 0.2, 0.3])
    est = Estimate(value, 0.0, "exact")
    value[0] = 9.0
    assert est.value[0] == 0.1  # a copy, not a view of the caller's array
    with pytest.raises(ValueError):
        est.value[0] = 1.0
    np.testing.assert_array_equal(est.stderr, np.zeros(3))  # a scalar stderr is broadcast
    assert est[2] == Estimate(0.3, 0.0, "exact") and est[1:].shape == (2,)
    lo, hi = Estimate(value * 0 + 1.0, [0.1, 0.2, 0.3], "mc").interval(2.0)
    np.testing.assert_allclose(hi - lo, [0.4, 0.8, 1.2])


def test_estimate_formats_scalars_and_arrays():
    assert f"{Estimate(0.5, 0.01, 'mc'):.3f}" == "0.500 +- 0.010 (mc)"
    assert f"{Estimate([0.5, 1.0], [0.01, 0.0], 'mc-dual'):.2f}" == "[0.50 1.00] +- [0.01 0.00] (mc-dual)"


def test_estimate_refuses_what_it_cannot_hold():
    with pytest.raises(MetricError, match="stderr has shape"):
        Estimate([1.0, 2.0], [0.1, 0.2, 0.3], "mc")
    with pytest.raises(MetricError, match="number"):
        Estimate("one", 0.0, "mc")
    with pytest.raises(MetricError, match="needs 'value'"):
        Estimate.from_dict({"value": 1.0})
    with pytest.raises(MetricError, match="scalar"):
        Estimate(1.0, 0.0, "exact")[0]
    with pytest.raises(TypeError, match="tuple"):
        value, stderr = Estimate([1.0, 2.0], 0.0, "exact")


def test_sample_mean_scalar_and_columns():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 3))
    est = sample_mean(v, "mc")
    np.testing.assert_allclose(est.value, v.mean(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(est.stderr, v.std(axis=0, ddof=1) / math.sqrt(500), rtol=0, atol=1e-15)
    scalar = sample_mean(v[:, 0], "mc")
    assert scalar.shape == () and abs(scalar.value - est.value[0]) < 1e-15  # summation order may differ
    assert math.isnan(sample_mean(np.array([1.0, math.inf]), "mc").stderr)
    with pytest.raises(MetricError, match="at least 2"):
        sample_mean(np.ones(1), "mc")

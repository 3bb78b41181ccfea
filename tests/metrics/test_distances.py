"""Tests of qgen.metrics.distances: classical fidelity and KL divergences against independent numpy values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgen.errors import MetricError, OutcomeError
from qgen.measurement.povm import POVM
from qgen.metrics import EmpiricalDistribution, classical_fidelity, kl_divergence, reverse_kl
from qgen.metrics.distributions import TabulatedDistribution
from qgen.states.dense import DenseState
from tests.helpers import tfim_vector


def test_identical_distributions_exact(ising):
    _, m = ising[1.0]
    f = classical_fidelity(m, m, "exact")
    kl = kl_divergence(m, m, "exact")
    assert (f.method, f.stderr, kl.stderr) == ("exact", 0.0, 0.0)
    assert abs(f.value - 1) < 1e-12
    assert kl.value == 0.0
    assert reverse_kl(m, m, "exact").value == 0.0


def test_ising_distances_against_numpy(ising, numpy_probabilities):
    povm = POVM.named("tetra")
    p = numpy_probabilities(ising[1.0][0].density_matrix, povm.elements)
    q = numpy_probabilities(ising[1.3][0].density_matrix, povm.elements)
    mp, mq = ising[1.0][1], ising[1.3][1]
    assert abs(classical_fidelity(mp, mq).value - np.sum(np.sqrt(p * q))) < 1e-10
    assert abs(kl_divergence(mp, mq).value - np.sum(p * np.log(p / q))) < 1e-10
    assert abs(reverse_kl(mp, mq).value - np.sum(q * np.log(q / p))) < 1e-10
    assert classical_fidelity(mp, mq).method == "exact"  # "auto" enumerates 256 strings


def test_float32_model_evaluated_in_float64(ising, float32_model):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = classical_fidelity(mp, mq).value
    assert abs(classical_fidelity(mp, float32_model(mq)).value - exact) < 1e-6


@pytest.mark.parametrize(
    "metric, kwargs",
    [
        (classical_fidelity, {"sampler": "q"}),
        (classical_fidelity, {"sampler": "p"}),
        (kl_divergence, {}),
        (kl_divergence, {"direction": "reverse"}),
    ],
)
def test_monte_carlo_two_sigma_coverage(ising, metric, kwargs):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = metric(mp, mq, "exact", **{k: v for k, v in kwargs.items() if k == "direction"}).value
    gen = torch.Generator().manual_seed(1234)
    hits = []
    for _ in range(200):
        est = metric(mp, mq, "mc", n_samples=400, generator=gen, **kwargs)
        lo, hi = est.interval(2.0)
        hits.append(lo <= exact <= hi)
    assert est.method == "mc" and est.n_samples == 400
    assert 0.9 <= np.mean(hits) <= 0.99


def test_importance_weighted_kl_is_unbiased(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = kl_divergence(mp, mq, "exact").value
    est = kl_divergence(mp, mq, "mc", sampler="q", n_samples=50_000, generator=3)
    assert est.details["sampler"] == "q"
    assert abs(est.value - exact) < 4 * est.stderr


def test_same_seed_same_estimate(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    a = classical_fidelity(mp, mq, "mc", n_samples=500, generator=7)
    b = classical_fidelity(mp, mq, "mc", n_samples=500, generator=7)
    assert a == b


def test_model_without_likelihood_goes_through_its_samples(ising, samples_only):
    mp, mq = ising[1.0][1], ising[1.3][1]
    exact = classical_fidelity(mp, mq).value
    est = classical_fidelity(mp, samples_only(mq), n_samples=40_000, generator=0)
    assert est.method == "empirical" and est.n_samples == 40_000
    assert np.isfinite(est.value) and est.stderr > 0
    # The plug-in estimate is biased low by O(K^N / n); allow that on top of the noise.
    assert abs(est.value - exact) < 4 * est.stderr + 256 / 40_000
    with pytest.raises(MetricError, match="exact likelihoods"):
        classical_fidelity(mp, samples_only(mq), "mc")


def test_empirical_kl_is_infinite_on_unseen_strings(ising):
    mp = ising[1.0][1]
    few = EmpiricalDistribution(mp.sample(20, generator=torch.Generator().manual_seed(0)), 4)
    est = kl_divergence(mp, few)
    assert est.method == "empirical" and est.value == math.inf
    assert est.to_dict()["value"] == "inf"
    assert np.isfinite(reverse_kl(mp, few).value)


def test_errors(ising):
    mp = ising[1.0][1]
    other = DenseState(vector=tfim_vector(3, 1.0)).measured("tetra")
    with pytest.raises(MetricError, match="n_qubits"):
        classical_fidelity(mp, other)
    with pytest.raises(MetricError, match="method"):
        classical_fidelity(mp, mp, "bogus")
    with pytest.raises(MetricError, match="direction"):
        kl_divergence(mp, mp, direction="sideways")
    with pytest.raises(MetricError, match="log_prob"):
        classical_fidelity(mp, object())


def test_tables_give_the_per_string_numbers(ising, float32_model):
    # Tabulated distributions (one table each) against the same metrics through log_prob string by string.
    mp, mq = ising[1.0][1], ising[1.3][1]
    slow_p, slow_q = float32_model(mp), float32_model(mq)  # no probabilities(): chunked log_prob
    tp, tq = TabulatedDistribution(mp), TabulatedDistribution(mq)
    for metric in (classical_fidelity, kl_divergence, reverse_kl):
        fast, slow = metric(tp, tq, "exact"), metric(slow_p, slow_q, "exact")
        assert fast.method == slow.method == "exact"
        assert abs(fast.value - slow.value) < 1e-6  # float32 log_prob on the slow side


def test_shared_samples_give_the_estimator_by_hand(ising):
    mp, mq = ising[1.0][1], ising[1.3][1]
    x = mq.sample(3000, generator=torch.Generator().manual_seed(4))
    lp, lq = mp.log_prob(x).numpy(), mq.log_prob(x).numpy()
    f = classical_fidelity(mp, mq, "mc", samples=x)
    ratio = np.exp(0.5 * (lp - lq))
    assert f.n_samples == 3000 and abs(f.value - ratio.mean()) < 1e-14
    assert abs(f.stderr - ratio.std(ddof=1) / math.sqrt(3000)) < 1e-14
    r = reverse_kl(mp, mq, "mc", samples=x)  # KL(q || p) from samples of q
    assert abs(r.value - (lq - lp).mean()) < 1e-14
    with pytest.raises(OutcomeError, match="shape"):
        classical_fidelity(mp, mq, "mc", samples=x[:, :3])

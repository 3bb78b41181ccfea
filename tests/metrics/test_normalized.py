"""Unnormalized models are evaluated with log Z subtracted and its error propagated; MCMC samples get tau."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgen.estimate import Estimate
from qgen.metrics import classical_fidelity, kl_divergence
from qgen.models import build
from qgen.states import ghz
from qgen.strings import all_outcomes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Shifted:
    """A target's distribution with log P shifted by `shift`, claiming log Z = shift + offset +- stderr."""

    likelihood = "unnormalized"
    sampling = "exact"

    def __init__(self, m, shift: float, offset: float, stderr: float, method: str = "ais") -> None:
        self.m, self.shift, self.offset, self.stderr, self.method = m, shift, offset, stderr, method
        self.n_qubits, self.n_outcomes = m.n_qubits, m.n_outcomes

    def log_prob(self, x):
        return self.m.log_prob(x) + self.shift

    def sample(self, n, *, generator=None):
        return self.m.sample(n, generator=generator)

    def log_normalizer(self, method="auto", generator=None) -> Estimate:
        return Estimate(self.shift + self.offset, self.stderr, self.method)


def test_an_rbm_is_compared_through_its_exact_log_normalizer() -> None:
    target = ghz(3).measured("tetra")
    rbm = build("rbm", n_qubits=3, n_outcomes=4, n_hidden=3, seed=2)
    with torch.no_grad():  # random weights large enough to matter
        for p in rbm.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.5)
    strings = all_outcomes(4, 3)
    with torch.no_grad():
        free = rbm.log_prob(strings).double().numpy()
    log_q = free - np.logaddexp.reduce(free)  # normalised by brute force, independent of log_normalizer
    log_p = target.log_prob(strings).numpy()
    f = classical_fidelity(target, rbm, "exact")
    assert f.value == pytest.approx(float(np.exp(0.5 * (log_p + log_q)).sum()), abs=1e-6)
    assert f.stderr == 0 and f.details["log_normalizer"][0]["method"] == "exact"
    kl = kl_divergence(target, rbm, "exact")
    assert kl.value == pytest.approx(float((np.exp(log_p) * (log_p - log_q)).sum()), abs=1e-6)


def test_a_sampled_log_normalizer_widens_the_error_bars_to_first_order() -> None:
    target = ghz(3).measured("tetra")
    exact_f = classical_fidelity(target, target, "exact").value
    model = Shifted(target, shift=2.0, offset=5e-4, stderr=0.1)  # log Z 5e-4 too large
    f = classical_fidelity(target, model, "exact")
    assert f.value == pytest.approx(exact_f * math.exp(-2.5e-4), rel=1e-9)
    assert f.stderr == pytest.approx(0.5 * f.value * 0.1, rel=1e-9)
    assert f.details["log_normalizer"][0]["method"] == "ais"
    kl = kl_divergence(target, model, "exact")
    assert kl.value == pytest.approx(5e-4, abs=1e-9)  # KL(p || p e^{-c}) = c
    assert kl.stderr == pytest.approx(0.1, rel=1e-9)


class Sticky:
    """Exact draws of a target, each repeated `repeat` times in a row: one chain with tau = repeat."""

    likelihood = "exact"
    sampling = "mcmc"

    def __init__(self, m, repeat: int) -> None:
        self.m, self.repeat = m, repeat
        self.n_qubits, self.n_outcomes = m.n_qubits, m.n_outcomes

    def log_prob(self, x):
        return self.m.log_prob(x)

    def sample(self, n, *, generator=None):
        x = self.m.sample(-(-n // self.repeat), generator=generator)
        return x.repeat_interleave(self.repeat, 0)[:n]


def test_markov_chain_samples_get_autocorrelation_aware_errors() -> None:
    target = ghz(4).measured("tetra")
    k4 = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=8, seed=0)
    independent = kl_divergence(Sticky(target, 1), k4, "mc", n_samples=20_000, generator=0)
    sticky = kl_divergence(Sticky(target, 10), k4, "mc", n_samples=20_000, generator=0)
    assert independent.method == sticky.method == "mc"
    # ten copies of each draw carry the information of one: the error is sqrt(10) larger, as tau = 10 says
    assert 7 < sticky.details["tau"] < 13
    assert sticky.stderr / independent.stderr == pytest.approx(math.sqrt(10), rel=0.25)

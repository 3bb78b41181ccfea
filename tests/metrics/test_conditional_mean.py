"""Tests of qgen.metrics.conditional_mean: observables of an autoregressive model with each term's last site by
its exact conditional mean, checked against the model's enumerated distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.errors import MetricError
from qgen.measurement.povm import POVM
from qgen.metrics.conditional_mean import METHOD, conditional_mean_expectation, is_autoregressive
from qgen.metrics.observables import expectation
from qgen.metrics.prefix_tree import autoregressive_log_probabilities
from qgen.models import build
from qgen.states import tfim

N = 5
TETRA = POVM.named("tetra")


@pytest.fixture(scope="module", params=["rnn", "transformer"])
def model(request):
    """An untrained model with its weights spread out, so that its conditionals differ from site to site (the
    estimator is exact for the model's own distribution, whatever the weights)."""
    width = {"rnn": {"hidden_size": 16}, "transformer": {"d_model": 16, "n_heads": 2, "n_layers": 1}}
    m = build(request.param, n_qubits=N, n_outcomes=4, seed=3, **width[request.param])
    torch.manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return m.eval()


def _exact(model, observable: dict[str, float]) -> float:
    """sum_a q(a) sum_k c_k prod_i Tr(P_k,i Q_{a_i}) over all 4^N strings of the model (prefix-tree walk)."""
    p = np.exp(autoregressive_log_probabilities(model)).reshape((4,) * N)
    total = 0.0
    for string, coef in observable.items():
        factors = [TETRA.coefficients(letter).real if letter != "I" else np.ones(4) for letter in string]
        total += coef * float(np.einsum("abcde,a,b,c,d,e->", p, *factors))
    return total


@pytest.mark.parametrize(
    "observable",
    [{"IIXII": 1.0}, {"ZIIZI": 1.0}, {"XYIIZ": 1.0}, {"ZZIII": -1.0, "IZZII": -1.0, "XIIII": -0.7, "IIIIY": 0.3}],
    ids=["X2", "Z0Z3", "X0Y1Z4", "sum"],
)
def test_unbiased_against_the_enumerated_distribution(model, observable):
    """The estimate lies within 4 standard errors of the model's exact expectation (all 4^5 strings), with a
    standard error below 0.02 from 40,000 samples (a three-site tetrahedral product spreads over +-3 sqrt(3))."""
    e = conditional_mean_expectation(model, TETRA, observable, n_samples=40_000, generator=1)
    exact = _exact(model, observable)
    assert e.method == METHOD and e.n_samples == 40_000 and 0 < e.stderr < 0.02
    assert abs(e.value - exact) < 4 * e.stderr, (e.value, exact, e.stderr)


def test_less_noise_than_the_dual_frame_on_the_same_strings(model):
    """Same generator, so the same strings: the single-site conditional mean's standard error is at most half
    the dual frame's (Rao-Blackwell; the tetrahedral dual of X spreads over +-sqrt(3))."""
    rb = conditional_mean_expectation(model, TETRA, "IIIXI", n_samples=20_000, generator=7)
    strings = model.sample(20_000, generator=7)
    dual = expectation(strings, TETRA, "IIIXI")
    assert rb.stderr < 0.5 * dual.stderr
    assert abs(rb.value - dual.value) < 4 * dual.stderr


def test_identity_and_a_conditional_view():
    """The identity is 1 with stderr 0; a conditional model at one field (`at`) is taken as it is."""
    m = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, seed=0, n_conditions=1, condition_names=["h"])
    m.condition_rows(torch.zeros((2, 3), dtype=torch.long), torch.tensor([[0.5], [1.0]]))
    e = conditional_mean_expectation(m.at(h=0.8), TETRA, {"III": 1.0}, n_samples=10, generator=0)
    assert e.value == 1.0 and e.stderr == 0.0
    assert is_autoregressive(m.at(h=0.8)) and not is_autoregressive(tfim(3, h=1.0).measured("tetra"))


def test_refusals(model):
    with pytest.raises(MetricError, match="autoregressive model"):
        conditional_mean_expectation(tfim(N, h=1.0).measured("tetra"), TETRA, "XIIII", n_samples=10)
    with pytest.raises(MetricError, match="n_samples must be an integer >= 2"):
        conditional_mean_expectation(model, TETRA, "XIIII", n_samples=1)
    with pytest.raises(MetricError, match="the model has 4 outcomes per site but the POVM 3"):
        conditional_mean_expectation(model, POVM.named("trine"), "ZIIII", n_samples=10)
    with pytest.raises(MetricError, match="N = 5|5 letters|length"):
        conditional_mean_expectation(model, TETRA, "XII", n_samples=10)
    z_basis = POVM([[[1, 0], [0, 0]], [[0, 0], [0, 1]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]])
    with pytest.raises(MetricError, match="not determined by this measurement"):
        conditional_mean_expectation(model, z_basis, "XIIII", n_samples=10)


def test_magnetization_and_correlations_against_the_enumerated_distribution(model):
    """Every <X_i> and <Z_i Z_j> from the model's own 40,000 samples lies within 4.5 standard errors (+ 1e-9: site
    0's conditional mean has no prefix, so it is exact and its stderr ~1e-15) of its exact value (all 4^5
    strings); the correlation matrix is symmetric with an exact unit diagonal; both are less noisy
    than the dual frame on the same strings."""
    from qgen.metrics import correlation_matrix, magnetization
    from qgen.metrics.conditional_mean import conditional_correlation_matrix, conditional_magnetization

    strings = model.sample(40_000, generator=3)
    mx = conditional_magnetization(model, strings, TETRA, "X")
    exact_x = [_exact(model, {"I" * i + "X" + "I" * (N - 1 - i): 1.0}) for i in range(N)]
    assert mx.method == METHOD and mx.shape == (N,)
    assert np.all(np.abs(mx.value - exact_x) < 4.5 * mx.stderr + 1e-9), (mx.value, exact_x)
    assert np.all(mx.stderr < 0.5 * magnetization(strings, TETRA, "X").stderr)
    zz = conditional_correlation_matrix(model, strings, TETRA, "Z")
    assert np.array_equal(zz.value, zz.value.T) and np.all(np.diag(zz.value) == 1) and np.all(np.diag(zz.stderr) == 0)
    for i in range(N):
        for j in range(i + 1, N):
            string = "".join("Z" if k in (i, j) else "I" for k in range(N))
            assert abs(zz.value[i, j] - _exact(model, {string: 1.0})) < 4.5 * zz.stderr[i, j] + 1e-9, (i, j)
    dual = correlation_matrix(strings, TETRA, "Z").stderr
    upper = np.triu_indices(N, 1)
    assert np.mean(zz.stderr[upper]) < np.mean(dual[upper])


def test_given_samples_are_the_ones_used(model):
    """With `samples`, the estimate is the one of those strings: the same as drawing them with the same seed."""
    strings = model.sample(5_000, generator=11)
    given = conditional_mean_expectation(model, TETRA, "IZIXI", samples=strings)
    drawn = conditional_mean_expectation(model, TETRA, "IZIXI", n_samples=5_000, generator=11)
    assert given.value == drawn.value and given.stderr == drawn.stderr
    with pytest.raises(MetricError, match="at least 2 samples"):
        conditional_mean_expectation(model, TETRA, "IZIXI", samples=strings[:1])


def test_sample_estimators_choose_by_model(model):
    """The report's estimators: conditional means bound to an autoregressive model, the dual frame for data (no
    model) and for a distribution without conditionals (an exact measurement)."""
    from qgen.metrics.conditional_mean import sample_estimators

    strings = model.sample(200, generator=0)
    for chosen, method in (
        (sample_estimators(model), METHOD),
        (sample_estimators(None), "mc-dual"),
        (sample_estimators(tfim(N, h=1.0).measured("tetra")), "mc-dual"),
    ):
        mag, corr, expect = chosen
        assert mag(strings, TETRA, "X").method == corr(strings, TETRA, "Z").method == method
        assert expect(strings, TETRA, {"XIIII": 1.0}).method == method

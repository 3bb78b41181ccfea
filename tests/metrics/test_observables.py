"""Tests of qgen.metrics.observables: dual-frame estimates as Estimates, and what a measurement cannot determine."""

from __future__ import annotations

import itertools
import math
from functools import reduce

import numpy as np
import pytest
import torch

from qgen.errors import MetricError, OutcomeError
from qgen.measurement.noise import depolarizing
from qgen.measurement.povm import POVM
from qgen.metrics import correlation_matrix, expectation, magnetization
from qgen.metrics.observables import NOT_DETERMINED, check_determined, pauli_coefficients, reconstruction_matrix
from qgen.pauli import PAULI
from qgen.states.dense import DenseState
from tests.helpers import random_vector, tfim_hamiltonian_dict, tfim_vector

N = 4


def test_dual_frame_estimator_is_unbiased_by_enumeration(ising, numpy_probabilities):
    # sum_a P(a) prod_i Tr(P_i Q_{a_i}) = <P> exactly: the estimator's mean, with no sampling noise.
    state, m = ising[1.0]
    p = numpy_probabilities(state.density_matrix, m.povm.elements)
    strings = np.array(list(itertools.product(range(4), repeat=N)))
    table = pauli_coefficients(m.povm)
    for obs in ("XIII", "ZZII", "IXIX", "ZIIZ", "YYII"):
        per_string = np.prod([table[ch][strings[:, i]] for i, ch in enumerate(obs)], axis=0)
        assert abs(p @ per_string - state.expectation(obs)) < 1e-12


def test_observables_from_samples_within_error_bars(ising, samples):
    state, m = ising[1.0]
    for obs in ("XIII", "IIXI", "ZZII", "ZIIZ", "XXII", "YIYI", tfim_hamiltonian_dict(N, 1.0)):
        est = expectation(samples, m.povm, obs)
        assert (est.method, est.n_samples, est.shape) == ("mc-dual", len(samples), ())
        assert est.stderr > 0
        assert abs(est.value - state.expectation(obs)) < 4 * est.stderr, obs


def test_hamiltonian_error_bar_counts_covariances(ising, samples):
    # The stderr is that of the per-sample total estimator, not the quadrature sum of the terms' errors.
    povm = ising[1.0][1].povm
    ham = {"ZIII": 1.0, "IZII": 1.0}
    cz = pauli_coefficients(povm)["Z"]
    total = cz[samples[:, 0]] + cz[samples[:, 1]]
    est = expectation(samples, povm, ham)
    assert abs(est.value - total.mean()) < 1e-12
    assert abs(est.stderr - total.std(ddof=1) / math.sqrt(len(total))) < 1e-12


def test_correlation_matrix_matches_pairwise_expectations(ising, samples):
    povm = ising[1.0][1].povm
    for pauli in "XZ":
        est = correlation_matrix(samples, povm, pauli)
        values, stderrs = est.value, est.stderr
        assert (est.method, est.n_samples, est.shape) == ("mc-dual", len(samples), (N, N))
        assert values.shape == stderrs.shape == (N, N)
        assert np.all(np.diag(values) == 1) and np.all(np.diag(stderrs) == 0)
        for i, j in itertools.combinations(range(N), 2):
            e = expectation(samples, povm, "".join(pauli if k in (i, j) else "I" for k in range(N)))
            assert abs(values[i, j] - e.value) < 1e-10 and abs(values[j, i] - e.value) < 1e-10
            assert abs(stderrs[i, j] - e.stderr) < 1e-10 and est[i, j].value == values[i, j]


def test_magnetization_matches_single_site_expectations(ising, samples):
    povm = ising[1.0][1].povm
    est = magnetization(samples, povm, "X")
    assert (est.method, est.n_samples, est.shape) == ("mc-dual", len(samples), (N,))
    for i in range(N):
        e = expectation(samples, povm, "".join("X" if k == i else "I" for k in range(N)))
        assert abs(est.value[i] - e.value) < 1e-12 and abs(est.stderr[i] - e.stderr) < 1e-12


def test_observables_accept_torch_tensors(ising, samples):
    povm = ising[1.0][1].povm
    a = correlation_matrix(samples, povm)
    b = correlation_matrix(torch.from_numpy(samples).to(torch.uint8), povm)
    assert a == b


def test_observable_errors(ising, samples):
    povm = ising[1.0][1].povm
    with pytest.raises(MetricError, match="4 letters"):
        expectation(samples, povm, "XX")
    with pytest.raises(MetricError, match="real"):
        expectation(samples, povm, {"XIII": 1j})
    # Outcomes go through the one validator, qgen.strings.as_outcomes, and its one error class.
    with pytest.raises(OutcomeError, match="integers"):
        magnetization(samples.astype(float), povm)
    with pytest.raises(OutcomeError, match=r"\[0, 4\)"):
        magnetization(samples + 4, povm)
    with pytest.raises(OutcomeError, match="integers"):
        expectation(samples.astype(bool), povm, "XIII")
    with pytest.raises(MetricError, match="at least 2"):
        correlation_matrix(samples[:1], povm)
    with pytest.raises(TypeError, match="not a \\(value, stderr\\) tuple"):
        value, stderr = expectation(samples, povm, "XIII")


# ---- observables the measurement does not determine --------------------------------------------------------

Z_BASIS = POVM([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], name="z-basis")  # QuCumber's computational-basis data
_AXIS = np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
TILTED = POVM(
    [(np.eye(2) + sign * sum(a * PAULI[p] for a, p in zip(_AXIS, "XYZ"))) / 2 for sign in (1, -1)], name="tilted"
)


def _product_samples(state: DenseState, povm: POVM, n: int = 20_000) -> np.ndarray:
    return state.measured(povm).sample(n, generator=torch.Generator().manual_seed(3)).numpy()


def test_z_basis_data_determine_z_observables_only():
    state = DenseState(vector=tfim_vector(N, 1.0))
    x = _product_samples(state, Z_BASIS)
    zz = correlation_matrix(x, Z_BASIS, "Z")
    exact = np.array(
        [
            [state.expectation("".join("Z" if k in (i, j) else "I" for k in range(N))) for j in range(N)]
            for i in range(N)
        ]
    )
    np.fill_diagonal(exact, 1.0)
    assert np.all(np.abs(zz.value - exact) <= 4 * zz.stderr + 1e-12)
    assert abs(expectation(x, Z_BASIS, {"ZZII": -1.0, "IIZZ": -1.0}).value + exact[0, 1] + exact[2, 3]) < 0.05
    for call in (
        lambda: magnetization(x, Z_BASIS, "X"),
        lambda: correlation_matrix(x, Z_BASIS, "X"),
        lambda: expectation(x, Z_BASIS, tfim_hamiltonian_dict(N, 1.0)),  # its X terms are not measured
        lambda: expectation(x, Z_BASIS, "YIII"),
    ):
        with pytest.raises(MetricError, match=NOT_DETERMINED):
            call()


def test_depolarizing_three_quarters_determines_nothing():
    state = DenseState(vector=tfim_vector(N, 1.0))
    applied = state.measured("tetra", depolarizing(0.75)).povm  # every element is I / 4
    x = _product_samples(state, applied, 1000)
    for pauli in "XYZ":
        with pytest.raises(MetricError, match=NOT_DETERMINED):
            magnetization(x, applied, pauli)
    assert expectation(x, applied, "IIII").value == 1.0  # the identity is always determined
    # Just below 3/4 the POVM is informationally complete again, with huge dual coefficients.
    magnetization(x, state.measured("tetra", depolarizing(0.7)).povm, "X")


def test_trine_determines_everything_without_y():
    state = DenseState(vector=tfim_vector(N, 1.0))
    x = _product_samples(state, POVM.named("trine"))
    est = expectation(x, POVM.named("trine"), "XZII")
    assert abs(est.value - state.expectation("XZII")) < 4 * est.stderr
    with pytest.raises(MetricError, match=r"<YYII> is not determined by this measurement.*does not span Y"):
        expectation(x, POVM.named("trine"), "YYII")


def test_a_sum_in_the_span_is_determined_even_when_its_terms_are_not():
    # TILTED spans I and X + Z only: X + Z is determined (and estimated without bias), X alone is not.
    g = reconstruction_matrix(TILTED)
    assert np.allclose(g[1:, 1:][[0, 2]][:, [0, 2]], 0.5) and abs(g[2, 2]) < 1e-12
    state = DenseState(vector=random_vector(2, np.random.default_rng(0)))
    x = _product_samples(state, TILTED, 50_000)
    obs = {"XI": 1.0, "ZI": 1.0}
    est = expectation(x, TILTED, obs)
    assert abs(est.value - state.expectation(obs)) < 4 * est.stderr
    for bad in ({"XI": 1.0}, {"XI": 1.0, "ZI": -1.0}, {"XX": 1.0, "ZZ": 1.0}):
        with pytest.raises(MetricError, match=NOT_DETERMINED):
            expectation(x, TILTED, bad)
    expectation(x, TILTED, {"XX": 1.0, "XZ": 1.0, "ZX": 1.0, "ZZ": 1.0})  # (X + Z) x (X + Z)


def _dense_residual(povm: POVM, obs: dict[str, float]) -> float:
    """|R(O) - O| / |O| with R(O) = sum_a Tr(O Q_a) M_a over all product outcomes, by dense linear algebra."""
    n = len(next(iter(obs)))
    op = sum(c * reduce(np.kron, [PAULI[ch] for ch in s]) for s, c in obs.items())
    rebuilt = np.zeros_like(op)
    for a in itertools.product(range(povm.n_outcomes), repeat=n):
        q = reduce(np.kron, [povm.duals[i] for i in a])
        m = reduce(np.kron, [povm.elements[i] for i in a])
        rebuilt += np.trace(op @ q) * m
    return float(np.linalg.norm(rebuilt - op) / np.linalg.norm(op))


@pytest.mark.parametrize("povm", [Z_BASIS, TILTED, POVM.named("trine"), POVM.named("pauli4")], ids=str)
@pytest.mark.parametrize(
    "obs",
    [
        {"XI": 1.0},
        {"ZZ": 1.0},
        {"XI": 1.0, "ZI": 1.0},
        {"XX": 0.5, "ZZ": 0.5, "XZ": 0.5, "ZX": 0.5},
        {"YZ": 1.0},
        {"XZ": 1.0, "ZZ": -2.0, "IY": 0.3},
    ],
)
def test_span_check_agrees_with_the_dense_reconstruction(povm, obs):
    determined = _dense_residual(povm, obs) < 1e-8
    terms = [(c, s) for s, c in obs.items()]
    if determined:
        check_determined(povm, terms)
    else:
        with pytest.raises(MetricError, match=NOT_DETERMINED):
            check_determined(povm, terms)

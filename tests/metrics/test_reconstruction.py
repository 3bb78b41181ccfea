"""Linear inversion recovers rho from exact P; dual-frame averages equal Tr(rho O)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgen import POVMError
from qgen.metrics.reconstruction import reconstruct_density_matrix
from qgen.states import DenseState
from tests.helpers import pauli_matrix_of, random_density_matrix

COMPLETE = ["pauli4", "tetra", "pauli6"]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.sampled_from(COMPLETE))
def test_rho_to_probabilities_to_rho(seed, n, povm):
    rho = random_density_matrix(n, np.random.default_rng(seed))
    p = DenseState(density_matrix=rho).measured(povm).probabilities()
    np.testing.assert_allclose(reconstruct_density_matrix(p, povm), rho, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(COMPLETE), st.text("IXYZ", min_size=3, max_size=3))
def test_dual_frame_observables(seed, povm, string):
    rho = random_density_matrix(3, np.random.default_rng(seed))
    m = DenseState(density_matrix=rho).measured(povm)
    p = m.probabilities().numpy().reshape([m.n_outcomes] * 3)
    c = [m.povm.coefficients(ch) for ch in string]
    estimate = np.einsum("abc,a,b,c->", p, *c)
    assert abs(estimate - np.trace(pauli_matrix_of(string) @ rho).real) < 1e-10


def test_trine_recovers_the_span_of_i_x_z():
    rho = random_density_matrix(2, np.random.default_rng(4)).real
    rho = rho / np.trace(rho)
    p = DenseState(density_matrix=rho).measured("trine").probabilities()
    r = reconstruct_density_matrix(p, "trine")
    # Expected: rho with every Pauli component containing Y removed.
    expected = sum(np.trace(pauli_matrix_of(a + b) @ rho) * pauli_matrix_of(a + b) / 4 for a in "IXZ" for b in "IXZ")
    np.testing.assert_allclose(r, expected, atol=1e-12)
    assert np.abs(r - rho).max() > 1e-3  # the Y-Y part is really lost


def test_wrong_length_raises():
    with pytest.raises(POVMError, match="K\\^N"):
        reconstruct_density_matrix(np.ones(10) / 10, "tetra")

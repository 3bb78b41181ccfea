"""The spin-flip parity of an MPS and its projection onto a sector, against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pytest

from qgen.errors import StateError
from qgen.states.parity import parity, project_parity
from tests.helpers import random_mps


def _flip(vector: np.ndarray, n: int) -> np.ndarray:
    """prod_i X_i on a dense vector: the index s -> s XOR (2^N - 1), i.e. the vector reversed."""
    return vector.reshape(-1)[::-1].copy()


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_parity_matches_dense(n: int, complex_: bool) -> None:
    state = random_mps(n, 4, seed=n, complex_=complex_)
    v = state.to_dense().reshape(-1)
    assert abs(parity(state) - np.vdot(v, _flip(v, n)).real) < 1e-12


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("n", [1, 3, 6, 9])
def test_projection_matches_dense(n: int, sign: int, complex_: bool) -> None:
    state = random_mps(n, 5, seed=10 + n, complex_=complex_)
    v = state.to_dense().reshape(-1)
    expected = v + sign * _flip(v, n)
    expected /= np.linalg.norm(expected)
    got = project_parity(state, sign).to_dense().reshape(-1)
    assert abs(abs(np.vdot(expected, got)) - 1.0) < 1e-12
    assert abs(parity(project_parity(state, sign)) - sign) < 1e-12


def test_state_in_its_sector_is_returned_unchanged() -> None:
    cat = project_parity(random_mps(6, 4, seed=3, complex_=False), 1)
    assert project_parity(cat, 1) is cat


def test_bad_sign_and_empty_sector_are_refused() -> None:
    cat = project_parity(random_mps(6, 4, seed=4, complex_=False), 1)
    with pytest.raises(StateError, match="sign must be"):
        project_parity(cat, 0)
    with pytest.raises(StateError, match="weight"):
        project_parity(cat, -1)

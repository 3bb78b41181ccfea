"""SSE quantum Monte Carlo of the Heisenberg antiferromagnet against dense diagonalisation and Sandvik's QMC value."""

from __future__ import annotations

import numpy as np
import pytest

from qgen.errors import StateError
from qgen.states.hamiltonians import ground_state
from qgen.states.lattice2d import SANDVIK_8X8_PERIODIC, heisenberg2d_hamiltonian, square_bonds
from qgen.states.sse import sse_heisenberg


def _dense_heisenberg(lx: int, ly: int, boundary: str = "open") -> np.ndarray:
    """sum_b S_i . S_j as a dense matrix (qgen's Pauli form / 4), site 0 the most significant bit."""
    from qgen.states.hamiltonians import pauli_sum_matrix

    return pauli_sum_matrix(heisenberg2d_hamiltonian(lx, ly, boundary=boundary), lx * ly).toarray().real / 4


def _z_signs(n: int) -> np.ndarray:
    return 1 - 2 * ((np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1)


def test_ground_state_energy_and_correlations_match_exact_diagonalisation_at_4x4():
    energy, psi = ground_state(heisenberg2d_hamiltonian(4, 4), 16)
    r = sse_heisenberg(square_bonds(4, 4), 16, beta=32.0, sweeps=20_000, seed=2)
    # exact: -0.5743254416 per site; beta = 32 is far beyond the inverse gap of 4 x 4, so no thermal bias shows
    assert abs(r.energy_per_site - energy / 64) < 4 * r.energy_stderr
    assert r.energy_stderr < 1e-3
    z = _z_signs(16)
    exact = (np.abs(psi[:, None]) ** 2 * z[:, :1] * z).sum(axis=0) / 4
    assert r.szsz[0] == 0.25
    assert np.abs((r.szsz[1:] - exact[1:]) / r.szsz_stderr[1:]).max() < 4.5


def test_finite_temperature_energy_matches_the_thermal_trace():
    """At beta = 1.5 the SSE energy is Tr(H exp(-beta H)) / Z, not the ground state's: checks the weights."""
    h = _dense_heisenberg(3, 2)
    values = np.linalg.eigvalsh(h)
    beta = 1.5
    weights = np.exp(-beta * (values - values.min()))
    thermal = float((values * weights).sum() / weights.sum()) / 6
    r = sse_heisenberg(square_bonds(3, 2), 6, beta=beta, sweeps=40_000, seed=5)
    assert abs(r.energy_per_site - thermal) < 4 * r.energy_stderr
    assert abs(r.energy_per_site - values.min() / 6) > 10 * r.energy_stderr  # and it is not the ground energy


def test_dimer_and_reproducibility():
    a = sse_heisenberg([(0, 1)], 2, beta=20.0, sweeps=2_000, seed=7)
    b = sse_heisenberg([(0, 1)], 2, beta=20.0, sweeps=2_000, seed=7)
    assert a.energy_per_site == b.energy_per_site and np.array_equal(a.szsz, b.szsz)
    assert abs(a.energy_per_site + 0.375) < 4 * a.energy_stderr + 1e-3  # singlet: -3/4 for the bond
    np.testing.assert_allclose(a.szsz, [0.25, -0.25], atol=1e-12)  # every state of the singlet sector is antiparallel


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bonds": [(0, 1), (1, 2), (0, 2)], "n_sites": 3}, "not bipartite"),
        ({"bonds": [(0, 3)], "n_sites": 3}, "site indices"),
        ({"beta": 0.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
        ({"sweeps": 10, "bins": 50}, "at least bins"),
        ({"origin": 2}, "origin"),
        ({"thermalize": -1}, "thermalize"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    args = {"bonds": [(0, 1)], "n_sites": 2, "beta": 1.0, "sweeps": 1_000, **kwargs}
    with pytest.raises(StateError, match=message):
        sse_heisenberg(**args)


@pytest.mark.slow
def test_periodic_8x8_energy_reproduces_sandvik():
    """Sandvik, PRB 56, 11678 (1997): -0.673487(4) per site; 2 x 10^4 sweeps give a stderr of about 2e-4."""
    r = sse_heisenberg(square_bonds(8, 8, "periodic"), 64, beta=64.0, sweeps=20_000, seed=4)
    assert abs(r.energy_per_site - SANDVIK_8X8_PERIODIC["value"]) < 4 * r.energy_stderr
    assert r.energy_stderr < 4e-4

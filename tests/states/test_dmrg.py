"""DMRG ground states against free fermions and exact diagonalisation; the cache; reference values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.measurement.noise import depolarizing
from qgen.states import dmrg
from qgen.states.dmrg import cache_key, tfim_mps, xxz_mps
from qgen.states.free_fermions import tfim_free_fermion_correlators, tfim_free_fermion_energy
from qgen.states.hamiltonians import ground_state, tfim_ground_state, tfim_hamiltonian, xxz_hamiltonian
from qgen.states.library import tfim
from qgen.states.mps import MPSState
from qgen.states.reference import reference_values


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
def test_free_fermions_match_exact_diagonalisation(h: float) -> None:
    n = 8
    energy, psi = tfim_ground_state(n, h, 1.0)
    assert abs(tfim_free_fermion_energy(n, h) - energy) < 1e-9
    c = tfim_free_fermion_correlators(n, h)
    ref = reference_values(tfim(n, h, representation="dense"))
    for key, name in NAMES.items():
        assert np.allclose(c[key], ref[name], atol=1e-8), key


NAMES = {"X": "magnetization_x", "ZZ": "correlation_zz", "XX": "correlation_xx"}


def test_dmrg_n50_critical_matches_free_fermions() -> None:
    state = tfim_mps(50, h=1.0, cache=False)
    exact = tfim_free_fermion_energy(50, 1.0)
    assert abs(state.energy - exact) / 50 < 1e-8
    # The converted energy, measured on the MPS with qgen's own Hamiltonian, agrees too.
    assert abs(state.expectation(tfim_hamiltonian(50, 1.0)) - exact) / 50 < 1e-8


def test_shipped_n50_state_and_reference_values() -> None:
    state = tfim_mps(50)  # found in data/, no DMRG
    assert state.spec == {"name": "tfim", "n_qubits": 50, "h": 1.0, "J": 1.0, "boundary": "open"}
    ref = reference_values(state)
    exact = tfim_free_fermion_correlators(50)
    assert abs(float(ref["energy"]) - tfim_free_fermion_energy(50)) / 50 < 1e-8
    for key, name in NAMES.items():
        assert np.abs(ref[name] - exact[key]).max() < 1e-5, key
    assert ref["correlation_zz"].shape == (50, 50) and np.abs(ref["magnetization_z"]).max() < 1e-5
    centre = reference_values(state, max_pairs_n=20)
    assert int(centre["center"]) == 25
    assert np.allclose(centre["correlation_zz_center"], ref["correlation_zz"][25], atol=1e-12)


def test_ising_log_prob_matches_dense_to_dmrg_accuracy() -> None:
    n = 8
    mps, dense = tfim_mps(n, h=1.0, cutoff=1e-12), tfim(n, 1.0, representation="dense")
    a = torch.randint(0, 4, (200, n), generator=torch.Generator().manual_seed(0))
    for povm in ("tetra", "pauli4"):
        for noise in (None, depolarizing(0.1)):
            lp_m = mps.measured(povm, noise).log_prob(a)
            lp_d = dense.measured(povm, noise).log_prob(a)
            # DMRG accuracy: an infidelity of ~1e-11 leaves relative errors of ~1e-5 on the smallest P(a).
            assert torch.allclose(lp_m.exp(), lp_d.exp(), rtol=1e-4, atol=0)


def test_cache_is_written_once_and_reused(monkeypatch) -> None:
    first = tfim_mps(6, h=0.7)
    path = dmrg.cache_dir() / cache_key("tfim", 6, "open", h=0.7, J=1.0)
    assert path.is_file() and path.name == "tfim_N6_h0.70_J1.00_open.h5"

    def no_dmrg(*args, **kwargs):
        raise AssertionError("DMRG rerun despite the cache")

    monkeypatch.setattr(dmrg, "dmrg_ground_state", no_dmrg)
    again = tfim_mps(6, h=0.7)
    assert again.energy == first.energy and np.allclose(again.to_dense(), first.to_dense())
    assert not list(path.parent.glob("*.tmp"))


def test_xxz_matches_exact_diagonalisation() -> None:
    n = 8
    for delta in (1.0, 0.5):
        exact, _ = ground_state(xxz_hamiltonian(n, delta, 1.0), n)
        state = xxz_mps(n, delta=delta)
        assert abs(state.energy - exact) < 1e-7
        assert abs(state.expectation(xxz_hamiltonian(n, delta, 1.0)) - exact) < 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("h", [0.5, 2.0])
def test_dmrg_n100_off_critical(h: float) -> None:
    state = tfim_mps(100, h=h, cache=False)
    assert abs(state.energy - tfim_free_fermion_energy(100, h)) / 100 < 1e-8


@pytest.mark.parametrize("h", [0.5, 0.7])
def test_ordered_phase_ground_state_is_the_symmetric_one(h: float) -> None:
    """In the ordered phase DMRG alone may return a symmetry-broken state; tfim_mps returns the finite chain's
    unique ground state, the dense eigenvector (which has <Z_i> = 0 and parity +1), to DMRG accuracy."""
    n = 10
    mps = tfim_mps(n, h=h, cache=False)
    dense = np.asarray(tfim(n, h, representation="dense").vector).reshape(-1)
    assert abs(np.vdot(dense, mps.to_dense())) ** 2 > 1 - 1e-9
    assert abs(mps.expectation("I" * 4 + "Z" + "I" * 5)) < 1e-9


def test_cached_symmetry_broken_state_is_projected_on_load(tmp_path, monkeypatch) -> None:
    """A cache file written before the projection existed (a broken state) is read back in its sector."""
    from qgen.states.parity import parity

    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    monkeypatch.setattr(dmrg, "data_dir", lambda: tmp_path / "none")
    n = 8
    up = MPSState([np.array([1.0, 0.0]).reshape(1, 2, 1)] * n)  # |0...0>: the h -> 0 limit of a broken state
    up.energy = -7.0
    dmrg._store(
        up, cache_key("tfim", n, "open", h=0.01, J=1.0), {"energy": -7.0, "cutoff": 1e-10, "max_bond": 128, "chi": 1}
    )
    state = tfim_mps(n, h=0.01)
    assert abs(parity(state) - 1.0) < 1e-12 and abs(state.expectation("Z" + "I" * (n - 1))) < 1e-12
    assert abs(state.expectation("Z" * n) - 1.0) < 1e-12 and state.energy == -7.0

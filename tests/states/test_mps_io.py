"""MPS import and export: the paper's text format, quimb, TeNPy and HDF5 round trips."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from qgen.errors import DataFormatError, StateError
from qgen.states.free_fermions import tfim_free_fermion_energy
from qgen.states.hamiltonians import tfim_hamiltonian
from qgen.states.mps_io import from_quimb, load_mps, mps_from_text, paper_tfim_to_qgen, save_mps, to_quimb
from tests.helpers import REFERENCE, random_mps

PAPER = REFERENCE / "povm_genmodel_tfim50"


@pytest.mark.skipif(not PAPER.is_dir(), reason="needs ../shared/reference-data")
def test_paper_mps_energy() -> None:
    mps = mps_from_text(PAPER)
    assert mps.n_qubits == 50 and mps.bond_dimension == 28 and mps.is_real
    # The paper's convention is H = +sum Z Z + sum X; its MPS is about 7.6e-3 above the exact energy.
    paper_h = {k: -v for k, v in tfim_hamiltonian(50, 1.0, 1.0).items()}
    energy = mps.expectation(paper_h)
    assert abs(energy - (-63.2936)) < 1e-4
    assert abs(tfim_free_fermion_energy(50, 1.0) - (-63.3012)) < 1e-4
    # Mapped onto qgen's -sum Z Z - sum X by a local unitary, the energy is unchanged.
    assert abs(paper_tfim_to_qgen(mps).expectation(tfim_hamiltonian(50)) - energy) < 1e-10


def test_text_format_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        mps_from_text(tmp_path)
    (tmp_path / "index.txt").write_text("2\t2\t2 2\n3\t1\t2 2 2\n")
    (tmp_path / "tensor.txt").write_text("1 1\t1.0\n")
    with pytest.raises(DataFormatError, match="tensors"):
        mps_from_text(tmp_path)


def test_quimb_round_trip() -> None:
    mps = random_mps(6, 3, seed=21)
    back = from_quimb(to_quimb(mps))
    assert abs(abs(np.vdot(back.to_dense(), mps.to_dense())) - 1) < 1e-12
    with pytest.raises(StateError):
        from_quimb("not an mps")


def test_tenpy_import() -> None:
    pytest.importorskip("tenpy")
    from tenpy.networks.mps import MPS
    from tenpy.networks.site import SpinHalfSite

    from qgen.states.mps_io import from_tenpy

    sites = [SpinHalfSite(conserve=None)] * 4
    psi = MPS.from_product_state(sites, ["up", "down", "up", "up"], bc="finite")
    v = from_tenpy(psi).to_dense()
    assert abs(abs(v[0b0100]) - 1) < 1e-12


def test_hdf5_round_trip(tmp_path: Path) -> None:
    mps = random_mps(12, 4, seed=22)
    mps.spec = {"name": "custom", "n_qubits": 12}
    with h5py.File(tmp_path / "m.h5", "w") as f:
        save_mps(mps, f.create_group("reference/mps"))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert sorted(f["reference/mps"].keys())[:2] == ["site_000", "site_001"]
        back = load_mps(f["reference/mps"])
    assert back.spec == mps.spec
    assert np.allclose(back.to_dense(), mps.to_dense(), atol=1e-13)
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        with pytest.raises(DataFormatError, match="site_NNN"):
            load_mps(f.create_group("mps"))

"""qgen.report.targets: one reader of --target for evaluate and validate, checked against dense linear algebra."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from qgen.data import MeasurementData, save
from qgen.errors import DataFormatError, StateError
from qgen.measurement.povm import POVM
from qgen.report.targets import load_target
from qgen.states import ghz
from qgen.states.mps_io import save_mps
from tests.helpers import pauli_matrix_of, random_density_matrix, random_mps, random_vector

STRINGS = ("ZIZ", "XXX", "YIX", "IZI", "ZZZ")


def _data(n: int = 3, state: dict | None = None) -> MeasurementData:
    return MeasurementData(np.zeros((5, n), np.uint8), POVM.named("tetra"), state=state)


def test_state_vector_files_npy_and_text(tmp_path: Path) -> None:
    psi = random_vector(3, np.random.default_rng(0)) * 3.0  # not normalised: the reader normalises
    np.save(tmp_path / "psi.npy", psi)
    np.savetxt(tmp_path / "psi.txt", np.column_stack([psi.real, psi.imag]))
    unit = psi / np.linalg.norm(psi)
    for name in ("psi.npy", "psi.txt"):
        state = load_target(str(tmp_path / name), _data())
        for s in STRINGS:
            exact = np.vdot(unit, pauli_matrix_of(s) @ unit).real
            assert abs(state.expectation(s) - exact) < 1e-12, (name, s)


def test_density_matrix_files_npy_and_real_imag_tables(tmp_path: Path) -> None:
    rho = random_density_matrix(3, np.random.default_rng(1), rank=2)
    np.save(tmp_path / "rho.npy", rho)
    np.savetxt(tmp_path / "re.txt", rho.real)
    np.savetxt(tmp_path / "im.txt", rho.imag)
    for form in (str(tmp_path / "rho.npy"), f"{tmp_path / 're.txt'},{tmp_path / 'im.txt'}"):
        state = load_target(form, _data())
        assert state.n_qubits == 3
        for s in STRINGS:
            exact = np.trace(rho @ pauli_matrix_of(s)).real
            assert abs(state.expectation(s) - exact) < 1e-12, (form, s)


def test_mps_files_and_data_files(tmp_path: Path) -> None:
    mps = random_mps(5, 3, seed=2)
    with h5py.File(tmp_path / "mps.h5", "w") as f:
        save_mps(mps, f.create_group("mps"))
    loaded = load_target(str(tmp_path / "mps.h5"))
    for s in ("ZIZIX", "XXYYZ", "IIIIZ"):
        assert abs(loaded.expectation(s) - mps.expectation(s)) < 1e-12
    # A data file without a stored MPS: its recorded state spec is rebuilt.
    save(_data(4, {"name": "ghz", "n_qubits": 4}), tmp_path / "ghz4.h5")
    target = load_target(str(tmp_path / "ghz4.h5"))
    assert target.spec == {"name": "ghz", "n_qubits": 4}
    assert abs(target.expectation("ZIIZ") - 1.0) < 1e-12 and abs(target.expectation("XXXX") - 1.0) < 1e-12


def test_names_specs_and_json_files(tmp_path: Path) -> None:
    assert load_target("tfim:h=0.5", _data()).spec["h"] == 0.5
    (tmp_path / "w.json").write_text(json.dumps({"name": "w", "n_qubits": 3}))
    assert load_target(str(tmp_path / "w.json")).spec == {"name": "w", "n_qubits": 3}
    assert abs(load_target({"name": "ghz", "n_qubits": 3}).fidelity(ghz(3)) - 1.0) < 1e-12


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda p: np.save(p / "t.npy", np.zeros((2, 4, 2))), DataFormatError, ["t.npy", "(2, 4, 2)", "state vector"]),
        (lambda p: np.save(p / "t.npy", np.zeros((4, 2))), DataFormatError, ["(4, 2)", "density matrix"]),
        (lambda p: (p / "t.json").write_text("{oops"), DataFormatError, ["t.json", "JSON"]),
        (lambda p: (p / "t.h5").write_text("not hdf5"), DataFormatError, ["t.h5", "HDF5"]),
    ],
)
def test_bad_files_name_the_file_and_what_was_expected(tmp_path: Path, make, error, words) -> None:
    make(tmp_path)
    name = next(tmp_path.iterdir())
    with pytest.raises(error) as info:
        load_target(str(name), _data())
    assert all(w in str(info.value) for w in words), str(info.value)


def test_unknown_targets_list_the_accepted_forms(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="state vector .* density matrix .* MPS"):
        load_target("no-such-file.npy", _data())
    with pytest.raises(StateError, match="JSON object"):
        load_target("[1, 2]", _data())
    with pytest.raises(StateError, match="paper:"):
        load_target(str(tmp_path), _data())

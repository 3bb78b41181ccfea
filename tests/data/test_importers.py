"""Tests of qgen.importers against QuCumber's shipped data sets and against malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qgen.data import BasisSamplingWarning, load, save
from qgen.data.importers import (
    computational_povm,
    import_density_matrix_text,
    import_outcomes,
    import_qucumber,
    import_state_vector_text,
)
from qgen.errors import DataFormatError, POVMError
from qgen.measurement.povm import POVM
from tests.helpers import REFERENCE, assert_counts_fit, chi_square_p_value, outcome_counts

QUCUMBER = REFERENCE / "qucumber"
needs_qucumber = pytest.mark.reference(QUCUMBER / "tfim1d_data.txt")

# The single-qubit states of the pauli6 outcomes 0..5: |0>, |1>, |+>, |->, |+i>, |-i>.
_KETS = np.array([[1, 0], [0, 1], [1, 1], [1, -1], [1, 1j], [1, -1j]]) / np.array([1, 1, 2, 2, 2, 2])[:, None] ** 0.5


def _setting_counts(outcomes: np.ndarray, bases: np.ndarray, setting: tuple[int, int]) -> np.ndarray:
    """Counts of the four outcomes (bit strings 00, 01, 10, 11) among the 2-qubit shots in one setting."""
    shots = outcomes[(bases == setting).all(axis=1)] % 2
    return np.bincount(2 * shots[:, 0] + shots[:, 1], minlength=4)


def _setting_probabilities(rho: np.ndarray, setting: tuple[int, int], conjugate_y: bool = False) -> np.ndarray:
    """Born probabilities of the four outcomes of a 2-qubit Pauli setting, from the kets above (independently
    of qgen's POVM class); conjugate_y swaps |+i> and |-i>, the other possible convention for Y."""
    kets = _KETS[[0, 1, 2, 3, 5, 4]] if conjugate_y else _KETS
    probs = []
    for b0 in (0, 1):
        for b1 in (0, 1):
            v = np.kron(kets[2 * setting[0] + b0], kets[2 * setting[1] + b1])
            probs.append(np.vdot(v, rho @ v).real)
    return np.array(probs)


@needs_qucumber
def test_tfim_computational_shots():
    data = import_qucumber(QUCUMBER / "tfim1d_data.txt")
    assert data.outcomes.shape == (10000, 10) and data.outcomes.dtype == np.uint8
    assert np.array_equal(data.outcomes, np.loadtxt(QUCUMBER / "tfim1d_data.txt", dtype=np.uint8))
    assert data.povm_name == "computational" and data.n_outcomes == 2
    assert not data.povm.is_informationally_complete
    assert data.bases is None and data.state is None and data.noise == []
    assert data.extra["data_file"] == "tfim1d_data.txt"


@needs_qucumber
def test_tfim_state_vector_is_normalised():
    psi = import_state_vector_text(QUCUMBER / "tfim1d_psi.txt")
    assert psi.shape == (1024,) and psi.dtype == np.complex128
    assert abs(np.linalg.norm(psi) - 1) < 1e-8
    assert psi[0] == pytest.approx(0.2933991130)


@needs_qucumber
def test_w_state_bases_are_uniform_and_match_the_target_density_matrix():
    data = import_qucumber(
        QUCUMBER / "N2_W_state_1000_samples_data.txt", QUCUMBER / "N2_W_state_1000_samples_bases.txt"
    )
    assert data.outcomes.shape == (9000, 2) and data.povm_name == "pauli6"
    assert data.extra["basis_sampling"] == "uniform" and "basis_frequencies" not in data.extra
    bits = np.loadtxt(QUCUMBER / "N2_W_state_1000_samples_data.txt", dtype=int)
    letters = np.loadtxt(QUCUMBER / "N2_W_state_1000_samples_bases.txt", dtype=str)
    assert np.array_equal(data.bases, np.vectorize("ZXY".index)(letters))
    assert np.array_equal(data.outcomes, 2 * data.bases + bits)
    rho = import_density_matrix_text(QUCUMBER / "N2_W_state_target_real.txt", QUCUMBER / "N2_W_state_target_imag.txt")
    assert rho.shape == (4, 4) and np.allclose(rho, rho.conj().T, atol=1e-15) and abs(np.trace(rho) - 1) < 1e-12
    # The data are 1000 shots per setting of this rho: a chi-square test in each of the nine settings.
    for setting in np.ndindex(3, 3):
        counts = _setting_counts(data.outcomes, data.bases, setting)
        assert counts.sum() == 1000
        assert_counts_fit(counts, _setting_probabilities(rho, setting))
    # With uniform settings, pauli6 is the measurement made: its P(a) = Tr[(M_a0 x M_a1) rho] fits all 36 cells.
    m = POVM.named("pauli6").elements
    p = np.einsum("aij,bkl,jlik->ab", m, m, rho.reshape(2, 2, 2, 2)).real.ravel()
    assert abs(p.sum() - 1) < 1e-12
    assert_counts_fit(outcome_counts(data.outcomes, 6), p)


@needs_qucumber
def test_qubits_bases_are_nonuniform_and_the_y_convention_matches_the_state():
    with pytest.warns(BasisSamplingWarning, match="not drawn uniformly"):
        data = import_qucumber(QUCUMBER / "qubits_train.txt", QUCUMBER / "qubits_train_bases.txt")
    assert data.outcomes.shape == (1000, 2)
    assert data.extra["basis_sampling"] == "nonuniform"
    assert data.extra["basis_frequencies"] == {"ZZ": 200, "ZX": 200, "ZY": 200, "XZ": 200, "YZ": 200}
    psi = import_state_vector_text(QUCUMBER / "qubits_psi.txt")
    rho = np.outer(psi, psi.conj())
    for setting in [(0, 0), (1, 0), (0, 1), (2, 0), (0, 2)]:
        counts = _setting_counts(data.outcomes, data.bases, setting)
        assert counts.sum() == 200
        assert_counts_fit(counts, _setting_probabilities(rho, setting))
    # The test can tell the conventions apart: with |+i> and |-i> swapped, the Y settings do not fit at all.
    for setting in [(2, 0), (0, 2)]:
        counts = _setting_counts(data.outcomes, data.bases, setting)
        assert chi_square_p_value(counts, _setting_probabilities(rho, setting, conjugate_y=True)) < 1e-6


@needs_qucumber
def test_imported_pauli_data_round_trip_through_hdf5(tmp_path: Path):
    data = import_qucumber(
        QUCUMBER / "N2_W_state_1000_samples_data.txt", QUCUMBER / "N2_W_state_1000_samples_bases.txt"
    )
    save(data, tmp_path / "w.h5")
    back = load(tmp_path / "w.h5")
    assert np.array_equal(back.outcomes, data.outcomes) and np.array_equal(back.bases, data.bases)
    assert back.extra == data.extra and back.povm_name == "pauli6"


@needs_qucumber
def test_a_list_of_settings_is_not_a_per_shot_bases_file():
    with pytest.raises(DataFormatError, match=r"qubits_bases.txt: expected one basis letter per qubit per shot"):
        import_qucumber(QUCUMBER / "qubits_train.txt", QUCUMBER / "qubits_bases.txt")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_marginal_test_for_many_qubits(tmp_path: Path):
    rng = np.random.default_rng(0)
    n, n_qubits = 600, 8  # 3^8 settings: too many for a joint test, so each qubit is tested
    bits = _write(tmp_path / "d.txt", "\n".join(" ".join(map(str, r)) for r in rng.integers(0, 2, (n, n_qubits))))
    bases = rng.integers(0, 3, (n, n_qubits))
    uniform = _write(tmp_path / "u.txt", "\n".join(" ".join("ZXY"[b] for b in r) for r in bases))
    data = import_qucumber(bits, uniform)
    assert data.extra["basis_sampling"] == "uniform" and "each qubit" in data.extra["basis_sampling_test"]
    bases[:, 3] = 0  # qubit 3 always measured in Z
    biased = _write(tmp_path / "b.txt", "\n".join(" ".join("ZXY"[b] for b in r) for r in bases))
    with pytest.warns(BasisSamplingWarning):
        data = import_qucumber(bits, biased)
    assert data.extra["basis_frequencies"]["qubit_3"] == {"Z": 600, "X": 0, "Y": 0}


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 1 0\n1 1\n", "line 2: expected 3 columns (as on line 1), found 2"),
        ("0 1 0\n\n1 2 0\n", "line 3, column 2: expected an integer in [0, 2), found '2'"),
        ("# header\n0 1 0\n1 -1 0\n", "line 3, column 2: expected an integer in [0, 2), found '-1'"),
        ("0 1 0\n1 x 0\n", "found 'x'"),
        ("\n\n", "found no data lines"),
    ],
)
def test_qucumber_parse_errors_name_file_and_line(tmp_path: Path, text: str, message: str):
    path = _write(tmp_path / "shots.txt", text)
    with pytest.raises(DataFormatError) as err:
        import_qucumber(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value), str(err.value)


def test_bases_parse_errors(tmp_path: Path):
    bits = _write(tmp_path / "d.txt", "0 1\n1 1\n")
    with pytest.raises(DataFormatError, match=r"b.txt: line 2, column 1: expected a basis letter X, Y or Z, found 'W'"):
        import_qucumber(bits, _write(tmp_path / "b.txt", "Z X\nW Z\n"))
    with pytest.raises(DataFormatError, match=r"expected one basis letter per qubit per shot .* shape \(2, 2\)"):
        import_qucumber(bits, _write(tmp_path / "c.txt", "Z X\n"))
    with pytest.raises(DataFormatError, match="no such file"):
        import_qucumber(tmp_path / "absent.txt")


def test_import_outcomes_from_text_and_npy(tmp_path: Path):
    values = np.random.default_rng(1).integers(0, 4, size=(50, 3))
    text = _write(tmp_path / "o.txt", "\n".join(" ".join(map(str, r)) for r in values) + "\n")
    np.save(tmp_path / "o.npy", values.astype(np.int32))
    for path in (text, tmp_path / "o.npy"):
        data = import_outcomes(path, "tetra", n_qubits=3)
        assert np.array_equal(data.outcomes, values) and data.povm_name == "tetra" and data.outcomes.dtype == np.uint8
    data = import_outcomes(text, POVM.named("pauli4"))
    assert data.n_qubits == 3 and data.povm == POVM.named("pauli4")
    with pytest.raises(DataFormatError, match=r"o.txt: expected 4 outcomes per shot \(n_qubits\), found 3"):
        import_outcomes(text, "tetra", n_qubits=4)
    with pytest.raises(DataFormatError, match=r"o.txt: line \d+, column \d: expected an integer in \[0, 3\)"):
        import_outcomes(text, "trine")
    with pytest.raises(POVMError, match="unknown POVM"):
        import_outcomes(text, "pauli5")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.array([[0, 1], [2, 5]]), r"POVM 'pauli4': expected values in \[0, 4\), found value 5 at row 1, column 1"),
        (np.array([[0, 1], [-1, 0]]), "row 1, column 0"),
        (np.zeros((3, 2)), r"expected integers in \[0, 4\), found dtype float64"),
        (np.zeros(3, dtype=int), r"expected shape \(n, N\), found \(3,\)"),
    ],
)
def test_import_outcomes_npy_errors(tmp_path: Path, array: np.ndarray, message: str):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataFormatError, match=message) as err:
        import_outcomes(tmp_path / "bad.npy", "pauli4")
    assert "bad.npy" in str(err.value)


def test_import_outcomes_unreadable_npy(tmp_path: Path):
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataFormatError, match="junk.npy: expected a .npy array of integers, cannot read it"):
        import_outcomes(tmp_path / "junk.npy", "pauli4")
    with pytest.raises(DataFormatError, match="no such file"):
        import_outcomes(tmp_path / "absent.npy", "pauli4")


def test_state_vector_and_density_matrix_errors(tmp_path: Path):
    with pytest.raises(DataFormatError, match=r'v.txt: expected 2 columns "Re Im" per line, found 3'):
        import_state_vector_text(_write(tmp_path / "v.txt", "1 0 0\n0 0 0\n"))
    with pytest.raises(DataFormatError, match="dimension 2\\^N, found dimension 3"):
        import_state_vector_text(_write(tmp_path / "v.txt", "1 0\n0 0\n0 0\n"))
    with pytest.raises(DataFormatError, match="line 2, column 2: expected a finite real number, found 'nan'"):
        import_state_vector_text(_write(tmp_path / "v.txt", "1 0\n0 nan\n"))
    with pytest.raises(DataFormatError, match="line 2, column 1: expected a real number, found '0,5'"):
        import_state_vector_text(_write(tmp_path / "v.txt", "1 0\n0,5 0\n"))
    real = _write(tmp_path / "re.txt", "1 0\n0 0\n")
    with pytest.raises(DataFormatError, match=r"im.txt: expected shape \(2, 2\) like re.txt, found \(1, 2\)"):
        import_density_matrix_text(real, _write(tmp_path / "im.txt", "0 0\n"))
    with pytest.raises(DataFormatError, match="expected a square matrix"):
        import_density_matrix_text(_write(tmp_path / "re3.txt", "1 0 0\n0 0 0\n"), real)
    rho = import_density_matrix_text(real, _write(tmp_path / "im.txt", "0 0.5\n-0.5 0\n"))
    assert np.array_equal(rho, np.array([[1, 0.5j], [-0.5j, 0]]))


def test_computational_povm():
    povm = computational_povm()
    assert povm.name == "computational" and povm.n_outcomes == 2
    assert np.allclose(povm.probabilities(np.diag([0.3, 0.7])), [0.3, 0.7], atol=1e-15)
    assert not povm.is_informationally_complete

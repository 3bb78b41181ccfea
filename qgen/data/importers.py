"""Imports of measurement data and exact states from other formats: QuCumber text files, integer tables, .npy."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qgen.data.dataset import BASIS_LETTERS, BasisSamplingWarning, MeasurementData
from qgen.errors import DataFormatError, OutcomeError
from qgen.measurement.povm import POVM
from qgen.strings import as_outcome_array

__all__ = [
    "import_qucumber",
    "import_outcomes",
    "import_density_matrix_text",
    "import_state_vector_text",
    "computational_povm",
]

# Below this p-value of the chi-square test against uniform settings, imported bases count as non-uniform.
_UNIFORMITY_P_VALUE = 1e-3


def computational_povm() -> POVM:
    """The projective measurement {|0><0|, |1><1|}: not informationally complete (it sees only Z)."""
    return POVM(np.array([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], dtype=np.complex128), name="computational")


def _read_rows(path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The whitespace-separated tokens of a text table, as a (rows, columns) string array, and the line numbers.

    Blank lines and lines starting with "#" are skipped; every other line must have the first one's width.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: expected a text file of {what}, found a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: expected a text file of {what}, cannot read it ({exc})") from None
    rows, numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if tokens and not tokens[0].startswith("#"):
            rows.append(tokens)
            numbers.append(number)
    if not rows:
        raise DataFormatError(f"{path}: expected {what}, found no data lines")
    width = len(rows[0])
    for tokens, number in zip(rows, numbers):
        if len(tokens) != width:
            raise DataFormatError(
                f"{path}: line {number}: expected {width} columns (as on line {numbers[0]}), found {len(tokens)}"
            )
    return np.array(rows), np.array(numbers)


def _bad_token(path: Path, tokens: np.ndarray, numbers: np.ndarray, bad: np.ndarray, expected: str) -> DataFormatError:
    row, col = np.argwhere(bad)[0]
    return DataFormatError(
        f"{path}: line {numbers[row]}, column {col + 1}: expected {expected}, found {str(tokens[row, col])!r}"
    )


def _parse_integers(path: Path, high: int, what: str) -> np.ndarray:
    """A text table of integers in [0, high) as an (n, N) int64 array."""
    tokens, numbers = _read_rows(path, what)
    expected = f"an integer in [0, {high})"
    # Up to 9 digits fits int64 with room to spare; longer tokens are out of range anyway.
    bad = ~np.char.isdigit(tokens) | (np.char.str_len(tokens) > 9)
    if bad.any():
        raise _bad_token(path, tokens, numbers, bad, expected)
    values = tokens.astype(np.int64)
    bad = values >= high
    if bad.any():
        raise _bad_token(path, tokens, numbers, bad, expected)
    return values


def _parse_floats(path: Path, what: str) -> np.ndarray:
    """A text table of finite real numbers as a float64 array."""
    tokens, numbers = _read_rows(path, what)
    try:
        values = tokens.astype(np.float64)
    except ValueError:
        # Slow path, only to say where: the first token that float() rejects.
        bad = np.zeros(tokens.shape, dtype=bool)
        for index, token in np.ndenumerate(tokens):
            try:
                float(token)
            except ValueError:
                bad[index] = True
                break
        raise _bad_token(path, tokens, numbers, bad, "a real number") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise _bad_token(path, tokens, numbers, bad, "a finite real number")
    return values


def _basis_codes(path: Path) -> np.ndarray:
    """A text table of basis letters (X, Y, Z; one per qubit per shot) as codes 0 = Z, 1 = X, 2 = Y."""
    tokens, numbers = _read_rows(path, "one basis letter (X, Y or Z) per qubit per shot")
    letters = np.char.upper(tokens)
    codes = np.full(letters.shape, -1, dtype=np.int64)
    for code, letter in enumerate(BASIS_LETTERS):
        codes[letters == letter] = code
    if (codes < 0).any():
        raise _bad_token(path, tokens, numbers, codes < 0, "a basis letter X, Y or Z")
    return codes.astype(np.uint8)


def _chi_square_p_value(counts: np.ndarray) -> float:
    """p-value of the counts under the uniform distribution over their cells (Pearson's chi-square test)."""
    from scipy.special import chdtrc

    expected = counts.sum() / counts.size
    statistic = float(((counts - expected) ** 2).sum() / expected)
    return float(chdtrc(counts.size - 1, statistic))


def _basis_sampling(bases: np.ndarray) -> tuple[bool, dict[str, Any]]:
    """Whether the per-shot settings look drawn uniformly and independently per qubit, and what to record.

    With enough shots (5 expected per setting), all 3^N joint settings are tested at once; otherwise only the
    per-qubit marginals (with a Bonferroni correction over qubits) can be tested.
    """
    n, n_qubits = bases.shape
    n_settings = 3**n_qubits if n_qubits <= 30 else None
    if n_settings is not None and n >= 5 * n_settings:
        index = np.zeros(n, dtype=np.int64)
        for i in range(n_qubits):
            index = index * 3 + bases[:, i]
        counts = np.bincount(index, minlength=n_settings)
        p_value = _chi_square_p_value(counts)
        labels = [
            "".join(BASIS_LETTERS[(s // 3 ** (n_qubits - 1 - i)) % 3] for i in range(n_qubits))
            for s in range(n_settings)
        ]
        frequencies: dict[str, Any] = {labels[s]: int(c) for s, c in enumerate(counts) if c}
        test = f"chi-square over all {n_settings} settings ({int((counts > 0).sum())} appear)"
    else:
        per_qubit = np.stack([np.bincount(bases[:, i], minlength=3) for i in range(n_qubits)])
        p_value = min(1.0, n_qubits * min(_chi_square_p_value(c) for c in per_qubit))
        frequencies = {f"qubit_{i}": dict(zip(BASIS_LETTERS, map(int, c))) for i, c in enumerate(per_qubit)}
        test = "chi-square of each qubit's settings, Bonferroni-corrected (too few shots for all 3^N settings)"
    uniform = p_value >= _UNIFORMITY_P_VALUE
    record: dict[str, Any] = {
        "basis_sampling": "uniform" if uniform else "nonuniform",
        "basis_sampling_test": test,
        "basis_sampling_p_value": p_value,
    }
    if not uniform:
        record["basis_frequencies"] = frequencies
    return uniform, record


def import_qucumber(data_path: str | os.PathLike, bases_path: str | os.PathLike | None = None) -> MeasurementData:
    """Measurement data in QuCumber's text format.

    Without `bases_path`, the rows of 0/1 are computational-basis shots, and the POVM is {|0><0|, |1><1|}
    ("computational"), which determines only the diagonal of the state. With `bases_path` (one letter X, Y or Z
    per qubit per shot), bit b measured in Z, X, Y becomes the pauli6 outcome b, 2 + b, 4 + b (|0>, |1>, |+>,
    |->, |+i>, |-i>; QuCumber's bit 0 in Y is |+i>), and the settings are kept in `bases` (0 = Z, 1 = X, 2 = Y).

    The pauli6 POVM (weight 1/3 per basis) is the measurement actually made only when every qubit's basis is
    drawn uniformly and independently. The settings are tested for that (chi-square, p >= 1e-3) and the
    verdict recorded in `extra["basis_sampling"]`; non-uniform settings raise a BasisSamplingWarning and
    their frequencies are recorded in `extra["basis_frequencies"]`.

    Args:
        data_path: text file, one shot per line, N values 0/1 separated by spaces.
        bases_path: text file of the same shape with the basis letter of every qubit in every shot.

    Returns:
        MeasurementData with outcomes (n, N), no target state and no noise spec.
    """
    data_path = Path(data_path)
    bits = _parse_integers(data_path, 2, "one shot per line of 0/1 values, one per qubit")
    extra: dict[str, Any] = {"source": "qucumber", "data_file": data_path.name}
    if bases_path is None:
        return MeasurementData(bits, computational_povm(), extra=extra)
    bases_path = Path(bases_path)
    bases = _basis_codes(bases_path)
    if bases.shape != bits.shape:
        raise DataFormatError(
            f"{bases_path}: expected one basis letter per qubit per shot of {data_path.name}, i.e. shape "
            f"{bits.shape}, found shape {bases.shape}"
        )
    uniform, record = _basis_sampling(bases)
    extra |= {"bases_file": bases_path.name, **record}
    if not uniform:
        warnings.warn(
            f"{bases_path}: measurement settings are not drawn uniformly per qubit ({record['basis_sampling_test']}, "
            f"p = {record['basis_sampling_p_value']:.3g}); the pauli6 POVM assumes each basis with probability 1/3, "
            "so its P(a) differs from these data's distribution",
            BasisSamplingWarning,
            stacklevel=2,
        )
    outcomes = 2 * bases + bits.astype(np.uint8)
    return MeasurementData(outcomes, POVM.named("pauli6"), bases=bases, extra=extra)


def import_outcomes(path: str | os.PathLike, povm: POVM | str, *, n_qubits: int | None = None) -> MeasurementData:
    """Plain integer outcome strings from a text table (whitespace-separated, one shot per line) or a .npy file.

    Args:
        path: the file; ".npy" files are read with numpy (no pickles), anything else as text.
        povm: the POVM the integers index (a POVM or a name such as "pauli4").
        n_qubits: the expected N, checked when given.

    Returns:
        MeasurementData with outcomes (n, N) in [0, K), no target state and no noise spec.
    """
    path = Path(path)
    povm = POVM.from_spec(povm)
    k = povm.n_outcomes
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataFormatError(f"{path}: no such file") from None
        except (OSError, ValueError, EOFError) as exc:
            raise DataFormatError(f"{path}: expected a .npy array of integers, cannot read it ({exc})") from None
        try:
            values = as_outcome_array(values, None, k, name=f"{path}: outcomes for POVM {povm.name!r}")
        except OutcomeError as exc:
            raise DataFormatError(str(exc)) from None  # the file is malformed: the error of a bad data file
    else:
        values = _parse_integers(path, k, f"integer outcomes in [0, {k}), one shot per line")
    if n_qubits is not None and values.shape[1] != n_qubits:
        raise DataFormatError(f"{path}: expected {n_qubits} outcomes per shot (n_qubits), found {values.shape[1]}")
    return MeasurementData(values, povm, extra={"source": "outcomes file", "data_file": path.name})


def _check_qubit_dimension(path: Path, dim: int, what: str) -> None:
    if dim < 2 or dim & (dim - 1):
        raise DataFormatError(f"{path}: expected a {what} of dimension 2^N, found dimension {dim}")


def import_density_matrix_text(real_path: str | os.PathLike, imag_path: str | os.PathLike) -> np.ndarray:
    """A density matrix from two text tables of its real and imaginary parts (as QuCumber's N2_W_state_target_*).

    Returns:
        (2^N, 2^N) complex128 array, as written (no check of Hermiticity or trace).
    """
    real_path, imag_path = Path(real_path), Path(imag_path)
    re = _parse_floats(real_path, "the real part of a density matrix, one row per line")
    im = _parse_floats(imag_path, "the imaginary part of a density matrix, one row per line")
    if re.shape[0] != re.shape[1]:
        raise DataFormatError(f"{real_path}: expected a square matrix, found shape {re.shape}")
    _check_qubit_dimension(real_path, re.shape[0], "density matrix")
    if im.shape != re.shape:
        raise DataFormatError(f"{imag_path}: expected shape {re.shape} like {real_path.name}, found {im.shape}")
    return re + 1j * im


def import_state_vector_text(path: str | os.PathLike) -> np.ndarray:
    """A state vector from a text table of "Re Im" lines (as QuCumber's tfim1d_psi.txt), site 0 most significant.

    Returns:
        (2^N,) complex128 array, as written (not renormalised).
    """
    path = Path(path)
    values = _parse_floats(path, 'one amplitude "Re Im" per line')
    if values.shape[1] != 2:
        raise DataFormatError(f'{path}: expected 2 columns "Re Im" per line, found {values.shape[1]}')
    _check_qubit_dimension(path, values.shape[0], "state vector")
    return values[:, 0] + 1j * values[:, 1]

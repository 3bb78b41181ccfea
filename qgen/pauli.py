"""Pauli matrices and the Pauli-string notation of observables ("XIIZ", or {string: coefficient})."""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import POVMError, StateError

__all__ = ["PAULI", "pauli_matrix", "parse_observable"]

PAULI: dict[str, np.ndarray] = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}
for _m in PAULI.values():
    _m.flags.writeable = False


def pauli_matrix(letter: str) -> np.ndarray:
    """The 2x2 Pauli matrix for one of the letters I, X, Y, Z (upper or lower case).

    Example:
        >>> pauli_matrix("z").real.tolist()
        [[1.0, 0.0], [0.0, -1.0]]
    """
    try:
        return PAULI[letter.upper()]
    except (KeyError, AttributeError):
        raise POVMError(f"unknown Pauli letter {letter!r}: expected one of I, X, Y, Z") from None


def parse_observable(observable: Any, n_qubits: int) -> list[tuple[complex, str]]:
    """An observable as a list of (coefficient, Pauli string) terms.

    Args:
        observable: a Pauli string of n_qubits letters among I, X, Y, Z ("XIIZ"), or a dict mapping such
            strings to coefficients (a Hamiltonian).
        n_qubits: the number of letters every string must have.

    Example:
        >>> parse_observable({"ZZI": -1.0, "XII": -0.5}, 3)
        [((-1+0j), 'ZZI'), ((-0.5+0j), 'XII')]
    """
    if isinstance(observable, str):
        items = [(observable, 1.0)]
    elif isinstance(observable, dict):
        items = list(observable.items())
    else:
        raise StateError(
            f"observable must be a Pauli string or a dict of Pauli strings, got {type(observable).__name__}"
        )
    if not items:
        raise StateError("observable is an empty dict")
    terms = []
    for s, c in items:
        if not isinstance(s, str):
            raise StateError(f"observable term {s!r} is not a string")
        s = s.upper()
        if len(s) != n_qubits or any(ch not in "IXYZ" for ch in s):
            raise StateError(f"Pauli string {s!r} must have exactly {n_qubits} letters among I, X, Y, Z")
        try:
            coefficient = complex(c)
        except (TypeError, ValueError):
            raise StateError(f"coefficient of {s!r} must be a number, got {c!r}") from None
        if not np.isfinite(coefficient):
            raise StateError(f"coefficient of {s!r} must be finite, got {c!r}")
        terms.append((coefficient, s))
    return terms

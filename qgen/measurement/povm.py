"""Single-qubit POVMs: elements, validation, overlap matrix, dual frame and observable coefficients."""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import POVMError
from qgen.pauli import PAULI, pauli_matrix

__all__ = ["POVM", "PAULI", "pauli_matrix", "NAMED_POVMS"]

_I, _X, _Y, _Z = (PAULI[s] for s in "IXYZ")
NAMED_POVMS = ("pauli4", "tetra", "pauli6", "trine")


def _projector(vec: np.ndarray) -> np.ndarray:
    v = np.asarray(vec, dtype=np.complex128)
    v = v / np.linalg.norm(v)
    return np.outer(v, v.conj())


def _bloch_element(weight: float, s: np.ndarray) -> np.ndarray:
    return weight * (_I + s[0] * _X + s[1] * _Y + s[2] * _Z)


def _named_elements(name: str) -> tuple[np.ndarray, bool]:
    """Elements of a named POVM, and whether it is complete for real states only."""
    if name == "pauli4":
        # Carrasquilla et al. (2019), Methods: 1/3 of the +1 projectors of Z, X, Y, and the rest.
        m = [
            _projector([1, 0]) / 3,
            _projector([1, 1]) / 3,
            _projector([1, 1j]) / 3,
        ]
        m.append(_I - sum(m))
        return np.stack(m), False
    if name == "tetra":
        # Symmetric informationally complete POVM, M_a = (1 + s_a . sigma) / 4, s_0 along +z.
        s = np.array(
            [
                [0.0, 0.0, 1.0],
                [2 * np.sqrt(2) / 3, 0.0, -1 / 3],
                [-np.sqrt(2) / 3, np.sqrt(2 / 3), -1 / 3],
                [-np.sqrt(2) / 3, -np.sqrt(2 / 3), -1 / 3],
            ]
        )
        return np.stack([_bloch_element(0.25, si) for si in s]), False
    if name == "pauli6":
        # Projectors onto |0>, |1>, |+>, |->, |+i>, |-i>, each weighted 1/3 (one Pauli basis chosen at random).
        vecs = [[1, 0], [0, 1], [1, 1], [1, -1], [1, 1j], [1, -1j]]
        return np.stack([_projector(v) / 3 for v in vecs]), False
    if name == "trine":
        # Three real states 120 degrees apart in the x-z plane of the Bloch sphere, weight 2/3. They span
        # I, X, Z only: a real single-qubit state is determined, and on N qubits every expectation of a
        # Pauli string without Y is, but correlations such as <Y_i Y_j> (real for real states) are not.
        s = [np.array([np.sin(t), 0.0, np.cos(t)]) for t in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
        return np.stack([_bloch_element(1 / 3, si) for si in s]), True
    raise POVMError(f"unknown POVM name {name!r}: expected one of {', '.join(NAMED_POVMS)}")


class POVM:
    """A single-qubit positive operator-valued measure, applied to every qubit alike.

    Args:
        elements: (K, 2, 2) complex array of Hermitian, positive operators that sum to the identity.
        name: a label recorded in data files ("custom" when not given).
        atol: tolerance of the validity checks.

    The dual frame is the canonical one: Q_a = sum_b (T^+)_ab M_b with T_ab = Tr(M_a M_b); it satisfies
    rho = sum_a Tr(M_a rho) Q_a for every rho in the span of the elements, and for over-complete POVMs it is
    the dual of least variance in the Frobenius sense.

    Example:
        >>> p = POVM.named("pauli4")
        >>> p.coefficients(PAULI["Z"]).round(12).tolist()
        [5.0, -1.0, -1.0, -1.0]
    """

    def __init__(self, elements: Any, name: str = "custom", *, atol: float = 1e-12) -> None:
        try:
            m = np.array(elements, dtype=np.complex128)
        except (TypeError, ValueError) as exc:
            raise POVMError(f"POVM elements must be a (K, 2, 2) complex array: {exc}") from None
        if m.ndim != 3 or m.shape[1:] != (2, 2) or m.shape[0] < 2:
            raise POVMError(f"POVM elements must have shape (K, 2, 2) with K >= 2, got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise POVMError("POVM elements contain NaN or infinite entries")
        for a, e in enumerate(m):
            dev = np.abs(e - e.conj().T).max()
            if dev > atol:
                raise POVMError(f"POVM element {a} is not Hermitian (max |M - M^dagger| = {dev:.3g})")
            low = np.linalg.eigvalsh(e).min()
            if low < -atol:
                raise POVMError(f"POVM element {a} is not positive (smallest eigenvalue {low:.3g})")
        dev = np.abs(m.sum(axis=0) - _I).max()
        if dev > atol:
            raise POVMError(f"POVM elements do not sum to the identity (max deviation {dev:.3g})")
        self.elements = m
        self.elements.setflags(write=False)
        self.name = str(name)
        self.atol = atol
        self._real_only = False
        t = np.einsum("aij,bji->ab", m, m)
        self.overlap = t.real.copy()
        self.overlap.setflags(write=False)
        self.duals = np.einsum("ab,bij->aij", np.linalg.pinv(self.overlap, rcond=1e-12), m)
        self.duals.setflags(write=False)

    @classmethod
    def named(cls, name: str) -> POVM:
        """One of the named POVMs: "pauli4", "tetra", "pauli6" or "trine"."""
        if not isinstance(name, str):
            raise POVMError(f"POVM name must be a string, got {type(name).__name__}")
        elements, real_only = _named_elements(name.lower())
        povm = cls(elements, name=name.lower())
        povm._real_only = real_only
        return povm

    @classmethod
    def from_spec(cls, spec: str | POVM | Any) -> POVM:
        """A POVM from a name, an existing POVM or an array of elements."""
        if isinstance(spec, POVM):
            return spec
        if isinstance(spec, str):
            return cls.named(spec)
        return cls(spec)

    @property
    def n_outcomes(self) -> int:
        """K, the number of outcomes."""
        return int(self.elements.shape[0])

    @property
    def rank(self) -> int:
        """Dimension of the real span of the elements: 4 for an informationally complete POVM."""
        return int(np.linalg.matrix_rank(self.overlap, tol=1e-10))

    @property
    def is_informationally_complete(self) -> bool:
        """True when the elements span all 2x2 Hermitian operators, so every qubit state is determined."""
        return self.rank == 4

    @property
    def is_complete_for_real_states(self) -> bool:
        """True when every real density matrix is determined (span contains I, X and Z)."""
        span = self.elements.reshape(self.n_outcomes, 4)
        targets = np.stack([PAULI[p].reshape(4) for p in "IXZ"])
        coef, *_ = np.linalg.lstsq(span.T, targets.T, rcond=None)
        return bool(np.allclose(span.T @ coef, targets.T, atol=1e-10))

    @property
    def real_states_only(self) -> bool:
        """True for POVMs (such as the trine) whose span is I, X, Z: they determine a real single-qubit state,
        and on N qubits every observable made of I, X and Z, but neither Y nor Y-Y correlations."""
        return self._real_only or (not self.is_informationally_complete and self.is_complete_for_real_states)

    def coefficients(self, op: Any) -> np.ndarray:
        """The K numbers Tr(op Q_a): <op> = sum_a P(a) Tr(op Q_a). Real for a Hermitian op.

        Args:
            op: a 2x2 matrix or a Pauli letter.
        """
        o = pauli_matrix(op) if isinstance(op, str) else np.asarray(op, dtype=np.complex128)
        if o.shape != (2, 2):
            raise POVMError(f"single-qubit observable must be 2x2, got shape {o.shape}")
        c = np.einsum("ij,aji->a", o, self.duals)
        if np.allclose(o, o.conj().T, atol=1e-12):
            return c.real.copy()
        return c

    def probabilities(self, rho: Any) -> np.ndarray:
        """Single-qubit outcome probabilities Tr(M_a rho), shape (K,)."""
        r = np.asarray(rho, dtype=np.complex128)
        return np.einsum("aij,ji->a", self.elements, r).real

    def transformed(self, elements: np.ndarray, name: str | None = None) -> POVM:
        """A new POVM with other elements (for example noise folded in), keeping the real-only flag."""
        new = POVM(elements, name=name or self.name, atol=max(self.atol, 1e-10))
        new._real_only = self._real_only
        return new

    def __eq__(self, other: object) -> bool:
        return isinstance(other, POVM) and np.allclose(self.elements, other.elements, atol=1e-12)

    def __hash__(self) -> int:
        return hash((self.name, self.n_outcomes))

    def __repr__(self) -> str:
        return f"POVM(name={self.name!r}, n_outcomes={self.n_outcomes})"

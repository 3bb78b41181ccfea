"""Dense targets for small systems: a state vector or a density matrix, with exact observables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qgen.errors import StateError
from qgen.states.base import State, parse_observable

if TYPE_CHECKING:
    from qgen.measurement.dense import DenseMeasurement
    from qgen.measurement.noise import Channel
    from qgen.measurement.povm import POVM

__all__ = ["DenseState", "pauli_expectation"]


def _n_qubits_of(dim: int, what: str) -> int:
    n = int(dim).bit_length() - 1
    if dim < 2 or 1 << n != dim:
        raise StateError(f"{what} must have a power-of-two dimension 2^N with N >= 1, got {dim}")
    return n


def _as_vector(vector: Any) -> np.ndarray:
    """A state vector as a 1-D complex array: 1-D input, or a (2^N, 1) column (the ket shape of qutip and numpy).

    Any other 2-D array is refused: flattening a 4 x 4 density matrix would silently give a 4-qubit "vector".
    """
    try:
        v = np.asarray(vector, dtype=np.complex128)
    except (TypeError, ValueError):
        raise StateError(f"a state vector must be a 1-D array of numbers, got {type(vector).__name__}") from None
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise StateError(
            f"a state vector must be 1-D (or a (2^N, 1) column), got shape {v.shape}; pass a matrix as density_matrix="
        )
    if not np.all(np.isfinite(v)):
        raise StateError("state vector contains NaN or infinite amplitudes")
    return v.copy()


def _pauli_masks(string: str) -> tuple[int, int, int]:
    """Bit masks (flip, sign, number of Y) of a Pauli string; site 0 is the most significant bit."""
    n = len(string)
    flip = sign = 0
    for i, ch in enumerate(string):
        bit = 1 << (n - 1 - i)
        if ch in "XY":
            flip |= bit
        if ch in "YZ":
            sign |= bit
    return flip, sign, string.count("Y")


def pauli_expectation(string: str, vector: np.ndarray | None = None, rho: np.ndarray | None = None) -> complex:
    """<P> for a Pauli string P on a state vector or a density matrix, in O(2^N) without building P.

    P|j> = i^{n_Y} (-1)^{popcount(j & sign)} |j xor flip>, with Y|b> = i (-1)^b |1 - b>.
    """
    flip, sign, n_y = _pauli_masks(string)
    dim = len(vector) if vector is not None else rho.shape[0]
    j = np.arange(dim, dtype=np.int64)
    phase = (1j**n_y) * (1 - 2 * (np.bitwise_count(j & sign) & 1).astype(np.float64))
    if vector is not None:
        return complex(np.sum(vector[j ^ flip].conj() * phase * vector))
    # Tr(P rho) = sum_k <k|P rho|k> = sum_j phase(j) rho[j, j xor flip]
    return complex(np.sum(phase * rho[j, j ^ flip]))


class DenseState(State):
    """A state of N qubits held as a 2^N vector or a 2^N x 2^N density matrix (site 0 most significant).

    Args:
        vector: normalised state vector of length 2^N (pure state), or None.
        density_matrix: Hermitian, positive, unit-trace matrix (mixed state), or None.
        spec: JSON-able record that rebuilds the state (set by the named-state constructors).
        atol: tolerance of the normalisation and positivity checks.
    """

    def __init__(
        self,
        vector: Any = None,
        density_matrix: Any = None,
        *,
        spec: dict[str, Any] | None = None,
        atol: float = 1e-8,
    ) -> None:
        if (vector is None) == (density_matrix is None):
            raise StateError("give exactly one of vector or density_matrix")
        if vector is not None:
            v = _as_vector(vector)
            self.n_qubits = _n_qubits_of(v.size, "state vector")
            norm = np.linalg.norm(v)
            if not np.isfinite(norm) or abs(norm - 1) > atol:
                raise StateError(f"state vector must have norm 1, got {norm:.12g} (use DenseState.normalized)")
            self.vector: np.ndarray | None = v / norm
            self._rho: np.ndarray | None = None
        else:
            r = np.array(density_matrix, dtype=np.complex128)
            if r.ndim != 2 or r.shape[0] != r.shape[1]:
                raise StateError(f"density matrix must be square, got shape {r.shape}")
            if not np.all(np.isfinite(r)):
                # NaN fails no comparison below: the Hermiticity, trace and positivity checks would all pass.
                raise StateError("density matrix contains NaN or infinite entries")
            self.n_qubits = _n_qubits_of(r.shape[0], "density matrix")
            if np.abs(r - r.conj().T).max() > atol:
                raise StateError("density matrix is not Hermitian")
            tr = np.trace(r).real
            if abs(tr - 1) > atol:
                raise StateError(f"density matrix must have unit trace, got {tr:.12g}")
            low = np.linalg.eigvalsh(r).min()
            if low < -atol:
                raise StateError(f"density matrix is not positive (smallest eigenvalue {low:.3g})")
            self.vector = None
            self._rho = (r + r.conj().T) / 2
        self.spec = spec

    @classmethod
    def normalized(cls, vector: Any, *, spec: dict[str, Any] | None = None) -> DenseState:
        """A pure state from any non-zero vector, normalised."""
        v = _as_vector(vector)
        norm = np.linalg.norm(v)
        if not np.isfinite(norm) or norm == 0:
            raise StateError("cannot normalise a zero or non-finite vector")
        return cls(vector=v / norm, spec=spec)

    @classmethod
    def from_qutip(cls, qobj: Any) -> DenseState:
        """A state from a qutip ket or density matrix on N qubits (qutip's tensor order: first factor = site 0)."""
        data = qobj.full()
        if qobj.isket:
            return cls(vector=data.reshape(-1))
        if qobj.isoper:
            return cls(density_matrix=data)
        raise StateError(f"qutip object must be a ket or a density matrix, got type {qobj.type!r}")

    def to_qutip(self) -> Any:
        """The state as a qutip Qobj with dims [[2]*N, [1]*N] (ket) or [[2]*N, [2]*N]."""
        import qutip

        dims = [2] * self.n_qubits
        if self.vector is not None:
            return qutip.Qobj(self.vector.reshape(-1, 1), dims=[dims, [1] * self.n_qubits])
        return qutip.Qobj(self._rho, dims=[dims, dims])

    @property
    def is_pure(self) -> bool:
        return self.vector is not None

    @property
    def density_matrix(self) -> np.ndarray:
        """The 2^N x 2^N density matrix (built on demand for a pure state)."""
        if self._rho is None:
            return np.outer(self.vector, self.vector.conj())
        return self._rho

    def expectation(self, observable: str | dict[str, complex]) -> float:
        total = 0j
        for coef, string in parse_observable(observable, self.n_qubits):
            if self.vector is not None:
                total += coef * pauli_expectation(string, vector=self.vector)
            else:
                total += coef * pauli_expectation(string, rho=self._rho)
        if abs(total.imag) > 1e-9 * max(1.0, abs(total.real)):
            raise StateError(f"observable is not Hermitian: <O> = {total:.6g}")
        return float(total.real)

    def fidelity(self, other: DenseState) -> float:
        """|<psi|phi>|^2 for two pure states, <psi|rho|psi> when one is pure (Uhlmann needs metrics)."""
        if self.n_qubits != other.n_qubits:
            raise StateError(f"states have {self.n_qubits} and {other.n_qubits} qubits")
        if self.vector is not None and other.vector is not None:
            return float(abs(np.vdot(self.vector, other.vector)) ** 2)
        if self.vector is not None:
            return float(np.vdot(self.vector, other.density_matrix @ self.vector).real)
        if other.vector is not None:
            return other.fidelity(self)
        raise StateError("fidelity of two mixed states: use qgen.metrics.quantum_fidelity")

    def measured(self, povm: POVM | str, noise: Channel | None = None, *, device: Any = None) -> DenseMeasurement:
        from qgen.measurement.dense import DenseMeasurement  # the one arrow back: measurement imports states

        return DenseMeasurement(self, povm, noise, device=device)

    def __repr__(self) -> str:
        kind = "pure" if self.is_pure else "mixed"
        name = f", spec={self.spec['name']!r}" if self.spec else ""
        return f"DenseState(n_qubits={self.n_qubits}, {kind}{name})"

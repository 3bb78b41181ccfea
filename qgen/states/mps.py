"""Matrix-product-state targets: exact expectations, exact log P(a) and batched ancestral sampling for any N.

An MPS of N qubits is a list of tensors A_i of shape (chi_left, 2, chi_right), chi_left = 1 at site 0 and
chi_right = 1 at site N-1, with psi(s_0..s_N-1) = A_0[s_0] A_1[s_1] ... A_N-1[s_N-1]. MPSState keeps its
tensors in right-canonical form (sum_s A[s] A[s]^dagger = 1 for every site but the first) and at unit norm,
so every conditional probability P(a_i | a_<i) needs only the left environment of the prefix.

References:
    U. Schollwoeck, "The density-matrix renormalization group in the age of matrix product states",
    Ann. Phys. 326, 96 (2011), sections 4.4 (canonical forms) and 4.2 (expectation values).
    A. J. Ferris and G. Vidal, "Perfect sampling with unitary tensor networks", PRB 85, 165146 (2012)
    (ancestral sampling of an MPS site by site).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from qgen.errors import StateError
from qgen.pauli import PAULI
from qgen.states.base import State, parse_observable

if TYPE_CHECKING:
    from qgen.measurement.mps import MPSMeasurement
    from qgen.measurement.noise import Channel
    from qgen.measurement.povm import POVM

__all__ = ["MPSState", "DENSE_LIMIT"]

# Largest N that to_dense and from_dense handle (2^24 complex128 amplitudes: 256 MiB).
DENSE_LIMIT = 24


def _check_tensors(tensors: Any) -> list[np.ndarray]:
    try:
        arrays = [np.asarray(t) for t in tensors]
    except TypeError:
        raise StateError("MPS tensors must be a sequence of arrays") from None
    if not arrays:
        raise StateError("an MPS needs at least one tensor")
    out = []
    for i, t in enumerate(arrays):
        if t.ndim != 3 or t.shape[1] != 2:
            raise StateError(f"MPS tensor {i} must have shape (chi_left, 2, chi_right), got {t.shape}")
        if t.dtype.kind not in "fciu":
            raise StateError(f"MPS tensor {i} must hold numbers, got dtype {t.dtype}")
        if not np.all(np.isfinite(t)):
            raise StateError(f"MPS tensor {i} contains NaN or infinite entries")
        if i > 0 and t.shape[0] != out[-1].shape[2]:
            raise StateError(
                f"MPS bond {i - 1}-{i} does not match: tensor {i - 1} ends with {out[-1].shape[2]}, "
                f"tensor {i} starts with {t.shape[0]}"
            )
        out.append(t)
    if out[0].shape[0] != 1 or out[-1].shape[2] != 1:
        raise StateError(
            f"MPS boundary bonds must be 1 (open chain), got {out[0].shape[0]} at site 0 and "
            f"{out[-1].shape[2]} at site {len(out) - 1}"
        )
    dtype = np.complex128 if any(t.dtype.kind == "c" and np.any(t.imag) for t in out) else np.float64
    return [np.array(t.real if dtype == np.float64 and t.dtype.kind == "c" else t, dtype=dtype) for t in out]


def right_canonicalize(tensors: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """Right-canonical tensors of the same state, normalised, and the log of the original norm.

    Each step is an LQ decomposition (the QR of the conjugate transpose) from the right end; the R factor
    is scaled to unit norm before it moves left, so the log-norm accumulates without overflow at any N.
    """
    out = [t.copy() for t in tensors]
    log_norm = 0.0
    for i in range(len(out) - 1, 0, -1):
        chi_l, d, chi_r = out[i].shape
        q, r = np.linalg.qr(out[i].reshape(chi_l, d * chi_r).conj().T)
        scale = np.linalg.norm(r)
        if scale == 0 or not np.isfinite(scale):
            raise StateError(f"MPS has zero or non-finite norm (found at site {i})")
        log_norm += np.log(scale)
        out[i] = q.conj().T.reshape(-1, d, chi_r)
        out[i - 1] = np.tensordot(out[i - 1], r.conj().T / scale, axes=(2, 0))
    scale = np.linalg.norm(out[0])
    if scale == 0 or not np.isfinite(scale):
        raise StateError("MPS has zero or non-finite norm")
    out[0] = out[0] / scale
    return out, float(log_norm + np.log(scale))


def _transfer(env: np.ndarray, bra: np.ndarray, ket: np.ndarray) -> np.ndarray:
    """sum_s bra[s]^dagger env ket[s]: one step of the doubled (bra-ket) environment, (chi, chi) -> (chi', chi')."""
    return np.tensordot(bra.conj(), np.tensordot(env, ket, axes=(1, 0)), axes=([0, 1], [0, 1]))


class MPSState(State):
    """A pure state of N qubits as a matrix-product state, held right-canonical and normalised.

    Args:
        tensors: N arrays of shape (chi_left, 2, chi_right) (real or complex; chi_left = 1 at site 0,
            chi_right = 1 at site N-1). Any non-zero norm is accepted; the state is normalised.
        spec: JSON-able record that rebuilds the state through qgen.states.from_spec.

    Attributes:
        tensors: the right-canonical site tensors (float64 when every entry is real, else complex128).
        log_norm: log of the norm of the tensors as given (before normalisation).

    Example:
        >>> from qgen.states.exact_mps import ghz_mps
        >>> ghz = ghz_mps(40)  # (|0...0> + |1...1>)/sqrt(2): Z...Z is +1 on both branches for even N
        >>> [round(ghz.expectation(s), 12) for s in ("Z" * 40, "X" * 40, "Z" + "I" * 39)]
        [1.0, 1.0, 0.0]
    """

    def __init__(self, tensors: Any, *, spec: dict[str, Any] | None = None) -> None:
        self.tensors, self.log_norm = right_canonicalize(_check_tensors(tensors))
        self.n_qubits = len(self.tensors)
        self.spec = spec
        self._left_envs: list[np.ndarray] | None = None

    @classmethod
    def from_dense(cls, vector: Any, *, max_bond: int | None = None, spec: dict[str, Any] | None = None) -> MPSState:
        """The exact MPS of a state vector (site 0 most significant) by successive SVDs.

        Args:
            vector: (2^N,) amplitudes, N <= DENSE_LIMIT.
            max_bond: keep at most this many singular values per bond (None: exact up to 1e-14 relative).
        """
        v = np.asarray(vector).reshape(-1)
        n = int(np.log2(max(v.size, 1)))
        if v.size < 2 or 2**n != v.size or n > DENSE_LIMIT:
            raise StateError(f"state vector must have length 2^N with 1 <= N <= {DENSE_LIMIT}, got {v.size}")
        tensors, rest, chi = [], v.reshape(1, -1), 1
        for _ in range(n - 1):
            u, s, vh = np.linalg.svd(rest.reshape(chi * 2, -1), full_matrices=False)
            keep = max(1, int(np.sum(s > 1e-14 * s[0])))
            keep = min(keep, max_bond) if max_bond else keep
            tensors.append(u[:, :keep].reshape(chi, 2, keep))
            rest, chi = s[:keep, None] * vh[:keep], keep
        tensors.append(rest.reshape(chi, 2, 1))
        return cls(tensors, spec=spec)

    @property
    def is_pure(self) -> bool:
        return True

    @property
    def is_real(self) -> bool:
        """True when every tensor entry is real (the state has real amplitudes)."""
        return self.tensors[0].dtype == np.float64

    @property
    def bond_dimensions(self) -> list[int]:
        """The N-1 bond dimensions chi_i between sites i and i+1."""
        return [t.shape[2] for t in self.tensors[:-1]]

    @property
    def bond_dimension(self) -> int:
        """The largest bond dimension (1 for a product state)."""
        return max(self.bond_dimensions, default=1)

    def norm(self) -> float:
        """<psi|psi>^(1/2) computed from the tensors (1 up to rounding; a check of the canonical form)."""
        env = np.ones((1, 1))
        for t in self.tensors:
            env = _transfer(env, t, t)
        return float(np.sqrt(abs(np.trace(env))))

    def left_environments(self) -> list[np.ndarray]:
        """L_0..L_N-1, L_i = the doubled environment of sites < i with identities, shape (chi_i, chi_i).

        With right-canonical tensors the right environment of every bond is the identity, so
        <O> = Tr(L_a T_a ... T_b) for an operator supported on sites a..b.
        """
        if self._left_envs is None:
            envs = [np.ones((1, 1), dtype=self.tensors[0].dtype)]
            for t in self.tensors[:-1]:
                envs.append(_transfer(envs[-1], t, t))
            self._left_envs = envs
        return self._left_envs

    def apply_local(self, env: np.ndarray, site: int, letter: str) -> np.ndarray:
        """The doubled environment `env` (chi, chi) at bond `site` carried through `site` with Pauli `letter`."""
        t = self.tensors[site]
        if letter == "I":
            return _transfer(env, t, t)
        return _transfer(env, t, np.einsum("st,ltr->lsr", PAULI[letter], t))

    def expectation(self, observable: str | dict[str, complex]) -> float:
        """Exact <O> for a Pauli string ("XIIZ") or a dict of Pauli strings to coefficients.

        Each term costs O((b - a + 1) chi^3) for support a..b: the left environment L_a is cached and the
        right environment is the identity. An N = 1000 TFIM energy takes well under a second.
        """
        envs = self.left_environments()
        total = 0j
        for coef, string in parse_observable(observable, self.n_qubits):
            support = [i for i, ch in enumerate(string) if ch != "I"]
            if not support:
                total += coef
                continue
            env = envs[support[0]]
            for i in range(support[0], support[-1] + 1):
                env = self.apply_local(env, i, string[i])
            total += coef * np.trace(env)
        if abs(total.imag) > 1e-10 * max(1.0, abs(total.real)):
            raise StateError(f"observable has a complex expectation {total:.6g}: it is not Hermitian")
        return float(total.real)

    def to_dense(self) -> np.ndarray:
        """The state vector, shape (2^N,), site 0 most significant (N <= DENSE_LIMIT)."""
        if self.n_qubits > DENSE_LIMIT:
            raise StateError(f"to_dense needs N <= {DENSE_LIMIT}, this MPS has N = {self.n_qubits}")
        psi = np.ones((1, 1), dtype=self.tensors[0].dtype)
        for t in self.tensors:
            psi = (psi @ t.reshape(t.shape[0], -1)).reshape(-1, t.shape[2])
        return psi.reshape(-1).astype(np.complex128)

    def measured(self, povm: POVM | str, noise: Channel | None = None, *, device: Any = None) -> MPSMeasurement:
        """The exact outcome distribution of measuring every qubit with `povm` after local `noise`.

        Returns:
            an MPSMeasurement (exact log_prob, batched sampler) on `device` (None: CPU; "cuda"; "auto").
        """
        from qgen.measurement.mps import MPSMeasurement  # the one arrow back: measurement imports states

        return MPSMeasurement(self, povm, noise, device=device)

    def torch_tensors(self, device: torch.device) -> list[torch.Tensor]:
        """The site tensors as torch tensors on `device` (float64 or complex128)."""
        return [torch.from_numpy(np.ascontiguousarray(t)).to(device) for t in self.tensors]

    def __repr__(self) -> str:
        kind = "real" if self.is_real else "complex"
        return f"MPSState(n_qubits={self.n_qubits}, bond_dimension={self.bond_dimension}, {kind})"

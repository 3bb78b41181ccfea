"""The spin-flip parity P = X_1 X_2 ... X_N of an MPS, and the projection onto one of its sectors.

Why: DMRG on the Ising chain in its ordered phase (h < J) returns whichever symmetry-broken state the sweeps
happen to settle on: the two lowest levels of a finite open chain are split by an amount that falls
exponentially with N, far below DMRG's energy tolerance, so the run picks a mixture of them at random (a
different one per field). The finite chain's ground state is unique, though, and lies in the sector
P = sign(h)^N (Perron-Frobenius in the X basis, where -h sum X is diagonal and -J Z Z has non-positive
off-diagonal elements; Z on every site maps h to -h and anticommutes with P when N is odd). The exact
(dense) ground state is that state; projecting the DMRG state onto the sector, (psi + sign P psi) / norm,
recovers it to the accuracy of the DMRG itself: the two states DMRG mixes are the sector's ground state and
its partner, and the partner has the other parity.
"""

from __future__ import annotations

import numpy as np

from qgen.errors import StateError
from qgen.states.mps import MPSState, _transfer, right_canonicalize

__all__ = ["parity", "project_parity"]


def _flipped(t: np.ndarray) -> np.ndarray:
    """X on the physical index of one site tensor (chi_l, 2, chi_r): swap s = 0 and s = 1."""
    return t[:, ::-1, :]


def parity(state: MPSState) -> float:
    """<psi| X_1 ... X_N |psi> of a normalised MPS (real for any state: P is Hermitian).

    Example:
        >>> from qgen.states.exact_mps import ghz_mps
        >>> round(parity(ghz_mps(12)), 12)
        1.0
    """
    env = np.ones((1, 1))
    for t in state.tensors:
        env = _transfer(env, t, _flipped(t))
    return float(np.real(np.trace(env)))


def project_parity(state: MPSState, sign: int, *, cutoff: float = 1e-12, tol: float = 1e-14) -> MPSState:
    """The state projected onto the sector P = sign, (psi + sign P psi) normalised, compressed again.

    Args:
        state: a normalised MPS.
        sign: +1 or -1, the sector.
        cutoff: discarded weight (sum of squared normalised singular values) allowed per bond when the
            doubled bond of the sum is compressed back.
        tol: a state whose <P> is within tol of sign is returned as it is.

    Returns:
        an MPSState with the same spec.

    Raises:
        StateError: sign is not +-1, or the state has (almost) no weight in the sector.

    Example:
        >>> up = MPSState([np.array([1.0, 0.0]).reshape(1, 2, 1)] * 4)  # |0000>, a symmetry-broken state
        >>> cat = project_parity(up, +1)  # (|0000> + |1111>) / sqrt(2)
        >>> round(parity(cat), 12), round(cat.expectation("ZIII"), 12), round(cat.expectation("ZZZZ"), 12)
        (1.0, 0.0, 1.0)
    """
    if sign not in (1, -1):
        raise StateError(f"sign must be +1 or -1, got {sign!r}")
    p = parity(state)
    if abs(p - sign) <= tol:
        return state
    weight = (1.0 + sign * p) / 2.0  # <psi| (1 + sign P) / 2 |psi>
    if weight < 1e-6:
        raise StateError(f"the state has weight {weight:.2e} in the parity sector {sign:+d}; nothing to project")
    n = len(state.tensors)
    if n == 1:
        t = state.tensors[0]
        return MPSState([t + sign * _flipped(t)], spec=state.spec)
    summed = []
    for i, t in enumerate(state.tensors):
        f = _flipped(t) * (sign if i == n - 1 else 1)
        if i == 0:
            summed.append(np.concatenate([t, f], axis=2))
        elif i == n - 1:
            summed.append(np.concatenate([t, f], axis=0))
        else:
            cl, d, cr = t.shape
            block = np.zeros((2 * cl, d, 2 * cr), dtype=t.dtype)
            block[:cl, :, :cr], block[cl:, :, cr:] = t, f
            summed.append(block)
    return MPSState(_compress(summed, cutoff), spec=state.spec)


def _compress(tensors: list[np.ndarray], cutoff: float) -> list[np.ndarray]:
    """Left-to-right SVD sweep over right-canonical tensors, dropping the smallest singular values whose
    squared sum (of the normalised spectrum) stays within cutoff at each bond."""
    out, _ = right_canonicalize(tensors)
    for i in range(len(out) - 1):
        cl, d, cr = out[i].shape
        u, s, vh = np.linalg.svd(out[i].reshape(cl * d, cr), full_matrices=False)
        w = s**2 / np.sum(s**2)
        tail = np.cumsum(w[::-1])[::-1]  # tail[k] = weight of singular values k, k+1, ...
        keep = max(1, int(np.sum(tail > cutoff)))
        out[i] = u[:, :keep].reshape(cl, d, keep)
        out[i + 1] = np.tensordot(s[:keep, None] * vh[:keep], out[i + 1], axes=(1, 0))
    return out

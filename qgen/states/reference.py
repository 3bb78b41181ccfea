"""Exact reference values of a target state for the /reference group of a data file.

For an MPS the correlators come from transfer-matrix sweeps: one sweep from each left site i carries the
environment L_i O_i to the right and closes it with O_j at every j > i, so all N(N-1)/2 pairs cost
O(N^2 chi^3) in total rather than one contraction of the chain per pair. Any other State answers through
its `expectation`.
"""

from __future__ import annotations

import numpy as np

from qgen.errors import StateError
from qgen.pauli import PAULI
from qgen.states.base import State
from qgen.states.hamiltonians import hamiltonian_of
from qgen.states.mps import MPSState

__all__ = ["reference_values"]


def _string(n: int, ops: dict[int, str]) -> str:
    return "".join(ops.get(i, "I") for i in range(n))


def _mps_one_site(state: MPSState, letter: str) -> np.ndarray:
    envs = state.left_environments()
    return np.array([np.trace(state.apply_local(envs[i], i, letter)).real for i in range(state.n_qubits)])


def _mps_sweep(state: MPSState, i: int, letter: str, stop: int) -> np.ndarray:
    """<O_i O_j> for j = i+1 .. stop-1, one sweep."""
    env = state.apply_local(state.left_environments()[i], i, letter)
    out = []
    for j in range(i + 1, stop):
        out.append(np.trace(state.apply_local(env, j, letter)).real)
        env = state.apply_local(env, j, "I")
    return np.array(out)


def _mps_row(state: MPSState, c: int, letter: str) -> np.ndarray:
    """<O_c O_j> for every j, (N,): a right sweep from c, and a left sweep of the right environment of O_c."""
    n = state.n_qubits
    row = np.ones(n)
    row[c + 1 :] = _mps_sweep(state, c, letter, n)
    # value = sum_ab E[a, b] R[a, b] with R <- sum_s conj(A_s) R B_s^T going left (B = O applied to the ket).
    envs, right = state.left_environments(), np.eye(state.tensors[c].shape[2])
    for j in range(c, 0, -1):
        a = state.tensors[j]
        ket = np.einsum("st,ltr->lsr", PAULI[letter], a) if j == c else a
        right = np.einsum("lsr,rq,msq->lm", a.conj(), right, ket)
        row[j - 1] = np.sum(state.apply_local(envs[j - 1], j - 1, letter) * right).real
    return row


def _dense_row(state: State, c: int, letter: str) -> np.ndarray:
    n = state.n_qubits
    return np.array([1.0 if j == c else state.expectation(_string(n, {c: letter, j: letter})) for j in range(n)])


def reference_values(state: State, max_pairs_n: int = 100) -> dict[str, np.ndarray]:
    """Exact energy, magnetisations and two-point correlators of a state.

    Args:
        state: any State (MPSState uses transfer-matrix sweeps; others use `expectation`).
        max_pairs_n: up to this N the full correlation matrices are computed; above it, the correlators
            between the centre site c = N // 2 and every site.

    Returns:
        "magnetization_x", "magnetization_z": (N,) <X_i>, <Z_i>; for N <= max_pairs_n "correlation_zz",
        "correlation_xx": (N, N) <Z_i Z_j>, <X_i X_j> (unit diagonal); otherwise "correlation_zz_center",
        "correlation_xx_center": (N,) <Z_c Z_j>, <X_c X_j> and "center": c; "energy": () <H> when the state's
        spec names a Hamiltonian (TFIM, XXZ, 2-D Heisenberg: `hamiltonian_of`). qgen.evaluation reads the same names.
    """
    if not isinstance(state, State):
        raise StateError(f"reference_values needs a qgen State, got {type(state).__name__}")
    n = state.n_qubits
    out: dict[str, np.ndarray] = {}
    ham = hamiltonian_of(state.spec)
    if ham is not None:
        out["energy"] = np.array(state.expectation(ham))
    for letter in "XZ":
        if isinstance(state, MPSState):
            out[f"magnetization_{letter.lower()}"] = _mps_one_site(state, letter)
        else:
            out[f"magnetization_{letter.lower()}"] = np.array(
                [state.expectation(_string(n, {i: letter})) for i in range(n)]
            )
    if n <= max_pairs_n:
        for letter in "ZX":
            if isinstance(state, MPSState):
                m = np.eye(n)
                for i in range(n - 1):
                    m[i, i + 1 :] = m[i + 1 :, i] = _mps_sweep(state, i, letter, n)
                out[f"correlation_{letter.lower() * 2}"] = m
            else:
                out[f"correlation_{letter.lower() * 2}"] = np.array([_dense_row(state, i, letter) for i in range(n)])
    else:
        c = n // 2
        out["center"] = np.array(c)
        for letter in "ZX":
            row = _mps_row(state, c, letter) if isinstance(state, MPSState) else _dense_row(state, c, letter)
            out[f"correlation_{letter.lower() * 2}_center"] = row
    return out

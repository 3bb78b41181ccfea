"""Linear inversion: the density matrix from the full outcome distribution through the dual frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import POVMError
from qgen.measurement.povm import POVM

__all__ = ["reconstruct_density_matrix"]


def reconstruct_density_matrix(probabilities: Any, povm: POVM | str) -> np.ndarray:
    """rho = sum_a P(a) Q_{a_0} x ... x Q_{a_{N-1}} (DESIGN.md, physics conventions).

    Args:
        probabilities: P over all K^N strings, shape (K^N,) in lexicographic order (site 0 most significant)
            or shape (K,)*N; numpy array or torch tensor.
        povm: the POVM whose dual frame inverts P. With noisy data, the POVM as applied (noise folded in,
            `data.povm`) undoes the noise and gives the state before it; the ideal POVM (`data.ideal_povm`)
            gives the noisy state E(rho) the experiment actually measured.

    Returns:
        (2^N, 2^N) complex128 matrix. Exact P gives a physical rho; estimated P may give a slightly
        unphysical one (see qgen.metrics for the projection onto physical states).
    """
    povm = POVM.from_spec(povm)
    p = probabilities.detach().cpu().numpy() if hasattr(probabilities, "detach") else np.asarray(probabilities)
    p = p.astype(np.float64).reshape(-1)
    k = povm.n_outcomes
    n = round(np.log(p.size) / np.log(k)) if p.size > 1 else 0
    if n < 1 or k**n != p.size:
        raise POVMError(f"probabilities must have K^N = {k}^N entries for this POVM, got {p.size}")
    if n > 12:
        raise POVMError(f"a dense density matrix of {n} qubits is too large to reconstruct")
    # Contract one site at a time: each step turns the leading outcome axis into a (ket, bra) pair at the end.
    t = p.reshape([k] * n).astype(np.complex128)
    for _ in range(n):
        t = np.tensordot(t, povm.duals, axes=([0], [0]))
    order = [2 * i for i in range(n)] + [2 * i + 1 for i in range(n)]
    return t.transpose(order).reshape(2**n, 2**n)

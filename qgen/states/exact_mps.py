"""Exact bond-dimension-2 MPS of the GHZ state and of the linear cluster (graph) state, for any N."""

from __future__ import annotations

import numpy as np

from qgen.errors import StateError
from qgen.states.mps import MPSState
from qgen.strings import positive_int

__all__ = ["ghz_mps", "graph_mps"]


def ghz_mps(n_qubits: int) -> MPSState:
    """(|0...0> + |1...1>) / sqrt(2) as an MPS of bond dimension 2 (a product state for N = 1: |+>).

    The bond carries the common value of every bit: A[s][b, b'] = delta(s, b, b').
    """
    n = positive_int(n_qubits, "n_qubits", error=StateError)
    copy = np.zeros((2, 2, 2))
    copy[0, 0, 0] = copy[1, 1, 1] = 1.0
    if n == 1:
        return MPSState([np.ones((1, 2, 1))], spec={"name": "ghz", "n_qubits": 1})
    first = np.eye(2).reshape(1, 2, 2)
    last = np.eye(2).reshape(2, 2, 1)
    return MPSState([first] + [copy] * (n - 2) + [last], spec={"name": "ghz", "n_qubits": n})


def graph_mps(n_qubits: int) -> MPSState:
    """The linear cluster state prod_i CZ_{i,i+1} |+>^N as an MPS of bond dimension 2.

    psi(s) = 2^(-N/2) (-1)^(sum_i s_i s_{i+1}) (Briegel and Raussendorf, PRL 86, 910 (2001)); the bond
    carries the previous bit: A[s][b, b'] = delta(s, b') (-1)^(b s).
    """
    n = positive_int(n_qubits, "n_qubits", error=StateError)
    if n == 1:
        return MPSState([np.ones((1, 2, 1))], spec={"name": "graph", "n_qubits": 1, "edges": []})
    bulk = np.zeros((2, 2, 2))
    for b in range(2):
        for s in range(2):
            bulk[b, s, s] = (-1.0) ** (b * s)
    first = np.eye(2).reshape(1, 2, 2)
    last = np.array([[1.0, 1.0], [1.0, -1.0]]).reshape(2, 2, 1)
    spec = {"name": "graph", "n_qubits": n, "edges": [[i, i + 1] for i in range(n - 1)]}
    return MPSState([first] + [bulk] * (n - 2) + [last], spec=spec)

"""Named target states (GHZ, W, product, graph, Ising, XXZ and 2-D Heisenberg ground states) and their JSON specs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qgen.errors import StateError
from qgen.states.base import State
from qgen.states.dense import DenseState
from qgen.states.hamiltonians import (
    check_boundary,
    check_parameter,
    ground_state,
    heisenberg2d_lattice,
    tfim_ground_state,
    xxz_hamiltonian,
)
from qgen.strings import positive_int

__all__ = [
    "ghz",
    "w",
    "product",
    "graph",
    "tfim",
    "xxz",
    "heisenberg2d",
    "from_spec",
    "STATE_NAMES",
    "DENSE_LIMIT",
    "from_vector",
    "from_density_matrix",
    "from_qutip",
]

STATE_NAMES = ("tfim", "xxz", "heisenberg2d", "ghz", "w", "product", "graph")
# Largest chain that "auto" treats with a dense vector; ground states need Lanczos beyond this, so "auto"
# switches to DMRG there, while GHZ, graph and product states have exact bond-dimension-2 MPS at any size.
DENSE_LIMIT = 16
_EXACT_MPS_DENSE_LIMIT = 12

_LABELS = {
    "0": (1, 0),
    "1": (0, 1),
    "+": (1, 1),
    "-": (1, -1),
    "+i": (1, 1j),
    "-i": (1, -1j),
}


def _representation(representation: str, n_qubits: int, dense_limit: int) -> str:
    if representation not in ("auto", "dense", "mps"):
        raise StateError(f"representation must be 'auto', 'dense' or 'mps', got {representation!r}")
    if representation == "auto":
        return "dense" if n_qubits <= dense_limit else "mps"
    if representation == "dense" and n_qubits > 24:
        raise StateError(f"a dense state of {n_qubits} qubits does not fit in memory: use representation='mps'")
    return representation


def ghz(n_qubits: int, *, representation: str = "auto") -> State:
    """(|0...0> + |1...1>) / sqrt(2)."""
    n = positive_int(n_qubits, "n_qubits", error=StateError)
    spec = {"name": "ghz", "n_qubits": n}
    if _representation(representation, n, _EXACT_MPS_DENSE_LIMIT) == "mps":
        from qgen.states.exact_mps import ghz_mps

        return ghz_mps(n)
    v = np.zeros(2**n, dtype=np.complex128)
    v[0] = v[-1] = 1 / np.sqrt(2)
    return DenseState(vector=v, spec=spec)


def w(n_qubits: int) -> DenseState:
    """(|10...0> + |010...0> + ... + |0...01>) / sqrt(N), dense (N <= 24)."""
    n = positive_int(n_qubits, "n_qubits", error=StateError)
    _representation("dense", n, 0)
    v = np.zeros(2**n, dtype=np.complex128)
    v[1 << np.arange(n)] = 1 / np.sqrt(n)
    return DenseState(vector=v, spec={"name": "w", "n_qubits": n})


def _single_qubit(label: Any) -> tuple[np.ndarray, Any]:
    if isinstance(label, str):
        if label not in _LABELS:
            raise StateError(f"unknown single-qubit state {label!r}: expected one of {', '.join(_LABELS)}")
        v = np.array(_LABELS[label], dtype=np.complex128)
        return v / np.linalg.norm(v), label
    v = np.asarray(label, dtype=np.complex128).reshape(-1)
    if v.shape != (2,) or not np.isfinite(v).all() or np.linalg.norm(v) == 0:
        raise StateError(f"a single-qubit state must be a label or a non-zero 2-vector, got {label!r}")
    v = v / np.linalg.norm(v)
    return v, [[float(x.real), float(x.imag)] for x in v]


def product(states: str | Sequence[Any], n_qubits: int | None = None, *, representation: str = "auto") -> State:
    """A product state from one label repeated n_qubits times, or from one label or 2-vector per qubit.

    Labels: "0", "1", "+", "-", "+i", "-i".
    """
    if isinstance(states, str):
        states = [states] * positive_int(n_qubits if n_qubits is not None else 1, "n_qubits", error=StateError)
    elif n_qubits is not None and len(states) != n_qubits:
        raise StateError(f"product: {len(states)} single-qubit states given for n_qubits={n_qubits}")
    if len(states) == 0:
        raise StateError("product: no single-qubit states given")
    # A spec stores [re, im] pairs, so complex vectors survive the JSON round trip.
    pairs = [_single_qubit(s if not _is_pair_list(s) else [complex(*x) for x in s]) for s in states]
    spec = {"name": "product", "n_qubits": len(pairs), "states": [p[1] for p in pairs]}
    if _representation(representation, len(pairs), _EXACT_MPS_DENSE_LIMIT) == "mps":
        from qgen.states.mps import MPSState

        return MPSState([p[0].reshape(1, 2, 1) for p in pairs], spec=spec)
    v = np.ones(1, dtype=np.complex128)
    for p in pairs:
        v = np.kron(v, p[0])
    return DenseState(vector=v, spec=spec)


def _is_pair_list(s: Any) -> bool:
    return isinstance(s, (list, tuple)) and len(s) == 2 and all(isinstance(x, (list, tuple)) for x in s)


def graph(n_qubits: int, edges: Sequence[tuple[int, int]] | None = None, *, representation: str = "auto") -> State:
    """Graph state prod_{(i,j) in edges} CZ_ij |+>^N; the default edges form the linear cluster (i, i+1)."""
    n = positive_int(n_qubits, "n_qubits", error=StateError)
    linear = edges is None
    e = [(i, i + 1) for i in range(n - 1)] if linear else [(int(i), int(j)) for i, j in edges]
    for i, j in e:
        if not (0 <= i < n and 0 <= j < n) or i == j:
            raise StateError(f"graph edge ({i}, {j}) must join two different qubits in [0, {n})")
    spec = {"name": "graph", "n_qubits": n, "edges": [list(x) for x in e]}
    if _representation(representation, n, _EXACT_MPS_DENSE_LIMIT) == "mps":
        if not linear and e != [(i, i + 1) for i in range(n - 1)]:
            raise StateError("graph: the MPS representation is built for the linear cluster only")
        from qgen.states.exact_mps import graph_mps

        return graph_mps(n)
    j = np.arange(2**n, dtype=np.int64)
    bits = (j[:, None] >> (n - 1 - np.arange(n))) & 1
    parity = np.zeros(2**n, dtype=np.int64)
    for a, b in e:
        parity ^= bits[:, a] & bits[:, b]
    v = (1 - 2 * parity).astype(np.complex128) / np.sqrt(2**n)
    return DenseState(vector=v, spec=spec)


def tfim(
    n_qubits: int,
    h: float = 1.0,
    J: float = 1.0,
    boundary: str = "open",
    representation: str = "auto",
) -> State:
    """Ground state of H = -J sum Z_i Z_{i+1} - h sum X_i.

    "dense" uses sparse Lanczos (qgen.states.hamiltonians.ground_state); "mps" uses DMRG (qgen.states.dmrg);
    "auto" is dense up to 16 qubits.
    """
    n = positive_int(n_qubits, "n_qubits", minimum=2, error=StateError)
    check_boundary(boundary)
    h, J = check_parameter(h, "h"), check_parameter(J, "J")
    spec = {"name": "tfim", "n_qubits": n, "h": h, "J": J, "boundary": boundary}
    if _representation(representation, n, DENSE_LIMIT) == "mps":
        from qgen.states.dmrg import tfim_mps

        return tfim_mps(n, h=float(h), J=float(J), boundary=boundary)
    energy, psi = tfim_ground_state(n, float(h), float(J), boundary)
    state = DenseState(vector=np.array(psi), spec=spec)
    state.energy = energy
    return state


def xxz(
    n_qubits: int,
    delta: float = 1.0,
    J: float = 1.0,
    boundary: str = "open",
    representation: str = "auto",
) -> State:
    """Ground state of H = J sum (X_i X_{i+1} + Y_i Y_{i+1} + delta Z_i Z_{i+1}) (delta = 1: Heisenberg)."""
    n = positive_int(n_qubits, "n_qubits", minimum=2, error=StateError)
    check_boundary(boundary)
    delta, J = check_parameter(delta, "delta"), check_parameter(J, "J")
    spec = {"name": "xxz", "n_qubits": n, "delta": delta, "J": J, "boundary": boundary}
    if _representation(representation, n, DENSE_LIMIT) == "mps":
        from qgen.states.dmrg import xxz_mps

        return xxz_mps(n, delta=float(delta), J=float(J), boundary=boundary)
    energy, psi = ground_state(xxz_hamiltonian(n, delta, J, boundary), n)
    state = DenseState(vector=psi, spec=spec)
    state.energy = energy
    return state


def heisenberg2d(
    n_qubits: int | None = None,
    J: float = 1.0,
    boundary: str = "open",
    representation: str = "auto",
    *,
    Lx: int | None = None,
    Ly: int | None = None,
    max_bond: int = 200,
) -> State:
    """Ground state of H = J sum_<ij> (X_i X_j + Y_i Y_j + Z_i Z_j) on an Lx x Ly square lattice, snake order.

    Give Lx and Ly, or only n_qubits = L^2 for an L x L lattice (what `qgen simulate --state heisenberg2d
    --n-qubits 64` builds). "dense" uses sparse Lanczos on the Pauli sum; "mps" uses DMRG along the snake path
    with bond dimension up to `max_bond` (qgen.states.lattice2d: conventions, MPO, caching); "auto" is dense up
    to 16 qubits.
    """
    from qgen.states.lattice2d import heisenberg2d_hamiltonian, heisenberg2d_mps

    lx, ly = heisenberg2d_lattice(n_qubits, Lx, Ly, boundary)  # the parser hamiltonian_of shares
    J = check_parameter(J, "J")
    if _representation(representation, lx * ly, DENSE_LIMIT) == "mps":
        return heisenberg2d_mps(lx, ly, J=float(J), boundary=boundary, max_bond=max_bond)
    ham = heisenberg2d_hamiltonian(lx, ly, J=float(J), boundary=boundary)
    energy, psi = ground_state(ham, lx * ly)
    spec = {"name": "heisenberg2d", "n_qubits": lx * ly, "Lx": lx, "Ly": ly, "J": J, "boundary": boundary}
    state = DenseState(vector=psi, spec=spec)
    state.energy = energy
    return state


def from_spec(spec: dict[str, Any], *, representation: str = "auto") -> State:
    """Rebuild a target from the JSON spec a data file records (the `spec` attribute of a named state)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise StateError(f"a state spec must be a dict with a 'name', got {spec!r}")
    name = spec["name"]
    args = {k: v for k, v in spec.items() if k != "name"}
    try:
        if name == "tfim":
            return tfim(representation=representation, **args)
        if name == "xxz":
            return xxz(representation=representation, **args)
        if name == "heisenberg2d":
            return heisenberg2d(representation=representation, **args)
        if name == "ghz":
            return ghz(args["n_qubits"], representation=representation)
        if name == "w":
            return w(args["n_qubits"])
        if name == "product":
            return product(args["states"], representation=representation)
        if name == "graph":
            return graph(args["n_qubits"], args.get("edges"), representation=representation)
    except (KeyError, TypeError) as exc:
        raise StateError(f"state spec {spec!r} is incomplete or has unknown fields: {exc}") from None
    raise StateError(f"unknown state name {name!r} in spec: expected one of {', '.join(STATE_NAMES)}")


def from_vector(vector: Any, *, normalize: bool = False) -> DenseState:
    """A pure target from a state vector of length 2^N (site 0 most significant)."""
    return DenseState.normalized(vector) if normalize else DenseState(vector=vector)


def from_density_matrix(rho: Any) -> DenseState:
    """A mixed target from a 2^N x 2^N density matrix."""
    return DenseState(density_matrix=rho)


def from_qutip(qobj: Any) -> DenseState:
    """A target from a qutip ket or density matrix."""
    return DenseState.from_qutip(qobj)

"""The square-lattice Heisenberg antiferromagnet on a snake path: bonds, Pauli-sum Hamiltonian, MPO, DMRG ground state.

Convention (qgen's Pauli form, as for the XXZ chain in qgen.states.dmrg):

    H = J sum_<ij> (X_i X_j + Y_i Y_j + Z_i Z_j) = 4 J sum_<ij> S_i . S_j,   S = sigma / 2,  J > 0 antiferromagnetic,

over the nearest-neighbour bonds of an Lx x Ly square lattice, open or periodic in both directions. Published
energies are quoted per site in units of J S_i . S_j: divide qgen's energy by 4 J N to compare (`energy_per_site_ss`).

Sites are numbered along a snake (boustrophedon) path, row by row: site k sits in row y = k // Lx, at column
x = k % Lx on even rows and Lx - 1 - k % Lx on odd ones, so consecutive sites are always lattice neighbours and
a vertical bond spans at most 2 Lx - 1 sites of the path (`snake_coordinates`). The lattice, its bonds and the
Pauli sum are built in qgen.states.hamiltonians (where `hamiltonian_of` needs them, and which cannot import this
module: this one imports it) and re-exported here under their old names. The matrix-product operator is
built from the bond list by the finite-state-automaton construction (one channel per open operator: McCulloch,
"From density-matrix renormalization group to matrix product states", J. Stat. Mech. P10014 (2007), section 3;
Crosswhite and Bacon, PRA 78, 012356 (2008)): its bond dimension is 3 w + 2, w the number of sites of the path
with a partner beyond the cut (Lx for open boundaries), and it is real because X X + Y Y = 2 (s+ s- + s- s+).

The ground state comes from quimb's DMRG2 (qgen.states.dmrg.dmrg_ground_state) and is cached like the chains'.
At 8 x 8 the entanglement across a cut grows with Lx, so a bond dimension of 100-200 is an approximation, not the
exact state: the result records the energy, the bond dimension and whether the sweeps converged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import StateError
from qgen.states.hamiltonians import (
    check_lattice,
    check_parameter,
    heisenberg2d_hamiltonian,
    snake_coordinates,
    square_bonds,
)
from qgen.states.mps import MPSState
from qgen.strings import positive_int

__all__ = [
    "snake_coordinates",
    "square_bonds",
    "heisenberg2d_hamiltonian",
    "heisenberg2d_mpo",
    "heisenberg2d_mps",
    "energy_per_site_ss",
    "SANDVIK_8X8_PERIODIC",
]

#: E / N in units of J S_i . S_j for the 8 x 8 periodic lattice by quantum Monte Carlo: -0.673487(4).
#: A. W. Sandvik, "Finite-size scaling of the ground-state parameters of the two-dimensional Heisenberg model",
#: Phys. Rev. B 56, 11678 (1997) (stochastic series expansion QMC, finite-size data for L = 4..16).
SANDVIK_8X8_PERIODIC = {
    "value": -0.673487,
    "stderr": 0.000004,
    "source": "A. W. Sandvik, Phys. Rev. B 56, 11678 (1997): 8 x 8 periodic, E/N in units of J S.S (QMC)",
}


def mpo_arrays(n: int, bonds: list[tuple[int, int]], J: float) -> list[np.ndarray]:
    """Site tensors W_k of shape (D_left, D_right, 2, 2) of sum_(i,j) J (X_i X_j + Y_i Y_j + Z_i Z_j).

    Channels at the cut after site k: "ready" (nothing placed), "done" (a term completed), and (i, a) for each
    site i <= k with a bond partner beyond k and each first operator a in (s+, s-, Z); the partner closes the
    channel with (2 s-, 2 s+, Z), since X X + Y Y = 2 (s+ s- + s- s+).
    """
    eye = np.eye(2)
    first = [np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.0]]), np.diag([1.0, -1.0])]
    second = [2 * first[1], 2 * first[0], first[2]]
    last_partner: dict[int, int] = {}
    partners: dict[int, set[int]] = {}
    for i, j in bonds:
        last_partner[i] = max(last_partner.get(i, -1), j)
        partners.setdefault(j, set()).add(i)

    def channels(k: int) -> list[Any]:
        # The cut after site k (k = -1: the left end, k = n - 1: the right end).
        out: list[Any] = ["ready"] if k < n - 1 else []
        out += [(i, a) for i in range(k + 1) if last_partner.get(i, -1) > k for a in range(3)]
        return out + (["done"] if k >= 0 else [])

    arrays = []
    left = channels(-1)
    for k in range(n):
        right = channels(k)
        col = {c: r for r, c in enumerate(right)}
        w = np.zeros((len(left), len(right), 2, 2))
        for row, c in enumerate(left):
            if c == "ready":
                if "ready" in col:
                    w[row, col["ready"]] = eye
                for a in range(3):
                    if (k, a) in col:
                        w[row, col[(k, a)]] = first[a]
            elif c == "done":
                w[row, col["done"]] = eye
            else:
                i, a = c
                if c in col:
                    w[row, col[c]] = eye
                if i in partners.get(k, ()):
                    w[row, col["done"]] = J * second[a]
        arrays.append(w)
        left = right
    return arrays


def heisenberg2d_mpo(Lx: int, Ly: int, *, J: float = 1.0, boundary: str = "open") -> Any:
    """The Hamiltonian (Pauli form, snake order) as a quimb MatrixProductOperator."""
    import quimb.tensor as qtn

    J = check_parameter(J, "J")
    lx, ly = check_lattice(Lx, Ly, boundary)
    w = mpo_arrays(lx * ly, square_bonds(lx, ly, boundary), J)
    # quimb's 'lrud' layout drops the left index of the first site and the right index of the last.
    arrays = [w[0][0]] + w[1:-1] + [w[-1][:, 0]]
    return qtn.MatrixProductOperator(arrays, shape="lrud")


def energy_per_site_ss(energy: float, n_sites: int, J: float = 1.0) -> float:
    """qgen's Pauli-form energy as E / N in units of J S_i . S_j (the published convention)."""
    return float(energy) / (4.0 * J * n_sites)


def heisenberg2d_mps(
    Lx: int,
    Ly: int,
    *,
    J: float = 1.0,
    boundary: str = "open",
    max_bond: int = 200,
    cutoff: float = 1e-10,
    tol: float | None = None,
    max_sweeps: int = 40,
    strict: bool = True,
    cache: bool = True,
    seed: int = 0,
) -> MPSState:
    """Ground state of the Lx x Ly Heisenberg antiferromagnet as an MPS along the snake path (DMRG2, cached).

    Args:
        Lx, Ly: lattice sides (>= 2; >= 3 when periodic).
        J: coupling of H = J sum_<ij> (X X + Y Y + Z Z).
        boundary: "open" or "periodic" (both directions).
        max_bond: largest bond dimension DMRG may use (16, 32, ... up to it).
        cutoff: discarded weight per truncation.
        tol: energy change between sweeps that counts as converged (default 1e-11 N, the chains' target, when
            max_bond >= 2^(N/2) can hold the exact state; 1e-5 N otherwise).
        max_sweeps: at most this many sweeps.
        strict: raise StateError when the sweeps did not converge; otherwise return the last state and say so in
            `state.dmrg["converged"]`.
        seed: seeds quimb's random initial MPS, so that a truncated (not exactly converged) state is the same
            on every run.
        cache: look in data/ and the cache folder first, and store results there (unconverged ones only when not
            strict; a strict call recomputes over them).

    Returns:
        an MPSState with `spec` ({"name": "heisenberg2d", "n_qubits", "Lx", "Ly", "J", "boundary"}), `energy`
        (the DMRG energy in qgen's Pauli form) and `dmrg` (energy, sweeps, seconds, chi, converged, max_bond,
        cutoff, tol, cached).
    """
    from qgen.states.dmrg import _load_cached, _store, cache_key, dmrg_ground_state
    from qgen.states.mps_io import from_quimb

    lx, ly = check_lattice(Lx, Ly, boundary)
    J = check_parameter(J, "J")
    n = lx * ly
    max_bond = positive_int(max_bond, "max_bond", minimum=2, error=StateError)
    if not (isinstance(cutoff, (int, float)) and 0 <= cutoff < 1):
        raise StateError(f"cutoff must be a number in [0, 1), got {cutoff!r}")
    if tol is None:
        # Where max_bond can hold the exact state (2^(N/2) at the middle cut), converge as tightly as the chains;
        # otherwise the truncation error dominates and 1e-5 per site (Pauli units) between sweeps is converged.
        tol = 1e-11 * n if 2 ** (n // 2) <= max_bond else 1e-5 * n
    tol = float(tol)
    if not tol > 0:
        raise StateError(f"tol must be a positive number, got {tol!r}")
    spec = {"name": "heisenberg2d", "n_qubits": n, "Lx": lx, "Ly": ly, "J": J, "boundary": boundary}
    name = cache_key("heisenberg2d", n, boundary, Lx=lx, Ly=ly, J=J)
    if cache:
        state = _load_cached(name, float(cutoff), max_bond)
        if state is not None:
            state.spec = spec
            state.dmrg = {**_cached_record(name, state.energy), "cached": True}
            if state.dmrg["converged"] or not strict:
                return state
    mpo = heisenberg2d_mpo(lx, ly, J=J, boundary=boundary)
    # DMRG starts from quimb's random MPS drawn from quimb's global generator; at a bond dimension that truncates,
    # that start shows in the result (1e-4 in E/N at 8 x 8, chi 32), so it is seeded.
    from quimb.gen.rand import seed_rand

    seed_rand(int(seed))
    qmps, record = dmrg_ground_state(mpo, max_bond=max_bond, cutoff=float(cutoff), tol=tol, max_sweeps=max_sweeps)
    if strict and not record["converged"]:
        raise StateError(
            f"DMRG for the {lx} x {ly} Heisenberg lattice did not converge to tol={tol:g} in {record['sweeps']} "
            f"sweeps (max_bond={max_bond}); raise max_sweeps or tol, or pass strict=False"
        )
    state = from_quimb(qmps, spec=spec)
    state.energy = record["energy"]
    record = {**record, "max_bond": max_bond, "cutoff": float(cutoff), "tol": tol, "cached": False}
    state.dmrg = record
    if cache and (record["converged"] or not strict):  # a strict caller skips an unconverged cached state
        _store(state, name, {k: v for k, v in record.items() if k != "cached"} | {"spec": str(spec)})
    return state


def _cached_record(name: str, energy: float) -> dict[str, Any]:
    """The DMRG record stored beside a cached state (the file whose energy is the loaded state's)."""
    import h5py

    from qgen.states.dmrg import cache_dir, data_dir

    keys = ("energy", "sweeps", "seconds", "chi", "converged", "max_bond", "cutoff", "tol")
    for folder in (data_dir(), cache_dir()):
        if (folder / name).is_file():
            with h5py.File(folder / name, "r") as f:
                attrs = {k: f.attrs[k].item() for k in keys if k in f.attrs}
            if attrs.get("energy") == energy:
                return {"converged": True, **attrs}
    return {"energy": energy, "converged": True}

"""Stochastic series expansion (SSE) quantum Monte Carlo of the spin-1/2 Heisenberg antiferromagnet on any
bipartite bond list: an independent reference for the DMRG ground states of qgen.states.lattice2d.

H = J sum_b S_i . S_j (J > 0, S = sigma / 2; qgen's Pauli form is 4 times this, see lattice2d). With the bond
operators H_1b = 1/4 - S^z_i S^z_j (diagonal) and H_2b = (S^+_i S^-_j + S^-_i S^+_j) / 2 (off-diagonal),
H = -J sum_b (H_1b - H_2b) + J N_b / 4; on a bipartite lattice a sublattice rotation makes every matrix element
of H_1b + H_2b non-negative, so the expansion of Tr exp(-beta H) in powers of beta samples without a sign
problem. The energy is E = -<n> / beta + J N_b / 4 (n: the number of operators in the string), exact at the
chosen temperature up to the statistical error; at beta much larger than the inverse finite-size gap it is
the ground-state energy. <S^z_i S^z_j> is measured in the propagated states (diagonal in the z basis).

The updates are the standard ones: a diagonal update that inserts and removes H_1b at fixed length L (with
acceptance min(1, beta N_b <a|H_1b|a> / (L - n)) and its inverse), and the deterministic operator-loop update of
the isotropic model on the linked vertex list, each loop flipped with probability 1/2 (A. W. Sandvik, PRB 59,
R14157 (1999); A. W. Sandvik, "Computational studies of quantum spin systems", AIP Conf. Proc. 1297, 135
(2010), section 5). L grows during equilibration to stay above 4/3 of the largest n seen.

Why by hand: no library among qgen's dependencies has a QMC for spin models (NetKet's exact solvers stop near
30 sites; its Monte Carlo is variational), and this reference is what makes the 8 x 8 DMRG energy checkable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from qgen.errors import StateError
from qgen.strings import positive_int

__all__ = ["SSEResult", "sse_heisenberg"]


@numba.njit(cache=True)
def _diagonal_update(ops, spins, bond_sites, beta, n_ops, rng):  # pragma: no cover - compiled
    """One sweep of insertions and removals of diagonal operators; propagates the spins through the
    off-diagonal ones. Returns the new number of operators."""
    n_bonds = bond_sites.shape[0]
    length = ops.shape[0]
    for p in range(length):
        op = ops[p]
        if op == 0:
            b = rng.integers(0, n_bonds)
            if spins[bond_sites[b, 0]] != spins[bond_sites[b, 1]]:
                if rng.random() * (length - n_ops) * 2.0 < beta * n_bonds:
                    ops[p] = 2 * b + 2  # 2 (b + 1): diagonal on bond b; 2 (b + 1) + 1: off-diagonal
                    n_ops += 1
        elif op % 2 == 0:
            if rng.random() * beta * n_bonds < 2.0 * (length - n_ops + 1):
                ops[p] = 0
                n_ops -= 1
        else:
            b = op // 2 - 1
            spins[bond_sites[b, 0]] = -spins[bond_sites[b, 0]]
            spins[bond_sites[b, 1]] = -spins[bond_sites[b, 1]]
    return n_ops


@numba.njit(cache=True)
def _loop_update(ops, spins, bond_sites, vertices, first, last, rng):  # pragma: no cover - compiled
    """Link the vertices of the operator string, then flip each deterministic loop with probability 1/2."""
    n_sites = spins.shape[0]
    length = ops.shape[0]
    first[:] = -1
    last[:] = -1
    for p in range(length):
        v0 = 4 * p
        op = ops[p]
        if op == 0:
            vertices[v0 : v0 + 4] = -1
            continue
        b = op // 2 - 1
        s1, s2 = bond_sites[b, 0], bond_sites[b, 1]
        v1, v2 = last[s1], last[s2]
        if v1 != -1:
            vertices[v1] = v0
            vertices[v0] = v1
        else:
            first[s1] = v0
        if v2 != -1:
            vertices[v2] = v0 + 1
            vertices[v0 + 1] = v2
        else:
            first[s2] = v0 + 1
        last[s1] = v0 + 2
        last[s2] = v0 + 3
    for s in range(n_sites):  # periodic in imaginary time
        f = first[s]
        if f != -1:
            vertices[f] = last[s]
            vertices[last[s]] = f
    for v0 in range(0, 4 * length, 2):
        if vertices[v0] < 0:
            continue
        flip = rng.random() < 0.5
        mark = -2 if flip else -1
        v1 = v0
        while True:
            if flip:
                ops[v1 // 4] ^= 1  # diagonal <-> off-diagonal
            vertices[v1] = mark
            v2 = v1 ^ 1  # the isotropic model's loop moves to the other spin on the same side of the vertex
            v1 = vertices[v2]
            vertices[v2] = mark
            if v1 == v0:
                break
    for s in range(n_sites):
        f = first[s]
        if f == -1:
            if rng.random() < 0.5:  # a free spin: no operator acts on it
                spins[s] = -spins[s]
        elif vertices[f] == -2:
            spins[s] = -spins[s]


@numba.njit(cache=True)
def _measure_correlations(ops, spins, bond_sites, origin, out):  # pragma: no cover - compiled
    """Add s_origin s_j (s = +-1) of the n propagated states (the state after each operator of the string; the
    last equals the first) to out; returns how many states were added. Averaging a diagonal observable over the
    propagated states is the SSE estimator of its thermal expectation (Sandvik 2010, section 5.2)."""
    n_sites = spins.shape[0]
    count = 0
    state = spins.copy()
    for p in range(ops.shape[0]):
        op = ops[p]
        if op == 0:
            continue
        if op % 2 == 1:
            b = op // 2 - 1
            state[bond_sites[b, 0]] = -state[bond_sites[b, 0]]
            state[bond_sites[b, 1]] = -state[bond_sites[b, 1]]
        for j in range(n_sites):
            out[j] += state[origin] * state[j]
        count += 1
    if count == 0:
        for j in range(n_sites):
            out[j] += state[origin] * state[j]
        count = 1
    return count


@dataclass(frozen=True)
class SSEResult:
    """Energy per site in units of J (S_i . S_j form) and <S^z_0 S^z_j>, each with a binned standard error."""

    energy_per_site: float
    energy_stderr: float
    szsz: np.ndarray
    szsz_stderr: np.ndarray
    beta: float
    sweeps: int
    mean_operators: float


def sse_heisenberg(
    bonds: list[tuple[int, int]],
    n_sites: int,
    *,
    beta: float,
    sweeps: int,
    thermalize: int | None = None,
    bins: int = 50,
    origin: int = 0,
    seed: int = 0,
) -> SSEResult:
    """SSE estimate of the energy per site and of <S^z_origin S^z_j> for H = sum_b S_i . S_j at inverse
    temperature beta.

    Args:
        bonds: (i, j) pairs of a bipartite lattice (checked: a two-colouring must exist).
        n_sites: number of spins.
        beta: inverse temperature in units of 1/J; the ground state needs beta >> 1 / (finite-size gap).
        sweeps: measured Monte Carlo steps (a diagonal and a loop update each).
        thermalize: steps before measuring (default sweeps // 5). The operator string grows whenever it is 3/4
            full, which happens while thermalising.
        bins: the measurements are split into this many consecutive bins; the standard error is that of the
            bin means (valid when a bin is much longer than the autocorrelation time).
        origin: the site j = origin of the correlations.
        seed: seed of the numpy Generator the updates draw from (the result is reproducible for a given seed).

    Example:
        >>> r = sse_heisenberg([(0, 1)], 2, beta=20.0, sweeps=4000, seed=1)  # a dimer: E / N = -3/8
        >>> abs(r.energy_per_site + 0.375) < 5 * r.energy_stderr + 1e-3
        True
    """
    n_sites = positive_int(n_sites, "n_sites", minimum=2, error=StateError)
    sweeps = positive_int(sweeps, "sweeps", error=StateError)
    bins = positive_int(bins, "bins", minimum=2, error=StateError)
    if sweeps < bins:
        raise StateError(f"sweeps ({sweeps}) must be at least bins ({bins})")
    thermalize = (
        sweeps // 5 if thermalize is None else positive_int(thermalize, "thermalize", minimum=0, error=StateError)
    )
    if not (np.isfinite(beta) and beta > 0):
        raise StateError(f"beta must be a positive number, got {beta!r}")
    bond_sites = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if bond_sites.size == 0 or bond_sites.min() < 0 or bond_sites.max() >= n_sites:
        raise StateError(f"bonds must be pairs of site indices in 0..{n_sites - 1}")
    _two_colouring(bond_sites, n_sites)  # refuses a frustrated bond list
    origin = positive_int(origin, "origin", minimum=0, error=StateError)
    if origin >= n_sites:
        raise StateError(f"origin must be a site index in 0..{n_sites - 1}, got {origin}")
    rng = np.random.default_rng(seed)  # numba draws from this numpy Generator's bit stream
    spins = np.where(rng.random(n_sites) < 0.5, 1, -1).astype(np.int64)
    state = {"ops": np.zeros(max(20, n_sites // 4), dtype=np.int64), "n_ops": 0}
    first = np.empty(n_sites, dtype=np.int64)
    last = np.empty(n_sites, dtype=np.int64)
    vertices = np.empty(4 * state["ops"].shape[0], dtype=np.int64)

    def step() -> int:
        nonlocal vertices
        ops = state["ops"]
        state["n_ops"] = n_ops = _diagonal_update(ops, spins, bond_sites, beta, state["n_ops"], rng)
        _loop_update(ops, spins, bond_sites, vertices, first, last, rng)
        if n_ops * 4 > 3 * ops.shape[0]:
            # Keep L above 4/3 n by appending identity operators: the weights are exact for any L > n, and a
            # string that filled up would cut the expansion off (in practice this happens while thermalising).
            state["ops"] = np.concatenate([ops, np.zeros(n_ops // 3 + 1, dtype=np.int64)])
            vertices = np.empty(4 * state["ops"].shape[0], dtype=np.int64)
        return n_ops

    for _ in range(thermalize):
        step()
    per_bin = sweeps // bins
    n_mean = np.zeros(bins)
    corr = np.zeros((bins, n_sites))
    acc = np.zeros(n_sites)
    for k in range(bins):
        total_ops = 0.0
        acc[:] = 0.0
        count = 0
        for _ in range(per_bin):
            total_ops += step()
            count += _measure_correlations(state["ops"], spins, bond_sites, origin, acc)
        n_mean[k] = total_ops / per_bin
        corr[k] = acc / count / 4.0  # S^z = s / 2
    energies = (-n_mean / beta + len(bond_sites) / 4.0) / n_sites
    return SSEResult(
        energy_per_site=float(energies.mean()),
        energy_stderr=float(energies.std(ddof=1) / np.sqrt(bins)),
        szsz=corr.mean(axis=0),
        szsz_stderr=corr.std(axis=0, ddof=1) / np.sqrt(bins),
        beta=float(beta),
        sweeps=per_bin * bins,
        mean_operators=float(n_mean.mean()),
    )


def _two_colouring(bond_sites: np.ndarray, n_sites: int) -> np.ndarray:
    """+-1 per site such that every bond joins opposite colours; StateError if the bonds are not bipartite
    (SSE of the antiferromagnet then has a sign problem)."""
    neighbours: list[list[int]] = [[] for _ in range(n_sites)]
    for i, j in bond_sites:
        neighbours[i].append(int(j))
        neighbours[j].append(int(i))
    colour = np.zeros(n_sites, dtype=np.int64)
    for start in range(n_sites):
        if colour[start]:
            continue
        colour[start] = 1
        stack = [start]
        while stack:
            s = stack.pop()
            for t in neighbours[s]:
                if colour[t] == 0:
                    colour[t] = -colour[s]
                    stack.append(t)
                elif colour[t] == colour[s]:
                    raise StateError(f"the bonds are not bipartite (sites {s} and {t}): SSE would have a sign problem")
    return colour

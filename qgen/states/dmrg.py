"""Ground states of the Ising and XXZ chains as MPS by two-site DMRG (quimb), cached on disk as HDF5.

Conventions (qgen's, see DESIGN.md):
    TFIM: H = -J sum_i Z_i Z_{i+1} - h sum_i X_i (Pauli matrices; J > 0 ferromagnetic; h = 1 critical).
    XXZ:  H = J sum_i (X_i X_{i+1} + Y_i Y_{i+1} + delta Z_i Z_{i+1}) (Pauli matrices; J > 0
          antiferromagnetic; delta = 1 is the Heisenberg chain).
quimb's MPO_ham_ising is j sum S^z S^z - bx sum S^x and MPO_ham_heis is sum_a j_a S^a S^a, with S = sigma/2,
so qgen's TFIM is (j, bx) = (-4J, 2h) and the XXZ chain is j = (4J, 4J, 4J delta). The tests check the
converted TFIM energy against the free-fermion value (qgen.states.free_fermions).

Why quimb: it is a project dependency already, and its DMRG2 reaches the required accuracy (energy per site
within 1e-8 of the free-fermion value for h = 0.5, 1, 2 and N = 50..1000; benchmarks/bench_dmrg.py prints
the table and the times). TeNPy is typically faster per sweep but is not installed here and could not be
measured, so it is an optional import (qgen.states.mps_io.from_tenpy), not a dependency.

Cache: results are stored under $QGEN_CACHE (default ~/.cache/qgen/mps) as tfim_N50_h1.00_J1.00_open.h5
and alike, written to a temporary file and renamed into place. The repository's data/ folder is searched
first; a cached state is reused when it was converged with a cutoff no larger and a bond cap no smaller than
the ones asked for.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import StateError
from qgen.files import atomic_write
from qgen.states.hamiltonians import check_parameter
from qgen.states.mps import MPSState
from qgen.strings import positive_int

__all__ = ["tfim_mps", "xxz_mps", "dmrg_ground_state", "cache_dir", "data_dir", "cache_key"]

_BOUNDARIES = ("open", "periodic")


def cache_dir() -> Path:
    """The folder of cached DMRG results: $QGEN_CACHE, or ~/.cache/qgen/mps."""
    return Path(os.environ.get("QGEN_CACHE") or Path.home() / ".cache" / "qgen" / "mps")


def data_dir() -> Path:
    """The repository's data/ folder, which ships ground states and is searched before the cache."""
    return Path(__file__).resolve().parents[2] / "data"


def _fmt(x: float) -> str:
    short = f"{x:.2f}"
    return short if float(short) == x else repr(float(x))


def cache_key(model: str, n_qubits: int, boundary: str, **params: float) -> str:
    """The file name of a cached ground state, e.g. tfim_N50_h1.00_J1.00_open.h5."""
    parts = [model, f"N{n_qubits}"] + [f"{k}{_fmt(v)}" for k, v in params.items()] + [boundary]
    return "_".join(parts) + ".h5"


def _check(n_qubits: Any, boundary: str, max_bond: Any, cutoff: Any) -> int:
    n = positive_int(n_qubits, "n_qubits", minimum=2, error=StateError)
    if boundary not in _BOUNDARIES:
        raise StateError(f"boundary must be one of {', '.join(_BOUNDARIES)}, got {boundary!r}")
    positive_int(max_bond, "max_bond", minimum=2, error=StateError)
    if not (isinstance(cutoff, (int, float)) and 0 <= cutoff < 1):
        raise StateError(f"cutoff must be a number in [0, 1), got {cutoff!r}")
    return n


def _load_cached(name: str, cutoff: float, max_bond: int) -> MPSState | None:
    import h5py

    from qgen.states.mps_io import load_mps

    for folder in (data_dir(), cache_dir()):
        path = folder / name
        if not path.is_file():
            continue
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            # As accurate as asked: a cutoff no larger, and a bond cap no smaller unless the cap never bound.
            capped = attrs.get("chi", 0) >= attrs.get("max_bond", 0)
            if attrs.get("cutoff", 1.0) > cutoff or (capped and attrs.get("max_bond", 0) < max_bond):
                continue
            state = load_mps(f["mps"])
        state.energy = float(attrs["energy"])
        return state
    return None


def _store(state: MPSState, name: str, attrs: dict[str, Any]) -> Path:
    import h5py

    from qgen.states.mps_io import save_mps

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / name) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(attrs)
        save_mps(state, f.create_group("mps"))
    return folder / name


def dmrg_ground_state(mpo: Any, *, max_bond: int, cutoff: float, tol: float, max_sweeps: int = 40) -> tuple[Any, dict]:
    """Run quimb's DMRG2 on an MPO, raising the bond cap 16, 32, ... up to max_bond.

    Returns:
        the quimb MatrixProductState and a record {energy, sweeps, seconds, chi, converged}.
    """
    import quimb.tensor as qtn

    caps = [c for c in (16, 32, 64, 128, 256, 512) if c < max_bond] + [max_bond]
    start = time.perf_counter()
    solver = qtn.DMRG2(mpo, bond_dims=caps, cutoffs=cutoff)
    converged = solver.solve(tol=tol, max_sweeps=max_sweeps, verbosity=0)
    record = {
        "energy": float(np.real(solver.energy)),
        "sweeps": len(solver.energies),
        "seconds": time.perf_counter() - start,
        "chi": int(solver.state.max_bond()),
        "converged": bool(converged),
    }
    return solver.state, record


def _ground_state(
    name: str, mpo_fn: Any, spec: dict, n: int, max_bond: int, cutoff: float, cache: bool, sector: int = 0
) -> MPSState:
    """DMRG (or the cache), then, when sector is +-1, the projection onto that spin-flip parity sector."""
    from qgen.states.mps_io import from_quimb

    if cache:
        state = _load_cached(name, cutoff, max_bond)
        if state is not None:
            state.spec = spec
            # Files written before the projection existed may hold a symmetry-broken state: project on load
            # (a no-op, one transfer-matrix pass, for a state already in its sector).
            return _in_sector(state, sector, cutoff)
    mpo = mpo_fn()
    if sector:
        # The two lowest levels of an ordered chain are split by ~h^N: DMRG creeps between them for dozens of
        # sweeps (N = 50, h = 0.9: 40 sweeps without meeting tol). H - sector * P (P = prod X, an MPO of bond
        # dimension 1, commuting with H) keeps the spectrum of each sector and opens a gap of 2 between them.
        import quimb.tensor as qtn

        flip = qtn.MPO_product_operator([np.array([[0.0, 1.0], [1.0, 0.0]])] * n)
        mpo = mpo.add_MPO(flip * (-float(sector)))
    # quimb's tol bounds the energy change between sweeps; 1e-11 per site keeps it below the 1e-8 target.
    qmps, record = dmrg_ground_state(mpo, max_bond=max_bond, cutoff=cutoff, tol=1e-11 * n)
    if not record["converged"]:
        raise StateError(f"DMRG for {name} did not converge in {record['sweeps']} sweeps (max_bond={max_bond})")
    state = _in_sector(from_quimb(qmps, spec=spec), sector, cutoff)
    if sector:
        # Deep in the ordered phase the sweeps can still settle on a broken state (the P term's gradient there is
        # ~h^N): the projection above recovers the sector's ground state, whose energy is measured on H itself.
        from qgen.states.mps_io import to_quimb

        q = to_quimb(state)
        record["energy"] = float(np.real(q.H @ mpo_fn().apply(q)))
    state.energy = record["energy"]
    if cache:
        _store(state, name, {**record, "cutoff": cutoff, "max_bond": max_bond, "spec": str(spec)})
    return state


def _in_sector(state: MPSState, sector: int, cutoff: float) -> MPSState:
    if sector == 0:
        return state
    from qgen.states.parity import project_parity

    energy = getattr(state, "energy", None)
    out = project_parity(state, sector, cutoff=min(cutoff, 1e-14))
    if energy is not None:
        out.energy = energy
    return out


def tfim_mps(
    n_qubits: int,
    h: float = 1.0,
    J: float = 1.0,
    boundary: str = "open",
    *,
    max_bond: int = 128,
    cutoff: float = 1e-10,
    cache: bool = True,
) -> MPSState:
    """Ground state of H = -J sum Z_i Z_{i+1} - h sum X_i as an MPS (DMRG, cached).

    Args:
        n_qubits: chain length N >= 2.
        h, J: transverse field and coupling.
        boundary: "open" (checked against free fermions) or "periodic".
        max_bond: largest bond dimension DMRG may use.
        cutoff: discarded weight (sum of squared singular values) per truncation.
        cache: look in data/ and the cache folder first, and store new results there.

    Returns:
        an MPSState with `spec` set and `energy` the DMRG ground-state energy. For h != 0 it is projected onto
        the spin-flip parity sector prod_i X_i = sign(h)^N of the finite chain's unique ground state
        (qgen.states.parity): in the ordered phase DMRG alone returns a symmetry-broken mixture of the two
        nearly degenerate lowest levels, a different one per run.
    """
    n = _check(n_qubits, boundary, max_bond, cutoff)
    h, J = check_parameter(h, "h"), check_parameter(J, "J")
    spec = {"name": "tfim", "n_qubits": n, "h": h, "J": J, "boundary": boundary}

    def mpo() -> Any:
        import quimb.tensor as qtn

        return qtn.MPO_ham_ising(n, j=-4.0 * J, bx=2.0 * h, cyclic=boundary == "periodic")

    name = cache_key("tfim", n, boundary, h=h, J=J)
    sector = 0 if h == 0 else (1 if h > 0 or n % 2 == 0 else -1)
    return _ground_state(name, mpo, spec, n, int(max_bond), float(cutoff), cache, sector)


def xxz_mps(
    n_qubits: int,
    delta: float = 1.0,
    J: float = 1.0,
    boundary: str = "open",
    *,
    max_bond: int = 256,
    cutoff: float = 1e-10,
    cache: bool = True,
) -> MPSState:
    """Ground state of H = J sum (X_i X_{i+1} + Y_i Y_{i+1} + delta Z_i Z_{i+1}) as an MPS (DMRG, cached).

    Arguments as for tfim_mps; delta = 1 is the Heisenberg chain.
    """
    n = _check(n_qubits, boundary, max_bond, cutoff)
    delta, J = check_parameter(delta, "delta"), check_parameter(J, "J")
    spec = {"name": "xxz", "n_qubits": n, "delta": delta, "J": J, "boundary": boundary}

    def mpo() -> Any:
        import quimb.tensor as qtn

        return qtn.MPO_ham_heis(n, j=(4.0 * J, 4.0 * J, 4.0 * J * delta), cyclic=boundary == "periodic")

    name = cache_key("xxz", n, boundary, delta=delta, J=J)
    return _ground_state(name, mpo, spec, n, int(max_bond), float(cutoff), cache)

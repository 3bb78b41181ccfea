"""MPS import and export: the text format of Carrasquilla et al. (2019), quimb, TeNPy, and HDF5 groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import DataFormatError, StateError
from qgen.states.mps import MPSState

__all__ = [
    "mps_from_text",
    "paper_tfim_to_qgen",
    "from_quimb",
    "to_quimb",
    "from_tenpy",
    "save_mps",
    "load_mps",
]


# The Ising sign conventions mps_from_text reads: the paper's (+J ZZ + h X) or qgen's (-J ZZ - h X).
_CONVENTIONS = ("paper", "qgen")


def _read_index(path: Path) -> list[tuple[int, ...]]:
    shapes = []
    for k, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            fields = [int(x) for x in line.split()]
        except ValueError:
            raise DataFormatError(f"{path}: line {k + 1} is not a list of integers: {line!r}") from None
        rank = fields[0]
        if rank not in (2, 3) or len(fields) != 2 + rank:
            raise DataFormatError(f"{path}: line {k + 1} must read 'rank nnz dim...' with rank 2 or 3: {line!r}")
        shapes.append(tuple(fields[2:]))
    return shapes


def _read_blocks(path: Path) -> list[list[list[str]]]:
    blocks: list[list[list[str]]] = [[]]
    for line in path.read_text().splitlines():
        if line.strip():
            blocks[-1].append(line.split())
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def mps_from_text(folder: str | Path, *, convention: str, spec: dict[str, Any] | None = None) -> MPSState:
    """Read the MPS format of the POVM_GENMODEL repository (Carrasquilla et al., Nat. Mach. Intell. 2019).

    `folder` holds index.txt (per tensor: rank, number of non-zero entries, dimensions) and tensor.txt
    (per tensor, separated by blank lines: 1-based indices then the value of every non-zero entry). Index
    order: first tensor (right, physical), bulk tensors (right, physical, left), last (physical, left).
    Physical index 1 is |0> (Z = +1).

    The paper's Ising chain is H = +J sum Z Z + h sum X, qgen's is H = -J sum Z Z - h sum X (DESIGN.md). The
    50-site chain this format ships with is the paper's ground state: read as stored, its energy under qgen's
    Hamiltonian is +63.29 instead of -63.29 and its classical fidelity with qgen's chain is about 1e-3. So the
    convention is a required argument, never a silent default:

    - convention="paper": the file holds a ground state of the paper's Ising chain; it is mapped onto the
      ground state of qgen's chain by the local unitary of `paper_tfim_to_qgen` (same energy, qgen's signs).
    - convention="qgen": the tensors are taken as stored (a state written in qgen's convention, or any state
      that is not an Ising ground state).

    Args:
        folder: the folder holding index.txt and tensor.txt.
        convention: "paper" or "qgen", as above.
        spec: the JSON spec to attach (e.g. {"name": "tfim", "n_qubits": 50, "h": 1.0, "J": 1.0,
            "boundary": "open"} for the paper's chain read with convention="paper").
    """
    if convention not in _CONVENTIONS:
        raise StateError(
            f"mps_from_text: convention must be one of {', '.join(map(repr, _CONVENTIONS))} "
            f"(the Ising sign convention of the file), got {convention!r}"
        )
    folder = Path(folder)
    index, data = folder / "index.txt", folder / "tensor.txt"
    for p in (index, data):
        if not p.is_file():
            raise DataFormatError(f"{p}: file not found (an MPS folder holds index.txt and tensor.txt)")
    shapes = _read_index(index)
    blocks = _read_blocks(data)
    if len(blocks) != len(shapes) or len(shapes) < 2:
        raise DataFormatError(f"{data}: {len(blocks)} tensors but {index} describes {len(shapes)} (need >= 2)")
    tensors = []
    for k, (shape, block) in enumerate(zip(shapes, blocks)):
        want = 2 if k in (0, len(shapes) - 1) else 3
        if len(shape) != want:
            raise DataFormatError(f"{index}: tensor {k + 1} must have rank {want}, got shape {shape}")
        t = np.zeros(shape)
        try:
            for row in block:
                t[tuple(int(x) - 1 for x in row[:-1])] = float(row[-1])
        except (ValueError, IndexError):
            raise DataFormatError(f"{data}: tensor {k + 1} has an entry outside its shape {shape}") from None
        if k == 0:
            tensors.append(t.T[None])  # (right, phys) -> (1, phys, right)
        elif k == len(shapes) - 1:
            tensors.append(t.T[:, :, None])  # (phys, left) -> (left, phys, 1)
        else:
            tensors.append(t.transpose(2, 1, 0))  # (right, phys, left) -> (left, phys, right)
    try:
        state = MPSState(tensors, spec=spec)
    except StateError as exc:
        raise DataFormatError(f"{folder}: the tensors do not form an MPS: {exc}") from None
    return paper_tfim_to_qgen(state) if convention == "paper" else state


def paper_tfim_to_qgen(state: MPSState) -> MPSState:
    """Map a ground state of +sum Z Z + h sum X to the ground state of -sum Z Z - h sum X.

    The local unitary prod_i Z_i prod_{i odd} X_i flips X on every site and Z on odd sites, so every
    Z_i Z_{i+1} and every X_i change sign; both Hamiltonians have the same spectrum.
    """
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    z = np.diag([1.0, -1.0])
    out = []
    for i, t in enumerate(state.tensors):
        u = (x @ z) if i % 2 else z
        out.append(np.einsum("st,ltr->lsr", u, t))
    return MPSState(out, spec=state.spec)


def to_quimb(state: MPSState) -> Any:
    """The state as a quimb MatrixProductState (site tags I0.., physical indices k0..)."""
    import quimb.tensor as qtn

    n = state.n_qubits
    if n < 2:
        raise StateError("to_quimb needs at least 2 sites (quimb's MatrixProductState has no 1-site form)")
    arrays = [state.tensors[0][0]] + list(state.tensors[1:-1]) + [state.tensors[-1][:, :, 0]]
    return qtn.MatrixProductState(arrays, shape="lpr")


def from_quimb(mps: Any, *, spec: dict[str, Any] | None = None) -> MPSState:
    """An MPSState from a quimb MatrixProductState of qubits (open boundary, any index layout)."""
    import quimb.tensor as qtn

    if not isinstance(mps, qtn.MatrixProductState):
        raise StateError(f"from_quimb expects a quimb MatrixProductState, got {type(mps).__name__}")
    if mps.cyclic:
        raise StateError("from_quimb: periodic (cyclic) MPS are not supported; qgen's MPS has open ends")
    n = mps.L
    tensors = []
    for i in range(n):
        t = mps[mps.site_tag(i)]
        left = [next(iter(qtn.bonds(mps[mps.site_tag(i - 1)], t)))] if i > 0 else []
        right = [next(iter(qtn.bonds(t, mps[mps.site_tag(i + 1)])))] if i < n - 1 else []
        data = t.transpose(*left, mps.site_ind(i), *right).data
        if data.shape[len(left)] != 2:
            raise StateError(f"from_quimb: site {i} has physical dimension {data.shape[len(left)]}, expected 2")
        tensors.append(np.asarray(data).reshape(data.shape[0] if left else 1, 2, -1))
    return MPSState(tensors, spec=spec)


def from_tenpy(mps: Any, *, spec: dict[str, Any] | None = None) -> MPSState:
    """An MPSState from a finite TeNPy MPS of spin-1/2 sites (TeNPy's basis: index 0 = up = |0>)."""
    try:
        import tenpy  # noqa: F401
    except ImportError:
        raise StateError("from_tenpy needs TeNPy: pip install physics-tenpy") from None
    if getattr(mps, "bc", "finite") != "finite":
        raise StateError(f"from_tenpy: only finite MPS are supported, got bc={mps.bc!r}")
    tensors = []
    for i in range(mps.L):
        # psi = Theta_0 B_1 ... B_{N-1}: the first tensor carries the singular values of its left bond.
        b = mps.get_B(i, form="Th" if i == 0 else "B").itranspose(["vL", "p", "vR"])
        tensors.append(b.to_ndarray())
    return MPSState(tensors, spec=spec)


def save_mps(state: MPSState, group: Any) -> None:
    """Store an MPS in an h5py group: datasets site_000, site_001, ... of shape (chi_l, 2, chi_r).

    Attributes: format = "qgen.mps", n_qubits, spec (JSON, when the state has one).
    """
    width = max(3, len(str(state.n_qubits - 1)))
    for i, t in enumerate(state.tensors):
        group.create_dataset(f"site_{i:0{width}d}", data=t)
    group.attrs["format"] = "qgen.mps"
    group.attrs["n_qubits"] = state.n_qubits
    if state.spec is not None:
        group.attrs["spec"] = json.dumps(state.spec)


def load_mps(group: Any) -> MPSState:
    """The MPS stored by save_mps in an h5py group."""
    where = getattr(group, "name", "?")
    names = sorted((k for k in group.keys() if k.startswith("site_")), key=lambda k: int(k[5:]))
    if not names:
        raise DataFormatError(f"{where}: no site_NNN datasets (expected an MPS written by save_mps)")
    n = int(group.attrs.get("n_qubits", len(names)))
    if [int(k[5:]) for k in names] != list(range(n)):
        raise DataFormatError(f"{where}: expected datasets site_000..site_{n - 1:03d}, found {len(names)}")
    spec = json.loads(group.attrs["spec"]) if "spec" in group.attrs else None
    try:
        return MPSState([group[k][()] for k in names], spec=spec)
    except StateError as exc:
        raise DataFormatError(f"{where}: the stored tensors do not form an MPS: {exc}") from None

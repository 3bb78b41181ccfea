"""The one reader of target states given on the command line: names, specs, vectors, density matrices, MPS files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import DataFormatError, StateError

__all__ = ["target_of", "load_target", "TARGET_FORMS"]

# What `--target` accepts, for help texts and error messages (qgen evaluate and qgen validate share it).
TARGET_FORMS = (
    "a state name with N from the data (ghz, tfim:h=0.5); 'data' (the state the data file records); a JSON spec "
    "or .json file; a state vector (.npy, or a text file of 'Re Im' lines); a density matrix (a square .npy, or "
    "two text tables REAL,IMAG); an MPS: a qgen .h5 file (/mps or /reference/mps) or the paper's text folder "
    "with its sign convention, paper:DIR (the paper's +ZZ + X chain mapped to qgen's -ZZ - X) or qgen:DIR"
)


def _named_spec(text: str, n_qubits: int) -> dict[str, Any] | None:
    """'tfim' or 'tfim:h=0.5,boundary=open' with N from the data, as a state spec; None if not a state name."""
    from qgen.states import STATE_NAMES

    name, _, rest = text.partition(":")
    if name not in STATE_NAMES:
        return None
    spec: dict[str, Any] = {"name": name, "n_qubits": n_qubits}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise StateError(f"cannot read target {text!r}: expected NAME:KEY=VALUE,..., e.g. tfim:h=0.5")
        try:
            spec[key] = float(value)
        except ValueError:
            spec[key] = value
    if name == "product" and "states" not in spec:
        spec["states"] = [str(spec.pop("state", "0"))] * n_qubits
    return spec


def _from_npy(path: Path) -> Any:
    """A state vector (1-D) or a density matrix (square 2-D) from a .npy file."""
    from qgen.states import from_density_matrix, from_vector

    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:  # a pickled object array, or not an .npy file at all
        raise DataFormatError(f"{path}: not a numeric .npy array ({exc})") from None
    if array.ndim == 2 and array.shape[0] == array.shape[1]:
        return from_density_matrix(array)
    if array.ndim != 1:
        raise DataFormatError(
            f"{path}: expected a state vector (shape (2^N,)) or a density matrix (shape (2^N, 2^N)), "
            f"found shape {array.shape}"
        )
    return from_vector(array, normalize=True)


def _from_h5(path: Path) -> Any:
    """An MPS stored by qgen (/mps, or a data file's /reference/mps), else the state a data file records."""
    import h5py

    from qgen.states import from_spec, load_mps

    try:
        with h5py.File(path, "r") as f:
            group = f.get("mps") or f.get("reference/mps")
            if group is not None:
                return load_mps(group)
            is_data = f.attrs.get("format") == "qgen.measurements"
    except OSError as exc:
        raise DataFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    if is_data:
        from qgen.data import load

        spec = load(path).state
        if spec:
            return from_spec(spec)
    raise DataFormatError(f"{path}: no MPS under /mps or /reference/mps and no recorded state spec")


def load_target(spec: Any, data: Any = None) -> Any:
    """The target State from any of its accepted forms (what `--target` of qgen evaluate and validate reads).

    Args:
        spec: a State; a spec dict; "data" (the state the data file records); a state name with options and N from
            the data ("ghz", "tfim:h=0.5"); JSON text or a .json file with a spec; a state vector as .npy (1-D) or
            text of "Re Im" lines; a density matrix as a square .npy or two text tables "REAL,IMAG" (QuCumber's
            N2_W_state_target_real.txt, ..._imag.txt); a folder with the paper's MPS text files (index.txt,
            tensor.txt) prefixed by its sign convention, "paper:DIR" (the paper's +ZZ + X chain mapped onto
            qgen's -ZZ - X) or "qgen:DIR" (as stored); an HDF5 file with an MPS under /mps or /reference/mps, or
            a qgen data file whose recorded state spec is rebuilt.
        data: the data set (its N for named states, its recorded target for "data").

    Example:
        >>> load_target('{"name": "ghz", "n_qubits": 3}').spec
        {'name': 'ghz', 'n_qubits': 3}
    """
    from qgen.states import State, from_density_matrix, from_spec, from_vector, mps_from_text

    if isinstance(spec, State):
        return spec
    if isinstance(spec, dict):
        return from_spec(spec)
    text = str(spec)
    if text == "data":
        target = target_of(data) if data is not None else None
        if target is None:
            raise StateError("--target data: the data file records no target state; name one")
        return from_spec(target) if isinstance(target, dict) else target
    if data is not None and (named := _named_spec(text, data.n_qubits)) is not None:
        return from_spec(named)
    convention, sep, rest = text.partition(":")
    if sep and convention in ("paper", "qgen") and Path(rest).is_dir():
        return mps_from_text(rest, convention=convention)
    path = Path(text)
    if path.is_dir():
        raise StateError(
            f"{path}: an MPS folder in the paper's text format needs its sign convention: 'paper:{path}' maps the "
            f"paper's +ZZ + X Ising chain onto qgen's -ZZ - X, 'qgen:{path}' takes the tensors as stored"
        )
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            return _from_h5(path)
        if suffix == ".npy":
            return _from_npy(path)
        if suffix == ".json":
            try:
                return from_spec(json.loads(path.read_text()))
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}: not valid JSON ({exc})") from None
        from qgen.data import import_state_vector_text

        return from_vector(import_state_vector_text(path), normalize=True)
    parts = text.split(",")
    if len(parts) == 2 and all(Path(p).is_file() for p in parts):
        from qgen.data import import_density_matrix_text

        return from_density_matrix(import_density_matrix_text(*parts))
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise StateError(f"cannot read target {text!r}: expected {TARGET_FORMS}") from None
    if not isinstance(parsed, dict):
        raise StateError(f"a target spec must be a JSON object, got {parsed!r}")
    return from_spec(parsed)


def target_of(data: Any) -> Any:
    """The target a data set records: its stored MPS (/reference/mps) when present, else its state spec rebuilt
    (qgen.states.from_spec), else None (experimental data)."""
    from qgen.states.mps import MPSState

    sites = (getattr(data, "reference", None) or {}).get("mps")
    if sites:
        return MPSState([sites[k] for k in sorted(sites)], spec=data.state)
    return data.state or None

"""Reading a data set file (qgen.datafile's layout) back, validating every field and naming the one at fault."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from qgen.data.dataset import BASIS_LETTERS, MeasurementData
from qgen.data.fields import check_consistency
from qgen.data.writer import FORMAT_NAME, FORMAT_VERSION, NO_SEED
from qgen.errors import DataFormatError, POVMError
from qgen.measurement.povm import POVM
from qgen.strings import first_outside

__all__ = ["load"]

# Size of one block of /outcomes read while checking value ranges.
_READ_BYTES = 1 << 24


class _Reader:
    """Reads one data set file, remembering which field it is at so that every error can name it."""

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path, self.f, self.field = path, f, "/"

    def fail(self, message: str) -> DataFormatError:
        return DataFormatError(f"{self.path}: {self.field}: {message}")

    def attr(self, name: str, expected: str, *, text: bool = False, required: bool = True) -> Any:
        """A root attribute: a string when `text`, else an integer; None when absent and not `required`."""
        self.field = f"/ (attribute {name})"
        if name not in self.f.attrs:
            if not required:
                return None
            raise self.fail(f"missing; expected {expected}")
        value = self.f.attrs[name]
        if text:
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if not isinstance(value, str):
                raise self.fail(f"expected {expected}, found {value!r}")
            return value
        if isinstance(value, np.ndarray) and value.shape in ((), (1,)):
            value = value.reshape(()).item()
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise self.fail(f"expected {expected}, found {value!r}")
        return int(value)

    def json_attr(self, name: str, kind: type, required: bool = True) -> Any:
        text = self.attr(name, "a JSON string", text=True, required=required)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.fail(f"expected JSON, found text that does not parse ({exc.msg})") from None
        if not isinstance(value, kind):
            raise self.fail(f"expected a JSON {kind.__name__}, found {type(value).__name__}")
        return value

    def dataset(self, name: str, dtype: type, shape: tuple[int | None, ...]) -> h5py.Dataset:
        """The dataset at `name`, checked for dtype and shape (None in `shape` matches any size)."""
        self.field = f"/{name}"
        if name not in self.f:
            raise self.fail(f"missing; expected a {np.dtype(dtype)} dataset of shape {_shape_text(shape)}")
        ds = self.f[name]
        if not isinstance(ds, h5py.Dataset):
            raise self.fail(f"expected a {np.dtype(dtype)} dataset, found a group")
        if ds.dtype != np.dtype(dtype):
            raise self.fail(f"expected dtype {np.dtype(dtype)}, found {ds.dtype}")
        if len(ds.shape) != len(shape) or any(s is not None and s != d for s, d in zip(shape, ds.shape)):
            raise self.fail(f"expected shape {_shape_text(shape)}, found {ds.shape}")
        return ds

    def povm(self, name: str, povm_name: str, k: int | None) -> POVM:
        ds = self.dataset(name, np.complex128, (k, 2, 2))
        elements = ds[()]
        # A noisy POVM is built with tolerance 1e-10 (qgen.POVM.transformed); accept what qgen writes.
        try:
            return POVM(elements, name=povm_name, atol=1e-10)
        except POVMError as exc:
            raise self.fail(f"expected a valid POVM, found one that is not: {exc}") from None

    def codes(self, name: str, n_samples: int, n_qubits: int, high: int, mmap: bool) -> np.ndarray:
        """A (n_samples, n_qubits) uint8 dataset with values in [0, high), read once, checked block by block."""
        ds = self.dataset(name, np.uint8, (n_samples, n_qubits))
        if mmap:
            if ds.chunks is not None or ds.compression is not None:
                raise self.fail(
                    "mmap needs contiguous, uncompressed storage (save with compression=None), "
                    f"found chunked storage with compression {ds.compression}"
                )
            offset = ds.id.get_offset()
            if offset is None:  # nothing allocated: an empty data set
                out = np.zeros(ds.shape, dtype=np.uint8)
            else:
                out = np.memmap(self.path, dtype=np.uint8, mode="r", offset=offset, shape=ds.shape)
        else:
            out = np.empty(ds.shape, dtype=np.uint8)
        rows = max(1, _READ_BYTES // n_qubits)
        if ds.chunks is not None:  # whole chunks per block, so no chunk is decompressed twice
            rows = max(1, rows // ds.chunks[0]) * ds.chunks[0]
        for start in range(0, n_samples, rows):
            block = np.s_[start : min(start + rows, n_samples)]
            if not mmap:
                ds.read_direct(out, block, block)
            if out[block].max() >= high:
                raise self.fail(f"expected values in [0, {high}), found {first_outside(out[block], high, start)}")
        return out

    def conditions(self, n_samples: int) -> tuple[np.ndarray, list[str]]:
        """/conditions, float64 (n_samples, C), finite, with C distinct names in its condition_names attribute."""
        ds = self.dataset("conditions", np.float64, (n_samples, None))
        text = ds.attrs.get("condition_names")
        try:
            names = json.loads(text.decode() if isinstance(text, bytes) else text)
        except (TypeError, ValueError):
            names = None
        if (
            not isinstance(names, list)
            or len(names) != ds.shape[1]
            or not all(isinstance(s, str) and s for s in names)
            or len(set(names)) != len(names)
            or not names
        ):
            raise self.fail(
                f"attribute condition_names: expected a JSON list of {ds.shape[1]} distinct names, found {text!r}"
            )
        values = ds[()]
        if not np.all(np.isfinite(values)):
            raise self.fail("expected finite numbers, found NaN or infinity")
        return values, names

    def reference(self, group: h5py.Group) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in group.items():
            self.field = item.name
            if isinstance(item, h5py.Group):
                out[key] = self.reference(item)
            elif item.dtype.kind in "biufc":
                out[key] = np.asarray(item[()])
            else:
                raise self.fail(f"expected a numeric dataset, found dtype {item.dtype}")
        return out


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def load(path: str | os.PathLike, *, mmap: bool = False) -> MeasurementData:
    """Read and validate a data set file.

    Checks the format name and version, every attribute, the POVMs (shape, dtype, validity), /outcomes (dtype
    uint8, shape (n_samples, n_qubits) as the attributes say, values in [0, K), checked block by block while
    reading), /bases and /reference.

    Args:
        path: an HDF5 file written by `save` or `MeasurementWriter`.
        mmap: map /outcomes read-only from the file instead of reading it into memory; needs a file saved
            with compression=None.

    Raises:
        DataFormatError: with a message "FILE: /FIELD: what was expected, what was found".
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file")
    if not path.is_file():
        raise DataFormatError(f"{path}: expected an HDF5 file, found a directory or special file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if not h5py.is_hdf5(path):
            raise DataFormatError(f"{path}: /: expected an HDF5 file, found something else") from None
        raise DataFormatError(
            f"{path}: /: expected a readable HDF5 file, found a truncated or damaged one ({exc})"
        ) from None
    r = _Reader(path, f)
    try:
        with f:
            return _read(r, mmap)
    except DataFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        # h5py reports a truncated or damaged file late, at the first read that touches the missing bytes.
        raise r.fail(f"expected readable data, found a damaged file ({type(exc).__name__}: {exc})") from None


def _read(r: _Reader, mmap: bool) -> MeasurementData:
    fmt = r.attr("format", "a string", text=True)
    if fmt != FORMAT_NAME:
        raise r.fail(f"unsupported format: expected {FORMAT_NAME!r}, found {fmt!r}")
    version = r.attr("format_version", "an integer")
    if version != FORMAT_VERSION:
        raise r.fail(f"unsupported format version: this qgen reads version {FORMAT_VERSION}, found {version}")
    n_qubits = r.attr("n_qubits", "an integer >= 1")
    if n_qubits < 1:
        raise r.fail(f"expected an integer >= 1, found {n_qubits}")
    n_samples = r.attr("n_samples", "an integer >= 0")
    if n_samples < 0:
        raise r.fail(f"expected an integer >= 0, found {n_samples}")
    povm_name = r.attr("povm_name", "a string", text=True)
    state = r.json_attr("state", object)
    if state is not None and not isinstance(state, dict):
        raise r.fail(f"expected a JSON object or null, found {type(state).__name__}")
    noise = r.json_attr("noise", list)
    seed = r.attr("seed", "an integer (-1 for none)")
    if seed < NO_SEED:
        raise r.fail(f"expected a seed >= 0 or {NO_SEED} for none, found {seed}")
    created = r.attr("created", "a string", text=True)
    qgen_version = r.attr("qgen_version", "a string", text=True)
    extra = r.json_attr("extra", dict, required=False) or {}

    povm = r.povm("povm/elements", povm_name, None)
    r.field = "/povm/ideal"
    ideal_name = r.f["povm/ideal"].attrs.get("name", povm_name) if "povm/ideal" in r.f else povm_name
    ideal = r.povm("povm/ideal", ideal_name if isinstance(ideal_name, str) else povm_name, povm.n_outcomes)

    outcomes = r.codes("outcomes", n_samples, n_qubits, povm.n_outcomes, mmap)
    bases = r.codes("bases", n_samples, n_qubits, len(BASIS_LETTERS), False) if "bases" in r.f else None
    conditions, condition_names = r.conditions(n_samples) if "conditions" in r.f else (None, [])
    reference: dict[str, Any] = {}
    if "reference" in r.f:
        r.field = "/reference"
        if not isinstance(r.f["reference"], h5py.Group):
            raise r.fail("expected a group of exact values, found a dataset")
        reference = r.reference(r.f["reference"])
    data = MeasurementData._trusted(
        outcomes=outcomes,
        povm=povm,
        ideal_povm=ideal,
        state=state,
        noise=noise,
        seed=None if seed == NO_SEED else seed,
        created=created,
        qgen_version=qgen_version,
        reference=reference,
        bases=bases,
        extra=extra,
        conditions=conditions,
        condition_names=condition_names,
    )
    check_consistency(data, f"file {r.path}")
    return data

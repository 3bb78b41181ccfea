"""The data set file: an HDF5 layout (FORMAT_NAME, FORMAT_VERSION), written atomically and read back validated."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from qgen.data import BASIS_LETTERS, MeasurementData, _as_codes, _first_bad, _now, _qgen_version
from qgen.errors import DataFormatError, POVMError
from qgen.povm import POVM

__all__ = ["save", "load", "MeasurementWriter", "FORMAT_NAME", "FORMAT_VERSION", "NO_SEED"]

FORMAT_NAME = "qgen.measurements"
FORMAT_VERSION = 1
# HDF5 attributes cannot hold None; a data set made without a seed stores -1 (seeds are non-negative).
NO_SEED = -1
# Target size of one stored chunk of /outcomes, and of one block read while checking value ranges.
_CHUNK_BYTES = 1 << 20
_READ_BYTES = 1 << 24
# HDF5 filters every h5py build has (gzip is portable to every HDF5 reader, lzf is faster).
_COMPRESSIONS = ("gzip", "lzf", None)

# ---------------------------------------------------------------------------------------------------- writing


def _default_chunk_rows(n_qubits: int) -> int:
    return max(1, _CHUNK_BYTES // n_qubits)


def _open_temp(path: Path) -> tuple[Path, h5py.File]:
    """A new HDF5 file in a temporary name beside `path`, so that a crash never leaves a half file at `path`."""
    if path.is_dir():
        raise DataFormatError(f"{path}: cannot write: it is a directory")
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        return tmp, h5py.File(tmp, "w")
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataFormatError(f"{path}: cannot write: {exc}") from None


def _commit(tmp: Path, path: Path) -> None:
    """Make the closed temporary file durable and move it into place in one atomic rename."""
    try:
        if path.exists():
            mode = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)  # mkstemp made it 0600
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataFormatError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _write_group(group: h5py.Group, tree: dict[str, Any]) -> None:
    for key, value in tree.items():
        if isinstance(value, dict):
            _write_group(group.create_group(key), value)
        else:
            group.create_dataset(key, data=value)


def _write_metadata(f: h5py.File, data: MeasurementData) -> None:
    """Everything but /outcomes and /bases; n_samples is set when the outcomes are complete."""
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["qgen_version"] = data.qgen_version
    f.attrs["n_qubits"] = data.n_qubits
    f.attrs["n_samples"] = data.n_samples
    f.attrs["povm_name"] = data.povm_name
    f.attrs["state"] = json.dumps(data.state)
    f.attrs["noise"] = json.dumps(data.noise)
    f.attrs["seed"] = NO_SEED if data.seed is None else data.seed
    f.attrs["created"] = data.created
    f.attrs["extra"] = json.dumps(data.extra)
    f.create_dataset("povm/elements", data=data.povm.elements)
    f.create_dataset("povm/ideal", data=data.ideal_povm.elements)
    f["povm/ideal"].attrs["name"] = data.ideal_povm.name
    if data.reference:
        _write_group(f.create_group("reference"), data.reference)


def _create_codes(f: h5py.File, name: str, n_qubits: int, compression: str | None, chunk_rows: int | None) -> Any:
    if compression not in _COMPRESSIONS:
        raise DataFormatError(f"{f.filename}: compression: expected one of {_COMPRESSIONS}, found {compression!r}")
    rows = chunk_rows or _default_chunk_rows(n_qubits)
    if not isinstance(rows, int) or rows < 1:
        raise DataFormatError(f"{f.filename}: chunk_rows: expected a positive integer, found {chunk_rows!r}")
    ds = f.create_dataset(
        name,
        shape=(0, n_qubits),
        maxshape=(None, n_qubits),
        dtype=np.uint8,
        chunks=(rows, n_qubits),
        compression=compression,
    )
    if name == "bases":
        ds.attrs["letters"] = BASIS_LETTERS
    return ds


def save(
    data: MeasurementData, path: str | os.PathLike, *, compression: str | None = "gzip", chunk_rows: int | None = None
) -> None:
    """Write a data set to an HDF5 file, atomically: the file at `path` is either the old one or the new one.

    Args:
        data: the data set.
        path: the file to write (replaced if it exists).
        compression: HDF5 filter of /outcomes and /bases ("gzip", "lzf" or None). With None, /outcomes is
            stored contiguously, uncompressed, so that `load(path, mmap=True)` can map it.
        chunk_rows: rows per stored chunk (default: about 1 MiB per chunk).

    The layout is that of the design notes ("The data set file"): state, noise and extra are JSON strings,
    and a data set without a seed stores seed = -1 (NO_SEED), which `load` turns back into None.

    Raises:
        DataFormatError: `path` cannot be written (missing folder, no permission, a directory), or a bad
            compression or chunk_rows.
    """
    if not isinstance(data, MeasurementData):
        raise DataFormatError(f"{path}: expected a qgen.MeasurementData to save, found {type(data).__name__}")
    path = Path(path)
    if compression not in _COMPRESSIONS:  # checked before any file is made
        raise DataFormatError(f"{path}: compression: expected one of {_COMPRESSIONS}, found {compression!r}")
    tmp, f = _open_temp(path)
    try:
        with f:
            _write_metadata(f, data)
            if compression is None:
                f.create_dataset("outcomes", data=data.outcomes)
            else:
                _create_codes(f, "outcomes", data.n_qubits, compression, chunk_rows)
                f["outcomes"].resize(data.n_samples, axis=0)
                f["outcomes"][...] = data.outcomes
            if data.bases is not None:
                ds = _create_codes(f, "bases", data.n_qubits, compression, chunk_rows)
                ds.resize(data.n_samples, axis=0)
                ds[...] = data.bases
            f.flush()
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DataFormatError(f"{path}: cannot write: {exc}") from None
        raise
    _commit(tmp, path)


class MeasurementWriter:
    """Stream outcomes into a data set file chunk by chunk, in bounded memory, and put it in place atomically.

    The file grows under a temporary name beside `path`; a clean exit from the `with` block renames it into
    place, an exception deletes it and leaves any existing file at `path` untouched.

    Args:
        path: the file to write.
        n_qubits: N.
        povm: the POVM as applied (noise folded in); ideal_povm: the noiseless one (default: `povm`).
        state, noise, seed, reference, extra, created, qgen_version: as in MeasurementData.
        with_bases: whether every chunk comes with its (n, N) measurement settings.
        compression, chunk_rows: as in `save`.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ghz.h5")
        >>> with MeasurementWriter(path, n_qubits=3, povm=POVM.named("tetra"), seed=1) as w:
        ...     w.append(np.zeros((5, 3), dtype=np.uint8))
        ...     w.append(np.ones((2, 3), dtype=np.uint8))
        >>> load(path).n_samples
        7
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        n_qubits: int,
        povm: POVM,
        ideal_povm: POVM | None = None,
        state: dict[str, Any] | None = None,
        noise: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        reference: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        created: str | None = None,
        qgen_version: str | None = None,
        with_bases: bool = False,
        compression: str | None = "gzip",
        chunk_rows: int | None = None,
    ) -> None:
        self.path = Path(path)
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, int | np.integer) or n_qubits < 1:
            raise DataFormatError(f"{self.path}: n_qubits: expected a positive integer, found {n_qubits!r}")
        # An empty MeasurementData validates and normalises the metadata exactly as save() would see it.
        self._meta = MeasurementData(
            np.zeros((0, int(n_qubits)), dtype=np.uint8),
            povm,
            ideal_povm=ideal_povm,
            state=state,
            noise=[] if noise is None else noise,
            seed=seed,
            reference={} if reference is None else reference,
            bases=np.zeros((0, int(n_qubits)), dtype=np.uint8) if with_bases else None,
            extra=extra or {},
            created=created or _now(),
            qgen_version=qgen_version or _qgen_version(),
        )
        self.with_bases = with_bases
        self.compression = compression
        self.chunk_rows = chunk_rows
        self.n_samples = 0
        self._file: h5py.File | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> MeasurementWriter:
        self._tmp, self._file = _open_temp(self.path)
        try:
            _write_metadata(self._file, self._meta)
            _create_codes(self._file, "outcomes", self._meta.n_qubits, self.compression, self.chunk_rows)
            if self.with_bases:
                _create_codes(self._file, "bases", self._meta.n_qubits, self.compression, self.chunk_rows)
        except BaseException:
            self._abort()
            raise
        return self

    def append(self, outcomes: Any, bases: Any = None) -> None:
        """Add samples at the end.

        Args:
            outcomes: (n, N) integers in [0, K).
            bases: (n, N) settings in [0, 3) (0 = Z, 1 = X, 2 = Y); required exactly when `with_bases`.
        """
        if self._file is None:
            raise DataFormatError(f"{self.path}: append: the writer is not open (use it in a `with` block)")
        n_qubits, k = self._meta.n_qubits, self._meta.n_outcomes
        chunk = _as_codes(outcomes, k, str(self.path), "outcomes chunk", n_qubits)
        if self.with_bases != (bases is not None):
            raise DataFormatError(f"{self.path}: bases: expected with every chunk iff the writer has with_bases=True")
        if bases is not None:
            bases = _as_codes(bases, len(BASIS_LETTERS), str(self.path), "bases chunk", n_qubits)
            if bases.shape != chunk.shape:
                raise DataFormatError(f"{self.path}: bases chunk: expected shape {chunk.shape}, found {bases.shape}")
        start, stop = self.n_samples, self.n_samples + chunk.shape[0]
        try:
            for name, values in (("outcomes", chunk), ("bases", bases)):
                if values is not None:
                    self._file[name].resize(stop, axis=0)
                    self._file[name][start:stop] = values
        except OSError as exc:
            raise DataFormatError(f"{self.path}: cannot write: {exc}") from None
        self.n_samples = stop

    def _abort(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass  # the file is being discarded anyway
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._file = self._tmp = None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._abort()
            return
        f, tmp = self._file, self._tmp
        assert f is not None and tmp is not None
        try:
            f.attrs["n_samples"] = self.n_samples
            f.flush()
            f.close()
        except OSError as exc:
            self._abort()
            raise DataFormatError(f"{self.path}: cannot write: {exc}") from None
        self._file = self._tmp = None
        _commit(tmp, self.path)


# ---------------------------------------------------------------------------------------------------- reading


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
                raise self.fail(f"expected values in [0, {high}), found {_first_bad(out[block], high, start)}")
        return out

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
    reference: dict[str, Any] = {}
    if "reference" in r.f:
        r.field = "/reference"
        if not isinstance(r.f["reference"], h5py.Group):
            raise r.fail("expected a group of exact values, found a dataset")
        reference = r.reference(r.f["reference"])
    return MeasurementData._trusted(
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
    )

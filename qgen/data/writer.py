"""The data set file: an HDF5 layout (FORMAT_NAME, FORMAT_VERSION), written atomically.

qgen.datafile_reader reads it back and validates every field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from qgen.data.dataset import BASIS_LETTERS, MeasurementData, _now, _qgen_version
from qgen.errors import DataFormatError
from qgen.files import AtomicFile, FileWriteError, check_interrupted
from qgen.measurement.povm import POVM
from qgen.strings import as_outcome_array, positive_int

__all__ = ["save", "MeasurementWriter", "FORMAT_NAME", "FORMAT_VERSION", "NO_SEED"]

FORMAT_NAME = "qgen.measurements"
FORMAT_VERSION = 1
# HDF5 attributes cannot hold None; a data set made without a seed stores -1 (seeds are non-negative).
NO_SEED = -1
# Target size of one stored chunk of /outcomes.
_CHUNK_BYTES = 1 << 20
# HDF5 filters every h5py build has (gzip is portable to every HDF5 reader, lzf is faster).
_COMPRESSIONS = ("gzip", "lzf", None)


def _default_chunk_rows(n_qubits: int) -> int:
    return max(1, _CHUNK_BYTES // n_qubits)


def _open_temp(path: Path) -> tuple[AtomicFile, h5py.File]:
    """A new HDF5 file under a temporary name beside `path` (qgen.files), so a crash never leaves a half file."""
    try:
        target = AtomicFile(path)
    except FileWriteError as exc:
        raise DataFormatError(str(exc)) from None
    try:
        return target, h5py.File(target.tmp, "w")
    except OSError as exc:
        target.discard()
        raise DataFormatError(f"{path}: cannot write: {exc}") from None


def _commit(target: AtomicFile) -> None:
    """Make the closed temporary file durable and move it into place in one atomic rename."""
    try:
        target.commit()
    except FileWriteError as exc:
        raise DataFormatError(str(exc)) from None


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
    if chunk_rows is None:
        rows = _default_chunk_rows(n_qubits)
    else:
        rows = positive_int(chunk_rows, f"{f.filename}: chunk_rows", error=DataFormatError)
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


def _create_conditions(f: h5py.File, names: list[str], compression: str | None) -> Any:
    """/conditions: float64 (n, C), one row per outcome string, growing; its names in a JSON attribute."""
    ds = f.create_dataset(
        "conditions",
        shape=(0, len(names)),
        maxshape=(None, len(names)),
        dtype=np.float64,
        chunks=(max(1, _CHUNK_BYTES // (8 * len(names))), len(names)),
        compression=compression,
    )
    ds.attrs["condition_names"] = json.dumps(names)
    return ds


def _as_condition_chunk(values: Any, n: int, n_conditions: int, where: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise DataFormatError(f"{where}: expected real numbers, found dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.shape == (n_conditions,):  # one condition for every string of the chunk
        arr = np.broadcast_to(arr, (n, n_conditions))
    if arr.shape != (n, n_conditions):
        raise DataFormatError(f"{where}: expected shape ({n}, {n_conditions}) or ({n_conditions},), found {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{where}: expected finite numbers, found NaN or infinity")
    return arr


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
    target, f = _open_temp(path)
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
            if data.conditions is not None:
                ds = _create_conditions(f, data.condition_names, compression)
                ds.resize(data.n_samples, axis=0)
                ds[...] = data.conditions
            f.flush()
    except BaseException as exc:
        target.discard()
        if isinstance(exc, OSError):
            raise DataFormatError(f"{path}: cannot write: {exc}") from None
        raise
    _commit(target)


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
        condition_names: for a scan, the C names of the per-row conditions (e.g. ["h"]): every chunk then
            comes with its conditions, (n, C) or one (C,) vector for the whole chunk.
        compression, chunk_rows: as in `save`.

    Example:
        >>> import os, tempfile
        >>> from qgen.data.reader import load
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = os.path.join(folder.name, "ghz.h5")
        >>> with MeasurementWriter(path, n_qubits=3, povm=POVM.named("tetra"), seed=1) as w:
        ...     w.append(np.zeros((5, 3), dtype=np.uint8))
        ...     w.append(np.ones((2, 3), dtype=np.uint8))
        >>> load(path).n_samples
        7
        >>> folder.cleanup()
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
        condition_names: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        n_qubits = positive_int(n_qubits, f"{self.path}: n_qubits", error=DataFormatError)
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
            conditions=None if condition_names is None else np.zeros((0, len(condition_names))),
            condition_names=[] if condition_names is None else list(condition_names),
        )
        self.with_bases = with_bases
        self.compression = compression
        self.chunk_rows = chunk_rows
        self.n_samples = 0
        self._file: h5py.File | None = None
        self._target: AtomicFile | None = None

    def __enter__(self) -> MeasurementWriter:
        self._target, self._file = _open_temp(self.path)
        try:
            _write_metadata(self._file, self._meta)
            _create_codes(self._file, "outcomes", self._meta.n_qubits, self.compression, self.chunk_rows)
            if self.with_bases:
                _create_codes(self._file, "bases", self._meta.n_qubits, self.compression, self.chunk_rows)
            if self._meta.conditions is not None:
                _create_conditions(self._file, self._meta.condition_names, self.compression)
        except BaseException:
            self._abort()
            raise
        return self

    def append(self, outcomes: Any, bases: Any = None, conditions: Any = None) -> None:
        """Add samples at the end.

        Args:
            outcomes: (n, N) integers in [0, K).
            bases: (n, N) settings in [0, 3) (0 = Z, 1 = X, 2 = Y); required exactly when `with_bases`.
            conditions: (n, C) or (C,) conditions; required exactly when the writer has `condition_names`.
        """
        if self._file is None:
            raise DataFormatError(f"{self.path}: append: the writer is not open (use it in a `with` block)")
        check_interrupted()  # a Ctrl-C whose KeyboardInterrupt Python dropped still stops the writing here
        n_qubits, k = self._meta.n_qubits, self._meta.n_outcomes
        chunk = as_outcome_array(outcomes, n_qubits, k, name=f"{self.path}: outcomes chunk", dtype=np.uint8)
        if self.with_bases != (bases is not None):
            raise DataFormatError(f"{self.path}: bases: expected with every chunk iff the writer has with_bases=True")
        if bases is not None:
            bases = as_outcome_array(
                bases, n_qubits, len(BASIS_LETTERS), name=f"{self.path}: bases chunk", dtype=np.uint8
            )
            if bases.shape != chunk.shape:
                raise DataFormatError(f"{self.path}: bases chunk: expected shape {chunk.shape}, found {bases.shape}")
        if (self._meta.conditions is not None) != (conditions is not None):
            raise DataFormatError(
                f"{self.path}: conditions: expected with every chunk iff the writer has condition_names"
            )
        if conditions is not None:
            n_conditions = len(self._meta.condition_names)
            where = f"{self.path}: conditions chunk"
            conditions = _as_condition_chunk(conditions, chunk.shape[0], n_conditions, where)
        start, stop = self.n_samples, self.n_samples + chunk.shape[0]
        try:
            for name, values in (("outcomes", chunk), ("bases", bases), ("conditions", conditions)):
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
        if self._target is not None:
            self._target.discard()
        self._file = self._target = None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._abort()
            return
        f, target = self._file, self._target
        assert f is not None and target is not None
        try:
            f.attrs["n_samples"] = self.n_samples
            f.flush()
            f.close()
        except OSError as exc:
            self._abort()
            raise DataFormatError(f"{self.path}: cannot write: {exc}") from None
        self._file = self._target = None
        _commit(target)

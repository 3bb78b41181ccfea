"""Measurement data sets: the MeasurementData container and its validated, atomically written HDF5 file."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from qgen.errors import DataFormatError, MetricError, POVMError
from qgen.povm import POVM

if TYPE_CHECKING:
    import torch
    from torch.utils.data import TensorDataset

__all__ = [
    "MeasurementData",
    "MeasurementWriter",
    "save",
    "load",
    "BasisSamplingWarning",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "NO_SEED",
    "BASIS_LETTERS",
]

FORMAT_NAME = "qgen.measurements"
FORMAT_VERSION = 1
# HDF5 attributes cannot hold None; a data set made without a seed stores -1 (seeds are non-negative).
NO_SEED = -1
# Codes of the measurement settings in `bases`: 0 = Z, 1 = X, 2 = Y.
BASIS_LETTERS = "ZXY"
# Target size of one stored chunk of /outcomes, and of one block read while checking value ranges.
_CHUNK_BYTES = 1 << 20
_READ_BYTES = 1 << 24
# HDF5 filters every h5py build has (gzip is portable to every HDF5 reader, lzf is faster).
_COMPRESSIONS = ("gzip", "lzf", None)
# Largest K^N that empirical_distribution builds (float64: 512 MiB).
_MAX_ENUMERATION = 2**26


class BasisSamplingWarning(UserWarning):
    """Imported Pauli-basis data whose settings were not drawn uniformly, so pauli6 describes them only in part."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _qgen_version() -> str:
    # Imported late: qgen/__init__.py imports this module before it defines __version__.
    import qgen

    return str(getattr(qgen, "__version__", "unknown"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _as_json(value: Any, kind: type, where: str, name: str) -> Any:
    """`value` as it reads back from JSON (numpy scalars become Python numbers, tuples lists)."""
    try:
        text = json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{where}: {name}: expected JSON-serialisable data, found {exc}") from None
    out = json.loads(text)
    if not isinstance(out, kind):
        raise DataFormatError(f"{where}: {name}: expected a JSON {kind.__name__}, found {type(value).__name__}")
    return out


def _as_seed(seed: Any, where: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**63:
        raise DataFormatError(f"{where}: seed: expected None or an integer in [0, 2^63), found {seed!r}")
    return int(seed)


def _first_bad(values: np.ndarray, high: int, row_offset: int = 0) -> str:
    """Where the first value outside [0, high) sits in a 2-D integer array (rows counted from row_offset)."""
    row, col = np.argwhere((values < 0) | (values >= high))[0]
    return f"value {values[row, col]} at row {row + row_offset}, column {col}"


def _as_codes(values: Any, high: int, where: str, name: str, n_qubits: int | None = None) -> np.ndarray:
    """A (n, N) uint8 array of integers in [0, high), checked; uint8 input is returned without a copy."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise DataFormatError(f"{where}: {name}: expected integers in [0, {high}), found dtype {arr.dtype}")
    if arr.ndim != 2:
        raise DataFormatError(f"{where}: {name}: expected a 2-D array (n_samples, n_qubits), found shape {arr.shape}")
    if n_qubits is not None and arr.shape[1] != n_qubits:
        raise DataFormatError(f"{where}: {name}: expected {n_qubits} columns (one per qubit), found {arr.shape[1]}")
    # One pass for unsigned input (the usual uint8), which cannot go below zero.
    if arr.size and ((arr.dtype.kind == "i" and arr.min() < 0) or arr.max() >= high):
        raise DataFormatError(f"{where}: {name}: expected values in [0, {high}), found {_first_bad(arr, high)}")
    return arr if arr.dtype == np.uint8 else arr.astype(np.uint8)


def _as_reference(ref: Any, where: str, prefix: str = "reference") -> dict[str, Any]:
    """Exact reference values as a tree of numeric numpy arrays (scalars become 0-d arrays)."""
    if not isinstance(ref, dict):
        raise DataFormatError(f"{where}: {prefix}: expected a dict of arrays and dicts, found {type(ref).__name__}")
    out: dict[str, Any] = {}
    for key, value in ref.items():
        # HDF5 names: no slashes, not empty, not "." (which means the group itself).
        if not isinstance(key, str) or not key or "/" in key or key == ".":
            raise DataFormatError(f"{where}: {prefix}: key {key!r} is not a valid HDF5 name")
        name = f"{prefix}/{key}"
        if isinstance(value, dict):
            out[key] = _as_reference(value, where, name)
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise DataFormatError(f"{where}: {name}: expected a numeric array, found dtype {arr.dtype}")
        out[key] = arr
    return out


def _povm_check(povm: Any, where: str, name: str) -> POVM:
    if not isinstance(povm, POVM):
        raise DataFormatError(f"{where}: {name}: expected a qgen.POVM, found {type(povm).__name__}")
    return povm


@dataclass(eq=False, repr=False)
class MeasurementData:
    """A measured data set: outcome strings, the POVM that produced them, and what is needed to rebuild the target.

    Args:
        outcomes: (n_samples, N) integers in [0, K), stored as uint8; outcome a_i of qubit i is POVM element a_i.
        povm: the POVM as applied, noise folded in (what the samples are distributed by).
        ideal_povm: the noiseless POVM a reconstruction uses (defaults to `povm`).
        state: a JSON-able spec that rebuilds the target state, or None for experimental data.
        noise: the JSON-able noise spec, a list of {"name": ..., parameter: value} records ([] for none).
        seed: the seed the samples were drawn with, or None.
        created: ISO 8601 time of creation (now, in UTC, by default).
        qgen_version: the qgen version that made the data (this one by default).
        reference: exact values from the target: numeric arrays (scalars become 0-d arrays) and nested dicts,
            which are HDF5 subgroups (reference["mps"] = {"site_000": ..., ...}).
        bases: (n_samples, N) measurement settings of imported Pauli-basis data (0 = Z, 1 = X, 2 = Y), or None.
        extra: further JSON-able metadata (an importer's notes, for example).

    Example:
        >>> data = MeasurementData(np.array([[0, 3], [1, 2]]), POVM.named("pauli4"))
        >>> data.n_samples, data.n_qubits, data.n_outcomes, data.povm_name
        (2, 2, 4, 'pauli4')
    """

    outcomes: np.ndarray
    povm: POVM
    ideal_povm: POVM | None = None
    state: dict[str, Any] | None = None
    noise: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    created: str = field(default_factory=_now)
    qgen_version: str = field(default_factory=_qgen_version)
    reference: dict[str, Any] = field(default_factory=dict)
    bases: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "MeasurementData"
        self.povm = _povm_check(self.povm, where, "povm")
        self.ideal_povm = _povm_check(self.povm if self.ideal_povm is None else self.ideal_povm, where, "ideal_povm")
        if self.ideal_povm.n_outcomes != self.povm.n_outcomes:
            raise DataFormatError(
                f"{where}: ideal_povm: expected {self.povm.n_outcomes} elements like povm, "
                f"found {self.ideal_povm.n_outcomes}"
            )
        self.outcomes = _as_codes(self.outcomes, self.povm.n_outcomes, where, "outcomes")
        if self.outcomes.shape[1] < 1:
            raise DataFormatError(f"{where}: outcomes: expected at least one qubit (column), found none")
        if self.bases is not None:
            self.bases = _as_codes(self.bases, len(BASIS_LETTERS), where, "bases", self.outcomes.shape[1])
            if self.bases.shape != self.outcomes.shape:
                raise DataFormatError(
                    f"{where}: bases: expected shape {self.outcomes.shape} like outcomes, found {self.bases.shape}"
                )
        if self.state is not None:
            self.state = _as_json(self.state, dict, where, "state")
        self.noise = _as_json(self.noise, list, where, "noise")
        self.extra = _as_json(self.extra, dict, where, "extra")
        self.seed = _as_seed(self.seed, where)
        texts = {"created": self.created, "qgen_version": self.qgen_version}
        texts |= {"povm.name": self.povm.name, "ideal_povm.name": self.ideal_povm.name}
        for name, value in texts.items():
            # HDF5 variable-length strings end at the first NUL, so one inside could not be stored.
            if not isinstance(value, str) or "\x00" in value:
                raise DataFormatError(f"{where}: {name}: expected a string without NUL characters, found {value!r}")
        self.reference = _as_reference(self.reference, where)

    @classmethod
    def _trusted(cls, **fields: Any) -> MeasurementData:
        # For load(), which has validated every field already: a second pass over a memory-mapped
        # /outcomes would read the whole file again.
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            setattr(obj, f.name, fields[f.name])
        return obj

    @property
    def n_samples(self) -> int:
        """Number of measured outcome strings."""
        return int(self.outcomes.shape[0])

    @property
    def n_qubits(self) -> int:
        """N, the number of qubits (columns of `outcomes`)."""
        return int(self.outcomes.shape[1])

    @property
    def n_outcomes(self) -> int:
        """K, the number of outcomes of the single-qubit POVM."""
        return self.povm.n_outcomes

    @property
    def povm_name(self) -> str:
        """The name of the POVM as applied ("pauli4", "computational", "custom", ...)."""
        return self.povm.name

    def subset(self, rows: int | slice | Any) -> MeasurementData:
        """The same data set restricted to some samples.

        Args:
            rows: n (the first n samples), a slice, or an integer index array.
        """
        if isinstance(rows, int | np.integer) and not isinstance(rows, bool):
            if not 0 <= rows <= self.n_samples:
                raise DataFormatError(f"subset: expected 0 <= n <= {self.n_samples} (the samples), found {rows}")
            rows = slice(0, int(rows))
        elif not isinstance(rows, slice):
            rows = np.asarray(rows)
            if rows.dtype.kind not in "iu" or rows.ndim != 1:
                raise DataFormatError(f"subset: expected an int, a slice or a 1-D integer array, found {rows!r}")
            if rows.size and (rows.min() < -self.n_samples or rows.max() >= self.n_samples):
                raise DataFormatError(f"subset: index out of range for {self.n_samples} samples")
        return dataclasses.replace(
            self,
            outcomes=self.outcomes[rows],
            bases=None if self.bases is None else self.bases[rows],
        )

    def split(self, fraction: float, seed: int) -> tuple[MeasurementData, MeasurementData]:
        """A random partition into two data sets (train, test), each keeping the samples' original order.

        Args:
            fraction: the share of samples in the first part, in (0, 1); the first part gets round(fraction n).
            seed: seed of the permutation (the same seed gives the same split).
        """
        if not 0.0 < float(fraction) < 1.0:
            raise DataFormatError(f"split: expected a fraction in (0, 1), found {fraction!r}")
        perm = np.random.default_rng(seed).permutation(self.n_samples)
        cut = round(float(fraction) * self.n_samples)
        return self.subset(np.sort(perm[:cut])), self.subset(np.sort(perm[cut:]))

    def as_tensor(self, device: Any = None) -> torch.Tensor:
        """The outcomes as an (n_samples, N) int64 tensor, the input every model takes."""
        import torch

        return torch.from_numpy(self.outcomes.astype(np.int64)).to(device or "cpu")

    def to_torch_dataset(self) -> TensorDataset:
        """A torch Dataset whose items are 1-tuples (outcome string,): (N,) int64 tensors."""
        from torch.utils.data import TensorDataset

        return TensorDataset(self.as_tensor())

    def empirical_distribution(self) -> np.ndarray:
        """Relative frequencies of all K^N outcome strings, shape (K^N,), site 0 the most significant digit."""
        k, n = self.n_outcomes, self.n_qubits
        if k**n > _MAX_ENUMERATION:
            raise MetricError(f"empirical_distribution: K^N = {k}^{n} strings exceeds the limit {_MAX_ENUMERATION}")
        if self.n_samples == 0:
            raise MetricError("empirical_distribution: the data set has no samples")
        index = np.zeros(self.n_samples, dtype=np.int64)
        for i in range(n):  # loop over sites, batch over samples
            index = index * k + self.outcomes[:, i]
        return np.bincount(index, minlength=k**n) / self.n_samples

    def summary(self) -> str:
        """A readable multi-line description (what `qgen info` prints)."""
        p = self.povm
        completeness = (
            "informationally complete"
            if p.is_informationally_complete
            else "complete for real states only"
            if p.real_states_only
            else "not informationally complete"
        )
        noise = ", ".join(
            rec.get("name", "?") + ":" + ",".join(f"{v}" for k, v in rec.items() if k != "name") for rec in self.noise
        )
        lines = [
            "qgen measurement data",
            f"  samples        {self.n_samples:,}",
            f"  qubits         {self.n_qubits}",
            f"  POVM           {p.name} (K = {p.n_outcomes}, {completeness})",
        ]
        if self.ideal_povm is not None and self.ideal_povm.name != p.name:
            lines.append(f"  ideal POVM     {self.ideal_povm.name}")
        lines += [
            f"  noise          {noise or 'none'}",
            f"  state          {json.dumps(self.state) if self.state is not None else 'unknown (no target recorded)'}",
            f"  seed           {self.seed if self.seed is not None else 'none'}",
            f"  created        {self.created} with qgen {self.qgen_version}",
        ]
        if self.bases is not None:
            counts = np.bincount(self.bases.ravel(), minlength=3) / max(self.bases.size, 1)
            shares = ", ".join(f"{b} {c:.1%}" for b, c in zip(BASIS_LETTERS, counts))
            lines.append(f"  bases          per-shot Pauli settings ({shares})")
        lines.append(f"  reference      {_describe_reference(self.reference) or 'none'}")
        for i, (key, value) in enumerate(self.extra.items()):
            text = f"{key}: {json.dumps(value)}"
            lines.append(f"  {'extra' if i == 0 else '':<14} {text if len(text) <= 90 else text[:87] + '...'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"MeasurementData(n_samples={self.n_samples}, n_qubits={self.n_qubits}, povm={self.povm_name!r}, "
            f"noise={self.noise!r}, seed={self.seed!r})"
        )


def _describe_reference(ref: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in ref.items():
        if isinstance(value, dict):
            parts.append(f"{prefix}{key}/ ({len(value)} entries)")
        else:
            parts.append(f"{prefix}{key} {value.shape}" if value.ndim else f"{prefix}{key} = {value.item():.12g}")
    return ", ".join(parts)


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

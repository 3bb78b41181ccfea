"""Vector data sets (continuous data) in HDF5, format "qgen.vectors": written atomically, read back validated.

Layout: /vectors float64 (n_samples, dim), gzip; attributes of /: format = "qgen.vectors", format_version, qgen_version,
dim, n_samples, name (e.g. the toy set), seed (-1: none), created, extra (JSON).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from qgen.errors import DataFormatError
from qgen.files import atomic_write

__all__ = ["VectorData", "save_vectors", "load_vectors", "VECTORS_FORMAT", "VECTORS_FORMAT_VERSION"]

VECTORS_FORMAT = "qgen.vectors"
VECTORS_FORMAT_VERSION = 1


@dataclass
class VectorData:
    """n points of R^dim with where they came from.

    Attributes:
        vectors: (n, dim) float64 array of finite numbers.
        name: what the set is (a toy set's name, an experiment's label).
        seed: the seed that drew the points, or -1.
        extra: JSON-able facts (e.g. a toy set's parameters).
    """

    vectors: np.ndarray
    name: str = ""
    seed: int = -1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.vectors.numpy() if isinstance(self.vectors, torch.Tensor) else np.asarray(self.vectors)
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim != 2 or v.shape[1] < 1 or not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
            raise DataFormatError(f"vectors must be a real array of shape (n, dim), got {v.dtype} {v.shape}")
        v = v.astype(np.float64)
        if not np.isfinite(v).all():
            raise DataFormatError("vectors must be finite: found NaN or infinity")
        self.vectors = v

    @property
    def n_samples(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def save_vectors(path: str | os.PathLike, data: VectorData) -> None:
    """Write `data` to `path` (HDF5, format "qgen.vectors") atomically.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "moons.h5"
        >>> save_vectors(p, VectorData(np.zeros((3, 2)), name="moons"))
        >>> load_vectors(p).vectors.shape
        (3, 2)
    """
    if not isinstance(data, VectorData):
        raise DataFormatError(f"save_vectors takes a VectorData, got {type(data).__name__}")
    from qgen.version import __version__

    path = Path(path)
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("vectors", data=data.vectors, compression="gzip", chunks=True if data.n_samples else None)
        attrs = {
            "format": VECTORS_FORMAT,
            "format_version": VECTORS_FORMAT_VERSION,
            "qgen_version": __version__,
            "dim": data.dim,
            "n_samples": data.n_samples,
            "name": data.name,
            "seed": int(data.seed),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "extra": json.dumps(data.extra),
        }
        f.attrs.update(attrs)


def load_vectors(path: str | os.PathLike) -> VectorData:
    """Read a "qgen.vectors" file, checking format, version, shapes, dtype and finiteness.

    Raises:
        DataFormatError: naming the file, the field and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataFormatError(f"{path}: not an HDF5 file ({err})") from None
    with f:

        def fail(where: str, message: str) -> DataFormatError:
            return DataFormatError(f"{path}: {where}: {message}")

        def attr(name: str, kind: type) -> Any:
            if name not in f.attrs:
                raise fail(f"/ (attribute {name})", f"missing; expected {kind.__name__}")
            value = f.attrs[name]
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if kind is int and isinstance(value, np.integer | int) and not isinstance(value, bool | np.bool_):
                return int(value)
            if not isinstance(value, kind):
                raise fail(f"/ (attribute {name})", f"expected {kind.__name__}, found {value!r}")
            return value

        fmt = attr("format", str)
        if fmt != VECTORS_FORMAT:
            raise fail("/ (attribute format)", f"expected {VECTORS_FORMAT!r}, found {fmt!r}")
        version = attr("format_version", int)
        if not 1 <= version <= VECTORS_FORMAT_VERSION:
            raise fail("/ (attribute format_version)", f"expected 1..{VECTORS_FORMAT_VERSION}, found {version}")
        dim, n = attr("dim", int), attr("n_samples", int)
        if "vectors" not in f or not isinstance(f["vectors"], h5py.Dataset):
            raise fail("/vectors", "missing; expected a float64 dataset (n_samples, dim)")
        ds = f["vectors"]
        if ds.dtype != np.float64 or ds.shape != (n, dim):
            raise fail("/vectors", f"expected float64 of shape ({n}, {dim}), found {ds.dtype} {ds.shape}")
        vectors = ds[()]
        if not np.isfinite(vectors).all():
            row = int(np.nonzero(~np.isfinite(vectors).all(1))[0][0])
            raise fail("/vectors", f"expected finite numbers, found NaN or infinity in row {row}")
        try:
            extra = json.loads(attr("extra", str))
        except json.JSONDecodeError as exc:
            raise fail("/ (attribute extra)", f"expected JSON ({exc.msg})") from None
        return VectorData(vectors, name=attr("name", str), seed=attr("seed", int), extra=extra)

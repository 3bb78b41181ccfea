"""Measurement data sets: the MeasurementData container with its fields validated (files: writer.py, reader.py)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from qgen.data.fields import check_consistency
from qgen.errors import DataFormatError, MetricError
from qgen.measurement.povm import POVM
from qgen.strings import as_outcome_array, enumeration_size, positive_int, string_index
from qgen.version import __version__

if TYPE_CHECKING:
    import torch
    from torch.utils.data import TensorDataset

__all__ = ["MeasurementData", "BasisSamplingWarning", "BASIS_LETTERS"]

# Codes of the measurement settings in `bases`: 0 = Z, 1 = X, 2 = Y.
BASIS_LETTERS = "ZXY"


class BasisSamplingWarning(UserWarning):
    """Imported Pauli-basis data whose settings were not drawn uniformly, so pauli6 describes them only in part."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _qgen_version() -> str:
    return __version__


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
    seed = positive_int(seed, f"{where}: seed (None or an integer < 2^63)", minimum=0, error=DataFormatError)
    if seed >= 2**63:  # HDF5 stores it as int64
        raise DataFormatError(f"{where}: seed: expected None or an integer in [0, 2^63), found {seed!r}")
    return seed


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


def _as_conditions(values: Any, names: Any, n_samples: int, where: str) -> tuple[np.ndarray | None, list[str]]:
    """Per-row conditions as a finite float64 (n_samples, C) array with C distinct names (or None and [])."""
    if values is None:
        if names:
            raise DataFormatError(f"{where}: condition_names: given without conditions")
        return None, []
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise DataFormatError(f"{where}: conditions: expected real numbers, found dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2 or arr.shape[0] != n_samples or arr.shape[1] < 1:
        raise DataFormatError(f"{where}: conditions: expected shape ({n_samples}, C) with C >= 1, found {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{where}: conditions: expected finite numbers, found NaN or infinity")
    names = [f"c{i}" for i in range(arr.shape[1])] if names is None or names == [] else names
    if (
        isinstance(names, str)
        or not all(isinstance(s, str) and s and "\x00" not in s for s in names)
        or len(set(names)) != len(names)
        or len(names) != arr.shape[1]
    ):
        raise DataFormatError(
            f"{where}: condition_names: expected {arr.shape[1]} distinct non-empty names, found {names!r}"
        )
    return arr, list(names)


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
        conditions: (n_samples, C) float64 per-row conditions of a scan (e.g. the field h each string was
            measured at), or None; what conditional models train on (qgen.models.conditional).
        condition_names: the C names of the conditions (e.g. ["h"]; default c0, c1, ...).

    Raises:
        OutcomeError: outcomes or bases are not integer strings in range (the one check, `qgen.strings`).
        DataFormatError: any other field is malformed, or the fields disagree with each other.

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
    conditions: np.ndarray | None = None
    condition_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        where = "MeasurementData"
        self.povm = _povm_check(self.povm, where, "povm")
        self.ideal_povm = _povm_check(self.povm if self.ideal_povm is None else self.ideal_povm, where, "ideal_povm")
        if self.ideal_povm.n_outcomes != self.povm.n_outcomes:
            raise DataFormatError(
                f"{where}: ideal_povm: expected {self.povm.n_outcomes} elements like povm, "
                f"found {self.ideal_povm.n_outcomes}"
            )
        # Validated in their own dtype; the cast to the uint8 storage waits for check_consistency, which refuses
        # a POVM too wide for uint8 instead of wrapping its symbols.
        self.outcomes = as_outcome_array(self.outcomes, None, self.povm.n_outcomes, name=f"{where}: outcomes")
        if self.outcomes.shape[1] < 1:
            raise DataFormatError(f"{where}: outcomes: expected at least one qubit (column), found none")
        if self.bases is not None:
            self.bases = as_outcome_array(
                self.bases, self.outcomes.shape[1], len(BASIS_LETTERS), name=f"{where}: bases", dtype=np.uint8
            )
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
        self.conditions, self.condition_names = _as_conditions(
            self.conditions, self.condition_names, self.outcomes.shape[0], where
        )
        check_consistency(self, where)
        self.outcomes = self.outcomes.astype(np.uint8, copy=False)

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
            conditions=None if self.conditions is None else self.conditions[rows],
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

    def measurement_record(self) -> dict[str, Any]:
        """What a model trained on these data keeps of them (`model.measurement`): both POVMs as (K, 2, 2, 2)
        real tensors (real and imaginary parts), the POVM name, and the state and noise specs as JSON text."""
        import torch

        def as_real(p: POVM) -> torch.Tensor:
            return torch.view_as_real(torch.from_numpy(p.elements.copy()))

        return {
            "povm_name": self.povm_name,
            "povm": as_real(self.povm),
            "ideal_povm": as_real(self.ideal_povm),
            "state": json.dumps(self.state),
            "noise": json.dumps(self.noise),
        }

    @staticmethod
    def from_record(outcomes: Any, record: dict[str, Any], **fields: Any) -> MeasurementData:
        """A data set of `outcomes` measured as `record` (a `measurement_record`) says, e.g. a model's samples."""
        import torch

        try:
            name = record["povm_name"]
            povms = [
                POVM(torch.view_as_complex(record[key].contiguous()).numpy(), name=name, atol=1e-10)
                for key in ("povm", "ideal_povm")
            ]
            state, noise = json.loads(record["state"]), json.loads(record["noise"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DataFormatError(
                f"measurement record: expected povm_name, povm, ideal_povm, state, noise ({exc})"
            ) from None
        return MeasurementData(outcomes, povms[0], ideal_povm=povms[1], state=state, noise=noise, **fields)

    def empirical_distribution(self) -> np.ndarray:
        """Relative frequencies of all K^N outcome strings, shape (K^N,), site 0 the most significant digit."""
        total = enumeration_size(self.n_outcomes, self.n_qubits, error=MetricError)
        if self.n_samples == 0:
            raise MetricError("empirical_distribution: the data set has no samples")
        return np.bincount(string_index(self.outcomes, self.n_outcomes), minlength=total) / self.n_samples

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
        if self.conditions is not None:
            values = (
                ", ".join(
                    f"{name} ({len(np.unique(self.conditions[:, i]))} values in "
                    f"[{self.conditions[:, i].min():g}, {self.conditions[:, i].max():g}])"
                    for i, name in enumerate(self.condition_names)
                )
                if self.n_samples
                else ", ".join(self.condition_names)
            )
            lines.append(f"  conditions     per-row {values}")
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

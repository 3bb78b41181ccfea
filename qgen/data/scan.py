"""Parameter scans: one family of states measured at several values of a parameter, in one data set.

A scan file is an ordinary data set whose rows also carry their condition (`/conditions`, one column named
after the parameter, e.g. "h"): point i's strings are those `simulate` draws from the state at value i with
the seed `point_seed(seed, i)`, so each point can be reproduced on its own. The recorded `state` is None (no
single target); `extra["scan"]` holds the family's spec, the parameter, its values and the samples per point,
and `/reference/scan/point_000, ...` the exact values of each point's state.

Example:
    >>> scan_values("0.5:1.5:5").tolist()
    [0.5, 0.75, 1.0, 1.25, 1.5]
    >>> scan_values("0.5,0.93").tolist()
    [0.5, 0.93]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from qgen.data.dataset import MeasurementData
from qgen.data.simulation import _measure
from qgen.data.writer import MeasurementWriter
from qgen.errors import StateError
from qgen.measurement.noise import Channel
from qgen.measurement.povm import POVM
from qgen.states.base import State

__all__ = ["scan_values", "scan_states", "point_seed", "simulate_scan", "write_scan", "scan_spec", "combine"]

# Rows sampled per chunk while streaming one point to a file.
_CHUNK = 1 << 16


def _check_samples(n_samples: Any) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise StateError(f"samples (per point) must be a positive integer, got {n_samples!r}")
    return int(n_samples)


def scan_values(text: str | float | Sequence[float]) -> np.ndarray:
    """The values of a scan: "start:stop:count" (count points, both ends included), "a,b,c", or numbers.

    Raises:
        StateError: text that is neither form, a count below 2, or values that are not finite or repeat.
    """
    if isinstance(text, str):
        parts = text.split(":")
        if len(parts) == 3 and (not parts[2].strip().isdigit() or int(parts[2]) < 2):
            raise StateError(f"scan {text!r}: the count (after the second ':') must be an integer >= 2")
        try:
            if len(parts) == 3:
                values = np.linspace(float(parts[0]), float(parts[1]), int(parts[2]))
            elif len(parts) == 1:
                values = np.array([float(v) for v in text.split(",")])
            else:
                raise ValueError(text)
        except ValueError:
            raise StateError(f"scan {text!r}: expected start:stop:count (e.g. 0.5:1.5:11) or a,b,c") from None
    else:
        values = np.atleast_1d(np.asarray(text, dtype=np.float64))
    if values.ndim != 1 or not len(values) or not np.all(np.isfinite(values)):
        raise StateError(f"scan {text!r}: expected finite values, found {values.tolist()}")
    if len(np.unique(values)) != len(values):
        raise StateError(f"scan {text!r}: values repeat: {values.tolist()}")
    return values.astype(np.float64)


def point_seed(seed: int, index: int) -> int:
    """The seed of point `index` of a scan drawn with `seed` (distinct for every (seed, index) below 10^6 points)."""
    return (int(seed) * 1_000_003 + int(index)) % 2**63


def scan_states(spec: dict[str, Any], parameter: str, values: Any, *, representation: str = "auto") -> list[State]:
    """The family's state at each value: `from_spec({**spec, parameter: value})`.

    Args:
        spec: the family, e.g. {"name": "tfim", "n_qubits": 10} (the scanned parameter left out or ignored).
        parameter: the constructor keyword to scan, e.g. "h".
        values: the scan's values (anything `scan_values` takes).
        representation: "auto", "dense" or "mps", as for the state constructors.
    """
    from qgen.states.library import from_spec

    if not isinstance(parameter, str) or not parameter:
        raise StateError(f"parameter must be the name of a state parameter, got {parameter!r}")
    return [
        from_spec({**spec, parameter: float(v)}, representation=representation) for v in scan_values(values).tolist()
    ]


def scan_spec(data: MeasurementData, value: Any) -> dict[str, Any]:
    """The state spec of a scan data set's family at `value` of its parameter (for evaluation at any value)."""
    scan = data.extra.get("scan")
    if not isinstance(scan, dict) or "state" not in scan or "parameter" not in scan:
        raise StateError("the data set is not a scan (no extra['scan'] with the family's state and parameter)")
    return {**scan["state"], scan["parameter"]: float(value)}


def _scan_fields(spec: dict[str, Any], parameter: str, values: np.ndarray, n: int, seed: int) -> dict[str, Any]:
    family = {k: v for k, v in spec.items() if k != parameter}
    return {"state": family, "parameter": parameter, "values": values.tolist(), "samples_per_point": n, "seed": seed}


def simulate_scan(
    spec: dict[str, Any],
    parameter: str,
    values: Any,
    povm: POVM | str,
    n_samples: int,
    *,
    noise: Channel | None = None,
    seed: int = 0,
    reference: bool = True,
    representation: str = "auto",
    device: Any = None,
) -> MeasurementData:
    """Measure the family's state at each value n_samples times; one data set with a condition column.

    Args:
        spec: the family's state spec without the scanned parameter, e.g. {"name": "tfim", "n_qubits": 10}.
        parameter: the scanned keyword ("h" for the Ising chain's field); the condition's name.
        values: the values ("0.5:1.5:11", a list, an array).
        povm: the POVM or its name.
        n_samples: strings per point.
        noise: local noise before the measurement (the same at every point).
        seed: point i is drawn with `point_seed(seed, i)`.
        reference: store each point's exact values under reference["scan"]["point_000"], ...
        representation: "auto", "dense" or "mps".

    Returns:
        MeasurementData with outcomes point after point, `conditions` (n, 1) and `condition_names` [parameter].

    Example:
        >>> data = simulate_scan({"name": "tfim", "n_qubits": 3}, "h", "0.5:1.5:3", "tetra", 4, reference=False)
        >>> data.n_samples, data.condition_names, data.conditions[:, 0].tolist()
        (12, ['h'], [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5])
    """
    n = _check_samples(n_samples)
    grid = scan_values(values)
    outcomes, refs, fields = [], {}, {}
    for i, state in enumerate(scan_states(spec, parameter, grid, representation=representation)):
        m, gen, fields = _measure(state, povm, noise, point_seed(seed, i), reference, device)
        outcomes.append(m.sample(n, generator=gen).to("cpu", torch.uint8).numpy())
        refs[f"point_{i:03d}"] = fields["reference"]
    return MeasurementData(
        np.concatenate(outcomes),
        fields["povm"],
        ideal_povm=fields["ideal_povm"],
        state=None,
        noise=fields["noise"],
        seed=int(seed),
        reference={"scan": refs} if reference else {},
        extra={"scan": _scan_fields(spec, parameter, grid, n, int(seed))},
        conditions=np.repeat(grid, n)[:, None],
        condition_names=[parameter],
    )


def write_scan(
    path: str | os.PathLike,
    spec: dict[str, Any],
    parameter: str,
    values: Any,
    povm: POVM | str,
    n_samples: int,
    *,
    noise: Channel | None = None,
    seed: int = 0,
    reference: bool = True,
    representation: str = "auto",
    progress: bool | None = None,
    device: Any = None,
) -> int:
    """`simulate_scan` streamed to an HDF5 file point by point, chunk by chunk (bounded memory, atomic rename).

    The states are built first (a DMRG per point for MPS targets), so their references can go in the header.
    Returns the number of strings written (points x n_samples).
    """
    from tqdm.auto import tqdm

    n = _check_samples(n_samples)
    grid = scan_values(values)
    states = scan_states(spec, parameter, grid, representation=representation)
    measured = [_measure(s, povm, noise, point_seed(seed, i), reference, device) for i, s in enumerate(states)]
    fields = measured[0][2]
    refs = {f"point_{i:03d}": f["reference"] for i, (_, _, f) in enumerate(measured)}
    total = n * len(grid)
    with (
        MeasurementWriter(
            path,
            n_qubits=states[0].n_qubits,
            povm=fields["povm"],
            ideal_povm=fields["ideal_povm"],
            state=None,
            noise=fields["noise"],
            seed=int(seed),
            reference={"scan": refs} if reference else {},
            extra={"scan": _scan_fields(spec, parameter, grid, n, int(seed))},
            condition_names=[parameter],
        ) as writer,
        tqdm(total=total, disable=not (total > _CHUNK if progress is None else progress), unit="samples") as bar,
    ):
        for value, (m, gen, _) in zip(grid.tolist(), measured):
            done = 0
            while done < n:
                size = min(_CHUNK, n - done)
                writer.append(m.sample(size, generator=gen).to("cpu", torch.uint8).numpy(), conditions=[value])
                done += size
                bar.update(size)
    return total


def combine(datasets: Sequence[MeasurementData], condition_names: Sequence[str]) -> MeasurementData:
    """Several data sets of one family, measured at different parameter values, as one with a condition column.

    Each set gives its rows' conditions from its own condition column (a scan) or, for a single point, from
    its recorded state spec (a file of the Ising chain at h = 0.75 gives h = 0.75 to every row).

    Args:
        datasets: data sets with the same N, the same POVM as applied and ideal, and the same noise.
        condition_names: the conditions to take, e.g. ["h"].

    Raises:
        DataFormatError: a set without those conditions, or sets that differ in N, POVM or noise.
    """
    from qgen.errors import DataFormatError

    names = list(condition_names)
    if not datasets or not names:
        raise DataFormatError("combine: expected at least one data set and one condition name")
    first = datasets[0]
    columns, families = [], []
    for i, d in enumerate(datasets):
        where = f"combine: data set {i + 1}"
        same = d.n_qubits == first.n_qubits and d.n_outcomes == first.n_outcomes
        if not same or not np.allclose(d.povm.elements, first.povm.elements, atol=1e-10):
            raise DataFormatError(
                f"{where}: expected N = {first.n_qubits} and the POVM of data set 1 ({first.povm_name})"
            )
        if not np.allclose(d.ideal_povm.elements, first.ideal_povm.elements, atol=1e-10) or d.noise != first.noise:
            raise DataFormatError(f"{where}: expected the ideal POVM and noise of data set 1")
        if d.conditions is not None and all(s in d.condition_names for s in names):
            columns.append(d.conditions[:, [d.condition_names.index(s) for s in names]])
            families.append(d.extra.get("scan", {}).get("state"))
        elif d.state is not None and all(isinstance(d.state.get(s), int | float) for s in names):
            columns.append(np.tile(np.array([float(d.state[s]) for s in names]), (d.n_samples, 1)))
            families.append({k: v for k, v in d.state.items() if k not in names})
        else:
            raise DataFormatError(f"{where}: has no condition {names} (neither a condition column nor a state field)")
    extra: dict[str, Any] = {"combined_from": len(datasets)}
    if len(names) == 1 and families[0] is not None and all(f == families[0] for f in families):
        values = np.unique(np.concatenate(columns)[:, 0])
        extra["scan"] = {"state": families[0], "parameter": names[0], "values": values.tolist()}
    return MeasurementData(
        np.concatenate([d.outcomes for d in datasets]),
        first.povm,
        ideal_povm=first.ideal_povm,
        state=None,
        noise=first.noise,
        extra=extra,
        conditions=np.concatenate(columns),
        condition_names=names,
    )

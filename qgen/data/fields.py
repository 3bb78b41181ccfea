"""Cross-field checks of a data set: its state spec, noise, POVMs and references must agree with its outcomes.

Each field can be well-formed on its own and the set still be wrong: a state spec for 8 qubits on 6-qubit
strings, a reference magnetisation of the wrong length or full of NaN, a POVM named "tetra" whose elements
are not qgen's tetrahedron. Evaluation trusts these fields (it rebuilds the target from the spec, compares
with the references, takes observables through the POVM), so a data set that disagrees with itself is
refused where it is made and where it is read, with the field named.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qgen.errors import DataFormatError, NoiseError
from qgen.measurement.povm import NAMED_POVMS, POVM

__all__ = ["check_consistency", "MAX_OUTCOMES"]

# /outcomes is uint8: symbols 0..255, so at most 256 outcomes per qubit fit (a wider POVM is refused, not wrapped).
MAX_OUTCOMES = 256

# Reference values with a known shape, given N: the names qgen.states.reference_values writes.
_PER_SITE = ("magnetization_x", "magnetization_z", "correlation_zz_center", "correlation_xx_center")
_PER_PAIR = ("correlation_zz", "correlation_xx")
_SCALARS = ("energy", "center")


def _fail(where: str, field: str, message: str) -> DataFormatError:
    if where.startswith("file "):  # name the HDF5 object, as the reader's own errors do
        where = where[5:]
        field = f"/ (attribute {field})" if field in ("state", "noise") else f"/{field}"
    return DataFormatError(f"{where}: {field}: {message}")


def _non_finite(value: Any, path: str = "") -> str | None:
    """The JSON path of the first NaN or infinite number in a JSON-like value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "the value"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}[{key!r}]" if isinstance(key, str) else f"{path}[{key}]")
        if found:
            return found
    return None


def _check_state(where: str, state: dict[str, Any] | None, n_qubits: int) -> None:
    field = "state"
    if state is None:
        return
    bad = _non_finite(state)
    if bad:
        raise _fail(where, field, f"expected finite numbers, found NaN or infinity at {bad}")
    declared = state.get("n_qubits")
    if declared is not None and (isinstance(declared, bool) or declared != n_qubits):
        raise _fail(where, field, f"the spec says n_qubits = {declared!r}, the outcomes have {n_qubits} qubits")
    states = state.get("states")
    if state.get("name") == "product" and isinstance(states, list) and len(states) != n_qubits:
        raise _fail(where, field, f"a product of {len(states)} qubit states, the outcomes have {n_qubits} qubits")
    edges = state.get("edges")
    if state.get("name") == "graph" and isinstance(edges, list):
        for edge in edges:
            if not (isinstance(edge, list) and all(isinstance(i, int) and 0 <= i < n_qubits for i in edge)):
                raise _fail(where, field, f"graph edge {edge!r} does not join two of the {n_qubits} qubits")


def _check_noise(where: str, noise: list[Any], povm: POVM, ideal: POVM) -> None:
    from qgen.measurement.noise import apply_to_povm, from_spec

    bad = _non_finite(noise)
    if bad:
        raise _fail(where, "noise", f"expected finite numbers, found NaN or infinity at {bad}")
    if not noise:
        return
    try:
        channel = from_spec(noise)
    except NoiseError as exc:
        raise _fail(where, "noise", f"expected qgen noise records, found {exc}") from None
    # The POVM as applied must be the ideal one with the recorded noise folded in (DESIGN.md, noise).
    expected = apply_to_povm(ideal, channel).elements
    dev = float(np.abs(expected - povm.elements).max())
    if dev > 1e-8:
        raise _fail(
            where,
            "povm/elements",
            f"expected the ideal POVM with the recorded noise {noise} folded in, "
            f"found elements that differ by {dev:.3g}",
        )


def _check_named(where: str, field: str, povm: POVM, exact: bool) -> None:
    """A POVM named like one of qgen's has its number of outcomes, and (`exact`) its very elements.

    Noise folded in keeps the name (POVM.transformed), so only a POVM known to be noiseless is compared
    element by element.
    """
    if povm.name not in NAMED_POVMS:
        return
    named = POVM.named(povm.name)
    if named.n_outcomes != povm.n_outcomes:
        raise _fail(where, field, f"named {povm.name!r} (K = {named.n_outcomes}), found {povm.n_outcomes} elements")
    if exact and not np.allclose(named.elements, povm.elements, atol=1e-10):
        raise _fail(where, field, f"named {povm.name!r}, but its elements are not qgen's {povm.name!r}")


def _check_mps(where: str, sites: dict[str, Any], n_qubits: int) -> None:
    field = "reference/mps"
    names = [f"site_{i:03d}" for i in range(n_qubits)]
    if sorted(sites) != names:
        raise _fail(where, field, f"expected {n_qubits} tensors site_000..site_{n_qubits - 1:03d}, found {len(sites)}")
    left = 1
    for name in names:
        t = np.asarray(sites[name])
        if t.ndim != 3 or t.shape[1] != 2 or t.shape[0] != left:
            raise _fail(where, f"{field}/{name}", f"expected shape ({left}, 2, chi), found {t.shape}")
        left = t.shape[2]
    if left != 1:
        raise _fail(where, f"{field}/{names[-1]}", f"expected a right bond of 1 at the last site, found {left}")


def _check_reference(where: str, reference: dict[str, Any], n_qubits: int, prefix: str = "reference") -> None:
    for key, value in reference.items():
        field = f"{prefix}/{key}"
        if isinstance(value, dict):
            if prefix == "reference" and key == "mps":
                _check_mps(where, value, n_qubits)
            _check_reference(where, value, n_qubits, field)
            continue
        arr = np.asarray(value)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise _fail(where, field, "expected finite exact values, found NaN or infinity")
        if prefix != "reference":
            continue
        expected: tuple[int, ...] | None = None
        if key in _PER_SITE:
            expected = (n_qubits,)
        elif key in _PER_PAIR:
            expected = (n_qubits, n_qubits)
        elif key in _SCALARS:
            expected = ()
        if expected is not None and arr.shape != expected:
            raise _fail(where, field, f"expected shape {expected} for {n_qubits} qubits, found {arr.shape}")
        if key == "center" and not 0 <= int(arr) < n_qubits:
            raise _fail(where, field, f"expected a site in [0, {n_qubits}), found {arr}")


def check_consistency(data: Any, where: str) -> None:
    """Raise DataFormatError unless the fields of a data set agree with each other and with its outcomes.

    Checks: K fits the uint8 storage; the state spec's n_qubits (and a product's states, a graph's edges) match
    the outcomes' N; state and noise specs hold no NaN or infinity; a named POVM has qgen's K (and, when noise
    is recorded, the ideal POVM has qgen's elements); the POVM
    as applied is the ideal one with the recorded noise folded in; reference values are finite and have the
    shapes their names promise for N qubits ((N,), (N, N), scalars; an MPS of N sites with matching bonds).

    Args:
        data: a MeasurementData.
        where: what to name in the message: "MeasurementData", or "file PATH" for a data set read from PATH
            (the fields are then named as HDF5 objects: "/reference/energy", "/ (attribute state)").
    """
    k, n = data.povm.n_outcomes, data.outcomes.shape[1]
    if k > MAX_OUTCOMES:
        raise _fail(
            where,
            "povm/elements",
            f"a POVM of {k} outcomes does not fit the uint8 outcome storage (at most {MAX_OUTCOMES} outcomes)",
        )
    _check_state(where, data.state, n)
    _check_named(where, "povm/elements", data.povm, exact=False)
    _check_named(where, "povm/ideal", data.ideal_povm, exact=bool(data.noise))
    _check_noise(where, data.noise, data.povm, data.ideal_povm)
    _check_reference(where, data.reference, n)

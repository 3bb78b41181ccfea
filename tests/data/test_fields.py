"""A data set whose fields disagree with each other or with its outcomes is refused when made and when read."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from qgen.cli import main
from qgen.data import MeasurementData, MeasurementWriter, load, save
from qgen.data.fields import MAX_OUTCOMES
from qgen.errors import DataFormatError
from qgen.measurement.noise import apply_to_povm, depolarizing
from qgen.measurement.povm import POVM


def _data(n_qubits: int = 3, **fields: Any) -> MeasurementData:
    ideal = POVM.named("pauli4")
    base: dict[str, Any] = {
        "ideal_povm": ideal,
        "state": {"name": "ghz", "n_qubits": n_qubits},
        "noise": [{"name": "depolarizing", "p": 0.05}],
        "reference": {
            "magnetization_z": np.zeros(n_qubits),
            "correlation_zz": np.ones((n_qubits, n_qubits)),
            "mps": {f"site_{i:03d}": np.ones((1, 2, 1)) / math.sqrt(2) for i in range(n_qubits)},
        },
    }
    outcomes = np.random.default_rng(0).integers(0, 4, size=(50, n_qubits))
    return MeasurementData(outcomes, apply_to_povm(ideal, depolarizing(0.05)), **(base | fields))


def test_a_consistent_data_set_round_trips(tmp_path: Path) -> None:
    save(_data(), tmp_path / "ok.h5")
    assert load(tmp_path / "ok.h5").state == {"name": "ghz", "n_qubits": 3}


IN_MEMORY = [
    ({"state": {"name": "ghz", "n_qubits": 5}}, "state: the spec says n_qubits = 5, the outcomes have 3"),
    ({"state": {"name": "tfim", "n_qubits": 3, "h": math.nan}}, r"state: expected finite numbers.*\['h'\]"),
    ({"state": {"name": "product", "n_qubits": 3, "states": ["0", "1"]}}, "a product of 2 qubit states"),
    ({"state": {"name": "graph", "n_qubits": 3, "edges": [[0, 3]]}}, r"graph edge \[0, 3\]"),
    ({"noise": [{"name": "depolarizing", "p": 0.2}]}, "povm/elements: expected the ideal POVM with the recorded"),
    ({"noise": [{"name": "depolarizing", "p": math.inf}]}, "noise: expected finite numbers"),
    ({"noise": [{"name": "bitflip", "p": 0.1}]}, "noise: expected qgen noise records"),
    ({"reference": {"energy": np.array(math.nan)}}, "reference/energy: expected finite exact values"),
    ({"reference": {"correlation_zz": np.full((3, 3), np.inf)}}, "reference/correlation_zz: expected finite"),
    ({"reference": {"magnetization_x": np.zeros(4)}}, r"reference/magnetization_x: expected shape \(3,\)"),
    ({"reference": {"correlation_zz": np.zeros((3, 2))}}, r"expected shape \(3, 3\) for 3 qubits"),
    ({"reference": {"energy": np.zeros(2)}}, r"reference/energy: expected shape \(\)"),
    ({"reference": {"center": np.array(7)}}, r"reference/center: expected a site in \[0, 3\)"),
    ({"reference": {"mps": {"site_000": np.ones((1, 2, 1))}}}, "reference/mps: expected 3 tensors"),
    (
        {"reference": {"mps": {f"site_{i:03d}": np.ones((1, 2, 2)) for i in range(3)}}},
        r"reference/mps/site_001: expected shape \(2, 2, chi\)",
    ),
]


@pytest.mark.parametrize("fields, message", IN_MEMORY, ids=[m for _, m in IN_MEMORY])
def test_inconsistent_fields_are_refused_in_memory(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        _data(**fields)


def test_a_mislabelled_ideal_povm_is_refused() -> None:
    # The tetrahedron labelled pauli4, with the recorded noise folded in consistently: only the label lies.
    fake = POVM(POVM.named("tetra").elements, name="pauli4")
    noisy = apply_to_povm(fake, depolarizing(0.05))
    with pytest.raises(DataFormatError, match="povm/ideal: named 'pauli4', but its elements are not qgen's"):
        MeasurementData([[0, 1]], noisy, ideal_povm=fake, noise=[{"name": "depolarizing", "p": 0.05}])


def _set_json(name: str, value: Any) -> Any:
    def mutate(f: h5py.File) -> None:
        f.attrs[name] = json.dumps(value)

    return mutate


IN_FILE = [
    ("state N", _set_json("state", {"name": "ghz", "n_qubits": 4}), "/ (attribute state): the spec says n_qubits = 4"),
    ("state NaN", _set_json("state", {"name": "tfim", "n_qubits": 3, "h": math.nan}), "/ (attribute state)"),
    ("noise", _set_json("noise", [{"name": "depolarizing", "p": 0.5}]), "/povm/elements: expected the ideal"),
    ("K vs name", lambda f: f.attrs.__setitem__("povm_name", "trine"), "named 'trine' (K = 3), found 4 elements"),
    ("NaN ref", lambda f: f["reference/magnetization_z"].__setitem__(0, np.nan), "/reference/magnetization_z"),
    ("MPS sites", lambda f: f.__delitem__("reference/mps/site_002"), "/reference/mps: expected 3 tensors"),
]


@pytest.mark.parametrize("mutate, message", [c[1:] for c in IN_FILE], ids=[c[0] for c in IN_FILE])
def test_inconsistent_file_fails_load_and_qgen_info(tmp_path: Path, capsys: Any, mutate: Any, message: str) -> None:
    path = tmp_path / "d.h5"
    save(_data(), path)
    with h5py.File(path, "r+") as f:
        mutate(f)
    with pytest.raises(DataFormatError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}: /") and message in str(err.value), str(err.value)
    assert main(["info", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1


def test_more_outcomes_than_uint8_holds_are_refused_not_wrapped(tmp_path: Path) -> None:
    k = MAX_OUTCOMES + 44
    wide = POVM(np.stack([np.eye(2) / k] * k))
    outcomes = np.array([[280, 3]])  # 280 would be stored as 280 - 256 = 24 in uint8
    with pytest.raises(DataFormatError, match=f"a POVM of {k} outcomes does not fit the uint8 outcome storage"):
        MeasurementData(outcomes, wide)
    with pytest.raises(DataFormatError, match="does not fit the uint8"):
        MeasurementWriter(tmp_path / "w.h5", n_qubits=2, povm=wide)
    assert list(tmp_path.iterdir()) == []
    # 256 outcomes fit exactly (symbols 0..255).
    full = POVM(np.stack([np.eye(2) / MAX_OUTCOMES] * MAX_OUTCOMES))
    save(MeasurementData(np.array([[255, 0]]), full), tmp_path / "full.h5")
    assert load(tmp_path / "full.h5").outcomes.tolist() == [[255, 0]]

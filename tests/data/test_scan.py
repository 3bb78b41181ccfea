"""Scans: one family measured at several parameter values, with a per-row condition column in memory and on disk."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from qgen.data import load, save
from qgen.data.dataset import MeasurementData
from qgen.data.scan import point_seed, scan_spec, scan_states, scan_values, simulate_scan, write_scan
from qgen.data.simulation import simulate
from qgen.errors import DataFormatError, StateError
from qgen.measurement.povm import POVM
from qgen.models import build
from tests.helpers import pauli_matrix_of, tfim_hamiltonian_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAMILY = {"name": "tfim", "n_qubits": 4}


def test_scan_values():
    np.testing.assert_allclose(scan_values("0.5:1.5:11"), np.linspace(0.5, 1.5, 11), rtol=0, atol=0)
    assert scan_values("1,0.5").tolist() == [1.0, 0.5]
    assert scan_values([0.25]).tolist() == [0.25]
    for bad, match in (("0.5:1.5:1", "integer >= 2"), ("0.5:1.5:x", "integer >= 2"), ("a:b", "start:stop:count")):
        with pytest.raises(StateError, match=match):
            scan_values(bad)
    with pytest.raises(StateError, match="repeat"):
        scan_values("1,1")
    with pytest.raises(StateError, match="finite"):
        scan_values("1,nan")


def test_each_point_is_the_simulation_of_its_state():
    """Point i's rows are exactly `simulate(state_i, seed=point_seed(seed, i))`, labelled with its value."""
    data = simulate_scan(FAMILY, "h", "0.5:1.5:3", "tetra", 200, seed=7)
    assert data.n_samples == 600 and data.condition_names == ["h"] and data.state is None
    assert data.extra["scan"] == {
        "state": FAMILY,
        "parameter": "h",
        "values": [0.5, 1.0, 1.5],
        "samples_per_point": 200,
        "seed": 7,
    }
    for i, (h, state) in enumerate(zip([0.5, 1.0, 1.5], scan_states(FAMILY, "h", [0.5, 1.0, 1.5]))):
        alone = simulate(state, "tetra", 200, seed=point_seed(7, i), reference=False)
        np.testing.assert_array_equal(data.outcomes[200 * i : 200 * (i + 1)], alone.outcomes)
        assert np.all(data.conditions[200 * i : 200 * (i + 1), 0] == h)
        assert scan_spec(data, h) == {**FAMILY, "h": h}


def test_reference_energy_of_each_point_is_the_exact_ground_energy():
    """The per-point reference energy is the lowest eigenvalue of the dense TFIM Hamiltonian (tolerance 1e-9)."""
    data = simulate_scan(FAMILY, "h", "0.5,1.3", "tetra", 10, seed=0)
    for i, h in enumerate([0.5, 1.3]):
        H = sum(c * pauli_matrix_of(s) for s, c in tfim_hamiltonian_dict(4, h).items())
        exact = np.linalg.eigvalsh(H)[0]
        assert abs(float(data.reference["scan"][f"point_{i:03d}"]["energy"]) - exact) < 1e-9


def test_written_scan_reads_back_as_simulated(tmp_path):
    path = tmp_path / "scan.h5"
    n = write_scan(path, FAMILY, "h", "0.5:1.5:3", "tetra", 150, seed=2, reference=False)
    assert n == 450
    disk, memory = load(path), simulate_scan(FAMILY, "h", "0.5:1.5:3", "tetra", 150, seed=2, reference=False)
    np.testing.assert_array_equal(disk.outcomes, memory.outcomes)
    np.testing.assert_array_equal(disk.conditions, memory.conditions)
    assert disk.conditions.dtype == np.float64 and disk.condition_names == ["h"]
    assert disk.extra == memory.extra
    with h5py.File(path) as f:
        assert f["conditions"].dtype == np.float64 and f["conditions"].attrs["condition_names"] == '["h"]'
    assert "conditions     per-row h (3 values in [0.5, 1.5])" in disk.summary()
    save(disk.subset(np.array([0, 449])), tmp_path / "two.h5")  # save (not streamed) keeps the column too
    two = load(tmp_path / "two.h5")
    assert two.conditions[:, 0].tolist() == [0.5, 1.5] and two.condition_names == ["h"]


def test_files_without_conditions_are_unchanged(tmp_path):
    data = MeasurementData(np.zeros((3, 2), np.uint8), POVM.named("tetra"))
    save(data, tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5") as f:
        assert "conditions" not in f
    again = load(tmp_path / "plain.h5")
    assert again.conditions is None and again.condition_names == []


def test_bad_conditions_are_refused_with_the_field_named(tmp_path):
    tetra, x = POVM.named("tetra"), np.zeros((3, 2), np.uint8)
    with pytest.raises(DataFormatError, match=r"conditions: expected shape \(3, C\)"):
        MeasurementData(x, tetra, conditions=np.zeros((2, 1)))
    with pytest.raises(DataFormatError, match="conditions: expected finite"):
        MeasurementData(x, tetra, conditions=np.full((3, 1), np.nan))
    with pytest.raises(DataFormatError, match="condition_names: expected 1 distinct"):
        MeasurementData(x, tetra, conditions=np.zeros((3, 1)), condition_names=["h", "J"])
    with pytest.raises(DataFormatError, match="condition_names: given without conditions"):
        MeasurementData(x, tetra, condition_names=["h"])
    assert MeasurementData(x, tetra, conditions=np.zeros((3, 2))).condition_names == ["c0", "c1"]
    path = tmp_path / "scan.h5"
    save(MeasurementData(x, tetra, conditions=np.ones((3, 1)), condition_names=["h"]), path)
    with h5py.File(path, "a") as f:
        f["conditions"][1, 0] = np.inf
    with pytest.raises(DataFormatError, match=r"scan.h5: /conditions: expected finite numbers"):
        load(path)
    with h5py.File(path, "a") as f:
        f["conditions"][1, 0] = 1.0
        f["conditions"].attrs["condition_names"] = '["h", "h"]'
    with pytest.raises(DataFormatError, match=r"/conditions: attribute condition_names: expected a JSON list of 1"):
        load(path)


def test_a_scan_trains_a_conditional_model():
    """The scan's condition column becomes the model's table and the rows' last column."""
    data = simulate_scan(FAMILY, "h", "0.5,1.5", "tetra", 50, seed=0, reference=False)
    model = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=8, n_conditions=1, condition_names=["h"], seed=0)
    rows = model.condition_rows(data)
    assert model.condition_table.flatten().tolist() == [0.5, 1.5]
    assert rows[:50, -1].tolist() == [0] * 50 and rows[50:, -1].tolist() == [1] * 50
    assert torch.equal(rows[:, :4].long(), torch.from_numpy(data.outcomes).long())

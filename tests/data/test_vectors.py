"""Vector data files: round trip, atomic write, and errors that name the file and the field."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from qgen.data.toy import toy_data
from qgen.data.vectors import VectorData, load_vectors, save_vectors
from qgen.errors import DataFormatError


def test_round_trip_bit_exact(tmp_path):
    x = toy_data("moons", 500, seed=2).numpy()
    save_vectors(tmp_path / "m.h5", VectorData(x, name="moons", seed=2, extra={"noise": 0.1}))
    back = load_vectors(tmp_path / "m.h5")
    assert np.array_equal(back.vectors, x) and back.name == "moons" and back.seed == 2
    assert back.extra == {"noise": 0.1} and back.dim == 2 and back.n_samples == 500
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]  # no temporary file left behind


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda f: f.attrs.__setitem__("format", "qgen.measurements"), "attribute format"),
        (lambda f: f.attrs.__setitem__("dim", 3), "/vectors"),
        (lambda f: f["vectors"].__setitem__((0, 0), np.nan), "row 0"),
        (lambda f: f.attrs.__delitem__("n_samples"), "attribute n_samples"),
    ],
)
def test_bad_files_name_file_and_field(tmp_path, edit, field):
    path = tmp_path / "v.h5"
    save_vectors(path, VectorData(np.ones((4, 2))))
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(DataFormatError, match=str(path)) as err:
        load_vectors(path)
    assert field in str(err.value)


def test_bad_arrays_refused():
    with pytest.raises(DataFormatError, match="finite"):
        VectorData(np.array([[np.inf]]))
    with pytest.raises(DataFormatError, match="real array"):
        VectorData(np.ones((2, 2)) * 1j)

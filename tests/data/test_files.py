"""Tests of qgen.data: MeasurementData, the HDF5 file (round trip, atomic writes, validation) and the stream writer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qgen.data.reader
import qgen.data.writer
import qgen.files
from qgen.data import NO_SEED, MeasurementData, MeasurementWriter, load, save
from qgen.errors import DataFormatError, MetricError, OutcomeError
from qgen.measurement.noise import apply_to_povm, depolarizing
from qgen.measurement.povm import POVM


def make_data(n: int = 200, n_qubits: int = 3, povm: str = "pauli4", seed: int = 0, **kwargs: Any) -> MeasurementData:
    ideal = POVM.named(povm)
    noisy = apply_to_povm(ideal, depolarizing(0.05))
    rng = np.random.default_rng(seed)
    fields: dict[str, Any] = {
        "ideal_povm": ideal,
        "state": {"name": "ghz", "n_qubits": n_qubits},
        "noise": [{"name": "depolarizing", "p": 0.05}],
        "seed": seed,
        "reference": {"energy": -1.5, "zz": rng.normal(size=(n_qubits, n_qubits))},
    }
    fields.update(kwargs)
    return MeasurementData(rng.integers(0, ideal.n_outcomes, size=(n, n_qubits)), noisy, **fields)


def assert_same_tree(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same_tree(a[key], b[key])
        else:
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            assert a[key].tobytes() == b[key].tobytes(), key


def assert_same_data(a: MeasurementData, b: MeasurementData) -> None:
    """Every field equal bit for bit (dtypes and shapes included)."""
    assert b.outcomes.dtype == np.uint8 and b.outcomes.shape == a.outcomes.shape
    assert np.array_equal(a.outcomes, b.outcomes)
    for p, q in ((a.povm, b.povm), (a.ideal_povm, b.ideal_povm)):
        assert p.name == q.name
        assert p.elements.dtype == q.elements.dtype == np.complex128
        assert p.elements.tobytes() == q.elements.tobytes()
    assert (a.state, a.noise, a.seed, a.created, a.qgen_version, a.extra) == (
        b.state, b.noise, b.seed, b.created, b.qgen_version, b.extra,
    )  # fmt: skip
    assert_same_tree(a.reference, b.reference)
    if a.bases is None:
        assert b.bases is None
    else:
        assert b.bases.dtype == np.uint8 and np.array_equal(a.bases, b.bases)


# ------------------------------------------------------------------------------------------------ round trip

_DTYPES = [np.float64, np.float32, np.int64, np.int8, np.uint16, np.complex128, np.bool_]


@st.composite
def data_sets(draw: st.DrawFn) -> MeasurementData:
    n = draw(st.integers(0, 40))
    n_qubits = draw(st.integers(1, 6))
    name = draw(st.sampled_from(["pauli4", "tetra", "pauli6", "trine"]))
    ideal = POVM.named(name)
    p = draw(st.sampled_from([0.0, 0.1, 1 / 3]))
    povm = apply_to_povm(ideal, depolarizing(p)) if p else ideal
    seed = draw(st.one_of(st.none(), st.integers(0, 2**63 - 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    outcomes = rng.integers(0, ideal.n_outcomes, size=(n, n_qubits), dtype=np.uint8)

    def array() -> np.ndarray:
        dtype = draw(st.sampled_from(_DTYPES))
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        return (rng.normal(size=shape) * 100).astype(dtype)

    reference: dict[str, Any] = {f"r{i}": array() for i in range(draw(st.integers(0, 3)))}
    if draw(st.booleans()):
        reference["tree"] = {f"site_{i:03d}": array() for i in range(n_qubits)} | {"more": {"x": array()}}
    if draw(st.booleans()):  # "mps" is reserved for the target's MPS: N tensors (chi_l, 2, chi_r) that chain
        bonds = [1] + [draw(st.integers(1, 3)) for _ in range(n_qubits - 1)] + [1]
        reference["mps"] = {f"site_{i:03d}": rng.normal(size=(bonds[i], 2, bonds[i + 1])) for i in range(n_qubits)}
    bases = rng.integers(0, 3, size=(n, n_qubits)) if draw(st.booleans()) else None
    state = draw(st.one_of(st.none(), st.just({"name": "tfim", "n_qubits": n_qubits, "h": 1.0, "J": [1, 2]})))
    extra = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.floats(allow_nan=False))))
    return MeasurementData(
        outcomes, povm, ideal_povm=ideal, state=state, noise=[{"name": "depolarizing", "p": p}] if p else [],
        seed=seed, created=draw(st.text(st.characters(blacklist_characters="\x00"), max_size=30)),
        reference=reference, bases=bases, extra=extra,
    )  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_sets(), compression=st.sampled_from(["gzip", "lzf", None]), chunk_rows=st.sampled_from([None, 1, 7]))
def test_save_load_round_trip_is_bit_exact(data: MeasurementData, compression: str | None, chunk_rows: int | None):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.h5"
        save(data, path, compression=compression, chunk_rows=chunk_rows)
        assert_same_data(data, load(path))
        if compression is None:
            assert_same_data(data, load(path, mmap=True))


def test_file_layout_follows_the_design(tmp_path: Path):
    data = make_data(seed=None, reference={"mps": {f"site_{i:03d}": np.ones((1, 2, 1)) for i in range(3)}})
    save(data, tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert f["outcomes"].dtype == np.uint8 and f["outcomes"].shape == (200, 3)
        assert f["outcomes"].chunks is not None and f["outcomes"].compression == "gzip"
        assert f["povm/elements"].dtype == f["povm/ideal"].dtype == np.complex128
        assert np.array_equal(f["povm/ideal"][()], POVM.named("pauli4").elements)
        assert not np.allclose(f["povm/elements"][()], f["povm/ideal"][()])  # the noisy one is what was applied
        attrs = dict(f.attrs)
        assert attrs["format"] == "qgen.measurements" and attrs["format_version"] == 1
        assert (attrs["n_qubits"], attrs["n_samples"], attrs["povm_name"]) == (3, 200, "pauli4")
        assert attrs["seed"] == NO_SEED
        assert attrs["noise"] == '[{"name": "depolarizing", "p": 0.05}]'
        assert np.array_equal(f["reference/mps/site_002"][()], np.ones((1, 2, 1)))
    assert load(tmp_path / "d.h5").seed is None


def test_mmap_maps_uncompressed_files_and_refuses_compressed_ones(tmp_path: Path):
    data = make_data(n=1000)
    save(data, tmp_path / "plain.h5", compression=None)
    mapped = load(tmp_path / "plain.h5", mmap=True)
    assert isinstance(mapped.outcomes, np.memmap) and not mapped.outcomes.flags.writeable
    assert np.array_equal(mapped.outcomes, data.outcomes)
    save(data, tmp_path / "packed.h5")
    with pytest.raises(DataFormatError, match="compression=None") as err:
        load(tmp_path / "packed.h5", mmap=True)
    assert "packed.h5: /outcomes:" in str(err.value)


# ------------------------------------------------------------------------------------------------ atomicity


def _failing_write_group(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("simulated crash while writing")


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "data.h5"
    save(make_data(seed=1), path)
    before = path.read_bytes()
    monkeypatch.setattr(qgen.data.writer, "_write_group", _failing_write_group)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save(make_data(seed=2), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["data.h5"]
    assert load(path).seed == 1


def test_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "data.h5"
    save(make_data(seed=1), path)
    before = path.read_bytes()

    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(qgen.files.os, "replace", failing_replace)
    with pytest.raises(DataFormatError, match="No space left") as err:
        save(make_data(seed=2), path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["data.h5"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped KeyboardInterrupt
def test_a_dropped_interrupt_still_stops_the_writers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The command line's SIGINT handler records the interrupt. Python can drop the KeyboardInterrupt it raises
    (inside a weakref callback it only prints "Exception ignored"), so the record alone stops a streaming
    writer at its next chunk and makes any commit refuse: the old file stays, no temporary is left."""
    import weakref

    path = tmp_path / "data.h5"
    save(make_data(seed=1), path)
    before = path.read_bytes()
    monkeypatch.setattr(qgen.files, "_INTERRUPTED", qgen.files.threading.Event())

    class Target:
        pass

    target = Target()
    weakref.finalize(target, qgen.files.interrupt_handler, 2, None)  # raises inside a finalizer: dropped
    del target
    assert qgen.files._INTERRUPTED.is_set()
    with pytest.raises(KeyboardInterrupt):
        save(make_data(seed=2), path)
    data = make_data(seed=3)
    with pytest.raises(KeyboardInterrupt):
        with MeasurementWriter(tmp_path / "stream.h5", n_qubits=data.n_qubits, povm=data.povm) as writer:
            writer.append(data.outcomes)
    with pytest.raises(KeyboardInterrupt), qgen.files.atomic_write(tmp_path / "report.json") as tmp:
        tmp.write_text("{}")
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["data.h5"]


def test_save_creates_a_new_file_atomically_with_ordinary_permissions(tmp_path: Path):
    path = tmp_path / "new.h5"
    save(make_data(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ["new.h5"]


def test_bad_write_options_raise_before_any_file_is_made(tmp_path: Path):
    with pytest.raises(DataFormatError, match="compression: expected one of"):
        save(make_data(), tmp_path / "d.h5", compression="zstd")
    with pytest.raises(DataFormatError, match="chunk_rows must be an integer >= 1, got -3"):
        save(make_data(), tmp_path / "d.h5", chunk_rows=-3)
    with pytest.raises(DataFormatError, match="compression: expected one of"):
        with MeasurementWriter(tmp_path / "d.h5", n_qubits=2, povm=POVM.named("tetra"), compression="bz2"):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where", ["missing-folder/data.h5", "."])
def test_unwritable_path_raises_data_format_error_naming_it(tmp_path: Path, where: str):
    path = tmp_path / where
    with pytest.raises(DataFormatError, match="cannot write") as err:
        save(make_data(), path)
    assert str(path) in str(err.value)


# ------------------------------------------------------------------------------------------------ validation


def _set_attr(name: str, value: Any):
    def mutate(f: h5py.File) -> None:
        f.attrs[name] = value

    return mutate


def _del_attr(name: str):
    def mutate(f: h5py.File) -> None:
        del f.attrs[name]

    return mutate


def _replace(name: str, make: Any):
    def mutate(f: h5py.File) -> None:
        old = f[name][()]
        del f[name]
        f.create_dataset(name, data=make(old))

    return mutate


def _set_value(name: str, index: tuple[int, ...], value: int):
    def mutate(f: h5py.File) -> None:
        f[name][index] = value

    return mutate


def _delete(name: str):
    def mutate(f: h5py.File) -> None:
        del f[name]

    return mutate


def _not_summing_to_identity(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[0] *= 1.5
    return out


CORRUPTIONS = [
    ("no outcomes", _delete("outcomes"), ["/outcomes", "missing", "uint8"]),
    ("no povm_name", _del_attr("povm_name"), ["povm_name", "missing"]),
    ("no created", _del_attr("created"), ["created", "missing"]),
    ("no ideal povm", _delete("povm/ideal"), ["/povm/ideal", "missing"]),
    ("outcomes int64", _replace("outcomes", lambda a: a.astype(np.int64)), ["/outcomes", "uint8", "int64"]),
    ("outcomes 1-D", _replace("outcomes", lambda a: a.ravel()), ["/outcomes", "shape", "(600,)"]),
    ("outcomes wrong N", _replace("outcomes", lambda a: a[:, :2]), ["/outcomes", "expected shape (200, 3)"]),
    ("n_samples mismatch", _set_attr("n_samples", 199), ["/outcomes", "expected shape (199, 3)", "(200, 3)"]),
    ("outcome too large", _set_value("outcomes", (150, 2), 4), ["/outcomes", "[0, 4)", "value 4 at row 150"]),
    ("elements float", _replace("povm/elements", lambda m: m.real), ["/povm/elements", "complex128", "float64"]),
    ("elements shape", _replace("povm/elements", lambda m: m[:, :, :1]), ["/povm/elements", "(any, 2, 2)"]),
    ("ideal K", _replace("povm/ideal", lambda m: m[:3]), ["/povm/ideal", "(4, 2, 2)", "(3, 2, 2)"]),
    ("invalid POVM", _replace("povm/elements", _not_summing_to_identity), ["/povm/elements", "sum to the identity"]),
    ("other format", _set_attr("format", "netcdf"), ["unsupported format", "netcdf"]),
    ("newer version", _set_attr("format_version", 2), ["unsupported format version", "found 2"]),
    ("n_qubits text", _set_attr("n_qubits", "three"), ["n_qubits", "integer"]),
    ("seed negative", _set_attr("seed", -5), ["seed", "-5"]),
    ("state not JSON", _set_attr("state", "{name: ghz"), ["attribute state", "JSON"]),
    ("noise not a list", _set_attr("noise", '{"name": "x"}'), ["attribute noise", "JSON list"]),
    ("bases range", lambda f: f.create_dataset("bases", data=np.full((200, 3), 3, np.uint8)), ["/bases", "[0, 3)"]),
    ("reference text", lambda f: f.create_dataset("reference/tree/label", data="abc"), ["/reference/tree/label"]),
]


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_file_raises_an_error_naming_file_and_field(tmp_path: Path, mutate: Any, expected: list[str]):
    path = tmp_path / "bad.h5"
    save(make_data(reference={"tree": {"site_000": np.ones(2)}}), path)
    with h5py.File(path, "r+") as f:
        mutate(f)
    with pytest.raises(DataFormatError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: /"), message
    for text in expected:
        assert text in message, (text, message)


def test_range_check_reads_in_blocks_and_names_the_absolute_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = make_data(n=5000, n_qubits=4)
    outcomes = data.outcomes.copy()
    outcomes[4321, 1] = 9
    path = tmp_path / "d.h5"
    save(data, path, chunk_rows=64)
    with h5py.File(path, "r+") as f:
        f["outcomes"][...] = outcomes
    monkeypatch.setattr(qgen.data.reader, "_READ_BYTES", 1000)  # many blocks of 4 chunks each
    with pytest.raises(DataFormatError, match=r"/outcomes: expected values in \[0, 4\), found value 9 at row 4321"):
        load(path)
    with h5py.File(path, "r+") as f:
        f["outcomes"][4321, 1] = 0
    outcomes[4321, 1] = 0
    assert np.array_equal(load(path).outcomes, outcomes)


@pytest.mark.parametrize("compression", ["gzip", None])
def test_truncated_file_raises_an_error_naming_the_file(tmp_path: Path, compression: str | None):
    path = tmp_path / "cut.h5"
    save(make_data(n=20000), path, compression=compression)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match="truncated") as err:
        load(path)
    assert str(err.value).startswith(f"{path}: ")


def test_missing_file_and_non_hdf5_file(tmp_path: Path):
    with pytest.raises(DataFormatError, match="no such file") as err:
        load(tmp_path / "absent.h5")
    assert "absent.h5" in str(err.value)
    (tmp_path / "notes.h5").write_text("0 1 0\n1 1 0\n")
    with pytest.raises(DataFormatError, match="expected an HDF5 file, found something else") as err:
        load(tmp_path / "notes.h5")
    assert "notes.h5" in str(err.value)
    with pytest.raises(DataFormatError, match="directory"):
        load(tmp_path)


# ------------------------------------------------------------------------------------------------ streaming


def test_stream_writer_with_many_chunks_equals_one_shot_save(tmp_path: Path):
    data = make_data(n=3000, n_qubits=5, bases=np.random.default_rng(3).integers(0, 3, size=(3000, 5)))
    meta = {
        k: getattr(data, k) for k in ("povm", "ideal_povm", "state", "noise", "seed", "reference", "created", "extra")
    }
    cuts = np.sort(np.random.default_rng(4).integers(0, data.n_samples, size=60))
    with MeasurementWriter(tmp_path / "stream.h5", n_qubits=5, with_bases=True, chunk_rows=50, **meta) as writer:
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, data.n_samples]):  # 61 chunks, some empty
            writer.append(data.outcomes[a:b], bases=data.bases[a:b])
        assert not (tmp_path / "stream.h5").exists()  # only the temporary exists until the block ends
    save(data, tmp_path / "once.h5")
    streamed, once = load(tmp_path / "stream.h5"), load(tmp_path / "once.h5")
    assert_same_data(once, streamed)
    assert_same_data(data, streamed)
    assert sorted(os.listdir(tmp_path)) == ["once.h5", "stream.h5"]


def test_stream_writer_discards_everything_on_error(tmp_path: Path):
    path = tmp_path / "d.h5"
    save(make_data(seed=7), path)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with MeasurementWriter(path, n_qubits=3, povm=POVM.named("pauli4")) as writer:
            writer.append(np.zeros((100, 3), dtype=np.uint8))
            raise KeyboardInterrupt
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["d.h5"]


def test_stream_writer_checks_every_chunk(tmp_path: Path):
    path = tmp_path / "d.h5"
    with pytest.raises(OutcomeError, match=r"d.h5: outcomes chunk: expected values in \[0, 4\)"):
        with MeasurementWriter(path, n_qubits=2, povm=POVM.named("tetra")) as writer:
            writer.append(np.array([[0, 1], [2, 3]]))
            writer.append(np.array([[0, 4]]))
    with pytest.raises(OutcomeError, match=r"outcomes chunk: expected shape \(n, 2\), found \(3, 3\)"):
        with MeasurementWriter(path, n_qubits=2, povm=POVM.named("tetra")) as writer:
            writer.append(np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(DataFormatError, match="bases"):
        with MeasurementWriter(path, n_qubits=2, povm=POVM.named("pauli6"), with_bases=True) as writer:
            writer.append(np.zeros((3, 2), dtype=np.uint8))
    assert os.listdir(tmp_path) == []
    writer = MeasurementWriter(path, n_qubits=2, povm=POVM.named("tetra"))
    with pytest.raises(DataFormatError, match="not open"):
        writer.append(np.zeros((1, 2), dtype=np.uint8))
    with pytest.raises(DataFormatError, match="n_qubits"):
        MeasurementWriter(path, n_qubits=0, povm=POVM.named("tetra"))


# ------------------------------------------------------------------------------------------------ the container


def test_construction_validates_and_normalises():
    povm = POVM.named("pauli4")
    data = MeasurementData([[0, 3], [1, 2]], povm, state={"h": np.float64(1.0), "sizes": (1, 2)}, seed=np.int64(3))
    assert data.outcomes.dtype == np.uint8 and data.ideal_povm is povm
    assert data.state == {"h": 1.0, "sizes": [1, 2]} and type(data.seed) is int
    assert (data.n_samples, data.n_qubits, data.n_outcomes, data.povm_name) == (2, 2, 4, "pauli4")
    # Malformed strings meet the one validator (qgen.strings) and its one error class.
    strings = [
        ({"outcomes": [[0, 4]]}, r"outcomes: expected values in \[0, 4\), found value 4 at row 0, column 1"),
        ({"outcomes": [[-1, 0]]}, "value -1"),
        ({"outcomes": [[0.0, 1.0]]}, "expected integers"),
        ({"outcomes": [0, 1]}, r"outcomes: expected shape \(n, N\), found \(2,\)"),
        ({"bases": [[0, 3], [1, 1]]}, r"bases: expected values in \[0, 3\)"),
        ({"bases": [[0, 1, 2]]}, r"bases: expected shape \(n, 2\)"),
    ]
    cases = [
        ({"outcomes": np.zeros((3, 0), dtype=np.uint8)}, "at least one qubit"),
        ({"ideal_povm": POVM.named("trine")}, "ideal_povm: expected 4 elements"),
        ({"povm": "pauli4"}, "expected a qgen.POVM"),
        ({"bases": [[0, 1]]}, r"bases: expected shape \(2, 2\)"),
        ({"created": "2024\x00"}, "created: expected a string without NUL"),
        ({"povm": POVM(povm.elements, name="a\x00b")}, "povm.name"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"state": {"f": object()}}, "state: expected JSON"),
        ({"noise": {"name": "depolarizing"}}, "noise: expected a JSON list"),
        ({"reference": {"a/b": 1.0}}, "not a valid HDF5 name"),
        ({"reference": {"mps": {"label": "abc"}}}, "reference/mps/label: expected a numeric array"),
    ]
    for error, table in ((OutcomeError, strings), (DataFormatError, cases)):
        for change, message in table:
            kwargs = {"outcomes": [[0, 3], [1, 2]], "povm": povm} | change
            with pytest.raises(error, match=message):
                MeasurementData(**kwargs)


def test_subset_and_split():
    data = make_data(n=101, bases=np.random.default_rng(0).integers(0, 3, size=(101, 3)))
    assert np.array_equal(data.subset(10).outcomes, data.outcomes[:10])
    assert np.array_equal(data.subset(slice(5, 50, 5)).bases, data.bases[5:50:5])
    assert np.array_equal(data.subset(np.array([3, 1])).outcomes, data.outcomes[[3, 1]])
    assert data.subset(0).n_samples == 0 and data.subset(10).seed == data.seed
    with pytest.raises(DataFormatError, match="0 <= n <= 101"):
        data.subset(102)
    with pytest.raises(DataFormatError, match="out of range"):
        data.subset(np.array([101]))
    train, test = data.split(0.8, seed=5)
    assert (train.n_samples, test.n_samples) == (81, 20)
    rows = np.concatenate([train.outcomes, test.outcomes])
    # the split is a partition: every original row is used exactly once
    assert sorted(map(bytes, rows)) == sorted(map(bytes, data.outcomes))
    again, _ = data.split(0.8, seed=5)
    other, _ = data.split(0.8, seed=6)
    assert np.array_equal(again.outcomes, train.outcomes) and not np.array_equal(other.outcomes, train.outcomes)
    with pytest.raises(DataFormatError, match=r"fraction in \(0, 1\)"):
        data.split(1.0, seed=0)


def test_tensor_views():
    data = make_data(n=50)
    t = data.as_tensor()
    assert t.dtype == torch.int64 and t.shape == (50, 3) and np.array_equal(t.numpy(), data.outcomes)
    dataset = data.to_torch_dataset()
    assert len(dataset) == 50
    (item,) = dataset[7]
    assert torch.equal(item, t[7])


def test_empirical_distribution_against_direct_counting():
    data = make_data(n=500, n_qubits=3, povm="trine")
    p = data.empirical_distribution()
    assert p.shape == (27,) and abs(p.sum() - 1) < 1e-12
    # Independent reference: count each row's string as the base-3 number with site 0 most significant.
    counts = np.zeros(27)
    for row in data.outcomes.tolist():
        counts[int("".join(map(str, row)), 3)] += 1
    assert np.array_equal(p, counts / 500)
    with pytest.raises(MetricError, match="exceeds"):
        make_data(n=2, n_qubits=14, povm="pauli6").empirical_distribution()
    with pytest.raises(MetricError, match="no samples"):
        data.subset(0).empirical_distribution()


def test_summary_and_repr_describe_the_data_set():
    data = make_data(n=12345, extra={"source": "test"})
    text = data.summary()
    for expected in ["12,345", "qubits         3", "pauli4 (K = 4, informationally complete)", "depolarizing:0.05",
                     '"name": "ghz"', "seed           0", "energy = -1.5", "zz (3, 3)", 'source: "test"']:  # fmt: skip
        assert expected in text, (expected, text)
    assert str(data) == text
    assert repr(data).startswith("MeasurementData(n_samples=12345, n_qubits=3, povm='pauli4'")
    assert "complete for real states only" in make_data(povm="trine").summary()


def test_write_simulation_streams_the_bits_of_simulate_and_checks_its_counts(tmp_path: Path):
    from qgen.data import simulate, write_simulation
    from qgen.errors import StateError
    from qgen.states import ghz

    path = tmp_path / "s.h5"
    assert write_simulation(path, ghz(3), "tetra", 250, seed=4, chunk=64, progress=False) == 250
    # Independent reference: the in-memory simulate draws the same bits from the same seed in one batch.
    expected = simulate(ghz(3), "tetra", 250, seed=4)
    assert np.array_equal(load(path).outcomes, expected.outcomes)
    for kwargs, message in (({"chunk": 0}, "chunk must be an integer >= 1"), ({"n_samples": 2.5}, "n_samples")):
        args = {"n_samples": 10} | kwargs
        with pytest.raises(StateError, match=message):
            write_simulation(tmp_path / "bad.h5", ghz(3), "tetra", args.pop("n_samples"), progress=False, **args)
    assert not (tmp_path / "bad.h5").exists()

"""npz writer: reference layout, splits, filtering, labels, atomic writes, loader round trips."""

from __future__ import annotations

import os
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from sketch_rnn.data import load_dataset, load_npz
from sketch_rnn.datasets import writer
from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.writer import (
    Dataset,
    build_dataset,
    parse_splits,
    split_sizes,
    write_npz,
)

SPLITS = ("train", "valid", "test")


def toy_sketches(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = np.zeros((int(rng.integers(2, 40)), 3), dtype=np.int16)
        s[:, 0:2] = rng.integers(-30, 31, size=(len(s), 2))
        s[:, 2] = rng.random(len(s)) < 0.2
        s[-1, 2] = 1
        out.append(s)
    return out


def test_split_sizes():
    assert split_sizes(1000, (0.9, 0.05, 0.05)) == (900, 50, 50)
    assert split_sizes(1000, (0.8, 0.1, 0.1), batch_size=30) == (780, 90, 90)
    assert split_sizes(10, (5, 2, 3)) == (5, 2, 3)
    assert split_sizes(10, (0.5, 0.2, 0.1)) == (5, 2, 1)  # fractions below 1: the rest unused
    with pytest.raises(ValueError, match="only 9 are usable"):
        split_sizes(9, (5, 2, 3))
    with pytest.raises(ValueError, match="fewer than one batch"):
        split_sizes(1000, (0.9, 0.05, 0.05), batch_size=100)
    with pytest.raises(ValueError, match="add up to 1.2 > 1"):
        split_sizes(10, (0.6, 0.3, 0.3))
    assert parse_splits("70000, 2500,2500") == (70000, 2500, 2500)
    assert parse_splits("0.9,0.05,0.05") == (0.9, 0.05, 0.05)
    with pytest.raises(ValueError):
        parse_splits("1,2")


def test_writer_loader_round_trip_in_reference_layout(tmp_path):
    sketches = toy_sketches(50)
    data = build_dataset(sketches, splits=(40, 5, 5), seed=3)
    path = tmp_path / "toy.npz"
    write_npz(path, data)
    # Exactly the reference layout: three 1-D object arrays of int16 (L, 3) arrays.
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["test.npy", "train.npy", "valid.npy"]
    raw = np.load(path, encoding="latin1", allow_pickle=True)  # magenta's own call
    for k in SPLITS:
        assert raw[k].dtype == object and raw[k].ndim == 1
        assert all(isinstance(s, np.ndarray) and s.dtype == np.int16 and s.shape[1] == 3
                   for s in raw[k])
    loaded = load_npz(path)  # the project's pickle-refusing loader
    for k in SPLITS:
        assert len(loaded[k]) == len(data.splits[k])
        for a, b in zip(loaded[k], data.splits[k], strict=True):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == np.int16
    # Every input sketch is in exactly one split, unchanged.
    key = {s.tobytes() for s in sketches}
    assert sorted(s.tobytes() for k in SPLITS for s in loaded[k]) == sorted(key)


def test_shuffle_is_seeded():
    sketches = toy_sketches(30)
    a = build_dataset(sketches, splits=(20, 5, 5), seed=1)
    b = build_dataset(sketches, splits=(20, 5, 5), seed=1)
    c = build_dataset(sketches, splits=(20, 5, 5), seed=2)
    same = [x.tobytes() for x in a.splits["train"]] == [x.tobytes() for x in b.splits["train"]]
    differ = [x.tobytes() for x in a.splits["train"]] != [x.tobytes() for x in c.splits["train"]]
    assert same and differ


def test_filtering_rdp_and_batch_rounding():
    sketches = toy_sketches(200)
    sketches.append(np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 1]], dtype=np.int16))
    sketches += [np.zeros((0, 3)), np.array([[np.nan, 0, 1]]), np.array([[40000, 0, 1]]),
                 np.array([[1, 1, 2]]), np.ones((3, 2))]
    report = Report()
    data = build_dataset(sketches, splits=(0.8, 0.1, 0.1), batch_size=5, min_len=5,
                         max_len=30, epsilon=0.5, report=report)
    sizes = data.sizes()
    assert all(v % 5 == 0 for v in sizes.values()) and sizes["valid"] > 0
    lengths = [len(s) for k in SPLITS for s in data.splits[k]]
    assert min(lengths) >= 5 and max(lengths) <= 30
    reasons = report.by_reason()
    assert reasons["NaN or infinite value"] == 1
    assert reasons["offset beyond the int16 range"] == 1
    assert reasons["pen state not 0 or 1"] == 1
    assert sum(v for k, v in reasons.items() if k.startswith("shape")) == 2
    # The collinear 4-row sketch became 2 rows under RDP and was then too short.
    assert any(p.where == "sketch 200" and p.why.startswith("length 2 ") for p in report.problems)
    assert report.converted == sum(sizes.values())


def test_float_input_is_rounded_and_pen_lift_closes_every_sketch():
    data = build_dataset([np.array([[0.4, 1.6, 0], [2.5, -0.5, 0]])], splits=(1, 0, 0))
    assert data.splits["train"][0].tolist() == [[0, 2, 0], [2, 0, 1]]


def test_labels_are_stratified_and_stored(tmp_path):
    sketches = toy_sketches(90)
    labels = [i % 3 for i in range(90)]
    data = build_dataset(sketches, labels=labels, class_names=["cat", "dog", "pig"],
                         splits=(20, 5, 5), seed=0)
    for k, n in zip(SPLITS, (20, 5, 5), strict=True):
        assert np.bincount(data.labels[k], minlength=3).tolist() == [n, n, n]
        for s, lab in zip(data.splits[k], data.labels[k], strict=True):
            i = next(j for j, x in enumerate(sketches) if x is s or np.array_equal(x, s))
            assert labels[i] == lab
    path = tmp_path / "three.npz"
    write_npz(path, data)
    with np.load(path, allow_pickle=False) as z:  # labels and names need no pickle
        assert z["class_names"].tolist() == ["cat", "dog", "pig"]
        assert z["valid_labels"].tolist() == data.labels["valid"].tolist()
    assert [len(load_npz(path)[k]) for k in SPLITS] == [60, 15, 15]
    assert "cat 20, dog 20, pig 20" in data.describe()


def test_written_files_load_for_training_alone_and_as_a_list(tmp_path):
    a = build_dataset(toy_sketches(30, seed=1), splits=(20, 5, 5))
    b = build_dataset(toy_sketches(30, seed=2), splits=(20, 5, 5))
    write_npz(tmp_path / "a.npz", a)
    write_npz(tmp_path / "b.npz", b)
    hps = SimpleNamespace(data_set="a.npz", batch_size=5, max_seq_len=250,
                          random_scale_factor=0.15, augment_stroke_prob=0.1)
    alone = load_dataset(tmp_path, hps, seed=0)
    assert len(alone.train) == 20
    hps.data_set = ["a.npz", "b.npz"]
    both = load_dataset(tmp_path, hps, seed=0)
    assert (len(both.train), len(both.valid), len(both.test)) == (40, 10, 10)
    x, seq_len = both.train.random_batch()
    assert x.shape[0] == 5 and np.isfinite(x).all()


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "data.npz"
    write_npz(path, Dataset({"train": toy_sketches(3), "valid": [], "test": []}))
    before = path.read_bytes()

    def broken(f, arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_savez", broken)
    with pytest.raises(OSError, match="disk full"):
        write_npz(path, Dataset({"train": toy_sketches(5), "valid": [], "test": []}))
    assert path.read_bytes() == before  # the old file is untouched
    with pytest.raises(OSError):
        write_npz(tmp_path / "new.npz", {"train": toy_sketches(2)})
    assert sorted(os.listdir(tmp_path)) == ["data.npz"]  # no partial file, no temp left


def test_nothing_left_to_write_is_one_clear_error():
    with pytest.raises(NoUsableDataError, match="no usable sketch"):
        build_dataset([np.zeros((0, 3)), np.array([[np.inf, 0, 1]])])

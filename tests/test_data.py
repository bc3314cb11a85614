"""Dataset loading, normalisation and batching: exact parity with the reference's numbers."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import pickle
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sketch_rnn.data import DataLoader, DatasetError, load_dataset, load_npz, read_npz
from sketch_rnn.strokes import pad_batch, random_scale

SHEEP_SCALE = np.float32(18.519827)


def sheep_hps(**kw) -> SimpleNamespace:
    base = dict(data_set=["aaron_sheep.npz"], batch_size=100, max_seq_len=0,
                random_scale_factor=0.15, augment_stroke_prob=0.10)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.fixture(scope="module")
def sheep(aaron_sheep_path: Path) -> dict[str, list[np.ndarray]]:
    return load_npz(aaron_sheep_path)


@pytest.fixture(scope="module")
def sheep_ds(aaron_sheep_path: Path):
    return load_dataset(aaron_sheep_path.parent, sheep_hps(batch_size=4), seed=0)


# ---------------------------------------------------------------------------------------------
# helpers to build npz files


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def object_npy_from_pickle(payload: bytes, shape=(1,)) -> bytes:
    """A .npy member whose header says "object array" followed by an arbitrary pickle."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|O", "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def write_npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def obj_array(sketches) -> np.ndarray:
    arr = np.empty(len(sketches), dtype=object)
    for i, s in enumerate(sketches):
        arr[i] = s
    return arr


def good_split(n=3, dtype=np.int16) -> np.ndarray:
    return obj_array([np.array([[1, 2, 0], [3, 4, 1]], dtype=dtype)] * n)


def npz_with(path: Path, **splits) -> Path:
    members = {f"{k}.npy": npy_bytes(splits.get(k, good_split())) for k in ("train", "valid", "test")}
    return write_npz(path, members)


# ---------------------------------------------------------------------------------------------
# loading


def test_load_npz_matches_numpy(sheep, aaron_sheep_path):
    ref = np.load(aaron_sheep_path, allow_pickle=True, encoding="latin1")
    assert [len(sheep[k]) for k in ("train", "valid", "test")] == [7400, 300, 300]
    for k in ("train", "valid", "test"):
        for a, b in zip(sheep[k], ref[k], strict=True):
            assert a.dtype == np.int16 == b.dtype
            np.testing.assert_array_equal(a, b)
    assert read_npz(aaron_sheep_path).skipped == {"train": 0, "valid": 0, "test": 0}


def test_load_float64_python3_pickle(shared_dir):
    path = shared_dir / "datasets" / "kanji" / "kanji.rdp100.npz"
    if not path.exists():
        pytest.skip(f"{path} not available")
    data = load_npz(path)  # pickled with _codecs.encode(..., 'latin1') for the bytes
    assert [len(data[k]) for k in ("train", "valid", "test")] == [10358, 600, 500]
    assert data["train"][0].dtype == np.float64


def test_load_int16_and_float64_elements(tmp_path):
    f64 = obj_array([np.array([[0.5, -1.25, 0.0], [2.0, 3.0, 1.0]])] * 2)
    path = npz_with(tmp_path / "mixed.npz", train=f64)
    data = load_npz(path)
    assert data["train"][0].dtype == np.float64 and data["valid"][0].dtype == np.int16


def test_load_plain_numeric_member(tmp_path):
    path = npz_with(tmp_path / "dense.npz", valid=np.ones((4, 5, 3), dtype=np.float32))
    assert len(load_npz(path)["valid"]) == 4


def test_hostile_pickle_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    top = object_npy_from_pickle(pickle.dumps(Evil(), protocol=2))
    nested = npy_bytes(obj_array([Evil()]))  # hidden inside a genuine object array
    for i, member in enumerate((top, nested)):
        path = write_npz(tmp_path / f"evil{i}.npz", {
            "train.npy": member, "valid.npy": npy_bytes(good_split()),
            "test.npy": npy_bytes(good_split())})
        with pytest.raises(DatasetError, match=r"unsafe pickle in train\.npy: forbidden global "
                                               r"(posix|os|nt)\.system") as err:
            load_npz(path)
        assert str(path) in str(err.value)
        assert not marker.exists()


def test_hostile_builtins_and_codecs(tmp_path):
    payload = pickle.dumps(eval, protocol=2)  # a bare reference to builtins.eval
    path = write_npz(tmp_path / "eval.npz", {
        "train.npy": object_npy_from_pickle(payload), "valid.npy": npy_bytes(good_split()),
        "test.npy": npy_bytes(good_split())})
    with pytest.raises(DatasetError, match=r"forbidden global (__builtin__|builtins)\.eval"):
        load_npz(path)

    class Codec:
        def __reduce__(self):
            import _codecs
            return (_codecs.encode, ("x", "rot13"))

    path = write_npz(tmp_path / "codec.npz", {
        "train.npy": object_npy_from_pickle(pickle.dumps(Codec(), protocol=2)),
        "valid.npy": npy_bytes(good_split()), "test.npy": npy_bytes(good_split())})
    with pytest.raises(DatasetError, match="latin1 codec"):
        load_npz(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz: dataset file not found"):
        load_npz(tmp_path / "nope.npz")
    with pytest.raises(DatasetError, match="is a directory"):
        load_npz(tmp_path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(DatasetError, match=r"text\.npz: not a valid \.npz \(zip\) file"):
        load_npz(path)


def test_truncated(tmp_path, aaron_sheep_path):
    raw = aaron_sheep_path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 30, 100):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(raw[:cut])
        with pytest.raises(DatasetError, match=rf"cut{cut}\.npz: .*(truncated|not a valid)"):
            load_npz(path)


def test_corrupt_member(tmp_path):
    path = write_npz(tmp_path / "bad.npz", {
        "train.npy": npy_bytes(good_split())[:-7], "valid.npy": npy_bytes(good_split()),
        "test.npy": npy_bytes(good_split())})
    with pytest.raises(DatasetError, match=r"bad\.npz: train\.npy is truncated or corrupt"):
        load_npz(path)


def test_missing_key(tmp_path):
    path = write_npz(tmp_path / "nokey.npz", {"train.npy": npy_bytes(good_split()),
                                              "valid.npy": npy_bytes(good_split())})
    with pytest.raises(DatasetError, match=r"nokey\.npz: missing split\(s\) \['test'\]"):
        load_npz(path)


def test_wrong_shape_and_nan_whole_split(tmp_path):
    path = npz_with(tmp_path / "shape.npz", valid=obj_array([np.zeros((4, 2))] * 2))
    with pytest.raises(DatasetError, match=r"shape\.npz: no usable sketch in split 'valid'.*"
                                           r"shape \(4, 2\)"):
        load_npz(path)
    nan = np.array([[np.nan, 1.0, 1.0]])
    path = npz_with(tmp_path / "nan.npz", test=obj_array([nan]))
    with pytest.raises(DatasetError, match=r"nan\.npz: no usable sketch in split 'test'.*NaN"):
        load_npz(path)
    path = npz_with(tmp_path / "flat.npz", train=np.zeros((5, 3)))
    with pytest.raises(DatasetError, match=r"flat\.npz: split 'train' is a float64 array"):
        load_npz(path)


def test_single_bad_sketches_are_skipped(tmp_path, caplog):
    good = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16)
    train = obj_array([good, np.zeros((0, 3)), np.array([[np.inf, 0, 1]]), good,
                       np.zeros((3, 4)), np.array([["a", "b", "c"]]), [1, 2, 3]])
    path = npz_with(tmp_path / "some_bad.npz", train=train)
    with caplog.at_level(logging.WARNING, logger="sketch_rnn.data"):
        contents = read_npz(path)
    assert len(contents.splits["train"]) == 2
    assert contents.skipped == {"train": 5, "valid": 0, "test": 0}
    assert "skipped 5 bad sketch(es)" in caplog.text and "some_bad.npz" in caplog.text
    assert any("is empty" in p for p in contents.problems)
    assert any("NaN or inf" in p for p in contents.problems)


# ---------------------------------------------------------------------------------------------
# normalisation and parity with the reference


def test_scale_factor_and_max_len(sheep_ds):
    assert sheep_ds.hps.max_seq_len == 250
    sf = sheep_ds.scale_factor
    assert sf.dtype == np.float32 and sf == SHEEP_SCALE
    assert round(float(sf), 4) == 18.5198
    assert sheep_ds.valid.scale_factor == sf == sheep_ds.test.scale_factor


def parity_data(case: Path, shared_dir: Path):
    """``(dataset, valid strokes)`` of a parity case: its own data set files, batch size and
    max_seq_len, as its ``model_config.json`` names them (the reference's loader settings)."""
    from conftest import parity_data_dir

    from sketch_rnn.hparams import HParams

    folder = parity_data_dir(case, shared_dir)
    hps = HParams.load(case)
    ds = load_dataset(folder, hps, seed=0)
    valid = [s for name in hps.data_set for s in load_npz(folder / name)["valid"]]
    return ds, valid


def test_parity_normalisation_and_padding(parity_cases, shared_dir):
    for case in parity_cases:
        ds, valid = parity_data(case, shared_dir)
        exp = np.load(case / "expected.npz")
        sf = exp["scale_factor"]
        assert sf.dtype == np.float32 and sf == ds.scale_factor, case.name
        for prefix in ("", "long_"):
            raw = [valid[i] for i in exp[prefix + "valid_index"]]
            batch = []
            for r in raw:
                s = np.maximum(np.minimum(r, 1000), -1000).astype(np.float32)
                s[:, 0:2] /= sf
                batch.append(s)
            x = pad_batch(batch, ds.hps.max_seq_len)
            np.testing.assert_array_equal(x, exp[prefix + "x"], err_msg=f"{case.name} {prefix}x")
            np.testing.assert_array_equal([len(r) for r in raw], exp[prefix + "seq_len"])
            lengths = exp[prefix + "raw_lengths"]
            for r, stored, n in zip(raw, exp[prefix + "raw_strokes"], lengths, strict=True):
                np.testing.assert_array_equal(r, stored[:n])


def test_parity_eval_batches(parity_cases, shared_dir):
    for case in parity_cases:
        ds, valid_strokes = parity_data(case, shared_dir)
        valid = ds.valid
        size = ds.hps.batch_size
        assert valid.num_batches == len(valid_strokes) // size
        lengths = np.array([len(s) for s in valid_strokes])
        exp = np.load(case / "expected.npz")
        # The fixtures hold the first and the last validation batch.
        for batch, prefix in ((0, ""), (valid.num_batches - 1, "long_")):
            want = exp[prefix + "valid_index"]
            got = valid.source_index[batch * size:(batch + 1) * size]
            # Same lengths whatever the tie order.
            np.testing.assert_array_equal(lengths[got], lengths[want])
            if not np.array_equal(np.argsort(lengths)[batch * size:(batch + 1) * size], want):
                pytest.skip("numpy's unstable argsort orders equal lengths differently on this "
                            "CPU than on the machine that made the fixtures")
            np.testing.assert_array_equal(got, want, err_msg=case.name)
            x, seq_len = valid.get_batch(batch)
            assert x.dtype == np.float32 and seq_len.dtype == np.int32
            np.testing.assert_array_equal(x, exp[prefix + "x"], err_msg=case.name)
            np.testing.assert_array_equal(seq_len, exp[prefix + "seq_len"])


def test_parity_data_comes_from_each_case_config(tmp_path, shared_dir, aaron_sheep_path):
    """A case names its own data set: the tests read that one, not aaron_sheep."""
    from conftest import parity_data_dir

    data = tmp_path / "datasets" / "toy"
    data.mkdir(parents=True)
    (data / "toy.npz").symlink_to(aaron_sheep_path)
    case = tmp_path / "case"
    case.mkdir()
    (case / "model_config.json").write_text(json.dumps({"data_set": ["toy.npz"], "batch_size": 7}))
    assert parity_data_dir(case, tmp_path) == data
    (case / "model_config.json").write_text(json.dumps({"data_set": ["missing.npz"]}))
    with pytest.raises(pytest.skip.Exception, match="missing.npz"):
        parity_data_dir(case, tmp_path)


def test_reference_sort_is_numpy_default_not_stable(sheep):
    # The fixtures' last batch lists equal-length (248) sketches as 215, 148, 49: not index
    # order, so the reference sort is not stable; the loader uses the same np.argsort.
    lengths = np.array([len(s) for s in sheep["valid"]], dtype=np.int64)
    loader = DataLoader(sheep["valid"], 4, 250)
    np.testing.assert_array_equal(loader.source_index, np.argsort(lengths))
    stable = DataLoader(sheep["valid"], 4, 250, sort_kind="stable")
    np.testing.assert_array_equal(stable.source_index, np.argsort(lengths, kind="stable"))
    assert np.all(np.diff(loader.lengths) >= 0)


# ---------------------------------------------------------------------------------------------
# DataLoader


def reference_pipeline_batch(loader: DataLoader, rs: np.random.RandomState, prob: float):
    """The reference's random_batch drawn with a plain loop from the same RandomState."""
    idx = rs.permutation(list(range(len(loader.strokes))))[: loader.batch_size]
    batch = []
    for i in idx:
        d = random_scale(loader.strokes[i], loader.random_scale_factor, rs)
        if prob > 0:
            out, prev_pen, count, last = [], 1, 0, None
            for dx, dy, pen in d:
                u = rs.random()
                count = 0 if (pen == 1 or prev_pen == 1) else count + 1
                if pen == 0 and prev_pen == 0 and count > 2 and u < prob:
                    last[0] += dx
                    last[1] += dy
                else:
                    last = [dx, dy, pen]
                    out.append(last)
                    prev_pen = pen
            d = np.array(out, dtype=np.float32)
        batch.append(d)
    return pad_batch(batch, loader.max_seq_len), np.array([len(b) for b in batch])


def test_random_batch_replays_reference_stream(sheep_ds):
    train = sheep_ds.train
    assert train.random_scale_factor == 0.15 and train.augment_stroke_prob == 0.10
    saved = train.rng
    try:
        train.rng = np.random.RandomState(101)
        rs = np.random.RandomState(101)
        for _ in range(3):
            x, seq_len = train.random_batch()
            x_ref, len_ref = reference_pipeline_batch(train, rs, 0.10)
            np.testing.assert_array_equal(x, x_ref)
            np.testing.assert_array_equal(seq_len, len_ref)
    finally:
        train.rng = saved


def test_loader_basics():
    sketches = [np.full((n, 3), [1, 1, 0], dtype=np.int16) for n in (5, 2, 9, 3, 7)]
    for s in sketches:
        s[-1, 2] = 1
    loader = DataLoader(sketches, batch_size=2, max_seq_len=7, seed=0)
    assert loader.lengths.tolist() == [2, 3, 5, 7]  # 9 points > max_seq_len: dropped
    assert loader.source_index.tolist() == [1, 3, 0, 4]
    assert loader.num_batches == 2 and len(loader) == 4
    x, seq_len = loader.get_batch(1)
    assert x.shape == (2, 8, 5) and seq_len.tolist() == [5, 7]
    np.testing.assert_array_equal(x[0], pad_batch([sketches[0].astype(np.float32)], 7)[0])
    with pytest.raises(IndexError, match=r"index 2 out of range \[0, 2\)"):
        loader.get_batch(2)
    with pytest.raises(ValueError, match="sketch 0 must be a numeric"):
        DataLoader([np.zeros((3, 2))])


def test_loader_clamps_and_scales():
    loader = DataLoader([np.array([[3000, -2000, 1]], dtype=np.int16)], 1, 5, scale_factor=2.0)
    np.testing.assert_array_equal(loader.strokes[0], [[500, -500, 1]])
    assert loader.strokes[0].dtype == np.float32


def test_pad_to_batch_and_with_strokes(sheep):
    loader = DataLoader(sheep["valid"], 4, 250, random_scale_factor=0.15,
                        augment_stroke_prob=0.3, seed=3, pad_to="batch")
    strokes3, x, seq_len = loader.get_batch(0, with_strokes=True)
    assert x.shape == (4, int(seq_len.max()) + 1, 5)
    np.testing.assert_array_equal(x, pad_batch(strokes3, int(seq_len.max())))
    assert [len(s) for s in strokes3] == seq_len.tolist()
    with pytest.raises(ValueError, match="pad_to"):
        DataLoader(sheep["valid"], pad_to="longest")


def test_state_round_trip_json(sheep):
    for rng in (None, np.random.RandomState(5)):
        loader = DataLoader(sheep["train"], 10, 250, random_scale_factor=0.15,
                            augment_stroke_prob=0.1, seed=1, rng=rng)
        loader.random_batch()
        state = json.loads(json.dumps(loader.get_state()))
        first = [loader.random_batch() for _ in range(3)]
        loader.set_state(state)
        again = [loader.random_batch() for _ in range(3)]
        for (xa, la), (xb, lb) in zip(first, again, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(la, lb)
    with pytest.raises(ValueError, match="expected a Generator state"):
        DataLoader(sheep["valid"], seed=0).set_state(state)


def test_seed_makes_batches_reproducible(sheep):
    a = DataLoader(sheep["valid"], 8, 250, random_scale_factor=0.15, augment_stroke_prob=0.1,
                   seed=9)
    b = DataLoader(sheep["valid"], 8, 250, random_scale_factor=0.15, augment_stroke_prob=0.1,
                   seed=9)
    np.testing.assert_array_equal(a.random_batch()[0], b.random_batch()[0])


def test_batch_speed(sheep_ds, sheep):
    # Measured ~1-2 ms on one AMD EPYC core; the bound leaves room for slow CI machines.
    loader = DataLoader(sheep["train"], 100, 250, scale_factor=SHEEP_SCALE,
                        random_scale_factor=0.15, augment_stroke_prob=0.1, seed=0)
    loader.random_batch()
    times = []
    for _ in range(30):
        t = time.perf_counter()
        loader.random_batch()
        times.append(time.perf_counter() - t)
    assert np.median(times) < 0.010


# ---------------------------------------------------------------------------------------------
# load_dataset


def test_load_dataset_concatenates_files(tmp_path, aaron_sheep_path, sheep):
    other = tmp_path / "other.npz"
    npz_with(other, train=obj_array([np.array([[1, 2, 0]] * 300 + [[3, 4, 1]], np.int16)]))
    (tmp_path / "aaron_sheep.npz").symlink_to(aaron_sheep_path)
    ds = load_dataset(tmp_path, sheep_hps(data_set=["aaron_sheep.npz", "other.npz"]), seed=0)
    assert ds.hps.max_seq_len == 301
    assert [len(d) for d in (ds.train, ds.valid, ds.test)] == [7401, 303, 303]
    pooled = np.concatenate([np.maximum(np.minimum(s, 1000), -1000).astype(np.float32)
                             for s in sheep["train"]] + [np.array([[1, 2, 0]] * 300 + [[3, 4, 1]],
                                                                  np.float32)])
    assert abs(float(ds.scale_factor) - float(np.std(pooled[:, :2]))) < 1e-4


def test_load_dataset_hps_forms(aaron_sheep_path):
    from sketch_rnn.hparams import HParams

    hps = HParams(data_set=("aaron_sheep.npz",), batch_size=50, max_seq_len=10)
    ds = load_dataset(aaron_sheep_path.parent, hps, inference_mode=True)
    assert isinstance(ds.hps, HParams) and ds.hps.max_seq_len == 250 and hps.max_seq_len == 10
    assert dataclasses.replace(ds.hps, max_seq_len=10) == hps
    assert ds.train.batch_size == 50 and ds.valid.batch_size == 1 and ds.test.num_batches == 300
    ns = sheep_hps(data_set="aaron_sheep.npz", batch_size=7)
    ds = load_dataset(aaron_sheep_path.parent, ns)
    assert ds.hps.max_seq_len == 250 and ns.max_seq_len == 0 and ds.valid.batch_size == 7
    with pytest.raises(ValueError, match="downloading is not supported"):
        load_dataset("https://example.com/data", ns)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_dataset(aaron_sheep_path.parent, sheep_hps(data_set=["missing.npz"]))


def test_load_dataset_logs(aaron_sheep_path, caplog):
    with caplog.at_level(logging.INFO, logger="sketch_rnn.data"):
        load_dataset(aaron_sheep_path.parent, sheep_hps())
    assert "Loaded 7400/300/300 from aaron_sheep.npz" in caplog.text
    assert "normalizing_scale_factor 18.5198" in caplog.text

"""The numpy checkpoint reader (sketch_rnn.tf_checkpoint) against TensorFlow's own, on every checkpoint
at hand, on checkpoints of every dtype written here, on damaged files, and with TensorFlow absent
(reading magenta checkpoints on the JAX backend)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn import tf_checkpoint
from sketch_rnn.interop.tf1 import load_tf1_checkpoint, resolve_prefix, tf1_names
from sketch_rnn.tf_checkpoint import CheckpointReader, crc32c, latest_checkpoint

REPO = Path(__file__).resolve().parent.parent


def _assert_same_as_tf(prefix: str | os.PathLike, values: bool = True) -> CheckpointReader:
    """Every name, shape, dtype and (if ``values``) value our reader gives equals TF's."""
    prefix = os.fspath(prefix)
    ours, theirs = CheckpointReader(prefix), tf.train.load_checkpoint(prefix)
    assert ours.shapes() == theirs.get_variable_to_shape_map()
    tf_dtypes = theirs.get_variable_to_dtype_map()
    assert set(ours.dtypes()) == set(tf_dtypes)
    for name, dtype in ours.dtypes().items():
        expected = object if tf_dtypes[name] == tf.string else tf_dtypes[name].as_numpy_dtype
        assert dtype == np.dtype(expected), name
        assert ours.has(name) and name in ours
        if not values:
            continue
        a, b = ours.get(name), theirs.get_tensor(name)
        assert type(a) is type(b), (name, type(a), type(b))
        if isinstance(b, np.ndarray):
            assert (a.dtype, a.shape) == (b.dtype, b.shape), name
            assert a.flags.writeable, name
            if b.dtype == object:
                assert a.tolist() == b.tolist(), name
            else:
                np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a == b and np.asarray(a).dtype == np.asarray(b).dtype, name
    assert not ours.has("no/such/tensor")
    return ours


def _save_v2(prefix: Path, tensors: dict[str, tf.Tensor]) -> str:
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tensors[n] for n in names])
    return str(prefix)


def _index_blocks(prefix: str) -> int:
    """How many data blocks the index file's table has."""
    data = Path(prefix + ".index").read_bytes()
    _, _, pos = tf_checkpoint._handle(data[-48:], 0)
    offset, size, _ = tf_checkpoint._handle(data[-48:], pos)
    return len(list(tf_checkpoint._block_entries(tf_checkpoint._block(data, offset, size))))


# -- CRC-32C -------------------------------------------------------------------------------------


def test_crc32c_check_values():
    # The check value of the CRC catalogue and the test vectors of RFC 3720 (iSCSI), B.4.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0


@pytest.mark.parametrize("n", [255, 256, 257, 1000, 4095, 4096, 4097, 65536 + 7, 1 << 20, 3_000_001])
def test_crc32c_long_data_matches_byte_at_a_time(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    expected = tf_checkpoint._feed(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    assert crc32c(data) == expected
    assert crc32c(bytearray(data)) == expected and crc32c(memoryview(data)) == expected
    cut = n // 3
    assert crc32c(data[cut:], crc32c(data[:cut])) == expected


# -- every checkpoint at hand --------------------------------------------------------------------


def test_magenta_parity_checkpoints(parity_dir):
    folders = sorted(p for p in parity_dir.iterdir() if (p / "checkpoint").is_file())
    assert folders
    for folder in folders:
        prefix = latest_checkpoint(folder)
        assert prefix == tf.train.latest_checkpoint(str(folder)), folder
        reader = _assert_same_as_tf(prefix)
        assert reader.num_shards == 1 and any(n.startswith("vector_rnn/RNN/") for n in reader.shapes())


@pytest.mark.parametrize("folder", ["tests/data/format2_model", "tests/data/format2_model/resume"])
def test_our_object_based_checkpoints(folder):
    prefix = latest_checkpoint(REPO / folder)
    assert prefix == tf.train.latest_checkpoint(str(REPO / folder))
    reader = _assert_same_as_tf(prefix)
    graph = reader.get("_CHECKPOINTABLE_OBJECT_GRAPH")
    assert isinstance(graph, bytes) and b"VARIABLE_VALUE" in graph


def test_real_magenta_index_files_without_data(shared_dir):
    root = shared_dir / "pretrained" / "tf1_checkpoint_index"
    if not root.is_dir():
        pytest.skip("real magenta index files not found")
    folders = sorted(root.iterdir())
    assert len(folders) == 2
    counts = []
    for folder in folders:
        prefix = latest_checkpoint(folder)
        assert prefix == tf.train.latest_checkpoint(str(folder))
        reader = _assert_same_as_tf(prefix, values=False)
        counts.append(len(reader.shapes()))
        data = reader.data_path(0)
        with pytest.raises(FileNotFoundError) as e:
            reader.get("vector_rnn/RNN/output_w")
        assert str(e.value).startswith(f"{data}: no such file") and "\n" not in str(e.value)
    assert sorted(counts) == [25, 61]


# -- checkpoints written here --------------------------------------------------------------------

_DTYPES = [tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int8, tf.int16, tf.int32, tf.int64,
           tf.uint8, tf.uint16, tf.uint32, tf.uint64, tf.bool, tf.complex64, tf.complex128]


def _values(dtype: tf.DType, shape: tuple[int, ...], rng: np.random.Generator) -> tf.Tensor:
    if dtype == tf.bool:
        return tf.constant(rng.random(shape) < 0.5)
    if dtype.is_complex:
        return tf.complex(*(tf.constant(rng.normal(size=shape), dtype.real_dtype) for _ in range(2)))
    if dtype.is_floating:
        return tf.cast(tf.constant(rng.normal(0, 100, shape)), dtype)
    return tf.constant(rng.integers(dtype.min, dtype.max, shape, endpoint=True, dtype=np.int64)
                       if dtype != tf.uint64 else rng.integers(0, 2**64 - 1, shape, dtype=np.uint64), dtype)


def test_save_v2_every_dtype_scalars_and_empty_tensors(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {}
    for dtype in _DTYPES:
        for shape in [(), (1,), (3, 5), (0,), (4, 0, 2), (70, 50)]:
            tensors[f"{dtype.name}/{shape}"] = _values(dtype, shape, rng)
    tensors["string/scalar"] = tf.constant(json.dumps({"step": 3, "note": "naïve"}).encode())
    tensors["string/empty_scalar"] = tf.constant(b"")
    tensors["string/empty"] = tf.constant([], tf.string)
    tensors["string/empty_2d"] = tf.zeros([2, 0], tf.string)
    long = bytes(range(256)) * 3  # lengths past 127 take two varint bytes
    tensors["string/matrix"] = tf.constant([[b"a", b"", long], [b"\x00\xff", "ünï".encode(), b"z" * 40000]])
    prefix = _save_v2(tmp_path / "all", tensors)
    reader = _assert_same_as_tf(prefix)
    assert json.loads(reader.get("string/scalar")) == {"step": 3, "note": "naïve"}
    assert reader.get("string/matrix")[0, 2] == long


def test_tf_train_checkpoint(tmp_path):
    ckpt = tf.train.Checkpoint(
        w=tf.Variable(np.arange(12, dtype=np.float32).reshape(3, 4)), step=tf.Variable(7, dtype=tf.int64),
        flag=tf.Variable(True), half=tf.Variable(np.ones([2], np.float16)),
        nested=tf.train.Checkpoint(v=tf.Variable([1.5, -2.5], dtype=tf.float64)))
    prefix = ckpt.write(str(tmp_path / "ckpt-1"))
    reader = _assert_same_as_tf(prefix)
    assert reader.get("nested/v/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [1.5, -2.5]
    assert reader.get("step/.ATTRIBUTES/VARIABLE_VALUE") == 7


def test_multi_block_index_with_many_tensors(tmp_path):
    rng = np.random.default_rng(1)
    # Long names fill TF's 256 KiB index blocks; a few large tensors take the long-data CRC path.
    tensors = {f"{i:04d}/" + "w" * 500: tf.constant(rng.normal(size=[i % 7, 3]), tf.float32)
               for i in range(600)}
    tensors["big"] = tf.constant(rng.normal(size=[300, 700]), tf.float32)
    tensors["big_int"] = tf.constant(rng.integers(0, 9, [5000]), tf.int64)
    prefix = _save_v2(tmp_path / "many", tensors)
    assert _index_blocks(prefix) >= 2
    reader = _assert_same_as_tf(prefix)
    assert len(reader.shapes()) == 602


# -- damage --------------------------------------------------------------------------------------


@pytest.fixture
def small_ckpt(tmp_path) -> str:
    return _save_v2(tmp_path / "small", {
        "a": tf.constant(np.arange(20000, dtype=np.float32)), "b": tf.constant([[1, 2], [3, 4]], tf.int32),
        "s": tf.constant([b"hello", b"world"])})


def _error(exc_type, call) -> str:
    with pytest.raises(exc_type) as e:
        call()
    message = str(e.value)
    assert "\n" not in message, message
    return message


def test_missing_index(tmp_path):
    message = _error(FileNotFoundError, lambda: CheckpointReader(tmp_path / "nothing"))
    assert message.startswith(f"{tmp_path / 'nothing'}.index: no such file")


def test_bad_magic(small_ckpt):
    index = Path(small_ckpt + ".index")
    data = bytearray(index.read_bytes())
    data[-1] ^= 0x40
    index.write_bytes(bytes(data))
    assert _error(ValueError, lambda: CheckpointReader(small_ckpt)).startswith(f"{index}: bad magic number")
    index.write_bytes(b"not a checkpoint index at all, but more than forty-eight bytes long.")
    assert _error(ValueError, lambda: CheckpointReader(small_ckpt)).startswith(f"{index}: bad magic number")


def test_truncated_index_at_every_length(small_ckpt):
    index = Path(small_ckpt + ".index")
    data = index.read_bytes()
    for n in range(len(data)):
        index.write_bytes(data[:n])
        message = _error(ValueError, lambda: CheckpointReader(small_ckpt))
        assert message.startswith(f"{index}: ") and ("truncated" in message or "magic" in message), n


def test_every_flipped_index_byte_is_caught_or_harmless(small_ckpt):
    """A flip anywhere in the index raises a one-line ValueError naming it, except in the footer's
    padding, which no reader uses."""
    index = Path(small_ckpt + ".index")
    data = index.read_bytes()
    shapes = CheckpointReader(small_ckpt).shapes()
    harmless = []
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x04
        index.write_bytes(bytes(damaged))
        try:
            assert CheckpointReader(small_ckpt).shapes() == shapes
            harmless.append(i)
        except ValueError as e:
            assert str(e).startswith(f"{index}: ") and "\n" not in str(e), (i, e)
    assert harmless and all(len(data) - 48 < i < len(data) - 8 for i in harmless), harmless


def test_flipped_data_byte_fails_the_crc(small_ckpt):
    data_file = Path(small_ckpt + ".data-00000-of-00001")
    original = data_file.read_bytes()
    reader = CheckpointReader(small_ckpt)
    for name, position in [("a", 12345), ("b", 80000 + 3), ("s", len(original) - 2), ("s", 80016)]:
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        data_file.write_bytes(bytes(damaged))
        message = _error(ValueError, lambda n=name: reader.get(n))
        assert message.startswith(f"{data_file}: tensor '{name}'") and "damaged" in message, message
        others = {"a", "b", "s"} - {name}
        assert all(reader.get(n) is not None for n in others)


def test_truncated_and_missing_data_file(small_ckpt):
    data_file = Path(small_ckpt + ".data-00000-of-00001")
    data = data_file.read_bytes()
    reader = CheckpointReader(small_ckpt)
    data_file.write_bytes(data[:80020])  # a and b intact, s cut
    message = _error(ValueError, lambda: reader.get("s"))
    assert message.startswith(f"{data_file}: truncated: tensor 's' needs bytes")
    assert reader.get("a")[:250].tolist() == list(range(250))  # tensors before the cut still read
    data_file.unlink()
    message = _error(FileNotFoundError, lambda: reader.get("a"))
    assert message.startswith(f"{data_file}: no such file (data shard 1 of 1")
    assert CheckpointReader(small_ckpt).shapes()["a"] == [20000]  # the index alone still lists the tensors
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        reader.get("nope")


# -- latest_checkpoint ---------------------------------------------------------------------------


def test_latest_checkpoint_like_tf(tmp_path, small_ckpt):
    def same(folder):
        assert latest_checkpoint(folder) == tf.train.latest_checkpoint(str(folder)), folder
        return latest_checkpoint(folder)

    folder = Path(small_ckpt).parent
    assert same(folder) is None  # no pointer file
    pointer = folder / "checkpoint"
    pointer.write_text('model_checkpoint_path: "small"\nall_model_checkpoint_paths: "small"\n')
    assert same(folder) == small_ckpt
    pointer.write_text(f'model_checkpoint_path: "{small_ckpt}"\n')  # absolute
    assert same(folder) == small_ckpt
    pointer.write_text('model_checkpoint_path: "gone"\n')  # names a checkpoint that is not there
    assert same(folder) is None
    assert latest_checkpoint(tmp_path / "no_such_folder") is None
    pointer.write_bytes(b"\xff\xfe garbage")
    assert latest_checkpoint(folder) is None


# -- without TensorFlow --------------------------------------------------------------------------

_NO_TF = """
import sys
sys.modules["tensorflow"] = None  # from here on, any import of TensorFlow fails
import keras, numpy as np
from sketch_rnn.interop.tf1 import export_tf1_checkpoint, load_tf1_checkpoint, tf1_names
assert keras.backend.backend() == "jax"
weights = {}
for folder in FOLDERS:
    model = load_tf1_checkpoint(folder)
    for var, names in tf1_names(model):
        weights[folder + ":" + (names if isinstance(names, str) else names[0])] = np.asarray(var)
np.savez(OUT, **weights)
try:
    export_tf1_checkpoint(model, "exported")
except RuntimeError as e:
    print("RuntimeError:", e)
loaded = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
assert sys.modules["tensorflow"] is None and loaded == ["tensorflow"], loaded
"""


@pytest.fixture(scope="module")
def without_tf(parity_dir, tmp_path_factory):
    """A process on the JAX backend where importing TensorFlow fails: it loads every magenta parity
    checkpoint (its weights saved to ``weights.npz``) and tries to export one."""
    pytest.importorskip("jax")
    folders = sorted(str(p) for p in parity_dir.iterdir() if (p / "checkpoint").is_file())
    work = tmp_path_factory.mktemp("without_tf")
    code = f"FOLDERS, OUT = {folders!r}, {str(work / 'weights.npz')!r}\n" + _NO_TF
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join(
        [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    result = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return folders, work, result.stdout


def test_magenta_checkpoints_load_on_jax_without_tensorflow(without_tf):
    folders, work, _ = without_tf
    saved = np.load(work / "weights.npz")
    for folder in folders:
        model = load_tf1_checkpoint(folder)
        reader = tf.train.load_checkpoint(resolve_prefix(folder))
        for var, names in tf1_names(model):
            first = names if isinstance(names, str) else names[0]
            np.testing.assert_array_equal(saved[folder + ":" + first], np.asarray(var))
            ours = np.asarray(var) if isinstance(names, str) else np.asarray(var)[0]
            np.testing.assert_array_equal(ours, reader.get_tensor(first))
    assert len(saved.files) == sum(len(tf1_names(load_tf1_checkpoint(f))) for f in folders)


def test_export_without_tensorflow_says_so(without_tf):
    _, work, stdout = without_tf
    assert stdout.strip() == ("RuntimeError: writing magenta TF1 checkpoints needs TensorFlow: "
                              "pip install tensorflow")
    assert not (work / "exported").exists()


def test_damaged_magenta_checkpoint_names_the_file(parity_dir, tmp_path):
    src = parity_dir / "lstm_uncond"
    if not src.is_dir():
        pytest.skip("lstm_uncond parity case not present")
    shutil.copytree(src, tmp_path / "case")
    data_file = Path(resolve_prefix(tmp_path / "case") + ".data-00000-of-00001")
    data_file.write_bytes(bytes(b ^ 0xFF for b in data_file.read_bytes()))
    message = _error(ValueError, lambda: load_tf1_checkpoint(tmp_path / "case"))
    assert message.startswith(f"{data_file}: tensor 'vector_rnn/") and "CRC" in message

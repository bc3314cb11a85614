"""Hostile and unusual ``.npz`` files: every one is refused with a clear DatasetError, none can
run code or crash the interpreter, and real files still load value for value."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sketch_rnn import data as data_mod
from sketch_rnn.data import (
    MAX_NPZ_BYTES,
    DataLoader,
    DatasetError,
    load_dataset,
    load_npz,
    read_npz,
)

SPLITS = ("train", "valid", "test")
SKETCH = np.array([[1, 2, 0], [3, -4, 0], [5, 6, 1]], dtype=np.int16)


# ---------------------------------------------------------------------------------------------
# building files and pickles by hand


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def npy_header(descr, shape, fortran: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()


def obj_array(items) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for i, s in enumerate(items):
        arr[i] = s
    return arr


GOOD = npy_bytes(obj_array([SKETCH] * 4))


def write_npz(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def hostile(tmp_path: Path, name: str, train: bytes, shape=None) -> Path:
    """A file whose train member is ``train`` (a pickle after an object-array header when
    ``shape`` is given) and whose other splits are fine."""
    member = train if shape is None else npy_header("|O", shape) + train
    return write_npz(tmp_path / name, {"train.npy": member, "valid.npy": GOOD, "test.npy": GOOD})


def refused(path: Path, match: str = "", **kw) -> str:
    with pytest.raises(DatasetError, match=match) as err:
        read_npz(path, **kw)
    assert str(path) in str(err.value)
    return str(err.value)


# pickle opcodes, so hostile pickles never need a hostile object in this process


def uni(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def stack_glob(module: str, name: str) -> bytes:
    return uni(module) + uni(name) + b"\x93"


def binbytes(b: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(b)) + b


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + b"R"


INT1 = b"K\x01"
FALSE, TRUE, NONE = b"\x89", b"\x88", b"N"
P2, P3, P4 = b"\x80\x02", b"\x80\x03", b"\x80\x04"


def dtype_op(spec: str, state: bytes | None = None) -> bytes:
    if state is None:
        order = "|" if spec[0] in "O|bV" or spec.endswith("1") else "<"
        state = tup(b"K\x03", uni(order), NONE, NONE, NONE, b"J\xff\xff\xff\xff",
                    b"J\xff\xff\xff\xff", b"K\x00")
    return call(glob("numpy", "dtype"), uni(spec), FALSE, TRUE) + state + b"b"


def reconstruct(shape: bytes, dtype: bytes, data: bytes) -> bytes:
    """``_reconstruct(ndarray, (0,), b'b')`` followed by BUILD with the given state parts."""
    head = call(glob("numpy.core.multiarray", "_reconstruct"), glob("numpy", "ndarray"),
                tup(b"K\x00"), binbytes(b"b"))
    return head + tup(INT1, shape, dtype, FALSE, data) + b"b"


def list_of(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"l"


def object_array_pickle(*elements: bytes) -> bytes:
    shape = tup(b"K" + bytes([len(elements)]))
    return P3 + reconstruct(shape, dtype_op("O8"), list_of(*elements)) + b"."


def int16_element(arr: np.ndarray, nbytes: int | None = None) -> bytes:
    raw = arr.astype("<i2").tobytes()
    raw = raw if nbytes is None else (raw * 10)[:nbytes]
    shape = tup(*(b"J" + struct.pack("<i", n) for n in arr.shape))
    return reconstruct(shape, dtype_op("i2"), binbytes(raw))


def test_handmade_pickles_match_numpy():
    # The crafted opcodes describe what numpy writes, so the hostile variants below differ from
    # a real file only in the part under test.
    good = object_array_pickle(int16_element(SKETCH), int16_element(SKETCH[:1]))
    arr = data_mod._read_npy(npy_header("|O", (2,)) + good)
    np.testing.assert_array_equal(arr[0], SKETCH)
    np.testing.assert_array_equal(arr[1], SKETCH[:1])


# ---------------------------------------------------------------------------------------------
# pickles that try to run code


CODE_PAYLOADS = {  # opcode used: pickle that would touch the marker file
    "REDUCE": lambda m: P2 + call(glob("os", "system"), uni(f"touch {m}")) + b".",
    "STACK_GLOBAL": lambda m: P4 + stack_glob("builtins", "eval")
    + tup(uni(f"open('{m}', 'w')")) + b"R.",
    "INST": lambda m: P2 + b"(" + uni(f"touch {m}") + b"isubprocess\ngetoutput\n.",
    "OBJ": lambda m: P2 + b"(" + glob("builtins", "exec") + uni(f"open('{m}', 'w')") + b"o.",
    "NEWOBJ": lambda m: P4 + stack_glob("posix", "system") + tup(uni(f"touch {m}")) + b"\x81.",
    "numpy.load": lambda m: P2 + call(glob("numpy", "load"), uni(str(m))) + b".",
    "_reconstruct": lambda m: P2 + call(glob("numpy.core.multiarray", "_reconstruct"),
                                        glob("os", "system"), tup(b"K\x00"), binbytes(b"b"))
    + b".",
}


@pytest.mark.parametrize("how", CODE_PAYLOADS)
def test_code_running_globals_are_refused(tmp_path, how):
    marker = tmp_path / "pwned"
    path = hostile(tmp_path, "evil.npz", CODE_PAYLOADS[how](marker), shape=(1,))
    refused(path, r"unsafe pickle in train\.npy: forbidden global "
                  r"(os\.system|builtins\.eval|subprocess\.getoutput|builtins\.exec|"
                  r"posix\.system|numpy\.load) \(.*nothing was executed\)")
    assert not marker.exists()


def test_a_hostile_file_cannot_alter_later_loads(tmp_path):
    # BUILD on a named global: rebinding the _reconstruct stand-in (a partial's __setstate__) or
    # setting _codecs.encode's defaults must only touch that one pickle's own objects.
    rebind = P2 + glob("numpy.core.multiarray", "_reconstruct") + tup(
        glob("_codecs", "encode"), b")", b"}", NONE) + b"b."
    defaults = P2 + glob("_codecs", "encode") + tup(NONE, b"}" + uni("__defaults__") + tup(
        uni("rot13")) + b"s") + b"b."
    for i, payload in enumerate((rebind, defaults)):
        refused(hostile(tmp_path, f"alter{i}.npz", payload, shape=(1,)), "train.npy")
    good = write_npz(tmp_path / "good.npz", {f"{k}.npy": GOOD for k in SPLITS})
    np.testing.assert_array_equal(read_npz(good).splits["train"][0], SKETCH)
    path = tmp_path / "kanji_like.npz"
    member = npy_header("|O", (1,)) + pickle.dumps(obj_array([SKETCH]), protocol=2)
    write_npz(path, {f"{k}.npy": member for k in SPLITS})  # goes through _codecs.encode
    np.testing.assert_array_equal(read_npz(path).splits["test"][0], SKETCH)


def test_persistent_ids_are_refused(tmp_path):
    for i, payload in enumerate((b"P7\n.", P2 + b"K\x07Q.")):
        path = hostile(tmp_path, f"pid{i}.npz", payload, shape=(1,))
        refused(path, "persistent ids are not allowed")


def test_evil_element_inside_a_genuine_object_array(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = hostile(tmp_path, "nested_evil.npz", npy_bytes(obj_array([SKETCH, Evil()])))
    refused(path, r"forbidden global (posix|os|nt)\.system")
    assert not marker.exists()


def test_ndarray_may_not_be_called_or_instantiated(tmp_path):
    called = P2 + call(glob("numpy", "ndarray"), tup(INT1)) + b"."
    refused(hostile(tmp_path, "call.npz", called, shape=(1,)), "calls numpy.ndarray directly")
    newobj = P2 + glob("numpy", "ndarray") + tup(tup(INT1)) + b"\x81."
    refused(hostile(tmp_path, "newobj.npz", newobj, shape=(1,)), "train.npy")


# ---------------------------------------------------------------------------------------------
# arrays that would forge object pointers with numpy's own reconstruction

POINTER_CASES = {
    # numpy.ndarray((1,), dtype('O8'), buffer=b'AAAAAAAA'): eight file bytes as a PyObject*
    "ndarray_buffer.npz": P3 + call(glob("numpy", "ndarray"), tup(INT1), dtype_op("O8"),
                                    binbytes(b"A" * 8)) + b".",
    # an object array whose _reconstruct state carries raw bytes instead of a list
    "object_bytes.npz": P3 + reconstruct(tup(INT1), dtype_op("O8"), binbytes(b"A" * 8)) + b".",
    # protocol-5 style _frombuffer of raw bytes as objects
    "frombuffer.npz": P3 + call(glob("numpy._core.numeric", "_frombuffer"), binbytes(b"A" * 8),
                                dtype_op("O8"), tup(INT1), uni("C")) + b".",
    # a scalar of object dtype built from bytes
    "scalar.npz": P3 + call(glob("numpy.core.multiarray", "scalar"), dtype_op("O8"),
                            binbytes(b"A" * 8)) + b".",
    # a structured dtype whose field is an object, over raw bytes
    "fields.npz": P3 + reconstruct(
        tup(INT1),
        dtype_op("V8", tup(b"K\x03", uni("|"), NONE, tup(uni("a")),
                           b"}" + uni("a") + tup(dtype_op("O8"), b"K\x00") + b"s",
                           b"K\x08", INT1, b"K\x1b")),
        binbytes(b"A" * 8)) + b".",
    # the same as the element of an otherwise genuine object array
    "fields_element.npz": object_array_pickle(reconstruct(
        tup(INT1, b"K\x03"),
        dtype_op("V8", tup(b"K\x03", uni("|"), NONE, tup(uni("a")),
                           b"}" + uni("a") + tup(dtype_op("O8"), b"K\x00") + b"s",
                           b"K\x08", INT1, b"K\x1b")),
        binbytes(b"A" * 24))),
}


def test_raw_pointer_arrays_never_crash(tmp_path):
    # In a child process: a regression to numpy's reconstruction would segfault, not fail.
    paths = [str(hostile(tmp_path, name, payload, shape=(1,)))
             for name, payload in POINTER_CASES.items()]
    script = textwrap.dedent("""
        import sys
        from sketch_rnn.data import DatasetError, read_npz
        for path in sys.argv[1:]:
            try:
                read_npz(path)
            except DatasetError as e:
                print("REFUSED", e)
            else:
                print("LOADED", path)
    """)
    out = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(paths), out.stdout + out.stderr
    for path, line in zip(paths, lines, strict=True):
        assert line.startswith("REFUSED " + path), line
    assert "calls numpy.ndarray directly" in lines[0]
    assert "object array of shape (1,) must be 1-D with one pickled element" in lines[1]
    assert "unsupported array type" in lines[2] and "unsupported array type" in lines[3]
    assert "structured dtype 'V8'" in lines[4]
    assert "no usable sketch in split 'train'" in lines[5] and "structured" in lines[5]


def test_scalars_are_not_arrays(tmp_path):
    scalar = call(glob("numpy.core.multiarray", "scalar"), dtype_op("i2"), binbytes(b"\x01\x00"))
    refused(hostile(tmp_path, "scalar_top.npz", P3 + scalar + b".", shape=()),
            "holds a numpy scalar")
    refused(hostile(tmp_path, "scalar_elem.npz", object_array_pickle(scalar), shape=(1,)),
            r"no usable sketch in split 'train' \(e\.g\. train\[0\] is a int16")


def test_structured_header_with_objects(tmp_path):
    member = npy_header([("a", "|O")], (1,)) + P3 + b"N."
    refused(hostile(tmp_path, "structured.npz", member), "objects inside a structured dtype")
    member = npy_header([("a", "<i4")], (1,)) + b"\x00" * 4
    refused(hostile(tmp_path, "record.npz", member), "unsupported dtype")


# ---------------------------------------------------------------------------------------------
# lying headers and sizes


def test_pickled_element_with_wrong_byte_count(tmp_path):
    for n in (4, 100):
        payload = object_array_pickle(int16_element(SKETCH, nbytes=n))
        msg = refused(hostile(tmp_path, f"short{n}.npz", payload, shape=(1,)),
                      rf"array data holds {n} bytes but shape \(3, 3\)")
        assert "needs 18" in msg


def test_pickle_shape_disagrees_with_header(tmp_path):
    payload = object_array_pickle(int16_element(SKETCH))
    refused(hostile(tmp_path, "disagree.npz", payload, shape=(5,)), "header says")
    bad_len = P3 + reconstruct(tup(b"K\x05"), dtype_op("O8"),
                               list_of(int16_element(SKETCH))) + b"."
    refused(hostile(tmp_path, "list_len.npz", bad_len, shape=(5,)), "one pickled element")


def test_numeric_header_promising_more_bytes(tmp_path):
    member = npy_header("<f8", (100, 3)) + b"\x00" * 16
    refused(hostile(tmp_path, "lying.npz", member),
            r"header promises shape \(100, 3\) of float64 \(2400 bytes\) but 16 bytes follow")


def test_huge_and_negative_shapes(tmp_path):
    member = npy_header("<i2", (10**12, 10**12, 3)) + b"\x00" * 12
    refused(hostile(tmp_path, "huge.npz", member), "6000000000000000000000000 bytes")
    payload = object_array_pickle(reconstruct(tup(b"J" + struct.pack("<i", -3), b"K\x03"),
                                              dtype_op("i2"), binbytes(b"")))
    refused(hostile(tmp_path, "negative.npz", payload, shape=(1,)), "non-negative ints")


def test_unsupported_numeric_kinds(tmp_path):
    for descr in ("<c16", "<U3", "<M8[s]", "|V12"):
        member = npy_header(descr, (1,)) + b"\x00" * np.dtype(descr).itemsize
        refused(hostile(tmp_path, "kind.npz", member), "unsupported dtype")


def test_nested_and_self_containing_object_arrays(tmp_path):
    nested = obj_array([obj_array([SKETCH]), SKETCH])
    refused(hostile(tmp_path, "nested.npz", npy_bytes(nested)), "nested object arrays")
    loop = np.empty(1, dtype=object)
    loop[0] = loop
    member = npy_header("|O", (1,)) + pickle.dumps(loop, protocol=3)
    refused(hostile(tmp_path, "loop.npz", member), "nested object arrays")


def test_deeply_nested_pickles(tmp_path):
    depth = 200_000
    deep = b"(" * depth + b"l" * depth
    refused(hostile(tmp_path, "deep_top.npz", P2 + deep + b".", shape=(1,)),
            "the pickle holds a list, not a numpy array")
    refused(hostile(tmp_path, "deep_elem.npz", object_array_pickle(deep), shape=(1,)),
            "no usable sketch in split 'train'.*is a list")
    as_dtype = P3 + reconstruct(tup(INT1), call(glob("numpy", "dtype"), deep),
                                binbytes(b"A" * 8)) + b"."
    refused(hostile(tmp_path, "deep_dtype.npz", as_dtype, shape=(1,)), "unsupported array type")
    as_shape = object_array_pickle(reconstruct(deep, dtype_op("i2"), binbytes(b"")))
    refused(hostile(tmp_path, "deep_shape.npz", as_shape, shape=(1,)), "array shape is a list")


def test_garbage_after_header_and_truncated_pickle(tmp_path):
    refused(hostile(tmp_path, "garbage.npz", b"\xff\x00garbage", shape=(1,)),
            r"train\.npy is truncated or corrupt")
    good = object_array_pickle(int16_element(SKETCH))
    refused(hostile(tmp_path, "cut.npz", good[:-9], shape=(1,)), "truncated or corrupt")
    refused(hostile(tmp_path, "magic.npz", b"\x93NUMPY\x09\x00" + b"\x00" * 20),
            "truncated or corrupt|unknown .npy format")


# ---------------------------------------------------------------------------------------------
# zip bombs and broken zips


def zeros_member(path: Path, nbytes: int, level: int = 1) -> Path:
    """A DEFLATE member of ``nbytes`` zeros (a valid float64 array), written in chunks."""
    header = npy_header("<f8", (nbytes // 8,))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        with zf.open("train.npy", "w", force_zip64=True) as f:
            f.write(header)
            chunk = bytes(1 << 20)
            left = nbytes
            while left:
                f.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
        zf.writestr("valid.npy", GOOD)
        zf.writestr("test.npy", GOOD)
    return path


def test_member_over_the_byte_cap_is_refused(tmp_path):
    path = zeros_member(tmp_path / "big.npz", 3 << 20)
    msg = refused(path, r"train\.npy declares \d+ bytes uncompressed, over the 1048576-byte "
                        r"limit", max_bytes=1 << 20)
    assert "max_bytes" in msg
    with pytest.raises(DatasetError, match="max_bytes"):
        load_npz(path, max_bytes=1 << 20)


def test_total_cap_counts_all_members(tmp_path):
    split = npy_bytes(obj_array([np.zeros((1000, 3), np.int16)] * 10))  # ~60 kB each
    path = write_npz(tmp_path / "three.npz", {f"{k}.npy": split for k in SPLITS})
    assert len(read_npz(path, max_bytes=3 * len(split)).splits["test"]) == 10
    refused(path, r"test\.npy declares \d+ bytes .* limit left", max_bytes=3 * len(split) - 1)


def test_zip_bomb_ratio(tmp_path):
    # ~70 MiB of zeros in ~70 kB: over 200:1 and over 64 MiB, refused before inflating it.
    path = zeros_member(tmp_path / "bomb.npz", 70 << 20, level=9)
    assert path.stat().st_size < 1 << 20
    refused(path, r"train\.npy declares \d+ bytes uncompressed from \d+ compressed .*zip bomb")


def patch_central_size(path: Path, member: str, size: int) -> None:
    raw = bytearray(path.read_bytes())
    pos = raw.index(b"PK\x01\x02")  # the first central directory entry
    while True:
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46:pos + 46 + name_len] == member.encode():
            break
        extra, comment = struct.unpack_from("<HH", raw, pos + 30)
        pos += 46 + name_len + extra + comment
    struct.pack_into("<I", raw, pos + 24, size)
    path.write_bytes(bytes(raw))


def test_lying_zip_sizes_with_the_default_cap(tmp_path):
    path = write_npz(tmp_path / "liar.npz", {f"{k}.npy": GOOD for k in SPLITS},
                     zipfile.ZIP_DEFLATED)
    patch_central_size(path, "valid.npy", 3 << 30)  # "3 GiB": over the default cap
    msg = refused(path, rf"valid\.npy declares {3 << 30} bytes uncompressed, over the "
                        rf"{MAX_NPZ_BYTES - len(GOOD)}-byte limit")
    assert "MAX_NPZ_BYTES" in msg
    path = write_npz(tmp_path / "small_liar.npz", {f"{k}.npy": GOOD for k in SPLITS},
                     zipfile.ZIP_DEFLATED)
    patch_central_size(path, "test.npy", 50)  # fewer bytes than it really inflates to
    refused(path, r"test\.npy is truncated or corrupt")


def test_broken_zips(tmp_path):
    good = write_npz(tmp_path / "good.npz", {f"{k}.npy": GOOD for k in SPLITS},
                     zipfile.ZIP_DEFLATED)
    raw = good.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 10):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(raw[:cut])
        refused(path, "truncated|not a valid")
    flipped = bytearray(raw)
    flipped[60:70] = b"\xff" * 10  # inside the first member's compressed data
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(flipped))
    refused(path, "truncated or corrupt")
    path = tmp_path / "text.npz"
    path.write_bytes(b"not a zip at all\n" * 10)
    refused(path, "not a valid .npz")
    path = write_npz(tmp_path / "two.npz", {"train.npy": GOOD, "labels.npy": GOOD})
    refused(path, r"missing split\(s\) \['valid', 'test'\]")
    path = write_npz(tmp_path / "empty.npz", {})
    refused(path, "missing split")


# ---------------------------------------------------------------------------------------------
# good files still load, value for value


def shared_npz(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "datasets").glob("*/*.npz"))


@pytest.mark.parametrize("name", ["aaron_sheep/aaron_sheep.npz", "kanji/kanji.rdp100.npz",
                                  "kanji/kanji.rdp200.npz", "kanji/short_kanji.npz",
                                  "omniglot/omniglot.npz", "teacher6/bird.npz",
                                  "teacher6/cat.npz", "teacher6/face.npz", "teacher6/pig.npz",
                                  "teacher6/rabbit.npz", "teacher6/sheep.npz"])
def test_real_files_match_trusted_numpy(shared_dir, name):
    path = shared_dir / "datasets" / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    check_against_numpy(path)


def test_bundled_file_matches_trusted_numpy(aaron_sheep_path):
    check_against_numpy(aaron_sheep_path)


def check_against_numpy(path: Path) -> None:
    contents = read_npz(path)
    assert contents.skipped == {"train": 0, "valid": 0, "test": 0}
    with np.load(path, allow_pickle=True, encoding="latin1") as ref:  # trusted fixture only
        for k in SPLITS:
            ours, theirs = contents.splits[k], list(ref[k])
            assert [(a.dtype, a.shape) for a in ours] == [(b.dtype, b.shape) for b in theirs]
            np.testing.assert_array_equal(np.concatenate(ours), np.concatenate(theirs))
    assert ours[0].flags.writeable


def sketches(rng, n, dtype) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        s = rng.integers(-50, 50, (int(rng.integers(1, 30)), 3)).astype(dtype)
        s[:, 2] = rng.integers(0, 2, len(s))
        out.append(s)
    return out


def pens(a: np.ndarray) -> np.ndarray:
    """``a`` with a valid pen-lift column (0 or 1), in place: order and dtype kept."""
    a[..., 2] = np.arange(a.shape[-2]) % 2
    return a


@pytest.mark.parametrize("saver", [np.savez, np.savez_compressed])
def test_savez_round_trips(tmp_path, saver):
    rng = np.random.default_rng(0)
    mixed = sketches(rng, 5, np.int16) + sketches(rng, 3, np.float64) + \
        sketches(rng, 2, np.int64) + [pens(np.asfortranarray(rng.normal(size=(6, 3)), np.float32)),
                                      sketches(rng, 1, ">i2")[0], sketches(rng, 1, np.uint8)[0]]
    splits = {"train": obj_array(mixed), "valid": obj_array(sketches(rng, 4, np.int16)),
              "test": pens(np.asfortranarray(rng.normal(size=(4, 7, 3))))}
    saver(tmp_path / "rt.npz", **splits)
    got = read_npz(tmp_path / "rt.npz")
    assert got.skipped == {"train": 0, "valid": 0, "test": 0}
    for k in SPLITS:
        assert len(got.splits[k]) == len(splits[k])
        for a, b in zip(got.splits[k], splits[k], strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    assert got.splits["train"][10].flags.f_contiguous  # Fortran order honoured


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_protocols(tmp_path, protocol):
    # Protocol 2 goes through _codecs.encode for bytes, 5 through numeric._frombuffer.
    rng = np.random.default_rng(protocol)
    items = sketches(rng, 6, np.int16) + sketches(rng, 2, np.float32) + \
        [np.asfortranarray(sketches(rng, 1, np.float64)[0])]
    member = npy_header("|O", (len(items),)) + pickle.dumps(obj_array(items), protocol=protocol)
    path = write_npz(tmp_path / f"p{protocol}.npz",
                     {"train.npy": member, "valid.npy": GOOD, "test.npy": GOOD})
    got = load_npz(path)["train"]
    for a, b in zip(got, items, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_equal_length_sketches_as_one_numeric_array(tmp_path):
    dense = pens(np.arange(5 * 4 * 3, dtype=np.int16).reshape(5, 4, 3) % 7)
    np.savez(tmp_path / "dense.npz", train=dense, valid=dense.astype(">f4"), test=dense[:2])
    got = load_npz(tmp_path / "dense.npz")
    np.testing.assert_array_equal(np.stack(got["train"]), dense)
    assert got["valid"][0].dtype == np.dtype(">f4")
    assert len(got["test"]) == 2


# ---------------------------------------------------------------------------------------------
# huge integers and small splits


def test_wide_integers_are_skipped_not_overflowing(tmp_path):
    ok = np.array([[3, 4, 0], [5, 6, 1]], dtype=np.uint64)
    huge = np.array([[2**63, 1, 1]], dtype=np.uint64)
    big = np.array([[2**40, 1, 1]], dtype=np.int64)
    np.savez(tmp_path / "wide.npz", train=obj_array([ok, huge, big, ok]),
             valid=obj_array([ok]), test=obj_array([np.array([[1, 2, 1]], np.int8)]))
    got = read_npz(tmp_path / "wide.npz")
    assert got.skipped == {"train": 2, "valid": 0, "test": 0}
    assert any("beyond the int32 range" in p for p in got.problems)
    # Clamping to +-limit must work for every integer kind (numpy 2 raised OverflowError).
    loader = DataLoader(got.splits["train"], batch_size=1, max_seq_len=5)
    assert loader.strokes[0].tolist() == [[3, 4, 0], [5, 6, 1]]
    for dtype, value, want in ((np.uint8, 200, 100), (np.int8, -128, -100),
                               (np.uint64, 2**63, 100)):
        clamped = DataLoader([np.array([[value, 0, 1]], dtype)], 1, 5, limit=100)
        assert clamped.strokes[0].tolist() == [[want, 0, 1]]


def small_dataset(tmp_path: Path, sizes: tuple[int, int, int], name: str = "toy.npz") -> Path:
    rng = np.random.default_rng(1)
    np.savez(tmp_path / name, **{k: obj_array(sketches(rng, n, np.int16))
                                 for k, n in zip(SPLITS, sizes, strict=True)})
    return tmp_path / name


def test_splits_smaller_than_a_batch(tmp_path):
    small_dataset(tmp_path, (8, 3, 4))
    hps = SimpleNamespace(data_set="toy.npz", batch_size=4, max_seq_len=0)
    with pytest.raises(DatasetError, match=r"split 'valid' has 3 usable sketch\(es\) in .* "
                                           r"\(toy\.npz: 3\), fewer than one batch of 4"):
        load_dataset(tmp_path, hps)
    ds = load_dataset(tmp_path, hps, inference_mode=True)  # eval batches of 1
    assert ds.valid.num_batches == 3
    with pytest.raises(DatasetError, match=r"split 'train' has 8 .*fewer than one batch of 9"):
        load_dataset(tmp_path, SimpleNamespace(data_set="toy.npz", batch_size=9, max_seq_len=0))


def test_splits_exactly_one_batch(tmp_path):
    # The Trainer docstring's toy data: train 8, valid 4, test 4 with batch_size 4.
    small_dataset(tmp_path, (8, 4, 4), "a.npz")
    small_dataset(tmp_path, (2, 0, 1), "b.npz")
    ds = load_dataset(tmp_path, SimpleNamespace(data_set="a.npz", batch_size=4, max_seq_len=0))
    assert (ds.train.num_batches, ds.valid.num_batches, ds.test.num_batches) == (2, 1, 1)
    both = SimpleNamespace(data_set=["a.npz", "b.npz"], batch_size=5, max_seq_len=0)
    with pytest.raises(DatasetError, match=r"'valid' has 4 .*\(a\.npz: 4, b\.npz: 0\)"):
        load_dataset(tmp_path, both)


def test_sketches_with_other_pen_values_are_skipped_and_named(tmp_path, caplog):
    good = np.array([[3, 4, 0], [5, 6, 1]], dtype=np.int16)
    two = np.array([[3, 4, 0], [5, 6, 2]], dtype=np.int16)
    np.savez(tmp_path / "pens.npz", train=obj_array([good, two, good]), valid=obj_array([good]),
             test=obj_array([good]))
    got = read_npz(tmp_path / "pens.npz")
    assert got.skipped == {"train": 1, "valid": 0, "test": 0}
    assert got.problems == ["train[1]: the pen-lift column must hold 0 or 1 (row 1 holds 2)"]
    assert len(got.splits["train"]) == 2 and "skipped 1 bad sketch" in caplog.text
    np.savez(tmp_path / "all_bad.npz", train=obj_array([two]), valid=obj_array([good]),
             test=obj_array([good]))
    with pytest.raises(DatasetError, match=r"all_bad.npz: no usable sketch in split 'train' "
                                           r"\(e.g. train\[0\]: the pen-lift column"):
        read_npz(tmp_path / "all_bad.npz")

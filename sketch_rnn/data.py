"""Sketch-RNN datasets: safe ``.npz`` loading, normalisation and batching (pure numpy).

Reproduces magenta's ``sketch_rnn_train.load_dataset`` and ``utils.DataLoader`` value for value:
clamp to +-1000, float32, sort by length, divide offsets by the training split's pooled
standard deviation of dx and dy (aaron_sheep: 18.5198), pad to stroke-5 with the start token.

The standard ``.npz`` files hold Python-2 pickles of object arrays. They are read here without
trusting the file: no pickled code runs, no array is built from a pointer or buffer the file
chooses (so a crafted file cannot crash the interpreter), headers are checked against the data,
and decompression stops at :data:`MAX_NPZ_BYTES` (zip bombs are refused); see :func:`read_npz`.
Every problem with a file is a :class:`DatasetError` naming the file and member.

Example:
    >>> from types import SimpleNamespace
    >>> hps = SimpleNamespace(data_set=["aaron_sheep.npz"], batch_size=100, max_seq_len=250,
    ...                       random_scale_factor=0.15, augment_stroke_prob=0.10)
    >>> train, valid, test, hps = load_dataset("datasets/aaron_sheep", hps)  # doctest: +SKIP
    >>> x, seq_len = train.random_batch()  # doctest: +SKIP
    >>> x.shape, round(float(train.scale_factor), 4)  # doctest: +SKIP
    ((100, 251, 5), 18.5198)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import gc
import io
import logging
import math
import operator
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike

from sketch_rnn.strokes import (
    Rng,
    _augment_flat,
    _pad_flat,
    clamp,
    normalizing_scale_factor,
    pen_problem,
)

__all__ = [
    "SPLITS",
    "MAX_NPZ_BYTES",
    "MAX_COMPRESSION_RATIO",
    "COMPRESSION_RATIO_FLOOR",
    "DatasetError",
    "NpzContents",
    "read_npz",
    "load_npz",
    "DataLoader",
    "Datasets",
    "load_dataset",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


class DatasetError(ValueError):
    """A dataset file is missing pieces, malformed or unsafe; the message names file and problem."""


# ---------------------------------------------------------------------------------------------
# limits on what one .npz may cost

#: Most uncompressed bytes :func:`read_npz` reads from one ``.npz`` (all members together).
#: A whole QuickDraw class file is tens of MB, so only a broken or hostile file comes near it.
MAX_NPZ_BYTES = 2 * 1024**3
#: A member inflating to more than this many times its compressed size ...
MAX_COMPRESSION_RATIO = 200
#: ... and to more than this many bytes is refused as a likely zip bomb (stroke data: ~3:1).
COMPRESSION_RATIO_FLOOR = 64 * 1024**2

_MAX_NDIM = 32  # numpy's own limit; a deeper "shape" is garbage
_INT32 = np.iinfo(np.int32)


# ---------------------------------------------------------------------------------------------
# restricted unpickling
#
# numpy's real _reconstruct / ndarray / dtype would build whatever a pickle describes, including
# an object array over raw attacker bytes, i.e. forged object pointers (a segfault, or worse).
# So the unpickler below never hands a pickle any numpy callable: each allowed global is a
# harmless stand-in that only records its arguments, and arrays are built afterwards, by this
# module, from validated shapes, plain numeric dtypes and byte strings of exactly the right size.


class _UnsafePickleError(pickle.UnpicklingError):
    pass


class _BadArrayError(ValueError):
    """A pickled or stored array that is malformed or of a kind this reader does not build."""


def _describe(obj: Any) -> str:
    # Never repr() arbitrary pickled data in a message: it can be huge or nested deep enough
    # to raise RecursionError while reporting the real problem.
    if isinstance(obj, str | bytes):
        return repr(obj[:40])
    return f"a {type(obj).__name__}"


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 pickles of bytes (e.g. kanji.rdp100.npz) call _codecs.encode(text, 'latin1').
    # Only that exact use is honoured, so no codec machinery can be reached.
    norm = str(encoding).lower().replace("-", "").replace("_", "") if isinstance(
        encoding, str) else ""
    if not isinstance(obj, str) or norm not in ("latin1", "iso88591") or errors != "strict":
        raise _UnsafePickleError(
            f"_codecs.encode is only allowed on text with the latin1 codec, got {_describe(encoding)}")
    return obj.encode("latin1")


class _NdarrayMarker:
    """Stands in for ``numpy.ndarray``: accepted as ``_reconstruct``'s class argument only."""

    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        raise _UnsafePickleError("the pickle calls numpy.ndarray directly (it may only name it as "
                                 "the class rebuilt by _reconstruct); nothing was built")


_NDARRAY = _NdarrayMarker()
_UNSET = object()


class _DtypeStub:
    """What a pickled ``numpy.dtype(...)`` said; the real dtype is derived later from it."""

    __slots__ = ("args", "state", "resolved")

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None
        self.resolved: Any = _UNSET  # cache: pickles share one dtype among all elements

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ArrayStub:
    """What a pickled array said (``_reconstruct`` + its state, ``_frombuffer`` or ``scalar``)."""

    __slots__ = ("how", "args", "state", "value")

    def __init__(self, how: str, *args: Any) -> None:
        self.how = how
        self.args = args
        self.state: Any = _UNSET
        self.value: Any = _UNSET

    def __setstate__(self, state: Any) -> None:
        if self.how != "reconstruct":
            raise _UnsafePickleError(f"the pickle sets a state on numpy {self.how}(...)")
        self.state = state


class _Unusable:
    """An object-array element of an array kind that is not built (skipped as a bad sketch)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _stand_ins() -> dict[tuple[str, str], Callable[[], Any]]:
    # Factories, not shared objects: a pickle can BUILD state onto any global it names (a
    # partial's __setstate__ rebinds it, a function's __defaults__ can be set), so each
    # unpickler gets fresh callables and a hostile file cannot alter how later files load.
    # partial: one Python frame per pickled array instead of two (loading speed).
    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: _NDARRAY,  # no __dict__ or slots: nothing to alter
        ("numpy", "dtype"): lambda: functools.partial(_DtypeStub),
        ("_codecs", "encode"): lambda: functools.partial(_latin1_encode),
    }
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 pickles
        allowed[(f"{core}.multiarray", "_reconstruct")] = lambda: functools.partial(
            _ArrayStub, "reconstruct")
        allowed[(f"{core}.multiarray", "scalar")] = lambda: functools.partial(
            _ArrayStub, "scalar")
        allowed[(f"{core}.numeric", "_frombuffer")] = lambda: functools.partial(
            _ArrayStub, "_frombuffer")
    return allowed


_ALLOWED_GLOBALS = _stand_ins()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose only globals are inert stand-ins for numpy's array reconstruction."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]()
        except (KeyError, TypeError):
            raise _UnsafePickleError(
                f"forbidden global {module}.{name} (only numpy array reconstruction is allowed; "
                "nothing was executed)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _UnsafePickleError("persistent ids are not allowed in a dataset pickle")


_SIMPLE_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8)}
_DTYPE_SPEC = re.compile(r"([biufO])([0-9]{1,2})\Z")


def _simple_dtype(kind: str, itemsize: int, byteorder: str) -> np.dtype | None:
    """A bool/int/uint/float dtype built from scratch, or None for anything else."""
    if itemsize not in _SIMPLE_SIZES.get(kind, ()) or byteorder not in ("<", ">", "=", "|"):
        return None
    if byteorder == "|" and itemsize > 1:
        return None
    return np.dtype(f"{'=' if byteorder == '|' else byteorder}{kind}{itemsize}")


def _resolve_dtype(stub: Any) -> np.dtype | str:
    """The numeric dtype a pickled dtype names, ``"object"``, or why it is not built."""
    if not isinstance(stub, _DtypeStub):
        raise _BadArrayError(f"array dtype is {_describe(stub)}, not a numpy dtype")
    if stub.resolved is _UNSET:
        stub.resolved = _resolve_dtype_uncached(stub)
    return stub.resolved


def _resolve_dtype_uncached(stub: _DtypeStub) -> np.dtype | str:
    spec = stub.args[0] if stub.args else None
    state = stub.state
    if state is None:
        byteorder = "="
    elif (isinstance(state, tuple) and len(state) >= 5 and isinstance(state[1], str)
          and state[2] is None and state[3] is None and state[4] is None):
        byteorder = state[1]  # (version, byteorder, subarray, names, fields, ...)
    else:  # subarrays or fields (structured, perhaps hiding objects): never built
        return f"structured dtype {_describe(spec)}"
    match = _DTYPE_SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        return f"dtype {_describe(spec)}"
    kind, size = match.group(1), int(match.group(2))
    if kind == "O":
        return "object"
    return _simple_dtype(kind, size, byteorder) or f"dtype {spec!r} (byte order {byteorder!r})"


def _check_shape(shape: Any) -> tuple[int, ...]:
    if (not isinstance(shape, tuple) or len(shape) > _MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise _BadArrayError(f"array shape is {_describe(shape)}, not a tuple of up to "
                             f"{_MAX_NDIM} non-negative ints")
    return shape


def _numeric_array(raw: Any, dtype: np.dtype, shape: tuple[int, ...], fortran: bool
                   ) -> np.ndarray:
    """A copy of exactly ``prod(shape)`` items of ``dtype`` read from ``raw``'s own bytes."""
    if isinstance(raw, str):
        raw = raw.encode("latin1")  # a Python 2 str, decoded with encoding='latin1'
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise _BadArrayError(f"array data is {_describe(raw)}, not bytes")
    count = math.prod(shape)
    need = count * dtype.itemsize
    if len(raw) != need:
        raise _BadArrayError(f"array data holds {len(raw)} bytes but shape {shape} of {dtype} "
                             f"needs {need}")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


def _object_array(items: list[Any]) -> np.ndarray:
    # fromiter stores each item as it is (a list element stays a list, not a sub-array).
    return np.fromiter(items, dtype=object, count=len(items))


def _materialise(obj: Any, top: bool) -> Any:
    """Build what a loaded pickle describes: a numeric array, or a 1-D object array of them.

    ``top`` is the member's own array; below it only elements of an object array exist, and an
    element that is not an array of a buildable kind becomes an :class:`_Unusable` (skipped
    later as a bad sketch). Nesting is at most two levels, so this never recurses deeply.
    """
    if not isinstance(obj, _ArrayStub):
        if top:
            raise _BadArrayError(f"the pickle holds {_describe(obj)}, not a numpy array")
        return obj  # plain pickled data (list, int, ...) is inert; it is skipped later
    if obj.value is _UNSET:  # a pickle may share one array among several elements
        obj.value = _materialise_stub(obj, top)
    return obj.value


def _materialise_stub(stub: _ArrayStub, top: bool) -> Any:
    args = stub.args
    if stub.how == "reconstruct":
        if len(args) != 3 or args[0] is not _NDARRAY:
            raise _UnsafePickleError("_reconstruct may only rebuild a plain numpy.ndarray")
        state = stub.state
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]  # (version, shape, dtype, fortran, data)
        if not isinstance(state, tuple) or len(state) != 4:
            raise _BadArrayError("pickled array has no valid state")
        shape, dtype_stub, fortran, raw = state
    elif stub.how == "_frombuffer":
        if len(args) != 4 or args[3] not in ("C", "F"):
            raise _BadArrayError("malformed _frombuffer call")
        raw, dtype_stub, shape, order = args
        fortran = order == "F"
    else:  # scalar(dtype, data)
        if len(args) != 2:
            raise _BadArrayError("malformed numpy scalar")
        dtype_stub, raw = args
        shape, fortran = (), False
    shape = _check_shape(shape)
    if fortran not in (True, False):  # bool, or 0/1 from old pickles
        raise _BadArrayError(f"array order flag is {_describe(fortran)}")
    dtype = _resolve_dtype(dtype_stub)
    if isinstance(dtype, np.dtype):
        if top and stub.how == "scalar":
            raise _BadArrayError("the pickle holds a numpy scalar, not an array")
        arr = _numeric_array(raw, dtype, shape, bool(fortran))
        return arr[()] if stub.how == "scalar" else arr
    if dtype != "object" or stub.how != "reconstruct":
        if top:
            raise _BadArrayError(f"unsupported array type: {dtype} (only bool, int, uint, float "
                                 "and 1-D object arrays of them are read)")
        return _Unusable(f"has non-numeric {dtype}")
    if not top:
        raise _BadArrayError("nested object arrays are not supported (an element of an object "
                             "array is itself an object array)")
    if len(shape) != 1 or not isinstance(raw, list) or len(raw) != shape[0]:
        raise _BadArrayError(f"object array of shape {shape} must be 1-D with one pickled "
                             f"element per entry, got {_describe(raw)}"
                             + (f" of {len(raw)}" if isinstance(raw, list) else ""))
    fast = _numeric_elements_fast(raw)
    return _object_array(fast if fast is not None else [_materialise(e, top=False) for e in raw])


def _numeric_elements_fast(raw: list[Any]) -> list[np.ndarray] | None:
    """The elements of a typical object array (C-order [L, K] arrays, one numeric dtype, one K)
    built with one copy for all instead of several numpy calls each: the same checks as the
    general path, done per column with C-level map/set passes. None for anything else, which
    the general path then builds or rejects with a precise message."""
    if not raw or set(map(type, raw)) != {_ArrayStub}:
        return None
    try:
        args = list(map(_ARGS, raw))
        if (set(map(_HOW, raw)) != {"reconstruct"} or set(map(len, args)) != {3}
                or set(map(_FIRST, args)) != {_NDARRAY}):
            return None
        states = list(map(_STATE, raw))
        if set(map(type, states)) != {tuple} or set(map(len, states)) != {5}:
            return None
        dtypes = set(map(_THIRD, states))
        if len(dtypes) != 1 or set(map(_FOURTH, states)) != {False}:
            return None
        dtype = _resolve_dtype(dtypes.pop())
        shapes = list(map(_SECOND, states))
        if (not isinstance(dtype, np.dtype) or set(map(type, shapes)) != {tuple}
                or set(map(len, shapes)) != {2}):
            return None
        widths = set(map(_SECOND, shapes))
        rows_list = list(map(_FIRST, shapes))
        if len(widths) != 1 or set(map(type, rows_list)) != {int}:
            return None
        width = widths.pop()
        if type(width) is not int or not 0 < width < 2**31:
            return None
        rows = np.fromiter(rows_list, dtype=np.int64, count=len(rows_list))
        if rows.min() < 0 or rows.max() >= 2**31:
            return None
        datas = list(map(_FIFTH, states))
        kinds = set(map(type, datas))
        if kinds == {str}:  # Python 2 str data, decoded with encoding='latin1'
            joined = bytearray("".join(datas).encode("latin1"))
        elif kinds <= {bytes, bytearray}:
            joined = bytearray().join(datas)
        else:
            return None
        sizes = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
        if not np.array_equal(sizes, rows * (width * dtype.itemsize)):
            return None
    except (TypeError, ValueError, IndexError, OverflowError, UnicodeError):
        return None
    # Writable views of one buffer we own, like the separate arrays np.load would give.
    table = np.frombuffer(joined, dtype=dtype).reshape(-1, width)
    ends = np.cumsum(rows)
    return list(map(table.__getitem__, map(slice, (ends - rows).tolist(), ends.tolist())))


_ARGS, _HOW, _STATE = (operator.attrgetter(a) for a in ("args", "how", "state"))
_FIRST, _SECOND, _THIRD, _FOURTH, _FIFTH = (operator.itemgetter(i) for i in range(5))


_NPY_VERSIONS = {(1, 0), (2, 0), (3, 0)}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # The stand-ins keep tens of thousands of small containers alive until the arrays are
    # built; letting the cyclic GC rescan them all, again and again, made loading ~1.5x slower.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_npy(data: bytes) -> np.ndarray:
    """Parse one ``.npy`` member without trusting its header or pickle."""
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version not in _NPY_VERSIONS:
        raise _BadArrayError(f"unknown .npy format version {version}")
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:  # 3.0 only differs in allowing utf-8 field names, which are refused anyway
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    shape = _check_shape(shape)
    if dtype.hasobject:
        if dtype != np.dtype(object):
            raise _BadArrayError(f"unsupported dtype {dtype} (objects inside a structured dtype)")
        with _gc_paused():
            arr = _materialise(_NumpyOnlyUnpickler(fp, encoding="latin1").load(), top=True)
        if arr.shape != shape:
            raise _BadArrayError(f"pickled array has shape {arr.shape}, header says {shape}")
        return arr
    simple = None
    if dtype.fields is None and dtype.subdtype is None:
        simple = _simple_dtype(dtype.kind, dtype.itemsize, dtype.byteorder)
    if simple is None:
        raise _BadArrayError(f"unsupported dtype {dtype} (only bool, int, uint, float and object "
                             "arrays are read)")
    start = fp.tell()
    have = len(data) - start
    need = math.prod(shape) * simple.itemsize
    if have != need:  # checked before anything is allocated: headers can lie
        raise _BadArrayError(f"header promises shape {shape} of {simple} ({need} bytes) but "
                             f"{have} bytes follow it")
    return _numeric_array(memoryview(data)[start:], simple, shape, fortran)


def _inflate(path: str, zf: zipfile.ZipFile, member: str, budget: int, max_ratio: float
             ) -> bytes:
    """A member's bytes, refused (before or while inflating) past the size and ratio caps."""
    info = zf.getinfo(member)

    def check(size: int, declared: bool) -> None:
        what = "declares" if declared else "inflates to more than"
        if size > budget:
            raise DatasetError(
                f"{path}: {member} {what} {size} bytes uncompressed, over the "
                f"{budget}-byte limit left of max_bytes (default MAX_NPZ_BYTES = "
                f"{MAX_NPZ_BYTES}); pass read_npz(..., max_bytes=...) to allow more")
        if size > COMPRESSION_RATIO_FLOOR and size > max_ratio * max(info.compress_size, 1):
            raise DatasetError(
                f"{path}: {member} {what} {size} bytes uncompressed from {info.compress_size} "
                f"compressed (over {max_ratio:g}:1 and {COMPRESSION_RATIO_FLOOR} bytes): a "
                "likely zip bomb; pass read_npz(..., max_ratio=...) if the file is trusted")

    check(info.file_size, declared=True)
    with zf.open(info) as f:
        # One bounded read (as fast as ZipFile.read): zipfile inflates at most the declared
        # size, and the limit here holds even if that header lies.
        data = f.read(min(budget, info.file_size) + 1)
    check(len(data), declared=False)
    return data


def _read_member(path: str, zf: zipfile.ZipFile, member: str, budget: int, max_ratio: float
                 ) -> tuple[np.ndarray, int]:
    try:
        data = _inflate(path, zf, member, budget, max_ratio)
        return _read_npy(data), len(data)
    except DatasetError:
        raise
    except _UnsafePickleError as e:
        raise DatasetError(f"{path}: unsafe pickle in {member}: {e}") from e
    except _BadArrayError as e:
        raise DatasetError(f"{path}: {member} is not a readable stroke array: {e}") from e
    except RecursionError as e:
        raise DatasetError(f"{path}: {member} is nested too deeply to read") from e
    except MemoryError as e:
        raise DatasetError(f"{path}: {member} needs more memory than is available") from e
    except Exception as e:  # anything a damaged zip, header or pickle can raise
        raise DatasetError(f"{path}: {member} is truncated or corrupt "
                           f"({type(e).__name__}: {str(e)[:200]})") from e


# ---------------------------------------------------------------------------------------------
# npz files


@dataclasses.dataclass(frozen=True)
class NpzContents:
    """What :func:`read_npz` found: the good sketches per split and what was skipped.

    Example:
        >>> c = NpzContents({"train": [], "valid": [], "test": []}, {"train": 0}, [])
        >>> c.skipped["train"]
        0
    """

    splits: dict[str, list[np.ndarray]]
    skipped: dict[str, int]
    problems: list[str]


def _sketch_problem(s: Any) -> str | None:
    """Why one sketch is unusable, or None."""
    if isinstance(s, _Unusable):
        return s.why
    if not isinstance(s, np.ndarray):
        return f"is a {type(s).__name__}, not an array"
    if s.dtype.kind not in "iuf":
        return f"has non-numeric dtype {s.dtype}"
    if s.ndim != 2 or s.shape[1] != 3:
        return f"has shape {s.shape}, expected [L, 3]"
    if len(s) == 0:
        return "is empty"
    if s.dtype.kind == "f" and not np.isfinite(s).all():
        return "contains NaN or inf"
    # Wider integers than int32 can hold values float32 cannot represent sensibly (and uint64
    # beyond int64 overflowed later); real stroke offsets are small.
    if s.dtype.kind in "iu" and s.dtype.itemsize >= 4 and s.dtype != np.int32 and (
            s.min() < _INT32.min or s.max() > _INT32.max):
        return f"has {s.dtype} values beyond the int32 range"
    return None


def _split_sketches(path: str, key: str, arr: np.ndarray) -> list[Any]:
    if arr.dtype == object and arr.ndim == 1:
        return list(arr)
    if arr.dtype.kind in "iuf" and arr.ndim == 3 and arr.shape[2] == 3:
        return list(arr)  # equal-length sketches saved as one numeric array
    raise DatasetError(
        f"{path}: split '{key}' is a {arr.dtype} array of shape {arr.shape}; expected a 1-D "
        "object array of [L, 3] stroke-3 arrays")


def read_npz(
    path: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = None,
) -> NpzContents:
    """Load a stroke-3 ``.npz`` (keys train/valid/test) safely and validate every sketch.

    Guarantees, whatever the file holds:

    * No code runs and the interpreter cannot crash. Object arrays are unpickled
      (``encoding='latin1'``) by an unpickler whose only globals are inert stand-ins for numpy's
      array reconstruction; any other global (``os.system``, ``eval``, ...) is refused before it
      can run. Arrays are then built here, never by numpy's unpickling code: a plain
      bool/int/uint/float array only from exactly ``prod(shape) * itemsize`` bytes of its own
      data, an object array only 1-D from its list of such arrays. Nothing is built from a raw
      buffer as objects, from a structured dtype or from a nested object array.
    * Plain numeric members (e.g. equal-length sketches as one ``[N, L, 3]`` array) are built from
      a validated header whose promised byte count must match the data that follows.
    * Bounded memory: at most ``max_bytes`` (default :data:`MAX_NPZ_BYTES`, 2 GiB) uncompressed
      bytes are read over all members: a member declaring more is refused before inflating, and
      inflating stops at the limit even if the zip header lies. A member inflating more than
      ``max_ratio`` (default :data:`MAX_COMPRESSION_RATIO`, 200) times its compressed size and
      beyond :data:`COMPRESSION_RATIO_FLOOR` (64 MiB) is refused as a likely zip bomb. No real
      dataset comes near these limits; raise them for a trusted, unusually large file.

    Element dtypes int16/float64 (or any integer/float type) are kept as stored.

    Individual bad sketches (empty, NaN/inf, wrong shape, non-numeric, integers beyond the int32
    range, pen-lift values other than 0 and 1) are skipped and counted; a file-level problem
    (unsafe, malformed, truncated or oversized), or a split whose sketches are all bad, raises
    :class:`DatasetError` (a ``ValueError``) naming the file and member; a missing file raises
    ``FileNotFoundError``.

    Example:
        >>> c = read_npz("datasets/aaron_sheep/aaron_sheep.npz")  # doctest: +SKIP
        >>> [len(c.splits[k]) for k in SPLITS], c.skipped  # doctest: +SKIP
        ([7400, 300, 300], {'train': 0, 'valid': 0, 'test': 0})
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: dataset file not found")
    if os.path.isdir(path):
        raise DatasetError(f"{path}: is a directory, expected a .npz file")
    budget = MAX_NPZ_BYTES if max_bytes is None else int(max_bytes)
    ratio = MAX_COMPRESSION_RATIO if max_ratio is None else float(max_ratio)
    raw: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [k for k in SPLITS if f"{k}.npy" not in names]
            if missing:
                found = sorted(n[:-4] for n in names if n.endswith(".npy"))[:20]
                raise DatasetError(f"{path}: missing split(s) {missing}; the file has {found}")
            for k in SPLITS:
                raw[k], used = _read_member(path, zf, f"{k}.npy", budget, ratio)
                budget -= used
    except zipfile.BadZipFile as e:
        raise DatasetError(f"{path}: not a valid .npz (zip) file, or truncated ({e})") from e
    except OSError as e:
        raise DatasetError(f"{path}: cannot read file ({e})") from e

    splits: dict[str, list[np.ndarray]] = {}
    skipped: dict[str, int] = {}
    problems: list[str] = []
    for key in SPLITS:
        sketches = _split_sketches(path, key, raw[key])
        good, where = [], []
        for i, s in enumerate(sketches):
            why = _sketch_problem(s)
            if why is None:
                good.append(s)
                where.append(i)
            else:
                problems.append(f"{key}[{i}] {why}")
        if good:
            # The pen rule is checked on all of the split's rows at once (per sketch it would
            # double the reading time); only a split that breaks it is searched sketch by sketch.
            pens = np.concatenate([g[:, 2] for g in good])
            if ((pens != 0) & (pens != 1)).any():
                kept = []
                for g, i in zip(good, where, strict=True):
                    why = pen_problem(g)
                    if why is None:
                        kept.append(g)
                    else:
                        problems.append(f"{key}[{i}]: {why}")
                good = kept
        skipped[key] = len(sketches) - len(good)
        if sketches and not good:
            raise DatasetError(f"{path}: no usable sketch in split '{key}' (e.g. {problems[-1]})")
        splits[key] = good
    if problems:
        logger.warning("%s: skipped %d bad sketch(es) (%s); first: %s", path, len(problems),
                       ", ".join(f"{k} {n}" for k, n in skipped.items() if n), problems[0])
    return NpzContents(splits, skipped, problems)


def load_npz(
    path: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = None,
) -> dict[str, list[np.ndarray]]:
    """:func:`read_npz` returning only ``{"train": [...], "valid": [...], "test": [...]}``.

    Skipped sketches are logged as a warning; ``max_bytes`` / ``max_ratio`` are
    :func:`read_npz`'s size limits.

    Example:
        >>> data = load_npz("datasets/aaron_sheep/aaron_sheep.npz")  # doctest: +SKIP
        >>> data["train"][0].dtype, data["train"][0].shape[1]  # doctest: +SKIP
        (dtype('int16'), 3)
    """
    return read_npz(path, max_bytes=max_bytes, max_ratio=max_ratio).splits


# ---------------------------------------------------------------------------------------------
# batching


def _rng_state_to_json(state: Any) -> Any:
    if isinstance(state, np.ndarray):
        return {"__ndarray__": state.tolist(), "dtype": str(state.dtype)}
    if isinstance(state, dict):
        return {k: _rng_state_to_json(v) for k, v in state.items()}
    if isinstance(state, np.generic):
        return state.item()
    return state


def _rng_state_from_json(state: Any) -> Any:
    if isinstance(state, dict):
        if "__ndarray__" in state:
            return np.asarray(state["__ndarray__"], dtype=state["dtype"])
        return {k: _rng_state_from_json(v) for k, v in state.items()}
    return state


class DataLoader:
    """Sorted, normalised stroke-3 sketches served as stroke-5 batches (reference semantics).

    On construction each sketch longer than ``max_seq_len`` is dropped, the rest are clamped to
    ``+-limit`` (all columns), cast to float32, offsets divided by ``scale_factor``, and sorted by
    length with ``np.argsort`` like the reference. That sort is not stable: the order of
    equal-length sketches is numpy's (it can depend on the CPU's SIMD sort); pass
    ``sort_kind="stable"`` for a platform-independent order.

    ``random_batch()`` takes the first ``batch_size`` of a fresh permutation every call;
    ``get_batch(i)`` takes sketches ``i*batch_size ... (i+1)*batch_size - 1`` of the sorted list.
    Both apply ``random_scale`` then (if ``augment_stroke_prob > 0``) point dropping, and return
    ``(x, seq_len)``: ``x`` float32 ``[B, max_seq_len + 1, 5]`` (see
    :func:`sketch_rnn.strokes.pad_batch`), ``seq_len`` int32 ``[B]`` = points after augmentation.
    With ``with_strokes=True`` they return ``(strokes3, x, seq_len)`` like the reference, where
    ``strokes3`` is the list of augmented stroke-3 arrays. ``pad_to="batch"`` pads to the
    longest sketch of the batch (``[B, max(seq_len) + 1, 5]``) instead of ``max_seq_len``.

    Randomness comes from the loader's own ``rng`` (``seed`` makes one); ``get_state()`` /
    ``set_state()`` save and restore it as JSON-serialisable data for bit-exact resumption.
    Drawing order is the reference's (permutation, then per sketch ``u_x, u_y`` and one uniform
    per point), so ``rng=np.random.RandomState(s)`` replays the reference's ``np.random.seed(s)``.

    Speed: the batch is augmented and padded in a few vectorised passes. ``random_batch()`` on
    aaron_sheep (batch 100, scale 0.15, drop prob 0.10) measured 1.9 ms median / 1.4 ms best over
    1000 calls (shared 2-core AMD EPYC VM, numpy 2.4), against ~20 ms for a per-point loop.

    Example:
        >>> sketches = [np.array([[1, 2, 0], [3, 4, 1]]), np.array([[5, 6, 1]])]
        >>> loader = DataLoader(sketches, batch_size=2, max_seq_len=3, seed=0)
        >>> x, seq_len = loader.get_batch(0)
        >>> x.shape, seq_len.tolist()
        ((2, 4, 5), [1, 2])
    """

    def __init__(
        self,
        strokes: Sequence[ArrayLike],
        batch_size: int = 100,
        max_seq_len: int = 250,
        scale_factor: float = 1.0,
        random_scale_factor: float = 0.0,
        augment_stroke_prob: float = 0.0,
        limit: float = 1000,
        seed: int | None = None,
        *,
        rng: Rng | None = None,
        pad_to: str = "max",
        sort_kind: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if pad_to not in ("max", "batch"):
            raise ValueError(f"DataLoader: pad_to must be 'max' or 'batch', got {pad_to!r}")
        self.batch_size = int(batch_size)
        self.max_seq_len = int(max_seq_len)
        self.scale_factor = scale_factor
        self.random_scale_factor = random_scale_factor
        self.augment_stroke_prob = augment_stroke_prob
        self.limit = limit
        self.pad_to = pad_to
        self.rng: Rng = rng if rng is not None else np.random.default_rng(seed)
        self._preprocess(strokes, sort_kind)

    def _preprocess(self, strokes: Sequence[ArrayLike], sort_kind: str | None) -> None:
        arrays = [np.asarray(s) for s in strokes]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != 3 or a.dtype.kind not in "iuf":
                raise ValueError(f"DataLoader: sketch {i} must be a numeric [L, 3] stroke-3 "
                                 f"array, got {a.dtype} {a.shape}")
        # int64 lengths: np.argsort's tie order depends on the dtype, and the reference sorts
        # an array built from Python ints.
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        kept = np.flatnonzero(lengths <= self.max_seq_len)
        order = kept[np.argsort(lengths[kept], kind=sort_kind)]
        self.source_index: np.ndarray = order  # sorted position -> index in ``strokes``
        self.lengths: np.ndarray = lengths[order]
        if len(order):
            flat = clamp(np.concatenate([arrays[i] for i in order]), self.limit).astype(np.float32)
        else:
            flat = np.zeros((0, 3), dtype=np.float32)
        flat[:, 0:2] /= self.scale_factor
        self._flat = flat
        self._offsets = np.cumsum(self.lengths) - self.lengths
        # Views into one buffer: per-sketch access like the reference, one gather per batch.
        self.strokes: list[np.ndarray] = np.split(flat, np.cumsum(self.lengths)[:-1]) \
            if len(order) else []
        self.num_batches = len(order) // self.batch_size
        logger.info("total images <= max_seq_len is %d", len(order))

    def __len__(self) -> int:
        return len(self.lengths)

    def calculate_normalizing_scale_factor(self) -> np.float32:
        """Population std of all dx and dy values pooled (float32, the reference's exact value).

        Example:
            >>> DataLoader([np.array([[1, -1, 1]])]).calculate_normalizing_scale_factor()
            np.float32(1.0)
        """
        if not len(self._flat):
            raise ValueError("DataLoader: cannot compute a scale factor without sketches")
        # (its rows in sorted-sketch order: the reference's summation order)
        return normalizing_scale_factor(self._flat)

    def normalize(self, scale_factor: float | None = None) -> None:
        """Divide every offset by ``scale_factor`` (default: the computed one), in place.

        Example:
            >>> loader = DataLoader([np.array([[2, -2, 1]])])
            >>> loader.normalize()
            >>> loader.strokes[0].tolist(), float(loader.scale_factor)
            ([[1.0, -1.0, 1.0]], 2.0)
        """
        if scale_factor is None:
            scale_factor = self.calculate_normalizing_scale_factor()
        self.scale_factor = scale_factor
        self._flat[:, 0:2] /= scale_factor

    def random_sample(self) -> np.ndarray:
        """A copy of one random sketch (stroke-3, normalised, not augmented).

        Example:
            >>> DataLoader([np.array([[1, 2, 1]])], seed=0).random_sample().tolist()
            [[1.0, 2.0, 1.0]]
        """
        return self.strokes[int(self.rng.integers(len(self.strokes)))].copy()

    @overload
    def random_batch(self, *, with_strokes: Literal[False] = ...
                     ) -> tuple[np.ndarray, np.ndarray]: ...

    @overload
    def random_batch(self, *, with_strokes: Literal[True]
                     ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]: ...

    def random_batch(self, *, with_strokes: bool = False) -> tuple[Any, ...]:
        """A random augmented batch: the first ``batch_size`` of a fresh permutation.

        Example:
            >>> loader = DataLoader([np.array([[1, 2, 1]])] * 3, batch_size=2, seed=0)
            >>> x, seq_len = loader.random_batch()
            >>> x.shape
            (2, 251, 5)
        """
        if len(self) < self.batch_size:
            raise ValueError(f"DataLoader: {len(self)} sketches, fewer than batch_size="
                             f"{self.batch_size}")
        idx = self.rng.permutation(len(self))[: self.batch_size]
        return self._batch(idx, with_strokes)

    @overload
    def get_batch(self, idx: int, *, with_strokes: Literal[False] = ...
                  ) -> tuple[np.ndarray, np.ndarray]: ...

    @overload
    def get_batch(self, idx: int, *, with_strokes: Literal[True]
                  ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]: ...

    def get_batch(self, idx: int, *, with_strokes: bool = False) -> tuple[Any, ...]:
        """Batch ``idx`` of the length-sorted sketches (``0 <= idx < num_batches``).

        Example:
            >>> loader = DataLoader([np.array([[1, 2, 1]])] * 3, batch_size=2, max_seq_len=4)
            >>> loader.get_batch(0)[1].tolist()
            [1, 1]
        """
        if not 0 <= idx < self.num_batches:
            raise IndexError(f"DataLoader.get_batch: index {idx} out of range "
                             f"[0, {self.num_batches})")
        start = idx * self.batch_size
        return self._batch(np.arange(start, start + self.batch_size), with_strokes)

    def _batch(self, idx: np.ndarray, with_strokes: bool) -> tuple[Any, ...]:
        lengths = self.lengths[idx]
        starts = np.cumsum(lengths) - lengths
        rows = np.repeat(self._offsets[idx] - starts, lengths) + np.arange(int(lengths.sum()))
        flat, seq_len = _augment_flat(self._flat[rows], lengths, self.random_scale_factor,
                                      self.augment_stroke_prob, self.rng)
        width = self.max_seq_len if self.pad_to == "max" else int(seq_len.max(initial=0))
        x = _pad_flat(flat, seq_len, width, np.float32)
        seq_len = seq_len.astype(np.int32)
        if with_strokes:
            return np.split(flat, np.cumsum(seq_len)[:-1]), x, seq_len
        return x, seq_len

    def get_state(self) -> dict[str, Any]:
        """The RNG state as JSON-serialisable data (for checkpoints).

        Example:
            >>> import json
            >>> loader = DataLoader([np.array([[1, 2, 1]])], 1, random_scale_factor=0.2, seed=0)
            >>> state = json.loads(json.dumps(loader.get_state()))
            >>> a = loader.random_batch()[0]; loader.set_state(state)
            >>> bool((loader.random_batch()[0] == a).all())
            True
        """
        if isinstance(self.rng, np.random.RandomState):
            return {"kind": "RandomState",
                    "state": _rng_state_to_json(self.rng.get_state(legacy=False))}
        return {"kind": "Generator", "state": _rng_state_to_json(self.rng.bit_generator.state)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (same kind of RNG required)."""
        kind = "RandomState" if isinstance(self.rng, np.random.RandomState) else "Generator"
        if not isinstance(state, dict) or state.get("kind") != kind:
            got = state.get("kind") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"DataLoader.set_state: expected a {kind} state, got {got!r}")
        value = _rng_state_from_json(state["state"])
        if kind == "RandomState":
            self.rng.set_state(value)
        else:
            self.rng.bit_generator.state = value


# ---------------------------------------------------------------------------------------------
# datasets


class Datasets(NamedTuple):
    """``(train, valid, test, hps)`` from :func:`load_dataset`; ``hps.max_seq_len`` updated.

    Example:
        >>> train, valid, test, hps = load_dataset("datasets/aaron_sheep", hps)  # doctest: +SKIP
    """

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    hps: Any

    @property
    def scale_factor(self) -> float | np.float32:
        """The normalising scale factor (float32 std of the training dx, dy)."""
        return self.train.scale_factor


def _replace_hps(hps: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(hps) and not isinstance(hps, type):
        return dataclasses.replace(hps, **changes)
    if hasattr(hps, "_replace"):
        return hps._replace(**changes)
    new = copy.copy(hps)
    for k, v in changes.items():
        setattr(new, k, v)
    return new


def load_dataset(
    data_dir: str | os.PathLike,
    hps: Any = None,
    *,
    inference_mode: bool = False,
    seed: int | None = None,
) -> Datasets:
    """Load ``hps.data_set`` (one file name or a list) from ``data_dir`` like the reference.

    ``hps`` is a :class:`~sketch_rnn.config.DataConfig` or magenta's
    :class:`~sketch_rnn.hparams.HParams` (or anything with their names); None takes every ``.npz``
    file in ``data_dir`` with magenta's other defaults.

    Splits are concatenated across files in order; ``max_seq_len`` becomes the longest sketch over
    all three splits (returned in a copy of ``hps``); every split is divided by the float32 std of
    the training dx/dy. The training loader augments with ``hps.random_scale_factor`` and
    ``hps.augment_stroke_prob``; valid/test do not, and use ``hps.batch_size`` (1 when
    ``inference_mode``). ``hps.pad_to`` (if present) is passed to all loaders. ``seed`` seeds the
    loaders' RNGs (independent streams).

    Raises :class:`DatasetError` (naming the folder, files and counts) when the training split
    has fewer sketches than ``hps.batch_size``, or valid/test fewer than their batch size: such a
    split cannot fill one batch (the reference would fail later, or divide by zero batches).

    Example:
        >>> from types import SimpleNamespace
        >>> hps = SimpleNamespace(data_set="aaron_sheep.npz", batch_size=100, max_seq_len=0)
        >>> ds = load_dataset("datasets/aaron_sheep", hps, seed=1)  # doctest: +SKIP
        >>> ds.hps.max_seq_len, round(float(ds.scale_factor), 4)  # doctest: +SKIP
        (250, 18.5198)
    """
    data_dir = os.fspath(data_dir)
    if data_dir.startswith(("http://", "https://")):
        raise ValueError(f"{data_dir}: downloading is not supported; download the .npz file(s) "
                         "and pass the local directory")
    if hps is None:
        from sketch_rnn.config import DataConfig

        if not os.path.isdir(data_dir):
            raise FileNotFoundError(f"{data_dir}: no such data folder")
        files = sorted(f for f in os.listdir(data_dir) if f.endswith(".npz"))
        if not files:
            raise ValueError(f"{data_dir}: no .npz data file in this folder")
        hps = DataConfig(data_set=tuple(files))
    names = hps.data_set
    names = [names] if isinstance(names, str | os.PathLike) else list(names)
    if not names:
        raise ValueError("load_dataset: hps.data_set is empty")
    splits: dict[str, list[np.ndarray]] = {k: [] for k in SPLITS}
    counts: dict[str, list[str]] = {k: [] for k in SPLITS}
    for name in names:
        path = os.path.join(data_dir, os.fspath(name))
        data = load_npz(path)
        logger.info("Loaded %d/%d/%d from %s", *(len(data[k]) for k in SPLITS), name)
        for k in SPLITS:
            splits[k].extend(data[k])
            counts[k].append(f"{os.fspath(name)}: {len(data[k])}")

    # A split smaller than one batch would fail (or divide by zero batches) only after the model
    # is built, so check it now. No sketch is dropped for length below: max_seq_len is the max.
    eval_batch_size = 1 if inference_mode else hps.batch_size
    for k, need in (("train", hps.batch_size), ("valid", eval_batch_size),
                    ("test", eval_batch_size)):
        if len(splits[k]) < need:
            raise DatasetError(
                f"load_dataset: split '{k}' has {len(splits[k])} usable sketch(es) in "
                f"{data_dir} ({', '.join(counts[k])}), fewer than one batch of {need} "
                f"(batch_size={hps.batch_size}{', inference_mode' if inference_mode else ''})")

    all_lengths = [len(s) for k in SPLITS for s in splits[k]]
    logger.info("Dataset combined: %d (%d/%d/%d), avg len %d", len(all_lengths),
                *(len(splits[k]) for k in SPLITS), int(sum(all_lengths) / len(all_lengths)))
    max_seq_len = int(max(all_lengths))
    hps = _replace_hps(hps, max_seq_len=max_seq_len)
    logger.info("max_seq_len %d", max_seq_len)

    pad_to = getattr(hps, "pad_to", "max")
    seeds = np.random.SeedSequence(seed).spawn(3)
    train = DataLoader(
        splits["train"], hps.batch_size, max_seq_len,
        random_scale_factor=getattr(hps, "random_scale_factor", 0.15),
        augment_stroke_prob=getattr(hps, "augment_stroke_prob", 0.10),
        rng=np.random.default_rng(seeds[0]), pad_to=pad_to)
    try:
        scale_factor = train.calculate_normalizing_scale_factor()
    except ValueError as e:
        files = ", ".join(os.path.join(data_dir, os.fspath(n)) for n in names)
        raise DatasetError(f"{files}: the training split cannot be normalised: {e}") from None
    train.normalize(scale_factor)
    valid = DataLoader(splits["valid"], eval_batch_size, max_seq_len,
                       rng=np.random.default_rng(seeds[1]), pad_to=pad_to)
    valid.normalize(scale_factor)
    test = DataLoader(splits["test"], eval_batch_size, max_seq_len,
                      rng=np.random.default_rng(seeds[2]), pad_to=pad_to)
    test.normalize(scale_factor)
    logger.info("normalizing_scale_factor %4.4f", scale_factor)
    return Datasets(train, valid, test, hps)

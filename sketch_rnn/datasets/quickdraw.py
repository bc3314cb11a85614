"""QuickDraw drawings: ndjson (raw and simplified) and binary ``.bin`` files -> stroke-3.

Formats (googlecreativelab/quickdraw-dataset README):

* **ndjson**, one JSON object per line with ``key_id``, ``word``, ``countrycode``, ``timestamp``,
  ``recognized`` and ``drawing``, a list of strokes. *Raw* strokes are ``[xs, ys, ts]`` in
  canvas pixels (floats, any range); *simplified* strokes are ``[xs, ys]``, integers in 0-255.
* **.bin** (simplified drawings), records back to back, little-endian: ``key_id`` uint64,
  ``countrycode`` 2 bytes, ``recognized`` int8, ``timestamp`` uint32, ``n_strokes`` uint16, then
  per stroke ``n_points`` uint16, ``n_points`` x bytes and ``n_points`` y bytes.

Raw drawings go through Google's own simplification (:func:`~sketch_rnn.datasets.simplify.
quickdraw_simplify`) so they come out like the simplified files. Stroke-3 rows follow the
standard Sketch-RNN files: strokes concatenated, pen lift on each stroke's last point, offsets,
first offset ``(0, 0)`` unless ``zero_first=False``.

Bad input (malformed JSON, missing fields, empty drawings, NaN or huge coordinates, truncated
``.bin`` records) is skipped and recorded with its ``file:line`` (or ``file@byte``) in a
:class:`~sketch_rnn.datasets.report.Report`.

Example:
    >>> sketches, words, report = convert_quickdraw("cat.ndjson")  # doctest: +SKIP
    >>> sketches[0].dtype, words[0], report.n_skipped  # doctest: +SKIP
    (dtype('int16'), 'cat', 0)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import struct
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any, Literal

import numpy as np

from sketch_rnn.datasets.polylines import PackedDrawings
from sketch_rnn.datasets.progress import Progress
from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.simplify import quickdraw_simplify

__all__ = [
    "MAX_ABS_COORD",
    "QuickDrawRecord",
    "parse_ndjson_line",
    "read_ndjson",
    "check_lines",
    "read_bin",
    "detect_kind",
    "records_to_stroke3",
    "convert_quickdraw",
]

Kind = Literal["raw", "simplified"]

# Raw canvases are a few thousand pixels at most; anything beyond this is corrupt data, and
# one such point would squash the rest of its drawing into a dot when scaled to 0-255.
MAX_ABS_COORD = 1.0e6

_BIN_HEADER = struct.Struct("<Q2sbIH")
_U16 = struct.Struct("<H")


@dataclasses.dataclass
class QuickDrawRecord:
    """One QuickDraw drawing and its metadata.

    ``strokes`` are ``(n, 2)`` float64 arrays of absolute points (timing dropped). ``where``
    names the source (``file:line`` or ``file@byte``) for messages.

    Example:
        >>> r = parse_ndjson_line('{"word": "cat", "drawing": [[[0, 9], [1, 1]]]}')
        >>> r.word, r.strokes[0].tolist()
        ('cat', [[0.0, 1.0], [9.0, 1.0]])
    """

    strokes: list[np.ndarray]
    word: str = ""
    key_id: str = ""
    countrycode: str = ""
    timestamp: Any = None
    recognized: bool = True
    where: str = ""


def _check_points(x: np.ndarray, y: np.ndarray) -> None:
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("NaN or infinite coordinate")
    if np.abs(x).max() > MAX_ABS_COORD or np.abs(y).max() > MAX_ABS_COORD:
        raise ValueError(f"coordinate beyond +-{MAX_ABS_COORD:g}")


def _stroke_lists(drawing: Any) -> list[tuple[list, list]]:
    """The non-empty (xs, ys) lists of a JSON drawing; ValueError says what is wrong."""
    if not isinstance(drawing, list):
        raise ValueError("'drawing' is not a list of strokes")
    out = []
    for s in drawing:
        if not isinstance(s, list) or len(s) < 2:
            raise ValueError("stroke is not [xs, ys, ...]")
        xs, ys = s[0], s[1]
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            raise ValueError("stroke x and y lists differ")
        if xs:
            out.append((xs, ys))
    if not out:
        raise ValueError("empty drawing (no points)")
    return out


def _to_float(values: Iterable[Any], count: int) -> np.ndarray:
    try:
        arr = np.fromiter(values, dtype=np.float64, count=count)
    except (TypeError, ValueError):
        raise ValueError("non-numeric coordinate") from None
    return arr


try:  # orjson parses raw QuickDraw lines about twice as fast: half the conversion time is JSON
    import orjson

    def _loads(line: str | bytes) -> Any:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            # NaN / Infinity / 1e400 are not JSON but Python's parser takes them; let it
            # decide, so such drawings are reported as bad coordinates, the same either way.
            return json.loads(line)
except ImportError:  # pragma: no cover - orjson is a dependency, but keep working without it
    _loads = json.loads


def _object_from_line(line: str | bytes) -> dict[str, Any]:
    try:
        obj = _loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("malformed JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    if "drawing" not in obj:
        raise ValueError("no 'drawing' field")
    return obj


def parse_ndjson_line(line: str | bytes, where: str = "") -> QuickDrawRecord:
    """Parse one ndjson line (raw or simplified); raises ``ValueError`` with the reason.

    Example:
        >>> parse_ndjson_line('{"drawing": []}')
        Traceback (most recent call last):
        ...
        ValueError: empty drawing (no points)
    """
    obj = _object_from_line(line)
    strokes = []
    for xs, ys in _stroke_lists(obj["drawing"]):
        x, y = _to_float(xs, len(xs)), _to_float(ys, len(ys))
        _check_points(x, y)
        strokes.append(np.stack([x, y], axis=1))
    return QuickDrawRecord(strokes, word=str(obj.get("word", "")), key_id=str(obj.get("key_id", "")),
                           countrycode=str(obj.get("countrycode", "")),
                           timestamp=obj.get("timestamp"),
                           recognized=bool(obj.get("recognized", True)), where=where)


def read_ndjson(path: str | os.PathLike, report: Report | None = None
                ) -> Iterator[QuickDrawRecord]:
    """Yield the drawings of an ndjson file; bad lines go to ``report`` as ``file:line``.

    Blank lines are ignored. Without a ``report`` nothing is dropped unsaid: once the file is read,
    bad lines are a warning and a file of nothing but bad lines an error (:func:`check_lines`).

    Example:
        >>> records = list(read_ndjson("cat.ndjson"))  # doctest: +SKIP
    """
    name = os.path.basename(os.fspath(path))
    own = report is None
    report = Report() if report is None else report
    kept = 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = parse_ndjson_line(line, f"{name}:{lineno}")
            except ValueError as e:
                report.skip(f"{name}:{lineno}", str(e))
                continue
            kept += 1
            yield record
    if own:
        check_lines(path, report, kept)


def check_lines(path: str | os.PathLike, report: Report, kept: int) -> None:
    """Say what reading ndjson ``path`` dropped: a warning naming the file, the number of bad lines
    and the first of them with its problem; ``NoUsableDataError`` naming the file when no line
    (of ``kept``) was usable.

    Example:
        >>> r = Report(); r.skip("cat.ndjson:3", "malformed JSON")
        >>> check_lines("cat.ndjson", r, kept=0)
        Traceback (most recent call last):
        ...
        sketch_rnn.datasets.report.NoUsableDataError: cat.ndjson: no usable drawing in 1 line(s); ...
    """
    path = os.fspath(path)
    bad = report.n_skipped
    first = f"the first bad one is {report.problems[0].where} ({report.problems[0].why})" if bad else ""
    if not kept:
        raise NoUsableDataError(f"{path}: no usable drawing in {bad} line(s); {first}" if bad
                                else f"{path}: no drawings (no non-blank lines)")
    if bad:
        warnings.warn(f"{path}: skipped {bad} bad line(s) of {bad + kept}; {first}", stacklevel=2)


def read_bin(path: str | os.PathLike, report: Report | None = None
             ) -> Iterator[QuickDrawRecord]:
    """Yield the drawings of a QuickDraw ``.bin`` file (simplified, 0-255 coordinates).

    ``word`` is the file name without extension (the format does not store it). A truncated
    record ends the file and is reported as ``file@byte``.

    Example:
        >>> records = list(read_bin("cat.bin"))  # doctest: +SKIP
    """
    name = os.path.basename(os.fspath(path))
    word = os.path.splitext(name)[0]
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        start = pos
        try:
            key_id, country, recognized, timestamp, n_strokes = _BIN_HEADER.unpack_from(data, pos)
            pos += _BIN_HEADER.size
            strokes = []
            for _ in range(n_strokes):
                (n,) = _U16.unpack_from(data, pos)
                pos += 2
                if pos + 2 * n > len(data):
                    raise struct.error("stroke runs past the end of the file")
                xy = np.frombuffer(data, dtype=np.uint8, count=2 * n, offset=pos)
                pos += 2 * n
                if n:
                    strokes.append(xy.reshape(2, n).T.astype(np.float64))
        except struct.error:
            if report is not None:
                report.skip(f"{name}@{start}", "truncated .bin record")
            return
        if not strokes:
            if report is not None:
                report.skip(f"{name}@{start}", "empty drawing (no points)")
            continue
        yield QuickDrawRecord(strokes, word=word, key_id=str(key_id),
                              countrycode=country.decode("ascii", "replace").rstrip("\x00"),
                              timestamp=timestamp, recognized=bool(recognized),
                              where=f"{name}@{start}")


def detect_kind(path: str | os.PathLike) -> Literal["raw", "simplified", "bin"]:
    """``"bin"`` by extension; for ndjson, ``"raw"`` unless the first drawing looks simplified.

    Simplified means strokes ``[xs, ys]`` (no timings) of integers in 0-255. Only the first
    parsable drawing is looked at.

    Example:
        >>> detect_kind("cat.bin")
        'bin'
    """
    if os.fspath(path).lower().endswith(".bin"):
        return "bin"
    with open(path, "rb") as f:
        for line in islice(f, 100):
            try:
                obj = _object_from_line(line)
                strokes = obj["drawing"]
                if isinstance(strokes, list) and strokes and isinstance(strokes[0], list):
                    if len(strokes[0]) >= 3:
                        return "raw"
                    # Timing-free drawings outside the integer 0-255 box still need Google's
                    # normalisation (e.g. home-made ndjson in screen coordinates).
                    values = [v for s in strokes for axis in s[:2] for v in axis]
                    in_box = all(isinstance(v, int) and 0 <= v <= 255 for v in values)
                    return "simplified" if in_box else "raw"
            except (ValueError, TypeError):
                continue
    return "simplified"


def records_to_stroke3(records: Sequence[QuickDrawRecord], kind: Kind, *,
                       zero_first: bool = True, epsilon: float = 2.0) -> list[np.ndarray]:
    """int16 stroke-3 for each record; raw records get Google's simplification first.

    ``epsilon`` is the RDP tolerance of that simplification (Google's is 2.0).

    Example:
        >>> r = parse_ndjson_line('{"drawing": [[[0, 10], [0, 5]], [[3], [3]]]}')
        >>> records_to_stroke3([r], "simplified")[0].tolist()
        [[0, 0, 0], [10, 5, 1], [-7, -2, 1]]
    """
    if not records:
        return []
    batch = PackedDrawings.from_drawings([r.strokes for r in records])
    return _batch_to_stroke3(batch, kind, zero_first, epsilon)


# Drawings per vectorised pass (see PackedDrawings.batches).
_BATCH = 96


def _batch_to_stroke3(batch: PackedDrawings, kind: Kind, zero_first: bool, epsilon: float
                      ) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for part in batch.batches(_BATCH):
        if kind == "raw":
            part = quickdraw_simplify(part, epsilon=epsilon)
        out += part.to_stroke3(zero_first=zero_first, dtype=np.int16)
    return out


@dataclasses.dataclass(frozen=True)
class _Options:
    kind: Kind
    zero_first: bool
    epsilon: float
    recognized_only: bool


def _convert_lines(name: str, lines: list[tuple[int, bytes]], opt: _Options
                   ) -> tuple[list[np.ndarray], list[str], Report]:
    """Worker: ndjson lines -> stroke-3 sketches, words and a report (runs in a subprocess)."""
    report = Report()
    xs_lists: list[list] = []
    ys_lists: list[list] = []
    drawing_strokes: list[int] = []
    words: list[str] = []
    places: list[str] = []
    for lineno, line in lines:
        where = f"{name}:{lineno}"
        try:
            obj = _object_from_line(line)
            strokes = _stroke_lists(obj["drawing"])
        except ValueError as e:
            report.skip(where, str(e))
            continue
        if opt.recognized_only and not obj.get("recognized", True):
            report.skip(where, "not recognized (--recognized_only)")
            continue
        for xs, ys in strokes:
            xs_lists.append(xs)
            ys_lists.append(ys)
        drawing_strokes.append(len(strokes))
        words.append(str(obj.get("word", "")))
        places.append(where)
    if not drawing_strokes:
        return [], [], report
    stroke_lengths = np.fromiter(map(len, xs_lists), dtype=np.int64, count=len(xs_lists))
    total = int(stroke_lengths.sum())
    try:
        x = _to_float(chain.from_iterable(xs_lists), total)
        y = _to_float(chain.from_iterable(ys_lists), total)
    except ValueError:
        return _convert_lines_one_by_one(name, lines, opt)
    batch = PackedDrawings(np.stack([x, y], axis=1), stroke_lengths, drawing_strokes)
    # Per-drawing validity: any non-finite or huge coordinate spoils its whole drawing.
    bad_point = ~(np.isfinite(batch.points).all(axis=1)
                  & (np.abs(batch.points) <= MAX_ABS_COORD).all(axis=1))
    if bad_point.any():
        bad = np.bincount(batch.point_drawing()[bad_point], minlength=len(batch)) > 0
        for i in np.flatnonzero(bad):
            nonfinite = not np.isfinite(batch.take([i]).points).all()
            report.skip(places[i], "NaN or infinite coordinate" if nonfinite
                        else f"coordinate beyond +-{MAX_ABS_COORD:g}")
        good = np.flatnonzero(~bad)
        batch = batch.take(good)
        words = [words[i] for i in good]
    if not len(batch):
        return [], [], report
    sketches = _batch_to_stroke3(batch, opt.kind, opt.zero_first, opt.epsilon)
    report.converted += len(sketches)
    return sketches, words, report


def _convert_lines_one_by_one(name: str, lines: list[tuple[int, bytes]], opt: _Options
                              ) -> tuple[list[np.ndarray], list[str], Report]:
    """Slow path for a chunk with a malformed value somewhere: find it line by line."""
    report = Report()
    records = []
    for lineno, line in lines:
        where = f"{name}:{lineno}"
        try:
            rec = parse_ndjson_line(line, where)
        except ValueError as e:
            report.skip(where, str(e))
            continue
        if opt.recognized_only and not rec.recognized:
            report.skip(where, "not recognized (--recognized_only)")
            continue
        records.append(rec)
    sketches = records_to_stroke3(records, opt.kind, zero_first=opt.zero_first,
                                  epsilon=opt.epsilon)
    report.converted += len(sketches)
    return sketches, [r.word for r in records], report


def _byte_chunks(path: str, chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    """``(offset, length, first line number)`` of consecutive whole-line pieces of a file.

    The parent only scans for newlines; workers read their own piece, so hundreds of MB of
    text are never pickled between processes.
    """
    with open(path, "rb") as f:
        offset, lineno, carry = 0, 1, b""
        while block := f.read(chunk_bytes):
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a chunk: keep reading
                carry = data
                continue
            yield offset, cut, lineno
            lineno += data.count(b"\n", 0, cut)
            offset += cut
            carry = data[cut:]
        if carry:
            yield offset, len(carry), lineno


def _convert_range(path: str, offset: int, length: int, first_lineno: int, opt: _Options
                   ) -> tuple[list[np.ndarray], list[str], Report]:
    """Worker: convert the lines in ``path[offset:offset + length]``."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    lines = [(first_lineno + i, line) for i, line in enumerate(data.split(b"\n")) if line.strip()]
    return _convert_lines(os.path.basename(path), lines, opt)


def _count_lines(path: str) -> int:
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")  # a last line without its newline


def _mp_context() -> multiprocessing.context.BaseContext:
    """Start method for the workers: ``fork`` on Linux, the platform default elsewhere.

    Forked workers start at once with everything imported (a fresh interpreter importing
    ``sketch_rnn`` can take seconds), and they only run json and numpy code.
    """
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def convert_quickdraw(
    path: str | os.PathLike,
    *,
    kind: Literal["auto", "raw", "simplified", "bin"] = "auto",
    zero_first: bool = True,
    epsilon: float = 2.0,
    recognized_only: bool = False,
    limit: int | None = None,
    workers: int | None = None,
    chunk_bytes: int = 4 << 20,
    progress: Progress | None = None,
    report: Report | None = None,
) -> tuple[list[np.ndarray], list[str], Report]:
    """Convert a QuickDraw ndjson or ``.bin`` file to int16 stroke-3 sketches.

    Args:
        path: the file. ``kind="auto"`` tells raw from simplified ndjson by the stroke layout.
        zero_first: set every sketch's first offset to ``(0, 0)`` (standard npz files).
        epsilon: RDP tolerance of the raw -> simplified step (Google's: 2.0).
        recognized_only: skip drawings the game did not recognise.
        limit: stop after this many converted drawings.
        workers: processes for ndjson (default: CPU count); 1 converts in this process.
        chunk_bytes: bytes of ndjson per work unit (whole lines).
        progress: updated with the number of converted drawings.
        report: where to record skipped drawings (a new one by default).

    Returns:
        ``(sketches, words, report)``: int16 ``(L, 3)`` arrays in file order, each drawing's
        ``word`` (the file stem for ``.bin``), and the report.

    Example:
        >>> sketches, words, report = convert_quickdraw("raw/cat.ndjson", workers=1)  # doctest: +SKIP
    """
    path = os.fspath(path)
    report = report if report is not None else Report()
    found = detect_kind(path) if kind == "auto" else kind
    sketches: list[np.ndarray] = []
    words: list[str] = []
    if found == "bin":
        records = []
        for rec in read_bin(path, report):
            if recognized_only and not rec.recognized:
                report.skip(rec.where, "not recognized (--recognized_only)")
                continue
            records.append(rec)
            if limit is not None and len(records) >= limit:
                break
        sketches = records_to_stroke3(records, "simplified", zero_first=zero_first)
        words = [r.word for r in records]
        report.converted += len(sketches)
        if progress is not None:
            progress.update(len(sketches))
        return sketches, words, report

    opt = _Options(found, zero_first, epsilon, recognized_only)
    if progress is not None and progress.total is None:
        progress.total = _count_lines(path) if limit is None else limit
    workers = _default_workers() if workers is None else max(1, workers)
    chunks = _byte_chunks(path, chunk_bytes)

    def collect(result: tuple[list[np.ndarray], list[str], Report]) -> bool:
        s, w, r = result
        sketches.extend(s)
        words.extend(w)
        report.merge(r)
        if progress is not None:
            progress.update(len(s) + r.n_skipped)
        return limit is not None and len(sketches) >= limit

    if workers == 1:
        for chunk in chunks:
            if collect(_convert_range(path, *chunk, opt)):
                break
    else:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=_mp_context()) as pool:
            # A bounded window of chunks in flight keeps memory flat on multi-GB files while
            # results are still collected in file order.
            pending: deque[concurrent.futures.Future] = deque()
            stop = False
            for chunk in chunks:
                pending.append(pool.submit(_convert_range, path, *chunk, opt))
                if len(pending) >= 2 * workers and collect(pending.popleft().result()):
                    stop = True
                    break
            while pending and not stop:
                stop = collect(pending.popleft().result())
            for fut in pending:
                fut.cancel()
    if limit is not None and len(sketches) > limit:
        report.converted -= len(sketches) - limit
        del sketches[limit:], words[limit:]
    return sketches, words, report


"""QuickDraw ndjson (raw and simplified) and .bin -> stroke-3, against Google's own output."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from sketch_rnn.datasets.convert import convert_inputs
from sketch_rnn.datasets.polylines import PackedDrawings
from sketch_rnn.datasets.quickdraw import (
    convert_quickdraw,
    detect_kind,
    read_bin,
    read_ndjson,
    records_to_stroke3,
)
from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.simplify import quickdraw_simplify


@pytest.fixture(scope="module")
def quickdraw_dir(shared_dir: Path) -> Path:
    path = shared_dir / "datasets" / "quickdraw_ndjson"
    if not (path / "raw").is_dir() or not (path / "simplified").is_dir():
        pytest.skip(f"QuickDraw samples not found under {path}")
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def line(drawing, **extra) -> str:
    return json.dumps({"word": "thing", "key_id": "1", "recognized": True,
                       "drawing": drawing, **extra})


def test_simplified_ndjson_to_stroke3_exact(tmp_path):
    f = write_lines(tmp_path / "toy.ndjson", [
        line([[[10, 20, 20], [5, 5, 30]], [[0], [0]]]),
        line([[[0, 255], [255, 0]]], word="other"),
    ])
    assert detect_kind(f) == "simplified"
    sketches, words, report = convert_quickdraw(f, workers=1)
    assert words == ["thing", "other"] and report.converted == 2 and report.n_skipped == 0
    assert all(s.dtype == np.int16 for s in sketches)
    # Strokes concatenated, pen lift on each stroke's last point, first offset zeroed.
    assert sketches[0].tolist() == [[0, 0, 0], [10, 0, 0], [0, 25, 1], [-20, -30, 1]]
    assert sketches[1].tolist() == [[0, 0, 0], [255, -255, 1]]
    kept, _, _ = convert_quickdraw(f, workers=1, zero_first=False)
    assert kept[0][0].tolist() == [10, 5, 0]


def test_raw_ndjson_simplification_hand_made(tmp_path):
    # 200 px tall; after scaling the wiggle is 1.3 px < epsilon 2.0 and disappears.
    f = write_lines(tmp_path / "raw.ndjson", [
        line([[[100, 150, 200, 200], [100, 101, 100, 300], [0, 10, 20, 30]]])])
    assert detect_kind(f) == "raw"
    sketches, _, _ = convert_quickdraw(f, workers=1)
    assert sketches[0].tolist() == [[0, 0, 0], [128, 0, 0], [0, 255, 1]]


def _pairs(quickdraw_dir: Path):
    for simplified in sorted((quickdraw_dir / "simplified").glob("*.ndjson")):
        raw = quickdraw_dir / "raw" / simplified.name
        if not raw.exists():
            continue
        google = {r.key_id: r for r in read_ndjson(simplified)}
        raws = [r for r in read_ndjson(raw) if r.key_id in google]
        yield simplified.stem, raws, [google[r.key_id] for r in raws]


def test_raw_to_simplified_matches_google_on_every_shared_class(quickdraw_dir):
    classes = drawings = identical = 0
    for name, raws, google in _pairs(quickdraw_dir):
        classes += 1
        ours = quickdraw_simplify(PackedDrawings.from_drawings([r.strokes for r in raws]))
        for raw, mine, theirs in zip(raws, ours.to_drawings(), google, strict=True):
            drawings += 1
            where = f"{name} key_id {raw.key_id}"
            assert len(mine) == len(theirs.strokes), f"{where}: stroke count"
            for a, b in zip(mine, theirs.strokes, strict=True):
                assert np.abs(a[0] - b[0]).max() <= 1, f"{where}: stroke start"
                assert np.abs(a[-1] - b[-1]).max() <= 1, f"{where}: stroke end"
            n_mine = sum(len(s) for s in mine)
            n_theirs = sum(len(s) for s in theirs.strokes)
            assert abs(n_mine - n_theirs) <= 3, f"{where}: {n_mine} vs {n_theirs} points"
            identical += all(a.shape == b.shape and (a == b).all()
                             for a, b in zip(mine, theirs.strokes, strict=True))
        # The file converter gives the same stroke-3 as simplifying record by record.
        from_file, _, _ = convert_quickdraw(quickdraw_dir / "raw" / f"{name}.ndjson", workers=1)
        by_key = {r.key_id: s for r, s in zip(read_ndjson(quickdraw_dir / "raw" / f"{name}.ndjson"),
                                               from_file, strict=True)}
        for raw, s in zip(raws, ours.to_stroke3(zero_first=True), strict=True):
            np.testing.assert_array_equal(by_key[raw.key_id], s)
    assert classes == 11 and drawings == 243
    assert identical >= 0.9 * drawings  # 225 of 243 are point-for-point identical


def test_simplified_files_convert_like_their_points(quickdraw_dir):
    path = quickdraw_dir / "simplified" / "cat.ndjson"
    sketches, words, report = convert_quickdraw(path, workers=1)
    records = list(read_ndjson(path))
    assert report.converted == len(records) == 25 and set(words) == {"cat"}
    for rec, s in zip(records, sketches, strict=True):
        ends = np.cumsum([len(x) for x in rec.strokes]) - 1
        assert np.flatnonzero(s[:, 2]).tolist() == ends.tolist()
        pts = np.concatenate(rec.strokes)
        np.testing.assert_array_equal(np.cumsum(s[:, 0:2], axis=0), pts - pts[0])


def pack_bin_record(rec) -> bytes:
    """The documented .bin layout, written independently of the reader under test."""
    out = struct.pack("<Q2sbIH", int(rec.key_id), rec.countrycode.encode("ascii"),
                      int(rec.recognized), 1488496000, len(rec.strokes))
    for s in rec.strokes:
        xy = np.asarray(s, dtype=np.uint8)
        out += struct.pack("<H", len(xy)) + xy[:, 0].tobytes() + xy[:, 1].tobytes()
    return out


def test_bin_reader_round_trip(quickdraw_dir, tmp_path):
    ndjson = quickdraw_dir / "simplified" / "pig.ndjson"
    records = list(read_ndjson(ndjson))
    path = tmp_path / "pig.bin"
    path.write_bytes(b"".join(pack_bin_record(r) for r in records))
    back = list(read_bin(path))
    assert len(back) == len(records) == 25
    for a, b in zip(records, back, strict=True):
        assert (a.key_id, a.countrycode, a.recognized) == (b.key_id, b.countrycode, b.recognized)
        assert b.word == "pig" and b.timestamp == 1488496000
        for sa, sb in zip(a.strokes, b.strokes, strict=True):
            np.testing.assert_array_equal(sa, sb)
    from_bin, _, _ = convert_quickdraw(path)
    from_ndjson, _, _ = convert_quickdraw(ndjson, workers=1)
    for x, y in zip(from_bin, from_ndjson, strict=True):
        np.testing.assert_array_equal(x, y)
    # A truncated file keeps the whole records before the cut and reports the rest.
    data = path.read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[: len(data) - 7])
    report = Report()
    assert len(list(read_bin(cut, report))) == 24
    assert [p.why for p in report.problems] == ["truncated .bin record"]
    assert report.problems[0].where.startswith("cut.bin@")


BAD_LINES = [
    line([[[0, 10], [0, 10]]]),                      # 1 good
    "{not json",                                     # 2 malformed
    "",                                              # 3 blank: ignored
    "[1, 2, 3]",                                     # 4 not an object
    json.dumps({"word": "x"}),                       # 5 no drawing
    line([]),                                        # 6 empty drawing
    line([[[], []]]),                                # 7 only empty strokes
    '{"drawing": [[[0, NaN], [0, 1]]]}',             # 8 NaN (Python's json accepts it)
    '{"drawing": [[[0, Infinity], [0, 1]]]}',        # 9 infinite
    line([[[0, 1e300], [0, 1]]]),                    # 10 huge
    line([[[0, "a"], [0, 1]]]),                      # 11 non-numeric
    line([[[0, 1, 2], [0, 1]]]),                     # 12 x/y lengths differ
    line([[[5, 10], [5, 20]], [[], []]]),            # 13 good (empty stroke dropped)
    line("nonsense"),                                # 14 drawing not a list
]


@pytest.mark.parametrize("workers, parser", [(1, "default"), (2, "default"), (1, "stdlib")])
def test_malformed_lines_are_skipped_with_line_numbers(tmp_path, monkeypatch, workers, parser):
    if parser == "stdlib":  # the fallback when orjson is not installed: same verdicts
        from sketch_rnn.datasets import quickdraw

        monkeypatch.setattr(quickdraw, "_loads", json.loads)
    f = write_lines(tmp_path / "bad.ndjson", BAD_LINES)
    sketches, _, report = convert_quickdraw(f, kind="simplified", workers=workers, chunk_bytes=200)
    assert len(sketches) == report.converted == 2
    assert sketches[1].tolist() == [[0, 0, 0], [5, 15, 1]]
    got = {p.where: p.why for p in report.problems}
    assert got == {
        "bad.ndjson:2": "malformed JSON",
        "bad.ndjson:4": "line is not a JSON object",
        "bad.ndjson:5": "no 'drawing' field",
        "bad.ndjson:6": "empty drawing (no points)",
        "bad.ndjson:7": "empty drawing (no points)",
        "bad.ndjson:8": "NaN or infinite coordinate",
        "bad.ndjson:9": "NaN or infinite coordinate",
        "bad.ndjson:10": "coordinate beyond +-1e+06",
        "bad.ndjson:11": "non-numeric coordinate",
        "bad.ndjson:12": "stroke x and y lists differ",
        "bad.ndjson:14": "'drawing' is not a list of strokes",
    }
    assert "malformed JSON: 1 (bad.ndjson:2)" in report.summary()


def test_nothing_usable_is_one_clear_error(tmp_path):
    f = write_lines(tmp_path / "junk.ndjson", ["{oops", line([])])
    with pytest.raises(NoUsableDataError, match=r"(?s)no usable drawings.*junk.ndjson:1"):
        convert_inputs([f], workers=1)


def test_parallel_equals_serial_and_limits(quickdraw_dir):
    path = quickdraw_dir / "raw" / "face.ndjson"
    serial, words, _ = convert_quickdraw(path, workers=1)
    parallel, _, _ = convert_quickdraw(path, workers=2, chunk_bytes=5000)
    assert len(serial) == len(parallel) == 31
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
    first, _, report = convert_quickdraw(path, workers=2, chunk_bytes=5000, limit=5)
    assert len(first) == report.converted == 5
    for a, b in zip(first, serial[:5], strict=True):
        np.testing.assert_array_equal(a, b)
    recognised, _, report = convert_quickdraw(path, workers=1, recognized_only=True)
    assert len(recognised) == 27 and report.by_reason() == {
        "not recognized (--recognized_only)": 4}


def test_records_to_stroke3_matches_file_conversion(quickdraw_dir):
    path = quickdraw_dir / "raw" / "owl.ndjson"
    records = list(read_ndjson(path))
    direct = records_to_stroke3(records, "raw")
    from_file, _, _ = convert_quickdraw(path, workers=1)
    for a, b in zip(direct, from_file, strict=True):
        np.testing.assert_array_equal(a, b)


def test_detect_kind(tmp_path):
    screen = write_lines(tmp_path / "screen.ndjson", [line([[[10.5, 800], [3, 640]]])])
    boxed = write_lines(tmp_path / "boxed.ndjson", ["{bad", line([[[0, 255], [3, 64]]])])
    timed = write_lines(tmp_path / "timed.ndjson", [line([[[0, 1], [0, 1], [0, 16]]])])
    assert [detect_kind(p) for p in (screen, boxed, timed)] == ["raw", "simplified", "raw"]
    assert detect_kind(tmp_path / "x.BIN") == "bin"
    sketches, _, _ = convert_quickdraw(screen, workers=1)  # normalised to the 0-255 box
    assert np.abs(np.cumsum(sketches[0][:, 0:2], axis=0)).max() == 255


def test_byte_chunks_cover_every_line_once(tmp_path):
    from sketch_rnn.datasets.quickdraw import _byte_chunks

    lines = [b"a" * n for n in (0, 3, 40, 1, 0, 17, 2)]
    path = tmp_path / "lines.ndjson"
    path.write_bytes(b"\n".join(lines))  # no newline after the last line
    data = path.read_bytes()
    for size in (1, 5, 16, 1000):
        got = []
        for offset, length, first in _byte_chunks(str(path), size):
            piece = data[offset:offset + length].split(b"\n")
            got += [(first + i, line) for i, line in enumerate(piece) if line]
        assert got == [(i + 1, line) for i, line in enumerate(lines) if line], size

"""Turn a mix of input files into labelled int16 stroke-3 sketches (what ``convert`` runs).

Inputs may be files, folders (searched recursively) or glob patterns. By extension:
``.ndjson`` (QuickDraw raw or simplified, told apart automatically), ``.bin`` (QuickDraw binary)
and ``.svg`` (one drawing per file). Class names come from QuickDraw's ``word`` field (the file
name for ``.bin``) and, for SVG files, from the name of the folder holding them.

Every drawing ends up as integer points in a common frame: QuickDraw data is already in its
0-255 box; SVG drawings are fitted to a ``size`` box the same way (or kept in their own units
when ``size`` is None) and rounded.

Example:
    >>> result = convert_inputs(["quickdraw/raw/"], workers=2)  # doctest: +SKIP
    >>> len(result.sketches), result.class_names[:2]  # doctest: +SKIP
    (255, ['bird', 'cat'])
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Sequence
from typing import Literal, TextIO

import numpy as np

from sketch_rnn.datasets.polylines import PackedDrawings
from sketch_rnn.datasets.progress import Progress
from sketch_rnn.datasets.quickdraw import convert_quickdraw
from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.simplify import normalize_drawings
from sketch_rnn.datasets.svg import svg_to_lines

__all__ = ["INPUT_EXTENSIONS", "Converted", "find_inputs", "check_input_files", "convert_svg_files",
           "convert_inputs"]

INPUT_EXTENSIONS = (".ndjson", ".bin", ".svg")

Format = Literal["auto", "raw", "simplified", "bin", "svg"]


@dataclasses.dataclass
class Converted:
    """Converted sketches with a class index each, the class names and the report.

    Example:
        >>> Converted([], [], [], Report()).class_names
        []
    """

    sketches: list[np.ndarray]
    labels: list[int]
    class_names: list[str]
    report: Report


def find_inputs(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Expand folders (recursively) and globs into a sorted, de-duplicated list of input files.

    Example:
        >>> find_inputs([])
        []
    """
    found: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            for root, _, files in os.walk(item):
                found += [os.path.join(root, f) for f in sorted(files)
                          if f.lower().endswith(INPUT_EXTENSIONS)]
        elif os.path.exists(item):
            found.append(item)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FileNotFoundError(f"{item}: no such file, folder or pattern")
            found += [m for m in matches if os.path.isfile(m)]
    seen: set[str] = set()
    return [f for f in found if not (f in seen or seen.add(f))]


def check_input_files(files: Sequence[str | os.PathLike], fmt: Format = "auto") -> None:
    """Refuse, before any reading, files that ``convert`` would misread.

    A ``.npz`` is always refused (it is a finished dataset, not drawings to convert); other
    unknown extensions only when ``fmt`` is ``"auto"`` (a forced format says how to read them).

    Example:
        >>> check_input_files(["sheep.npz"])
        Traceback (most recent call last):
        ...
        ValueError: sheep.npz: .npz is already a dataset; convert takes .ndjson, .bin or .svg files
    """
    takes = "convert takes .ndjson, .bin or .svg files"
    for path in map(os.fspath, files):
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npz":
            raise ValueError(f"{path}: .npz is already a dataset; {takes}")
        if fmt == "auto" and suffix not in INPUT_EXTENSIONS:
            raise ValueError(f"{path}: unknown input type {suffix or '(no extension)'}; {takes} "
                             "(or force its format with --format)")


def convert_svg_files(paths: Sequence[str], *, size: float | None = 255.0, tolerance: float = 0.5,
                      zero_first: bool = True, report: Report | None = None,
                      progress: Progress | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Convert SVG files (one drawing each) to int16 stroke-3; unreadable files are reported.

    Returns the sketches and each one's class (the folder name).

    Example:
        >>> sketches, classes = convert_svg_files(["feather/star.svg"])  # doctest: +SKIP
    """
    report = report if report is not None else Report()
    drawings: list[list[np.ndarray]] = []
    classes: list[str] = []
    used: list[str] = []
    for path in paths:
        try:
            lines, _ = svg_to_lines(path, tolerance=tolerance, size=size, report=report)
        except (ValueError, OSError) as e:  # NoUsableDataError is a ValueError
            name = os.path.basename(path)
            why = str(e).split("; ")[0].removeprefix(f"{name}: ")
            report.skip(name, why)
            continue
        finally:
            if progress is not None:
                progress.update()
        drawings.append(lines)
        used.append(path)
        classes.append(os.path.basename(os.path.dirname(os.path.abspath(path))))
    if not drawings:
        return [], []
    batch = PackedDrawings.from_drawings(drawings)
    if size is not None:
        batch = normalize_drawings(batch, size)
    sketches, kept = [], []
    for i in range(len(batch)):  # per drawing, so one overflow only drops that drawing
        try:
            sketches.append(batch.take([i]).to_stroke3(zero_first=zero_first)[0])
            kept.append(classes[i])
        except OverflowError:
            report.skip(os.path.basename(used[i]), "coordinates beyond int16 (use a size)")
    return sketches, kept


def convert_inputs(
    inputs: Sequence[str | os.PathLike],
    *,
    fmt: Format = "auto",
    size: float | None = 255.0,
    tolerance: float = 0.5,
    zero_first: bool = True,
    quickdraw_epsilon: float = 2.0,
    recognized_only: bool = False,
    limit: int | None = None,
    workers: int | None = None,
    progress_stream: TextIO | None = None,
) -> Converted:
    """Convert every input into int16 stroke-3 sketches with class labels.

    Args:
        inputs: files, folders or globs (see :func:`find_inputs`).
        fmt: force one format; ``"auto"`` goes by extension and content.
        size: SVG drawings are fitted to a ``size`` box (None keeps SVG units).
        tolerance: SVG curve tolerance in output units.
        zero_first: first offset of every sketch ``(0, 0)``, as in the standard files.
        quickdraw_epsilon: RDP tolerance of the raw QuickDraw simplification.
        recognized_only: drop QuickDraw drawings the game did not recognise.
        limit: at most this many drawings per QuickDraw file.
        workers: processes for QuickDraw ndjson (default: CPU count).
        progress_stream: where progress lines go (None: silent).

    Raises:
        NoUsableDataError: no drawing could be converted.
        ValueError: an input :func:`check_input_files` refuses (before anything is read).

    Example:
        >>> convert_inputs([])
        Traceback (most recent call last):
        ...
        sketch_rnn.datasets.report.NoUsableDataError: no input files given
    """
    files = find_inputs(inputs)
    if not files:
        raise NoUsableDataError("no input files given")
    check_input_files(files, fmt)
    report = Report()
    sketches: list[np.ndarray] = []
    names: list[str] = []
    svgs = [f for f in files if fmt == "svg" or (fmt == "auto" and f.lower().endswith(".svg"))]
    others = [f for f in files if f not in set(svgs)]
    for path in others:
        kind = fmt if fmt != "svg" else "auto"
        progress = Progress(os.path.basename(path), stream=progress_stream)
        s, words, _ = convert_quickdraw(
            path, kind=kind, zero_first=zero_first, epsilon=quickdraw_epsilon,
            recognized_only=recognized_only, limit=limit, workers=workers, progress=progress,
            report=report)
        progress.close()
        stem = os.path.splitext(os.path.basename(path))[0]
        sketches += s
        names += [w or stem for w in words]
    if svgs:
        progress = Progress("svg", total=len(svgs), stream=progress_stream, unit="files")
        s, classes = convert_svg_files(svgs, size=size, tolerance=tolerance,
                                       zero_first=zero_first, report=report, progress=progress)
        progress.close()
        sketches += s
        names += classes
    report.converted = len(sketches)
    report.require_some()
    class_names = list(dict.fromkeys(names))  # first-appearance order
    index = {c: i for i, c in enumerate(class_names)}
    return Converted(sketches, [index[c] for c in names], class_names, report)

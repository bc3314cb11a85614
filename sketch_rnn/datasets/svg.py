"""SVG line art -> polylines -> stroke-3.

Parsing uses `svgelements <https://pypi.org/project/svgelements/>`_. It was picked over
``svg.path`` because it reads whole documents, not only path data: basic shapes (rect with
rounded corners, circle, ellipse, line, polyline, polygon), nested ``transform`` attributes,
``<use>`` references, ``viewBox``, CSS styles and ``display: none`` all come resolved, so none of
that is hand-parsed here. It is pure Python, has no dependencies, and handles every path
command (absolute and relative lines, cubic and quadratic Béziers with their smooth forms,
elliptical arcs, several subpaths, ``z``).

Conversion rules:

* Every visible shape is drawn in document order; each subpath is one stroke. Straight segments
  keep their exact vertices. Curves (Béziers and arcs) are sampled densely and simplified with
  RDP to ``tolerance``, so they deviate from the true curve by about ``tolerance`` at most.
* Invisible shapes (no stroke, and no fill or a white one, e.g. a background rectangle),
  ``<text>``, ``<image>`` and unknown elements are skipped and listed in the report by id.
* A moveto that draws nothing, inside a path that does draw, is a one-point stroke: that is
  how Sketch-RNN's ``draw_strokes`` writes a pen-up step. When the first path starts with such a
  moveto followed by another one (``M25,25 m...``, the ``draw_strokes`` layout), that first
  point is the pen's origin, and the first stroke-3 row is measured from it, so SVGs written by
  :func:`sketch_rnn.draw.draw_svg` come back as the stroke-3 they were drawn from. Otherwise
  the first row is measured from the SVG origin ``(0, 0)``.

Example:
    >>> svg = '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 l10 0 m0 5 l-10 0"/></svg>'
    >>> svg_to_strokes(svg).tolist()
    [[0.0, 0.0, 0.0], [10.0, 0.0, 1.0], [0.0, 5.0, 0.0], [-10.0, 0.0, 1.0]]
"""

from __future__ import annotations

import io
import math
import os
import pyexpat
import re
import warnings
import xml.etree.ElementTree as ET
from typing import IO, Any

import numpy as np
import svgelements as se

from sketch_rnn.datasets.polylines import PackedDrawings
from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.simplify import normalize_drawings, rdp_mask
from sketch_rnn.strokes import lines_to_strokes

__all__ = ["SvgSource", "svg_to_lines", "svg_to_strokes"]

SvgSource = str | bytes | os.PathLike | IO[Any]

# Beyond this an SVG coordinate is treated as corrupt (same bound as QuickDraw's).
MAX_ABS_COORD = 1.0e6

# Deepest element nesting read (svgelements recurses once per level; drawings nest a few deep).
MAX_DEPTH = 256
# expat caps entity expansion ("billion laughs") from 2.4.1 on; before that, entities are refused.
_EXPAT_LIMITS_ENTITIES = pyexpat.version_info >= (2, 4, 1)

# Curve samples: about ``_OVERSAMPLE`` per tolerance of control-polygon length, then RDP.
_OVERSAMPLE = 2.0
_MAX_SAMPLES = 20000

# Elements that carry no geometry of their own and are skipped silently.
_SILENT_TAGS = {
    "svg", "g", "defs", "title", "desc", "metadata", "style", "symbol", "use", "switch", "a",
    "clipPath", "mask", "marker", "pattern", "linearGradient", "radialGradient", "stop",
    "filter", "script", "view", "animate", "animateTransform", "animateMotion", "set",
    "foreignObject", "font", "font-face", "glyph", "missing-glyph", "cursor",
}
# Skips the conversion rules make on purpose (see the module docstring), as their reasons start.
_BY_DESIGN = ("text ignored", "image ignored", "invisible", "unknown element", "draws nothing")
_SHAPES = (se.Path, se.Rect, se.Circle, se.Ellipse, se.SimpleLine, se.Polyline, se.Polygon)


def _read(source: SvgSource) -> tuple[str | bytes, str]:
    """The text of ``source`` and a name for messages."""
    if isinstance(source, bytes):
        return source, "<svg bytes>"
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return source, "<svg text>"
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        with open(path, "rb") as f:
            return f.read(), os.path.basename(path)
    return source.read(), str(getattr(source, "name", "<svg stream>"))


def _prescan(data: str | bytes, name: str) -> None:
    """Refuse, with a message naming the file, what would crash or exhaust the parser below:
    elements nested deeper than :data:`MAX_DEPTH` (svgelements recurses once per level) and,
    where this Python's expat cannot cap entity expansion, entity declarations (a few hundred
    bytes of nested entities expand to gigabytes: "billion laughs"). A streaming pass: nothing
    here recurses or keeps the tree."""
    parser = pyexpat.ParserCreate()
    depth = 0

    def start(tag: str, attrs: Any) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"{name}: elements nested more than {MAX_DEPTH} deep (line "
                             f"{parser.CurrentLineNumber}); no drawing needs that many")

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1

    def entity(entity_name: str, *args: Any) -> None:
        raise ValueError(f"{name}: declares the XML entity {entity_name!r}, refused: this Python's XML "
                         f"parser ({pyexpat.EXPAT_VERSION}) has no limit on entity expansion")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    if not _EXPAT_LIMITS_ENTITIES:
        parser.EntityDeclHandler = entity
    try:
        parser.Parse(data, True)
    except pyexpat.ExpatError as e:
        raise ValueError(f"{name}: not an SVG document ({e})") from None


_PATH_COMMANDS = {"m": 2, "l": 2, "t": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "a": 7, "z": 0}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_FLAG = re.compile(r"[01]")
_SEPARATORS = re.compile(r"[\s,]*")


def _path_data_error(d: str) -> str | None:
    """What is wrong with path data ``d`` by the SVG grammar (a command letter, then whole sets of
    its numbers; the first command a moveto), or None. svgelements draws what it can of a
    malformed ``d`` and drops the rest unsaid, as a browser's renderer does; a converter should
    say so instead."""
    pos = _SEPARATORS.match(d, 0).end()
    first = True
    while pos < len(d):
        cmd, at = d[pos], pos
        if cmd.lower() not in _PATH_COMMANDS:
            return f"malformed path data: {d[pos:pos + 12]!r} at character {pos} is not a command"
        if first and cmd not in "Mm":
            return f"malformed path data: it starts with {cmd!r}, not a moveto (M or m)"
        first = False
        pos = _SEPARATORS.match(d, pos + 1).end()
        count = _PATH_COMMANDS[cmd.lower()]
        sets = 0
        while count:
            for i in range(count):
                token = (_FLAG if cmd in "Aa" and i in (3, 4) else _NUMBER).match(d, pos)
                if token is None:
                    break
                pos = _SEPARATORS.match(d, token.end()).end()
            else:
                sets += 1
                continue
            if i or not sets:
                needs = "a number" if count == 1 else f"{count} numbers (or a multiple)"
                found = f"{d[pos:pos + 12]!r} at character {pos}" if pos < len(d) else "the end"
                return f"malformed path data: {cmd!r} at character {at} needs {needs}, found {found}"
            break
    return None


def _singular(element: Any) -> bool:
    """Whether the element's transform (its own and its ancestors') collapses it to a line or a
    point: every drawing would come out flat or all zeros."""
    m = element.transform
    det = m.a * m.d - m.b * m.c
    return not (math.isfinite(det) and det != 0)


def _tag(element: Any) -> str:
    tag = str(getattr(element, "values", {}).get("tag", type(element).__name__))
    return tag.split("}")[-1]


def _visible(color: Any) -> bool:
    return color is not None and color.value is not None and color.alpha > 0


def _is_drawn(shape: se.Shape) -> bool:
    stroked = _visible(shape.stroke) and (shape.stroke_width is None or shape.stroke_width > 0)
    filled = _visible(shape.fill) and shape.fill.hex[:7].lower() != "#ffffff"
    return stroked or filled


def _curve_points(segment: se.PathSegment, tolerance: float) -> np.ndarray:
    """Points along a curve after its start, simplified to ``tolerance``."""
    if isinstance(segment, se.Arc):
        radius = max(abs(segment.rx or 0), abs(segment.ry or 0))
        approx_len = abs(segment.sweep or 0) * radius
    else:
        ctrl = [segment.start]
        ctrl += [p for p in (getattr(segment, "control", None),
                             getattr(segment, "control1", None),
                             getattr(segment, "control2", None)) if p is not None]
        ctrl.append(segment.end)
        approx_len = sum(abs(complex(*b) - complex(*a)) for a, b in zip(ctrl[:-1], ctrl[1:], strict=True))
    n = int(min(_MAX_SAMPLES, max(2, math.ceil(_OVERSAMPLE * approx_len / tolerance))))
    pts = np.asarray(segment.npoint(np.linspace(0.0, 1.0, n + 1)), dtype=np.float64)
    pts[0] = (segment.start.x, segment.start.y)
    pts[-1] = (segment.end.x, segment.end.y)  # exact end points, so joins stay shared
    return pts[rdp_mask(pts, tolerance)][1:]


def _subpaths(path: se.Path, tolerance: float) -> list[list[np.ndarray]]:
    """Subpaths of a reified path as lists of point blocks (a bare moveto is one point)."""
    subpaths: list[list[np.ndarray]] = []
    current: list[np.ndarray] | None = None
    for seg in path:
        if isinstance(seg, se.Move):
            current = [np.array([[seg.end.x, seg.end.y]], dtype=np.float64)]
            subpaths.append(current)
            continue
        if current is None:  # drawing before any moveto: start at the segment's start
            start = seg.start if seg.start is not None else seg.end
            current = [np.array([[start.x, start.y]], dtype=np.float64)]
            subpaths.append(current)
        if isinstance(seg, se.Line | se.Close):
            if seg.end is None:
                continue
            end = np.array([[seg.end.x, seg.end.y]], dtype=np.float64)
            # A close that is already back at its start point adds nothing.
            if isinstance(seg, se.Close) and np.array_equal(end, current[-1][-1:]):
                continue
            current.append(end)
        else:
            current.append(_curve_points(seg, tolerance))
    return subpaths


def _where(name: str, element: Any, index: int) -> str:
    ident = getattr(element, "id", None)
    return f"{name}#{ident}" if ident else f"{name}:<{_tag(element)}>[{index}]"


def _shapes(source: SvgSource, report: Report) -> tuple[list[tuple[str, se.Path]], str]:
    """Parse and return the visible shapes as reified paths, with the document's name."""
    data, name = _read(source)
    _prescan(data, name)
    try:
        # Not reified: each element keeps its cumulative transform, checked below.
        doc = se.SVG.parse(io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data), reify=False)
    except (ET.ParseError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{name}: not an SVG document ({e})") from None
    if not isinstance(doc, se.SVG):
        raise ValueError(f"{name}: not an SVG document (root element is <{_tag(doc)}>)")
    shapes = []
    for i, element in enumerate(doc.elements()):
        where = _where(name, element, i)
        if isinstance(element, se.Text):
            report.skip(where, "text ignored")
        elif isinstance(element, se.Image):
            report.skip(where, "image ignored")
        elif isinstance(element, _SHAPES):
            if not _is_drawn(element):
                report.skip(where, "invisible (no stroke, no or white fill)")
                continue
            problem = isinstance(element, se.Path) and _path_data_error(str(element.values.get("d", "")))
            if problem:
                report.skip(where, problem)
                continue
            if _singular(element):
                m = element.transform
                report.skip(where, f"degenerate transform matrix({m.a:g} {m.b:g} {m.c:g} {m.d:g} {m.e:g} "
                                   f"{m.f:g}): singular, it flattens the shape")
                continue
            try:
                shapes.append((where, abs(se.Path(element))))
            except (ValueError, TypeError, ZeroDivisionError) as e:
                report.skip(where, f"unreadable geometry ({e})")
        elif _tag(element) not in _SILENT_TAGS and not isinstance(element, se.Group | se.Use):
            report.skip(where, f"unknown element <{_tag(element)}>")
    return shapes, name


def _bbox_extent(shapes: list[tuple[str, se.Path]]) -> float:
    boxes = [b for _, p in shapes if (b := p.bbox()) is not None]
    if not boxes:
        return 0.0
    arr = np.array(boxes, dtype=np.float64)
    arr = arr[np.isfinite(arr).all(axis=1)]
    if not len(arr):
        return 0.0
    return float(max(arr[:, 2].max() - arr[:, 0].min(), arr[:, 3].max() - arr[:, 1].min()))


def svg_to_lines(source: SvgSource, *, tolerance: float = 0.5, size: float | None = None,
                 report: Report | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """An SVG's strokes as absolute ``(n, 2)`` polylines, plus the pen origin.

    Args:
        source: a file path, SVG text (starting with ``<``), bytes or a binary stream.
        tolerance: how far sampled curves may stray from the true curve, in SVG user units,
            or in output units when ``size`` is given.
        size: only used to interpret ``tolerance`` (see :func:`svg_to_strokes`).
        report: receives skipped elements (``file#id``) and ``converted`` += 1.

    Returns:
        ``(lines, origin)``; ``origin`` is ``(0, 0)`` or the leading ``draw_strokes`` moveto.

    Raises:
        ValueError: not an SVG document.
        NoUsableDataError: nothing drawable in it.

    Example:
        >>> svg = '<svg><line x1="0" y1="0" x2="3" y2="4" stroke="black"/></svg>'
        >>> lines, origin = svg_to_lines(svg)
        >>> [line.tolist() for line in lines], origin.tolist()
        ([[[0.0, 0.0], [3.0, 4.0]]], [0.0, 0.0])
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    local = Report()
    shapes, name = _shapes(source, local)
    if size is not None and shapes:
        extent = _bbox_extent(shapes)
        if extent > 0 and math.isfinite(extent):
            tolerance = tolerance * extent / size
    lines: list[np.ndarray] = []
    origin = np.zeros(2)
    first_path = True
    for where, path in shapes:
        subpaths = _subpaths(path, tolerance)
        blocks = [np.concatenate(sp) for sp in subpaths]
        if not any(len(b) > 1 for b in blocks):
            local.skip(where, "draws nothing (no segments)")
            continue
        pts = np.concatenate(blocks)
        if not np.isfinite(pts).all():
            local.skip(where, "NaN or infinite coordinate")
            continue
        if np.abs(pts).max() > MAX_ABS_COORD:
            local.skip(where, f"coordinate beyond +-{MAX_ABS_COORD:g}")
            continue
        if first_path and len(blocks) > 1 and len(blocks[0]) == 1:
            origin = blocks[0][0].copy()
            blocks = blocks[1:]
        first_path = False
        lines.extend(blocks)
    if report is not None:  # skipped elements are worth listing even when all fail
        report.problems.extend(local.problems)
    if not lines:
        raise NoUsableDataError(f"{name}: nothing drawable; {local.summary()}")
    if report is not None:
        report.converted += 1
    elif defects := [p for p in local.problems if not p.why.startswith(_BY_DESIGN)]:
        # No report to list them in: broken input is said here rather than lost (what the rules
        # above skip by design, a background rectangle or a title, is not news).
        warnings.warn(f"{name}: skipped {len(defects)} broken element(s), the first {defects[0].where}: "
                      f"{defects[0].why}", stacklevel=3)
    return lines, origin


def svg_to_strokes(source: SvgSource, *, tolerance: float = 0.5, epsilon: float = 0.0,
                   size: float | None = None, report: Report | None = None) -> np.ndarray:
    """An SVG drawing as one float64 stroke-3 array.

    Args:
        source: see :func:`svg_to_lines`.
        tolerance: curve sampling tolerance (see :func:`svg_to_lines`).
        epsilon: extra RDP on every stroke (0: none; straight vertices are then kept exactly).
        size: when given, the drawing is shifted to a minimum of 0 and scaled uniformly so its
            larger side is ``size`` (QuickDraw's 0-255 box for ``size=255``), before RDP.
        report: receives skipped elements.

    Example:
        >>> svg = '<svg><rect x="1" y="1" width="2" height="1" stroke="black" fill="none"/></svg>'
        >>> svg_to_strokes(svg, size=4).tolist()
        [[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 2.0, 0.0], [-4.0, 0.0, 0.0], [0.0, -2.0, 1.0]]
    """
    lines, origin = svg_to_lines(source, tolerance=tolerance, size=size, report=report)
    batch = PackedDrawings.from_drawings([lines])
    if size is not None:
        batch = normalize_drawings(batch, size)
        origin = np.zeros(2)
    if epsilon > 0:
        batch = batch.select(rdp_mask(batch.points, epsilon, batch.stroke_lengths))
    strokes = lines_to_strokes(batch.to_drawings()[0]).astype(np.float64)
    strokes[0, 0:2] -= origin  # offsets after the first are differences of unshifted points
    return strokes

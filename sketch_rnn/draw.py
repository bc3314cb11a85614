"""Rendering stroke-3 sketches: SVG text (svgwrite), PNG images (Pillow) and inline notebook display.

:func:`draw_svg` writes the same path as the Sketch-RNN notebook's ``draw_strokes``: one ``<path>``
that starts at ``M25,25`` shifted by the sketch's bounds and continues with relative ``m`` (pen up)
and ``l`` (pen down) commands, every offset divided by ``factor``. :func:`grid_svg` lays several
sketches out on a grid, :func:`strip_svg` in one row (an interpolation strip) and
:func:`scatter_svg` at given 2-D positions (a PCA or t-SNE map of latent codes).

Every ``*_svg`` function returns an :class:`SVG`: the document text (a ``str``) that also keeps the
polylines it draws, so it rasterises to PNG with Pillow (no SVG renderer, no cairo), saves by file
suffix (:func:`save`) and shows itself inline in Jupyter. ``color_by_stroke`` colours the strokes of
each sketch in drawing order: ``True`` / ``"palette"`` cycles through :data:`PALETTE`, ``"hsv"`` is a
hue ramp from red (first stroke) to violet (last), distinct for any number of strokes.

Units: ``factor=0.2`` (the notebook's default, 5 px per unit) suits sketches in *model* units,
i.e. normalised by the dataset scale factor (offsets around 1). Raw dataset units (aaron_sheep
pixels, ~18 px per point) need a bigger factor, e.g. ``factor=1`` or ``0.2 * scale_factor``.
:func:`scatter_svg` scales the sketches to its cells itself, so any units work there.

Example:
    >>> import numpy as np
    >>> svg = draw_svg(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), factor=1)
    >>> 'd="M25,25 m1.0,0.0 l0.0,1.0 "' in svg
    True
    >>> svg.png(size=64)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import colorsys
import io
import math
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import svgwrite
from numpy.typing import ArrayLike

from sketch_rnn.files import atomic_output, atomic_write_text
from sketch_rnn.strokes import _as_stroke3, get_bounds

__all__ = [
    "PALETTE",
    "SVG",
    "draw_png",
    "draw_svg",
    "grid_strokes",
    "grid_svg",
    "save",
    "save_svg",
    "scatter_svg",
    "show",
    "strip_svg",
]

# Colours cycled through by ``color_by_stroke=True`` (matplotlib's tab10).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
COLOR_SCHEMES = ("palette", "hsv")
# Largest PNG rendered (pixels): a grid of pixel-unit sketches at factor 0.2 would otherwise ask
# Pillow for gigapixel images; pass ``size=`` to fit such a picture into a smaller one.
MAX_PNG_PIXELS = 50_000_000
# PNGs are drawn this many times larger and box-filtered down: Pillow's lines are not anti-aliased.
SUPERSAMPLE = 3
LABEL_HEIGHT = 16  # px below a strip for its labels


class _Scene(NamedTuple):
    """What an SVG draws, in its pixel coordinates: polylines with their colours, and text."""

    width: float
    height: float
    lines: tuple[np.ndarray, ...]  # each [k, 2] float64
    colors: tuple[str, ...]
    stroke_width: float
    labels: tuple[tuple[float, float, str], ...] = ()


class SVG(str):
    """An SVG document (a ``str``) that also keeps its polylines: it rasterises to PNG with
    :meth:`png`, saves by suffix with :meth:`save`, and Jupyter shows it inline
    (``_repr_svg_`` / ``_repr_png_``).

    Example:
        >>> svg = draw_svg([[0, 0, 0], [5, 5, 1]], factor=1)
        >>> isinstance(svg, str), svg.width, svg.height
        (True, 55.0, 55.0)
        >>> svg.image(size=(40, 20)).size
        (40, 20)
    """

    scene: _Scene

    def __new__(cls, text: str, scene: _Scene) -> SVG:
        obj = super().__new__(cls, text)
        obj.scene = scene
        return obj

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        # IPython's text form (also stored in notebooks): a short tag, not the whole document again.
        printer.text(f"<SVG {self.width:g}x{self.height:g}>")

    @property
    def width(self) -> float:
        return self.scene.width

    @property
    def height(self) -> float:
        return self.scene.height

    def image(self, size: int | tuple[int, int] | None = None, background: str = "white"):
        """The picture as a ``PIL.Image`` (RGB).

        ``size``: ``None`` for the SVG's own size (rounded up), an int for the longer side, or
        ``(width, height)``: the picture is scaled uniformly to fit and centred.
        """
        return _rasterise(self.scene, size, background)

    def png(self, size: int | tuple[int, int] | None = None, background: str = "white") -> bytes:
        """PNG file contents (see :meth:`image` for ``size``)."""
        buf = io.BytesIO()
        self.image(size, background).save(buf, format="PNG")
        return buf.getvalue()

    def save(self, path: str | os.PathLike, size: int | tuple[int, int] | None = None) -> None:
        """Write to ``path`` as ``.svg`` or ``.png`` by its suffix (see :func:`save`)."""
        save(self, path, size=size)

    def _repr_svg_(self) -> str:
        return str(self)

    def _repr_png_(self) -> bytes:
        return self.png()


# ---------------------------------------------------------------------------------------------
# colours and strokes


def _scheme(color_by_stroke: bool | str, by_stroke_color: bool | str = False) -> str | None:
    """The colour scheme asked for (``None``: one colour); ``by_stroke_color`` is the old name."""
    choice = color_by_stroke or by_stroke_color
    if choice is False or choice is None:
        return None
    if choice is True:
        return "palette"
    if choice in COLOR_SCHEMES:
        return choice
    raise ValueError(f"color_by_stroke={choice!r}: expected True, False or one of {COLOR_SCHEMES}")


def _ramp(scheme: str, index: np.ndarray, count: np.ndarray) -> list[str]:
    """Colour of stroke ``index`` out of ``count`` strokes of its sketch."""
    if scheme == "palette":
        return [PALETTE[i % len(PALETTE)] for i in index.tolist()]
    # Hue from red to violet (0 .. 0.8), not back round to red: first and last stay distinct.
    hue = 0.8 * index / np.maximum(count - 1, 1)
    rgb = [colorsys.hsv_to_rgb(h, 0.9, 0.85) for h in hue.tolist()]
    return ["#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in col)) for col in rgb]


def _stroke_spans(pen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row ranges ``[start, end)`` of the strokes: a stroke starts with the (pen-up) move after a
    lift, or the first row, and runs up to and including the next lifted row."""
    if not len(pen):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], pen[:-1] == 1]))
    return starts, np.append(starts[1:], len(pen))


def _stroke_colors(
    scheme: str | None, color: str, starts: np.ndarray, sketch_starts: np.ndarray | None = None
) -> list[str]:
    """One colour per stroke; numbering restarts at every sketch (rows ``sketch_starts``)."""
    if scheme is None:
        return [color] * len(starts)
    if sketch_starts is None or not len(sketch_starts):
        sketch_of = np.zeros(len(starts), np.int64)
    else:
        sketch_of = np.searchsorted(sketch_starts, starts, side="right") - 1
    first = np.searchsorted(sketch_of, sketch_of, side="left")  # strokes are in sketch order
    count = np.bincount(sketch_of, minlength=sketch_of.max(initial=0) + 1)[sketch_of]
    return _ramp(scheme, np.arange(len(starts)) - first, count)


def _placed_lines(s: np.ndarray, origin: ArrayLike, factor: float) -> list[np.ndarray]:
    """Absolute polylines (one per stroke) of stroke-3 ``s`` drawn from ``origin``, offsets divided
    by ``factor`` (as :func:`draw_svg` divides them, so both give the same numbers)."""
    pos = np.asarray(origin, np.float64) + np.cumsum(s[:, 0:2].astype(np.float64) / factor, axis=0)
    starts, ends = _stroke_spans(s[:, 2])
    return [pos[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


# ---------------------------------------------------------------------------------------------
# SVG documents


def _drawing(width: float, height: float) -> svgwrite.Drawing:
    dims = (width, height)
    dwg = svgwrite.Drawing(size=dims, debug=False)
    dwg.add(dwg.rect(insert=(0, 0), size=dims, fill="white"))
    return dwg


def _to_string(dwg: svgwrite.Drawing) -> str:
    buf = io.StringIO()
    dwg.write(buf)
    return buf.getvalue()


def _commands(pen: np.ndarray) -> list[str]:
    """The notebook's command letters: ``m`` after a pen lift, then ``l``, ``""``, ``l``, ...

    (it writes ``l`` on every other pen-down point and relies on SVG's implicit repetition).
    """
    n = len(pen)
    idx = np.arange(n)
    after_lift = np.ones(n, dtype=bool)
    after_lift[1:] = pen[:-1] == 1
    run = idx - np.maximum.accumulate(np.where(after_lift, idx, 0)) - 1
    letters = np.where(after_lift, "m", np.where(run % 2 == 0, "l", ""))
    return letters.tolist()


def _draw(
    s: np.ndarray,
    factor: float,
    stroke_width: float,
    color: str,
    scheme: str | None,
    sketch_starts: np.ndarray | None = None,
) -> SVG:
    """The notebook's ``draw_strokes`` document for stroke-3 ``s`` (see :func:`draw_svg`)."""
    if not factor > 0:
        raise ValueError(f"factor={factor}: must be > 0")
    min_x, max_x, min_y, max_y = get_bounds(s, factor)
    width, height = 50 + max_x - min_x, 50 + max_y - min_y
    dwg = _drawing(width, height)
    # The notebook prints the start as "M25,25" unless the path goes left of / above the origin.
    start_x = 25 if min_x == 0 else 25 - min_x
    start_y = 25 if min_y == 0 else 25 - min_y
    xs = (s[:, 0].astype(np.float64) / factor).tolist()
    ys = (s[:, 1].astype(np.float64) / factor).tolist()
    lines = _placed_lines(s, (start_x, start_y), factor)
    starts, ends = _stroke_spans(s[:, 2])
    colors = _stroke_colors(scheme, color, starts, sketch_starts)
    scene = _Scene(width, height, tuple(lines), tuple(colors), stroke_width)
    if scheme is None:
        cmds = _commands(s[:, 2])
        d = f"M{start_x},{start_y} " + "".join(f"{c}{x},{y} " for c, x, y in zip(cmds, xs, ys, strict=True))
        dwg.add(dwg.path(d).stroke(color, stroke_width).fill("none"))
        return SVG(_to_string(dwg), scene)
    # One path per stroke: ``M`` to the stroke's first point, then relative ``l`` offsets.
    for a, b, line, col in zip(starts.tolist(), ends.tolist(), lines, colors, strict=True):
        d = f"M{line[0, 0]},{line[0, 1]} "
        if b > a + 1:
            d += "l" + "".join(f"{x},{y} " for x, y in zip(xs[a + 1 : b], ys[a + 1 : b], strict=True))
        dwg.add(dwg.path(d).stroke(col, stroke_width).fill("none"))
    return SVG(_to_string(dwg), scene)


def _scene_svg(scene: _Scene, owners: Sequence[int]) -> SVG:
    """An SVG of ``scene`` with absolute coordinates: consecutive lines of one sketch (``owners``)
    in one colour share a ``<path>`` (so an uncoloured sketch is one path, a coloured one a path
    per stroke)."""
    dwg = _drawing(scene.width, scene.height)
    groups: list[tuple[int, str, list[np.ndarray]]] = []
    for line, col, owner in zip(scene.lines, scene.colors, owners, strict=True):
        if groups and groups[-1][0] == owner and groups[-1][1] == col:
            groups[-1][2].append(line)
        else:
            groups.append((owner, col, [line]))
    for _, col, lines in groups:
        parts = []
        for line in lines:
            pts = [f"{x:.2f},{y:.2f}" for x, y in np.round(line, 2).tolist()]
            parts.append(f"M{pts[0]}" + (" L" + " ".join(pts[1:]) if len(pts) > 1 else ""))
        dwg.add(dwg.path(" ".join(parts)).stroke(col, scene.stroke_width).fill("none"))
    for x, y, text in scene.labels:
        dwg.add(
            dwg.text(
                text, insert=(x, y), text_anchor="middle", font_size=11, font_family="sans-serif", fill="#444"
            )
        )
    return SVG(_to_string(dwg), scene)


def _sketches(sketches: Sequence[ArrayLike], what: str) -> list[np.ndarray]:
    return [_as_stroke3(s, f"{what}: sketch {i}").astype(np.float64) for i, s in enumerate(sketches)]


def _boxes(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bounding-box centres and extents ``[n, 2]`` of the sketches' points (zeros when empty)."""
    centre = np.zeros((len(arrays), 2))
    extent = np.zeros((len(arrays), 2))
    for i, a in enumerate(arrays):
        if len(a):
            pos = np.cumsum(a[:, 0:2], axis=0)
            lo, hi = pos.min(axis=0), pos.max(axis=0)
            centre[i], extent[i] = (lo + hi) / 2, hi - lo
    return centre, extent


def _centred_scene(
    arrays: list[np.ndarray],
    centres_px: np.ndarray,
    scale: float,
    width: float,
    height: float,
    stroke_width: float,
    color: str,
    scheme: str | None,
    labels: tuple[tuple[float, float, str], ...] = (),
) -> SVG:
    """Each sketch scaled by ``scale`` (px per unit) with its bounding box centred on its point."""
    box_centre, _ = _boxes(arrays)
    lines, colors, owners = [], [], []
    for i, (a, c, bc) in enumerate(zip(arrays, centres_px, box_centre, strict=True)):
        placed = _placed_lines(a, c - bc * scale, 1.0 / scale)
        starts, _ = _stroke_spans(a[:, 2])
        lines += placed
        colors += _stroke_colors(scheme, color, starts)
        owners += [i] * len(placed)
    scene = _Scene(width, height, tuple(lines), tuple(colors), stroke_width, labels)
    return _scene_svg(scene, owners)


# ---------------------------------------------------------------------------------------------
# public drawing functions


def draw_svg(
    strokes3: ArrayLike,
    factor: float = 0.2,
    stroke_width: float = 1,
    color: str = "black",
    by_stroke_color: bool | str = False,
    *,
    color_by_stroke: bool | str = False,
) -> SVG:
    """One sketch as an SVG document (the notebook's ``draw_strokes``).

    The canvas is the sketch's bounds (divided by ``factor``) plus a 25 px margin on each side,
    on a white ``<rect>``. With ``color_by_stroke`` (``True``/``"palette"`` or ``"hsv"``; the
    older name ``by_stroke_color`` still works) every stroke becomes its own ``<path>``
    (``M x,y l ...``) coloured by its order; otherwise one path in ``color``, as the notebook.

    Example:
        >>> svg = draw_svg([[0, 0, 0], [5, 0, 1]], factor=1)
        >>> svg.startswith('<?xml')
        True
        >>> draw_svg([[0, 0, 0], [5, 0, 1], [0, 5, 1]], color_by_stroke="hsv").count("<path")
        2
    """
    s = _as_stroke3(strokes3, "draw_svg")
    return _draw(s, factor, stroke_width, color, _scheme(color_by_stroke, by_stroke_color))


def draw_png(
    strokes3: ArrayLike,
    factor: float = 0.2,
    *,
    size: int | tuple[int, int] | None = None,
    stroke_width: float = 1,
    color: str = "black",
    color_by_stroke: bool | str = False,
) -> bytes:
    """One sketch as PNG bytes: :func:`draw_svg`'s picture, rasterised with Pillow.

    ``size``: ``None`` keeps :func:`draw_svg`'s canvas (bounds / ``factor`` + margins), an int
    sets the longer side, ``(width, height)`` the exact image size (the sketch is scaled to fit
    and centred).

    Example:
        >>> png = draw_png([[0, 0, 0], [5, 0, 1]], factor=0.1, size=(32, 32))
        >>> png[:4]
        b'\\x89PNG'
    """
    return draw_svg(strokes3, factor, stroke_width, color, color_by_stroke=color_by_stroke).png(size)


def _grid_layout(
    sketches: Sequence[ArrayLike], ncols: int | None, cell_size: float | tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grid_strokes` plus the row count of every sketch kept in the joined array."""
    arrays = _sketches(sketches, "grid_strokes")
    if not arrays:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    ncols = ncols or math.ceil(math.sqrt(len(arrays)))
    positions = [np.cumsum(a[:, 0:2], axis=0) for a in arrays]
    if cell_size is None:
        extent = np.max([p.max(axis=0) - p.min(axis=0) for p in positions if len(p)] or [np.ones(2)], axis=0)
        cell = 1.2 * np.maximum(extent, 1e-6)
    else:
        cell = np.broadcast_to(np.asarray(cell_size, dtype=np.float64), (2,))
    rows: list[np.ndarray] = []
    cur = np.zeros(2)
    for i, (a, pos) in enumerate(zip(arrays, positions, strict=True)):
        if not len(a):
            continue
        centre = (pos.min(axis=0) + pos.max(axis=0)) / 2
        cell_centre = (np.array([i % ncols, i // ncols]) + 0.5) * cell
        first = pos[0] - centre + cell_centre
        block = a.copy()
        block[0, 0:2] = first - cur
        block[-1, 2] = 1  # lift the pen so the next sketch starts with a move
        rows.append(block)
        cur = first + (pos[-1] - pos[0])
    if not rows:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    return np.concatenate(rows), np.array([len(r) for r in rows], np.int64)


def grid_strokes(
    sketches: Sequence[ArrayLike],
    ncols: int | None = None,
    cell_size: float | tuple[float, float] | None = None,
) -> np.ndarray:
    """Lay sketches out row by row on a grid and join them into one stroke-3 array.

    Each sketch is centred (by its bounding box) in its cell and reached by a pen-up move.
    ``ncols`` defaults to ``ceil(sqrt(n))``; ``cell_size`` (width, height), in the sketches'
    units, defaults to 1.2 x the largest sketch extent. The notebook's ``make_grid_svg`` takes
    explicit (row, col) positions and draws each sketch's first offset as a line from its anchor;
    here the first point is reached with the pen up, so every sketch looks as in
    :func:`draw_svg`.

    Example:
        >>> g = grid_strokes([[[0, 0, 0], [2, 0, 1]]] * 2, ncols=2, cell_size=4)
        >>> g.tolist()
        [[1.0, 2.0, 0.0], [2.0, 0.0, 1.0], [2.0, 0.0, 0.0], [2.0, 0.0, 1.0]]
    """
    return _grid_layout(sketches, ncols, cell_size)[0]


def grid_svg(
    sketches: Sequence[ArrayLike],
    ncols: int | None = None,
    cell_size: float | tuple[float, float] | None = None,
    factor: float = 0.2,
    stroke_width: float = 1,
    color: str = "black",
    by_stroke_color: bool | str = False,
    *,
    color_by_stroke: bool | str = False,
) -> SVG:
    """Several sketches on a grid as one SVG document (``draw_svg(grid_strokes(...))``).

    With ``color_by_stroke`` the stroke colours restart at every sketch (stroke order within
    each sketch).

    Example:
        >>> svg = grid_svg([[[0, 0, 0], [2, 0, 1]]] * 4, factor=0.2)
        >>> svg.count("<path")
        1
    """
    joined, lengths = _grid_layout(sketches, ncols, cell_size)
    return _draw(
        joined,
        factor,
        stroke_width,
        color,
        _scheme(color_by_stroke, by_stroke_color),
        sketch_starts=np.cumsum(lengths) - lengths,
    )


def strip_svg(
    drawings: Sequence[ArrayLike],
    factor: float = 0.2,
    *,
    cell_size: float | tuple[float, float] | None = None,
    labels: Sequence[str] | None = None,
    stroke_width: float = 1,
    color: str = "black",
    color_by_stroke: bool | str = False,
) -> SVG:
    """Drawings side by side in one row (an interpolation strip), one ``<path>`` per drawing
    (per stroke with ``color_by_stroke``).

    Each drawing is centred in its cell; ``cell_size`` (width, height), in the drawings' units,
    defaults to 1.2 x the largest extent, and pixels are units / ``factor`` as in
    :func:`draw_svg`. ``labels`` (one per drawing, e.g. the interpolation weights) are written
    under the cells.

    Example:
        >>> line = [[0, 0, 0], [2, 0, 1]]
        >>> svg = strip_svg([line] * 3, labels=["0", "0.5", "1"])
        >>> svg.count("<path"), svg.count("<text")
        (3, 3)
    """
    arrays = _sketches(drawings, "strip_svg")
    if not factor > 0:
        raise ValueError(f"factor={factor}: must be > 0")
    if labels is not None and len(labels) != len(arrays):
        raise ValueError(f"strip_svg: {len(labels)} labels for {len(arrays)} drawings")
    _, extent = _boxes(arrays)
    if cell_size is None:
        cell = 1.2 * np.maximum(extent.max(axis=0, initial=0.0), 1e-6)
    else:
        cell = np.broadcast_to(np.asarray(cell_size, dtype=np.float64), (2,))
    cell_px = cell / factor
    n = len(arrays)
    width = 50 + n * cell_px[0]
    height = 50 + cell_px[1] + (LABEL_HEIGHT if labels is not None else 0)
    centres = np.stack([25 + (np.arange(n) + 0.5) * cell_px[0], np.full(n, 25 + cell_px[1] / 2)], axis=1)
    text = (
        ()
        if labels is None
        else tuple(
            (float(x), float(25 + cell_px[1] + LABEL_HEIGHT - 4), str(t))
            for x, t in zip(centres[:, 0], labels, strict=True)
        )
    )
    return _centred_scene(
        arrays,
        centres,
        1.0 / factor,
        float(width),
        float(height),
        stroke_width,
        color,
        _scheme(color_by_stroke),
        text,
    )


def scatter_svg(
    drawings: Sequence[ArrayLike],
    positions: ArrayLike,
    *,
    size: float = 800,
    cell: float | None = None,
    stroke_width: float = 1,
    color: str = "black",
    color_by_stroke: bool | str = False,
) -> SVG:
    """Each drawing centred at its 2-D position on a ``size`` x ``size`` canvas (a map of latent
    codes, e.g. from :func:`sketch_rnn.latent.project`), one ``<path>`` per drawing.

    Positions are scaled uniformly (both axes alike, so distances keep their proportions) to fill
    the canvas; SVG's y axis points down. All drawings share one scale, chosen so that the largest
    fits a ``cell`` px box (default ``size / (2 + sqrt(n))``): their relative sizes are kept and
    any units (model or pixels) work.

    Example:
        >>> line = [[0, 0, 0], [2, 0, 1]]
        >>> svg = scatter_svg([line] * 3, [[0, 0], [1, 0], [0, 1]], size=200)
        >>> svg.count("<path"), svg.width
        (3, 200.0)
    """
    arrays = _sketches(drawings, "scatter_svg")
    pos = np.asarray(positions, np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2 or len(pos) != len(arrays):
        raise ValueError(
            f"scatter_svg: positions must have shape [{len(arrays)}, 2] (one per drawing), got {pos.shape}"
        )
    if not np.isfinite(pos).all():
        raise ValueError("scatter_svg: positions contain NaN or infinite values")
    if not size > 0:
        raise ValueError(f"scatter_svg: size={size} must be > 0")
    size = float(size)
    cell = size / (2 + math.sqrt(max(len(arrays), 1))) if cell is None else float(cell)
    if not 0 < cell < size:
        raise ValueError(f"scatter_svg: cell={cell} must be > 0 and smaller than size={size}")
    _, extent = _boxes(arrays)
    scale = cell / max(float(extent.max(initial=0.0)), 1e-9)
    lo = pos.min(axis=0, initial=np.inf) if len(pos) else np.zeros(2)
    hi = pos.max(axis=0, initial=-np.inf) if len(pos) else np.zeros(2)
    span = float((hi - lo).max(initial=0.0))
    inner = size - cell - 20  # the centres' square: half a cell and 10 px from every edge
    # Centre the shorter axis; a single point (or all equal) sits in the middle.
    centres = size / 2 + ((pos - (lo + hi) / 2) * (inner / span) if span > 0 else 0 * pos)
    return _centred_scene(arrays, centres, scale, size, size, stroke_width, color, _scheme(color_by_stroke))


# ---------------------------------------------------------------------------------------------
# PNG, files and notebooks


def _png_geometry(scene: _Scene, size: int | tuple[int, int] | None) -> tuple[int, int, float, np.ndarray]:
    """Output width and height, the scale and the offset from SVG to image pixels."""
    w, h = max(scene.width, 1e-9), max(scene.height, 1e-9)
    if size is None:
        out = (max(1, math.ceil(w)), max(1, math.ceil(h)))
    elif isinstance(size, int | np.integer):
        if size <= 0:
            raise ValueError(f"size={size}: must be > 0")
        k = size / max(w, h)
        out = (max(1, round(w * k)), max(1, round(h * k)))
    else:
        out = tuple(int(v) for v in size)
        if len(out) != 2 or min(out) <= 0:
            raise ValueError(f"size={size}: expected an int or (width, height) > 0")
    if out[0] * out[1] > MAX_PNG_PIXELS:
        raise ValueError(
            f"PNG of {out[0]}x{out[1]} pixels is too large (at most {MAX_PNG_PIXELS}): "
            "pass size= or a larger factor"
        )
    scale = min(out[0] / w, out[1] / h)
    offset = (np.array(out, np.float64) - scale * np.array([w, h])) / 2
    return out[0], out[1], scale, offset


def _rasterise(scene: _Scene, size: int | tuple[int, int] | None, background: str = "white"):
    from PIL import Image, ImageDraw, ImageFont

    width, height, scale, offset = _png_geometry(scene, size)
    k = SUPERSAMPLE
    img = Image.new("RGB", (width * k, height * k), background)
    pen = ImageDraw.Draw(img)
    line_px = max(k, round(scene.stroke_width * scale * k))  # at least one output pixel: visible
    for line, col in zip(scene.lines, scene.colors, strict=True):
        if len(line) >= 2:
            pts = (line * scale + offset) * k
            pen.line(pts.ravel().tolist(), fill=col, width=line_px, joint="curve")
    if scene.labels:
        font = ImageFont.load_default(size=max(1, round(11 * scale * k)))
        for x, y, text in scene.labels:
            xy = (np.array([x, y]) * scale + offset) * k
            pen.text(tuple(xy.tolist()), text, fill="#444444", font=font, anchor="ms")
    return img.reduce(k) if k > 1 else img


def save(svg: str, path: str | os.PathLike, *, size: int | tuple[int, int] | None = None) -> None:
    """Write a picture to ``path`` atomically, as SVG text or a PNG image by the path's suffix.

    ``svg`` is what the ``*_svg`` functions return (a plain SVG string can be saved as ``.svg``
    only: it has no polylines to rasterise). ``size`` is the PNG size (see :meth:`SVG.image`).

    Example:
        >>> save(draw_svg([[1, 1, 1]]), "/tmp/sketch.png", size=128)  # doctest: +SKIP
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix == ".svg":
        atomic_write_text(path, svg)
    elif suffix == ".png":
        if not isinstance(svg, SVG):
            raise TypeError(
                "save: a plain SVG string cannot be rasterised; pass what draw_svg, "
                "grid_svg, strip_svg or scatter_svg return"
            )
        data = svg.png(size)
        with atomic_output(path, suffix=".png") as f:
            f.write(data)
    else:
        raise ValueError(f"save: {os.fspath(path)!r}: expected a .svg or .png file name")


def save_svg(svg: str, path: str | os.PathLike) -> None:
    """Write an SVG string atomically (temporary file in the same folder, then ``os.replace``).

    Readers never see a half-written file; parent folders are created.

    Example:
        >>> save_svg(draw_svg([[1, 1, 1]]), "/tmp/sketch.svg")  # doctest: +SKIP
    """
    atomic_write_text(path, svg)


def show(what, **kwargs) -> None:
    """Display inline in a notebook: an :class:`SVG`, one stroke-3 drawing (:func:`draw_svg`)
    or a list of drawings (:func:`grid_svg`); ``kwargs`` go to the drawing function.

    Needs IPython (present in any Jupyter kernel); a notebook cell that *ends* with an
    :class:`SVG` shows it without ``show``.

    Example:
        >>> show(sample(model, n=9), color_by_stroke=True)  # doctest: +SKIP
    """
    try:
        from IPython.display import display
    except ImportError:
        raise RuntimeError(
            "show: IPython is not installed; save the picture with "
            "sketch_rnn.draw.save(svg, 'file.svg' or 'file.png')"
        ) from None
    if not isinstance(what, SVG):
        if isinstance(what, str):
            from IPython.display import SVG as IPythonSVG

            what = IPythonSVG(data=what)
        elif isinstance(what, np.ndarray) and what.ndim == 2:
            what = draw_svg(what, **kwargs)
        else:
            what = grid_svg(list(what), **kwargs)
    display(what)

"""SVG rendering of stroke-3 sketches (svgwrite), like the Sketch-RNN notebook's helpers.

:func:`draw_svg` writes the same path as the notebook's ``draw_strokes``: one ``<path>`` that
starts at ``M25,25`` shifted by the sketch's bounds and continues with relative ``m`` (pen up)
and ``l`` (pen down) commands, every offset divided by ``factor``.

Units: ``factor=0.2`` (the notebook's default, 5 px per unit) suits sketches in *model* units,
i.e. normalised by the dataset scale factor (offsets around 1). Raw dataset units (aaron_sheep
pixels, ~18 px per point) need a bigger factor, e.g. ``factor=1`` or ``0.2 * scale_factor``.

Example:
    >>> import numpy as np
    >>> svg = draw_svg(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), factor=1)
    >>> 'd="M25,25 m1.0,0.0 l0.0,1.0 "' in svg
    True
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np
import svgwrite
from numpy.typing import ArrayLike

from sketch_rnn.files import atomic_write_text
from sketch_rnn.strokes import _as_stroke3, get_bounds

__all__ = ["PALETTE", "draw_svg", "grid_strokes", "grid_svg", "save_svg"]

# Colours cycled through by ``by_stroke_color`` (matplotlib's tab10).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


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


def _drawing(width: float, height: float) -> svgwrite.Drawing:
    dims = (width, height)
    dwg = svgwrite.Drawing(size=dims, debug=False)
    dwg.add(dwg.rect(insert=(0, 0), size=dims, fill="white"))
    return dwg


def _to_string(dwg: svgwrite.Drawing) -> str:
    buf = io.StringIO()
    dwg.write(buf)
    return buf.getvalue()


def draw_svg(
    strokes3: ArrayLike,
    factor: float = 0.2,
    stroke_width: float = 1,
    color: str = "black",
    by_stroke_color: bool = False,
) -> str:
    """One sketch as an SVG document string (the notebook's ``draw_strokes``).

    The canvas is the sketch's bounds (divided by ``factor``) plus a 25 px margin on each side,
    on a white ``<rect>``. With ``by_stroke_color`` every stroke becomes its own ``<path>``
    (``M x,y l ...``) coloured from :data:`PALETTE`; otherwise one black path as the notebook.

    Example:
        >>> svg = draw_svg([[0, 0, 0], [5, 0, 1]], factor=1)
        >>> svg.startswith('<?xml')
        True
    """
    s = _as_stroke3(strokes3, "draw_svg")
    min_x, max_x, min_y, max_y = get_bounds(s, factor)
    dwg = _drawing(50 + max_x - min_x, 50 + max_y - min_y)
    # The notebook prints the start as "M25,25" unless the path goes left of / above the origin.
    start_x = 25 if min_x == 0 else 25 - min_x
    start_y = 25 if min_y == 0 else 25 - min_y
    xs = (s[:, 0].astype(np.float64) / factor).tolist()
    ys = (s[:, 1].astype(np.float64) / factor).tolist()
    if not by_stroke_color:
        cmds = _commands(s[:, 2])
        d = f"M{start_x},{start_y} " + "".join(
            f"{c}{x},{y} " for c, x, y in zip(cmds, xs, ys, strict=True))
        dwg.add(dwg.path(d).stroke(color, stroke_width).fill("none"))
        return _to_string(dwg)
    # One path per stroke: a stroke starts at a pen-up move and runs to the next pen lift.
    pen = s[:, 2]
    starts = np.flatnonzero(np.concatenate([[True], pen[:-1] == 1]))
    ends = np.append(starts[1:], len(s))
    abs_x = start_x + np.cumsum(s[:, 0].astype(np.float64) / factor)
    abs_y = start_y + np.cumsum(s[:, 1].astype(np.float64) / factor)
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        d = f"M{abs_x[a]},{abs_y[a]} "
        if b > a + 1:
            d += "l" + "".join(f"{x},{y} " for x, y in zip(xs[a + 1:b], ys[a + 1:b], strict=True))
        dwg.add(dwg.path(d).stroke(PALETTE[k % len(PALETTE)], stroke_width).fill("none"))
    return _to_string(dwg)


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
    arrays = [_as_stroke3(s, f"grid_strokes: sketch {i}").astype(np.float64)
              for i, s in enumerate(sketches)]
    if not arrays:
        return np.zeros((0, 3))
    ncols = ncols or math.ceil(math.sqrt(len(arrays)))
    positions = [np.cumsum(a[:, 0:2], axis=0) for a in arrays]
    if cell_size is None:
        extent = np.max([p.max(axis=0) - p.min(axis=0) for p in positions if len(p)]
                        or [np.ones(2)], axis=0)
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
    return np.concatenate(rows) if rows else np.zeros((0, 3))


def grid_svg(
    sketches: Sequence[ArrayLike],
    ncols: int | None = None,
    cell_size: float | tuple[float, float] | None = None,
    factor: float = 0.2,
    stroke_width: float = 1,
    color: str = "black",
    by_stroke_color: bool = False,
) -> str:
    """Several sketches on a grid as one SVG document (``draw_svg(grid_strokes(...))``).

    Example:
        >>> svg = grid_svg([[[0, 0, 0], [2, 0, 1]]] * 4, factor=0.2)
        >>> svg.count("<path")
        1
    """
    return draw_svg(grid_strokes(sketches, ncols, cell_size), factor=factor,
                    stroke_width=stroke_width, color=color, by_stroke_color=by_stroke_color)


def save_svg(svg: str, path: str | os.PathLike) -> None:
    """Write an SVG string atomically (temporary file in the same folder, then ``os.replace``).

    Readers never see a half-written file; parent folders are created.

    Example:
        >>> save_svg(draw_svg([[1, 1, 1]]), "/tmp/sketch.svg")  # doctest: +SKIP
    """
    atomic_write_text(path, svg)

"""SVG output (the notebook's exact path data; strips and scatter maps), colours by stroke, PNG
export (read back with Pillow), saving by suffix and notebook display."""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from sketch_rnn.draw import (
    PALETTE,
    draw_png,
    draw_svg,
    grid_strokes,
    grid_svg,
    save,
    save_svg,
    scatter_svg,
    show,
    strip_svg,
)
from sketch_rnn.draw import SVG as SVGDoc

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def test_draw_svg_tiny_sketch_exact():
    # Two strokes: (1,0) -> (4,0) -> (4,1) -> (5,2) lifted, then (7,4) -> (8,4).
    s = np.array([[1, 0, 0], [3, 0, 0], [0, 1, 0], [1, 1, 1], [2, 2, 0], [1, 0, 1]], dtype=np.float32)
    root = parse(draw_svg(s, factor=1))
    rect, path = root.find(f"{SVG}rect"), root.find(f"{SVG}path")
    assert root.get("width") == "58.0" and root.get("height") == "54.0"  # 50 + bounds
    assert rect.get("fill") == "white" and rect.get("width") == "58.0"
    # m after a lift, then l on every other pen-down point (SVG repeats the last command).
    assert path.get("d") == "M25,25 m1.0,0.0 l3.0,0.0 0.0,1.0 l1.0,1.0 m2.0,2.0 l1.0,0.0 "
    assert path.get("stroke") == "black" and path.get("fill") == "none"
    assert path.get("stroke-width") == "1"


def test_draw_svg_factor_and_negative_bounds():
    s = np.array([[-1, 2, 0], [2, -4, 1]])
    path = parse(draw_svg(s, factor=0.5)).find(f"{SVG}path")
    # min x = -2 and min y = -4 (after dividing by 0.5): the start moves right/down.
    assert path.get("d") == "M27.0,29.0 m-2.0,4.0 l4.0,-8.0 "


def test_draw_svg_by_stroke_color():
    s = np.array([[1, 0, 0], [3, 0, 0], [0, 1, 1], [2, 2, 1], [1, 0, 0], [1, 1, 1]])
    paths = parse(draw_svg(s, factor=1, by_stroke_color=True, stroke_width=2)).findall(f"{SVG}path")
    assert [p.get("d") for p in paths] == [
        "M26.0,25.0 l3.0,0.0 0.0,1.0 ",
        "M31.0,28.0 ",
        "M32.0,28.0 l1.0,1.0 ",
    ]
    assert [p.get("stroke") for p in paths] == list(PALETTE[:3])
    assert all(p.get("stroke-width") == "2" for p in paths)


def test_grid_strokes_layout():
    line = [[0, 0, 0], [2, 0, 1]]
    g = grid_strokes([line] * 3, ncols=2, cell_size=(4, 6))
    np.testing.assert_array_equal(
        g,
        [
            [1, 3, 0],
            [2, 0, 1],  # cell (0, 0): centre (2, 3)
            [2, 0, 0],
            [2, 0, 1],  # cell (0, 1): centre (6, 3)
            [-6, 6, 0],
            [2, 0, 1],  # cell (1, 0): centre (2, 9)
        ],
    )
    # The first point of every sketch is reached with the pen up.
    d = parse(grid_svg([line] * 3, ncols=2, cell_size=(4, 6), factor=1)).find(f"{SVG}path")
    assert d.get("d") == "M25,25 m1.0,3.0 l2.0,0.0 m2.0,0.0 l2.0,0.0 m-6.0,6.0 l2.0,0.0 "


def test_grid_svg_default_layout_parses():
    rng = np.random.default_rng(0)
    sketches = []
    for n in (5, 12, 30, 8, 3):
        s = rng.normal(0, 1, (n, 3))
        s[:, 2] = rng.random(n) < 0.2
        s[-1, 2] = 1
        sketches.append(s)
    root = parse(grid_svg(sketches))
    assert len(root.findall(f"{SVG}path")) == 1
    g = grid_strokes(sketches)
    assert len(g) == sum(len(s) for s in sketches)
    assert grid_strokes([]).shape == (0, 3)


def test_save_svg_atomic(tmp_path):
    svg = draw_svg(np.array([[1, 1, 1]]))
    target = tmp_path / "sub" / "out.svg"
    save_svg(svg, target)
    assert target.read_text(encoding="utf-8") == svg
    save_svg(svg.replace("white", "white "), target)  # overwrite in place
    assert "white " in target.read_text(encoding="utf-8")
    assert sorted(os.listdir(target.parent)) == ["out.svg"]  # no temporary left behind


def test_save_svg_failure_leaves_no_temp(tmp_path):
    target = tmp_path / "dir_in_the_way"
    target.mkdir()
    (target / "x").write_text("keep")
    with pytest.raises(OSError):
        save_svg("<svg/>", target)
    assert sorted(os.listdir(tmp_path)) == ["dir_in_the_way"]


def test_draw_svg_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"draw_svg: expected a stroke-3 array"):
        draw_svg(np.zeros((3, 5)))


# ---------------------------------------------------------------------------------------------
# strips, scatter maps, colours by stroke, PNG, saving, notebooks

LINE = np.array([[0, 0, 0], [2, 0, 1]], dtype=np.float32)
# Three horizontal strokes, 4 x 4 units in all.
THREE_STROKES = np.array([[0, 0, 0], [4, 0, 1], [-4, 2, 0], [4, 0, 1], [-4, 2, 0], [4, 0, 1]], np.float32)


def path_points(path: ET.Element) -> np.ndarray:
    """The coordinates of an absolute ``M x,y L x,y ...`` path."""
    nums = path.get("d").replace("M", " ").replace("L", " ").replace(",", " ").split()
    return np.array(nums, dtype=np.float64).reshape(-1, 2)


def strokes_colours(svg: str) -> list[str]:
    return [p.get("stroke") for p in parse(svg).findall(f"{SVG}path")]


def test_strip_svg_one_path_per_drawing_centred_in_cells():
    drawings = [LINE, 2 * LINE, THREE_STROKES]
    svg = strip_svg(drawings, factor=0.5, labels=["0", "0.5", "1"])
    root = parse(svg)
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 3
    assert [t.text for t in root.findall(f"{SVG}text")] == ["0", "0.5", "1"]
    # Cells: 1.2 x the largest extent (4 x 4 units) / factor 0.5 = 9.6 px; 25 px margins.
    assert float(root.get("width")) == pytest.approx(50 + 3 * 9.6)
    for i, p in enumerate(paths):
        pts = path_points(p)
        centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
        np.testing.assert_allclose(centre, [25 + (i + 0.5) * 9.6, 25 + 4.8], atol=0.01)
    np.testing.assert_allclose(np.ptp(path_points(paths[1]), axis=0), [8, 0], atol=0.01)  # 4 units / 0.5
    # Three strokes become three paths when coloured.
    assert len(parse(strip_svg(drawings, color_by_stroke=True)).findall(f"{SVG}path")) == 1 + 1 + 3
    with pytest.raises(ValueError, match=r"2 labels for 3 drawings"):
        strip_svg(drawings, labels=["a", "b"])


def test_scatter_svg_places_drawings_at_positions():
    positions = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0], [10.0, 5.0]])
    svg = scatter_svg([LINE, LINE, THREE_STROKES, LINE], positions, size=400, cell=40)
    root = parse(svg)
    assert root.get("width") == root.get("height") == "400.0"
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 4
    centres = np.array([(lambda q: (q.min(axis=0) + q.max(axis=0)) / 2)(path_points(p)) for p in paths])
    # Uniform scale (the x span fills 400 - 40 - 20 px); y is centred.
    expected = 200 + (positions - [5.0, 2.5]) * (340 / 10)
    np.testing.assert_allclose(centres, expected, atol=0.01)
    # All drawings share one scale: the largest (4 units) spans the 40 px cell.
    np.testing.assert_allclose(np.ptp(path_points(paths[2]), axis=0), [40, 40], atol=0.01)
    np.testing.assert_allclose(np.ptp(path_points(paths[0]), axis=0), [20, 0], atol=0.01)
    with pytest.raises(ValueError, match=r"positions must have shape \[4, 2\]"):
        scatter_svg([LINE] * 4, positions[:3])
    with pytest.raises(ValueError, match=r"NaN"):
        scatter_svg([LINE], [[np.nan, 0.0]])


def test_color_by_stroke_distinct_and_restarting_per_sketch():
    assert strokes_colours(draw_svg(THREE_STROKES, color_by_stroke=True)) == list(PALETTE[:3])
    many = np.tile([[1, 0, 0], [0, 1, 1]], (15, 1)).astype(np.float32)  # 15 strokes
    hsv = strokes_colours(draw_svg(many, color_by_stroke="hsv"))
    assert len(hsv) == 15 and len(set(hsv)) == 15 and hsv[0] == "#d91616"  # red first
    # On a grid (and in strips) the colours follow the stroke order inside each sketch.
    first3 = list(PALETTE[:3])
    assert strokes_colours(grid_svg([THREE_STROKES, THREE_STROKES], color_by_stroke=True)) == first3 * 2
    assert strokes_colours(strip_svg([THREE_STROKES, LINE], color_by_stroke=True)) == first3 + [PALETTE[0]]
    # The old keyword still works; one colour otherwise.
    assert strokes_colours(draw_svg(THREE_STROKES, by_stroke_color=True)) == list(PALETTE[:3])
    assert strokes_colours(draw_svg(THREE_STROKES, color="red")) == ["red"]
    with pytest.raises(ValueError, match=r"color_by_stroke='rainbow'"):
        draw_svg(LINE, color_by_stroke="rainbow")


def png_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img.convert("RGB")


def test_png_size_and_ink_where_the_strokes_are():
    # A 10 px horizontal line from (25, 25) to (35, 25) on a 60 x 50 canvas.
    s = np.array([[0, 0, 0], [10, 0, 1]], np.float32)
    img = png_image(draw_png(s, factor=1, stroke_width=2))
    assert img.size == (60, 50)
    px = np.asarray(img).astype(int)
    assert px[25, 27:34].max() < 100  # dark along the line
    assert px[40, :].min() == 255 and px[:, 45].min() == 255  # white away from it
    # Requested sizes: the longer side, or exactly (width, height) with the picture centred.
    assert png_image(draw_png(s, factor=1, size=120)).size == (120, 100)
    img = png_image(draw_png(s, factor=1, size=(30, 90), stroke_width=2))
    assert img.size == (30, 90)
    px = np.asarray(img).astype(int)
    assert px[45, 15].max() < 200 and px[10, 15].min() == 255
    # Model-unit drawings (default factor 0.2): same picture as 5x larger offsets at factor 1.
    model_units, pixels = png_image(draw_png(s / 5)), png_image(draw_png(s, factor=1))
    np.testing.assert_array_equal(np.asarray(model_units), np.asarray(pixels))


def test_png_colours_and_strip_png():
    svg = draw_svg(THREE_STROKES, factor=0.1, color_by_stroke=True, stroke_width=3)
    px = np.asarray(png_image(svg.png())).reshape(-1, 3)
    for hex_colour in PALETTE[:3]:
        rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(px - rgb).sum(axis=1) < 30).any(), hex_colour
    strip = strip_svg([LINE, THREE_STROKES], labels=["a", "b"])
    img = png_image(strip.png(size=(200, 80)))
    assert img.size == (200, 80) and np.asarray(img).min() < 100


def test_svg_object_save_by_suffix_and_notebook_display(tmp_path, monkeypatch):
    svg = grid_svg([LINE, THREE_STROKES], color_by_stroke=True)
    assert isinstance(svg, SVGDoc) and isinstance(svg, str)
    assert svg._repr_svg_() == str(svg) and svg._repr_png_().startswith(b"\x89PNG")
    save(svg, tmp_path / "a.svg")
    assert (tmp_path / "a.svg").read_text(encoding="utf-8") == svg
    svg.save(tmp_path / "a.PNG", size=64)
    assert max(png_image((tmp_path / "a.PNG").read_bytes()).size) == 64
    with pytest.raises(ValueError, match=r"expected a .svg or .png file name"):
        save(svg, tmp_path / "a.jpg")
    with pytest.raises(TypeError, match=r"plain SVG string cannot be rasterised"):
        save(str(svg), tmp_path / "b.png")
    assert not (tmp_path / "b.png").exists()
    with pytest.raises(ValueError, match=r"too large"):
        draw_svg(np.array([[1e5, 1e5, 1]]), factor=1).png()
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    show(svg)
    show(THREE_STROKES, color_by_stroke="hsv")
    show([LINE, LINE])
    assert shown[0] is svg and all(isinstance(s, SVGDoc) for s in shown) and len(shown) == 3


def test_svg_text_form_in_ipython_is_short():
    pretty = pytest.importorskip("IPython.lib.pretty")
    svg = draw_svg([[0, 0, 0], [5, 5, 1]], factor=1)
    assert pretty.pretty(svg) == "<SVG 55x55>"
    assert str(svg).startswith("<?xml")  # still the whole document as a string

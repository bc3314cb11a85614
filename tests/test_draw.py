"""SVG output: parses as XML and has the notebook's exact path data."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from sketch_rnn.draw import PALETTE, draw_svg, grid_strokes, grid_svg, save_svg

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def test_draw_svg_tiny_sketch_exact():
    # Two strokes: (1,0) -> (4,0) -> (4,1) -> (5,2) lifted, then (7,4) -> (8,4).
    s = np.array([[1, 0, 0], [3, 0, 0], [0, 1, 0], [1, 1, 1], [2, 2, 0], [1, 0, 1]],
                 dtype=np.float32)
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
    paths = parse(draw_svg(s, factor=1, by_stroke_color=True, stroke_width=2)).findall(
        f"{SVG}path")
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
    np.testing.assert_array_equal(g, [
        [1, 3, 0], [2, 0, 1],      # cell (0, 0): centre (2, 3)
        [2, 0, 0], [2, 0, 1],      # cell (0, 1): centre (6, 3)
        [-6, 6, 0], [2, 0, 1],     # cell (1, 0): centre (2, 9)
    ])
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

"""SVG -> stroke-3: path commands, shapes, transforms, skipped elements, exact round trips."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sketch_rnn.datasets.report import NoUsableDataError, Report
from sketch_rnn.datasets.svg import svg_to_lines, svg_to_strokes
from sketch_rnn.draw import draw_svg, grid_svg

NS = 'xmlns="http://www.w3.org/2000/svg"'


def svg(body: str) -> str:
    return f'<svg {NS} width="200" height="200">{body}</svg>'


def lines_of(body: str, **kw) -> list[list[list[float]]]:
    lines, _ = svg_to_lines(svg(body), **kw)
    return [np.round(line, 9).tolist() for line in lines]


@pytest.fixture(scope="module")
def svg_dir(shared_dir: Path) -> Path:
    path = shared_dir / "datasets" / "svg"
    if not path.is_dir():
        pytest.skip(f"SVG samples not found under {path}")
    return path


def test_straight_path_commands_are_exact():
    d = "M10 10 L20 10 l0 10 H10 Z m20 0 l5 5 M0 0 v3 h3"
    assert lines_of(f'<path d="{d}" stroke="black" fill="none"/>') == [
        [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]],
        [[30, 10], [35, 15]],  # after z the current point is the subpath's start
        [[0, 0], [0, 3], [3, 3]],
    ]


def curve_error(points: np.ndarray, curve: np.ndarray) -> float:
    """Largest distance from a dense sampling of the true curve to the polyline's segments."""
    a, b = points[:-1], points[1:]
    ab = b - a
    t = np.clip(((curve[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    proj = a + t[..., None] * ab
    return float(np.linalg.norm(curve[:, None] - proj, axis=-1).min(axis=1).max())


def bezier(ctrl: np.ndarray, t: np.ndarray) -> np.ndarray:
    n = len(ctrl) - 1
    from math import comb
    return sum(comb(n, k) * ((1 - t) ** (n - k) * t ** k)[:, None] * ctrl[k] for k in range(n + 1))


@pytest.mark.parametrize("tolerance", [0.5, 0.1])
def test_curves_are_sampled_to_tolerance(tolerance):
    t = np.linspace(0, 1, 2001)
    cases = {
        "M0 0 C 0 50 100 50 100 0": bezier(np.array([[0, 0], [0, 50], [100, 50], [100, 0]]), t),
        "M0 0 Q 50 50 100 0 T 200 0": np.concatenate([
            bezier(np.array([[0, 0], [50, 50], [100, 0]]), t),
            bezier(np.array([[100, 0], [150, -50], [200, 0]]), t)]),  # T reflects the control
        "m0 0 c0 50 50 50 50 0 s50 -50 50 0": np.concatenate([
            bezier(np.array([[0, 0], [0, 50], [50, 50], [50, 0]]), t),
            bezier(np.array([[50, 0], [50, -50], [100, -50], [100, 0]]), t)]),
        "M0 0 A 50 50 0 0 1 100 0": np.stack(
            [50 - 50 * np.cos(np.pi * t), -50 * np.sin(np.pi * t)], axis=1),
        "M100 0 a 50 25 0 1 0 -100 0": np.stack(
            [50 + 50 * np.cos(np.pi * t), -25 * np.sin(np.pi * t)], axis=1),  # sweep 0: up
    }
    for d, curve in cases.items():
        (line,) = svg_to_lines(svg(f'<path d="{d}" stroke="black" fill="none"/>'),
                               tolerance=tolerance)[0]
        np.testing.assert_allclose(line[0], curve[0], atol=1e-9, err_msg=d)
        np.testing.assert_allclose(line[-1], curve[-1], atol=1e-9, err_msg=d)
        assert curve_error(line, curve) <= 1.05 * tolerance, d
        assert len(line) < 4 * 200 / np.sqrt(tolerance), d  # simplified, not every sample


def test_basic_shapes():
    got = lines_of(
        '<line x1="1" y1="2" x2="3" y2="4" stroke="black"/>'
        '<polyline points="0,0 5,0 5,5" stroke="black" fill="none"/>'
        '<polygon points="0,0 5,0 5,5" stroke="black" fill="none"/>'
        '<rect x="1" y="1" width="4" height="2" stroke="black" fill="none"/>')
    assert got == [
        [[1, 2], [3, 4]],
        [[0, 0], [5, 0], [5, 5]],
        [[0, 0], [5, 0], [5, 5], [0, 0]],  # polygons close
        [[1, 1], [5, 1], [5, 3], [1, 3], [1, 1]],
    ]
    (circle,), _ = svg_to_lines(svg('<circle cx="50" cy="40" r="30" stroke="black" fill="none"/>'),
                                tolerance=0.2)
    r = np.hypot(circle[:, 0] - 50, circle[:, 1] - 40)
    assert np.abs(r - 30).max() < 1e-6 and len(circle) > 16
    assert np.allclose(circle[0], circle[-1])
    (ellipse,), _ = svg_to_lines(
        svg('<ellipse cx="0" cy="0" rx="20" ry="10" stroke="black" fill="none"/>'), tolerance=0.2)
    np.testing.assert_allclose((ellipse[:, 0] / 20) ** 2 + (ellipse[:, 1] / 10) ** 2, 1, atol=1e-6)
    (rounded,), _ = svg_to_lines(
        svg('<rect width="10" height="10" rx="2" stroke="black" fill="none"/>'), tolerance=0.1)
    assert rounded[:, 0].min() == 0 and rounded[:, 0].max() == 10
    assert not any(np.allclose(p, [0, 0]) for p in rounded)  # the corner is cut by the radius


def test_nested_transforms():
    got = lines_of(
        '<g transform="translate(10,20)"><g transform="scale(2)">'
        '<line x1="0" y1="0" x2="5" y2="0" stroke="black"/>'
        '<path transform="rotate(90)" d="M0 0 L5 0" stroke="black"/>'
        '</g></g>'
        '<defs><path id="p" d="M0 0 L1 1" stroke="black"/></defs>'
        '<use href="#p" transform="translate(100,0)"/>')
    assert got == [[[10, 20], [20, 20]], [[10, 20], [10, 30]], [[100, 0], [101, 1]]]


def test_skipped_elements_are_reported_by_id():
    report = Report()
    lines, _ = svg_to_lines(svg(
        '<rect width="200" height="200" fill="white"/>'
        '<text id="label">hi</text><image id="pic" href="x.png"/><foo id="bar"/>'
        '<path id="empty" d="M5 5" stroke="black"/>'
        '<path id="nan" d="M0 0 L 1e400 1" stroke="black"/>'
        '<path id="ok" d="M0 0 L1 1" stroke="black"/>'
        '<path id="hidden" d="M0 0 L9 9" stroke="black" display="none"/>'
        '<circle id="dot" r="2" fill="black"/>'), report=report)
    assert len(lines) == 2 and report.converted == 1
    assert {p.where: p.why for p in report.problems} == {
        "<svg text>:<rect>[1]": "invisible (no stroke, no or white fill)",
        "<svg text>#label": "text ignored",
        "<svg text>#pic": "image ignored",
        "<svg text>#bar": "unknown element <foo>",
        "<svg text>#empty": "draws nothing (no segments)",
        "<svg text>#nan": "NaN or infinite coordinate",
    }


@pytest.mark.parametrize("content", [
    "<html><body>hello</body></html>", "this is not xml", b"\x89PNG\r\n\x1a\n", b""])
def test_not_svg_is_a_clear_error(tmp_path, content):
    path = tmp_path / "drawing.svg"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ValueError, match=r"drawing.svg: not an SVG document"):
        svg_to_strokes(path)
    if isinstance(content, bytes) and content:
        with pytest.raises(ValueError, match="not an SVG document"):
            svg_to_strokes(content)


def test_text_only_svg_has_nothing_to_draw():
    with pytest.raises(NoUsableDataError, match=r"(?s)nothing drawable.*text ignored"):
        svg_to_strokes(svg('<text id="a">only words</text>'))


def random_sketch(rng: np.random.Generator, n: int, dtype) -> np.ndarray:
    s = np.zeros((n, 3), dtype=dtype)
    s[:, 0:2] = rng.integers(-40, 41, size=(n, 2)) if dtype == np.int16 else rng.normal(
        scale=3, size=(n, 2))
    s[:, 2] = rng.random(n) < 0.25  # includes one-point strokes
    s[-1, 2] = 1
    return s


@pytest.mark.parametrize("seed", range(5))
def test_draw_svg_round_trips_exactly(seed):
    rng = np.random.default_rng(seed)
    s = random_sketch(rng, int(rng.integers(1, 120)), np.int16)
    back = svg_to_strokes(draw_svg(s, factor=1))
    np.testing.assert_array_equal(back, s)
    # At the notebook's factor 0.2 the SVG holds offsets / 0.2: scale back and round.
    back = svg_to_strokes(draw_svg(s, factor=0.2))
    np.testing.assert_array_equal(np.round(back[:, 0:2] * 0.2), s[:, 0:2])
    np.testing.assert_array_equal(back[:, 2], s[:, 2])
    f = random_sketch(rng, 80, np.float64)
    back = svg_to_strokes(draw_svg(f, factor=1))
    np.testing.assert_allclose(back, f, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(back[:, 2], f[:, 2])


def test_grid_svg_round_trips(seed=7):
    rng = np.random.default_rng(seed)
    sketches = [random_sketch(rng, 20, np.int16) for _ in range(4)]
    back = svg_to_strokes(grid_svg(sketches, factor=1, cell_size=200))
    assert len(back) == sum(len(s) for s in sketches)
    np.testing.assert_array_equal(back[1:20], sketches[0][1:])


def d_rows(d: str) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and pen states read straight from draw_strokes' path text (m / l / implicit)."""
    tokens = re.findall(r"[mlML]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", d)
    assert tokens[0] == "M"
    rows, cmds, cmd, i = [], [], None, 3
    while i < len(tokens):
        if tokens[i] in "mlML":
            cmd = tokens[i]
            i += 1
            continue
        rows.append([float(tokens[i]), float(tokens[i + 1])])
        cmds.append(cmd)
        cmd = "l" if cmd == "m" else cmd  # implicit repeats after a moveto are lines
        i += 2
    pen = np.array([c == "m" for c in cmds[1:]] + [True], dtype=float)
    return np.array(rows), pen


@pytest.mark.parametrize("name", ["catbus", "owlmorph", "elephantpig"])
def test_reference_svgs_round_trip(svg_dir, name):
    path = svg_dir / "sketch_rnn_examples" / f"{name}.svg"
    strokes = svg_to_strokes(path)
    offsets, pen = d_rows(re.search(r'<path d="([^"]+)"', path.read_text()).group(1))
    np.testing.assert_allclose(strokes[:, 0:2], offsets, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(strokes[:, 2], pen)
    again = svg_to_strokes(draw_svg(strokes, factor=1))
    np.testing.assert_allclose(again, strokes, rtol=0, atol=1e-9)


def test_shared_line_art_converts(svg_dir):
    for path in sorted((svg_dir / "kanjivg").glob("*.svg")):
        report = Report()
        s = svg_to_strokes(path, report=report)
        text = path.read_text()
        assert s[:, 2].sum() == text.count("<path"), path.name  # one stroke per brush stroke
        assert report.by_reason() == {"text ignored": text.count("<text")}, path.name
    for name, strokes in {"sun": 9, "truck": 4, "umbrella": 2, "coffee": 5, "star": 1}.items():
        s = svg_to_strokes(svg_dir / "feather" / f"{name}.svg")
        assert s[:, 2].sum() == strokes, name
    report = Report()
    s = svg_to_strokes(svg_dir / "sketch_rnn_examples" / "doraemon.svg", report=report)
    assert [p.where for p in report.problems] == ["doraemon.svg#face"]  # white, no stroke
    s = svg_to_strokes(svg_dir / "sketch_rnn_examples" / "elephant.svg", size=255)
    pos = np.cumsum(s[:, 0:2], axis=0)
    assert s[:, 2].sum() == 26 and pos.min() >= -1e-9 and abs(pos.max() - 255) < 1e-9


def test_tolerance_is_in_output_units_with_size():
    body = '<circle cx="0" cy="0" r="5" stroke="black" fill="none"/>'
    small = svg_to_strokes(svg(body), size=255, tolerance=0.5)
    coarse = svg_to_strokes(svg(body), size=10, tolerance=0.5)
    assert len(small) > 2 * len(coarse)

"""Vectorised RDP and resampling: exact against the ``rdp`` package and ``np.interp``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sketch_rnn.datasets.polylines import PackedDrawings
from sketch_rnn.datasets.simplify import (
    normalize_drawings,
    quickdraw_simplify,
    rdp,
    rdp_mask,
    resample,
    simplify_stroke3,
)
from sketch_rnn.strokes import lines_to_strokes, strokes_to_lines


def reference_rdp_mask(points: np.ndarray, epsilon: float) -> np.ndarray:
    rdp_pkg = pytest.importorskip("rdp")
    with warnings.catch_warnings():  # the package uses np.cross on 2-vectors (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        return rdp_pkg.rdp(points, epsilon=epsilon, return_mask=True)


def reference_resample(p: np.ndarray, spacing: float) -> np.ndarray:
    """Per-polyline resampling spelled out with np.interp (the definition)."""
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    if cum[-1] == 0:
        return p[[0, -1]] if len(p) > 1 else p[[0, 0]]
    t = np.arange(0, cum[-1], spacing)
    if t[-1] != cum[-1]:
        t = np.append(t, cum[-1])
    return np.stack([np.interp(t, cum, p[:, 0]), np.interp(t, cum, p[:, 1])], axis=1)


def test_rdp_hand_made_cases():
    # A bump higher than epsilon survives, a lower one does not.
    assert rdp([[0, 0], [5, 3], [10, 0]], 2.0).tolist() == [[0, 0], [5, 3], [10, 0]]
    assert rdp([[0, 0], [5, 1], [10, 0]], 2.0).tolist() == [[0, 0], [10, 0]]
    # Exactly epsilon away is dropped: only distances strictly above it keep a point.
    assert rdp([[0, 0], [5, 2], [10, 0]], 2.0).tolist() == [[0, 0], [10, 0]]
    # Equal maxima: the first one splits.
    assert rdp([[0, 0], [3, 5], [7, 5], [10, 0]], 6.0).tolist() == [[0, 0], [10, 0]]
    assert rdp([[0, 0], [3, 5], [7, 5], [10, 0]], 1.0).tolist() == [
        [0, 0], [3, 5], [7, 5], [10, 0]]
    # Closed stroke (ends coincide): distance to the end point decides.
    square = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    assert rdp(square, 1.0).tolist() == [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    # Degenerate inputs.
    assert rdp([[1, 1]], 2.0).tolist() == [[1, 1]]
    assert rdp([[1, 1], [1, 1]], 2.0).tolist() == [[1, 1], [1, 1]]
    assert rdp(np.zeros((0, 2)), 2.0).shape == (0, 2)


def test_rdp_mask_many_polylines_at_once():
    pts = [[0, 0], [5, 0.1], [10, 0], [0, 0], [0, 9], [0, 0], [3, 3]]
    assert rdp_mask(pts, 1.0, lengths=[3, 3, 1]).tolist() == [
        True, False, True, True, True, True, True]


@pytest.mark.parametrize("seed", range(6))
def test_rdp_mask_matches_rdp_package(seed):
    rng = np.random.default_rng(seed)
    for kind in ("walk", "ints", "closed", "collinear"):
        n = int(rng.integers(2, 300))
        if kind == "walk":
            p = np.cumsum(rng.normal(size=(n, 2)), axis=0)
        elif kind == "ints":  # many exact ties and exact-epsilon distances
            p = rng.integers(-4, 5, size=(n, 2)).astype(float)
        elif kind == "closed":
            p = np.cumsum(rng.normal(size=(n, 2)), axis=0)
            p[-1] = p[0]
        else:
            p = np.outer(np.sort(rng.random(n)), [3.0, 1.0])
        for eps in (0.0, 0.5, 2.0):
            np.testing.assert_array_equal(rdp_mask(p, eps), reference_rdp_mask(p, eps),
                                          err_msg=f"{kind} eps={eps}")


def test_resample_hand_made():
    pts, n = resample([[0, 0], [2.5, 0]], 1.0)
    assert pts.tolist() == [[0, 0], [1, 0], [2, 0], [2.5, 0]] and n.tolist() == [4]
    pts, n = resample([[0, 0], [3, 4]], 5.0)  # length exactly one spacing: both ends only
    assert pts.tolist() == [[0, 0], [3, 4]]
    pts, n = resample([[0, 0], [0, 2], [0, 2], [2, 2]], 1.0)  # repeated vertex
    assert pts.tolist() == [[0, 0], [0, 1], [0, 2], [1, 2], [2, 2]]
    pts, n = resample([[7, 7]], 1.0)  # a dot becomes two points, as in QuickDraw's files
    assert pts.tolist() == [[7, 7], [7, 7]] and n.tolist() == [2]
    pts, n = resample([[0, 0], [1, 0], [5, 5], [5, 5]], 1.0, lengths=[2, 2])
    assert n.tolist() == [2, 2] and pts.tolist() == [[0, 0], [1, 0], [5, 5], [5, 5]]


@pytest.mark.parametrize("spacing", [1.0, 0.7, 2.5])
def test_resample_matches_np_interp_bit_for_bit(spacing):
    rng = np.random.default_rng(3)
    lines = [np.cumsum(rng.normal(scale=4, size=(int(rng.integers(1, 60)), 2)), axis=0)
             for _ in range(40)]
    lines.append(np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]))
    pts, n = resample(np.concatenate(lines), spacing, [len(x) for x in lines])
    got = np.split(pts, np.cumsum(n)[:-1])
    for line, g in zip(lines, got, strict=True):
        np.testing.assert_array_equal(g, reference_resample(line, spacing))


def test_normalize_drawings_aligns_and_scales_uniformly():
    b = PackedDrawings.from_drawings([[[[10, 20], [30, 25]]], [[[-5, -5]], [[-5, 45]]]])
    out = normalize_drawings(b, 255).to_drawings()
    assert out[0][0].tolist() == [[0, 0], [255, 63.75]]
    assert out[1][0].tolist() == [[0, 0]] and out[1][1].tolist() == [[0, 255]]


def test_quickdraw_simplify_hand_made():
    raw = PackedDrawings.from_drawings([[[[100, 100], [150, 101], [200, 100], [200, 300]],
                                         [[150, 200]]]])
    out = quickdraw_simplify(raw).to_drawings()[0]
    # 200 px tall -> scale 255/200; the 1 px wiggle (1.3 px after scaling) is below 2.0.
    assert [s.tolist() for s in out] == [[[0, 0], [128, 0], [128, 255]], [[64, 128], [64, 128]]]


def test_simplify_stroke3_keeps_first_offset_and_dtype():
    s = np.array([[3, 4, 0], [1, 0, 0], [1, 0, 0], [1, 0, 1], [0, 5, 1]], dtype=np.int16)
    out = simplify_stroke3([s], 0.5)[0]
    assert out.dtype == np.int16
    assert out.tolist() == [[3, 4, 0], [3, 0, 1], [0, 5, 1]]
    lines = strokes_to_lines(out)
    assert lines_to_strokes(lines).tolist() == out.tolist()

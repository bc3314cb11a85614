"""Stroke geometry: exact hand-computed values and reference-rule oracles."""

from __future__ import annotations

import numpy as np
import pytest

from sketch_rnn.strokes import (
    augment_batch,
    augment_strokes,
    clamp,
    get_bounds,
    lerp,
    lines_to_strokes,
    pad_batch,
    random_scale,
    slerp,
    strokes_to_lines,
    to_stroke3,
    to_stroke5,
)


def drop_oracle(strokes: np.ndarray, prob: float, rng) -> np.ndarray:
    """The reference point-dropping rule as a plain loop (one uniform per point)."""
    out: list[list] = []
    prev_pen, count, last = 1, 0, None
    for dx, dy, pen in strokes:
        u = rng.random()
        count = 0 if (pen == 1 or prev_pen == 1) else count + 1
        if pen == 0 and prev_pen == 0 and count > 2 and u < prob:
            last[0] += dx  # in the array's dtype: same sequential rounding as the reference
            last[1] += dy
        else:
            last = [dx, dy, pen]
            out.append(last)
            prev_pen = pen
    return np.array(out, dtype=strokes.dtype).reshape(-1, 3)


def random_sketch(rng: np.random.Generator, n: int) -> np.ndarray:
    s = rng.normal(0, 5, size=(n, 3)).astype(np.float32)
    s[:, 2] = rng.random(n) < 0.15
    s[-1, 2] = 1
    return s


# ---------------------------------------------------------------------------------------------
# stroke-3 <-> stroke-5


def test_to_stroke5_exact():
    s3 = np.array([[1, 2, 0], [3, -4, 1], [5, 6, 1]], dtype=np.int16)
    expected = np.array([
        [1, 2, 1, 0, 0],
        [3, -4, 0, 1, 0],
        [5, 6, 0, 1, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1],
    ], dtype=np.float32)
    out = to_stroke5(s3, max_len=5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(to_stroke3(out), s3)


def test_to_stroke5_too_long():
    with pytest.raises(ValueError, match="more than max_len=2"):
        to_stroke5(np.zeros((3, 3)), max_len=2)
    with pytest.raises(ValueError, match=r"shape \[L, 3\]"):
        to_stroke5(np.zeros((3, 5)), max_len=4)


def test_to_stroke3_truncates_at_first_end():
    s5 = np.array([
        [1.5, 2, 1, 0, 0],
        [3, 4, 0, 1, 0],
        [0, 0, 0, 0, 1],
        [9, 9, 1, 0, 0],  # after the end: ignored
    ])
    np.testing.assert_array_equal(to_stroke3(s5), [[1.5, 2, 0], [3, 4, 1]])


def test_to_stroke3_reference_quirks():
    # No end row: everything is kept.
    s5 = np.array([[1, 2, 1, 0, 0], [3, 4, 0, 1, 0]], dtype=np.float32)
    out = to_stroke3(s5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 2, 0], [3, 4, 1]])
    # End row first: the reference keeps the whole array too.
    s5 = np.array([[0, 0, 0, 0, 1], [3, 4, 0, 1, 0]])
    np.testing.assert_array_equal(to_stroke3(s5), [[0, 0, 0], [3, 4, 1]])


def test_round_trip_random():
    rng = np.random.default_rng(3)
    for n in (1, 7, 40):
        s3 = random_sketch(rng, n)
        np.testing.assert_array_equal(to_stroke3(to_stroke5(s3, 50)), s3)


def test_pad_batch_exact():
    a = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.float32)
    b = np.array([[-5, 6, 1]], dtype=np.int16)
    out = pad_batch([a, b], max_len=3)
    expected = np.array([
        [[0, 0, 1, 0, 0], [1, 2, 1, 0, 0], [3, 4, 0, 1, 0], [0, 0, 0, 0, 1]],
        [[0, 0, 1, 0, 0], [-5, 6, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]],
    ], dtype=np.float32)
    assert out.dtype == np.float32 and out.shape == (2, 4, 5)
    np.testing.assert_array_equal(out, expected)


def test_pad_batch_full_length_has_no_end_row():
    # L == max_len: rows 1..L are the sketch, no padding row left (as in the reference).
    out = pad_batch([np.array([[1, 1, 0], [2, 2, 1]])], max_len=2)
    np.testing.assert_array_equal(out[0], [[0, 0, 1, 0, 0], [1, 1, 1, 0, 0], [2, 2, 0, 1, 0]])


def test_pad_batch_matches_to_stroke5():
    rng = np.random.default_rng(0)
    batch = [random_sketch(rng, n) for n in (3, 10, 25)]
    out = pad_batch(batch, max_len=30)
    for i, s in enumerate(batch):
        np.testing.assert_array_equal(out[i, 0], [0, 0, 1, 0, 0])
        np.testing.assert_array_equal(out[i, 1:], to_stroke5(s, 30))


def test_pad_batch_errors():
    with pytest.raises(ValueError, match="sketch 1 has 3 points, more than max_len=2"):
        pad_batch([np.zeros((1, 3)), np.zeros((3, 3))], max_len=2)
    assert pad_batch([], max_len=4).shape == (0, 5, 5)


# ---------------------------------------------------------------------------------------------
# random scale


def test_random_scale_factors_and_draw_order():
    s = np.array([[10, 20, 0], [-4, 8, 1]], dtype=np.float32)
    out = random_scale(s, 0.15, np.random.default_rng(42))
    u = np.random.default_rng(42).random(2)  # x first, then y
    fx, fy = (u - 0.5) * 2 * 0.15 + 1.0
    np.testing.assert_array_equal(out[:, 0], s[:, 0] * np.float32(fx))
    np.testing.assert_array_equal(out[:, 1], s[:, 1] * np.float32(fy))
    np.testing.assert_array_equal(out[:, 2], s[:, 2])
    assert out.dtype == np.float32
    assert s[0, 0] == 10  # input untouched


def test_random_scale_range_and_independence():
    rng = np.random.default_rng(0)
    s = np.ones((1, 3), dtype=np.float64)
    f = np.array([random_scale(s, 0.15, rng)[0, :2] for _ in range(4000)])
    assert f.min() >= 0.85 and f.max() <= 1.15
    assert f[:, 0].min() < 0.86 and f[:, 0].max() > 1.14  # covers the range
    assert abs(np.corrcoef(f[:, 0], f[:, 1])[0, 1]) < 0.06
    assert abs(f.mean() - 1.0) < 0.005


def test_random_scale_integer_input_becomes_float32():
    out = random_scale(np.array([[3, 4, 1]], dtype=np.int16), 0.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[3, 4, 1]])


# ---------------------------------------------------------------------------------------------
# point dropping


def test_augment_single_stroke_prob_one():
    # Positions 0, 1, 2 of a stroke and its final pen-up point are always kept.
    s = np.array([[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 1, 0], [5, 2, 0], [6, 3, 0], [7, 4, 1]],
                 dtype=np.float32)
    out = augment_strokes(s, 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [[1, 0, 0], [2, 0, 0], [3 + 4 + 5 + 6, 1 + 2 + 3, 0],
                                        [7, 4, 1]])


def test_augment_counter_restarts_per_stroke():
    s = np.array([
        [1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1],  # stroke A: row 3 droppable
        [5, 0, 0], [1, 0, 0], [1, 0, 1],                        # stroke B: 3 points, none
        [0, 2, 0], [0, 2, 0], [0, 2, 0], [0, 2, 0], [0, 2, 0], [0, 2, 1],  # rows 11, 12
        [9, 9, 1],                                              # single-point stroke
    ], dtype=np.float32)
    out = augment_strokes(s, 1.0, np.random.default_rng(0))
    expected = np.array([
        [1, 1, 0], [1, 1, 0], [2, 2, 0], [1, 1, 1],
        [5, 0, 0], [1, 0, 0], [1, 0, 1],
        [0, 2, 0], [0, 2, 0], [0, 6, 0], [0, 2, 1],
        [9, 9, 1],
    ], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    # A point that absorbs dropped offsets lands where the last dropped point was; every other
    # point stays where it was.
    keep = [0, 1, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14]
    np.testing.assert_array_equal(np.cumsum(out[:, :2], axis=0),
                                  np.cumsum(s[:, :2], axis=0)[keep])


def test_augment_first_row_starts_a_stroke():
    # The reference starts with prev = (0, 0, 1): row 0 has count 0, so rows 0-2 are kept.
    s = np.array([[1, 0, 0]] * 4 + [[1, 0, 1]], dtype=np.float32)
    out = augment_strokes(s, 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [[1, 0, 0], [1, 0, 0], [2, 0, 0], [1, 0, 1]])


def test_augment_prob_zero_is_identity_and_empty_ok():
    s = np.array([[1, 0, 0]] * 6 + [[1, 0, 1]], dtype=np.float32)
    np.testing.assert_array_equal(augment_strokes(s, 0.0, np.random.default_rng(0)), s)
    assert augment_strokes(np.zeros((0, 3)), 0.5).shape == (0, 3)


@pytest.mark.parametrize("prob", [0.1, 0.5, 0.9])
def test_augment_matches_loop_oracle_bitwise(prob):
    rng = np.random.default_rng(11)
    for trial in range(30):
        s = random_sketch(rng, int(rng.integers(1, 120)))
        if trial % 3 == 0:
            s[rng.random(len(s)) < 0.1, 2] = 0.5  # odd pen values follow the rule too
        got = augment_strokes(s, prob, np.random.RandomState(trial))
        want = drop_oracle(s, prob, np.random.RandomState(trial))
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_augment_keeps_absolute_positions_of_kept_points():
    rng = np.random.default_rng(5)
    s = np.round(rng.normal(0, 9, size=(300, 3))).astype(np.float64)  # exact sums
    s[:, 2] = rng.random(300) < 0.08
    s[-1, 2] = 1
    out = augment_strokes(s, 0.5, np.random.default_rng(1))
    assert len(out) < len(s)
    pos_in = {tuple(p) for p in np.cumsum(s[:, :2], axis=0)}
    pos_out = np.cumsum(out[:, :2], axis=0)
    assert all(tuple(p) in pos_in for p in pos_out)
    # Every pen-up point survives, in order.
    np.testing.assert_array_equal(np.cumsum(s[:, :2], axis=0)[s[:, 2] == 1],
                                  pos_out[out[:, 2] == 1])


def test_augment_drop_rate_statistics():
    rng = np.random.default_rng(2)
    s = np.ones((60, 3), dtype=np.float32)
    s[:, 2] = 0
    s[[19, 39, 59], 2] = 1  # three strokes of 20 points: 16 eligible each (positions 3..18)
    eligible, prob, trials = 48, 0.1, 3000
    dropped = sum(len(s) - len(augment_strokes(s, prob, rng)) for _ in range(trials))
    rate = dropped / (eligible * trials)
    sd = np.sqrt(prob * (1 - prob) / (eligible * trials))
    assert abs(rate - prob) < 4 * sd


@pytest.mark.parametrize("prob", [0.0, 0.2])
def test_augment_batch_equals_sequential(prob):
    rng = np.random.default_rng(8)
    batch = [random_sketch(rng, int(n)) for n in rng.integers(1, 80, size=25)]
    for make in (np.random.default_rng, np.random.RandomState):
        r1, r2 = make(4), make(4)
        got = augment_batch(batch, 0.15, prob, r1)
        want = []
        for s in batch:
            t = random_scale(s, 0.15, r2)
            want.append(augment_strokes(t, prob, r2) if prob > 0 else t)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        assert r1.random() == r2.random()  # same amount of randomness consumed


# ---------------------------------------------------------------------------------------------
# geometry helpers


def test_clamp():
    s = np.array([[2000, -1500, 1], [5, -5, 0]], dtype=np.int16)
    out = clamp(s)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, [[1000, -1000, 1], [5, -5, 0]])
    np.testing.assert_array_equal(clamp(s, 3), [[3, -3, 1], [3, -3, 0]])


def test_get_bounds():
    s = np.array([[1, -2, 0], [3, 1, 1], [-6, 4, 1]])
    assert get_bounds(s) == (-2.0, 4.0, -2.0, 3.0)
    assert get_bounds(s, factor=0.5) == (-4.0, 8.0, -4.0, 6.0)
    assert get_bounds(np.array([[1, 1, 1]])) == (0.0, 1.0, 0.0, 1.0)  # origin included
    assert get_bounds(np.zeros((0, 3))) == (0.0, 0.0, 0.0, 0.0)


def test_strokes_lines_round_trip():
    s = np.array([[1, 1, 0], [1, 0, 1], [0, 2, 1], [3, -1, 0], [1, 1, 1]])
    lines = strokes_to_lines(s)
    assert [line.tolist() for line in lines] == [
        [[1.0, 1.0], [2.0, 1.0]], [[2.0, 3.0]], [[5.0, 2.0], [6.0, 3.0]]]
    np.testing.assert_array_equal(lines_to_strokes(lines), s)
    assert lines_to_strokes([[[1, 2]], [[4, 6], [4, 7]]]).tolist() == [
        [1, 2, 1], [3, 4, 0], [0, 1, 1]]


def test_strokes_to_lines_drops_unfinished_stroke():
    lines = strokes_to_lines(np.array([[1, 1, 1], [2, 2, 0]]))
    assert [line.tolist() for line in lines] == [[[1.0, 1.0]]]
    assert strokes_to_lines(np.array([[1, 1, 0]])) == []
    assert lines_to_strokes([]).shape == (0, 3)


def test_lerp_slerp():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_array_equal(lerp(a, b, 0.25), [0.75, 0.5])
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-15)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-15)
    half = slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)
    np.testing.assert_allclose(half, [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-15)
    # Parallel vectors: the reference divides by zero; here it falls back to lerp.
    np.testing.assert_array_equal(slerp(a, 2 * a, 0.5), [1.5, 0.0])

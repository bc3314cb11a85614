"""Stroke geometry in pure numpy: stroke-3 <-> stroke-5, padding, augmentation, bounds, polylines.

Formats (Ha & Eck 2017, section 3.1):

* **stroke-3** ``[L, 3]`` rows ``(dx, dy, p)``: an offset from the previous point and ``p = 1`` when
  the pen lifts after this point (the last point of a stroke). The first row is the offset from
  the origin, where the pen starts *up*.
* **stroke-5** ``[L, 5]`` rows ``(dx, dy, p1, p2, p3)``: ``p1`` pen down, ``p2`` pen up (= ``p``),
  ``p3`` end of sketch. Padding rows are ``(0, 0, 0, 0, 1)``; a batch fed to the model starts with
  the token ``S0 = (0, 0, 1, 0, 0)`` (:data:`START_TOKEN`; the browser models' is all zeros,
  :data:`BROWSER_START_TOKEN`).
* **units**: a dataset's offsets are in data units (pixels for QuickDraw); a model sees them divided
  by the training data's normalising scale factor (:func:`normalizing_scale_factor`), "model units"
  (:func:`to_model_units`, :func:`to_data_units`).

Everything here reproduces magenta's ``sketch_rnn/utils.py`` value for value (float32 rounding
included), but vectorised. Functions that draw random numbers take an optional ``rng``: a
``np.random.Generator``, or a legacy ``np.random.RandomState`` seeded like the reference's global
``np.random`` to reproduce its stream exactly (both are consumed in the reference's order).

Example:
    >>> import numpy as np
    >>> s3 = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.float32)
    >>> pad_batch([s3], max_len=3)[0]
    array([[0., 0., 1., 0., 0.],
           [1., 2., 1., 0., 0.],
           [3., 4., 0., 1., 0.],
           [0., 0., 0., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "Rng",
    "START_TOKEN",
    "BROWSER_START_TOKEN",
    "START_TOKENS",
    "start_token_named",
    "check_drawing",
    "pen_problem",
    "to_stroke5",
    "to_stroke3",
    "pad_batch",
    "to_model_units",
    "to_data_units",
    "normalizing_scale_factor",
    "check_scale_factor",
    "random_scale",
    "augment_strokes",
    "augment_batch",
    "clamp",
    "get_bounds",
    "strokes_to_lines",
    "lines_to_strokes",
    "lerp",
    "slerp",
    "great_circle",
]

Rng: TypeAlias = np.random.Generator | np.random.RandomState

#: The decoder's first input in magenta's models: "pen down", no offset.
START_TOKEN = (0.0, 0.0, 1.0, 0.0, 0.0)
#: The first input of sketch-rnn-js / @magenta/sketch models (their ``zero_input``).
BROWSER_START_TOKEN = (0.0, 0.0, 0.0, 0.0, 0.0)
#: The start tokens by what they are: ``"reference"`` (magenta's, :data:`START_TOKEN`) and
#: ``"zeros"`` (sketch-rnn-js's, :data:`BROWSER_START_TOKEN`).
START_TOKENS = {"reference": START_TOKEN, "zeros": BROWSER_START_TOKEN}
# Older names, still accepted: "tf" was the eval command's name for the reference's token (magenta's
# TensorFlow models), "browser" says whose the zeros are.
_START_TOKEN_ALIASES = {"tf": "reference", "browser": "zeros"}


def start_token_named(name: str) -> tuple[float, ...]:
    """The start token called ``name``: ``"reference"`` ``(0, 0, 1, 0, 0)``, ``"zeros"``
    ``(0, 0, 0, 0, 0)``, or the older names ``"tf"`` (= reference) and ``"browser"`` (= zeros).

    Example:
        >>> start_token_named("zeros"), start_token_named("tf") == START_TOKEN
        ((0.0, 0.0, 0.0, 0.0, 0.0), True)
    """
    key = _START_TOKEN_ALIASES.get(name, name)
    if key not in START_TOKENS:
        names = [*START_TOKENS, *_START_TOKEN_ALIASES]
        raise ValueError(f"start token {name!r}: expected one of {', '.join(map(repr, names))}")
    return START_TOKENS[key]


def _rng(rng: Rng | None) -> Rng:
    return np.random.default_rng() if rng is None else rng


def _as_stroke3(strokes: ArrayLike, what: str = "strokes") -> np.ndarray:
    arr = np.asarray(strokes)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{what}: expected a stroke-3 array of shape [L, 3], got {arr.shape}")
    return arr


def check_drawing(drawing: ArrayLike, name: str, *, pen_binary: bool = True) -> np.ndarray:
    """``drawing`` as float32, checked to be a non-empty, finite stroke-3 array ``[L, 3]`` whose
    pen-lift values are 0 or 1 (``pen_binary=False`` skips that last check); errors start with
    ``name`` (which drawing, or which file it came from).

    Every drawing a user hands in (to encode, complete, evaluate or a command line) comes through
    here: a pen value of 2 or 0.5 is no convention the model knows, yet would be read as
    ``p1 = 1 - p`` without complaint. Datasets are the loader's to check (:func:`pen_problem`).

    Example:
        >>> check_drawing([[1, 2, 0], [3, 4, 1]], "drawing 0").dtype
        dtype('float32')
        >>> check_drawing(np.zeros((0, 3)), "drawing 1")
        Traceback (most recent call last):
        ValueError: drawing 1: expected a non-empty stroke-3 array [L, 3], got (0, 3)
        >>> check_drawing([[1, 2, 0], [3, 4, 2]], "cat.json")
        Traceback (most recent call last):
        ValueError: cat.json: the pen-lift column must hold 0 or 1 (row 1 holds 2)
    """
    try:
        raw = np.asarray(drawing)
        with np.errstate(over="ignore"):
            arr = raw.astype(np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not a numeric stroke-3 array ({e})") from None
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) == 0:
        raise ValueError(f"{name}: expected a non-empty stroke-3 array [L, 3], got {arr.shape}")
    if not np.isfinite(arr).all():
        if np.isfinite(raw).all():
            raise ValueError(f"{name}: values beyond float32's range (+-3.4e38)")
        raise ValueError(f"{name}: contains NaN or infinite values")
    if pen_binary and (problem := pen_problem(arr)):
        raise ValueError(f"{name}: {problem}")
    return arr


def pen_problem(drawing: ArrayLike) -> str | None:
    """What is wrong with a stroke-3 drawing's pen-lift column (values other than 0 and 1), or
    None: the one rule for user drawings (:func:`check_drawing`) and datasets alike.

    A dataset loader should skip such sketches, or warn about them, rather than train on them:
    the reference reads ``p1 = 1 - p``, so a pen value of 2 is a pen-down probability of -1.

    Example:
        >>> pen_problem([[1, 2, 0], [3, 4, 1]]) is None
        True
        >>> pen_problem([[1, 2, 0.5], [3, 4, 1]])
        'the pen-lift column must hold 0 or 1 (row 0 holds 0.5)'
    """
    pen = _as_stroke3(drawing, "pen_problem")[:, 2]
    bad = np.flatnonzero((pen != 0) & (pen != 1))
    if not len(bad):
        return None
    return f"the pen-lift column must hold 0 or 1 (row {bad[0]} holds {pen[bad[0]]:g})"


def _float_dtype(arr: np.ndarray) -> np.dtype:
    # Integer input (raw npz data) is promoted to float32, the dtype the reference computes in.
    return arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float32)


# ---------------------------------------------------------------------------------------------
# stroke-3 <-> stroke-5


def to_stroke5(strokes3: ArrayLike, max_len: int = 250, *, dtype: DTypeLike = np.float32
               ) -> np.ndarray:
    """Stroke-3 -> stroke-5 padded to ``max_len`` rows, *without* the start token.

    Same values as the reference ``to_big_strokes`` (which returns float64); rows after the sketch
    are ``(0, 0, 0, 0, 1)``.

    Example:
        >>> to_stroke5([[1, 2, 1]], max_len=2)
        array([[1., 2., 0., 1., 0.],
               [0., 0., 0., 0., 1.]], dtype=float32)
    """
    s = _as_stroke3(strokes3, "to_stroke5")
    n = len(s)
    if n > max_len:
        raise ValueError(f"to_stroke5: sketch has {n} points, more than max_len={max_len}")
    out = np.zeros((max_len, 5), dtype=dtype)
    out[:n, 0:2] = s[:, 0:2]
    out[:n, 3] = s[:, 2]
    out[:n, 2] = 1 - out[:n, 3]
    out[n:, 4] = 1
    return out


def to_stroke3(strokes5: ArrayLike, *, reference_quirk: bool = True) -> np.ndarray:
    """Stroke-5 -> stroke-3 ``(dx, dy, p2)``, truncated before the first end-of-sketch row.

    Reproduces the reference ``to_normal_strokes`` including its quirk: when the *first* row is
    already an end-of-sketch row (or there is none), the whole array is kept. With
    ``reference_quirk=False`` (the sampler's reading of its own rows) a first row that ends the
    sketch gives an empty drawing. Floating input keeps its dtype, anything else becomes float64.

    Example:
        >>> to_stroke3([[1, 2, 1, 0, 0], [3, 4, 0, 1, 0], [0, 0, 0, 0, 1]])
        array([[1., 2., 0.],
               [3., 4., 1.]])
        >>> to_stroke3([[0, 0, 0, 0, 1]], reference_quirk=False).shape
        (0, 3)
    """
    s = np.asarray(strokes5)
    if s.ndim != 2 or s.shape[1] != 5:
        raise ValueError(f"to_stroke3: expected a stroke-5 array of shape [L, 5], got {s.shape}")
    ends = np.flatnonzero(s[:, 4] > 0)
    n = int(ends[0]) if len(ends) else len(s)
    if n == 0 and reference_quirk:
        n = len(s)
    dtype = s.dtype if np.issubdtype(s.dtype, np.floating) else np.float64
    out = np.empty((n, 3), dtype=dtype)
    out[:, 0:2] = s[:n, 0:2]
    out[:, 2] = s[:n, 3]
    return out


def _pad_flat(flat: np.ndarray, lengths: np.ndarray, width: int, dtype: DTypeLike,
              start_token: Sequence[float] = START_TOKEN) -> np.ndarray:
    """Scatter concatenated stroke-3 rows into a ``[B, width+1, 5]`` stroke-5 batch with S0."""
    lengths = np.asarray(lengths, dtype=np.int64)
    batch = len(lengths)
    out = np.zeros((batch, width + 1, 5), dtype=dtype)
    out[:, 0] = start_token
    if len(flat):
        sketch = np.repeat(np.arange(batch), lengths)
        starts = np.cumsum(lengths) - lengths
        row = np.arange(len(flat)) - np.repeat(starts, lengths) + 1
        out[sketch, row, 0:2] = flat[:, 0:2]
        p = flat[:, 2].astype(dtype, copy=False)
        out[sketch, row, 3] = p
        out[sketch, row, 2] = 1 - p
    # Every row after the last real point is an end-of-sketch row (0, 0, 0, 0, 1).
    out[:, :, 4] = np.arange(width + 1)[None, :] > lengths[:, None]
    return out


def pad_batch(batch: Sequence[ArrayLike], max_len: int, *, dtype: DTypeLike = np.float32,
              start_token: Sequence[float] = START_TOKEN) -> np.ndarray:
    """Stroke-3 sketches -> stroke-5 batch ``[B, max_len + 1, 5]`` exactly as the reference.

    Row 0 is the start token (``S0 = (0, 0, 1, 0, 0)`` unless ``start_token`` says otherwise), rows
    ``1..L`` hold the sketch (``p1 = 1 - p``, ``p2 = p``), every later row is ``(0, 0, 0, 0, 1)``.
    The decoder input is ``x[:, :max_len]`` and the target (and encoder input) ``x[:, 1:]``.

    Example:
        >>> pad_batch([[[1, 2, 1]]], max_len=2).tolist()
        [[[0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 2.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]]
    """
    arrays = [_as_stroke3(s, f"pad_batch: sketch {i}") for i, s in enumerate(batch)]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    too_long = np.flatnonzero(lengths > max_len)
    if len(too_long):
        i = int(too_long[0])
        raise ValueError(f"pad_batch: sketch {i} has {lengths[i]} points, more than "
                         f"max_len={max_len}")
    flat = np.concatenate(arrays) if arrays else np.zeros((0, 3), dtype=dtype)
    return _pad_flat(flat, lengths, max_len, dtype, start_token)


# ---------------------------------------------------------------------------------------------
# units


def _floating(s: np.ndarray) -> np.ndarray:
    return s if np.issubdtype(s.dtype, np.floating) else s.astype(np.float32)


def to_model_units(strokes: ArrayLike, scale: float) -> np.ndarray:
    """A copy with the offsets divided by ``scale`` (data units per model unit); the pen column is
    kept. Floating input keeps its dtype, anything else becomes float32.

    Example:
        >>> to_model_units([[37.0, -18.5, 1]], 18.5).tolist()
        [[2.0, -1.0, 1.0]]
    """
    s = _floating(_as_stroke3(strokes, "to_model_units")).copy()
    s[:, 0:2] /= scale
    return s


def to_data_units(strokes: ArrayLike, scale: float) -> np.ndarray:
    """A copy with the offsets multiplied by ``scale`` (the inverse of :func:`to_model_units`).

    Example:
        >>> to_data_units([[2.0, -1.0, 1]], 18.5).tolist()
        [[37.0, -18.5, 1.0]]
    """
    s = _floating(_as_stroke3(strokes, "to_data_units")).copy()
    s[:, 0:2] *= scale
    return s


def normalizing_scale_factor(strokes: Sequence[ArrayLike] | np.ndarray) -> np.floating:
    """The reference's normalising factor: the population std of every dx and dy pooled, in the
    input's float precision (the reference computes it on float32 data, in this summation order:
    x0, y0, x1, y1, ... drawing after drawing). Takes stroke-3 drawings or their rows concatenated.

    A factor that cannot normalise is a ``ValueError`` saying why (:func:`check_scale_factor`).

    Example:
        >>> float(normalizing_scale_factor([np.array([[1.0, -1.0, 0]]), np.array([[1.0, -1.0, 1]])]))
        1.0
        >>> normalizing_scale_factor([np.zeros((4, 3))])
        Traceback (most recent call last):
        ValueError: scale factor (std of every dx, dy) is 0: every offset is zero, nothing to normalise by
    """
    flat = strokes if isinstance(strokes, np.ndarray) else np.concatenate(
        [_as_stroke3(s, f"normalizing_scale_factor: drawing {i}") for i, s in enumerate(strokes)])
    if not len(flat):
        raise ValueError("normalizing_scale_factor: no points")
    offsets = flat[:, 0:2].ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        std = np.std(offsets)
    check_scale_factor(std, offsets)
    return std


def check_scale_factor(scale: float, offsets: ArrayLike | None = None) -> None:
    """A ``ValueError`` saying why ``scale`` (data units per model unit, the std of ``offsets``)
    cannot normalise them: zero (every offset is zero, or all are one value, as huge offsets
    clamped to a loader's limit are), or out of float32's range, the model's precision (the std
    overflows or underflows it, or an offset divided by the std would overflow it).

    Example:
        >>> check_scale_factor(18.5, [3.0, -40.0])
        >>> check_scale_factor(0.0, [1000.0, 1000.0])
        Traceback (most recent call last):
        ValueError: scale factor (std of every dx, dy) is 0: every dx and dy is 1000 (no spread;
        huge offsets clamped to a loader's limit look like this)
    """
    what = f"scale factor (std of every dx, dy) is {float(scale):g}"
    values = np.zeros(0) if offsets is None else np.asarray(offsets).ravel()
    if len(values) and not np.isfinite(values).all():
        raise ValueError(f"{what}: the offsets contain NaN or infinite values")
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    f32_max = float(np.finfo(np.float32).max)
    if math.isnan(scale) or scale < 0:
        raise ValueError(f"{what}: must be > 0")
    if scale > f32_max:  # (inf included)
        why = f"the offsets are too large for float32 (up to {top:.3g})" if len(values) else "beyond float32"
        raise ValueError(f"{what}: {why}")
    if scale == 0 and len(values):
        if top == 0:
            raise ValueError(f"{what}: every offset is zero, nothing to normalise by")
        if (values == values[0]).all():
            raise ValueError(f"{what}: every dx and dy is {values[0]:g} (no spread; huge offsets "
                             "clamped to a loader's limit look like this)")
        raise ValueError(f"{what}: the offsets' spread is too small for float32 (offsets up to {top:.3g})")
    if scale == 0:
        raise ValueError(f"{what}: must be > 0")
    if top / scale > f32_max:
        raise ValueError(f"{what}: too small for offsets up to {top:.3g} (dividing by it overflows float32)")


# ---------------------------------------------------------------------------------------------
# augmentation


def _scale_factors(u: np.ndarray, factor: float) -> np.ndarray:
    # Same expression and evaluation order as the reference, in float64 like its Python floats.
    return (u - 0.5) * 2 * factor + 1.0


def random_scale(strokes: ArrayLike, factor: float, rng: Rng | None = None) -> np.ndarray:
    """Stretch x and y independently by ``1 + (2u - 1) * factor``, ``u ~ U(0, 1)``.

    Two uniforms are drawn, x first then y, as in the reference ``DataLoader.random_scale``;
    each factor is rounded to the data's dtype before multiplying, as the reference's in-place
    multiply does. Returns a new array (integer input becomes float32).

    Example:
        >>> s = np.array([[10, 10, 1]], dtype=np.float32)
        >>> out = random_scale(s, 0.15, np.random.default_rng(0))
        >>> bool(np.all((out[:, :2] >= 8.5) & (out[:, :2] <= 11.5)))
        True
    """
    s = _as_stroke3(strokes, "random_scale")
    u = _rng(rng).random(2)
    fx, fy = _scale_factors(u, factor)
    dtype = _float_dtype(s)
    out = s.astype(dtype, copy=True)
    out[:, 0] *= dtype.type(fx)
    out[:, 1] *= dtype.type(fy)
    return out


def _drop_points(flat: np.ndarray, first: np.ndarray, u: np.ndarray, prob: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised reference point dropping over concatenated sketches.

    ``flat`` [T, 3] (modified in place), ``first`` bool [T] marks each sketch's row 0, ``u`` [T]
    the per-point uniforms. Returns ``(kept rows, kept mask)``.

    The reference walks the points keeping ``prev`` = the last *kept* point and a counter of
    consecutive pen-down points. ``prev``'s pen bit always equals the previous *input* point's
    (a point is dropped only when it and ``prev`` are pen-down, leaving ``prev`` pen-down), so
    both the counter and the drop decision depend on the input alone and vectorise exactly.
    """
    n = len(flat)
    idx = np.arange(n)
    p = flat[:, 2]
    prev_p = np.empty_like(p)
    prev_p[1:] = p[:-1]
    prev_p[first] = 1  # the reference starts every sketch with prev = (0, 0, 1)
    # The counter restarts at 0 on a pen-up point or after one, else counts up.
    reset = (p == 1) | (prev_p == 1)
    count = idx - np.maximum.accumulate(np.where(reset, idx, 0))
    drop = (p == 0) & (prev_p == 0) & (count > 2) & (u < prob)
    keep = ~drop
    if drop.any():
        # A dropped offset goes to the last kept point (never in another sketch: the first three
        # points of a stroke are always kept). Adding the 1st, 2nd, ... dropped point of each run
        # in turn reproduces the reference's sequential float rounding.
        target = np.maximum.accumulate(np.where(keep, idx, 0))
        dropped = np.flatnonzero(drop)
        rank = dropped - target[dropped]
        for r in range(1, int(rank.max()) + 1):
            sel = dropped[rank == r]
            flat[target[sel], 0:2] += flat[sel, 0:2]
    return flat[keep], keep


def augment_strokes(strokes: ArrayLike, prob: float, rng: Rng | None = None) -> np.ndarray:
    """Randomly drop interior pen-down points, moving each dropped offset to the last kept point.

    The reference rule (``utils.augment_strokes``): one uniform ``u`` is drawn for *every* point;
    a point is dropped when ``u < prob``, it and its predecessor are pen-down (``p == 0``) and it
    is at least the fourth point of its stroke (counter ``> 2``). The first three points of a
    stroke and its final pen-up point are always kept, and the absolute positions of kept points
    are unchanged. Returns a new array of the input's dtype.

    Example:
        >>> s = np.array([[1, 0, 0]] * 5 + [[1, 0, 1]], dtype=np.float32)
        >>> augment_strokes(s, 1.0, np.random.default_rng(0))  # rows 3 and 4 are dropped
        array([[1., 0., 0.],
               [1., 0., 0.],
               [3., 0., 0.],
               [1., 0., 1.]], dtype=float32)
    """
    s = _as_stroke3(strokes, "augment_strokes")
    u = _rng(rng).random(len(s))
    first = np.zeros(len(s), dtype=bool)
    first[:1] = True
    out, _ = _drop_points(s.copy(), first, u, prob)
    return out


def _augment_flat(flat: np.ndarray, lengths: np.ndarray, random_scale_factor: float,
                  augment_stroke_prob: float, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """Random scale + point dropping over concatenated sketches (``flat`` is modified).

    Draws the same uniforms in the same order as the reference loop over the batch: per sketch
    ``u_x, u_y`` and then, only when ``augment_stroke_prob > 0``, one per point.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    per_point = augment_stroke_prob > 0
    block = 2 + lengths * int(per_point)
    block_start = np.cumsum(block) - block
    u = rng.random(int(block.sum()))
    dtype = flat.dtype.type
    fx = _scale_factors(u[block_start], random_scale_factor).astype(dtype)
    fy = _scale_factors(u[block_start + 1], random_scale_factor).astype(dtype)
    flat[:, 0] *= np.repeat(fx, lengths)
    flat[:, 1] *= np.repeat(fy, lengths)
    if not per_point:
        return flat, lengths
    row_start = np.cumsum(lengths) - lengths
    u_rows = u[np.repeat(block_start + 2 - row_start, lengths) + np.arange(len(flat))]
    first = np.zeros(len(flat), dtype=bool)
    first[row_start[lengths > 0]] = True
    out, keep = _drop_points(flat, first, u_rows, augment_stroke_prob)
    sketch = np.repeat(np.arange(len(lengths)), lengths)
    new_lengths = np.bincount(sketch[keep], minlength=len(lengths)).astype(np.int64)
    return out, new_lengths


def augment_batch(batch: Sequence[ArrayLike], random_scale_factor: float,
                  augment_stroke_prob: float, rng: Rng | None = None) -> list[np.ndarray]:
    """:func:`random_scale` then :func:`augment_strokes` on every sketch, vectorised.

    Gives exactly ``[augment_strokes(random_scale(s, f, rng), p, rng) for s in batch]`` (same
    values, same random stream; with ``p == 0`` the point-dropping step and its draws are
    skipped, as in the reference DataLoader).

    Example:
        >>> out = augment_batch([np.ones((6, 3))], 0.0, 0.0, np.random.default_rng(0))
        >>> out[0].shape
        (6, 3)
    """
    arrays = [_as_stroke3(s, f"augment_batch: sketch {i}") for i, s in enumerate(batch)]
    if not arrays:
        return []
    dtype = np.result_type(*[_float_dtype(a) for a in arrays])
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    flat = np.concatenate(arrays).astype(dtype, copy=False)  # always a fresh array
    out, new_lengths = _augment_flat(flat, lengths, random_scale_factor, augment_stroke_prob,
                                     _rng(rng))
    return np.split(out, np.cumsum(new_lengths)[:-1])


# ---------------------------------------------------------------------------------------------
# geometry helpers


def clamp(strokes: ArrayLike, limit: float = 1000) -> np.ndarray:
    """Clamp every column to ``[-limit, limit]`` (removes huge jumps), keeping the dtype.

    For an integer dtype the bounds are first clipped to the dtype's range (an unsigned array has
    no negative bound), so that no bound overflows it.

    Example:
        >>> clamp(np.array([[2000, -5, 1]], dtype=np.int16)).tolist()
        [[1000, -5, 1]]
        >>> clamp(np.array([[2000, 5, 1]], dtype=np.uint64)).tolist()
        [[1000, 5, 1]]
    """
    s = np.asarray(strokes)
    lo, hi = -limit, limit
    if s.dtype.kind in "iu":
        info = np.iinfo(s.dtype)
        lo, hi = s.dtype.type(max(math.ceil(lo), info.min)), s.dtype.type(min(math.floor(hi), info.max))
    return np.maximum(np.minimum(s, hi), lo)


def get_bounds(strokes: ArrayLike, factor: float = 1) -> tuple[float, float, float, float]:
    """``(min_x, max_x, min_y, max_y)`` of the absolute path, offsets divided by ``factor``.

    The origin (where the pen starts) is included, as in the reference; note the reference's
    own default ``factor`` is 10.

    Example:
        >>> get_bounds([[1, -2, 0], [3, 1, 1]])
        (0.0, 4.0, -2.0, 0.0)
    """
    s = _as_stroke3(strokes, "get_bounds")
    # float64 running sums, like the reference's Python floats.
    pos = np.cumsum(s[:, 0:2].astype(np.float64) / factor, axis=0)
    lo = np.minimum(pos.min(axis=0, initial=0.0), 0.0)
    hi = np.maximum(pos.max(axis=0, initial=0.0), 0.0)
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def strokes_to_lines(strokes: ArrayLike) -> list[np.ndarray]:
    """Stroke-3 -> list of absolute polylines (float64 ``[k, 2]`` arrays), one per stroke.

    Points after the last pen lift (an unfinished stroke) are dropped, as in the reference.

    Example:
        >>> [line.tolist() for line in strokes_to_lines([[1, 1, 0], [1, 0, 1], [0, 2, 1]])]
        [[[1.0, 1.0], [2.0, 1.0]], [[2.0, 3.0]]]
    """
    s = _as_stroke3(strokes, "strokes_to_lines")
    pos = np.cumsum(s[:, 0:2].astype(np.float64), axis=0)
    ends = np.flatnonzero(s[:, 2] == 1) + 1
    if not len(ends):
        return []
    return np.split(pos[: ends[-1]], ends[:-1])


def lines_to_strokes(lines: Sequence[ArrayLike]) -> np.ndarray:
    """List of absolute polylines -> stroke-3 (inverse of :func:`strokes_to_lines`).

    The first offset is measured from the origin; the dtype follows the points (ints stay ints).

    Example:
        >>> lines_to_strokes([[[1, 1], [2, 1]], [[2, 3]]]).tolist()
        [[1, 1, 0], [1, 0, 1], [0, 2, 1]]
    """
    pts = [np.asarray(line).reshape(-1, 2) for line in lines]
    pts = [p for p in pts if len(p)]
    if not pts:
        return np.zeros((0, 3))
    xy = np.concatenate(pts)
    dtype = np.result_type(xy.dtype, np.int8)
    out = np.zeros((len(xy), 3), dtype=dtype)
    out[:, 0:2] = np.diff(xy, axis=0, prepend=np.zeros((1, 2), dtype=xy.dtype))
    out[np.cumsum([len(p) for p in pts]) - 1, 2] = 1
    return out


def lerp(p0: ArrayLike, p1: ArrayLike, t: float) -> np.ndarray:
    """Linear interpolation ``(1 - t) * p0 + t * p1``.

    Example:
        >>> lerp(np.array([0.0, 2.0]), np.array([2.0, 4.0]), 0.5)
        array([1., 3.])
    """
    return (1.0 - t) * np.asarray(p0) + t * np.asarray(p1)


def slerp(p0: ArrayLike, p1: ArrayLike, t: float) -> np.ndarray:
    """Spherical interpolation between two latent vectors (the reference formula).

    Unlike the reference (which divides by zero), parallel inputs fall back to :func:`lerp`, and
    the cosine is clipped to [-1, 1] against rounding. Opposite (antipodal) or zero vectors lie on
    no single great circle: a ``ValueError`` (use :func:`lerp` for them).

    Example:
        >>> np.round(slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5), 6)
        array([0.707107, 0.707107])
    """
    a, b = np.asarray(p0), np.asarray(p1)
    return great_circle(a[None], b[None], np.array([t], np.float64), ["p0 and p1"])[0, 0]


def great_circle(z0: np.ndarray, z1: np.ndarray, t: np.ndarray, pairs: Sequence[str]) -> np.ndarray:
    """:func:`slerp` from each row of ``z0`` to the same row of ``z1`` (``[m, k]``) at every weight
    ``t`` (``[T]``): ``[m, T, k]``, the end rows exactly ``z0`` / ``z1`` where ``t`` is 0 / 1.
    ``pairs`` names each pair of rows for the error an antipodal or zero pair raises.

    Example:
        >>> great_circle(np.array([[2.0, 0.0]]), np.array([[0.0, 2.0]]), np.array([0.0, 1.0]),
        ...              ["z0 and z1"]).tolist()
        [[[2.0, 0.0], [0.0, 2.0]]]
        >>> great_circle(np.array([[1.0, 2.0]]), np.array([[-1.0, -2.0]]), np.array([0.5]), ["z0 and z1"])
        Traceback (most recent call last):
        ValueError: slerp: z0 and z1 are opposite (antipodal): no single great circle joins them; use lerp
    """
    a, b, t = z0[:, None, :], z1[:, None, :], np.asarray(t)[None, :, None]
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(a * b, axis=-1, keepdims=True) / (na * nb)[..., None]
    omega = np.arccos(np.clip(np.nan_to_num(cos, nan=1.0), -1.0, 1.0))
    so = np.sin(omega)
    flat = so < 1e-12
    # A zero code has no direction and opposite codes a great circle through every direction
    # orthogonal to them: any midpoint is as right as any other, so none is made up.
    for i in np.flatnonzero((na[:, 0] == 0) | (nb[:, 0] == 0)):
        raise ValueError(f"slerp: {pairs[i]} include a zero vector, which has no direction; use lerp")
    # (By the cosine: -15 / 15.000000000000002 is z against -3 z, and sin(omega) there is 1e-8,
    # big enough to divide by and get nonsense.) The margin follows the codes' precision: in
    # float32 the cosine of opposite codes rounds to within a few eps of -1, or to -1 itself.
    margin = max(1e-12, 8 * float(np.finfo(cos.dtype).eps)) if cos.dtype.kind == "f" else 1e-12
    for i in np.flatnonzero(cos[:, 0, 0].astype(np.float64) < -1.0 + margin):
        raise ValueError(f"slerp: {pairs[i]} are opposite (antipodal): no single great circle joins "
                         "them; use lerp")
    # Parallel codes: sin(omega) is 0 and the path is the straight line between them.
    so = np.where(flat, 1.0, so)
    out = np.sin((1.0 - t) * omega) / so * a + np.sin(t * omega) / so * b
    out = np.where(flat, (1.0 - t) * a + t * b, out)
    # sin(omega) / sin(omega) need not round to 1: pin the ends to the inputs themselves.
    out[:, t[0, :, 0] == 0.0] = a
    out[:, t[0, :, 0] == 1.0] = b
    return out

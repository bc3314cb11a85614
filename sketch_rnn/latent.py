"""The latent space of a conditional SketchRNN: paths, grids and arithmetic between codes, 2-D maps
of many codes, and decoded walks along their principal axes.

Everything here is numpy (and scikit-learn for the maps) on codes ``[z_size]`` / ``[n, z_size]``;
the model is touched only through :func:`sketch_rnn.sample.encode` and
:func:`sketch_rnn.sample.decode`, one batched call each.

* :func:`interpolate`: ``n`` codes from ``z0`` to ``z1`` (spherical or linear); :func:`morph`
  encodes two drawings and decodes the path between them.
* :func:`grid`: a ``rows x cols`` sheet of codes between four corners; :func:`analogy`:
  ``zc + (zb - za)`` ("a is to b as c is to ?").
* :func:`pca` and :func:`project`: principal axes of a set of codes, and 2-D positions (PCA or
  t-SNE) for :func:`sketch_rnn.draw.scatter_svg`.
* :func:`eigen_sketches`: decode ``mean + s * sqrt(var) * axis`` along the first principal axes at
  several temperatures (T. Tiao, "Visualizing the latent space of vector drawings", the
  "eigen-sheep").

Example:
    >>> z = interpolate(np.zeros(3) + [1, 0, 0], np.array([0.0, 1, 0]), n=3)
    >>> np.round(z, 3).tolist()
    [[1.0, 0.0, 0.0], [0.707, 0.707, 0.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from sketch_rnn.sampling import _unit_factor, decode, encode
from sketch_rnn.strokes import great_circle, to_data_units, to_model_units

__all__ = [
    "EigenSketches",
    "PCA",
    "analogy",
    "eigen_sketches",
    "grid",
    "interpolate",
    "morph",
    "pca",
    "project",
]

METHODS = ("slerp", "lerp")


# ---------------------------------------------------------------------------------------------
# checks


def _code(z: ArrayLike, name: str, size: int | None = None) -> np.ndarray:
    """One finite latent code ``[k]`` (of ``size`` entries when given)."""
    try:
        arr = np.asarray(z, np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not a numeric latent code ({e})") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected one latent code [z_size], got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} has {arr.shape[0]} entries: this model's z_size is {size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def _codes(z: ArrayLike, name: str = "codes", size: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Finite latent codes ``[n, k]`` (``n >= min_rows``; ``k == size`` when given)."""
    try:
        arr = np.asarray(z, np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not numeric latent codes ({e})") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name}: expected latent codes [n, z_size], got shape {arr.shape}")
    if size is not None and arr.shape[1] != size:
        raise ValueError(f"{name} have {arr.shape[1]} entries: this model's z_size is {size}")
    if len(arr) < min_rows:
        raise ValueError(f"{name}: {len(arr)} codes given, at least {min_rows} needed")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contain NaN or infinite values")
    return arr


def _conditional(model, what: str) -> None:
    if not model.config.conditional:
        raise ValueError(f"{what}: this model is unconditional (decoder only): it has no latent space")


def _count(n, name: str = "n", least: int = 2) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < least:
        raise ValueError(f"{name}={n!r}: must be an integer >= {least}")
    return int(n)


def _method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")
    return method


# ---------------------------------------------------------------------------------------------
# paths, grids, arithmetic


def _path(z0: np.ndarray, z1: np.ndarray, t: np.ndarray, method: str, pairs: Sequence[str]) -> np.ndarray:
    """Interpolants ``[m, len(t), k]`` between rows of ``z0`` and ``z1`` (``[m, k]``), vectorised
    over pairs and weights; the end rows are ``z0`` and ``z1`` exactly when t starts at 0 and ends at 1.
    ``pairs`` names each pair for slerp's errors (antipodal or zero codes).
    """
    if method == "slerp":
        return great_circle(z0, z1, t, pairs)
    a, b, t = z0[:, None, :], z1[:, None, :], t[None, :, None]
    out = (1.0 - t) * a + t * b
    out[:, t[0, :, 0] == 0.0] = a
    out[:, t[0, :, 0] == 1.0] = b
    return out


def interpolate(z0: ArrayLike, z1: ArrayLike, n: int = 10, method: str = "slerp") -> np.ndarray:
    """``n`` codes ``[n, z_size]`` from ``z0`` to ``z1`` at evenly spaced weights ``t = 0 .. 1``.

    ``method="slerp"`` (default) rotates in the plane of the two codes (the paper's choice: for
    Gaussian codes it stays on the shell where the prior puts its mass; codes of equal norm keep
    that norm, codes at most 90 degrees apart stay between the two norms); ``"lerp"`` is the
    straight line. Row 0 is ``z0`` and row ``n - 1`` is ``z1`` exactly; the dtype is float32
    when both inputs are float32, else float64.

    Example:
        >>> path = interpolate(np.array([2.0, 0.0]), np.array([0.0, 2.0]), n=5)
        >>> np.round(np.linalg.norm(path, axis=1), 6).tolist()
        [2.0, 2.0, 2.0, 2.0, 2.0]
        >>> interpolate([0.0, 0.0], [1.0, 2.0], n=3, method="lerp").tolist()
        [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]
    """
    n, method = _count(n), _method(method)
    a, b = _code(z0, "z0"), _code(z1, "z1")
    if a.shape != b.shape:
        raise ValueError(f"z0 and z1 differ in size: {a.shape[0]} and {b.shape[0]}")
    out = _path(a[None], b[None], np.linspace(0.0, 1.0, n), method, ["z0 and z1"])[0]
    return out.astype(_dtype(z0, z1))


def _dtype(*arrays) -> type:
    return np.float32 if all(np.asarray(x).dtype == np.float32 for x in arrays) else np.float64


def grid(
    corners: ArrayLike | Sequence[ArrayLike],
    rows: int = 5,
    cols: int = 5,
    method: str = "slerp",
    *,
    model=None,
    units: str = "model",
) -> np.ndarray:
    """A ``[rows, cols, z_size]`` sheet of codes between four corners (top-left, top-right,
    bottom-left, bottom-right): the top and bottom edges are interpolated across ``cols``, then
    every column from top to bottom across ``rows`` (bilinear with ``"lerp"``; with ``"slerp"``
    each edge and column is a great-circle path). The corners appear exactly.

    ``corners`` are four codes ``[4, z_size]``, or four stroke-3 drawings together with
    ``model=`` (encoded to their means; ``units`` as in :func:`morph`).

    Example:
        >>> sheet = grid(np.eye(4), rows=3, cols=4, method="lerp")
        >>> sheet.shape, sheet[0, 0].tolist(), sheet[2, 3].tolist()
        ((3, 4, 4), [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0])
    """
    rows, cols, method = _count(rows, "rows"), _count(cols, "cols"), _method(method)
    if model is not None:
        drawings = list(corners)
        if len(drawings) != 4:
            raise ValueError(f"grid: expected 4 corner drawings, got {len(drawings)}")
        _conditional(model, "grid")
        factor = _unit_factor(model, units)
        z = encode(model, [np.asarray(d, np.float32) / [factor, factor, 1] for d in drawings])
        dtype = np.float32
    else:
        z = _codes(corners, "corners")
        if len(z) != 4:
            raise ValueError(
                f"grid: expected 4 corner codes [4, z_size] (or 4 drawings with model=), got shape {z.shape}"
            )
        dtype = _dtype(corners)
    z = np.asarray(z, np.float64)
    edges = _path(z[[0, 2]], z[[1, 3]], np.linspace(0.0, 1.0, cols), method,
                  ["corners 0 and 1 (the top edge)", "corners 2 and 3 (the bottom edge)"])  # [2, cols, k]
    sheet = _path(edges[0], edges[1], np.linspace(0.0, 1.0, rows), method,
                  [f"the ends of column {j}" for j in range(cols)])  # [cols, rows, k]
    return sheet.transpose(1, 0, 2).astype(dtype)


def analogy(za: ArrayLike, zb: ArrayLike, zc: ArrayLike) -> np.ndarray:
    """Latent arithmetic: ``zc + (zb - za)``, "a is to b as c is to ?" (broadcasts over rows,
    e.g. one direction ``zb - za`` added to many codes ``zc [n, z_size]``).

    Average several codes per concept first (``z.mean(axis=0)``) for a steadier direction.

    Example:
        >>> analogy([0.0, 0.0], [1.0, 0.0], [[0.0, 1.0], [2.0, 2.0]]).tolist()
        [[1.0, 1.0], [3.0, 2.0]]
    """
    a, b, c = (np.asarray(x) for x in (za, zb, zc))
    for name, x in (("za", a), ("zb", b), ("zc", c)):
        if x.ndim not in (1, 2) or x.size == 0 or not np.issubdtype(x.dtype, np.number):
            raise ValueError(
                f"analogy: {name} must be a code [z_size] or codes [n, z_size], got shape {x.shape}"
            )
        if not np.isfinite(x).all():
            raise ValueError(f"analogy: {name} contains NaN or infinite values")
    if not a.shape[-1] == b.shape[-1] == c.shape[-1]:
        raise ValueError(f"analogy: codes differ in size ({a.shape[-1]}, {b.shape[-1]}, {c.shape[-1]})")
    return c + (b - a)


def morph(
    model,
    drawing_a: ArrayLike,
    drawing_b: ArrayLike,
    n: int = 10,
    *,
    method: str = "slerp",
    temperature: float = 0.1,
    seed: int | None = 0,
    units: str = "model",
    return_z: bool = False,
    **decode_kwargs,
):
    """Encode two drawings, interpolate between their codes and decode every step: ``n`` stroke-3
    drawings from (a reconstruction of) ``drawing_a`` to ``drawing_b``.

    One :func:`~sketch_rnn.sampling.encode` call (the means, ``mu``) and one batched
    :func:`~sketch_rnn.sampling.decode` call. ``units="pixels"`` takes and returns drawings in data
    units (divided by the model's scale factor before encoding, outputs scaled back); other
    keywords (``greedy``, ``max_len``, ``convention``, ...) go to ``decode``. With ``return_z``
    returns ``(drawings, path)``, the path being :func:`interpolate`'s ``[n, z_size]``.

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> a, b = np.array([[1.0, 0, 0], [0, 1, 1]]), np.array([[0, 1.0, 0], [1, 0, 1]])
        >>> len(morph(model, a, b, n=4, temperature=0.1, seed=0, max_len=8))
        4
    """
    n, method = _count(n), _method(method)
    _conditional(model, "morph")
    factor = _unit_factor(model, units)
    ends = encode(model, [to_model_units(np.asarray(d, np.float32), factor) for d in (drawing_a, drawing_b)])
    path = _path(ends[:1].astype(np.float64), ends[1:].astype(np.float64), np.linspace(0.0, 1.0, n), method,
                 ["the codes of drawing_a and drawing_b"])[0].astype(np.float32)
    drawings = decode(model, path, temperature=temperature, seed=seed, **decode_kwargs)
    if factor != 1.0:
        drawings = [to_data_units(d, factor) for d in drawings]
    return (drawings, path) if return_z else drawings


# ---------------------------------------------------------------------------------------------
# maps of many codes


class PCA(NamedTuple):
    """Principal axes of a set of codes (``k`` of them, largest variance first)."""

    components: np.ndarray  # [k, z_size], unit rows
    explained_variance: np.ndarray  # [k], variance along each axis
    explained_variance_ratio: np.ndarray  # [k], its share of the total variance
    mean: np.ndarray  # [z_size]

    def transform(self, codes: ArrayLike) -> np.ndarray:
        """Coordinates ``[n, k]`` of codes along the axes."""
        return (np.asarray(codes, np.float64) - self.mean) @ self.components.T

    def point(self, axis: int, s: ArrayLike) -> np.ndarray:
        """``mean + s * sqrt(var) * component`` for each ``s`` (standard deviations along ``axis``)."""
        s = np.asarray(s, np.float64)
        return self.mean + s[..., None] * np.sqrt(self.explained_variance[axis]) * self.components[axis]


def pca(codes: ArrayLike, k: int = 2) -> PCA:
    """The ``k`` principal axes of latent codes ``[n, z_size]`` (scikit-learn's exact SVD; axis
    signs are fixed by scikit-learn's convention, so results are deterministic).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(50, 4)) * [3.0, 1.0, 0.5, 0.1]
        >>> p = pca(z, k=2)
        >>> p.components.shape, int(np.argmax(np.abs(p.components[0])))
        ((2, 4), 0)
    """
    from sklearn.decomposition import PCA as SkPCA

    z = _codes(codes, min_rows=2)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= min(z.shape):
        raise ValueError(
            f"pca: k={k!r} must be an integer in 1..{min(z.shape)} "
            f"(for {z.shape[0]} codes of size {z.shape[1]})"
        )
    fit = SkPCA(n_components=int(k), svd_solver="full").fit(z)
    return PCA(fit.components_, fit.explained_variance_, fit.explained_variance_ratio_, fit.mean_)


def project(codes: ArrayLike, method: str = "pca", *, random_state: int = 0, **kwargs) -> np.ndarray:
    """2-D positions ``[n, 2]`` of latent codes, for :func:`sketch_rnn.draw.scatter_svg`.

    ``"pca"``: coordinates along the first two principal axes (linear: distances along them are
    kept). ``"tsne"``: scikit-learn's t-SNE (non-linear: keeps neighbourhoods, shows clusters),
    seeded by ``random_state`` so the same codes give the same map; ``perplexity`` defaults to
    ``min(30, (n - 1) / 3)`` (t-SNE needs fewer than ``n``) and other keywords go to ``TSNE``.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(20, 8))
        >>> project(z).shape, bool((project(z, "tsne") == project(z, "tsne")).all())
        ((20, 2), True)
    """
    z = _codes(codes, min_rows=2 if method == "pca" else 3)
    if method == "pca":
        if kwargs:
            raise TypeError(f"project: unexpected keywords for method='pca': {sorted(kwargs)}")
        if z.shape[1] < 2:
            raise ValueError("project: codes of size 1 have no second axis")
        return pca(z, 2).transform(z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        kwargs.setdefault("perplexity", min(30.0, (len(z) - 1) / 3))
        kwargs.setdefault("init", "pca")
        return TSNE(n_components=2, random_state=random_state, **kwargs).fit_transform(z)
    raise ValueError(f"method={method!r}: expected 'pca' or 'tsne'")


class EigenSketches(NamedTuple):
    """What :func:`eigen_sketches` decoded: ``drawings[i][j][k]`` is axis ``axes[i]`` at
    temperature ``temperatures[j]`` and step ``steps[k]``, decoded from ``z[i, k]``."""

    drawings: list[list[list[np.ndarray]]]
    z: np.ndarray  # [len(axes), len(steps), z_size]
    axes: tuple[int, ...]
    steps: np.ndarray  # standard deviations along each axis
    temperatures: tuple[float, ...]
    pca: PCA


def eigen_sketches(
    model,
    codes: ArrayLike,
    axes: int | Sequence[int] = 3,
    steps: int | Sequence[float] = 5,
    temperatures: Sequence[float] = (0.1, 0.5),
    seed: int | None = 0,
    *,
    span: float = 2.0,
    units: str = "model",
    **decode_kwargs,
) -> EigenSketches:
    """Decode walks along the principal axes of ``codes`` (Tiao's "eigen-sheep").

    Point ``k`` of axis ``i`` is ``mean + steps[k] * sqrt(var_i) * axis_i``: ``steps`` are
    standard deviations along the axis (an int ``m`` means ``m`` values evenly from ``-span`` to
    ``span``). ``axes`` is a count (the first ones) or a list of axis indices (0 = largest
    variance). Each temperature is one batched decode of all points with the same ``seed``, so
    the sheets differ only by temperature. ``units="pixels"`` scales the drawings to data units;
    other keywords go to :func:`~sketch_rnn.sample.decode`.

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> codes = np.random.default_rng(0).normal(size=(30, 4))
        >>> sheet = eigen_sketches(model, codes, axes=2, steps=3, temperatures=[0.1], max_len=5)
        >>> len(sheet.drawings), len(sheet.drawings[0]), len(sheet.drawings[0][0]), sheet.z.shape
        (2, 1, 3, (2, 3, 4))
    """
    _conditional(model, "eigen_sketches")
    z = _codes(codes, size=model.config.z_size, min_rows=2)
    if isinstance(axes, int | np.integer) and not isinstance(axes, bool):
        axes = tuple(range(_count(axes, "axes", least=1)))
    else:
        axes = tuple(int(a) for a in axes)
    limit = min(z.shape)
    if not axes or min(axes) < 0 or max(axes) >= limit:
        raise ValueError(
            f"eigen_sketches: axes={axes} must be non-empty indices in 0..{limit - 1} "
            f"({z.shape[0]} codes of size {z.shape[1]})"
        )
    if isinstance(steps, int | np.integer) and not isinstance(steps, bool):
        count = _count(steps, "steps", least=1)
        steps = np.linspace(-span, span, count) if count > 1 else np.zeros(1)
    steps = np.asarray(steps, np.float64)
    if steps.ndim != 1 or not len(steps) or not np.isfinite(steps).all():
        raise ValueError(f"eigen_sketches: steps must be a count or finite values, got {steps!r}")
    temperatures = tuple(float(t) for t in np.atleast_1d(temperatures))
    if not temperatures:
        raise ValueError("eigen_sketches: no temperatures given")
    factor = _unit_factor(model, units)
    scale = np.array([factor, factor, 1.0], np.float32)
    fit = pca(z, max(axes) + 1)
    points = np.stack([fit.point(a, steps) for a in axes]).astype(np.float32)  # [A, S, k]
    flat = points.reshape(-1, points.shape[-1])
    per_temperature = []
    for tau in temperatures:
        out = decode(model, flat, temperature=tau, seed=seed, **decode_kwargs)
        per_temperature.append([d * scale for d in out] if factor != 1.0 else out)
    n_steps = len(steps)
    drawings = [
        [sheet[i * n_steps : (i + 1) * n_steps] for sheet in per_temperature] for i in range(len(axes))
    ]
    return EigenSketches(drawings, points, axes, steps, temperatures, fit)

"""Look inside a stroke-3 ``.npz`` before training on it: statistics, checks and a preview grid.

:func:`dataset_info` gathers what matters to Sketch-RNN: sketches per split, the length
distribution (``max_seq_len`` is the longest over all splits), the normalising scale factor the
loader will divide by (std of the training dx, dy, computed by the project's own loader), the
offset range, pen-lift conventions and anything suspicious. :func:`show_dataset` draws a grid of
sketches to SVG.

Example:
    >>> info = dataset_info("datasets/aaron_sheep/aaron_sheep.npz")  # doctest: +SKIP
    >>> info.splits["train"].count, round(info.scale_factor, 4)  # doctest: +SKIP
    (7400, 18.5198)
    >>> print(format_info(info))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from sketch_rnn.data import SPLITS, DataLoader, read_npz
from sketch_rnn.draw import grid_svg, save_svg

__all__ = ["SplitInfo", "DatasetInfo", "dataset_info", "format_info", "show_dataset", "small_splits"]

# The reference clamps offsets beyond this; the default batch size it evaluates with.
_CLAMP = 1000
_DEFAULT_BATCH = 100


@dataclasses.dataclass
class SplitInfo:
    """Statistics of one split.

    Example:
        >>> SplitInfo(count=0).count
        0
    """

    count: int
    dtypes: list[str] = dataclasses.field(default_factory=list)
    length_min: int = 0
    length_mean: float = 0.0
    length_max: int = 0
    hist_edges: list[int] = dataclasses.field(default_factory=list)
    hist_counts: list[int] = dataclasses.field(default_factory=list)
    dx_range: tuple[float, float] = (0.0, 0.0)
    dy_range: tuple[float, float] = (0.0, 0.0)
    first_row_zero: int = 0
    not_ending_in_lift: int = 0
    bad_pen_values: int = 0
    beyond_clamp: int = 0
    single_point: int = 0


@dataclasses.dataclass
class DatasetInfo:
    """Everything :func:`format_info` prints.

    Example:
        >>> DatasetInfo("x.npz", {}, None, 0, None, []).path
        'x.npz'
    """

    path: str
    splits: dict[str, SplitInfo]
    scale_factor: float | None
    max_seq_len: int
    classes: dict[str, dict[str, int]] | None
    problems: list[str]


def _split_info(sketches: list[np.ndarray], bins: int) -> SplitInfo:
    if not sketches:
        return SplitInfo(count=0)
    lengths = np.array([len(s) for s in sketches])
    rows = np.concatenate([np.asarray(s, dtype=np.float64) for s in sketches])
    last = np.cumsum(lengths) - 1
    first = last - lengths + 1
    pen = rows[:, 2]
    bad_pen = ~np.isin(pen, (0, 1))
    per_sketch_bad = np.bincount(np.repeat(np.arange(len(sketches)), lengths)[bad_pen],
                                 minlength=len(sketches))
    big = np.abs(rows[:, 0:2]).max(axis=1) > _CLAMP
    per_sketch_big = np.bincount(np.repeat(np.arange(len(sketches)), lengths)[big],
                                 minlength=len(sketches))
    lo, hi = int(lengths.min()), int(lengths.max())
    counts, edges = np.histogram(lengths, bins=max(1, min(bins, hi - lo + 1)), range=(lo, hi + 1))
    return SplitInfo(
        count=len(sketches),
        dtypes=sorted({str(np.asarray(s).dtype) for s in sketches}),
        length_min=lo,
        length_mean=float(lengths.mean()),
        length_max=hi,
        hist_edges=[int(round(e)) for e in edges],
        hist_counts=counts.tolist(),
        dx_range=(float(rows[:, 0].min()), float(rows[:, 0].max())),
        dy_range=(float(rows[:, 1].min()), float(rows[:, 1].max())),
        first_row_zero=int(((rows[first, 0] == 0) & (rows[first, 1] == 0)).sum()),
        not_ending_in_lift=int((pen[last] != 1).sum()),
        bad_pen_values=int((per_sketch_bad > 0).sum()),
        beyond_clamp=int((per_sketch_big > 0).sum()),
        single_point=int((lengths == 1).sum()),
    )


def _classes(path: str) -> dict[str, dict[str, int]] | None:
    """Sketches per class and split, from the optional ``*_labels`` / ``class_names`` members."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
        if not all(f"{k}_labels.npy" in names for k in SPLITS):
            return None
        with np.load(path, allow_pickle=False) as z:  # plain arrays only: no pickle runs
            labels = {k: z[f"{k}_labels"] for k in SPLITS}
            n_classes = 1 + max((int(v.max()) for v in labels.values() if len(v)), default=0)
            class_names = ([str(c) for c in z["class_names"]] if "class_names.npy" in names
                           else [str(i) for i in range(n_classes)])
    except (ValueError, OSError, zipfile.BadZipFile, KeyError):
        return None
    return {name: {k: int((labels[k] == i).sum()) for k in SPLITS}
            for i, name in enumerate(class_names)}


def small_splits(counts: Mapping[str, int], batch_size: int | None = None) -> list[str]:
    """One problem line per non-empty split smaller than one batch (``batch_size``, default the
    reference's 100): training and evaluation read whole batches only, so such a split is never
    seen.

    Example:
        >>> small_splits({"train": 500, "valid": 40, "test": 0})
        ['valid has 40 sketches, fewer than one batch of the default batch_size 100']
    """
    batch = f"batch_size {batch_size}" if batch_size else f"the default batch_size {_DEFAULT_BATCH}"
    size = batch_size or _DEFAULT_BATCH
    return [f"{k} has {n} sketches, fewer than one batch of {batch}"
            for k, n in counts.items() if 0 < n < size]


def dataset_info(path: str | os.PathLike, bins: int = 10) -> DatasetInfo:
    """Read a stroke-3 ``.npz`` (safely, with the project's loader) and collect statistics.

    Raises the loader's errors (``FileNotFoundError``, ``sketch_rnn.data.DatasetError``) when
    the file cannot be used at all; sketch-level problems are listed in ``problems``.

    Example:
        >>> dataset_info("missing.npz")
        Traceback (most recent call last):
        ...
        FileNotFoundError: missing.npz: dataset file not found
    """
    path = os.fspath(path)
    contents = read_npz(path)
    splits = {k: _split_info(contents.splits[k], bins) for k in SPLITS}
    problems = [f"skipped {p}" for p in contents.problems]
    all_lengths = [len(s) for k in SPLITS for s in contents.splits[k]]
    max_seq_len = max(all_lengths, default=0)
    scale = None
    if contents.splits["train"]:
        # float64 copies: the loader's clamp and float32 cast give the same values for any
        # integer dtype, and none (uint64 included) can overflow on the way.
        loader = DataLoader([np.asarray(s, np.float64) for s in contents.splits["train"]], batch_size=1,
                            max_seq_len=max_seq_len)
        try:
            scale = float(loader.calculate_normalizing_scale_factor())
        except ValueError as e:  # zero, or beyond float32: the message says which
            problems.append(f"train split: {e}")
    else:
        problems.append("train split is empty: nothing to train on")
    for k, info in splits.items():
        problems += small_splits({k: info.count})
        if info.not_ending_in_lift:
            problems.append(f"{k}: {info.not_ending_in_lift} sketches do not end with a pen lift")
        if info.bad_pen_values:
            problems.append(f"{k}: {info.bad_pen_values} sketches have pen values other than 0/1")
        if info.beyond_clamp:
            problems.append(f"{k}: {info.beyond_clamp} sketches have offsets beyond +-{_CLAMP} "
                            "(the loader clamps them)")
    return DatasetInfo(path, splits, scale, max_seq_len, _classes(path), problems)


def _bar(n: int, top: int, width: int = 30) -> str:
    return "#" * max(1 if n else 0, round(width * n / top)) if top else ""


def format_info(info: DatasetInfo) -> str:
    """Human-readable report of :func:`dataset_info`.

    Example:
        >>> print(format_info(DatasetInfo("x.npz", {"train": SplitInfo(0)}, None, 0, None, [])))
        x.npz
          train: 0 sketches
          max_seq_len (longest sketch, all splits): 0
          normalising scale factor (std of train dx, dy): n/a
          problems: none
    """
    out = [info.path]
    for k, s in info.splits.items():
        if not s.count:
            out.append(f"  {k}: 0 sketches")
            continue
        out.append(f"  {k}: {s.count} sketches ({', '.join(s.dtypes)}), length min/mean/max "
                   f"{s.length_min}/{s.length_mean:.1f}/{s.length_max}")
        out.append(f"    offsets dx {s.dx_range[0]:g}..{s.dx_range[1]:g}, "
                   f"dy {s.dy_range[0]:g}..{s.dy_range[1]:g}; first row (0, 0) in "
                   f"{s.first_row_zero}/{s.count}; single-point sketches {s.single_point}")
        out.append(f"    pen: {s.count - s.not_ending_in_lift}/{s.count} end with a lift, "
                   f"{s.bad_pen_values} with values other than 0/1")
        top = max(s.hist_counts)
        for a, b, n in zip(s.hist_edges[:-1], s.hist_edges[1:], s.hist_counts, strict=True):
            out.append(f"    len {a:>4}-{b - 1:<4} {n:>7} {_bar(n, top)}")
    out.append(f"  max_seq_len (longest sketch, all splits): {info.max_seq_len}")
    scale = "n/a" if info.scale_factor is None else f"{info.scale_factor:.4f}"
    out.append(f"  normalising scale factor (std of train dx, dy): {scale}")
    if info.classes:
        out.append(f"  classes ({len(info.classes)}): " + ", ".join(
            f"{name} {'/'.join(str(v[k]) for k in SPLITS)}" for name, v in info.classes.items()))
    if info.problems:
        out.append(f"  problems ({len(info.problems)}):")
        out.extend(f"    - {p}" for p in info.problems[:20])
        if len(info.problems) > 20:
            out.append(f"    ... {len(info.problems) - 20} more")
    else:
        out.append("  problems: none")
    return "\n".join(out)


def show_dataset(path: str | os.PathLike, out: str | os.PathLike | None = None, *, n: int = 25,
                 split: str = "train", seed: int | None = None, factor: float | None = None,
                 ncols: int | None = None) -> str:
    """Draw ``n`` sketches of a split on a grid; returns the SVG and saves it to ``out``.

    ``seed=None`` takes the first ``n`` sketches, otherwise a seeded random choice. ``factor``
    (offsets are divided by it, as in ``draw_strokes``) defaults to about 120 px per grid cell.

    Example:
        >>> svg = show_dataset("aaron_sheep.npz", "grid.svg", n=25)  # doctest: +SKIP
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    sketches = read_npz(path).splits[split]
    if not sketches:
        raise ValueError(f"{os.fspath(path)}: split '{split}' is empty")
    n = min(max(1, n), len(sketches))
    if seed is None:
        chosen = sketches[:n]
    else:
        idx = np.random.default_rng(seed).choice(len(sketches), size=n, replace=False)
        chosen = [sketches[i] for i in idx]
    if factor is None:
        extents = [np.ptp(np.cumsum(np.asarray(s, dtype=np.float64)[:, 0:2], axis=0), axis=0)
                   for s in chosen]
        factor = max(1.2 * float(np.max(extents)) / 120.0, 1e-6)
    svg = grid_svg(chosen, ncols=ncols, factor=factor)
    if out is not None:
        save_svg(svg, out)
    return svg

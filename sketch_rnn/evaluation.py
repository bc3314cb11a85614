"""Evaluating a model on drawings: L_R and L_KL in both pen-loss forms, and per-sketch NLL.

For drawings given as stroke-3 arrays in *pixel* (data) units, with ``s`` pixels per model unit
(the model's ``config.scale_factor``: its training data's normalising factor, or a browser model's
``scale_factor / pixel_factor``; else the drawings' own normalising factor), :func:`evaluate_drawings`
reports:

* ``r_loss`` / ``r_loss_masked``: the reference's reconstruction loss L_R, the mean over all
  ``B x N_max`` target rows of ``L_s + L_p`` (``N_max = max(max_seq_len, longest sketch)``); the
  pen term unmasked (training form, the reference's ``Valid_Reconstr_Cost``) or masked by
  ``1 - p3`` (the inference-mode form). Computed with :mod:`sketch_rnn.losses` (``+1e-6`` inside the
  log, in the model's ``gmm_loss`` form).
* ``kl``: L_KL (mean over sketches and latent dimensions, before the ``kl_tolerance`` floor);
  0 for an unconditional model.
* ``nll`` (per sketch, in model units and in pixel units): for a sketch of ``N`` rows, targets
  ``y_1..y_N = [dx/s, dy/s, 1-p, p, 0]`` and ``y_{N+1} = [0, 0, 0, 0, 1]``, inputs ``x_1`` = the
  model's start token (browser models ``(0,0,0,0,0)``, TF models ``(0,0,1,0,0)``) and
  ``x_{t+1} = y_t``: ``NLL = 1/(N+1) sum_t [-log P_pen(y_t) + 1[t<=N] (-log GMM(y_t[0:2]))]``, exact
  (no epsilon, float64 from the decoder outputs). The pixel-unit NLL adds ``2 log s`` per offset
  term (a density per pixel^2 instead of per model unit^2): the definition in
  ``pretrained/SOURCES.md``.

Conditional models decode from ``z = mu`` (``sample_z=True`` draws ``z = mu + sigma eps`` as the
reference's eval model does); legacy browser VAEs (``config.z_tanh``) get ``tanh(z)``
in the decoder's initial state only, as sketch-rnn-js does (the model's ``initial_state``).

Example:
    >>> from sketch_rnn.interop.browser import load_browser_model  # doctest: +SKIP
    >>> model = load_browser_model("cat.gen.json")  # doctest: +SKIP
    >>> result = evaluate(model, "cat.ndjson")  # doctest: +SKIP
    >>> round(result.mean_nll_pixels, 4)  # doctest: +SKIP
    7.9442
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from keras import ops

from sketch_rnn import backend, losses
from sketch_rnn.files import atomic_write_text
from sketch_rnn.runtime import RuntimeOptions, resolve
from sketch_rnn.strokes import (
    check_drawing,
    normalizing_scale_factor,
    pad_batch,
    start_token_named,
    to_model_units,
)

if TYPE_CHECKING:  # (sketch_rnn.datasets is imported when an ndjson file is read)
    from sketch_rnn.datasets.report import Report


def drawings_scale(model, drawings: Sequence[np.ndarray]) -> float:
    """Pixels (data units) per model unit for evaluating ``drawings``: the model's
    ``config.scale_factor``, else the drawings' own normalising factor (the reference's pooled std
    of dx, dy)."""
    if model.config.scale_factor:
        return float(model.config.scale_factor)
    try:
        return float(normalizing_scale_factor([np.asarray(d, np.float64) for d in drawings]))
    except ValueError as e:
        raise ValueError(f"the model has no scale_factor, and the drawings' own {e}") from None


@dataclasses.dataclass
class EvalResult:
    """Losses over a set of drawings; per-sketch arrays are in the input order."""

    n_rows: np.ndarray
    nll: np.ndarray
    nll_pixels: np.ndarray
    nll_offset: np.ndarray
    nll_pen: np.ndarray
    r_loss_sketch: np.ndarray
    r_loss_masked_sketch: np.ndarray
    kl_sketch: np.ndarray
    scale: float
    n_max: int
    start_token: tuple[float, ...]
    kl_weight: float
    kl_tolerance: float
    #: input lines skipped as unusable (:func:`evaluate` on an ndjson file; each is also warned about)
    skipped: int = 0

    @property
    def n(self) -> int:
        return len(self.n_rows)

    @property
    def r_loss(self) -> float:
        return float(np.mean(self.r_loss_sketch))

    @property
    def r_loss_masked(self) -> float:
        return float(np.mean(self.r_loss_masked_sketch))

    @property
    def kl(self) -> float:
        return float(np.mean(self.kl_sketch))

    @property
    def cost(self) -> float:
        """``L_R + w max(L_KL, tol)`` with the training form of L_R."""
        return self.r_loss + self._kl_cost()

    @property
    def cost_masked(self) -> float:
        return self.r_loss_masked + self._kl_cost()

    def _kl_cost(self) -> float:
        return self.kl_weight * max(self.kl, self.kl_tolerance) if self.kl_weight else 0.0

    @property
    def mean_nll(self) -> float:
        return float(np.mean(self.nll))

    @property
    def mean_nll_pixels(self) -> float:
        return float(np.mean(self.nll_pixels))

    def summary(self) -> dict[str, float]:
        return {
            "sketches": self.n, "skipped": self.skipped, "scale": self.scale, "n_max": self.n_max,
            "r_loss": self.r_loss, "r_loss_masked": self.r_loss_masked, "kl": self.kl,
            "cost": self.cost, "cost_masked": self.cost_masked,
            "nll": self.mean_nll, "nll_pixels": self.mean_nll_pixels,
        }

    def worst(self, k: int) -> np.ndarray:
        """Indices of the ``k`` drawings with the highest NLL (outliers first)."""
        return np.argsort(-self.nll_pixels, kind="stable")[:k]

    def format_table(self) -> str:
        rows = [
            ("sketches", f"{self.n}" + (f" ({self.skipped} bad lines skipped)" if self.skipped else "")),
            ("pixels per model unit", f"{self.scale:.6g}"),
            ("start token", str(list(self.start_token))),
            ("N_max (L_R normaliser)", f"{self.n_max}"),
            ("L_R (training form, pen unmasked)", f"{self.r_loss:.6f}"),
            ("L_R (masked pen)", f"{self.r_loss_masked:.6f}"),
            ("L_KL", f"{self.kl:.6f}"),
            ("cost (training form)", f"{self.cost:.6f}"),
            ("cost (masked pen)", f"{self.cost_masked:.6f}"),
            ("NLL per step, model units", f"{self.mean_nll:.6f}"),
            ("NLL per step, pixel units", f"{self.mean_nll_pixels:.6f}"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def write_csv(self, path: str | os.PathLike, names: Sequence[str] | None = None) -> None:
        import csv
        import io

        f = io.StringIO(newline="")
        w = csv.writer(f)
        w.writerow(["index", "name", "rows", "nll", "nll_pixels", "nll_offset", "nll_pen",
                    "r_loss", "r_loss_masked", "kl"])
        for i in range(self.n):
            w.writerow([i, names[i] if names else "", int(self.n_rows[i]), f"{self.nll[i]:.6f}",
                        f"{self.nll_pixels[i]:.6f}", f"{self.nll_offset[i]:.6f}",
                        f"{self.nll_pen[i]:.6f}", f"{self.r_loss_sketch[i]:.6f}",
                        f"{self.r_loss_masked_sketch[i]:.6f}", f"{self.kl_sketch[i]:.6f}"])
        atomic_write_text(path, f.getvalue())


def _exact_terms(raw: np.ndarray, target: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-position exact ``-log GMM(dx, dy)`` and ``-log P_pen`` in float64 (no epsilon)."""
    raw = raw.astype(np.float64)
    pen_logits = raw[..., :3]
    pi, mu1, mu2, ls1, ls2, corr = np.split(raw[..., 3 : 3 + 6 * m], 6, axis=-1)
    log_pi = pi - _logsumexp(pi)
    rho = np.tanh(corr)
    one_m = 1.0 - rho * rho
    u1 = (target[..., 0:1] - mu1) * np.exp(-ls1)
    u2 = (target[..., 1:2] - mu2) * np.exp(-ls2)
    z = u1 * u1 + u2 * u2 - 2.0 * rho * u1 * u2
    with np.errstate(divide="ignore"):
        log_one_m = np.log(one_m)
        log_dens = -z / (2.0 * one_m) - math.log(2.0 * math.pi) - ls1 - ls2 - 0.5 * log_one_m
    offset = -_logsumexp(log_pi + log_dens)[..., 0]
    log_pen = pen_logits - _logsumexp(pen_logits)
    pen = -np.sum(log_pen * target[..., 2:5], axis=-1)
    return offset, pen


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = np.max(a, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.sum(np.exp(a - top), axis=-1, keepdims=True))


def evaluate_drawings(model, drawings: Sequence[np.ndarray], *, scale: float | None = None,
                      start_token: Sequence[float] | str | None = None, batch_size: int = 100,
                      sample_z: bool = False, seed: int = 0, form: str | None = None,
                      kl_tolerance: float = 0.2, kl_weight: float = 0.5, dtype: str = "float32",
                      runtime: RuntimeOptions | None = None) -> EvalResult:
    """Evaluate ``model`` on stroke-3 ``drawings`` in pixel (data) units; see the module docstring.

    Args:
        model: a :class:`~sketch_rnn.model.SketchRNN` (any cell type, conditional or not).
        drawings: stroke-3 arrays ``[dx, dy, pen_lift]``, in pixels / data units.
        scale: pixels per model unit (default :func:`drawings_scale`).
        start_token: first decoder input: 5 numbers, a name for
            :func:`~sketch_rnn.strokes.start_token_named` (``"reference"``, ``"zeros"``; ``"tf"``)
            or ``"model"`` / None: the model's ``config.start_token``.
        batch_size: drawings per forward pass.
        sample_z: decode from ``z = mu + sigma eps`` (seeded) instead of ``z = mu``.
        form: L_R's offset-loss form, ``"stable"`` or ``"reference"`` (default ``config.gmm_loss``).
        kl_tolerance: the floor of the KL term in ``cost`` (magenta's default 0.2).
        dtype: ``"float64"``: the NLL's targets are the offsets divided by the scale in float64
            (``"float32"``: the float32 rows the network reads, as magenta's), and the per-sketch
            sums of every term are float64. The network itself and the per-position L_R and L_KL
            terms (the training losses' code) stay float32 either way; the NLL's mixture maths is
            float64 from the network's float32 outputs either way.
        runtime: how the forward passes run (``eval_jit``: one compiled function; the values do not
            depend on it to float32 rounding).

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> result = evaluate_drawings(model, [np.array([[5.0, 2.0, 0], [1.0, -3.0, 1]])], scale=10.0)
        >>> result.n, result.n_rows.tolist(), result.nll.shape
        (1, [2], (1,))
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r}: expected 'float32' or 'float64'")
    drawings = [np.asarray(d) for d in drawings]
    if not drawings:
        raise ValueError("no drawings to evaluate")
    for i, d in enumerate(drawings):
        check_drawing(d, f"drawing {i}")
    # (float64 until the batch is made: the scaled offsets are rounded to float32 once)
    drawings = [d.astype(np.float64) for d in drawings]
    config = model.config
    m = config.num_mixture
    scale = float(scale) if scale is not None else drawings_scale(model, drawings)
    if start_token is None or (isinstance(start_token, str) and start_token == "model"):
        start_token = config.start_token
    elif isinstance(start_token, str):
        start_token = start_token_named(start_token)
    start = tuple(float(v) for v in start_token)
    form = form or config.gmm_loss
    lengths = np.array([len(d) for d in drawings])
    n_max = int(max(config.max_seq_len, lengths.max()))
    length = n_max + 1 if lengths.max() >= n_max else n_max
    units = [to_model_units(d, scale) for d in drawings]
    runtime = resolve(runtime)
    jit = runtime.eval_uses_jit(len(drawings))
    # A drawing's decoder outputs through N_max all count (L_R's pen term is unmasked after its end),
    # so every batch is as long as the longest: no sort or per-batch length would save steps. The
    # compiled function sees one batch shape: the batch and the length rounded up, so that another
    # call with this model (other drawings, the other start token) reuses the compiled code.
    rows = -(-length // 8) * 8 if jit else length
    per_batch = min(batch_size, 1 << (len(drawings) - 1).bit_length()) if jit else batch_size
    eps = (np.random.default_rng(seed).standard_normal((len(drawings), config.z_size)).astype(np.float32)
           if sample_z and config.conditional else None)
    forward = _forward_fn(model, sample_z and config.conditional, jit, runtime, form)
    out = {k: [] for k in ("raw", "target", "r", "r_masked", "kl")}
    for lo in range(0, len(drawings), per_batch):
        seq_len = lengths[lo : lo + per_batch]
        x = pad_batch(units[lo : lo + per_batch], rows, start_token=start)
        fill = per_batch - len(x) if jit else 0
        args = [_fill(x, fill), _fill(seq_len.astype(np.int32), fill)]
        if eps is not None:
            args.append(_fill(eps[lo : lo + per_batch], fill))
        raw, ls, lp, mask, kl = (ops.convert_to_numpy(v)[: len(x)] for v in forward(*args))
        # The NLL needs each drawing's rows up to its end row only.
        upto_end = np.arange(rows)[None, :] <= seq_len[:, None]
        out["raw"].append(raw[upto_end])
        if dtype == "float64":
            exact = pad_batch(units[lo : lo + per_batch], rows, dtype=np.float64, start_token=start)
            out["target"].append(exact[:, 1:][upto_end])
        else:
            out["target"].append(x[:, 1:][upto_end])
        ls, lp, mask = ls[:, :n_max], lp[:, :n_max], mask[:, :n_max]
        if dtype == "float64":
            ls, lp = ls.astype(np.float64), lp.astype(np.float64)
        out["r"].append(np.sum(ls + lp, 1) / n_max)
        out["r_masked"].append(np.sum(ls + lp * mask, 1) / n_max)
        out["kl"].append(kl)
    cat = {k: np.concatenate(v) for k, v in out.items()}
    offset, pen = _exact_terms(cat["raw"], cat["target"].astype(np.float64), m)
    which = np.repeat(np.arange(len(drawings)), lengths + 1)
    real = np.concatenate([np.arange(n + 1) < n for n in lengths])
    nll_offset = np.bincount(which, np.where(real, offset, 0.0), len(drawings)) / (lengths + 1)
    nll_pen = np.bincount(which, pen, len(drawings)) / (lengths + 1)
    cat = {k: cat[k].astype(np.float64) for k in ("r", "r_masked", "kl")}
    cat.update(offset=nll_offset, pen=nll_pen)
    nll = cat["offset"] + cat["pen"]
    nll_pixels = nll + 2.0 * math.log(scale) * lengths / (lengths + 1)
    return EvalResult(
        n_rows=lengths, nll=nll, nll_pixels=nll_pixels, nll_offset=cat["offset"], nll_pen=cat["pen"],
        r_loss_sketch=cat["r"], r_loss_masked_sketch=cat["r_masked"], kl_sketch=cat["kl"],
        scale=scale, n_max=n_max, start_token=start,
        kl_weight=float(kl_weight) if config.conditional else 0.0, kl_tolerance=float(kl_tolerance),
    )


def _fill(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with ``n`` copies of its first row appended (a full batch; their results are dropped)."""
    return np.concatenate([a, np.repeat(a[:1], n, axis=0)]) if n else a


#: The compiled forward passes of each model (traced per batch shape; they read its weights).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward_fn(model, sample_z: bool, jit: bool, runtime: RuntimeOptions, form: str) -> Callable:
    """``forward(x, seq_len[, eps]) -> (raw [B, T, 3+6M], L_s, L_p, pen mask [B, T], kl [B])``: the
    model's own posterior and teacher-forced decoder over a padded batch ``x [B, T+1, 5]``, from
    ``z = mu`` (or ``mu + sigma eps``), and the training losses' per-position terms. ``jit``: one
    XLA-compiled function, cached per model, running the reference recurrences (the fused ones
    exist for training's hand-written gradient; :func:`sketch_rnn.backend.function`: XLA on
    TensorFlow, ``jax.jit`` on JAX); else eager, with ``runtime``'s recurrence."""
    inner = runtime.replace(recurrence="reference") if jit else runtime

    def forward(x, seq_len, eps=None):
        if not model.config.conditional:
            z, kl = None, ops.zeros((ops.shape(x)[0],))
        else:
            mu, presig = model.posterior(x, seq_len, runtime=inner)
            z = mu + ops.exp(presig / 2.0) * eps if sample_z else mu
            kl = losses.kl_per_sketch(mu, presig)
        raw, _ = model.decode_sequence(x[:, :-1], z, model.initial_state(z, ops.shape(x)[0]), runtime=inner)
        ls, lp, mask = losses.reconstruction_terms(raw, x[:, 1:], model.config.num_mixture, form)
        return raw, ls, lp, mask, kl

    if not jit:
        return forward
    cache = _COMPILED.setdefault(model, {})
    key = (sample_z, inner, form)
    if key not in cache:
        # The weights are read at every call (not baked in), so a model trained further between
        # evaluations keeps its compiled code; the control flow is Python-level or explicit loops.
        cache[key] = backend.function(forward, model.weights, jit=True)
    return cache[key]


# -- data files --------------------------------------------------------------------------------

#: An ``.npz`` dataset's splits, in the order ``split="all"`` joins them.
SPLITS = ("train", "valid", "test")


def load_drawings(path: str | os.PathLike, split: str = "test", report: Report | None = None
                  ) -> tuple[list[np.ndarray], list[str]]:
    """Stroke-3 drawings and their names from an ``.npz`` split or a QuickDraw ``.ndjson`` file.

    ``split``: an ``.npz`` file's ``"train"``, ``"valid"`` or ``"test"`` (its names are
    ``"test[i]"``), or ``"all"``: the three in that order (``"train[i]"`` ... ``"test[i]"``). An
    ``.ndjson`` file has no splits: every usable line is read, whichever of these ``split`` names.

    Bad ndjson lines are skipped, never silently: a warning names the file, their number and the
    first of them with its problem, and ``report`` (when given) lists every one; a file with no
    usable line is a ``NoUsableDataError`` (a ``ValueError``) naming it.
    """
    path = os.fspath(path)
    if path.endswith(".npz"):
        from sketch_rnn.data import load_npz

        splits = load_npz(path)
        names = SPLITS if split == "all" else (split,)
        missing = [k for k in names if k not in splits]
        if missing:
            raise ValueError(f"{path}: no split {missing[0]!r} (has {sorted(splits)})")
        drawings = [np.asarray(d) for k in names for d in splits[k]]
        return drawings, [f"{k}[{i}]" for k in names for i in range(len(splits[k]))]
    if path.endswith(".ndjson"):
        if split not in (*SPLITS, "all"):
            raise ValueError(f"{path}: no split {split!r} (an .ndjson file has none: every line is "
                             f"read, for 'all' or any of {', '.join(map(repr, SPLITS))})")
        from sketch_rnn.datasets.report import Report

        return _ndjson_stroke3(path, Report() if report is None else report)
    raise ValueError(f"{path}: expected an .npz dataset or a QuickDraw .ndjson file")


def _ndjson_stroke3(path: str, report: Report) -> tuple[list[np.ndarray], list[str]]:
    """QuickDraw ndjson (raw or simplified) -> stroke-3 with the first offset 0 (read by
    :mod:`sketch_rnn.datasets`, which owns the format and the rule for bad lines)."""
    from sketch_rnn.datasets.quickdraw import check_lines, detect_kind, read_ndjson, records_to_stroke3

    kind = detect_kind(path)
    records = list(read_ndjson(path, report))
    check_lines(path, report, len(records))
    drawings = records_to_stroke3(records, kind, zero_first=True)
    report.converted += len(drawings)
    return [np.asarray(d, np.float64) for d in drawings], [r.where for r in records]


def evaluate(model, data: str | os.PathLike, split: str = "test", **kw) -> EvalResult:
    """:func:`evaluate_drawings` on the drawings of a data file (see :func:`load_drawings`).

    ``model`` may be a model or a path for :func:`sketch_rnn.checkpoint.load_model`.

    Example (``sketch_rnn.evaluate``):
        >>> import tempfile
        >>> from sketch_rnn.config import ModelConfig
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> drawings = np.empty(2, dtype=object)
        >>> drawings[:] = [np.array([[5, 2, 0], [1, -3, 1]]), np.array([[0, 4, 1]])]
        >>> path = os.path.join(tempfile.mkdtemp(), "toy.npz")
        >>> np.savez(path, train=drawings, valid=drawings, test=drawings)
        >>> evaluate(model, path, split="test", scale=10.0).n
        2
    """
    if isinstance(model, str | os.PathLike):
        from sketch_rnn.checkpoint import load_model

        model = load_model(model)
    from sketch_rnn.datasets.report import Report

    report = Report()
    drawings, names = load_drawings(data, split, report)
    try:
        result = evaluate_drawings(model, drawings, **kw)
    except ValueError as e:
        # "drawing 3: ..." or the scale factor's complaint: say which file (and line) it is.
        raise ValueError(f"{os.fspath(data)}: {_named(str(e), names)}") from None
    result.skipped = report.n_skipped
    return result


def _named(message: str, names: list[str]) -> str:
    """``message`` with a leading ``drawing i`` replaced by that drawing's name (``file:line``)."""
    head, sep, rest = message.partition(": ")
    if sep and head.startswith("drawing ") and head[8:].isdigit() and int(head[8:]) < len(names):
        return f"{names[int(head[8:])]}: {rest}"
    return message


def evaluate_model(model, data: str | os.PathLike, split: str = "test", **kw) -> EvalResult:
    """Deprecated name of :func:`evaluate` (``sketch_rnn.evaluate``)."""
    warnings.warn("sketch_rnn.evaluation.evaluate_model is deprecated: use sketch_rnn.evaluate",
                  DeprecationWarning, stacklevel=2)
    return evaluate(model, data, split, **kw)

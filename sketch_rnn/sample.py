"""Drawing with a model: the whole autoregressive loop as one compiled TensorFlow graph, batched.

``sample(model, n)`` draws ``n`` sketches in one call. Each step feeds the previous row back
(with ``z`` when conditional); the loop stops as soon as every sketch has emitted end-of-sketch,
and never runs past ``max_len`` steps.

Temperature conventions (``convention=``):

* ``"reference"`` (magenta's Python ``sample``): mixture weights and pen probabilities are
  re-normalised as ``softmax(log p / tau)``; the chosen Gaussian's sigmas are multiplied by ``tau``.
* ``"browser"`` (the paper and sketch-rnn-js): sigmas are multiplied by ``sqrt(tau)`` and the
  softmaxes use a separate temperature, ``pdf_temperature`` (default ``0.5 + 0.5 tau``).

``greedy=True`` takes the most likely component and pen state and the component's mean, as the
reference's ``greedy_mode``. Results are reproducible for a given ``seed``.

Example:
    >>> from sketch_rnn.hparams import HParams
    >>> from sketch_rnn.model import SketchRNN
    >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    >>> drawings = sample(model, n=3, temperature=0.5, seed=1, max_len=20)
    >>> len(drawings), drawings[0].shape[1]
    (3, 3)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from sketch_rnn.losses import mixture_params
from sketch_rnn.model import SketchRNN

START_TOKEN = (0.0, 0.0, 1.0, 0.0, 0.0)
CONVENTIONS = ("reference", "browser")


class SampleResult(NamedTuple):
    """Raw sampler output: stroke-5 rows ``[B, T, 5]``, lengths (rows up to and including the
    end-of-sketch row, or T), and the per-step raw decoder outputs ``[B, T, 3+6M]``."""

    strokes5: np.ndarray
    lengths: np.ndarray
    raw: np.ndarray

    def params(self, num_mixture: int) -> dict[str, np.ndarray]:
        """Per-step mixture parameters (``pi``, ``mu1``, ..., ``pen``) as numpy arrays."""
        return {k: v.numpy() for k, v in mixture_params(self.raw, num_mixture).items()}


def sample(model: SketchRNN, n: int = 1, *, z=None, temperature: float = 1.0,
           greedy: bool = False, convention: str = "reference", pdf_temperature: float | None = None,
           max_len: int | None = None, seed: int | None = None, early_stop: bool = True,
           return_raw: bool = False, start_token=START_TOKEN):
    """Draw ``n`` sketches; returns a list of stroke-3 arrays (model units).

    Args:
        model: a :class:`SketchRNN`.
        n: number of sketches (ignored when ``z`` is given: one per row of ``z``).
        z: latent codes ``[n, z_size]`` for a conditional model; ``None`` draws ``z ~ N(0, I)``.
        temperature: ``tau > 0``; see the module docstring for the two conventions.
        greedy: argmax component and pen state, offsets at the component mean.
        convention: ``"reference"`` or ``"browser"``.
        pdf_temperature: softmax temperature for the browser convention (default ``0.5 + 0.5 tau``).
        max_len: most steps to run (default ``hps.max_seq_len``).
        seed: makes the draw reproducible.
        early_stop: stop once every sketch has ended (``False`` runs all ``max_len`` steps and
            keeps feeding rows after the end, as the reference does).
        return_raw: also return the :class:`SampleResult` (stroke-5 rows and decoder outputs).
        start_token: the first input row; magenta TF models use ``(0,0,1,0,0)``, browser models
            ``(0,0,0,0,0)``.
    """
    result = sample_strokes5(model, n, z=z, temperature=temperature, greedy=greedy,
                             convention=convention, pdf_temperature=pdf_temperature, max_len=max_len,
                             seed=seed, early_stop=early_stop, start_token=start_token)
    drawings = [stroke5_rows_to_stroke3(s[:length]) for s, length in
                zip(result.strokes5, result.lengths, strict=True)]
    return (drawings, result) if return_raw else drawings


def sample_strokes5(model: SketchRNN, n: int = 1, *, z=None, temperature: float = 1.0,
                    greedy: bool = False, convention: str = "reference",
                    pdf_temperature: float | None = None, max_len: int | None = None,
                    seed: int | None = None, early_stop: bool = True,
                    start_token=START_TOKEN, initial_state=None) -> SampleResult:
    """Like :func:`sample` but returns the raw stroke-5 rows, lengths and decoder outputs."""
    hps = model.hps
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: expected one of {CONVENTIONS}")
    if not greedy and not temperature > 0:
        raise ValueError(f"temperature={temperature}: must be > 0")
    if pdf_temperature is None:
        pdf_temperature = temperature if convention == "reference" else 0.5 + 0.5 * temperature
    if not greedy and not pdf_temperature > 0:
        raise ValueError(f"pdf_temperature={pdf_temperature}: must be > 0")
    sigma_scale = temperature if convention == "reference" else float(np.sqrt(temperature))
    max_len = hps.max_seq_len if max_len is None else int(max_len)
    if max_len <= 0:
        raise ValueError(f"max_len={max_len}: must be > 0")
    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    if hps.conditional:
        if z is None:
            z = rng.standard_normal((n, hps.z_size)).astype(np.float32)
        z = np.asarray(z, np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != hps.z_size:
            raise ValueError(f"z has shape {z.shape}: expected [n, {hps.z_size}] for this model")
        n = z.shape[0]
        z_t = tf.constant(z)
    else:
        if z is not None:
            raise ValueError("this model is unconditional: it takes no z")
        z_t = tf.zeros([n, 0])
    if n <= 0:
        raise ValueError(f"n={n}: must be > 0")
    state = model.initial_state(z_t if hps.conditional else None, n) if initial_state is None \
        else tf.convert_to_tensor(initial_state, tf.float32)
    start = np.broadcast_to(np.asarray(start_token, np.float32), (n, 5))
    fn = _compiled_loop(model, bool(greedy))
    strokes, lengths, raw = fn(
        tf.constant(start), z_t, state, tf.constant(max_len), tf.constant(pdf_temperature, tf.float32),
        tf.constant(sigma_scale, tf.float32), tf.constant(early_stop),
        tf.constant([seed % (2**31), seed // (2**31) % (2**31)], tf.int64),
    )
    return SampleResult(strokes.numpy(), lengths.numpy(), raw.numpy())


def stroke5_rows_to_stroke3(rows: np.ndarray) -> np.ndarray:
    """Stroke-5 rows up to the first end-of-sketch row -> stroke-3 ``[dx, dy, pen_lift]``."""
    rows = np.asarray(rows)
    ends = np.nonzero(rows[:, 4] > 0)[0]
    rows = rows[: ends[0]] if len(ends) else rows
    return np.stack([rows[:, 0], rows[:, 1], rows[:, 3]], axis=1).astype(np.float32)


def _compiled_loop(model: SketchRNN, greedy: bool):
    cache = model.__dict__.setdefault("_sketch_rnn_samplers", {})
    if greedy not in cache:
        cache[greedy] = tf.function(
            lambda *a: _loop(model, greedy, *a), reduce_retracing=True
        )
    return cache[greedy]


def _loop(model, greedy, start, z, state, max_len, pdf_temp, sigma_scale, early_stop, seed):
    hps, cell = model.hps, model.decoder
    m = hps.num_mixture
    n = tf.shape(start)[0]
    zproj = model.decoder.project(z, slice(5, None)) if hps.conditional else None
    weights = cell.loop_params()
    w_in = tf.convert_to_tensor(cell.W_xh)[:5]
    w_in_inner = tf.convert_to_tensor(cell.hyper_cell.W_xh)[:5] if hasattr(cell, "hyper_cell") else None
    out_w, out_b = tf.convert_to_tensor(model.output_w), tf.convert_to_tensor(model.output_b)

    def body(t, prev, s, done, lengths, rows_ta, raw_ta):
        xp = (tf.matmul(prev, w_in),) + (() if w_in_inner is None else (tf.matmul(prev, w_in_inner),))
        if zproj is not None:
            xp = tuple(a + b for a, b in zip(xp, zproj, strict=True))
        h, s = cell.step(xp, s, None, weights)
        raw = tf.matmul(h, out_w) + out_b
        p = mixture_params(raw, m)
        step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(t, tf.int64))
        seeds = tf.random.experimental.stateless_split(step_seed, 3)
        if greedy:
            idx = tf.argmax(p["pi"], axis=-1, output_type=tf.int32)
            pen_idx = tf.argmax(p["pen"], axis=-1, output_type=tf.int32)
        else:
            idx = _categorical(tf.math.log(p["pi"]) / pdf_temp, seeds[0])
            pen_idx = _categorical(tf.math.log(p["pen"]) / pdf_temp, seeds[1])
        pick = lambda a: tf.gather(a, idx, axis=1, batch_dims=1)  # noqa: E731
        mu1, mu2 = pick(p["mu1"]), pick(p["mu2"])
        if greedy:
            dx, dy = mu1, mu2
        else:
            s1, s2, rho = pick(p["sigma1"]) * sigma_scale, pick(p["sigma2"]) * sigma_scale, pick(p["corr"])
            e = tf.random.stateless_normal([2, n], seeds[2])
            dx = mu1 + s1 * e[0]
            dy = mu2 + s2 * (rho * e[0] + tf.sqrt(1.0 - tf.square(rho)) * e[1])
        row = tf.concat([tf.stack([dx, dy], axis=1), tf.one_hot(pen_idx, 3)], axis=1)
        # Rows after a sketch's end are padding in the output; with early_stop off the loop keeps
        # feeding the model's own rows back, as the reference does.
        out_row = tf.where(done[:, None], tf.constant([[0.0, 0, 0, 0, 1]]), row)
        lengths = tf.where(done, lengths, t + 1)
        done = done | tf.equal(pen_idx, 2)
        return (t + 1, row, s, done, lengths, rows_ta.write(t, out_row if early_stop else row),
                raw_ta.write(t, raw))

    def cond(t, prev, s, done, *_):
        return (t < max_len) & ~(early_stop & tf.reduce_all(done))

    init = (tf.constant(0), start, cell.split_state(state), tf.zeros([n], tf.bool),
            tf.zeros([n], tf.int32), tf.TensorArray(tf.float32, size=0, dynamic_size=True),
            tf.TensorArray(tf.float32, size=0, dynamic_size=True))
    _, _, _, _, lengths, rows_ta, raw_ta = tf.while_loop(cond, body, init)
    rows = tf.transpose(rows_ta.stack(), [1, 0, 2])
    raw = tf.transpose(raw_ta.stack(), [1, 0, 2])
    return rows, lengths, raw


def _categorical(logits, seed):
    return tf.cast(tf.random.stateless_categorical(logits, 1, seed)[:, 0], tf.int32)


def encode(model: SketchRNN, drawings, *, sample_z: bool = False, seed: int | None = None,
           batch_size: int = 100) -> np.ndarray:
    """Latent codes ``[n, z_size]`` of stroke-3 drawings in model units (normalised offsets).

    Returns ``mu`` by default, or ``z = mu + sigma * eps`` with ``sample_z`` (what the reference
    notebook's ``encode`` returns). Drawings are processed ``batch_size`` at a time, each batch
    padded only to its own longest drawing (the encoder stops at each length anyway).

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> encode(model, [np.array([[1.0, 0.5, 0], [0.2, 0.1, 1]])]).shape
        (1, 4)
    """
    from sketch_rnn.strokes import pad_batch

    if not model.hps.conditional:
        raise ValueError("this model is unconditional (decoder only): it cannot encode drawings")
    drawings = [np.asarray(d, np.float32) for d in drawings]
    for i, d in enumerate(drawings):
        if d.ndim != 2 or d.shape[1] != 3 or len(d) == 0:
            raise ValueError(f"drawing {i}: expected a non-empty stroke-3 array [L, 3], got {d.shape}")
        if not np.isfinite(d).all():
            raise ValueError(f"drawing {i}: contains NaN or infinite values")
    if not drawings:
        raise ValueError("encode: no drawings given")
    fn = _compiled_encoder(model)
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, len(drawings), batch_size):
        chunk = drawings[start : start + batch_size]
        lengths = np.array([len(d) for d in chunk], np.int32)
        x = pad_batch(chunk, int(lengths.max()))
        mu, presig = fn(tf.constant(x), tf.constant(lengths))
        mu, presig = mu.numpy(), presig.numpy()
        if sample_z:
            mu = mu + np.exp(presig / 2.0) * rng.standard_normal(mu.shape).astype(np.float32)
        out.append(mu)
    return np.concatenate(out)


def decode(model: SketchRNN, z, **kwargs) -> list[np.ndarray]:
    """Draw one sketch per latent code in ``z`` (``sample(model, z=z, **kwargs)``).

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> len(decode(model, np.zeros([2, 4]), temperature=0.1, seed=0, max_len=5))
        2
    """
    return sample(model, z=z, **kwargs)


def _compiled_encoder(model: SketchRNN):
    cache = model.__dict__.setdefault("_sketch_rnn_samplers", {})
    if "encode" not in cache:
        cache["encode"] = tf.function(lambda x, n: model.encode(x, n), reduce_retracing=True)
    return cache["encode"]

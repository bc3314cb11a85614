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
reference's ``greedy_mode``. Results are reproducible for a given ``seed`` (and batch size: small
batches run XLA-compiled, see ``JIT_MAX_BATCH``). A model's ``start_token`` and
``temperature_convention`` attributes (set by the browser-model loaders) are the defaults; a true
``z_tanh`` (legacy browser VAEs) makes the decoder's initial state from ``tanh(z)``, as sketch-rnn-js.

``complete(model, prefix, n)`` primes the decoder with the start of a drawing (stroke-3, model or
pixel units) and continues it ``n`` ways in one batched call.

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

from sketch_rnn.cells import _any_rows, default_lanes
from sketch_rnn.losses import mixture_params
from sketch_rnn.model import SketchRNN
from sketch_rnn.strokes import check_drawing, pad_batch

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
           greedy: bool = False, convention: str | None = None, pdf_temperature: float | None = None,
           max_len: int | None = None, seed: int | None = None, early_stop: bool = True,
           return_raw: bool = False, start_token=None, jit_compile: bool | None = None):
    """Draw ``n`` sketches; returns a list of stroke-3 arrays (model units).

    Args:
        model: a :class:`SketchRNN`.
        n: number of sketches (ignored when ``z`` is given: one per row of ``z``).
        z: latent codes ``[n, z_size]`` for a conditional model; ``None`` draws ``z ~ N(0, I)``.
        temperature: ``tau > 0``; see the module docstring for the two conventions.
        greedy: argmax component and pen state, offsets at the component mean.
        convention: ``"reference"`` or ``"browser"``; ``None`` (default) takes the model's
            ``temperature_convention`` attribute, else ``"reference"``.
        pdf_temperature: softmax temperature for the browser convention (default ``0.5 + 0.5 tau``).
        max_len: most steps to run (default ``hps.max_seq_len``).
        seed: makes the draw reproducible.
        early_stop: stop once every sketch has ended (``False`` runs all ``max_len`` steps and
            keeps feeding rows after the end, as the reference does).
        return_raw: also return the :class:`SampleResult` (stroke-5 rows and decoder outputs).
        start_token: the first input row; ``None`` (default) takes the model's ``start_token``
            attribute, else ``(0,0,1,0,0)`` (magenta TF models; browser models use ``(0,0,0,0,0)``).
        jit_compile: XLA-compile the loop (``None``: below ``JIT_MAX_BATCH`` sketches).

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> drawings = sample(model, n=3, temperature=0.5, seed=0, max_len=20)
        >>> len(drawings), all(d.shape[1] == 3 and len(d) <= 20 for d in drawings)
        (3, True)
        >>> same = sample(model, n=3, temperature=0.5, seed=0, max_len=20)   # seeded: reproducible
        >>> all(np.array_equal(a, b) for a, b in zip(drawings, same))
        True
    """
    result = sample_strokes5(model, n, z=z, temperature=temperature, greedy=greedy,
                             convention=convention, pdf_temperature=pdf_temperature, max_len=max_len,
                             seed=seed, early_stop=early_stop, start_token=start_token,
                             jit_compile=jit_compile)
    drawings = [stroke5_rows_to_stroke3(s[:length]) for s, length in
                zip(result.strokes5, result.lengths, strict=True)]
    return (drawings, result) if return_raw else drawings


def sample_strokes5(model: SketchRNN, n: int = 1, *, z=None, temperature: float = 1.0,
                    greedy: bool = False, convention: str | None = None,
                    pdf_temperature: float | None = None, max_len: int | None = None,
                    seed: int | None = None, early_stop: bool = True,
                    start_token=None, initial_state=None, start_rows=None,
                    jit_compile: bool | None = None) -> SampleResult:
    """Like :func:`sample` but returns the raw stroke-5 rows, lengths and decoder outputs.

    ``initial_state`` (flat ``[n, state_size]``) and ``start_rows`` (``[n, 5]``, the first input
    of each sketch, overriding ``start_token``) continue a primed decoder, as :func:`complete`
    does. ``jit_compile``: run the loop XLA-compiled (``None``: for batches under
    ``JIT_MAX_BATCH``; one compile per batch size and buffer size, a few seconds).
    """
    hps = model.hps
    convention = model_convention(model) if convention is None else convention
    start_token = model_start_token(model) if start_token is None else start_token
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
    z_t, n = _latent(hps, z, n, rng, repeat_single=False)
    if n <= 0:
        raise ValueError(f"n={n}: must be > 0")
    if initial_state is None:
        state = None  # made from z inside the compiled loop (eagerly, its few ops cost ~5% of a sketch)
    else:
        state = tf.convert_to_tensor(initial_state, tf.float32)
        if tuple(state.shape) != (n, model.decoder.state_size):
            raise ValueError(f"initial_state has shape {tuple(state.shape)}: expected "
                             f"[{n}, {model.decoder.state_size}]")
    if start_rows is None:
        start = np.broadcast_to(np.asarray(start_token, np.float32), (n, 5))
    else:
        start = np.asarray(start_rows, np.float32)
        if start.ndim == 1:
            start = np.broadcast_to(start, (n, 5))
        if start.shape != (n, 5):
            raise ValueError(f"start_rows has shape {start.shape}: expected [{n}, 5]")
    jit = _use_jit(n, jit_compile)
    fn = _compiled_loop(model, bool(greedy), _buffer_len(max_len) if jit else None, jit, _lanes(n, jit))
    strokes, lengths, raw = fn(
        tf.constant(start), z_t, state, tf.constant(max_len), tf.constant(pdf_temperature, tf.float32),
        tf.constant(sigma_scale, tf.float32), tf.constant(early_stop),
        tf.constant([seed % (2**31), seed // (2**31) % (2**31)], tf.int64),
    )
    lengths = lengths.numpy()
    # The XLA loop has a static buffer; the steps run are max_len without early stopping, else up
    # to the last sketch's end.
    steps = max_len if not early_stop else int(lengths.max())
    return SampleResult(strokes.numpy()[:, :steps], lengths, raw.numpy()[:, :steps])


def complete(model: SketchRNN, prefix, n: int = 1, *, units: str = "model", temperature: float = 1.0,
             seed: int | None = None, z=None, max_len: int | None = None, greedy: bool = False,
             convention: str | None = None, pdf_temperature: float | None = None,
             start_token=None, early_stop: bool = True, return_raw: bool = False,
             jit_compile: bool | None = None):
    """Continue the start of a drawing ``n`` ways in one batched call (the browser demos' trick).

    The decoder is primed by running it, in one compiled pass, over the start token and the
    prefix rows (stroke-5, ``[dx, dy, 1-lift, lift, 0]``) but the last; the sampling loop then
    starts from that state with the last prefix row as its first input, for all ``n`` alternatives
    at once.

    Args:
        model: a :class:`SketchRNN`.
        prefix: the start of a drawing, stroke-3 ``[L, 3]`` (``L >= 1``, finite values).
        n: number of alternatives (ignored when ``z`` has one row per alternative).
        units: ``"model"`` (normalised offsets, as the model sees them) or ``"pixels"`` (data
            units: divided by the model's ``scale_factor``, or ``pixel_scale`` for browser
            models, before priming; the continuation is scaled back).
        temperature, greedy, convention, pdf_temperature, start_token, seed: as in :func:`sample`.
        z: for a conditional model, ``[z_size]`` (shared by all alternatives) or ``[n, z_size]``;
            ``None`` draws one ``z ~ N(0, I)`` per alternative.
        max_len: most new points per alternative (default ``max_seq_len`` minus the prefix
            length, at least 1); sampling stops there even if no end-of-sketch was drawn.
        early_stop: stop as soon as every alternative has ended.
        return_raw: also return the :class:`SampleResult` of the continuation.
        jit_compile: XLA-compile the sampling loop (``None``: below ``JIT_MAX_BATCH``).

    Returns:
        ``n`` stroke-3 arrays, each the prefix exactly as given (float32) followed by its
        continuation, in the units of ``prefix``.

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> prefix = np.array([[1.0, 0.0, 0], [0.0, 1.0, 1]])
        >>> out = complete(model, prefix, n=3, temperature=0.5, seed=0, max_len=10)
        >>> len(out), bool(all((o[:2] == prefix).all() for o in out))
        (3, True)
    """
    hps = model.hps
    prefix3 = _check_prefix(prefix)
    factor = _unit_factor(model, units)
    if not greedy and not temperature > 0:
        raise ValueError(f"temperature={temperature}: must be > 0")
    if n is None or int(n) <= 0:
        raise ValueError(f"n={n}: must be > 0")
    n = int(n)
    rng = np.random.default_rng(seed)
    z_t, n = _latent(hps, z, n, rng, repeat_single=True)
    # The primer and the sampler both take the checked codes (one per alternative).
    z, z_t = (z_t.numpy(), z_t) if hps.conditional else (None, None)
    if max_len is None:
        max_len = max(hps.max_seq_len - len(prefix3), 1)
    start_token = model_start_token(model) if start_token is None else start_token
    rows = np.zeros((len(prefix3), 5), np.float32)
    rows[:, :2] = prefix3[:, :2] / factor
    rows[:, 3] = prefix3[:, 2] > 0
    rows[:, 2] = 1.0 - rows[:, 3]
    inputs = np.concatenate([np.asarray(start_token, np.float32)[None], rows[:-1]])
    inputs = np.broadcast_to(inputs[None], (n,) + inputs.shape)
    state = _compiled_primer(model)(tf.constant(inputs), z_t)
    result = sample_strokes5(
        model, n, z=z, temperature=temperature, greedy=greedy, convention=convention,
        pdf_temperature=pdf_temperature, max_len=max_len, seed=seed, early_stop=early_stop,
        initial_state=state, start_rows=rows[-1], jit_compile=jit_compile,
    )
    out = []
    for s, length in zip(result.strokes5, result.lengths, strict=True):
        cont = stroke5_rows_to_stroke3(s[:length])
        cont[:, :2] *= factor
        out.append(np.concatenate([prefix3, cont]))
    return (out, result) if return_raw else out


def _check_prefix(prefix) -> np.ndarray:
    try:
        arr = np.asarray(prefix, np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"prefix: not a numeric stroke-3 array ({e})") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"prefix: expected a stroke-3 array [L, 3], got shape {arr.shape}")
    if len(arr) == 0:
        raise ValueError("prefix: empty drawing (at least one point is needed to prime the decoder)")
    if not np.isfinite(arr).all():
        raise ValueError("prefix: contains NaN or infinite values")
    if not np.isin(arr[:, 2], (0.0, 1.0)).all():
        raise ValueError("prefix: the pen-lift column must hold 0 or 1")
    return arr


def pixel_scale(model) -> float:
    """Data units per model unit: ``model.scale_factor``, else ``model.pixel_scale`` (browser models)."""
    factor = getattr(model, "scale_factor", None) or getattr(model, "pixel_scale", None)
    if factor is None:
        raise ValueError("units='pixels': this model has no scale_factor / pixel_scale "
                         "(pass the drawing in model units)")
    factor = float(factor)
    if not (np.isfinite(factor) and factor > 0):
        raise ValueError(f"the model's scale factor {factor} is not a positive number")
    return factor


def _unit_factor(model, units: str) -> float:
    if units == "model":
        return 1.0
    if units in ("pixels", "pixel", "data"):
        return pixel_scale(model)
    raise ValueError(f"units={units!r}: expected 'model' or 'pixels'")


def _compiled_primer(model: SketchRNN):
    """``model.decode`` over the priming rows, compiled once; returns the final flat state."""
    cache = model.__dict__.setdefault("_sketch_rnn_samplers", {})
    if "prime" not in cache:
        def prime(inputs, z):
            state = model.initial_state(_state_z(model, z), tf.shape(inputs)[0])
            return model.decode(inputs, z, state)[1]

        cache["prime"] = tf.function(prime, reduce_retracing=True)
    return cache["prime"]


def _state_z(model, z):
    """The code the decoder's initial state is made from: ``tanh(z)`` for legacy browser VAEs
    (``model.z_tanh``, files older than version 6), else ``z``.

    sketch-rnn-js applies that ``tanh`` only there (``get_init_state_from_latent_vector``); its
    ``encode`` returns ``z`` as is and its ``update`` feeds the decoder the raw ``z``, as here.
    """
    if z is None or not getattr(model, "z_tanh", False):
        return z
    return tf.tanh(z)


def model_start_token(model) -> tuple[float, ...]:
    """The model's first input row: its ``start_token`` attribute, else :data:`START_TOKEN`."""
    return tuple(getattr(model, "start_token", None) or START_TOKEN)


def model_convention(model) -> str:
    """The model's temperature convention: its ``temperature_convention`` attribute, else ``"reference"``."""
    return getattr(model, "temperature_convention", None) or "reference"


def stroke5_rows_to_stroke3(rows: np.ndarray) -> np.ndarray:
    """Stroke-5 rows up to the first end-of-sketch row -> stroke-3 ``[dx, dy, pen_lift]``."""
    rows = np.asarray(rows)
    ends = np.nonzero(rows[:, 4] > 0)[0]
    rows = rows[: ends[0]] if len(ends) else rows
    return np.stack([rows[:, 0], rows[:, 1], rows[:, 3]], axis=1).astype(np.float32)


# XLA-compiling the loop removes most of the per-step overhead of a graph-mode while_loop (one
# kernel launch per op; the loop body is a few small ops), which dominates for one or two sketches
# (about 3x faster at batch 1 on a 2-core CPU). From a few sketches on the matmuls dominate and
# TensorFlow's own multi-threaded kernels are as fast or faster (measured at 8 and 32), with no
# compile per batch size. ``None``: XLA below ``JIT_MAX_BATCH`` sketches.
JIT_COMPILE: bool | None = None
JIT_MAX_BATCH = 4


def _use_jit(n: int, jit_compile: bool | None) -> bool:
    choice = JIT_COMPILE if jit_compile is None else jit_compile
    return n < JIT_MAX_BATCH if choice is None else bool(choice)


def _buffer_len(max_len: int) -> int:
    """Static output buffer size for ``max_len`` steps: a few sizes only, so few compiles."""
    return max(64, 1 << (int(max_len) - 1).bit_length())


#: Batches of at least this many sketches run the graph-mode loop as independent lanes (see
#: ``cells.CPU_LANES``): two half-batch chains of small ops side by side on two cores, and two
#: half-size matmuls, which this CPU runs faster than one full-size one.
LANE_MIN_BATCH = 8


def _lanes(n: int, jit: bool) -> int:
    return 1 if jit or n < LANE_MIN_BATCH else default_lanes()


def _compiled_loop(model: SketchRNN, greedy: bool, buffer_len: int | None = None, jit: bool = False,
                   lanes: int = 1):
    """One compiled loop per (greedy, buffer size, XLA or not, lanes); XLA needs a static buffer."""
    cache = model.__dict__.setdefault("_sketch_rnn_samplers", {})
    key = (greedy, buffer_len if jit else None, jit, lanes)
    if key not in cache:
        cache[key] = tf.function(
            lambda *a: _loop(model, greedy, *a, buffer_len=buffer_len if jit else None, lanes=lanes),
            reduce_retracing=True, jit_compile=jit,
        )
    return cache[key]


def _loop(model, greedy, start, z, state, max_len, pdf_temp, sigma_scale, early_stop, seed,
          buffer_len=None, lanes=1):
    """The sampling loop. Outputs have as many rows as steps run, or ``buffer_len`` rows when it
    is given (static shapes for XLA; the rows after the last step run are then zeros).

    With ``lanes`` > 1 the batch is cut into that many contiguous parts, each running its own
    chain of ops; the random numbers of a step are drawn for the whole batch and then cut, so the
    result does not depend on the lanes."""
    hps, cell = model.hps, model.decoder
    m = hps.num_mixture
    n = tf.shape(start)[0]
    static = buffer_len is not None
    if state is None:
        state = model.initial_state(_state_z(model, z) if hps.conditional else None, n)
    if hps.conditional:
        # z's share of the input projection, once per sketch, as [0, z] @ W_xh: under XLA the
        # product with the slice W_xh[5:] becomes a fused loop several times slower than the plain
        # matmul (0.2-0.5 ms of a one-sketch call).
        zproj = model.decoder.project(tf.concat([tf.zeros([tf.shape(z)[0], 5]), z], 1))
    else:
        zproj = None
    # The recurrent products as h @ W_hh, also in the XLA loop: the fused steps' W^T form costs a
    # transposed copy of W_hh per call, and on AMD EPYC (session 7) the plain form is faster.
    weights = cell.loop_params()
    w_in = tf.convert_to_tensor(cell.W_xh)[:5]
    w_in_inner = tf.convert_to_tensor(cell.hyper_cell.W_xh)[:5] if hasattr(cell, "hyper_cell") else None
    out_w, out_b = tf.convert_to_tensor(model.output_w), tf.convert_to_tensor(model.output_b)
    bounds = [0] if lanes == 1 else [(n * i) // lanes for i in range(lanes)]
    bounds.append(n)
    parts = list(zip(bounds[:-1], bounds[1:], strict=True))

    def lane(prev, s, zp, noise):
        """One step of one lane: its next rows, pen states, state and decoder outputs."""
        xp = (tf.matmul(prev, w_in),) + (() if w_in_inner is None else (tf.matmul(prev, w_in_inner),))
        if zp is not None:
            xp = tuple(a + b for a, b in zip(xp, zp, strict=True))
        h, s = cell.step(xp, s, None, weights)
        raw = tf.matmul(h, out_w) + out_b
        return (*_next_row(raw, m, greedy, noise, pdf_temp, sigma_scale), s, raw)

    if not greedy:
        # Every step's random numbers drawn before the loop, in three calls: drawn step by step
        # (a seed folded in per step), their dozen small kernels cost a one-sketch step ~15% more.
        seeds = tf.random.experimental.stateless_split(seed, 3)
        rows_n = start.shape[0] or n  # (static when known: the loop's shapes stay static)
        steps_n = buffer_len if static else max_len
        all_noise = (_uniform([steps_n, rows_n, m], seeds[0]), _uniform([steps_n, rows_n, 3], seeds[1]),
                     tf.random.stateless_normal([steps_n, 2, rows_n], seeds[2]))

    def body(t, prevs, states, done, lengths, rows_ta, raw_ta):
        noise = None if greedy else tuple(a[t] for a in all_noise)
        outs = []
        for i, (lo, hi) in enumerate(parts):
            zp, lane_noise = zproj, noise
            if lanes > 1:
                zp = None if zproj is None else tuple(a[lo:hi] for a in zproj)
                lane_noise = None if noise is None else (noise[0][lo:hi], noise[1][lo:hi], noise[2][:, lo:hi])
            outs.append(lane(prevs[i], states[i], zp, lane_noise))
        rows, pens, states, raws = zip(*outs, strict=True)
        row, raw, pen_idx = (a[0] if lanes == 1 else tf.concat(a, 0) for a in (rows, raws, pens))
        # Rows after a sketch's end are padding in the output; with early_stop off the loop keeps
        # feeding the model's own rows back, as the reference does.
        out_row = tf.where(done[:, None] & early_stop, tf.constant([[0.0, 0, 0, 0, 1]]), row)
        lengths = tf.where(done, lengths, t + 1)
        done = done | tf.equal(pen_idx, 2)
        return t + 1, rows, states, done, lengths, rows_ta.write(t, out_row), raw_ta.write(t, raw)

    def cond(t, prev, s, done, *_):
        return (t < max_len) & ~(early_stop & tf.reduce_all(done))

    def array(width):
        if static:
            return tf.TensorArray(tf.float32, size=buffer_len, element_shape=tf.TensorShape([None, width]))
        return tf.TensorArray(tf.float32, size=0, dynamic_size=True)

    n_out = 3 + 6 * m
    flat = cell.split_state(state)
    # (a lane's row count is only known at run time; with one lane the tensors stay as they are)
    cut = (lambda a, lo, hi: a) if lanes == 1 else (lambda a, lo, hi: _any_rows(a[lo:hi]))
    prevs = tuple(cut(start, lo, hi) for lo, hi in parts)
    states = tuple(tuple(cut(a, lo, hi) for a in flat) for lo, hi in parts)
    init = (tf.constant(0), prevs, states, tf.zeros([n], tf.bool), tf.zeros([n], tf.int32),
            array(5), array(n_out))
    _, _, _, _, lengths, rows_ta, raw_ta = tf.while_loop(
        cond, body, init, maximum_iterations=buffer_len)
    rows = tf.transpose(rows_ta.stack(), [1, 0, 2])
    raw = tf.transpose(raw_ta.stack(), [1, 0, 2])
    return rows, lengths, raw


def _next_row(raw, m, greedy, noise, pdf_temp, sigma_scale):
    """The next stroke-5 row ``[n, 5]`` and pen state ``[n]`` drawn from the decoder's outputs.

    Only the drawn component's parameters are transformed. The mixture weights need no softmax:
    ``softmax(log(softmax(x)) / tau) = softmax(x / tau)``, and the Gumbel-max draw (or greedy's
    argmax) is unchanged by the normalising constant. (At batch 1 each of the XLA loop's kernels
    costs about as much as its arithmetic, so fewer is faster.)
    """
    pen_logits = raw[:, :3]
    pi_logits = raw[:, 3 : 3 + m]
    if greedy:
        idx = tf.argmax(pi_logits, axis=-1, output_type=tf.int32)
        pen_idx = tf.argmax(pen_logits, axis=-1, output_type=tf.int32)
    else:
        u_pi, u_pen, e = noise
        idx = _gumbel_argmax(pi_logits / pdf_temp, u_pi)
        pen_idx = _gumbel_argmax(pen_logits / pdf_temp, u_pen)
    # [n, 5, m]: mu1, mu2, log sigma1, log sigma2, corr, in losses.split_raw's layout (the reference's),
    # gathered at once; test_greedy_takes_argmax_component_mean_and_argmax_pen checks they agree.
    comp = tf.gather(tf.reshape(raw[:, 3 + m :], [-1, 5, m]), idx, axis=2, batch_dims=1)
    mu = comp[:, :2]
    if greedy:
        offset = mu
    else:
        s1, s2 = tf.exp(comp[:, 2]) * sigma_scale, tf.exp(comp[:, 3]) * sigma_scale
        rho = tf.tanh(comp[:, 4])
        offset = mu + tf.stack([s1 * e[0], s2 * (rho * e[0] + tf.sqrt(1.0 - tf.square(rho)) * e[1])], 1)
    return tf.concat([offset, tf.one_hot(pen_idx, 3)], axis=1), pen_idx


def _uniform(shape, seed):
    """Uniform draws in ``(0, 1)`` for :func:`_gumbel_argmax` (never 0: ``log`` stays finite)."""
    return tf.random.stateless_uniform(shape, seed, minval=np.finfo(np.float32).tiny, maxval=1.0)


def _gumbel_argmax(logits, u):
    """One draw per row from ``softmax(logits)`` given uniforms ``u`` of the same shape, by the
    Gumbel-max trick (``argmax(logits + G)``, ``G = -log(-log u)``): exact, and unlike
    ``stateless_categorical`` it compiles with XLA."""
    return tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)


def encode(model: SketchRNN, drawings, *, sample_z: bool = False, seed: int | None = None,
           batch_size: int = 100, jit_compile: bool | None = None) -> np.ndarray:
    """Latent codes ``[n, z_size]`` of stroke-3 drawings in model units (normalised offsets).

    Returns ``mu`` by default, or ``z = mu + sigma * eps`` with ``sample_z`` (what the reference
    notebook's ``encode`` returns). Drawings are processed ``batch_size`` at a time. With XLA
    (``jit_compile``; by default for batches under ``JIT_MAX_BATCH``) the two directions run as two
    compiled loops side by side (see :func:`_compiled_encoder`), each stopping at the batch's longest
    drawing; inputs are padded to a power of two at least 64, so that few sizes compile. Otherwise
    each batch is padded to its own longest drawing and run through ``model.encode``.

    The codes are the encoder's, also for browser models with ``z_tanh`` set: sketch-rnn-js's
    ``encode`` returns ``z`` as is and applies ``tanh`` only when making the decoder's initial state,
    which :func:`sample` (and so :func:`decode`) does.

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> from sketch_rnn.model import SketchRNN
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> encode(model, [np.array([[1.0, 0.5, 0], [0.2, 0.1, 1]])]).shape
        (1, 4)
    """
    if not model.hps.conditional:
        raise ValueError("this model is unconditional (decoder only): it cannot encode drawings")
    drawings = [check_drawing(d, f"drawing {i}") for i, d in enumerate(drawings)]
    if not drawings:
        raise ValueError("encode: no drawings given")
    out = []
    for start in range(0, len(drawings), batch_size):
        chunk = drawings[start : start + batch_size]
        lengths = np.array([len(d) for d in chunk], np.int32)
        if _use_jit(len(chunk), jit_compile):
            rows = tf.constant(_encoder_rows(chunk, _buffer_len(lengths.max())))
            mu, presig = _compiled_encoder(model, True)(rows)
        else:
            x = pad_batch(chunk, int(lengths.max()))
            mu, presig = _compiled_encoder(model, False)(tf.constant(x), tf.constant(lengths))
        out.append((mu.numpy(), presig.numpy()))
    mu = out[0][0] if len(out) == 1 else np.concatenate([m for m, _ in out])
    if sample_z:
        presig = out[0][1] if len(out) == 1 else np.concatenate([p for _, p in out])
        rng = np.random.default_rng(seed)
        mu = mu + np.exp(presig / 2.0) * rng.standard_normal(mu.shape).astype(np.float32)
    return mu


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


def _compiled_encoder(model: SketchRNN, jit: bool = True):
    """The encoder, compiled: ``fn(rows) -> (mu, presig)`` with XLA (``rows`` from
    :func:`_encoder_rows`), else ``model.encode`` as a graph, ``fn(x, lengths)``.

    With XLA the forward and backward directions are two separately compiled loops called from one
    plain graph: they do not depend on each other, so the graph executor runs them at the same time
    on two inter-op threads. At batch 1 each step is bound by reading the direction's recurrent
    matrix (1 MB at 256 units), so this about halves the time on a 2-core CPU, where one XLA
    function runs its loops one after the other on one core.
    """
    cache = model.__dict__.setdefault("_sketch_rnn_samplers", {})
    key = ("encode", jit)
    if key in cache:
        return cache[key]
    if jit:
        directions = [_compiled_direction(cell, i) for i, cell in enumerate((model.enc_fw, model.enc_bw))]

        def enc(rows):
            last_h = tf.concat([directions[0](rows), directions[1](rows)], axis=-1)
            # model.encode's heads, op for op.
            mu = tf.matmul(last_h, model.mu_w) + model.mu_b
            presig = tf.matmul(last_h, model.presig_w) + model.presig_b
            return mu, presig

        cache[key] = tf.function(enc)
    else:
        def enc(x, n):
            saved = getattr(model, "static_loops", False)
            model.static_loops = False
            try:
                return model.encode(x, n)
            finally:
                model.static_loops = saved

        cache[key] = tf.function(enc, reduce_retracing=True)
    return cache[key]


def _encoder_rows(drawings: list[np.ndarray], width: int) -> np.ndarray:
    """Time-major stroke-5 encoder inputs of both directions ``[2, width, B, 5]`` for stroke-3
    drawings: the rows as ``pad_batch`` makes them (without the start token), and each drawing's
    rows reversed in place for the backward direction (``tf.reverse_sequence`` of the reference,
    done here at no cost). Rows past a drawing's end are end-of-sketch rows ``(0, 0, 0, 0, 1)``,
    which is how the compiled loops find the lengths (one input tensor: at batch 1 each converted
    argument costs about as much as tens of loop steps)."""
    both = np.zeros((2, width, len(drawings), 5), np.float32)
    both[..., 4] = 1.0
    fw, bw = both
    for b, d in enumerate(drawings):
        rows = np.zeros((len(d), 5), np.float32)
        rows[:, :2] = d[:, :2]
        rows[:, 3] = d[:, 2]
        rows[:, 2] = 1.0 - d[:, 2]
        fw[: len(d), b] = rows
        bw[: len(d), b] = rows[::-1]
    return both


UNROLL = 2


def _compiled_direction(cell, index: int):
    """``_encoder_direction`` over ``rows[index]``, XLA-compiled (the slice is free inside XLA)."""
    return tf.function(lambda rows: _encoder_direction(cell, rows[index]), jit_compile=True)


def _encoder_direction(cell, rows):
    """One encoder direction for inference: the final output ``[B, units]`` of ``cell`` run over
    time-major rows ``[T, B, 5]``, each sketch stopping at its length (its rows before the first
    end-of-sketch row, see :func:`_encoder_rows`).

    The loop runs to the longest length, not the padded T (a data-dependent trip count compiles with
    XLA; only the final state is needed, so no TensorArray); the input projections of all steps are
    one matmul before it, so a step is the recurrent product and the gate maths only. Two steps per
    iteration: about 7% faster at 256 units than one (the loop's own overhead), the second step of
    the last iteration masked out when the length is odd.
    """
    batch = rows.shape[1]
    lengths = tf.reduce_sum(tf.cast(rows[:, :, 4] == 0.0, tf.int32), axis=0)
    proj = cell.project(rows)
    weights = cell.loop_params()

    def body(t, state):
        for k in range(UNROLL):
            # XLA clamps an index past T (a length of exactly T), and that step is masked out.
            _, new = cell.step(tuple(p[t + k] for p in proj), state, None, weights)
            # dynamic_rnn semantics: past its length a sketch's state is carried unchanged.
            keep = (t + k < lengths)[:, None]
            state = tuple(tf.where(keep, a, b) for a, b in zip(new, state, strict=True))
        return t + UNROLL, state

    steps = tf.reduce_max(lengths)
    _, state = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), cell.zero_state(batch)))
    return cell.output(state)


def _latent(hps, z, n: int, rng: np.random.Generator, repeat_single: bool):
    """Checked latent codes as a tensor ``[n, z_size]`` (``[n, 0]`` when unconditional), and n.

    ``z=None`` draws ``z ~ N(0, I)``; with ``repeat_single`` one code serves all ``n`` sketches.
    """
    if not hps.conditional:
        if z is not None:
            raise ValueError("this model is unconditional: it takes no z")
        return tf.zeros([n, 0]), n
    if z is None:
        z = rng.standard_normal((n, hps.z_size)).astype(np.float32)
    z = np.asarray(z, np.float32)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != hps.z_size:
        expected = f"[{hps.z_size}] or [n, {hps.z_size}]" if repeat_single else f"[n, {hps.z_size}]"
        raise ValueError(f"z has shape {z.shape}: expected {expected} for this model")
    if not np.isfinite(z).all():
        raise ValueError("z contains NaN or infinite values")
    if repeat_single and z.shape[0] == 1:
        z = np.repeat(z, n, axis=0)
    return tf.constant(z), z.shape[0]

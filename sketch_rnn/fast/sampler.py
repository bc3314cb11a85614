"""The sampler's loops tuned for TensorFlow: what :mod:`sketch_rnn.sampling`'s reference loops draw, faster.

:class:`~sketch_rnn.sampling.Sampler` runs these on TensorFlow (``RuntimeOptions(sampler="auto")``,
or ``"fast"``). ``tests/test_sampling_backends.py`` proves them equal to the reference loops: the
same drawings for the same seed, greedy or sampled, every cell, conditional or not, with and
without early stopping, for ``sample``, ``complete`` and ``encode``; to the last bit, except where
the products below are split differently (lanes; the encoder without XLA), which round
differently. Each step is the model's :meth:`~sketch_rnn.model.SketchRNN.decode_step` followed by
:func:`next_row`, the reference's choice of the next row in TensorFlow's own ops, and the random
numbers are the reference's, drawn by its own functions (passed in by the sampler). What differs
is how the loops run:

* Outputs go to TensorArrays. Without XLA they grow with the steps run (the reference's
  ``keras.ops`` loop writes a static buffer with ``slice_update``, which TensorFlow's graph executor
  copies whole at every step); with XLA they have the static buffer's size.
* Batches of at least ``RuntimeOptions.lane_min_batch`` drawings run without XLA as independent
  lanes: the batch cut into contiguous parts, each its own chain of ops, which TensorFlow runs side
  by side on a CPU's cores (and two half-size matmuls, which a 2-core CPU runs faster than one
  full-size one). Smaller batches run XLA-compiled (``RuntimeOptions.sampler_uses_jit``).
* The encoder's two directions run as two separately XLA-compiled loops called from one plain
  graph, so the graph executor runs them at the same time, and each stops at the batch's longest
  drawing with ``RuntimeOptions.encoder_unroll`` steps per iteration. Without XLA the encoder is the
  model's :meth:`~sketch_rnn.model.SketchRNN.posterior` (the fused recurrences on TensorFlow).

Example:
    >>> import numpy as np
    >>> from sketch_rnn.config import ModelConfig
    >>> from sketch_rnn.model import SketchRNN
    >>> from sketch_rnn.runtime import RuntimeOptions
    >>> from sketch_rnn.sampling import Sampler
    >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    >>> default = Sampler(model)  # these loops on TensorFlow (the reference's on other backends)
    >>> reference = Sampler(model, RuntimeOptions(sampler="reference"))
    >>> a = default.strokes5(3, temperature=0.5, seed=1, max_len=20)
    >>> b = reference.strokes5(3, temperature=0.5, seed=1, max_len=20)
    >>> bool(np.array_equal(a.strokes5, b.strokes5) and np.array_equal(a.lengths, b.lengths))
    True
    >>> lanes_for(RuntimeOptions(lanes=2), 100, jit=False), lanes_for(RuntimeOptions(lanes=2), 3, jit=True)
    (2, 1)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python.xla import optimization_barrier

#: A drawing's output rows after its end (with early stopping): end-of-sketch padding.
END_ROW = (0.0, 0.0, 0.0, 0.0, 1.0)


def lanes_for(runtime, n: int, jit: bool) -> int:
    """How many lanes a batch of ``n`` drawings runs as: batches of at least ``lane_min_batch``
    drawings run the graph-mode loop as independent lanes (one chain of small ops per CPU core,
    see :func:`sketch_rnn.fast.fused.default_lanes`); XLA loops and smaller batches as one."""
    if jit or n < runtime.lane_min_batch:
        return 1
    if runtime.lanes is not None:
        return int(runtime.lanes)
    from sketch_rnn.fast.fused import default_lanes

    return default_lanes()


def loop_function(model, greedy: bool, buffer_len: int, jit: bool, lanes: int, noise_seeds, draw_noise):
    """The sampling loop compiled for one (greedy, buffer size, XLA or not, lanes), taking numpy
    arrays: ``fn(start, z, state, max_len, pdf_temp, sigma_scale, early_stop, seed) -> (rows,
    lengths, raw)``.

    ``noise_seeds(seed)`` makes the seeds of ``draw_noise(seeds, steps, n, m)``, which draws every
    step's random numbers before the loop: the reference's own functions, so that both loops draw
    the same numbers. The noise covers ``buffer_len`` steps, as the reference's does, also where the
    outputs are not a static buffer (without XLA).
    """

    def loop(start, z, state, max_len, pdf_temp, sigma_scale, early_stop, seed):
        seeds = None if greedy else noise_seeds(seed)
        if jit and not greedy:
            # Without the barrier XLA fuses the seeds' computation into that of every random number
            # drawn from them, which takes 3.5x as long at 256 steps.
            seeds = optimization_barrier(seeds)[0]
        # Each weight read once on entry (as model.read_weights_once; fast/ sits below model).
        with keras.StatelessScope(state_mapping=[(v, v.value) for v in model.weights]):
            return sample_loop(model, greedy, start, z, state, max_len, pdf_temp, sigma_scale, early_stop,
                               seeds, draw_noise=draw_noise, buffer_len=buffer_len, static=jit,
                               lanes=lanes)

    compiled = tf.function(loop, reduce_retracing=True, jit_compile=jit, autograph=False)

    def call(*args):
        return compiled(*(_tensor(a) for a in args))

    return call


def _tensor(a):
    """The sampler's argument ``a`` (numpy, a tensor or None) as a tensor, converted the cheapest
    way: ``tf.constant`` takes ~50 us for any numpy array but ~8 us for a Python number (and
    ``tf.is_tensor`` ~20 us), where at batch 1 a short sketch's whole call takes a few milliseconds."""
    if not isinstance(a, np.ndarray):
        return a
    return tf.constant(a.item(), a.dtype) if a.ndim == 0 else tf.constant(a)


def sample_loop(model, greedy, start, z, state, max_len, pdf_temp, sigma_scale, early_stop, seeds, *,
                draw_noise, buffer_len: int, static: bool, lanes: int = 1):
    """The sampling loop (see :func:`loop_function`). Outputs have as many rows as steps run, or
    ``buffer_len`` rows when ``static`` (XLA's static shapes; the rows after the last step run are
    then zeros).

    With ``lanes`` > 1 the batch is cut into that many contiguous parts, each running its own
    chain of ops; the random numbers of a step are drawn for the whole batch and then cut, so the
    result does not depend on the lanes."""
    config, cell = model.config, model.decoder
    m = config.num_mixture
    n = tf.shape(start)[0]
    if state is None:
        state = model.initial_state(z if config.conditional else None, n)
    context = model.decoder_context(z) if config.conditional else None
    bounds = [0] if lanes == 1 else [(n * i) // lanes for i in range(lanes)]
    bounds.append(n)
    parts = list(zip(bounds[:-1], bounds[1:], strict=True))

    def lane(prev, s, ctx, noise):
        """One step of one lane: its next rows, pen states, state and decoder outputs."""
        raw, s = model.decode_step(prev, s, ctx)
        return (*next_row(raw, m, greedy, noise, pdf_temp, sigma_scale), s, raw)

    if not greedy:
        rows_n = start.shape[0] or n  # (static when known: the loop's shapes stay static)
        all_noise = draw_noise(seeds, buffer_len, rows_n, m)

    def body(t, prevs, states, done, lengths, rows_ta, raw_ta):
        noise = None if greedy else tuple(a[t] for a in all_noise)
        outs = []
        for i, (lo, hi) in enumerate(parts):
            ctx, lane_noise = context, noise
            if lanes > 1:
                ctx = None if context is None else tuple(a[lo:hi] for a in context)
                lane_noise = None if noise is None else (noise[0][lo:hi], noise[1][lo:hi], noise[2][:, lo:hi])
            outs.append(lane(prevs[i], states[i], ctx, lane_noise))
        rows, pens, states, raws = zip(*outs, strict=True)
        row, raw, pen_idx = (a[0] if lanes == 1 else tf.concat(a, 0) for a in (rows, raws, pens))
        out_row = tf.where(done[:, None] & early_stop, tf.constant([END_ROW]), row)
        lengths = tf.where(done, lengths, t + 1)
        done = done | tf.equal(pen_idx, 2)
        return t + 1, rows, states, done, lengths, rows_ta.write(t, out_row), raw_ta.write(t, raw)

    def cond(t, prev, s, done, *_):
        return (t < max_len) & ~(early_stop & tf.reduce_all(done))

    def array(width):
        if static:
            return tf.TensorArray(tf.float32, size=buffer_len, element_shape=tf.TensorShape([None, width]))
        return tf.TensorArray(tf.float32, size=0, dynamic_size=True)

    flat = cell.split_state(state)
    # (a lane's row count is only known at run time; with one lane the tensors stay as they are)
    cut = (lambda a, lo, hi: a) if lanes == 1 else (lambda a, lo, hi: _any_rows(a[lo:hi]))
    prevs = tuple(cut(start, lo, hi) for lo, hi in parts)
    states = tuple(tuple(cut(a, lo, hi) for a in flat) for lo, hi in parts)
    init = (tf.constant(0), prevs, states, tf.zeros([n], tf.bool), tf.zeros([n], tf.int32),
            array(5), array(config.output_size))
    _, _, _, _, lengths, rows_ta, raw_ta = tf.while_loop(
        cond, body, init, maximum_iterations=buffer_len if static else None)
    rows = tf.transpose(rows_ta.stack(), [1, 0, 2])
    raw = tf.transpose(raw_ta.stack(), [1, 0, 2])
    return rows, lengths, raw


def next_row(raw, m, greedy, noise, pdf_temp, sigma_scale):
    """The next stroke-5 row ``[n, 5]`` and pen state ``[n]``: the reference's
    :func:`sketch_rnn.sampling._next_row` op for op, in TensorFlow's own ops, which run the
    graph-mode (lanes) loop ~4% faster: ``tf.argmax`` without Keras' care for ``-0.0`` (a tie of
    ``0.0`` and ``-0.0`` as largest value, which drawn logits never are, is the one case they differ)
    and a batched gather of the drawn component where the reference multiplies by a one-hot."""
    pen_logits = raw[:, :3]
    pi_logits = raw[:, 3 : 3 + m]
    if greedy:
        idx = tf.argmax(pi_logits, axis=-1, output_type=tf.int32)
        pen_idx = tf.argmax(pen_logits, axis=-1, output_type=tf.int32)
    else:
        u_pi, u_pen, e = noise
        idx = tf.argmax(pi_logits / pdf_temp - tf.math.log(-tf.math.log(u_pi)), axis=-1, output_type=tf.int32)
        pen_idx = tf.argmax(pen_logits / pdf_temp - tf.math.log(-tf.math.log(u_pen)), axis=-1,
                            output_type=tf.int32)
    comp = tf.gather(tf.reshape(raw[:, 3 + m :], [-1, 5, m]), idx, axis=2, batch_dims=1)
    mu = comp[:, :2]
    if greedy:
        offset = mu
    else:
        s1, s2 = tf.exp(comp[:, 2]) * sigma_scale, tf.exp(comp[:, 3]) * sigma_scale
        rho = tf.tanh(comp[:, 4])
        offset = mu + tf.stack([s1 * e[0], s2 * (rho * e[0] + tf.sqrt(1.0 - tf.square(rho)) * e[1])], axis=1)
    return tf.concat([offset, tf.one_hot(pen_idx, 3)], axis=1), pen_idx


def _any_rows(v: tf.Tensor) -> tf.Tensor:
    """``v`` with its static row count forgotten (a lane's slice of a batch of known size has a
    static row count that the loop body's tensors, sliced with run-time bounds, do not)."""
    return tf.raw_ops.PlaceholderWithDefault(input=v, shape=tf.TensorShape([None]).concatenate(v.shape[1:]))


# -- encoding ------------------------------------------------------------------------------------


def encoder_function(model, runtime, jit: bool):
    """The encoder, compiled, taking numpy arrays: ``fn(rows) -> (mu, presig)`` with XLA (``rows``:
    time-major stroke-5 rows of both directions ``[2, T, B, 5]``, each drawing's rows then
    end-of-sketch rows, see :func:`sketch_rnn.sampling._encoder_rows`), else the model's
    ``posterior`` as a graph, ``fn(x, lengths)``.

    With XLA the forward and backward directions are two separately compiled loops called from
    one plain graph: they do not depend on each other, so the graph executor runs them at the
    same time on two inter-op threads. At batch 1 each step is bound by reading the direction's
    recurrent matrix (1 MB at 256 units), so this about halves the time on a 2-core CPU, where
    one XLA function runs its loops one after the other on one core.
    """
    if jit:
        unroll = runtime.encoder_unroll
        directions = [
            tf.function(lambda rows, cell=cell, i=i: encoder_direction(cell, rows[i], unroll),
                        jit_compile=True)
            for i, cell in enumerate((model.enc_fw, model.enc_bw))]

        # XLA's product, not TensorFlow's kernel's: the reference's codes to the last bit.
        latent_code = tf.function(model.latent_code, jit_compile=True)

        def enc(rows):
            return latent_code(tf.concat([directions[0](rows), directions[1](rows)], axis=-1))

        compiled = tf.function(enc, autograph=False)
    else:
        compiled = tf.function(lambda x, n: model.posterior(x, n, runtime=runtime), reduce_retracing=True)

    def call(*args):
        return compiled(*(_tensor(a) for a in args))

    return call


def encoder_direction(cell, rows, unroll: int):
    """One encoder direction for inference: the final output ``[B, units]`` of ``cell`` run over
    time-major rows ``[T, B, 5]``, each drawing stopping at its length (its rows before the first
    end-of-sketch row).

    The loop runs to the longest length, not the padded T (a data-dependent trip count compiles with
    XLA; only the final state is needed, so no TensorArray); the input projections of all steps are
    one matmul before it, so a step is the recurrent product and the gate maths only. ``unroll``
    steps per iteration (2: about 7% faster at 256 units than one, the loop's own overhead), the
    extra steps of the last iteration masked out.
    """
    batch = rows.shape[1]
    lengths = tf.reduce_sum(tf.cast(rows[:, :, 4] == 0.0, tf.int32), axis=0)
    proj = cell.project(rows)

    def body(t, state):
        for k in range(unroll):
            # XLA clamps an index past T (a length of exactly T), and that step is masked out.
            _, new = cell.step(tuple(p[t + k] for p in proj), state)
            # dynamic_rnn semantics: past its length a drawing's state is carried unchanged.
            keep = (t + k < lengths)[:, None]
            state = tuple(tf.where(keep, a, b) for a, b in zip(new, state, strict=True))
        return t + unroll, state

    steps = tf.reduce_max(lengths)
    _, state = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), cell.zero_state(batch)))
    return cell.output(state)

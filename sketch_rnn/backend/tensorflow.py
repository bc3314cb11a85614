"""TensorFlow's side of :mod:`sketch_rnn.backend` (imported only on the TensorFlow backend)."""

from __future__ import annotations

import keras
import tensorflow as tf


def fold_in(seed, k: int):
    # Seeds kept non-negative: from a negative one XLA draws other numbers than TensorFlow's kernels,
    # and a step compiled with XLA (--jit_compile) should drop what the same step without drops.
    seed = _non_negative(tf.convert_to_tensor(seed))
    return _non_negative(tf.random.experimental.stateless_fold_in(seed, k))


def _non_negative(seed):
    return tf.bitwise.bitwise_and(seed, tf.constant(0x7FFFFFFF, seed.dtype))


def kept(shape, keep_prob: float, seed=None):
    # Uniform 32-bit integers below keep * 2**32: the keep probability exact to 2^-32, and about
    # twice as fast as float uniforms (the masks are ~25M numbers per default training step).
    if seed is None:
        seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint32)
    return bits < tf.constant(int(keep_prob * 2**32), tf.uint32)


def scan(step, carry, xs, collect: bool = False):
    # Inputs are read through TensorArrays, so that their gradients accumulate without the quadratic
    # cost of slicing a tensor inside a loop; maximum_iterations lets XLA size the gradient's stacks.
    flat = tf.nest.flatten(xs)
    steps = flat[0].shape[0] if flat[0].shape[0] is not None else tf.shape(flat[0])[0]
    arrays = [tf.TensorArray(x.dtype, size=steps, infer_shape=True).unstack(x) for x in flat]
    out = tf.TensorArray(tf.float32, size=steps) if collect else tf.constant(0)

    def body(t, c, out):
        y, c = step(c, tf.nest.pack_sequence_as(xs, [a.read(t) for a in arrays]))
        return t + 1, c, (out.write(t, y) if collect else out)

    _, carry, out = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), carry, out),
                                  maximum_iterations=steps)
    return carry, (out.stack() if collect else None)


def normal(shape, seed, dtype="float32"):
    return tf.random.stateless_normal(shape, tf.convert_to_tensor(seed), dtype=dtype)


def uniform(shape, seed, minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, tf.convert_to_tensor(seed), minval=minval, maxval=maxval)


def function(fn, variables, jit: bool = True):
    variables = list(variables)

    def run(*args):
        # Each weight read once on entry (see model.read_weights_once), current at every call.
        with keras.StatelessScope(state_mapping=[(v, v.value) for v in variables]):
            return fn(*args)

    return tf.function(run, jit_compile=jit, reduce_retracing=True, autograph=False)


class GradientStep:
    """See :func:`sketch_rnn.backend.gradient_step`. The gradients (optionally XLA-compiled) and
    Adam's update are two graphs: the update runs only after the step was found finite."""

    def __init__(self, loss_fn, variables, optimizer, clip: float, jit: bool):
        self.variables, self.optimizer = list(variables), optimizer

        def grads(*args):
            with tf.GradientTape() as tape:
                parts = loss_fn(*args)
            grads = tape.gradient(parts["cost"], self.variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.variables, strict=True)]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            finite = finite & tf.math.is_finite(parts["cost"])
            return parts, [tf.clip_by_value(g, -clip, clip) for g in grads], finite

        self.gradients = tf.function(grads, jit_compile=jit, reduce_retracing=True)
        self._apply = tf.function(lambda grads: optimizer.apply(grads, self.variables), reduce_retracing=True)

    def __call__(self, *args):
        parts, grads, finite = self.gradients(*args)
        finite = bool(finite)
        if finite:
            self._apply(grads)
        return parts, finite


def gradient_step(loss_fn, variables, optimizer, clip: float, jit: bool = False):
    return GradientStep(loss_fn, variables, optimizer, clip, jit)


def gradients(loss_fn, variables, jit: bool = False):
    variables = list(variables)

    def grads(*args):
        with tf.GradientTape() as tape:
            loss = loss_fn(*args)
        out = tape.gradient(loss, variables)
        return [tf.zeros_like(v) if g is None else g for g, v in zip(out, variables, strict=True)]

    return tf.function(grads, jit_compile=jit, reduce_retracing=True)

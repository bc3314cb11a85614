"""The seam between the Keras-level code and the active backend: the few operations Keras does not
offer as this code needs them, each implemented per backend in a module imported only when that
backend is active (so that ``import sketch_rnn`` under one backend never imports another's library).

* :func:`fold_in` / :func:`kept`: dropout masks drawn from a seed computed at run time
  (``keras.random`` takes integer seeds or seed generators only).
* :func:`scan`: a loop over the leading axis that a compiler can differentiate. On TensorFlow it is a
  ``tf.while_loop`` with its trip count bound, which XLA needs to compile the loop's gradient
  (``keras.ops.scan`` sets none); elsewhere ``keras.ops.scan``.

Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> final, ys = scan(lambda c, x: (c + x, c + x), ops.zeros((2,)), ops.ones((3, 2)), collect=True)
    >>> np.asarray(final).tolist(), tuple(ys.shape)
    ([3.0, 3.0], (3, 2))
"""

from __future__ import annotations

import importlib

import keras


def _impl():
    """The active backend's module (``sketch_rnn.backend.<name>``), or None where there is none."""
    name = keras.backend.backend()
    try:
        return importlib.import_module(f"sketch_rnn.backend.{name}")
    except ModuleNotFoundError:
        return None


def fold_in(seed, k: int):
    """A seed ``[2]`` derived from ``seed`` and the integer ``k`` (independent streams for different
    ``k``)."""
    impl = _impl()
    if impl is None:
        raise NotImplementedError(f"seeded dropout masks are not implemented for the "
                                  f"{keras.backend.backend()} backend yet")
    return impl.fold_in(seed, k)


def kept(shape, keep_prob: float, seed=None):
    """Which units dropout keeps (bool ``shape``), each with probability ``keep_prob`` (< 1), from
    the stateless ``seed`` ``[2]`` if given, else from a fresh one."""
    impl = _impl()
    if impl is None:
        raise NotImplementedError(f"seeded dropout masks are not implemented for the "
                                  f"{keras.backend.backend()} backend yet")
    return impl.kept(shape, keep_prob, seed)


def scan(step, carry, xs, collect: bool = False):
    """Run ``step(carry, x) -> (y, carry)`` over the leading axis of ``xs`` (a nest of tensors);
    returns ``(final carry, ys stacked)`` (``ys`` None unless ``collect``; ``y`` one tensor)."""
    impl = _impl()
    if impl is not None and hasattr(impl, "scan"):
        return impl.scan(step, carry, xs, collect)

    def f(c, x):
        y, c = step(c, x)
        return c, (y if collect else None)

    return keras.ops.scan(f, carry, xs)

"""The seam between the Keras-level code and the active backend: the few operations Keras does not
offer as this code needs them, each implemented per backend in a module imported only when that
backend is active (so that ``import sketch_rnn`` under one backend never imports another's library).

* :func:`fold_in` / :func:`kept`: dropout masks drawn from a seed computed at run time
  (``keras.random`` takes integer seeds or seed generators only).
* :func:`normal` / :func:`uniform`: stateless draws from a seed ``[2]`` (the same seed gives the same
  numbers on one backend; backends draw different numbers).
* :func:`function`: a compiled function of a model's current weights (TensorFlow: a
  ``tf.function``, XLA-compiled with ``jit``; JAX: ``jax.jit`` with the weights' values passed
  as arguments, so training's updates reach it without a new compile).
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

import functools
import importlib

import keras


def _impl():
    """The active backend's module (``sketch_rnn.backend.<name>``), or None where there is none."""
    return _module(keras.backend.backend())


@functools.cache
def _module(name: str):
    # Cached: compiled code calls this while tracing, where an import would be traced too.
    try:
        return importlib.import_module(f"sketch_rnn.backend.{name}")
    except ModuleNotFoundError:
        return None


def float64_available() -> bool:
    """Whether float64 tensors are float64 (JAX makes them float32 unless x64 is enabled)."""
    impl = _impl()
    return impl.float64_available() if impl is not None and hasattr(impl, "float64_available") else True


def _require(what: str):
    impl = _impl()
    if impl is None or not hasattr(impl, what):
        raise NotImplementedError(f"{what} is not implemented for the {keras.backend.backend()} backend "
                                  "(sketch_rnn runs on TensorFlow and JAX)")
    return impl


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


def normal(shape, seed, dtype: str = "float32"):
    """Standard normal numbers of ``shape`` drawn from the stateless ``seed`` ``[2]``."""
    return _require("normal").normal(shape, seed, dtype)


def uniform(shape, seed, minval: float = 0.0, maxval: float = 1.0):
    """Uniform float32 numbers in ``[minval, maxval)`` drawn from the stateless ``seed`` ``[2]``."""
    return _require("uniform").uniform(shape, seed, minval, maxval)


def function(fn, variables, jit: bool = True):
    """``fn(*tensors)`` compiled, reading the current values of ``variables`` (a model's weights)
    at every call; Python-level choices belong in ``fn``'s closure, one compiled function each.

    Example:
        >>> import keras, numpy as np
        >>> v = keras.Variable(np.float32(2.0))
        >>> double = function(lambda x: x * v, [v])
        >>> float(double(np.float32(3.0))), (v.assign(5.0), float(double(np.float32(3.0))))[1]
        (6.0, 15.0)
    """
    return _require("function").function(fn, variables, jit)


def gradient_step(loss_fn, variables, optimizer, clip: float, jit: bool = False):
    """A training step: ``step(*args) -> (parts, finite)`` computes ``parts = loss_fn(*args)`` (a
    dict with ``"cost"``) and the gradients of ``parts["cost"]`` with respect to ``variables``,
    clips them element-wise to ``+-clip`` and lets ``optimizer`` apply them, unless the cost or a
    gradient is not finite (then nothing changes and ``finite`` is False).
    ``step.gradients(*args) -> (parts, clipped grads, finite)`` without the update. ``jit``:
    XLA-compile the gradients on TensorFlow (JAX always compiles the whole step)."""
    return _require("gradient_step").gradient_step(loss_fn, variables, optimizer, clip, jit)


def gradients(loss_fn, variables, jit: bool = False):
    """``grad(*args)``: the gradients of the scalar ``loss_fn(*args)`` with respect to
    ``variables`` (zeros where it does not depend on one), compiled (``jit``: with XLA on
    TensorFlow; JAX always compiles).

    Example:
        >>> import keras, numpy as np
        >>> v = keras.Variable(np.float32(3.0))
        >>> [float(g) for g in gradients(lambda x: v * v * x, [v])(np.float32(2.0))]
        [12.0]
    """
    return _require("gradients").gradients(loss_fn, variables, jit)

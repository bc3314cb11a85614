"""JAX's side of :mod:`sketch_rnn.backend` (imported only on the JAX backend).

Seeds are two 32-bit words, read as the raw data of a threefry key, so a seed ``[2]`` made on one
backend is a valid seed here (the numbers drawn from it differ between backends).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np


def _key(seed):
    if seed is None:
        # A fresh seed (eager code only: inside a compiled function it would be a constant).
        seed = np.random.SeedSequence().generate_state(2)
    return jax.random.wrap_key_data(jnp.asarray(seed).astype(jnp.uint32), impl="threefry2x32")


def _seed(key):
    # int32 like TensorFlow's seeds, kept non-negative as there.
    return (jax.random.key_data(key) & jnp.uint32(0x7FFFFFFF)).astype(jnp.int32)


def float64_available() -> bool:
    return bool(jax.config.jax_enable_x64)


def fold_in(seed, k: int):
    return _seed(jax.random.fold_in(_key(seed), k))


def kept(shape, keep_prob: float, seed=None):
    # As on TensorFlow: uniform 32-bit integers below keep * 2**32.
    bits = jax.random.bits(_key(seed), tuple(shape), jnp.uint32)
    return bits < jnp.uint32(int(keep_prob * 2**32))


def normal(shape, seed, dtype="float32"):
    return jax.random.normal(_key(seed), tuple(shape), dtype)


def uniform(shape, seed, minval=0.0, maxval=1.0):
    return jax.random.uniform(_key(seed), tuple(shape), jnp.float32, minval, maxval)


def function(fn, variables, jit: bool = True):
    # The variables' values are arguments of the compiled function, not constants baked into it:
    # weights updated by training are seen by the next call without a new compile.
    variables = list(variables)

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return fn(*args)

    compiled = jax.jit(pure) if jit else pure

    def call(*args):
        return compiled([v.value for v in variables], *args)

    return call


class GradientStep:
    """See :func:`sketch_rnn.backend.gradient_step`. One compiled function takes the weights' and
    the optimizer's values and returns their updated values (the old ones where the step was not
    finite), which are then assigned to the variables."""

    def __init__(self, loss_fn, variables, optimizer, clip: float, jit: bool):
        self.variables, self.optimizer = list(variables), optimizer
        pairs = lambda values: list(zip(self.variables, values, strict=True))  # noqa: E731

        def grads(values, *args):
            def cost(values):
                with keras.StatelessScope(state_mapping=pairs(values)):
                    parts = loss_fn(*args)
                return parts["cost"], parts

            (_, parts), g = jax.value_and_grad(cost, has_aux=True)(values)
            finite = jnp.isfinite(parts["cost"])
            for x in g:
                finite = finite & jnp.all(jnp.isfinite(x))
            return parts, [jnp.clip(x, -clip, clip) for x in g], finite

        def update(values, slots, *args):
            parts, g, finite = grads(values, *args)
            new_values, new_slots = optimizer.stateless_apply(slots, g, values)
            keep = lambda new, old: [jnp.where(finite, a, b) for a, b in zip(new, old, strict=True)]  # noqa: E731
            return parts, finite, keep(new_values, values), keep(new_slots, slots)

        self._grads, self._update = jax.jit(grads), jax.jit(update)

    def gradients(self, *args):
        return self._grads([v.value for v in self.variables], *args)

    def __call__(self, *args):
        slots = self.optimizer.variables
        parts, finite, values, new_slots = self._update(
            [v.value for v in self.variables], [v.value for v in slots], *args)
        for var, value in zip(self.variables, values, strict=True):
            var.assign(value)
        for var, value in zip(slots, new_slots, strict=True):
            var.assign(value)
        return parts, bool(finite)


def gradient_step(loss_fn, variables, optimizer, clip: float, jit: bool = True):
    return GradientStep(loss_fn, variables, optimizer, clip, jit)


def gradients(loss_fn, variables, jit: bool = True):
    variables = list(variables)

    def loss(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return loss_fn(*args)

    compiled = jax.jit(jax.grad(loss))
    return lambda *args: compiled([v.value for v in variables], *args)

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

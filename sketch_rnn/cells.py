"""The reference's three recurrent cells (magenta ``rnn.py``), one plain step each, in Keras 3 ops.

All three follow magenta exactly: gate blocks in the order (i, j, f, o), a forget bias of +1 added at
run time, ``W_hh`` initialised as four orthogonal blocks, ``W_xh`` Glorot-uniform, per-gate layer norm
with epsilon 1e-3, and recurrent dropout ("without memory loss") on the candidate ``g = tanh(j)`` only.
Weights keep the reference shapes (``W_xh [in, 4n]``, ``W_hh [n, 4n]``) so that magenta checkpoints map
onto them one to one.

magenta multiplies ``[x, h]`` by ``[W_xh; W_hh]`` in one product. Here a step is written as
``project(x)`` (the input's share, ``x W_xh``) plus ``step``, which adds ``h W_hh`` and does the rest:
the same sum, split where the input is known ahead (a whole teacher-forced sequence is projected at
once; the decoder's constant ``z`` once per drawing). Flat state layouts are the reference's: ``[c,
h]`` for LSTM, ``[h, c]`` for layer norm and ``[h, hyper_h, c, hyper_c]`` for HyperLSTM; a step takes
and returns a tuple of those parts.

The hand-fused forms of these steps (a hand-written backward, batch lanes, compiled pieces) are in
:mod:`sketch_rnn.fast`, proven equal to these by ``tests/test_fast.py``.

Example:
    >>> from keras import ops
    >>> cell = LSTMCell(8)
    >>> cell.build(5)
    >>> h, state = cell.step(cell.project(ops.zeros((2, 5))), cell.zero_state(2))
    >>> tuple(h.shape), cell.state_size
    ((2, 8), 16)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

LN_EPSILON = 1e-3
FORGET_BIAS = 1.0
HYPER_NUM_UNITS = 256
HYPER_EMBEDDING_SIZE = 32


class LSTMOrthogonal(keras.initializers.Initializer):
    """Four independent orthogonal ``[rows, n]`` blocks side by side (magenta's
    ``lstm_ortho_initializer``)."""

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        n = cols // 4
        # Seeded from Keras' global generator, so keras.utils.set_random_seed makes it repeatable.
        rng = np.random.default_rng(int(ops.convert_to_numpy(keras.random.randint((), 0, 2**31 - 1))))
        blocks = [orthogonal(rows, n, rng) for _ in range(4)]
        return ops.convert_to_tensor(np.concatenate(blocks, axis=1), dtype=dtype or "float32")


def orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """magenta's ``orthogonal``: the orthonormal factor of an SVD of a Gaussian matrix."""
    a = rng.normal(0.0, 1.0, (rows, cols))
    u, _, v = np.linalg.svd(a, full_matrices=False)
    return u if u.shape == (rows, cols) else v


def layer_norm(x, gamma, beta):
    """magenta's ``layer_norm`` over the last axis, epsilon inside the square root."""
    mean = ops.mean(x, axis=-1, keepdims=True)
    shifted = x - mean
    var = ops.mean(ops.square(shifted), axis=-1, keepdims=True)
    return gamma * (shifted * ops.rsqrt(var + LN_EPSILON)) + beta


def layer_norm_gates(x, gamma, beta, units: int):
    """magenta's ``layer_norm_all``: each of the four gate blocks of ``x [B, 4 units]`` normalised on
    its own, then one gain and shift over all ``4 units``."""
    blocks = ops.reshape(x, (-1, 4, units))
    mean = ops.mean(blocks, axis=-1, keepdims=True)
    var = ops.mean(ops.square(blocks - mean), axis=-1, keepdims=True)
    normed = ops.reshape((blocks - mean) * ops.rsqrt(var + LN_EPSILON), (-1, 4 * units))
    return gamma * normed + beta


def lstm_update(gates, c, dropout_mask=None):
    """The LSTM's new cell state from its gate pre-activations (i, j, f, o), and ``o``.

    ``dropout_mask`` (recurrent dropout without memory loss) multiplies the candidate only.
    """
    i, j, f, o = ops.split(gates, 4, axis=-1)
    g = ops.tanh(j)
    if dropout_mask is not None:
        g = g * dropout_mask
    new_c = c * ops.sigmoid(f + FORGET_BIAS) + ops.sigmoid(i) * g
    return new_c, o


class _Cell(keras.layers.Layer):
    """What the three cells share: ``W_xh`` and ``W_hh``, the state layout, the input projection.

    Weights are made by ``build(input_size)``. ``recurrent_initializer`` replaces the orthogonal init
    of ``W_hh`` (loaders that assign every weight right after pass ``"zeros"``: the SVDs are the slow
    part of building a model).
    """

    def __init__(self, units: int, recurrent_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_size: int | None = None
        self._recurrent_init = recurrent_initializer or LSTMOrthogonal()

    def build(self, input_size: int) -> None:
        self.input_size = int(input_size)
        n4 = 4 * self.units
        self.W_xh = self.add_weight(name="W_xh", shape=(self.input_size, n4), initializer="glorot_uniform")
        self.W_hh = self.add_weight(name="W_hh", shape=(self.units, n4), initializer=self._recurrent_init)

    @property
    def state_parts(self) -> tuple[int, ...]:
        """Widths of the state's parts, in the reference's flat order."""
        return (self.units, self.units)

    @property
    def state_size(self) -> int:
        return sum(self.state_parts)

    def zero_state(self, batch_size) -> tuple:
        return tuple(ops.zeros((batch_size, s)) for s in self.state_parts)

    def split_state(self, flat) -> tuple:
        """A flat reference-layout state ``[B, state_size]`` as the tuple ``step`` takes."""
        return tuple(ops.split(flat, list(np.cumsum(self.state_parts)[:-1]), axis=-1))

    def flat_state(self, state: tuple):
        return ops.concatenate(list(state), axis=-1)

    def output(self, state: tuple):
        """The cell's output ``h`` within a state tuple."""
        raise NotImplementedError

    def project(self, x, first: int = 0) -> tuple:
        """The input's share of the gate pre-activations, ``x W_xh``, for ``x [..., k]`` holding
        input columns ``first .. first + k`` (the pre-activations are linear in the input, so a
        concatenated input is projected part by part). A tuple: one term per part of the step."""
        return (dense(x, self.W_xh[first : first + x.shape[-1]]),)

    def step(self, xproj: tuple, state: tuple, dropout_mask=None):
        """One time step from the projected input; returns ``(h, new_state)``."""
        raise NotImplementedError


class LSTMCell(_Cell):
    """magenta's ``LSTMCell``: state ``[c, h]``, weights ``W_xh``, ``W_hh``, ``bias``."""

    def build(self, input_size: int) -> None:
        super().build(input_size)
        self.bias = self.add_weight(name="bias", shape=(4 * self.units,), initializer="zeros")

    def step(self, xproj, state, dropout_mask=None):
        c, h = state
        gates = xproj[0] + ops.matmul(h, self.W_hh) + self.bias
        new_c, o = lstm_update(gates, c, dropout_mask)
        new_h = ops.tanh(new_c) * ops.sigmoid(o)
        return new_h, (new_c, new_h)

    def output(self, state):
        return state[1]


class LayerNormLSTMCell(_Cell):
    """magenta's ``LayerNormLSTMCell``: no bias, per-gate layer norm, state ``[h, c]``."""

    def build(self, input_size: int) -> None:
        super().build(input_size)
        n = self.units
        self.ln_all_gamma = self.add_weight(name="ln_all_gamma", shape=(4 * n,), initializer="ones")
        self.ln_all_beta = self.add_weight(name="ln_all_beta", shape=(4 * n,), initializer="zeros")
        self.ln_c_gamma = self.add_weight(name="ln_c_gamma", shape=(n,), initializer="ones")
        self.ln_c_beta = self.add_weight(name="ln_c_beta", shape=(n,), initializer="zeros")

    def step(self, xproj, state, dropout_mask=None):
        h, c = state
        gates = layer_norm_gates(xproj[0] + ops.matmul(h, self.W_hh), self.ln_all_gamma, self.ln_all_beta,
                                 self.units)
        new_c, o = lstm_update(gates, c, dropout_mask)
        new_h = ops.tanh(layer_norm(new_c, self.ln_c_gamma, self.ln_c_beta)) * ops.sigmoid(o)
        return new_h, (new_h, new_c)

    def output(self, state):
        return state[0]


class HyperLSTMCell(_Cell):
    """magenta's ``HyperLSTMCell`` (layer norm on; hyper cell of 256 units, embedding 32).

    A small layer-norm LSTM, the hyper cell, reads ``[x, h]``; its output ``u`` scales each gate's
    ``W_xh x`` and ``W_hh h`` per unit (``alpha = W_alpha (W_zw u + b_zw)``, magenta's ``hyper_norm``)
    and adds ``beta = W_beta (W_zb u)`` to the recurrent part (``hyper_bias``). The eight weight sets
    ``hyper_{i,j,f,o}{x,h}`` of ``zw`` / ``alpha`` are stacked along a leading axis in that order (x
    gates first), the four ``hyper_{i,j,f,o}h`` sets of ``zb`` / ``beta`` likewise. State
    ``[h, hyper_h, c, hyper_c]``.
    """

    def __init__(self, units: int, hyper_units: int = HYPER_NUM_UNITS, embedding: int = HYPER_EMBEDDING_SIZE,
                 recurrent_initializer=None, **kwargs):
        super().__init__(units, recurrent_initializer, **kwargs)
        self.hyper_units = int(hyper_units)
        self.embedding = int(embedding)
        self.hyper_cell = LayerNormLSTMCell(hyper_units, recurrent_initializer, name="hyper_cell")

    @property
    def state_parts(self) -> tuple[int, ...]:
        return (self.units, self.hyper_units, self.units, self.hyper_units)

    def build(self, input_size: int) -> None:
        super().build(input_size)
        n, e, hu = self.units, self.embedding, self.hyper_units
        self.bias = self.add_weight(name="bias", shape=(4 * n,), initializer="zeros")
        self.ln_all_gamma = self.add_weight(name="ln_all_gamma", shape=(4 * n,), initializer="ones")
        self.ln_all_beta = self.add_weight(name="ln_all_beta", shape=(4 * n,), initializer="zeros")
        self.ln_c_gamma = self.add_weight(name="ln_c_gamma", shape=(n,), initializer="ones")
        self.ln_c_beta = self.add_weight(name="ln_c_beta", shape=(n,), initializer="zeros")
        # The "recurrent batch-norm" init: alpha starts at 0.1 everywhere, beta at 0.
        self.zw_w = self.add_weight(name="zw_w", shape=(8, hu, e), initializer="zeros")
        self.zw_b = self.add_weight(name="zw_b", shape=(8, e), initializer="ones")
        self.alpha_w = self.add_weight(name="alpha_w", shape=(8, e, n),
                                       initializer=keras.initializers.Constant(0.1 / e))
        self.zb_w = self.add_weight(name="zb_w", shape=(4, hu, e),
                                    initializer=keras.initializers.RandomNormal(stddev=0.01))
        self.beta_w = self.add_weight(name="beta_w", shape=(4, e, n), initializer="zeros")
        self.hyper_cell.build(input_size + n)

    def project(self, x, first: int = 0) -> tuple:
        """``(x W_xh, x W_xh')``: the main cell's share and the hyper cell's (whose input is
        ``[x, h]``; ``W_xh'`` is the ``x`` rows of its ``W_xh``)."""
        rows = slice(first, first + x.shape[-1])
        return (dense(x, self.W_xh[rows]), dense(x, self.hyper_cell.W_xh[rows]))

    def step(self, xproj, state, dropout_mask=None):
        h, hyper_h, c, hyper_c = state
        x_main, x_hyper = xproj
        n = self.units
        # The hyper cell reads [x, h]: x's share arrives projected, h's share is added here.
        hyper_in = x_hyper + ops.matmul(h, self.hyper_cell.W_xh[self.input_size :])
        u, (new_hyper_h, new_hyper_c) = self.hyper_cell.step((hyper_in,), (hyper_h, hyper_c))
        xh = ops.reshape(x_main, (-1, 4, n))
        hh = ops.reshape(ops.matmul(h, self.W_hh), (-1, 4, n))
        alpha = ops.einsum("bge,gen->bgn", ops.einsum("bu,gue->bge", u, self.zw_w) + self.zw_b, self.alpha_w)
        beta = ops.einsum("bge,gen->bgn", ops.einsum("bu,gue->bge", u, self.zb_w), self.beta_w)
        # i = alpha_ix * ix + (alpha_ih * ih + beta_i) + b_i, and so on for j, f, o.
        gates = alpha[:, :4] * xh + (alpha[:, 4:] * hh + beta) + ops.reshape(self.bias, (4, n))
        gates = layer_norm_gates(ops.reshape(gates, (-1, 4 * n)), self.ln_all_gamma, self.ln_all_beta, n)
        new_c, o = lstm_update(gates, c, dropout_mask)
        new_h = ops.tanh(layer_norm(new_c, self.ln_c_gamma, self.ln_c_beta)) * ops.sigmoid(o)
        return new_h, (new_h, new_hyper_h, new_c, new_hyper_c)

    def output(self, state):
        return state[0]


def dense(x, w):
    """``x @ w`` over the last axis of ``x`` of any rank (one 2-D product)."""
    if len(x.shape) == 2:
        return ops.matmul(x, w)
    lead = ops.shape(x)[:-1]
    return ops.reshape(ops.matmul(ops.reshape(x, (-1, x.shape[-1])), w), (*lead, w.shape[-1]))


CELLS = {"lstm": LSTMCell, "layer_norm": LayerNormLSTMCell, "hyper": HyperLSTMCell}


def make_cell(kind: str, units: int, *, hyper_units: int = HYPER_NUM_UNITS,
              hyper_embedding: int = HYPER_EMBEDDING_SIZE, recurrent_initializer=None,
              name: str | None = None) -> _Cell:
    """Build a cell by its magenta name (``lstm``, ``layer_norm`` or ``hyper``).

    Example:
        >>> make_cell("layer_norm", 16).state_size
        32
    """
    try:
        cls = CELLS[kind]
    except KeyError:
        raise ValueError(f"unknown cell type {kind!r}: expected one of {sorted(CELLS)}") from None
    if cls is HyperLSTMCell:
        return cls(units, hyper_units, hyper_embedding, recurrent_initializer, name=name)
    return cls(units, recurrent_initializer, name=name)

"""The reference's three recurrent cells (magenta ``rnn.py``) as Keras 3 layers.

All three follow magenta exactly: gate blocks in the order (i, j, f, o), a forget bias of +1 added at
run time, ``W_hh`` initialised as four orthogonal blocks, ``W_xh`` Glorot-uniform, per-gate layer norm
with epsilon 1e-3, and recurrent dropout ("without memory loss") on the candidate ``g = tanh(j)`` only.
Weights keep the reference shapes (``W_xh [in, 4n]``, ``W_hh [n, 4n]``) so that magenta checkpoints map
onto them one to one.

They differ from a Keras ``RNN`` cell in one way, which is where the speed comes from: a cell splits its
work into ``project`` (the input's contribution to the gates, computed for a whole sequence in one
matmul, and for the decoder's constant ``z`` only once) and ``step`` (the recurrent part). The flat
state layouts are the reference's: ``[c, h]`` for LSTM, ``[h, c]`` for layer norm and
``[h, hyper_h, c, hyper_c]`` for HyperLSTM; inside a loop a state is a tuple of those pieces.

Example:
    >>> import tensorflow as tf
    >>> cell = LSTMCell(8)
    >>> cell.build_for_input(5)
    >>> x = tf.zeros([2, 5])
    >>> h, state = cell.step(cell.project(x), cell.zero_state(2))
    >>> tuple(h.shape), cell.state_size
    ((2, 8), 16)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow import keras

LN_EPSILON = 1e-3
FORGET_BIAS = 1.0
HYPER_NUM_UNITS = 256
HYPER_EMBEDDING_SIZE = 32


class LSTMOrthogonal(keras.initializers.Initializer):
    """Four independent orthogonal ``[rows, n]`` blocks side by side (magenta's LSTM init)."""

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        n = cols // 4
        rng = np.random.default_rng(int(keras.random.randint((), 0, 2**31 - 1).numpy()))
        blocks = [_orthogonal(rows, n, rng) for _ in range(4)]
        return tf.constant(np.concatenate(blocks, axis=1), dtype=dtype or "float32")


def _orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(0.0, 1.0, (rows, cols))
    u, _, v = np.linalg.svd(a, full_matrices=False)
    return u if u.shape == (rows, cols) else v


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    """Layer norm over the last axis, epsilon inside the square root, as in the reference."""
    mean = tf.reduce_mean(x, -1, keepdims=True)
    shifted = x - mean
    var = tf.reduce_mean(tf.square(shifted), -1, keepdims=True)
    return gamma * (shifted * tf.math.rsqrt(var + LN_EPSILON)) + beta


def layer_norm_gates(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, units: int) -> tf.Tensor:
    """Layer norm of each of the four gate blocks separately (magenta ``layer_norm_all``)."""
    shape = tf.shape(x)
    blocks = tf.reshape(x, tf.concat([shape[:-1], [4, units]], 0))
    mean = tf.reduce_mean(blocks, -1, keepdims=True)
    var = tf.reduce_mean(tf.square(blocks - mean), -1, keepdims=True)
    normed = tf.reshape((blocks - mean) * tf.math.rsqrt(var + LN_EPSILON), shape)
    return gamma * normed + beta


def _lstm_update(gates, c, units, drop_mask):
    i, j, f, o = tf.split(gates, 4, axis=-1)
    g = tf.tanh(j)
    if drop_mask is not None:
        g = g * drop_mask
    new_c = c * tf.sigmoid(f + FORGET_BIAS) + tf.sigmoid(i) * g
    return new_c, o


class _Cell(keras.layers.Layer):
    """Shared plumbing: weights are created by ``build_for_input(input_size)``."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_size: int | None = None

    @property
    def state_size(self) -> int:
        return 2 * self.units

    def build(self, input_shape=None):
        # Weights are made in build_for_input; Keras' automatic build is a no-op here.
        self.built = True

    def build_for_input(self, input_size: int) -> None:
        raise NotImplementedError

    def _kernels(self, input_size: int) -> None:
        self.input_size = int(input_size)
        n4 = 4 * self.units
        self.W_xh = self.add_weight(
            name="W_xh", shape=(input_size, n4), initializer="glorot_uniform"
        )
        self.W_hh = self.add_weight(
            name="W_hh", shape=(self.units, n4), initializer=LSTMOrthogonal()
        )

    def loop_params(self) -> dict[str, tf.Tensor]:
        """The weights ``step`` needs, read once as tensors.

        Read them outside a ``tf.while_loop`` and pass them to ``step``: a variable read inside the
        loop body would be saved at every iteration for the backward pass (a copy of ``W_hh`` per
        time step), which costs gigabytes and most of the time.
        """
        return {"W_hh": tf.convert_to_tensor(self.W_hh)}

    def project(self, x: tf.Tensor, rows: slice | None = None) -> tuple[tf.Tensor, ...]:
        """Input contribution to the pre-activations: ``x @ W_xh[rows]`` (rows: a slice of inputs).

        Projections of the parts of a concatenated input add up, so the decoder projects the stroke
        and its constant ``z`` separately.
        """
        w = self.W_xh if rows is None else self.W_xh[rows]
        return (dense(x, w),)

    def zero_state(self, batch_size) -> tuple[tf.Tensor, ...]:
        return tuple(tf.zeros([batch_size, s]) for s in self.state_parts)

    @property
    def state_parts(self) -> tuple[int, ...]:
        return (self.units, self.units)

    def split_state(self, flat: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Flat reference-layout state -> tuple used by ``step``."""
        return tuple(tf.split(flat, list(self.state_parts), axis=-1))

    def flat_state(self, state: tuple[tf.Tensor, ...]) -> tf.Tensor:
        return tf.concat(list(state), axis=-1)

    def output(self, state: tuple[tf.Tensor, ...]) -> tf.Tensor:
        raise NotImplementedError


def dense(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """``x @ w`` over the last axis of ``x`` of any rank.

    A reshape to 2-D and one matmul: ``tf.einsum("...i,ij->...j")`` computes the same forward but
    its gradient is pathological (about 4x the time and 10 GB more memory on a default batch).
    """
    if x.shape.rank == 2:
        return tf.matmul(x, w)
    shape = tf.shape(x)
    flat = tf.matmul(tf.reshape(x, [-1, shape[-1]]), w)
    return tf.reshape(flat, tf.concat([shape[:-1], tf.shape(w)[-1:]], 0))


class LSTMCell(_Cell):
    """magenta's ``LSTMCell``: state ``[c, h]``, weights ``W_xh``, ``W_hh``, ``bias``."""

    def build_for_input(self, input_size: int) -> None:
        self._kernels(input_size)
        self.bias = self.add_weight(name="bias", shape=(4 * self.units,), initializer="zeros")
        self.built = True

    def loop_params(self):
        return {"W_hh": tf.convert_to_tensor(self.W_hh), "bias": tf.convert_to_tensor(self.bias)}

    def step(self, xproj, state, drop_mask=None, p=None):
        p = p or self.loop_params()
        c, h = state
        gates = xproj[0] + tf.matmul(h, p["W_hh"]) + p["bias"]
        new_c, o = _lstm_update(gates, c, self.units, drop_mask)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, (new_c, new_h)

    def output(self, state):
        return state[1]


class LayerNormLSTMCell(_Cell):
    """magenta's ``LayerNormLSTMCell``: no bias, per-gate layer norm, state ``[h, c]``."""

    def build_for_input(self, input_size: int) -> None:
        self._kernels(input_size)
        n = self.units
        self.ln_all_gamma = self.add_weight(name="ln_all_gamma", shape=(4 * n,), initializer="ones")
        self.ln_all_beta = self.add_weight(name="ln_all_beta", shape=(4 * n,), initializer="zeros")
        self.ln_c_gamma = self.add_weight(name="ln_c_gamma", shape=(n,), initializer="ones")
        self.ln_c_beta = self.add_weight(name="ln_c_beta", shape=(n,), initializer="zeros")
        self.built = True

    def loop_params(self):
        names = ("W_hh", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")
        return {k: tf.convert_to_tensor(getattr(self, k)) for k in names}

    def step(self, xproj, state, drop_mask=None, p=None, hidden_proj=None):
        p = p or self.loop_params()
        h, c = state
        pre = xproj[0] + (tf.matmul(h, p["W_hh"]) if hidden_proj is None else hidden_proj)
        gates = layer_norm_gates(pre, p["ln_all_gamma"], p["ln_all_beta"], self.units)
        new_c, o = _lstm_update(gates, c, self.units, drop_mask)
        new_h = tf.tanh(layer_norm(new_c, p["ln_c_gamma"], p["ln_c_beta"])) * tf.sigmoid(o)
        return new_h, (new_h, new_c)

    def output(self, state):
        return state[0]


class HyperLSTMCell(_Cell):
    """magenta's ``HyperLSTMCell`` (layer norm on, hyper cell 256 units, embedding 32).

    A small layer-norm LSTM reads ``[x, h]``; its output ``u`` scales each gate's ``W_xh x`` and
    ``W_hh h`` contributions per unit (``alpha = W_alpha (W_zw u + b_zw)``) and adds a per-unit
    ``beta = W_beta (W_zb u)`` to the recurrent part. The eight ``hyper_{i,j,f,o}{x,h}`` weight sets
    are stacked along a leading axis in that order (x gates first) so one batched matmul serves all.
    State ``[h, hyper_h, c, hyper_c]``.
    """

    def __init__(self, units: int, hyper_units: int = HYPER_NUM_UNITS,
                 embedding: int = HYPER_EMBEDDING_SIZE, **kwargs):
        super().__init__(units, **kwargs)
        self.hyper_units = hyper_units
        self.embedding = embedding
        self.hyper_cell = LayerNormLSTMCell(hyper_units, name="hyper_cell")

    @property
    def state_size(self) -> int:
        return 2 * (self.units + self.hyper_units)

    @property
    def state_parts(self) -> tuple[int, ...]:
        return (self.units, self.hyper_units, self.units, self.hyper_units)

    def build_for_input(self, input_size: int) -> None:
        self._kernels(input_size)
        n, e, hu = self.units, self.embedding, self.hyper_units
        self.bias = self.add_weight(name="bias", shape=(4 * n,), initializer="zeros")
        self.ln_all_gamma = self.add_weight(name="ln_all_gamma", shape=(4 * n,), initializer="ones")
        self.ln_all_beta = self.add_weight(name="ln_all_beta", shape=(4 * n,), initializer="zeros")
        self.ln_c_gamma = self.add_weight(name="ln_c_gamma", shape=(n,), initializer="ones")
        self.ln_c_beta = self.add_weight(name="ln_c_beta", shape=(n,), initializer="zeros")
        # "recurrent batch-norm" init: alpha starts at 0.1 everywhere, beta at 0.
        self.zw_w = self.add_weight(name="zw_w", shape=(8, hu, e), initializer="zeros")
        self.zw_b = self.add_weight(name="zw_b", shape=(8, e), initializer="ones")
        self.alpha_w = self.add_weight(
            name="alpha_w", shape=(8, e, n), initializer=keras.initializers.Constant(0.1 / e)
        )
        self.zb_w = self.add_weight(
            name="zb_w", shape=(4, hu, e), initializer=keras.initializers.RandomNormal(stddev=0.01)
        )
        self.beta_w = self.add_weight(name="beta_w", shape=(4, e, n), initializer="zeros")
        self.hyper_cell.build_for_input(input_size + n)
        self.built = True

    def project(self, x, rows=None):
        w = self.W_xh if rows is None else self.W_xh[rows]
        w_inner = self.hyper_cell.W_xh[: self.input_size]
        if rows is not None:
            w_inner = w_inner[rows]
        return (dense(x, w), dense(x, w_inner))

    def loop_params(self):
        names = ("W_hh", "bias", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta", "zw_w",
                 "zw_b", "alpha_w", "zb_w", "beta_w")
        p = {k: tf.convert_to_tensor(getattr(self, k)) for k in names}
        inner = self.hyper_cell
        # The hyper cell's input is [x, h]: its x part arrives projected, its h part joins the
        # hyper cell's own recurrent matmul.
        p["inner"] = inner.loop_params()
        p["inner_w"] = tf.concat([inner.W_xh[self.input_size :], inner.W_hh], axis=0)
        # All eight zw projections (and the four zb ones) of u in one matmul each.
        hu, e = self.hyper_units, self.embedding
        p["zw_flat"] = tf.reshape(tf.transpose(p["zw_w"], [1, 0, 2]), [hu, 8 * e])
        p["zb_flat"] = tf.reshape(tf.transpose(p["zb_w"], [1, 0, 2]), [hu, 4 * e])
        return p

    def step(self, xproj, state, drop_mask=None, p=None):
        p = p or self.loop_params()
        h, hyper_h, c, hyper_c = state
        n, e = self.units, self.embedding
        inner_hidden = tf.matmul(tf.concat([h, hyper_h], axis=-1), p["inner_w"])
        u, (new_hyper_h, new_hyper_c) = self.hyper_cell.step(
            (xproj[1],), (hyper_h, hyper_c), p=p["inner"], hidden_proj=inner_hidden
        )
        batch = tf.shape(h)[0]
        zw = tf.reshape(tf.matmul(u, p["zw_flat"]), [batch, 8, e]) + p["zw_b"]
        alpha = tf.einsum("bge,gen->bgn", zw, p["alpha_w"])  # [B, 8, n]
        zb = tf.reshape(tf.matmul(u, p["zb_flat"]), [batch, 4, e])
        beta = tf.einsum("bge,gen->bgn", zb, p["beta_w"])  # [B, 4, n]
        xh = tf.reshape(xproj[0], [batch, 4, n])
        hh = tf.reshape(tf.matmul(h, p["W_hh"]), [batch, 4, n])
        gates = alpha[:, :4] * xh + (alpha[:, 4:] * hh + beta) + tf.reshape(p["bias"], [4, n])
        gates = layer_norm_gates(
            tf.reshape(gates, [batch, 4 * n]), p["ln_all_gamma"], p["ln_all_beta"], n
        )
        new_c, o = _lstm_update(gates, c, n, drop_mask)
        new_h = tf.tanh(layer_norm(new_c, p["ln_c_gamma"], p["ln_c_beta"])) * tf.sigmoid(o)
        return new_h, (new_h, new_hyper_h, new_c, new_hyper_c)

    def output(self, state):
        return state[0]


CELLS = {"lstm": LSTMCell, "layer_norm": LayerNormLSTMCell, "hyper": HyperLSTMCell}


def make_cell(kind: str, units: int, name: str | None = None) -> _Cell:
    """Build a cell by its magenta name (``lstm``, ``layer_norm`` or ``hyper``).

    Example:
        >>> make_cell("layer_norm", 16).state_size
        32
    """
    try:
        cls = CELLS[kind]
    except KeyError:
        raise ValueError(f"unknown cell type {kind!r}: expected one of {sorted(CELLS)}") from None
    return cls(units, name=name)

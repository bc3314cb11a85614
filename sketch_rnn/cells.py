"""The reference's three recurrent cells (magenta ``rnn.py``) as Keras 3 layers.

All three follow magenta exactly: gate blocks in the order (i, j, f, o), a forget bias of +1 added at
run time, ``W_hh`` initialised as four orthogonal blocks, ``W_xh`` Glorot-uniform, per-gate layer norm
with epsilon 1e-3, and recurrent dropout ("without memory loss") on the candidate ``g = tanh(j)`` only.
Weights keep the reference shapes (``W_xh [in, 4n]``, ``W_hh [n, 4n]``) so that magenta checkpoints map
onto them one to one.

They differ from a Keras ``RNN`` cell in two ways, which is where the speed comes from: a cell splits
its work into ``project`` (the input's contribution to the gates; for the decoder's constant ``z``
computed only once) and ``step`` (the recurrent part); and for teacher-forced runs (training,
evaluation) :func:`fused_sequence` runs a cell over a whole sequence with a hand-written backward
pass (the cells' ``fused_*`` methods). The flat state layouts are the reference's: ``[c, h]`` for
LSTM, ``[h, c]`` for layer norm and ``[h, hyper_h, c, hyper_c]`` for HyperLSTM; inside a loop a state
is a tuple of those pieces.

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

from typing import NamedTuple

import numpy as np
import tensorflow as tf
from tensorflow import keras

LN_EPSILON = 1e-3
FORGET_BIAS = 1.0
HYPER_NUM_UNITS = 256
HYPER_EMBEDDING_SIZE = 32
# Bookkeeping of the layer-norm LSTM's hand-written backward (see fused_sequence):
LN_GRAD_NAMES = ("ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")
#: what ``_ln_lstm_forward`` keeps per step: c_prev, x_hat, 1/std, c_hat, 1/std of c
LN_LSTM_SAVED = 5
#: what ``_ln_lstm_backward`` records per step for the gains' and biases' gradients
LN_REC_NAMES = ("gx", "g", "cx", "c")


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
        return tuple(dense(x, w) for w in self.input_weights(rows))

    def input_weights(self, rows: slice | None = None) -> tuple[tf.Tensor, ...]:
        """The matrices ``project`` multiplies its input by (one per part of the projection)."""
        return (tf.convert_to_tensor(self.W_xh if rows is None else self.W_xh[rows]),)

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

    # -- the protocol of fused_sequence (teacher-forced runs, training) ------------------------------
    # fused_sequence runs fused_forward over the steps, keeping what it returns as ``saved``; its
    # backward loop calls fused_backward latest step first, and every ``fused_chunk`` steps
    # fused_chunk_grads with the recorded tensors of those steps stacked.

    #: how many tensors ``fused_forward`` keeps per step for the backward
    fused_saved = 0
    #: the tensors ``fused_backward`` records per step for ``fused_chunk_grads``
    fused_rec_names: tuple[str, ...] = ()
    #: the entries of ``loop_params()`` whose gradients ``fused_chunk_grads`` returns
    fused_grad_names: tuple[str, ...] = ()
    #: whether ``fused_backward`` needs the step's input projection (recomputed, not kept)
    fused_needs_xproj = False
    #: steps per chunk of the backward (see ``fused_sequence``)
    fused_chunk = 25

    def fused_sums(self) -> dict[str, int]:
        """The recorded tensors that ``fused_chunk_grads`` only sums over rows, with their widths:
        those are summed step by step (``[1, width]``) instead of kept and stacked per chunk."""
        return {}

    def fused_forward(self, p, xproj, state, drop_mask):
        """``step``'s maths, op for op (the recurrent products as ``_times``), returning ``(h,
        new_state, saved)``: ``saved`` is what ``fused_backward`` needs (a tuple of ``fused_saved``
        tensors). ``p`` is ``fused_params(loop_params())``."""
        raise NotImplementedError

    def fused_backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        """Undo one step: from the gradients of the new state and of the output ``h`` (or None)
        return ``(d xproj, d state_prev, rec)``; ``rec`` maps ``fused_rec_names`` to tensors.
        ``p`` is ``fused_params(loop_params())``. ``xla``: run the elementwise maths
        XLA-compiled (see ``FUSED_XLA``); the matmuls stay outside the compiled functions."""
        raise NotImplementedError

    def fused_chunk_grads(self, p, rec, d_xp) -> dict:
        """The weights' gradients over a chunk of steps (a nest like ``fused_acc_init``'s) from the
        recorded tensors ``rec`` and the ``d xproj`` parts ``d_xp``, stacked as ``[rows, features]``."""
        raise NotImplementedError

    def fused_acc_init(self, p) -> dict:
        return {k: tf.zeros_like(p[k]) for k in self.fused_grad_names}

    def fused_params(self, p) -> dict:
        """``p`` plus the transposes the fused steps multiply by, made once per sequence: ``W_hh^T``
        (for ``_times``, and ``matmul(d, W^T)`` is about twice as fast as ``matmul(d, W,
        transpose_b=True)`` here)."""
        return {**p, "W_hh_T": tf.transpose(p["W_hh"])}


def _times(h: tf.Tensor, w_t: tf.Tensor) -> tf.Tensor:
    """``h @ W`` for a recurrent state ``h`` ``[B, n]`` from ``W^T``, as ``matmul(h, W^T,
    transpose_b=True)``. (Sessions 2-5 computed ``(W^T h^T)^T``, then 1.6x as fast on one thread;
    on session 6's AVX-512 VM the plain product is ~10% faster, a training step 5-7%.)"""
    return tf.matmul(h, w_t, transpose_b=True)


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

    fused_saved = 6
    fused_rec_names = ("h",)
    fused_grad_names = ("W_hh", "bias")

    def fused_forward(self, p, xproj, state, drop_mask):
        c, h = state
        gates = xproj[0] + _times(h, p["W_hh_T"]) + p["bias"]
        new_c, acts = _lstm_core(gates, c, drop_mask)
        new_h = tf.tanh(new_c) * acts[3]
        return new_h, (new_c, new_h), (h, c, *acts)

    def fused_backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        d_pre, dc_prev = _elementwise(_lstm_backward, xla)(saved[1:], drop_mask, d_state, d_h)
        dh_prev = tf.matmul(d_pre, p["W_hh_T"])
        return (d_pre,), (dc_prev, dh_prev), {"h": saved[0]}

    def fused_chunk_grads(self, p, rec, d_xp):
        return {"W_hh": tf.matmul(rec["h"], d_xp[0], transpose_a=True), "bias": tf.reduce_sum(d_xp[0], 0)}


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

    fused_saved = 1 + LN_LSTM_SAVED
    fused_rec_names = ("h", *LN_REC_NAMES)
    fused_grad_names = ("W_hh", *LN_GRAD_NAMES)

    def fused_forward(self, p, xproj, state, drop_mask):
        h, c = state
        new_h, new_c, saved = _ln_lstm_forward(xproj[0] + _times(h, p["W_hh_T"]), c, drop_mask, p)
        return new_h, (new_h, new_c), (h, *saved)

    def fused_backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        d_pre, dc_prev, rec = _elementwise(_ln_backward_step, xla)(
            saved[1:], drop_mask, d_state, d_h, _ln_params(p))
        dh_prev = tf.matmul(d_pre, p["W_hh_T"])
        return (d_pre,), (dh_prev, dc_prev), {**rec, "h": saved[0]}

    def fused_sums(self):
        return _ln_sum_widths(self.units)

    def fused_chunk_grads(self, p, rec, d_xp):
        return {**_ln_lstm_grads(rec), "W_hh": tf.matmul(rec["h"], d_xp[0], transpose_a=True)}


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

    def input_weights(self, rows=None):
        w = self.W_xh if rows is None else self.W_xh[rows]
        w_inner = self.hyper_cell.W_xh[: self.input_size]
        if rows is not None:
            w_inner = w_inner[rows]
        return (tf.convert_to_tensor(w), tf.convert_to_tensor(w_inner))

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
        n = self.units
        inner_hidden = tf.matmul(tf.concat([h, hyper_h], axis=-1), p["inner_w"])
        u, (new_hyper_h, new_hyper_c) = self.hyper_cell.step(
            (xproj[1],), (hyper_h, hyper_c), p=p["inner"], hidden_proj=inner_hidden
        )
        hh = tf.matmul(h, p["W_hh"])
        gates, _, _, _ = _modulated_gates(n, self.embedding, p, xproj[0], hh, u)
        gates = layer_norm_gates(gates, p["ln_all_gamma"], p["ln_all_beta"], n)
        new_c, o = _lstm_update(gates, c, n, drop_mask)
        new_h = tf.tanh(layer_norm(new_c, p["ln_c_gamma"], p["ln_c_beta"])) * tf.sigmoid(o)
        return new_h, (new_h, new_hyper_h, new_c, new_hyper_c)

    def output(self, state):
        return state[0]

    fused_saved = 6 + 2 * LN_LSTM_SAVED
    fused_rec_names = ("h", "hyper_h", "u", "zw", "zb", "d_gates", "d_alpha", "d_hh", "d_zw", "d_zb",
                       *LN_REC_NAMES, *(f"inner_{k}" for k in LN_REC_NAMES))
    fused_grad_names = ("W_hh", "bias", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta",
                        "zw_b", "alpha_w", "beta_w", "zw_flat", "zb_flat", "inner_w")
    fused_needs_xproj = True
    fused_chunk = 10  # it records about 4x what an LSTM does per step

    def fused_sums(self):
        inner = _ln_sum_widths(self.hyper_units)
        return {**_ln_sum_widths(self.units), **{f"inner_{k}": w for k, w in inner.items()}}

    def fused_forward(self, p, xproj, state, drop_mask):
        h, hyper_h, c, hyper_c = state
        inner_hidden = _times(tf.concat([h, hyper_h], axis=-1), p["inner_w_T"])
        hh = _times(h, p["W_hh_T"])
        new_h, u, new_c, new_hyper_c, saved = _hyper_forward(
            self.units, self.embedding, p, xproj, inner_hidden, hh, c, hyper_c, drop_mask)
        return new_h, (new_h, u, new_c, new_hyper_c), (h, hyper_h, *saved)

    def fused_backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        n = self.units
        d_xh, d_hh, d_inner, dc_prev, d_hyper_c_prev, rec = _hyper_backward(
            n, p, saved, drop_mask, d_state, d_h, xproj[0], xla)
        d_hcat = tf.matmul(d_inner, p["inner_w_T"])
        dh_prev = tf.matmul(d_hh, p["W_hh_T"]) + d_hcat[:, :n]
        return (d_xh, d_inner), (dh_prev, d_hcat[:, n:], dc_prev, d_hyper_c_prev), rec

    def fused_chunk_grads(self, p, rec, d_xp):
        e = self.embedding
        grads = {
            **_ln_lstm_grads(rec),
            "W_hh": tf.matmul(rec["h"], rec["d_hh"], transpose_a=True),
            "bias": tf.reduce_sum(rec["d_gates"], 0),
            "zw_b": tf.reshape(tf.reduce_sum(rec["d_zw"], 0), [8, e]),
            "alpha_w": _gate_products_w_grad(rec["zw"], rec["d_alpha"], 8),
            "beta_w": _gate_products_w_grad(rec["zb"], rec["d_gates"], 4),
            "zw_flat": tf.matmul(rec["u"], rec["d_zw"], transpose_a=True),
            "zb_flat": tf.matmul(rec["u"], rec["d_zb"], transpose_a=True),
            "inner_w": tf.matmul(tf.concat([rec["h"], rec["hyper_h"]], 1), d_xp[1], transpose_a=True),
        }
        grads["inner"] = _ln_lstm_grads({k: rec[f"inner_{k}"] for k in LN_REC_NAMES})
        return grads

    def fused_acc_init(self, p):
        inner = {k: tf.zeros_like(p["inner"][k]) for k in LN_GRAD_NAMES}
        return {**super().fused_acc_init(p), "inner": inner}

    def fused_params(self, p):
        t = tf.transpose
        return {**super().fused_params(p), "alpha_w_T": t(p["alpha_w"], [0, 2, 1]),
                "beta_w_T": t(p["beta_w"], [0, 2, 1]), "zw_flat_T": t(p["zw_flat"]),
                "zb_flat_T": t(p["zb_flat"]), "inner_w_T": t(p["inner_w"])}


def _modulated_gates(n, e, p, xh_flat, hh_flat, u):
    """HyperLSTM's gate pre-activations ``[B, 4n]`` before layer norm, ``alpha_x * W_x x + alpha_h *
    W_h h + beta + bias``, from ``xh_flat = W_x x`` and ``hh_flat = W_h h`` and the scales and biases
    projected from the hyper output ``u``; also returns ``zw`` ``[B, 8e]`` and ``zb`` ``[B, 4e]``
    (all gates side by side) and ``hh`` per gate ``[B, 4, n]``, which the fused backward keeps."""
    batch = tf.shape(u)[0]
    zw = tf.matmul(u, p["zw_flat"]) + tf.reshape(p["zw_b"], [8 * e])
    alpha = tf.reshape(_gate_products(zw, p["alpha_w"]), [batch, 8, n])
    zb = tf.matmul(u, p["zb_flat"])
    beta = tf.reshape(_gate_products(zb, p["beta_w"]), [batch, 4, n])
    xh = tf.reshape(xh_flat, [batch, 4, n])
    hh = tf.reshape(hh_flat, [batch, 4, n])
    gates = alpha[:, :4] * xh + (alpha[:, 4:] * hh + beta) + tf.reshape(p["bias"], [4, n])
    return tf.reshape(gates, [batch, 4 * n]), zw, zb, hh


def _gate_products(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """``einsum("bge,gen->bgn")`` flattened: ``x`` ``[B, g * e]`` times each gate's ``w[g]`` (``w``
    ``[g, e, n]``), ``[B, g * n]``; one matmul per gate of a column slice, the same sums as the
    einsum in less than half its time here (it transposes its operands into a batched matmul)."""
    e = w.shape[1]
    return tf.concat([tf.matmul(x[:, i * e : (i + 1) * e], w[i]) for i in range(w.shape[0])], -1)


def _gate_products_w_grad(a: tf.Tensor, b: tf.Tensor, gates: int) -> tf.Tensor:
    """The gradient of ``_gate_products``' ``w`` (``[gates, e, n]``) from its stacked inputs ``a``
    ``[rows, gates * e]`` and output gradients ``b`` ``[rows, gates * n]``: ``einsum("rge,rgn->gen")``
    as one matmul per gate of column slices, the same sums, about 6x as fast here as the einsum
    (which transposes both operands whole first)."""
    e, n = a.shape[-1] // gates, b.shape[-1] // gates
    return tf.stack([tf.matmul(a[:, g * e : (g + 1) * e], b[:, g * n : (g + 1) * n], transpose_a=True)
                     for g in range(gates)])


def _hyper_forward(n, e, p, xproj, inner_hidden, hh_flat, c, hyper_c, drop_mask):
    """``HyperLSTMCell.fused_forward`` after its two large matmuls (``inner_hidden``, ``hh_flat``):
    ``(new_h, u, new_c, new_hyper_c, saved)``. alpha is recomputed from zw in the backward (one
    small matmul per gate) rather than kept."""
    u, new_hyper_c, inner_saved = _ln_lstm_forward(xproj[1] + inner_hidden, hyper_c, None, p["inner"])
    gates, zw, zb, hh = _modulated_gates(n, e, p, xproj[0], hh_flat, u)
    new_h, new_c, saved = _ln_lstm_forward(gates, c, drop_mask, p)
    return new_h, u, new_c, new_hyper_c, (u, zw, zb, hh, *inner_saved, *saved)


def _hyper_backward(n, p, saved, drop_mask, d_state, d_h, xh_flat, xla=False):
    """The elementwise (and small-matmul) part of ``HyperLSTMCell.fused_backward``: everything but
    the products with ``W_hh^T`` and the hyper cell's ``[W_xh; W_hh]^T``. Returns ``(d xh, d hh,
    d inner pre-activations, d c_prev, d hyper_c_prev, rec)``. ``xla``: the two elementwise parts
    (the main cell's, the hyper cell's) XLA-compiled, the small matmuls between them not (XLA's
    CPU code for those is slower than TensorFlow's)."""
    h, hyper_h, u, zw, zb, hh = saved[:6]
    inner_saved, main_saved = saved[6 : 6 + LN_LSTM_SAVED], saved[6 + LN_LSTM_SAVED :]
    dh, du, dc, d_hyper_c = d_state
    if d_h is not None:
        dh = dh + d_h
    alpha = _gate_products(zw, p["alpha_w"])
    d_gates, dc_prev, rec, d_xh, d_hh, d_alpha = _elementwise(_hyper_gates_backward, xla)(
        n, _ln_params(p), main_saved, drop_mask, dh, dc, alpha, xh_flat, hh)
    # ... then through alpha = zw W_alpha, zw = u W_zw + b, beta = (u W_zb) W_beta to u ...
    d_zw = _gate_products(d_alpha, p["alpha_w_T"])
    d_zb = _gate_products(d_gates, p["beta_w_T"])
    du = du + tf.matmul(d_zw, p["zw_flat_T"]) + tf.matmul(d_zb, p["zb_flat_T"])
    # ... and through the hyper cell, whose recurrent input is [h, hyper_h].
    d_inner, d_hyper_c_prev, inner_rec = _elementwise(_ln_lstm_backward, xla)(
        du, d_hyper_c, inner_saved, None, _ln_params(p["inner"]))
    rec.update({f"inner_{k}": v for k, v in inner_rec.items()})
    rec.update(h=h, hyper_h=hyper_h, u=u, zw=zw, zb=zb, d_gates=d_gates,
               d_alpha=d_alpha, d_hh=d_hh, d_zw=d_zw, d_zb=d_zb)
    return d_xh, d_hh, d_inner, dc_prev, d_hyper_c_prev, rec


def _hyper_gates_backward(n, p, main_saved, drop_mask, dh, dc, alpha, xh_flat, hh):
    """HyperLSTM's main layer-norm LSTM back to the gates' pre-activations ``alpha_x xh + alpha_h
    hh + beta + b``, and on to ``xh``, ``hh`` and ``alpha`` (``[B, 8n]``): ``(d gates, d c_prev,
    rec, d xh, d hh, d alpha)``."""
    batch = tf.shape(dh)[0]
    d_gates, dc_prev, rec = _ln_lstm_backward(dh, dc, main_saved, drop_mask, p)
    dg = tf.reshape(d_gates, [batch, 4, n])
    alpha = tf.reshape(alpha, [batch, 8, n])
    xh = tf.reshape(xh_flat, [batch, 4, n])
    d_xh = tf.reshape(dg * alpha[:, :4], [batch, 4 * n])
    d_hh = tf.reshape(dg * alpha[:, 4:], [batch, 4 * n])
    d_alpha = tf.reshape(tf.concat([dg * xh, dg * hh], axis=1), [batch, 8 * n])
    return d_gates, dc_prev, rec, d_xh, d_hh, d_alpha


# -- fused sequences: the recurrence with a hand-written backward pass --------------------------------
#
# ``fused_sequence`` runs a cell over a whole sequence inside one ``tf.custom_gradient``. Its forward
# loop computes ``step``'s maths op for op (so values do not change) and keeps, per step, only what
# the backward needs; the backward is a second loop over the cells' ``fused_backward``, each undoing
# one step by hand. Compared with differentiating the ``tf.while_loop`` automatically this keeps a
# fraction of the activations, leaves the weights' gradients (``sum_t h_{t-1}^T d pre_t``) to a few
# large matmuls per chunk of steps instead of a small matmul and an add per step, skips finished
# sequences, and drops the generic loop gradient's bookkeeping ops.


def _ln_forward(x, gamma, beta, blocks):
    """``layer_norm`` (``blocks`` 1) or ``layer_norm_gates`` (``blocks`` 4), op for op, also returning
    the normalised ``x_hat`` and ``1 / std`` (``[..., blocks, 1]``) that the backward needs."""
    if blocks == 1:
        mean = tf.reduce_mean(x, -1, keepdims=True)
        shifted = x - mean
        var = tf.reduce_mean(tf.square(shifted), -1, keepdims=True)
        rstd = tf.math.rsqrt(var + LN_EPSILON)
        x_hat = shifted * rstd
        return gamma * x_hat + beta, x_hat, rstd
    shape = tf.shape(x)
    xb = tf.reshape(x, tf.concat([shape[:-1], [blocks, -1]], 0))
    mean = tf.reduce_mean(xb, -1, keepdims=True)
    var = tf.reduce_mean(tf.square(xb - mean), -1, keepdims=True)
    rstd = tf.math.rsqrt(var + LN_EPSILON)
    x_hat = tf.reshape((xb - mean) * rstd, shape)
    return gamma * x_hat + beta, x_hat, rstd


def _ln_backward(dy, x_hat, rstd, gamma, blocks):
    """Gradient of ``gamma * x_hat + beta`` w.r.t. the layer norm's input, per block:
    ``rstd * (g - mean(g) - x_hat * mean(g * x_hat))`` with ``g = dy * gamma``."""
    g = dy * gamma
    if blocks == 1:
        return rstd * (g - tf.reduce_mean(g, -1, keepdims=True)
                       - x_hat * tf.reduce_mean(g * x_hat, -1, keepdims=True))
    shape = tf.shape(g)
    block_shape = tf.concat([shape[:-1], [blocks, -1]], 0)
    gb, xb = tf.reshape(g, block_shape), tf.reshape(x_hat, block_shape)
    db = rstd * (gb - tf.reduce_mean(gb, -1, keepdims=True)
                 - xb * tf.reduce_mean(gb * xb, -1, keepdims=True))
    return tf.reshape(db, shape)


def _lstm_acts(gates):
    """``(sigma(i), tanh(j), sigma(f + 1), sigma(o))`` of the gate pre-activations (i, j, f, o)."""
    i, j, f, o = tf.split(gates, 4, axis=-1)
    return tf.sigmoid(i), tf.tanh(j), tf.sigmoid(f + FORGET_BIAS), tf.sigmoid(o)


def _lstm_core(gates, c, drop_mask):
    """``_lstm_update``, op for op, returning ``(new_c, activations)``."""
    si, g, sf, so = _lstm_acts(gates)
    gd = g if drop_mask is None else g * drop_mask
    return c * sf + si * gd, (si, g, sf, so)


def _lstm_core_backward(dc, dso, c, acts, drop_mask):
    """Backward of ``_lstm_core`` given the whole gradient of ``new_c`` (``dc``) and that of
    ``sigma(o)`` (``dso``). Returns ``(d c_prev, d gates [B, 4n])``."""
    si, g, sf, so = acts
    gd = g if drop_mask is None else g * drop_mask
    dg = dc * si if drop_mask is None else dc * si * drop_mask
    d_gates = tf.concat([
        dc * gd * si * (1.0 - si),
        dg * (1.0 - tf.square(g)),
        dc * c * sf * (1.0 - sf),
        dso * so * (1.0 - so),
    ], axis=-1)
    return dc * sf, d_gates


def _ln_lstm_forward(pre, c, drop_mask, p):
    """The layer-norm LSTM from its pre-activations ``pre`` (``LayerNormLSTMCell.step``'s maths).
    Returns ``(new_h, new_c, saved)``. The gate activations are not kept: the backward recomputes
    them from ``x_hat`` (a few elementwise ops, and half the memory)."""
    gates, x_hat, rstd = _ln_forward(pre, p["ln_all_gamma"], p["ln_all_beta"], 4)
    new_c, acts = _lstm_core(gates, c, drop_mask)
    cn, c_hat, c_rstd = _ln_forward(new_c, p["ln_c_gamma"], p["ln_c_beta"], 1)
    return tf.tanh(cn) * acts[3], new_c, (c, x_hat, rstd, c_hat, c_rstd)


def _ln_lstm_backward(dh, dc, saved, drop_mask, p):
    """Backward of ``_ln_lstm_forward``: ``(d pre, d c_prev, rec)``, ``rec`` the per-step terms of
    the gains' and biases' gradients (``LN_REC_NAMES``, summed by ``_ln_lstm_grads``)."""
    c, x_hat, rstd, c_hat, c_rstd = saved
    si, g, sf, so = _lstm_acts(p["ln_all_gamma"] * x_hat + p["ln_all_beta"])
    tc = tf.tanh(p["ln_c_gamma"] * c_hat + p["ln_c_beta"])
    dcn = dh * so * (1.0 - tf.square(tc))
    dc = dc + _ln_backward(dcn, c_hat, c_rstd, p["ln_c_gamma"], 1)
    dc_prev, d_gates = _lstm_core_backward(dc, dh * tc, c, (si, g, sf, so), drop_mask)
    d_pre = _ln_backward(d_gates, x_hat, rstd, p["ln_all_gamma"], 4)
    return d_pre, dc_prev, {"gx": d_gates * x_hat, "g": d_gates, "cx": dcn * c_hat, "c": dcn}


def _lstm_backward(saved, drop_mask, d_state, d_h):
    """The elementwise part of ``LSTMCell.fused_backward``: ``(d pre, d c_prev)``. ``tanh(new_c)``
    is recomputed (a few elementwise ops here) rather than kept: 1/7 less memory per step."""
    c, si, g, sf, so = saved
    dc, dh = d_state
    if d_h is not None:
        dh = dh + d_h
    gd = g if drop_mask is None else g * drop_mask
    tc = tf.tanh(c * sf + si * gd)
    dc = dc + dh * so * (1.0 - tf.square(tc))
    dc_prev, d_pre = _lstm_core_backward(dc, dh * tc, c, (si, g, sf, so), drop_mask)
    return d_pre, dc_prev


def _ln_backward_step(saved, drop_mask, d_state, d_h, p):
    """The elementwise part of ``LayerNormLSTMCell.fused_backward``: ``(d pre, d c_prev, rec)``."""
    dh, dc = d_state
    if d_h is not None:
        dh = dh + d_h
    return _ln_lstm_backward(dh, dc, saved, drop_mask, p)


def _ln_params(p: dict) -> dict:
    return {k: p[k] for k in LN_GRAD_NAMES}


#: XLA-compile the elementwise maths of the backward steps of full-batch sequences (the decoder;
#: the encoder's steps change their row count, and each count would compile anew). TensorFlow runs
#: those dozens of small ops one kernel at a time, each a pass over memory; fused, a backward step's
#: elementwise work takes less time on this CPU (with one intra-op thread, see configure_cpu_threads,
#: a default training step ~7% less with layer norm, ~3% LSTM, ~6% HyperLSTM; and less memory).
#: The matmuls stay outside, in TensorFlow's faster kernels: HyperLSTM's small per-gate ones too,
#: between its two compiled parts (compiled with them, its step was ~5% slower than uncompiled).
#: The values agree with the unfused ops to float32 rounding. (The forward steps measured slower
#: compiled, hyper's included: they are mostly their matmuls.)
FUSED_XLA = True
_XLA_FNS: dict = {}


def _elementwise(fn, xla: bool):
    """``fn``, or its XLA-compiled form (made once per function)."""
    if not xla:
        return fn
    if fn not in _XLA_FNS:
        _XLA_FNS[fn] = tf.function(fn, jit_compile=True)
    return _XLA_FNS[fn]


def _ln_sum_widths(units: int) -> dict[str, int]:
    """Widths of ``_ln_lstm_backward``'s records (all only summed, by ``_ln_lstm_grads``)."""
    return dict(zip(LN_REC_NAMES, (4 * units, 4 * units, units, units), strict=True))


def _ln_lstm_grads(rec: dict) -> dict:
    """The layer norms' gains and biases' gradients from ``_ln_lstm_backward``'s records (each
    ``[rows, width]``; ``fused_sequence`` passes them already summed per chunk, ``[1, width]``)."""
    return {"ln_all_gamma": tf.reduce_sum(rec["gx"], 0), "ln_all_beta": tf.reduce_sum(rec["g"], 0),
            "ln_c_gamma": tf.reduce_sum(rec["cx"], 0), "ln_c_beta": tf.reduce_sum(rec["c"], 0)}


class KeptMask(NamedTuple):
    """Recurrent-dropout masks kept as booleans ``kept`` (``[T, B, units]``, a quarter of the memory
    of float32 masks: ~25M numbers per default training step); a step's mask values, made when the
    step runs, are ``tf.nn.dropout``'s: ``1 / keep_prob`` where kept, else 0."""

    kept: tf.Tensor
    keep_prob: float

    def values(self, kept: tf.Tensor) -> tf.Tensor:
        scale = np.float32(1.0) / np.float32(self.keep_prob)  # (float32, as tf.nn.dropout's)
        return tf.where(kept, scale, np.float32(0.0))


#: Independent lanes the batch is split into (CPU). Two half-batch chains of small ops, which TF
#: runs side by side on two cores, cost less CPU time than one full-batch chain whose every small
#: op is split across the cores (and then waits for the slower half); on this 2-core machine about
#: 25% less for the same work. (A GPU wants one lane.)
CPU_LANES = 2


def default_lanes() -> int:
    return 1 if tf.config.list_logical_devices("GPU") else CPU_LANES


def lane_permutation(order: tf.Tensor, lanes: int | None = None) -> tf.Tensor:
    """Rows ``order`` (e.g. sketches longest first) dealt round-robin into ``fused_sequence``'s
    lanes: each lane keeps the order and gets an even share (``order[i::lanes]`` for lane i)."""
    lanes = default_lanes() if lanes is None else lanes
    return tf.concat([order[i::lanes] for i in range(lanes)], 0)


def fused_sequence(cell: _Cell, inputs, state, drop_masks=None, *, lengths=None, collect=False,
                   const=None, rows=None, input_grad=False, lanes=None, p=None):
    """Run ``cell`` over a whole time-major sequence, with a hand-written backward pass.

    The values are those of ``recurrence`` with ``cell.project`` and ``cell.step``; see the note
    above ``_ln_forward``. The input projection is made inside the loop, one step at a time, and its
    weights' gradient accumulated per chunk, so that neither the projection nor its gradient
    (``[T, B, 4 units]`` each) is ever held whole. The backward runs in chunks of
    ``cell.fused_chunk`` steps: the weights' gradients are then a few matmuls over the chunk's
    (up to chunk x batch) rows, rather than a small matmul plus an add of the whole gradient at
    every step (several times slower here), while the chunk's records stay small.

    Args:
        inputs: ``[T, B, in]`` time-major inputs (rows ``rows`` of the cell's input).
        state: the initial state as a tuple (``cell.split_state``).
        drop_masks: ``[T, B, units]`` recurrent-dropout masks (a fresh one per step) as values or
            as a :class:`KeptMask`, or None.
        lengths: ``[B]`` int32 sequence lengths, or None (every row runs all T steps). A row's state
            stops changing after its length (dynamic_rnn semantics), and only running rows are
            computed: on the encoder's data (mean length about half the longest) that halves its
            work. **Each lane's lengths must be in decreasing order** (the running rows of a lane are
            then its first ``k_t`` rows).
        collect: also return the outputs ``h`` of every step (not with ``lengths``); ``"lanes"``:
            as one ``[T, rows, units]`` tensor per lane (lane i holds rows ``[b_i, b_i + rows)``
            of the batch), so that the caller's next ops (e.g. an output layer) can run per lane,
            side by side, without a concatenation first.
        const: a tuple like ``cell.project``'s of ``[B, ...]`` terms added to the projection at
            every step (the decoder's ``z`` part, projected once), or None.
        rows: the slice of the cell's input rows that ``inputs`` holds (as in ``cell.project``).
        input_grad: compute the gradient of ``inputs`` too (else None: data, not a variable).
        lanes: split the batch into this many contiguous, independent lanes (see ``CPU_LANES``);
            default ``default_lanes()``.
        p: ``cell.loop_params()`` if already read.
    Returns:
        ``(outputs [T, B, units], a tuple of them per lane, or None; final state tuple)``.
    """
    if lengths is not None and (collect or input_grad or const):
        raise ValueError("fused_sequence: lengths cannot be combined with collect, const or input_grad")
    p = cell.loop_params() if p is None else p
    w_in = cell.input_weights(rows)
    const = () if const is None else tuple(const)
    n_s, n_w, n_c = len(state), len(w_in), len(const)
    ragged = lengths is not None
    n_lanes = default_lanes() if lanes is None else int(lanes)
    lanes = range(n_lanes)

    @tf.custom_gradient
    def run(x, *args):
        s0, ws = tuple(args[:n_s]), args[n_s : n_s + n_w]
        cs = args[n_s + n_w : n_s + n_w + n_c]
        pp = tf.nest.pack_sequence_as(p, list(args[n_s + n_w + n_c :]))
        pb = cell.fused_params(pp)
        steps = tf.shape(x)[0]
        batch = tf.shape(x)[1]
        # Lane i holds rows [bound[i], bound[i + 1]) of the batch, as many as order[i::n_lanes] has
        # (see lane_permutation); the k running rows of a lane at a step are its first k.
        bound = [0]
        for i in lanes:
            bound.append(bound[-1] + (batch - i + n_lanes - 1) // n_lanes)
        x_lane = [x[:, bound[i] : bound[i + 1]] for i in lanes]
        xla = FUSED_XLA and not ragged
        len_lane = [lengths[bound[i] : bound[i + 1]] for i in lanes] if ragged else None
        saved_shapes = []

        def running(t, i):
            return tf.reduce_sum(tf.cast(len_lane[i] > t, tf.int32)) if ragged else None

        def rows_of(a, i, k):
            # Lane i's (first k) rows of a batch-major tensor.
            return a[bound[i] : bound[i + 1] if k is None else bound[i] + k]

        def head(a, k):
            return a if k is None else a[:k]

        def step_mask(t, i, k):
            if drop_masks is None:
                return None
            if isinstance(drop_masks, KeptMask):
                return drop_masks.values(rows_of(drop_masks.kept[t], i, k))
            return rows_of(drop_masks[t], i, k)

        def project(x_t, i, k):
            xp = tuple(tf.matmul(x_t, w) for w in ws)
            return tuple(a + rows_of(c, i, k) for a, c in zip(xp, cs, strict=True)) if cs else xp

        def forward(t, states, saved_tas, out_tas):
            new_states, new_saved, new_out = [], [], []
            for i in lanes:
                k, s = running(t, i), states[i]
                m = step_mask(t, i, k)
                h, new, saved = cell.fused_forward(pb, project(head(x_lane[i][t], k), i, k),
                                                   tuple(head(a, k) for a in s), m)
                if ragged:
                    new = tuple(_rejoin(a, b, k) for a, b in zip(new, s, strict=True))
                # (the row count varies with lengths; eager mode sees each step's own)
                saved_shapes[:] = [tf.TensorShape([None]).concatenate(v.shape[1:]) for v in saved]
                new_states.append(new)
                new_saved.append(tuple(ta.write(t, v) for ta, v in zip(saved_tas[i], saved, strict=True)))
                new_out.append(out_tas[i].write(t, h) if collect else out_tas[i])
            return t + 1, tuple(new_states), tuple(new_saved), tuple(new_out)

        # With lengths the per-step tensors have k_t rows: the arrays' element shapes vary.
        saved_tas = tuple(tuple(tf.TensorArray(tf.float32, size=steps, infer_shape=not ragged)
                                for _ in range(cell.fused_saved)) for _ in lanes)
        out_tas = tuple(tf.TensorArray(tf.float32, size=steps) if collect else tf.constant(0) for _ in lanes)
        states = tuple(tuple(_any_rows(rows_of(a, i, None)) for a in s0) for i in lanes)
        _, final, saved_tas, out_tas = tf.while_loop(
            lambda t, *_: t < steps, forward, (tf.constant(0), states, saved_tas, out_tas),
            maximum_iterations=steps)
        outputs = [ta.stack() for ta in out_tas] if collect else []
        outputs += [tf.concat([f[j] for f in final], 0) for j in range(n_s)]

        def grad(*dys):
            dys = list(dys)
            d_out = [_dense_grad(dys.pop(0), o) for o in outputs[:n_lanes]] if collect else None
            d_full = [_dense_grad(d, o) for d, o in zip(dys, outputs[-n_s:], strict=True)]
            d_final = tuple(tuple(_any_rows(rows_of(d, i, None)) for d in d_full) for i in lanes)
            chunk_len = cell.fused_chunk
            n_chunks = (steps + chunk_len - 1) // chunk_len
            rec_shapes = {}
            sum_widths = cell.fused_sums()

            def chunk(j, ds, acc, d_ws, d_cs, dx_ta):
                # Steps [lo, hi) backwards; the weights' gradients of the chunk are then a few large
                # matmuls over its stacked rows.
                hi = steps - j * chunk_len
                lo = tf.maximum(hi - chunk_len, 0)

                def step(t, ds, rec_tas, sums):
                    new_ds, new_rec, new_sums = [], [], []
                    for i in lanes:
                        k = running(t, i)
                        saved = tuple(_read(ta, t, shape)
                                      for ta, shape in zip(saved_tas[i], saved_shapes, strict=True))
                        m = step_mask(t, i, k)
                        x_t = head(x_lane[i][t], k)
                        xp = project(x_t, i, k) if cell.fused_needs_xproj else None
                        d_h = None if d_out is None else d_out[i][t]
                        d_xp, d_prev, rec = cell.fused_backward(
                            pb, saved, m, tuple(head(d, k) for d in ds[i]), d_h, xp, xla=xla)
                        if ragged:  # finished rows pass their gradient through unchanged
                            d_prev = tuple(_rejoin(a, b, k) for a, b in zip(d_prev, ds[i], strict=True))
                        rec = {**rec, "x": x_t, **{f"d_xp{n}": d for n, d in enumerate(d_xp)}}
                        rec_shapes.update({key: v.shape for key, v in rec.items()})
                        new_ds.append(d_prev)
                        new_rec.append({key: ta.write(t - lo, rec[key]) for key, ta in rec_tas[i].items()})
                        new_sums.append({key: a + tf.reduce_sum(rec[key], 0, keepdims=True)
                                         for key, a in sums[i].items()})
                    return t - 1, tuple(new_ds), tuple(new_rec), tuple(new_sums)

                names = (*cell.fused_rec_names, "x", *(f"d_xp{n}" for n in range(n_w)))
                rec_tas = tuple({key: tf.TensorArray(tf.float32, size=hi - lo, infer_shape=not ragged)
                                 for key in names if key not in sum_widths} for _ in lanes)
                sums = tuple({key: tf.zeros([1, w]) for key, w in sum_widths.items()} for _ in lanes)
                _, ds, rec_tas, sums = tf.while_loop(lambda t, *_: t >= lo, step, (hi - 1, ds, rec_tas, sums),
                                                     maximum_iterations=hi - lo)
                d_cs, d_x = list(d_cs), []
                for i in lanes:
                    # Each recorded tensor as [rows, features], rows in (step, lane row) order.
                    if ragged:
                        stacked = {key: _with_shape(ta.concat(), [None, rec_shapes[key][-1]])
                                   for key, ta in rec_tas[i].items()}
                    else:
                        stacked = {key: tf.reshape(ta.stack(), [-1, rec_shapes[key][-1]])
                                   for key, ta in rec_tas[i].items()}
                    stacked.update(sums[i])
                    d_xp = tuple(stacked[f"d_xp{n}"] for n in range(n_w))
                    acc = tf.nest.map_structure(tf.add, acc, cell.fused_chunk_grads(pb, stacked, d_xp))
                    d_ws = tuple(a + tf.matmul(stacked["x"], d, transpose_a=True)
                                 for a, d in zip(d_ws, d_xp, strict=True))
                    lane_rows = bound[i + 1] - bound[i]
                    d_cs[i] = tuple(a + tf.reduce_sum(tf.reshape(d, [hi - lo, lane_rows, -1]), 0)
                                    for a, d in zip(d_cs[i], d_xp, strict=False))  # (none with lengths)
                    if input_grad:
                        dx = tf.add_n([tf.matmul(d, w, transpose_b=True)
                                       for d, w in zip(d_xp, ws, strict=True)])
                        d_x.append(tf.reshape(dx, [hi - lo, lane_rows, -1]))
                if input_grad:  # chunks come latest first: index them in time order for concat()
                    dx_ta = dx_ta.write(n_chunks - 1 - j, tf.concat(d_x, 1))
                return j + 1, ds, acc, d_ws, tuple(d_cs), dx_ta

            init = (tf.constant(0), d_final, cell.fused_acc_init(pp), tuple(tf.zeros_like(w) for w in ws),
                    tuple(tuple(tf.zeros_like(rows_of(c, i, None)) for c in cs) for i in lanes),
                    tf.TensorArray(tf.float32, size=n_chunks, infer_shape=False) if input_grad
                    else tf.constant(0))
            _, d_s0, acc, d_ws, d_cs, dx_ta = tf.while_loop(
                lambda j, *_: j < n_chunks, chunk, init, maximum_iterations=n_chunks)
            d_x = dx_ta.concat() if input_grad else None
            d_s0 = [tf.concat([d[n] for d in d_s0], 0) for n in range(n_s)]
            d_cs = [tf.concat([d[n] for d in d_cs], 0) for n in range(n_c)]
            return [d_x, *d_s0, *d_ws, *d_cs, *tf.nest.flatten(_fill(p, acc))]

        return outputs, grad

    results = run(inputs, *state, *w_in, *const, *tf.nest.flatten(p))
    if not collect:
        return None, tuple(results)
    outputs = tuple(results[:n_lanes])
    return (outputs if collect == "lanes" else tf.concat(outputs, 1)), tuple(results[n_lanes:])


def _dense_grad(d, like: tf.Tensor) -> tf.Tensor:
    """An incoming gradient as a dense tensor (None: zeros like ``like``; IndexedSlices: dense)."""
    return tf.zeros_like(like) if d is None else tf.convert_to_tensor(d)


def _read(ta: tf.TensorArray, t, shape: tf.TensorShape) -> tf.Tensor:
    """``ta.read(t)`` with the static shape the forward wrote (arrays of varying element shapes
    lose it, and a matmul of unknown rank becomes a slower batched matmul)."""
    v = ta.read(t)
    v.set_shape(shape)
    return v


def _any_rows(v: tf.Tensor) -> tf.Tensor:
    """``v`` with its static row count forgotten: a lane's slice of a batch of known size can have
    a static row count that the loop body's tensors (sliced with run-time bounds) do not."""
    return tf.raw_ops.PlaceholderWithDefault(input=v, shape=tf.TensorShape([None]).concatenate(v.shape[1:]))


def _with_shape(v: tf.Tensor, shape) -> tf.Tensor:
    v.set_shape(shape)
    return v


def _rejoin(head, full, k):
    """``full`` with its first ``k`` rows replaced by ``head`` (static shape kept for the loop)."""
    out = tf.concat([head, full[k:]], 0)
    out.set_shape(full.shape)
    return out


def _fill(struct, grads):
    """``struct``'s nest of dicts with the gradients in ``grads`` (None where absent)."""
    if isinstance(struct, dict):
        grads = grads or {}
        return {k: _fill(v, grads.get(k)) for k, v in struct.items()}
    return grads


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

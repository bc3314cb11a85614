"""The hand-fused recurrences: a whole teacher-forced sequence in one ``tf.custom_gradient`` (TensorFlow).

:func:`fused_sequence` runs a cell over a whole sequence. Its forward loop computes the cell's
reference step (:mod:`sketch_rnn.cells`) op for op and keeps, per step, only what the backward needs;
the backward is a second loop that undoes one step at a time by hand. Compared with differentiating
the reference loop automatically this keeps a fraction of the activations, leaves the weights'
gradients (``sum_t h_{t-1}^T d pre_t``) to a few large matmuls per chunk of steps instead of a small
matmul and an add per step, skips finished sequences (the encoder's), drops the generic loop
gradient's bookkeeping ops, splits the batch into independent lanes that run side by side on a CPU's
cores, and XLA-compiles the backward's elementwise maths.

Each cell type has a kernel (:class:`LSTMKernel`, :class:`LayerNormKernel`, :class:`HyperKernel`)
that reads the cell's own weights and implements the per-step forward and backward;
:func:`encoder_outputs` and :func:`decoder_outputs` are the model's two teacher-forced sequences,
with the same arguments and results as the model's own ``_encoder_outputs`` and
``_decoder_outputs``. ``tests/test_fast.py`` proves them equal (values and gradients, every
dropout on). The drawings they read are data: no gradient flows back to them (the decoder's input
with input dropout on excepted), where the reference loops give one.

Example:
    >>> import numpy as np
    >>> from sketch_rnn.config import ModelConfig
    >>> from sketch_rnn.model import SketchRNN
    >>> from sketch_rnn.runtime import RuntimeOptions
    >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    >>> x = np.zeros([2, 6, 5], np.float32); x[:, 0, 2] = 1; x[:, 1:, 4] = 1
    >>> eps = np.zeros([2, 4], np.float32)
    >>> fast = model(x, np.array([0, 0]), eps=eps, runtime=RuntimeOptions(recurrence="fused"))
    >>> plain = model(x, np.array([0, 0]), eps=eps, runtime=RuntimeOptions(recurrence="reference"))
    >>> bool(np.allclose(fast["raw"], plain["raw"], atol=1e-6))
    True
"""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from sketch_rnn.cells import FORGET_BIAS, LN_EPSILON, HyperLSTMCell, LayerNormLSTMCell, LSTMCell
from sketch_rnn.noise import DropoutMask

# Bookkeeping of the layer-norm LSTM's hand-written backward (see fused_sequence):
LN_GRAD_NAMES = ("ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")
#: what ``_ln_lstm_forward`` keeps per step: c_prev, x_hat, 1/std, c_hat, 1/std of c
LN_LSTM_SAVED = 5
#: what ``_ln_lstm_backward`` records per step for the gains' and biases' gradients
LN_REC_NAMES = ("gx", "g", "cx", "c")

#: Independent lanes the batch is split into on a CPU: two half-batch chains of small ops, which TF
#: runs side by side on two cores, cost less CPU time than one full-batch chain whose every small
#: op is split across the cores (and then waits for the slower half); on this project's 2-core
#: machine about 25% less for the same work. (A GPU wants one lane.)
CPU_LANES = 2


def default_lanes() -> int:
    """Lanes when ``RuntimeOptions.lanes`` is None: one on a GPU, else ``CPU_LANES``."""
    return 1 if tf.config.list_logical_devices("GPU") else CPU_LANES


def configure_cpu_threads() -> int | None:
    """Run each TensorFlow op on a single thread when the fused recurrences' lanes already fill
    every core (CPU only, cores <= ``CPU_LANES``); call it first thing in a training script,
    before TensorFlow runs anything. Returns the intra-op thread count it set, or None where it left
    TensorFlow's default (a GPU, more cores than lanes, ``TF_NUM_INTRAOP_THREADS`` set, or too late).

    Why: the lanes are independent chains of ops that TF's executor runs side by side, one per
    core. With the default thread pool every matmul of a lane is also split across the cores, so
    the two lanes' halves queue behind each other; one thread per op keeps each lane on its own
    core. On this project's 2-core machine a default lstm training step is about 15% faster (see
    ``bench/RESULTS.md``). The CLIs that train (``sketch_rnn_train``, ``sketch_rnn_quickstart``)
    call it; so does ``bench/``.

    Example:
        >>> from sketch_rnn.fast import configure_cpu_threads
        >>> configure_cpu_threads()  # doctest: +SKIP
        1
    """
    if os.environ.get("TF_NUM_INTRAOP_THREADS") or tf.config.list_physical_devices("GPU"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores > CPU_LANES:
        return None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran something: its pools are fixed
        logging.getLogger("sketch_rnn").info(
            "configure_cpu_threads: TensorFlow is already initialised; threads left as they are")
        return None
    return 1


# -- the model's two teacher-forced sequences ---------------------------------------------------------


def encoder_outputs(model, targets, seq_len, masks, runtime):
    """``[h_fw, h_bw]`` of the encoder over ``targets [B, T, 5]`` (the model's ``_encoder_outputs``).

    Only the running drawings of a step are computed: the rows are sorted longest first (within
    each lane) so that they are a step's leading rows, and the outputs put back in batch order. The
    loops stop at the batch's longest drawing. The two directions are already two independent
    chains of ops, which TensorFlow runs side by side; cutting each into lanes too (four chains on
    two cores) made a training step's encoder 10-20% slower, so each direction gets half the lanes.
    """
    lanes = max(1, _lanes(runtime) // 2)
    seq_len = tf.cast(seq_len, tf.int32)
    steps = tf.reduce_max(seq_len)
    targets = targets[:, :steps]
    order = lane_permutation(tf.argsort(seq_len, direction="DESCENDING", stable=True), lanes)
    targets, seq_len = tf.gather(targets, order), tf.gather(seq_len, order)
    backward = tf.reverse_sequence(targets, seq_len, seq_axis=1, batch_axis=0)
    batch = tf.shape(targets)[0]
    last_h = []
    for cell, rows, mask in ((model.enc_fw, targets, masks[0]), (model.enc_bw, backward, masks[1])):
        if mask is not None:
            # Drawn in batch order over the padded length, then cut and sorted with the rows: a
            # drawing's masks do not depend on the sort or the lanes (and are the reference's).
            mask = mask._replace(kept=tf.gather(mask.kept[:steps], order, axis=1))
        _, final = fused_sequence(cell, time_major(rows), cell.zero_state(batch), mask, lengths=seq_len,
                                  lanes=lanes, xla=runtime.fused_xla)
        last_h.append(cell.output(final))
    return tf.gather(tf.concat(last_h, axis=-1), tf.math.invert_permutation(order))


def decoder_outputs(model, inputs, z, state, masks, runtime):
    """``(raw [B, T, 3+6M], final flat state)`` of the decoder over ``inputs [B, T, 5]`` (the model's
    ``_decoder_outputs``). ``masks``: the recurrent, input and output dropout masks (or None)."""
    cell = model.decoder
    recurrent, input_mask, output_mask = masks
    lanes = _lanes(runtime)
    inputs = time_major(tf.convert_to_tensor(inputs, tf.float32))
    state = cell.split_state(state)
    # The output layer runs per lane unless output dropout (one mask over the batch) is on.
    collect = True if output_mask is not None else "lanes"
    if input_mask is not None:
        full = inputs
        if z is not None:
            full = tf.concat([inputs, tf.tile(tf.convert_to_tensor(z, tf.float32)[None],
                                              [tf.shape(inputs)[0], 1, 1])], axis=-1)
        full = full * input_mask.values()
        outputs, final = fused_sequence(cell, full, state, recurrent, collect=collect, input_grad=True,
                                        lanes=lanes, xla=runtime.fused_xla)
    else:
        # z's share of the projection is the same at every step: made once.
        outputs, final = fused_sequence(cell, inputs, state, recurrent, collect=collect,
                                        const=model.decoder_context(z), rows=slice(0, 5), lanes=lanes,
                                        xla=runtime.fused_xla)
    if isinstance(outputs, tuple):
        # One [T, rows, units] tensor per lane, in batch order: two matmuls that run side by side,
        # and only the narrow outputs are joined.
        raw = tf.concat([time_major(model.output_layer(o)) for o in outputs], 0)
    else:
        if output_mask is not None:
            outputs = outputs * output_mask.values()
        # Transposing the 3+6M outputs is cheaper than transposing the hidden states.
        raw = time_major(model.output_layer(outputs))
    return raw, cell.flat_state(final)


def _lanes(runtime) -> int:
    return default_lanes() if runtime.lanes is None else int(runtime.lanes)


def time_major(x):
    """``[B, T, ...]`` <-> ``[T, B, ...]``."""
    return tf.experimental.numpy.swapaxes(x, 0, 1)


# -- the kernels: each cell type's step, forward and backward by hand ------------------------------


class Kernel:
    """What :func:`fused_sequence` needs of a cell type.

    The forward loop calls ``forward`` step by step, keeping what it returns as ``saved``; the
    backward loop calls ``backward`` latest step first, and every ``chunk`` steps ``chunk_grads``
    with the recorded tensors of those steps stacked.
    """

    #: how many tensors ``forward`` keeps per step for the backward
    saved = 0
    #: the tensors ``backward`` records per step for ``chunk_grads``
    rec_names: tuple[str, ...] = ()
    #: the entries of ``params()`` whose gradients ``chunk_grads`` returns
    grad_names: tuple[str, ...] = ()
    #: whether ``backward`` needs the step's input projection (recomputed, not kept)
    needs_xproj = False
    #: steps per chunk of the backward (see ``fused_sequence``)
    chunk = 25

    def __init__(self, cell):
        self.cell = cell
        self.units = cell.units

    def params(self) -> dict:
        """The weights the steps need, read once as tensors.

        Read outside the loops and passed in: a variable read inside a ``tf.while_loop`` body would
        be saved at every iteration for the backward pass (a copy of ``W_hh`` per time step).
        """
        return {"W_hh": tf.convert_to_tensor(self.cell.W_hh)}

    def input_weights(self, rows: slice | None = None) -> tuple:
        """The matrices the step's input is projected with (one per part of ``cell.project``)."""
        w = tf.convert_to_tensor(self.cell.W_xh)
        return (w if rows is None else w[rows],)

    def prepare(self, p: dict) -> dict:
        """``p`` plus the transposes the steps multiply by, made once per sequence: ``W_hh^T``
        (for ``_times``, and ``matmul(d, W^T)`` is about twice as fast as ``matmul(d, W,
        transpose_b=True)`` here)."""
        return {**p, "W_hh_T": tf.transpose(p["W_hh"])}

    def sums(self) -> dict[str, int]:
        """The recorded tensors that ``chunk_grads`` only sums over rows, with their widths: those
        are summed step by step (``[1, width]``) instead of kept and stacked per chunk."""
        return {}

    def acc_init(self, p) -> dict:
        return {k: tf.zeros_like(p[k]) for k in self.grad_names}

    def forward(self, p, xproj, state, drop_mask):
        """The cell's ``step``, op for op (the recurrent products as ``_times``), returning ``(h,
        new_state, saved)``: ``saved`` is what ``backward`` needs. ``p`` is ``prepare(params())``."""
        raise NotImplementedError

    def backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        """Undo one step: from the gradients of the new state and of the output ``h`` (or None)
        return ``(d xproj, d state_prev, rec)``; ``rec`` maps ``rec_names`` to tensors. ``xla``:
        run the elementwise maths XLA-compiled (see ``_elementwise``); the matmuls stay outside."""
        raise NotImplementedError

    def chunk_grads(self, p, rec, d_xp) -> dict:
        """The weights' gradients over a chunk of steps (a nest like ``acc_init``'s) from the
        recorded tensors ``rec`` and the ``d xproj`` parts ``d_xp``, stacked as ``[rows, features]``."""
        raise NotImplementedError


def _times(h: tf.Tensor, w_t: tf.Tensor) -> tf.Tensor:
    """``h @ W`` for a recurrent state ``h`` ``[B, n]`` from ``W^T``, as ``matmul(h, W^T,
    transpose_b=True)`` (on an AVX-512 VM about 10% faster than ``(W^T h^T)^T``, a training step
    5-7%)."""
    return tf.matmul(h, w_t, transpose_b=True)


class LSTMKernel(Kernel):
    """:class:`~sketch_rnn.cells.LSTMCell`, state ``(c, h)``."""

    saved = 6
    rec_names = ("h",)
    grad_names = ("W_hh", "bias")

    def params(self):
        return {"W_hh": tf.convert_to_tensor(self.cell.W_hh), "bias": tf.convert_to_tensor(self.cell.bias)}

    def forward(self, p, xproj, state, drop_mask):
        c, h = state
        gates = xproj[0] + _times(h, p["W_hh_T"]) + p["bias"]
        new_c, acts = _lstm_core(gates, c, drop_mask)
        new_h = tf.tanh(new_c) * acts[3]
        return new_h, (new_c, new_h), (h, c, *acts)

    def backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        d_pre, dc_prev = _elementwise(_lstm_backward, xla)(saved[1:], drop_mask, d_state, d_h)
        dh_prev = tf.matmul(d_pre, p["W_hh_T"])
        return (d_pre,), (dc_prev, dh_prev), {"h": saved[0]}

    def chunk_grads(self, p, rec, d_xp):
        return {"W_hh": tf.matmul(rec["h"], d_xp[0], transpose_a=True), "bias": tf.reduce_sum(d_xp[0], 0)}


class LayerNormKernel(Kernel):
    """:class:`~sketch_rnn.cells.LayerNormLSTMCell`, state ``(h, c)``."""

    saved = 1 + LN_LSTM_SAVED
    rec_names = ("h", *LN_REC_NAMES)
    grad_names = ("W_hh", *LN_GRAD_NAMES)

    def params(self):
        return {k: tf.convert_to_tensor(getattr(self.cell, k)) for k in ("W_hh", *LN_GRAD_NAMES)}

    def forward(self, p, xproj, state, drop_mask):
        h, c = state
        new_h, new_c, saved = _ln_lstm_forward(xproj[0] + _times(h, p["W_hh_T"]), c, drop_mask, p)
        return new_h, (new_h, new_c), (h, *saved)

    def backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        d_pre, dc_prev, rec = _elementwise(_ln_backward_step, xla)(
            saved[1:], drop_mask, d_state, d_h, _ln_params(p))
        dh_prev = tf.matmul(d_pre, p["W_hh_T"])
        return (d_pre,), (dh_prev, dc_prev), {**rec, "h": saved[0]}

    def sums(self):
        return _ln_sum_widths(self.units)

    def chunk_grads(self, p, rec, d_xp):
        return {**_ln_lstm_grads(rec), "W_hh": tf.matmul(rec["h"], d_xp[0], transpose_a=True)}


class HyperKernel(Kernel):
    """:class:`~sketch_rnn.cells.HyperLSTMCell`, state ``(h, hyper_h, c, hyper_c)``.

    The hyper cell's recurrent input ``[h, hyper_h]`` is multiplied by ``[W_xh'; W_hh']`` (its
    ``W_xh`` rows of ``h`` stacked on its ``W_hh``) in one product; the eight ``zw`` (and four ``zb``)
    projections of ``u`` are one product each (``zw_flat``, ``zb_flat``).
    """

    saved = 6 + 2 * LN_LSTM_SAVED
    rec_names = ("h", "hyper_h", "u", "zw", "zb", "d_gates", "d_alpha", "d_hh", "d_zw", "d_zb",
                 *LN_REC_NAMES, *(f"inner_{k}" for k in LN_REC_NAMES))
    grad_names = ("W_hh", "bias", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta",
                  "zw_b", "alpha_w", "beta_w", "zw_flat", "zb_flat", "inner_w")
    needs_xproj = True
    chunk = 10  # it records about 4x what an LSTM does per step

    def __init__(self, cell):
        super().__init__(cell)
        self.embedding, self.hyper_units = cell.embedding, cell.hyper_units
        self.inner = LayerNormKernel(cell.hyper_cell)

    def input_weights(self, rows=None):
        w = tf.convert_to_tensor(self.cell.W_xh)
        w_inner = tf.convert_to_tensor(self.cell.hyper_cell.W_xh)[: self.cell.input_size]
        if rows is not None:
            w, w_inner = w[rows], w_inner[rows]
        return (w, w_inner)

    def params(self):
        cell = self.cell
        names = ("W_hh", "bias", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta", "zw_w",
                 "zw_b", "alpha_w", "zb_w", "beta_w")
        p = {k: tf.convert_to_tensor(getattr(cell, k)) for k in names}
        inner = cell.hyper_cell
        p["inner"] = self.inner.params()
        p["inner_w"] = tf.concat([tf.convert_to_tensor(inner.W_xh)[cell.input_size :],
                                  tf.convert_to_tensor(inner.W_hh)], axis=0)
        hu, e = self.hyper_units, self.embedding
        p["zw_flat"] = tf.reshape(tf.transpose(p["zw_w"], [1, 0, 2]), [hu, 8 * e])
        p["zb_flat"] = tf.reshape(tf.transpose(p["zb_w"], [1, 0, 2]), [hu, 4 * e])
        return p

    def sums(self):
        inner = _ln_sum_widths(self.hyper_units)
        return {**_ln_sum_widths(self.units), **{f"inner_{k}": w for k, w in inner.items()}}

    def forward(self, p, xproj, state, drop_mask):
        h, hyper_h, c, hyper_c = state
        inner_hidden = _times(tf.concat([h, hyper_h], axis=-1), p["inner_w_T"])
        hh = _times(h, p["W_hh_T"])
        new_h, u, new_c, new_hyper_c, saved = _hyper_forward(
            self.units, self.embedding, p, xproj, inner_hidden, hh, c, hyper_c, drop_mask)
        return new_h, (new_h, u, new_c, new_hyper_c), (h, hyper_h, *saved)

    def backward(self, p, saved, drop_mask, d_state, d_h, xproj, xla=False):
        n = self.units
        d_xh, d_hh, d_inner, dc_prev, d_hyper_c_prev, rec = _hyper_backward(
            n, p, saved, drop_mask, d_state, d_h, xproj[0], xla)
        d_hcat = tf.matmul(d_inner, p["inner_w_T"])
        dh_prev = tf.matmul(d_hh, p["W_hh_T"]) + d_hcat[:, :n]
        return (d_xh, d_inner), (dh_prev, d_hcat[:, n:], dc_prev, d_hyper_c_prev), rec

    def chunk_grads(self, p, rec, d_xp):
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

    def acc_init(self, p):
        inner = {k: tf.zeros_like(p["inner"][k]) for k in LN_GRAD_NAMES}
        return {**super().acc_init(p), "inner": inner}

    def prepare(self, p):
        t = tf.transpose
        return {**super().prepare(p), "alpha_w_T": t(p["alpha_w"], [0, 2, 1]),
                "beta_w_T": t(p["beta_w"], [0, 2, 1]), "zw_flat_T": t(p["zw_flat"]),
                "zb_flat_T": t(p["zb_flat"]), "inner_w_T": t(p["inner_w"])}


KERNELS = {LSTMCell: LSTMKernel, LayerNormLSTMCell: LayerNormKernel, HyperLSTMCell: HyperKernel}


def kernel_for(cell) -> Kernel:
    """The fused kernel of a reference cell."""
    try:
        return KERNELS[type(cell)](cell)
    except KeyError:
        raise TypeError(f"no fused kernel for {type(cell).__name__}") from None


#: The elementwise maths of the backward steps of full-batch sequences (the decoder; the encoder's
#: steps change their row count, and each count would compile anew) can run XLA-compiled
#: (``RuntimeOptions.fused_xla``). TensorFlow runs those dozens of small ops one kernel at a time,
#: each a pass over memory; fused, a backward step's elementwise work takes less time on this CPU
#: (with one intra-op thread, see configure_cpu_threads, a default training step ~7% less with layer
#: norm, ~3% LSTM, ~6% HyperLSTM; and less memory). The matmuls stay outside, in TensorFlow's faster
#: kernels: HyperLSTM's small per-gate ones too, between its two compiled parts (compiled with them,
#: its step was ~5% slower than uncompiled). The values agree with the unfused ops to float32
#: rounding. (The forward steps measured slower compiled, hyper's included: they are mostly their
#: matmuls.)
_XLA_FNS: dict = {}


def _elementwise(fn, xla: bool):
    """``fn``, or its XLA-compiled form (made once per function)."""
    if not xla:
        return fn
    if fn not in _XLA_FNS:
        _XLA_FNS[fn] = tf.function(fn, jit_compile=True)
    return _XLA_FNS[fn]


# -- the elementwise maths of a step, forward and backward ------------------------------------------


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
    """``HyperKernel.forward`` after its two large matmuls (``inner_hidden``, ``hh_flat``):
    ``(new_h, u, new_c, new_hyper_c, saved)``. alpha is recomputed from zw in the backward (one
    small matmul per gate) rather than kept."""
    u, new_hyper_c, inner_saved = _ln_lstm_forward(xproj[1] + inner_hidden, hyper_c, None, p["inner"])
    gates, zw, zb, hh = _modulated_gates(n, e, p, xproj[0], hh_flat, u)
    new_h, new_c, saved = _ln_lstm_forward(gates, c, drop_mask, p)
    return new_h, u, new_c, new_hyper_c, (u, zw, zb, hh, *inner_saved, *saved)


def _hyper_backward(n, p, saved, drop_mask, d_state, d_h, xh_flat, xla=False):
    """The elementwise (and small-matmul) part of ``HyperKernel.backward``: everything but
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
    """``cells.lstm_update``, op for op, returning ``(new_c, activations)``."""
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
    """The elementwise part of ``LSTMKernel.backward``: ``(d pre, d c_prev)``. ``tanh(new_c)``
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
    """The elementwise part of ``LayerNormKernel.backward``: ``(d pre, d c_prev, rec)``."""
    dh, dc = d_state
    if d_h is not None:
        dh = dh + d_h
    return _ln_lstm_backward(dh, dc, saved, drop_mask, p)


def _ln_params(p: dict) -> dict:
    return {k: p[k] for k in LN_GRAD_NAMES}



def _ln_sum_widths(units: int) -> dict[str, int]:
    """Widths of ``_ln_lstm_backward``'s records (all only summed, by ``_ln_lstm_grads``)."""
    return dict(zip(LN_REC_NAMES, (4 * units, 4 * units, units, units), strict=True))


def _ln_lstm_grads(rec: dict) -> dict:
    """The layer norms' gains and biases' gradients from ``_ln_lstm_backward``'s records (each
    ``[rows, width]``; ``fused_sequence`` passes them already summed per chunk, ``[1, width]``)."""
    return {"ln_all_gamma": tf.reduce_sum(rec["gx"], 0), "ln_all_beta": tf.reduce_sum(rec["g"], 0),
            "ln_c_gamma": tf.reduce_sum(rec["cx"], 0), "ln_c_beta": tf.reduce_sum(rec["c"], 0)}




# -- the sequence ------------------------------------------------------------------------------------


def lane_permutation(order: tf.Tensor, lanes: int) -> tf.Tensor:
    """Rows ``order`` (e.g. sketches longest first) dealt round-robin into ``fused_sequence``'s
    lanes: each lane keeps the order and gets an even share (``order[i::lanes]`` for lane i)."""
    return tf.concat([order[i::lanes] for i in range(lanes)], 0)


def fused_sequence(cell, inputs, state, drop_masks=None, *, lengths=None, collect=False,
                   const=None, rows=None, input_grad=False, lanes=None, xla=True, p=None):
    """Run ``cell`` over a whole time-major sequence, with a hand-written backward pass.

    The values are those of the cell's ``project`` and ``step`` in a loop (see the module
    docstring). The input projection is made inside the loop, one step at a time, and its
    weights' gradient accumulated per chunk, so that neither the projection nor its gradient
    (``[T, B, 4 units]`` each) is ever held whole. The backward runs in chunks of
    ``kernel.chunk`` steps: the weights' gradients are then a few matmuls over the chunk's
    (up to chunk x batch) rows, rather than a small matmul plus an add of the whole gradient at
    every step (several times slower here), while the chunk's records stay small.

    Args:
        inputs: ``[T, B, in]`` time-major inputs (rows ``rows`` of the cell's input).
        state: the initial state as a tuple (``cell.split_state``).
        drop_masks: ``[T, B, units]`` recurrent-dropout masks (a fresh one per step) as values or
            as a :class:`~sketch_rnn.noise.DropoutMask`, or None.
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
        xla: XLA-compile the backward's elementwise maths (full-batch sequences only).
        p: the kernel's ``params()`` if already read.
    Returns:
        ``(outputs [T, B, units], a tuple of them per lane, or None; final state tuple)``.
    """
    if lengths is not None and (collect or input_grad or const):
        raise ValueError("fused_sequence: lengths cannot be combined with collect, const or input_grad")
    kernel = kernel_for(cell)
    p = kernel.params() if p is None else p
    w_in = kernel.input_weights(rows)
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
        pb = kernel.prepare(pp)
        steps = tf.shape(x)[0]
        batch = tf.shape(x)[1]
        # Lane i holds rows [bound[i], bound[i + 1]) of the batch, as many as order[i::n_lanes] has
        # (see lane_permutation); the k running rows of a lane at a step are its first k.
        bound = [0]
        for i in lanes:
            bound.append(bound[-1] + (batch - i + n_lanes - 1) // n_lanes)
        x_lane = [x[:, bound[i] : bound[i + 1]] for i in lanes]
        xla_steps = xla and not ragged
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
            if isinstance(drop_masks, DropoutMask):
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
                h, new, saved = kernel.forward(pb, project(head(x_lane[i][t], k), i, k),
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
                                for _ in range(kernel.saved)) for _ in lanes)
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
            chunk_len = kernel.chunk
            n_chunks = (steps + chunk_len - 1) // chunk_len
            rec_shapes = {}
            sum_widths = kernel.sums()

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
                        xp = project(x_t, i, k) if kernel.needs_xproj else None
                        d_h = None if d_out is None else d_out[i][t]
                        d_xp, d_prev, rec = kernel.backward(
                            pb, saved, m, tuple(head(d, k) for d in ds[i]), d_h, xp, xla=xla_steps)
                        if ragged:  # finished rows pass their gradient through unchanged
                            d_prev = tuple(_rejoin(a, b, k) for a, b in zip(d_prev, ds[i], strict=True))
                        rec = {**rec, "x": x_t, **{f"d_xp{n}": d for n, d in enumerate(d_xp)}}
                        rec_shapes.update({key: v.shape for key, v in rec.items()})
                        new_ds.append(d_prev)
                        new_rec.append({key: ta.write(t - lo, rec[key]) for key, ta in rec_tas[i].items()})
                        new_sums.append({key: a + tf.reduce_sum(rec[key], 0, keepdims=True)
                                         for key, a in sums[i].items()})
                    return t - 1, tuple(new_ds), tuple(new_rec), tuple(new_sums)

                names = (*kernel.rec_names, "x", *(f"d_xp{n}" for n in range(n_w)))
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
                    acc = tf.nest.map_structure(tf.add, acc, kernel.chunk_grads(pb, stacked, d_xp))
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

            init = (tf.constant(0), d_final, kernel.acc_init(pp), tuple(tf.zeros_like(w) for w in ws),
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



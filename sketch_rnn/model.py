"""The SketchRNN VAE as a Keras 3 model, with the reference's maths and weight shapes.

Encoder: a bidirectional RNN over the target rows ``x[:, 1:]`` (the start token excluded) that stops
at each sketch's length; ``mu`` and ``presig`` heads on ``[h_fw, h_bw]``. Decoder: its initial state is
``tanh(W z + b)`` in the cell's state layout (zeros when unconditional), its input at step ``i`` is
``[S_{i-1}, z]`` and its output layer gives ``3 + 6M`` values laid out as
``[pen logits | pi | mu_x | mu_y | log sigma_x | log sigma_y | raw rho]``.

Every weight has the reference shape; ``interop/tf1`` maps magenta checkpoint names onto them.

Example:
    >>> import numpy as np
    >>> from sketch_rnn.hparams import HParams
    >>> hps = HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, max_seq_len=10)
    >>> model = SketchRNN(hps)
    >>> x = np.zeros([3, 11, 5], np.float32); x[:, :, 4] = 1; x[:, 0] = [0, 0, 1, 0, 0]
    >>> out = model(x, np.array([0, 0, 0]), training=False)
    >>> tuple(out["raw"].shape)
    (3, 10, 15)
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow import keras

from sketch_rnn.cells import KeptMask, default_lanes, dense, fused_sequence, lane_permutation, make_cell
from sketch_rnn.hparams import HParams

STROKE_DIM = 5


class SketchRNN(keras.Model):
    """SketchRNN: bidirectional-RNN encoder, mixture-density RNN decoder (Ha & Eck 2017).

    Calling the model as ``model(x, seq_len)``, where ``x`` is a stroke-5 batch ``[B, T+1, 5]``
    starting with the start token and ``seq_len`` the number of real rows per sketch, returns a dict
    with the raw decoder outputs ``raw [B, T, 3+6M]`` (position t predicts row t+1), ``mu``,
    ``presig``, ``z``, ``initial_state`` and ``final_state`` (flat, in the reference layout).

    Args:
        hps: the model's hyper-parameters.
        scale_factor: the data normalising factor the model was trained with (None if unknown; kept with the
            weights so that drawings in data units can be converted).

    Example:
        >>> import numpy as np
        >>> from sketch_rnn.hparams import HParams
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> out = model(np.zeros([3, 6, 5], np.float32), np.array([5, 3, 1]))
        >>> tuple(out["raw"].shape), tuple(out["z"].shape)   # 3 + 6 M outputs per position
        ((3, 5, 15), (3, 4))
    """

    def __init__(self, hps: HParams, scale_factor: float | None = None, name: str = "sketch_rnn", **kw):
        super().__init__(name=name, **kw)
        self.hps = hps
        self.scale_factor = None if scale_factor is None else float(scale_factor)
        # Loops over the padded length instead of the batch's longest sketch (same result); set by
        # XLA-compiled training, which needs static trip counts.
        self.static_loops = False
        # Run the recurrences through cells.fused_sequence (hand-written backward, see there); False
        # differentiates the plain tf.while_loop of ``recurrence`` instead (same values; slower,
        # kept as the check of the hand-written gradients, and for XLA: fused_sequence's loops
        # have data-dependent sizes, so static_loops implies the plain loops).
        self.fused = True
        # Stateless seed [2] for this call's dropout masks (``call(noise_seed=...)``), and how many
        # masks have been drawn from it: each mask gets its own seed folded in from the count.
        self._noise_seed, self._noise_count = None, 0
        n_out = 3 + 6 * hps.num_mixture
        small = keras.initializers.RandomNormal(stddev=0.001)
        dec_input = STROKE_DIM
        if hps.conditional:
            e, z = hps.enc_rnn_size, hps.z_size
            self.enc_fw = make_cell(hps.enc_model, e, name="enc_fw")
            self.enc_bw = make_cell(hps.enc_model, e, name="enc_bw")
            self.enc_fw.build_for_input(STROKE_DIM)
            self.enc_bw.build_for_input(STROKE_DIM)
            self.mu_w = self.add_weight(name="mu_w", shape=(2 * e, z), initializer=small)
            self.mu_b = self.add_weight(name="mu_b", shape=(z,), initializer="zeros")
            self.presig_w = self.add_weight(name="presig_w", shape=(2 * e, z), initializer=small)
            self.presig_b = self.add_weight(name="presig_b", shape=(z,), initializer="zeros")
            dec_input += z
        self.decoder = make_cell(hps.dec_model, hps.dec_rnn_size, name="decoder")
        self.decoder.build_for_input(dec_input)
        if hps.conditional:
            s = self.decoder.state_size
            self.init_w = self.add_weight(name="init_w", shape=(hps.z_size, s), initializer=small)
            self.init_b = self.add_weight(name="init_b", shape=(s,), initializer="zeros")
        # The reference creates both with tf.get_variable's default, Glorot-uniform, bias included.
        self.output_w = self.add_weight(
            name="output_w", shape=(hps.dec_rnn_size, n_out), initializer="glorot_uniform"
        )
        self.output_b = self.add_weight(
            name="output_b", shape=(n_out,), initializer="glorot_uniform"
        )
        self.built = True

    # -- encoder ---------------------------------------------------------------------------------

    def encode(self, x: tf.Tensor, seq_len: tf.Tensor, training: bool = False):
        """``(mu, presig)`` for a stroke-5 batch ``x [B, T+1, 5]`` (start token first).

        The loop runs only to the longest sketch in the batch: states past a sketch's length are
        frozen anyway, so this is the reference's result with fewer steps.
        """
        if not self.hps.conditional:
            raise ValueError("this model is unconditional (decoder only): it has no encoder")
        x = tf.convert_to_tensor(x, tf.float32)
        seq_len = tf.cast(seq_len, tf.int32)
        if self.static_loops and x.shape[1] is not None:
            steps = x.shape[1] - 1  # XLA needs a static trip count; masking keeps the result
        else:
            steps = tf.reduce_max(seq_len)
        targets = x[:, 1 : steps + 1]
        if self.fused and not self.static_loops:
            return self._encode_fused(targets, seq_len, steps, training)
        backward = tf.reverse_sequence(targets, seq_len, seq_axis=1, batch_axis=0)
        fw, bw = self.enc_fw, self.enc_bw
        proj_fw = fw.project(time_major(targets))
        proj_bw = bw.project(time_major(backward))
        batch = tf.shape(x)[0]
        masks_fw = self._dropout_masks(fw, steps, batch, training)
        masks_bw = self._dropout_masks(bw, steps, batch, training)
        active = tf.transpose(tf.sequence_mask(seq_len, steps, tf.float32))[:, :, None]

        w_fw, w_bw = fw.loop_params(), bw.loop_params()

        def step(t, inputs, states):
            p_fw, p_bw, m_fw, m_bw, keep = inputs
            s_fw, s_bw = states
            _, n_fw = fw.step(p_fw, s_fw, m_fw, w_fw)
            _, n_bw = bw.step(p_bw, s_bw, m_bw, w_bw)
            # dynamic_rnn semantics: past its length a sketch's state is carried unchanged.
            n_fw = tuple(keep * a + (1.0 - keep) * b for a, b in zip(n_fw, s_fw, strict=True))
            n_bw = tuple(keep * a + (1.0 - keep) * b for a, b in zip(n_bw, s_bw, strict=True))
            return None, (n_fw, n_bw)

        inputs = (proj_fw, proj_bw, masks_fw, masks_bw, active)
        _, (s_fw, s_bw) = recurrence(
            step, inputs, (fw.zero_state(batch), bw.zero_state(batch)), steps
        )
        return self._latent(tf.concat([fw.output(s_fw), bw.output(s_bw)], axis=-1))

    def _encode_fused(self, targets, seq_len, steps, training):
        # Sketches sorted longest first (within each of fused_sequence's lanes), so that those still
        # running at a step are the leading rows, the only ones computed; the codes are put back in
        # batch order.
        # The two directions are already two independent chains of ops, which TensorFlow runs side
        # by side; cutting each into default_lanes() lanes too (four chains on two cores) made a
        # training step's encoder 10-20% slower.
        lanes = max(1, default_lanes() // 2)
        order = lane_permutation(tf.argsort(seq_len, direction="DESCENDING", stable=True), lanes)
        targets, seq_len = tf.gather(targets, order), tf.gather(seq_len, order)
        backward = tf.reverse_sequence(targets, seq_len, seq_axis=1, batch_axis=0)
        batch = tf.shape(targets)[0]
        last_h = []
        for cell, rows in ((self.enc_fw, targets), (self.enc_bw, backward)):
            masks = self._dropout_masks(cell, steps, batch, training, kept=True)
            if masks is not None:
                # Drawn in batch order, then sorted with the rows: a sketch's masks do not depend on
                # the sort or the lanes (and are those of the plain loop).
                masks = masks._replace(kept=tf.gather(masks.kept, order, axis=1)) \
                    if isinstance(masks, KeptMask) else tf.gather(masks, order, axis=1)
            _, final = fused_sequence(cell, time_major(rows), cell.zero_state(batch), masks, lengths=seq_len,
                                      lanes=lanes)
            last_h.append(cell.output(final))
        last_h = tf.gather(tf.concat(last_h, axis=-1), tf.math.invert_permutation(order))
        return self._latent(last_h)

    def _latent(self, last_h):
        mu = tf.matmul(last_h, self.mu_w) + self.mu_b
        presig = tf.matmul(last_h, self.presig_w) + self.presig_b
        return mu, presig

    # -- decoder ---------------------------------------------------------------------------------

    def initial_state(self, z: tf.Tensor | None, batch_size=None) -> tf.Tensor:
        """Flat decoder state: ``tanh(z W + b)``, or zeros for an unconditional model."""
        if not self.hps.conditional:
            return tf.zeros([batch_size, self.decoder.state_size])
        return tf.tanh(tf.matmul(z, self.init_w) + self.init_b)

    def project_inputs(self, strokes: tf.Tensor, z: tf.Tensor | None):
        """The decoder's input projection of time-major stroke rows ``[T, B, 5]`` (or ``[B, 5]``).

        ``z``'s contribution is the same at every step, so it is computed once per sketch.
        """
        proj = self.decoder.project(strokes, slice(0, STROKE_DIM))
        if z is None:
            return proj
        zproj = self.decoder.project(z, slice(STROKE_DIM, None))
        # Broadcast over time for time-major [T, B, 5] rows.
        expand = (lambda a: a[None]) if strokes.shape.rank == 3 else (lambda a: a)
        return tuple(p + expand(q) for p, q in zip(proj, zproj, strict=True))

    def decode(self, inputs: tf.Tensor, z: tf.Tensor | None, state: tf.Tensor,
               training: bool = False):
        """Run the decoder over input rows ``[B, T, 5]``; returns ``(raw [B,T,3+6M], final_state)``."""
        hps, cell = self.hps, self.decoder
        inputs = time_major(tf.convert_to_tensor(inputs, tf.float32))
        steps, batch = inputs.shape[0] or tf.shape(inputs)[0], tf.shape(inputs)[1]
        fused = self.fused and not self.static_loops
        masks = self._dropout_masks(cell, steps, batch, training, kept=fused)
        input_dropout = training and hps.use_input_dropout
        if input_dropout:
            # DropoutWrapper drops the whole input [S, z] with a fresh mask at every step.
            full = inputs
            if z is not None:
                full = tf.concat([inputs, tf.tile(z[None], [steps, 1, 1])], axis=-1)
            full = dropout(full, hps.input_dropout_prob, self._next_seed())
        if fused:
            state = cell.split_state(state)
            # The output layer runs per lane unless output dropout (one mask over the batch) is on.
            collect = True if training and hps.use_output_dropout else "lanes"
            if input_dropout:
                outputs, final = fused_sequence(cell, full, state, masks, collect=collect, input_grad=True)
            else:
                # z's share of the projection is the same at every step: made once.
                zproj = None if z is None else cell.project(z, slice(STROKE_DIM, None))
                outputs, final = fused_sequence(cell, inputs, state, masks, collect=collect, const=zproj,
                                                rows=slice(0, STROKE_DIM))
            return self._outputs(outputs, final, training)
        proj = cell.project(full) if input_dropout else self.project_inputs(inputs, z)

        weights = cell.loop_params()

        def step(t, step_inputs, s):
            xp, m = step_inputs
            h, s = cell.step(xp, s, m, weights)
            return h, s

        outputs, final = recurrence(step, (proj, masks), cell.split_state(state), steps,
                                    collect=True)
        return self._outputs(outputs, final, training)

    def _outputs(self, outputs, final, training):
        hps, cell = self.hps, self.decoder
        if isinstance(outputs, tuple):
            # One [T, rows, units] tensor per lane of fused_sequence, in batch order: two matmuls that
            # run side by side, and only the narrow outputs are joined.
            return tf.concat([time_major(self.output_layer(o)) for o in outputs], 0), cell.flat_state(final)
        if training and hps.use_output_dropout:
            outputs = dropout(outputs, hps.output_dropout_prob, self._next_seed())
        # Transposing the 3+6M outputs is cheaper than transposing the hidden states.
        return time_major(self.output_layer(outputs)), cell.flat_state(final)

    def output_layer(self, h: tf.Tensor) -> tf.Tensor:
        return dense(h, self.output_w) + self.output_b

    def _dropout_masks(self, cell, steps, batch, training, kept=False):
        """Time-major recurrent-dropout masks, a fresh one for every step as the reference draws
        one inside the cell: values, or a ``KeptMask`` (``kept``; for ``fused_sequence``)."""
        if not (training and self.hps.use_recurrent_dropout):
            return None
        keep_prob = self.hps.recurrent_dropout_prob
        if kept and keep_prob < 1.0:
            return KeptMask(dropout_kept([steps, batch, cell.units], keep_prob, self._next_seed()), keep_prob)
        return dropout_mask([steps, batch, cell.units], keep_prob, self._next_seed())

    def _next_seed(self):
        if self._noise_seed is None:
            return None
        self._noise_count += 1
        return tf.random.experimental.stateless_fold_in(self._noise_seed, self._noise_count)

    # -- whole model -----------------------------------------------------------------------------

    def call(self, x, seq_len, training: bool = False, z=None, eps=None, noise_seed=None):
        """Encode (if conditional), then decode the batch. See the class docstring.

        ``z`` fixes the latent code; otherwise ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``
        (pass ``eps`` to fix it, e.g. zeros for ``z = mu``). ``noise_seed`` (an int ``[2]`` tensor)
        makes the dropout masks a function of it (the trainer draws it from a checkpointed
        generator, so a resumed run drops what the uninterrupted run would have).
        """
        self._noise_seed, self._noise_count = noise_seed, 0
        try:
            return self._call(x, seq_len, training, z, eps)
        finally:
            self._noise_seed = None

    def _call(self, x, seq_len, training, z, eps):
        x = tf.convert_to_tensor(x, tf.float32)
        out = {}
        if self.hps.conditional:
            mu, presig = self.encode(x, seq_len, training=training)
            if z is None:
                if eps is None:
                    eps = tf.random.normal(tf.shape(mu))
                z = mu + tf.exp(presig / 2.0) * eps
            out.update(mu=mu, presig=presig, z=z)
        else:
            z = None
        state = self.initial_state(z, tf.shape(x)[0])
        raw, final = self.decode(x[:, :-1], z, state, training=training)
        out.update(raw=raw, initial_state=state, final_state=final)
        return out

    def get_config(self):
        return {"hps": self.hps.values(), "scale_factor": self.scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(HParams().replace(**config["hps"]), config.get("scale_factor", 1.0),
                   name=config.get("name", "sketch_rnn"))


# -- loop and dropout helpers -----------------------------------------------------------------


def recurrence(step, inputs, state, steps, collect: bool = False):
    """``tf.while_loop`` over time-major inputs (a nest of ``[T, B, ...]`` tensors, ``None`` allowed).

    ``step(t, inputs_t, state) -> (output, state)``. Inputs are read through TensorArrays so that
    their gradients accumulate without the quadratic cost of slicing a tensor inside a loop.
    Returns ``(outputs [T, B, ...] or None, final_state)``.
    """
    flat = tf.nest.flatten(inputs)
    arrays = [
        None if a is None else tf.TensorArray(a.dtype, size=steps, infer_shape=True).unstack(a)
        for a in flat
    ]
    out_ta = tf.TensorArray(tf.float32, size=steps) if collect else tf.constant(0)

    def body(t, s, ta):
        xs = [None if arr is None else arr.read(t) for arr in arrays]
        out, s = step(t, tf.nest.pack_sequence_as(inputs, xs), s)
        if collect:
            ta = ta.write(t, out)
        return t + 1, s, ta

    _, state, out_ta = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), state, out_ta),
                                     maximum_iterations=steps)
    return (out_ta.stack() if collect else None), state


def time_major(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [1, 0] + list(range(2, x.shape.rank)))


def dropout_mask(shape, keep_prob: float, seed=None) -> tf.Tensor:
    """``tf.nn.dropout``'s mask: 1/keep with probability keep, else 0 (of ``dropout_kept``)."""
    if keep_prob >= 1.0:
        return tf.ones(shape, tf.float32)
    return tf.cast(dropout_kept(shape, keep_prob, seed), tf.float32) / keep_prob


def dropout_kept(shape, keep_prob: float, seed=None) -> tf.Tensor:
    """Which units dropout keeps (bool), each with probability ``keep_prob`` (< 1).

    Drawn as uniform 32-bit integers below ``keep * 2**32`` (keep probability exact to 2^-32, and
    about twice as fast as float uniforms: the masks are ~25M numbers per default training step),
    from the stateless ``seed`` ``[2]`` if given, else from TensorFlow's global RNG.
    """
    if seed is None:
        seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint32)
    return bits < tf.constant(int(keep_prob * 2**32), tf.uint32)


def dropout(x: tf.Tensor, keep_prob: float, seed=None) -> tf.Tensor:
    return x * dropout_mask(tf.shape(x), keep_prob, seed)

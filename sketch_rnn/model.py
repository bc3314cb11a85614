"""SketchRNN (Ha & Eck 2017) as a Keras 3 model: the reference's maths and weight shapes, top to bottom.

Encoder (conditional models): a bidirectional RNN over the target rows ``x[:, 1:]`` (the start token
excluded) that stops at each drawing's length; ``mu`` and ``presig`` heads on ``[h_fw, h_bw]``
(:meth:`SketchRNN.latent_code`). Decoder: its initial state is ``tanh(W z + b)`` in the cell's state
layout (zeros when unconditional), its input at step ``i`` is ``[S_{i-1}, z]`` and its output layer
gives ``3 + 6M`` values laid out as ``[pen logits | pi | mu_x | mu_y | log sigma_x | log sigma_y |
raw rho]`` (:meth:`SketchRNN.decode_step`).

The model owns these steps; training, evaluation, the sampler and the exporters call them. Whole
teacher-forced sequences run here as ``keras.ops`` loops of the cells' plain steps, or through the
hand-fused recurrences of :mod:`sketch_rnn.fast`, a plug-in chosen by
:class:`~sketch_rnn.runtime.RuntimeOptions` and proven equal to this code by ``tests/test_fast.py``.
What the model computes is its :class:`~sketch_rnn.config.ModelConfig`, saved beside the weights.

Every weight has the reference shape; ``interop/tf1`` maps magenta checkpoint names onto them.

Example:
    >>> import numpy as np
    >>> from sketch_rnn.config import ModelConfig
    >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    >>> x = np.zeros([3, 11, 5], np.float32); x[:, :, 4] = 1; x[:, 0] = [0, 0, 1, 0, 0]
    >>> out = model(x, np.array([0, 0, 0]), training=False)
    >>> tuple(out["raw"].shape)
    (3, 10, 15)
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from sketch_rnn import backend
from sketch_rnn.cells import dense, make_cell
from sketch_rnn.config import ModelConfig
from sketch_rnn.noise import DropoutMask, Noise
from sketch_rnn.runtime import RuntimeOptions, resolve

STROKE_DIM = 5


class SketchRNN(keras.Model):
    """SketchRNN: bidirectional-RNN encoder, mixture-density RNN decoder (Ha & Eck 2017).

    Calling the model as ``model(x, seq_len)``, where ``x`` is a stroke-5 batch ``[B, T+1, 5]``
    starting with the start token and ``seq_len`` the number of real rows per sketch, returns a dict
    with the raw decoder outputs ``raw [B, T, 3+6M]`` (position t predicts row t+1), ``mu``,
    ``presig``, ``z``, ``initial_state`` and ``final_state`` (flat, in the reference layout).

    Args:
        config: what the model computes (a :class:`~sketch_rnn.config.ModelConfig`; magenta's
            :class:`~sketch_rnn.hparams.HParams` are converted).
        scale_factor: replaces ``config.scale_factor`` (data units per model unit) when given.
        initialize: False skips the orthogonal (SVD) init of the recurrent weights, for loaders that
            assign every weight right after.

    Example:
        >>> import numpy as np
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> out = model(np.zeros([3, 6, 5], np.float32), np.array([5, 3, 1]))
        >>> tuple(out["raw"].shape), tuple(out["z"].shape)   # 3 + 6 M outputs per position
        ((3, 5, 15), (3, 4))
        >>> SketchRNN.from_config(model.get_config()).config == model.config
        True
    """

    def __init__(self, config: ModelConfig, scale_factor: float | None = None, *, name: str = "sketch_rnn",
                 initialize: bool = True, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(config, ModelConfig):
            if not hasattr(config, "model_config"):
                raise TypeError(f"SketchRNN: expected a ModelConfig (or HParams), got "
                                f"{type(config).__name__}")
            config = config.model_config()
        if scale_factor is not None:
            config = config.replace(scale_factor=float(scale_factor))
        self.config = config
        cells = dict(hyper_units=config.hyper_num_units, hyper_embedding=config.hyper_embedding_size,
                     recurrent_initializer=None if initialize else "zeros")
        small = keras.initializers.RandomNormal(stddev=0.001)
        dec_input = STROKE_DIM
        if config.conditional:
            e, z = config.enc_rnn_size, config.z_size
            self.enc_fw = make_cell(config.enc_model, e, name="enc_fw", **cells)
            self.enc_bw = make_cell(config.enc_model, e, name="enc_bw", **cells)
            self.enc_fw.build(STROKE_DIM)
            self.enc_bw.build(STROKE_DIM)
            self.mu_w = self.add_weight(name="mu_w", shape=(2 * e, z), initializer=small)
            self.mu_b = self.add_weight(name="mu_b", shape=(z,), initializer="zeros")
            self.presig_w = self.add_weight(name="presig_w", shape=(2 * e, z), initializer=small)
            self.presig_b = self.add_weight(name="presig_b", shape=(z,), initializer="zeros")
            dec_input += z
        self.decoder = make_cell(config.dec_model, config.dec_rnn_size, name="decoder", **cells)
        self.decoder.build(dec_input)
        if config.conditional:
            s = self.decoder.state_size
            self.init_w = self.add_weight(name="init_w", shape=(config.z_size, s), initializer=small)
            self.init_b = self.add_weight(name="init_b", shape=(s,), initializer="zeros")
        # The reference creates both with tf.get_variable's default, Glorot-uniform, bias included.
        n_out = config.output_size
        self.output_w = self.add_weight(name="output_w", shape=(config.dec_rnn_size, n_out),
                                        initializer="glorot_uniform")
        self.output_b = self.add_weight(name="output_b", shape=(n_out,), initializer="glorot_uniform")
        self.built = True

    # -- encoder ---------------------------------------------------------------------------------

    def posterior(self, x, seq_len, training: bool = False, runtime: RuntimeOptions | None = None,
                  noise: Noise | None = None):
        """``(mu, presig)`` of ``q(z | x)`` for a stroke-5 batch ``x [B, T+1, 5]`` (start token first)
        of ``seq_len`` real rows each."""
        if not self.config.conditional:
            raise ValueError("this model is unconditional (decoder only): it has no encoder")
        noise = noise or Noise()
        x = ops.convert_to_tensor(x, "float32")
        seq_len = ops.cast(seq_len, "int32")
        targets = x[:, 1:]
        shape = (ops.shape(targets)[1], ops.shape(targets)[0])
        masks = tuple(self._recurrent_mask(c, shape, training, noise) for c in (self.enc_fw, self.enc_bw))
        if resolve(runtime).uses_fused():
            from sketch_rnn.fast import fused

            last_h = fused.encoder_outputs(self, targets, seq_len, masks, resolve(runtime))
        else:
            last_h = self._encoder_outputs(targets, seq_len, masks)
        return self.latent_code(last_h)

    def _encoder_outputs(self, targets, seq_len, masks):
        """``[h_fw, h_bw]``: each direction's output after the drawing's last row. The loops run
        over the padded length; past its length a drawing's state is carried unchanged
        (``dynamic_rnn``), so the backward direction starts at the last real row."""
        steps, batch = ops.shape(targets)[1], ops.shape(targets)[0]
        running = ops.expand_dims(time_major(ops.arange(steps)[None, :] < seq_len[:, None]), -1)
        outputs = []
        with read_weights_once(self):
            for cell, rows, mask in ((self.enc_fw, targets, masks[0]),
                                     (self.enc_bw, reverse_sequences(targets, seq_len), masks[1])):
                xs = {"xproj": cell.project(time_major(rows)), "running": running}
                if mask is not None:
                    xs["mask"] = mask.values()

                def step(state, xs, cell=cell):
                    _, new = cell.step(xs["xproj"], state, xs.get("mask"))
                    running = xs["running"]
                    return None, tuple(ops.where(running, a, b) for a, b in zip(new, state, strict=True))

                final, _ = backend.scan(step, cell.zero_state(batch), xs)
                outputs.append(cell.output(final))
        return ops.concatenate(outputs, axis=-1)

    def latent_code(self, last_h):
        """The encoder's final code ``(mu, presig)`` from its outputs ``[h_fw, h_bw]``."""
        return ops.matmul(last_h, self.mu_w) + self.mu_b, ops.matmul(last_h, self.presig_w) + self.presig_b

    # -- decoder ---------------------------------------------------------------------------------

    def initial_state(self, z=None, batch_size=None):
        """The decoder's flat initial state: ``tanh(z W + b)``, zeros for an unconditional model.

        A legacy browser VAE (``config.z_tanh``) makes it from ``tanh(z)``, as sketch-rnn-js does in
        this one place; every decoder step still reads the raw ``z``.
        """
        if not self.config.conditional:
            return ops.zeros((batch_size, self.decoder.state_size))
        z = ops.convert_to_tensor(z, "float32")
        if self.config.z_tanh:
            z = ops.tanh(z)
        return ops.tanh(ops.matmul(z, self.init_w) + self.init_b)

    def decoder_context(self, z):
        """``z``'s share of the decoder's input projection, the same at every step (None when
        unconditional): computed once per drawing and passed to :meth:`decode_step`."""
        if not self.config.conditional or z is None:
            return None
        z = ops.convert_to_tensor(z, "float32")
        # As [0, z] W_xh: the same sum as z W_xh[5:] (the stroke's columns are zero), but under XLA
        # a product with that slice of W_xh compiles to a loop several times slower than this one.
        return self.decoder.project(ops.concatenate([ops.zeros((ops.shape(z)[0], STROKE_DIM)), z], axis=-1))

    def decode_step(self, row, state, context=None, *, recurrent_mask=None, output_mask=None):
        """One decoder step: the previous stroke-5 row ``[B, 5]`` and the state tuple (plus ``z``'s
        :meth:`decoder_context`) -> ``(raw [B, 3+6M], new state)``. Dropout masks only in training."""
        xproj = self.decoder.project(row)
        if context is not None:
            xproj = tuple(a + b for a, b in zip(xproj, context, strict=True))
        h, state = self.decoder.step(xproj, state, recurrent_mask)
        if output_mask is not None:
            h = h * output_mask
        return self.output_layer(h), state

    def output_layer(self, h):
        """The mixture-density outputs ``[..., 3+6M]`` of decoder outputs ``h``."""
        return dense(h, self.output_w) + self.output_b

    def decode_sequence(self, inputs, z, state, training: bool = False, runtime: RuntimeOptions | None = None,
                        noise: Noise | None = None):
        """Run the decoder over input rows ``[B, T, 5]`` (teacher forcing) from the flat ``state``;
        returns ``(raw [B, T, 3+6M], final flat state)``."""
        c, cell = self.config, self.decoder
        noise = noise or Noise()
        inputs = ops.convert_to_tensor(inputs, "float32")
        steps, batch = ops.shape(inputs)[1], ops.shape(inputs)[0]
        recurrent = self._recurrent_mask(cell, (steps, batch), training, noise)
        in_width = STROKE_DIM + (c.z_size if c.conditional else 0)
        # DropoutWrapper drops the whole input [S, z], and the output h, with a fresh mask every step.
        input_mask = noise.mask((steps, batch, in_width), c.input_dropout_prob) \
            if training and c.use_input_dropout else None
        output_mask = noise.mask((steps, batch, cell.units), c.output_dropout_prob) \
            if training and c.use_output_dropout else None
        if resolve(runtime).uses_fused():
            from sketch_rnn.fast import fused

            return fused.decoder_outputs(self, inputs, z, state, (recurrent, input_mask, output_mask),
                                         resolve(runtime))
        return self._decoder_outputs(inputs, z, state, recurrent, input_mask, output_mask)

    def _decoder_outputs(self, inputs, z, state, recurrent, input_mask, output_mask):
        """:meth:`decode_step` over every input row, in a loop."""
        with read_weights_once(self):
            return self._decoder_loop(inputs, z, state, recurrent, input_mask, output_mask)

    def _decoder_loop(self, inputs, z, state, recurrent, input_mask, output_mask):
        rows = time_major(inputs)
        xs = {"row": rows}
        context = self.decoder_context(z)
        if input_mask is not None:
            m = input_mask.values()
            xs["row"] = rows * m[..., :STROKE_DIM]
            if context is not None:
                # z dropped out differently at every step: its share of the projection is too.
                z = ops.convert_to_tensor(z, "float32")
                zs = ops.broadcast_to(z[None], (ops.shape(rows)[0], *ops.shape(z)))
                xs["context"] = self.decoder.project(zs * m[..., STROKE_DIM:], first=STROKE_DIM)
        for key, mask in (("recurrent_mask", recurrent), ("output_mask", output_mask)):
            if mask is not None:
                xs[key] = mask.values()

        def step(s, xs):
            return self.decode_step(xs["row"], s, xs.get("context", context),
                                    recurrent_mask=xs.get("recurrent_mask"),
                                    output_mask=xs.get("output_mask"))

        final, raw = backend.scan(step, self.decoder.split_state(state), xs, collect=True)
        return time_major(raw), self.decoder.flat_state(final)

    # -- dropout ---------------------------------------------------------------------------------

    def _recurrent_mask(self, cell, steps_batch, training: bool, noise: Noise) -> DropoutMask | None:
        """The recurrent-dropout masks of ``cell`` over ``(steps, batch)`` (training only)."""
        if not (training and self.config.use_recurrent_dropout):
            return None
        return noise.mask((*steps_batch, cell.units), self.config.recurrent_dropout_prob)

    # -- whole model -----------------------------------------------------------------------------

    def call(self, x, seq_len, training: bool = False, z=None, eps=None, noise_seed=None,
             runtime: RuntimeOptions | None = None):
        """Encode (if conditional), then decode the batch. See the class docstring.

        ``z`` fixes the latent code; otherwise ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``
        (pass ``eps`` to fix it, e.g. zeros for ``z = mu``). ``noise_seed`` (an int ``[2]`` tensor)
        makes the dropout masks a function of it (the trainer draws it from a checkpointed
        generator, so a resumed run drops what the uninterrupted run would have). ``runtime``
        chooses how the sequences run (the values do not depend on it).
        """
        noise = Noise(noise_seed)
        x = ops.convert_to_tensor(x, "float32")
        out = {}
        if self.config.conditional:
            mu, presig = self.posterior(x, seq_len, training, runtime, noise)
            if z is None:
                if eps is None:
                    eps = keras.random.normal(ops.shape(mu))
                z = mu + ops.exp(presig / 2.0) * eps
            out.update(mu=mu, presig=presig, z=z)
        else:
            z = None
        state = self.initial_state(z, ops.shape(x)[0])
        raw, final = self.decode_sequence(x[:, :-1], z, state, training, runtime, noise)
        out.update(raw=raw, initial_state=state, final_state=final)
        return out

    def get_config(self) -> dict:
        return {"config": self.config.get_config(), "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> SketchRNN:
        return cls(ModelConfig.from_config(config["config"]), name=config.get("name", "sketch_rnn"))

    # -- views of the config ---------------------------------------------------------------------

    @property
    def scale_factor(self) -> float | None:
        """Data units (pixels) per model unit (``config.scale_factor``)."""
        return self.config.scale_factor

    @property
    def hps(self):
        """Deprecated: magenta's hparams of this model (use ``model.config``)."""
        warnings.warn("SketchRNN.hps is deprecated: use model.config (a ModelConfig)", DeprecationWarning,
                      stacklevel=2)
        from sketch_rnn.hparams import HParams

        return HParams.from_configs(self.config)


def _deprecated_view(field: str):
    def get(self):
        warnings.warn(f"SketchRNN.{field} is deprecated: use model.config.{field}", DeprecationWarning,
                      stacklevel=2)
        return getattr(self.config, field)

    return property(get, doc=f"Deprecated: ``model.config.{field}``.")


for _field in ("start_token", "temperature_convention", "z_tanh", "pixel_factor"):
    setattr(SketchRNN, _field, _deprecated_view(_field))
SketchRNN.pixel_scale = property(_deprecated_view("scale_factor").fget,
                                 doc="Deprecated: ``model.config.scale_factor``.")


# -- sequence helpers ----------------------------------------------------------------------------


class read_weights_once(keras.StatelessScope):
    """Inside it, the model's layers see each weight as one tensor read on entry: a loop body then
    multiplies by a loop-invariant tensor instead of reading the variable at every step (which a
    TensorFlow loop's gradient would keep a copy of, per step). Gradients still reach the weights."""

    def __init__(self, model: SketchRNN):
        super().__init__(state_mapping=[(v, v.value) for v in model.weights])


def time_major(x):
    """``[B, T, ...]`` <-> ``[T, B, ...]``."""
    return ops.swapaxes(x, 0, 1)


def reverse_sequences(x, lengths):
    """Each row of ``x [B, T, ...]`` with its first ``lengths[b]`` steps reversed in place and the
    rest left as they are (``tf.reverse_sequence``)."""
    steps = ops.shape(x)[1]
    t = ops.arange(steps)[None, :]
    lengths = ops.cast(lengths, "int32")[:, None]
    index = ops.where(t < lengths, lengths - 1 - t, t)
    return ops.take_along_axis(x, ops.expand_dims(index, -1), axis=1)

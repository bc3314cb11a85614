"""Drawing with a model: the whole autoregressive loop as one compiled graph, batched.

A :class:`Sampler` draws with one model: ``sample`` (from the prior, or from given codes), ``complete``
(continue the start of a drawing), ``encode`` (drawings -> codes) and ``decode`` (codes -> drawings).
Each step of its loop is the model's own :meth:`~sketch_rnn.model.SketchRNN.decode_step` (the encoder:
the model's cells and :meth:`~sketch_rnn.model.SketchRNN.latent_code`); the sampler chooses the next
pen row from the step's mixture outputs and owns its compiled loops and their caches. The module's
functions (``sample(model, ...)`` and so on) use one sampler per model.

``sample(model, n)`` draws ``n`` drawings in one call. Each step feeds the previous row back (with
``z`` when conditional); the loop stops as soon as every drawing has emitted end-of-sketch, and never
runs past ``max_len`` steps.

Temperature conventions (``convention=``; the default is the model's
``config.temperature_convention``):

* ``"reference"`` (magenta's Python ``sample``): mixture weights and pen probabilities are
  re-normalised as ``softmax(log p / tau)``; the chosen Gaussian's sigmas are multiplied by ``tau``.
* ``"browser"`` (the paper and sketch-rnn-js): sigmas are multiplied by ``sqrt(tau)`` and the
  softmaxes use a separate temperature, ``pdf_temperature`` (default ``0.5 + 0.5 tau``).

``greedy=True`` takes the most likely component and pen state and the component's mean, as the
reference's ``greedy_mode``. Results are reproducible for a given ``seed`` (and batch size: small
batches run XLA-compiled, see :class:`~sketch_rnn.runtime.RuntimeOptions`). The first input row is
the model's ``config.start_token``.

Example:
    >>> from sketch_rnn.config import ModelConfig
    >>> from sketch_rnn.model import SketchRNN, read_weights_once
    >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    >>> drawings = sample(model, n=3, temperature=0.5, seed=1, max_len=20)
    >>> len(drawings), drawings[0].shape[1]
    (3, 3)
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from sketch_rnn.config import TEMPERATURE_CONVENTIONS
from sketch_rnn.losses import mixture_params
from sketch_rnn.model import SketchRNN, read_weights_once
from sketch_rnn.runtime import RuntimeOptions, resolve
from sketch_rnn.strokes import check_drawing, pad_batch, to_data_units, to_model_units, to_stroke3, to_stroke5

CONVENTIONS = TEMPERATURE_CONVENTIONS


class SampleResult(NamedTuple):
    """Raw sampler output: stroke-5 rows ``[B, T, 5]``, lengths (rows up to and including the
    end-of-sketch row, or T), and the per-step raw decoder outputs ``[B, T, 3+6M]``."""

    strokes5: np.ndarray
    lengths: np.ndarray
    raw: np.ndarray

    def params(self, num_mixture: int) -> dict[str, np.ndarray]:
        """Per-step mixture parameters (``pi``, ``mu1``, ..., ``pen``) as numpy arrays."""
        return {k: keras.ops.convert_to_numpy(v) for k, v in mixture_params(self.raw, num_mixture).items()}

    def drawings(self) -> list[np.ndarray]:
        """The stroke-3 drawings (model units), each up to its end-of-sketch row."""
        return [to_stroke3(s[:n], reference_quirk=False)
                for s, n in zip(self.strokes5, self.lengths, strict=True)]


class Sampler:
    """Draws with one model; owns the compiled loops (one per greedy / buffer size / XLA / lanes),
    the compiled encoder and the primer, and their caches.

    Args:
        model: a :class:`~sketch_rnn.model.SketchRNN`.
        runtime: the loops' speed choices (XLA below a batch size, lanes, encoder unrolling); the
            drawings depend on them only through XLA's float rounding.

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> from sketch_rnn.model import SketchRNN, read_weights_once
        >>> config = ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2)
        >>> sampler = Sampler(SketchRNN(config))
        >>> drawings = sampler.sample(3, temperature=0.5, seed=0, max_len=20)
        >>> len(drawings), all(d.shape[1] == 3 and len(d) <= 20 for d in drawings)
        (3, True)
        >>> same = sampler.sample(3, temperature=0.5, seed=0, max_len=20)   # seeded: reproducible
        >>> all(np.array_equal(a, b) for a, b in zip(drawings, same))
        True
    """

    def __init__(self, model: SketchRNN, runtime: RuntimeOptions | None = None):
        if not isinstance(model, SketchRNN):
            raise TypeError(f"Sampler: expected a SketchRNN, got {type(model).__name__}")
        self.model = model
        self.runtime = resolve(runtime)
        self._compiled: dict = {}

    # -- drawing from the decoder ----------------------------------------------------------------

    def sample(self, n: int = 1, *, z=None, temperature: float = 1.0, greedy: bool = False,
               convention: str | None = None, pdf_temperature: float | None = None,
               max_len: int | None = None, seed: int | None = None, early_stop: bool = True,
               return_raw: bool = False,
               start_token=None, jit_compile: bool | None = None):
        """Draw ``n`` drawings; returns a list of stroke-3 arrays (model units).

        Args:
            n: number of drawings (ignored when ``z`` is given: one per row of ``z``).
            z: latent codes ``[n, z_size]`` for a conditional model; ``None`` draws ``z ~ N(0, I)``.
            temperature: ``tau > 0``, finite; see the module docstring for the two conventions.
            greedy: argmax component and pen state, offsets at the component mean (the temperature
                is then unused: 0 is accepted).
            convention: ``"reference"`` or ``"browser"`` (default: the model's).
            pdf_temperature: softmax temperature for the browser convention (default ``0.5 + 0.5 tau``).
            max_len: most steps to run (default ``config.max_seq_len``).
            seed: makes the draw reproducible.
            early_stop: stop once every drawing has ended (``False`` runs all ``max_len`` steps and
                keeps feeding rows after the end, as the reference does).
            return_raw: also return the :class:`SampleResult` (stroke-5 rows and decoder outputs).
            start_token: the first input row (default: the model's ``config.start_token``).
            jit_compile: XLA-compile the loop (``None``: as the runtime options say).
        """
        result = self.strokes5(n, z=z, temperature=temperature, greedy=greedy, convention=convention,
                               pdf_temperature=pdf_temperature, max_len=max_len, seed=seed,
                               early_stop=early_stop, start_token=start_token, jit_compile=jit_compile)
        drawings = result.drawings()
        return (drawings, result) if return_raw else drawings

    def strokes5(self, n: int = 1, *, z=None, temperature: float = 1.0, greedy: bool = False,
                 convention: str | None = None, pdf_temperature: float | None = None,
                 max_len: int | None = None, seed: int | None = None, early_stop: bool = True,
                 start_token=None, initial_state=None, start_rows=None,
                 jit_compile: bool | None = None) -> SampleResult:
        """Like :meth:`sample` but returns the raw stroke-5 rows, lengths and decoder outputs.

        ``initial_state`` (flat ``[n, state_size]``) and ``start_rows`` (``[n, 5]``, the first input
        of each drawing, overriding ``start_token``) continue a primed decoder, as :meth:`complete`
        does.
        """
        model = self.model
        config = model.config
        convention = config.temperature_convention if convention is None else convention
        start_token = config.start_token if start_token is None else start_token
        if convention not in CONVENTIONS:
            raise ValueError(f"convention={convention!r}: expected one of {CONVENTIONS}")
        temperature = _temperature("temperature", temperature, greedy)
        if pdf_temperature is None:
            pdf_temperature = temperature if convention == "reference" else 0.5 + 0.5 * temperature
        pdf_temperature = _temperature("pdf_temperature", pdf_temperature, greedy)
        sigma_scale = temperature if convention == "reference" else float(np.sqrt(temperature))
        max_len = config.max_seq_len if max_len is None else _count("max_len", max_len)
        if z is None:
            n = _count("n", n)
        seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
        rng = np.random.default_rng(seed)
        z_t, n = _latent(config, z, n, rng, repeat_single=False)
        if n <= 0:
            raise ValueError("z: no latent codes given (shape [0, z_size])")
        if initial_state is None:
            state = None  # made from z inside the compiled loop (eagerly, its few ops cost ~5% of a sketch)
        else:
            state = tf.convert_to_tensor(initial_state, tf.float32)
            if tuple(state.shape) != (n, model.decoder.state_size):
                raise ValueError(f"initial_state has shape {tuple(state.shape)}: expected "
                                 f"[{n}, {model.decoder.state_size}]")
        if start_rows is None:
            start = np.broadcast_to(np.asarray(start_token, np.float32), (n, 5))
        else:
            start = np.asarray(start_rows, np.float32)
            if start.ndim == 1:
                start = np.broadcast_to(start, (n, 5))
            if start.shape != (n, 5):
                raise ValueError(f"start_rows has shape {start.shape}: expected [{n}, 5]")
        jit = self.runtime.sampler_uses_jit(n) if jit_compile is None else bool(jit_compile)
        fn = self._loop(bool(greedy), _buffer_len(max_len) if jit else None, jit, self._lanes(n, jit))
        strokes, lengths, raw = fn(
            tf.constant(start), z_t, state, tf.constant(max_len), tf.constant(pdf_temperature, tf.float32),
            tf.constant(sigma_scale, tf.float32), tf.constant(early_stop),
            tf.constant([seed % (2**31), seed // (2**31) % (2**31)], tf.int64),
        )
        lengths = lengths.numpy()
        # The XLA loop has a static buffer; the steps run are max_len without early stopping, else up
        # to the last drawing's end.
        steps = max_len if not early_stop else int(lengths.max())
        return SampleResult(strokes.numpy()[:, :steps], lengths, raw.numpy()[:, :steps])

    def complete(self, prefix, n: int = 1, *, units: str = "model", temperature: float = 1.0,
                 seed: int | None = None, z=None, max_len: int | None = None, greedy: bool = False,
                 convention: str | None = None, pdf_temperature: float | None = None,
                 start_token=None, early_stop: bool = True, return_raw: bool = False,
                 jit_compile: bool | None = None):
        """Continue the start of a drawing ``n`` ways in one batched call (the browser demos' trick).

        The decoder is primed by running it, in one compiled pass, over the start token and the
        prefix rows (stroke-5) but the last; the sampling loop then starts from that state with the
        last prefix row as its first input, for all ``n`` alternatives at once.

        Args:
            prefix: the start of a drawing, stroke-3 ``[L, 3]`` (``L >= 1``, finite values).
            n: number of alternatives (ignored when ``z`` has one row per alternative).
            units: ``"model"`` (normalised offsets, as the model sees them) or ``"pixels"`` (data
                units: divided by the model's ``config.scale_factor`` before priming; the
                continuation is scaled back).
            temperature, greedy, convention, pdf_temperature, start_token, seed: as in :meth:`sample`.
            z: for a conditional model, ``[z_size]`` (shared by all alternatives) or ``[n, z_size]``;
                ``None`` draws one ``z ~ N(0, I)`` per alternative.
            max_len: most new points per alternative (default ``max_seq_len`` minus the prefix
                length, at least 1); sampling stops there even if no end-of-sketch was drawn.
            early_stop: stop as soon as every alternative has ended.
            return_raw: also return the :class:`SampleResult` of the continuation.
            jit_compile: XLA-compile the sampling loop (``None``: as the runtime options say).

        Returns:
            ``n`` stroke-3 arrays, each the prefix exactly as given (float32) followed by its
            continuation, in the units of ``prefix``.
        """
        model = self.model
        config = model.config
        prefix3 = check_drawing(prefix, "prefix")
        factor = _unit_factor(model, units)
        _temperature("temperature", temperature, greedy)
        n = _count("n", n)
        if max_len is not None:
            max_len = _count("max_len", max_len)
        rng = np.random.default_rng(seed)
        z_t, n = _latent(config, z, n, rng, repeat_single=True)
        # The primer and the sampler both take the checked codes (one per alternative).
        z, z_t = (z_t.numpy(), z_t) if config.conditional else (None, None)
        if max_len is None:
            max_len = max(config.max_seq_len - len(prefix3), 1)
        start_token = config.start_token if start_token is None else start_token
        rows = to_stroke5(prefix3 if factor == 1.0 else to_model_units(prefix3, factor), len(prefix3))
        inputs = np.concatenate([np.asarray(start_token, np.float32)[None], rows[:-1]])
        inputs = np.broadcast_to(inputs[None], (n,) + inputs.shape)
        state = self._primer()(tf.constant(inputs), z_t)
        result = self.strokes5(
            n, z=z, temperature=temperature, greedy=greedy, convention=convention,
            pdf_temperature=pdf_temperature, max_len=max_len, seed=seed, early_stop=early_stop,
            initial_state=state, start_rows=rows[-1], jit_compile=jit_compile,
        )
        out = []
        for cont in result.drawings():
            if factor != 1.0:
                cont = to_data_units(cont, factor)
            out.append(np.concatenate([prefix3, cont]))
        return (out, result) if return_raw else out

    def decode(self, z, **kwargs) -> list[np.ndarray]:
        """Draw one drawing per latent code in ``z`` (``sample(z=z, **kwargs)``)."""
        return self.sample(z=z, **kwargs)

    # -- encoding --------------------------------------------------------------------------------

    def encode(self, drawings, *, sample_z: bool = False, seed: int | None = None, batch_size: int = 100,
               jit_compile: bool | None = None) -> np.ndarray:
        """Latent codes ``[n, z_size]`` of stroke-3 drawings in model units (normalised offsets).

        Returns ``mu`` by default, or ``z = mu + sigma * eps`` with ``sample_z`` (what the reference
        notebook's ``encode`` returns). Drawings are processed ``batch_size`` at a time. With XLA
        (``jit_compile``; by default for small batches) the two directions run as two compiled loops
        side by side (see :meth:`_encoder`), each stopping at the batch's longest drawing; inputs
        are padded to a power of two at least 64, so that few sizes compile. Otherwise each batch is
        padded to its own longest drawing and run through the model's ``posterior``.

        The codes are the encoder's, also for browser models with ``z_tanh`` set: sketch-rnn-js's
        ``encode`` returns ``z`` as is and applies ``tanh`` only when making the decoder's initial
        state, which the model does.
        """
        if not self.model.config.conditional:
            raise ValueError("this model is unconditional (decoder only): it cannot encode drawings")
        batch_size = _count("batch_size", batch_size)
        drawings = [check_drawing(d, f"drawing {i}") for i, d in enumerate(drawings)]
        if not drawings:
            raise ValueError("encode: no drawings given")
        out = []
        for start in range(0, len(drawings), batch_size):
            chunk = drawings[start : start + batch_size]
            lengths = np.array([len(d) for d in chunk], np.int32)
            jit = self.runtime.sampler_uses_jit(len(chunk)) if jit_compile is None else bool(jit_compile)
            if jit:
                rows = _encoder_rows(chunk, _buffer_len(lengths.max()))
                mu, presig = self._encoder(True)(tf.constant(rows))
            else:
                x = pad_batch(chunk, int(lengths.max()))
                mu, presig = self._encoder(False)(tf.constant(x), tf.constant(lengths))
            out.append((mu.numpy(), presig.numpy()))
        mu = out[0][0] if len(out) == 1 else np.concatenate([m for m, _ in out])
        if sample_z:
            presig = out[0][1] if len(out) == 1 else np.concatenate([p for _, p in out])
            rng = np.random.default_rng(seed)
            mu = mu + np.exp(presig / 2.0) * rng.standard_normal(mu.shape).astype(np.float32)
        return mu

    # -- the compiled functions ------------------------------------------------------------------

    def _lanes(self, n: int, jit: bool) -> int:
        """Batches of at least ``lane_min_batch`` drawings run the graph-mode loop as independent
        lanes: two half-batch chains of small ops side by side on two cores, and two half-size
        matmuls, which a 2-core CPU runs faster than one full-size one."""
        if jit or n < self.runtime.lane_min_batch:
            return 1
        if self.runtime.lanes is not None:
            return int(self.runtime.lanes)
        from sketch_rnn.fast.fused import default_lanes

        return default_lanes()

    def _loop(self, greedy: bool, buffer_len: int | None, jit: bool, lanes: int):
        """One compiled loop per (greedy, buffer size, XLA or not, lanes); XLA needs a static buffer."""
        key = ("loop", greedy, buffer_len if jit else None, jit, lanes)
        if key not in self._compiled:
            model = self.model

            def loop(*args):
                with read_weights_once(model):
                    return _loop(model, greedy, *args, buffer_len=buffer_len if jit else None, lanes=lanes)

            self._compiled[key] = tf.function(loop, reduce_retracing=True, jit_compile=jit)
        return self._compiled[key]

    def _primer(self):
        """The model's ``decode_sequence`` over the priming rows, compiled once; returns the final
        flat state."""
        if "prime" not in self._compiled:
            model, runtime = self.model, self.runtime

            def prime(inputs, z):
                state = model.initial_state(z, tf.shape(inputs)[0])
                return model.decode_sequence(inputs, z, state, runtime=runtime)[1]

            self._compiled["prime"] = tf.function(prime, reduce_retracing=True)
        return self._compiled["prime"]

    def _encoder(self, jit: bool = True):
        """The encoder, compiled: ``fn(rows) -> (mu, presig)`` with XLA (``rows`` from
        :func:`_encoder_rows`), else the model's ``posterior`` as a graph, ``fn(x, lengths)``.

        With XLA the forward and backward directions are two separately compiled loops called from
        one plain graph: they do not depend on each other, so the graph executor runs them at the
        same time on two inter-op threads. At batch 1 each step is bound by reading the direction's
        recurrent matrix (1 MB at 256 units), so this about halves the time on a 2-core CPU, where
        one XLA function runs its loops one after the other on one core.
        """
        key = ("encode", jit)
        if key in self._compiled:
            return self._compiled[key]
        model, unroll = self.model, self.runtime.encoder_unroll
        if jit:
            directions = [
                tf.function(lambda rows, cell=cell, i=i: _encoder_direction(cell, rows[i], unroll),
                            jit_compile=True)
                for i, cell in enumerate((model.enc_fw, model.enc_bw))]

            def enc(rows):
                return model.latent_code(tf.concat([directions[0](rows), directions[1](rows)], axis=-1))

            self._compiled[key] = tf.function(enc)
        else:
            runtime = self.runtime
            self._compiled[key] = tf.function(lambda x, n: model.posterior(x, n, runtime=runtime),
                                              reduce_retracing=True)
        return self._compiled[key]


# -- one sampler per model, for the module's functions ---------------------------------------------

_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sampler_for(model: SketchRNN) -> Sampler:
    """The sampler the module's functions use for ``model`` (made on first use, kept while the
    model lives, so its compiled loops are reused)."""
    sampler = _SAMPLERS.get(model)
    if sampler is None:
        sampler = _SAMPLERS[model] = Sampler(model)
    return sampler


def sample(model: SketchRNN, n: int = 1, **kwargs) -> list[np.ndarray]:
    """Draw ``n`` drawings with ``model``; see :meth:`Sampler.sample`.

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> drawings = sample(model, n=3, temperature=0.5, seed=0, max_len=20)
        >>> len(drawings), all(d.shape[1] == 3 and len(d) <= 20 for d in drawings)
        (3, True)
    """
    return sampler_for(model).sample(n, **kwargs)


def sample_strokes5(model: SketchRNN, n: int = 1, **kwargs) -> SampleResult:
    """Raw stroke-5 rows, lengths and decoder outputs; see :meth:`Sampler.strokes5`.

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> result = sample_strokes5(model, 2, seed=0, max_len=10, early_stop=False)
        >>> result.strokes5.shape, result.raw.shape
        ((2, 10, 5), (2, 10, 15))
    """
    return sampler_for(model).strokes5(n, **kwargs)


def complete(model: SketchRNN, prefix, n: int = 1, **kwargs) -> list[np.ndarray]:
    """Continue the start of a drawing ``n`` ways; see :meth:`Sampler.complete`.

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> prefix = np.array([[1.0, 0.0, 0], [0.0, 1.0, 1]])
        >>> out = complete(model, prefix, n=3, temperature=0.5, seed=0, max_len=10)
        >>> len(out), bool(all((o[:2] == prefix).all() for o in out))
        (3, True)
    """
    return sampler_for(model).complete(prefix, n, **kwargs)


def encode(model: SketchRNN, drawings, **kwargs) -> np.ndarray:
    """Latent codes ``[n, z_size]`` of stroke-3 drawings in model units; see :meth:`Sampler.encode`.

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> encode(model, [np.array([[1.0, 0.5, 0], [0.2, 0.1, 1]])]).shape
        (1, 4)
    """
    return sampler_for(model).encode(drawings, **kwargs)


def decode(model: SketchRNN, z, **kwargs) -> list[np.ndarray]:
    """Draw one drawing per latent code in ``z`` (``sample(model, z=z, **kwargs)``).

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> len(decode(model, np.zeros([2, 4]), temperature=0.1, seed=0, max_len=5))
        2
    """
    return sampler_for(model).decode(z, **kwargs)


# -- helpers -------------------------------------------------------------------------------------


def _count(name: str, value, least: int = 1) -> int:
    """``value`` as an int ``>= least`` (a whole float is fine), else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating) \
            or not np.isfinite(value) or value != int(value) or value < least:
        raise ValueError(f"{name}={value!r}: must be an integer >= {least}")
    return int(value)


def _temperature(name: str, value, greedy: bool) -> float:
    """A checked temperature: a finite number, > 0 when sampling. Greedy decoding ignores it, so 0
    (the usual spelling of "no randomness") is accepted there, but not a negative or NaN value,
    which is a caller's mistake whichever mode runs."""
    try:
        tau = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: must be a number") from None
    if greedy and tau == 0:
        return tau
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"{name}={value!r}: must be a finite number > 0")
    return tau


def _unit_factor(model: SketchRNN, units: str) -> float:
    if units == "model":
        return 1.0
    if units in ("pixels", "pixel", "data"):
        try:
            return model.config.units_per_model_unit()
        except ValueError as e:
            raise ValueError(f"units={units!r}: {e}") from None
    raise ValueError(f"units={units!r}: expected 'model' or 'pixels'")


def _buffer_len(max_len: int) -> int:
    """Static output buffer size for ``max_len`` steps: a few sizes only, so few compiles."""
    return max(64, 1 << (int(max_len) - 1).bit_length())


def _loop(model, greedy, start, z, state, max_len, pdf_temp, sigma_scale, early_stop, seed,
          buffer_len=None, lanes=1):
    """The sampling loop. Outputs have as many rows as steps run, or ``buffer_len`` rows when it
    is given (static shapes for XLA; the rows after the last step run are then zeros).

    With ``lanes`` > 1 the batch is cut into that many contiguous parts, each running its own
    chain of ops; the random numbers of a step are drawn for the whole batch and then cut, so the
    result does not depend on the lanes."""
    config, cell = model.config, model.decoder
    m = config.num_mixture
    n = tf.shape(start)[0]
    static = buffer_len is not None
    if state is None:
        state = model.initial_state(z if config.conditional else None, n)
    context = model.decoder_context(z) if config.conditional else None
    bounds = [0] if lanes == 1 else [(n * i) // lanes for i in range(lanes)]
    bounds.append(n)
    parts = list(zip(bounds[:-1], bounds[1:], strict=True))

    def lane(prev, s, ctx, noise):
        """One step of one lane: its next rows, pen states, state and decoder outputs."""
        raw, s = model.decode_step(prev, s, ctx)
        return (*_next_row(raw, m, greedy, noise, pdf_temp, sigma_scale), s, raw)

    if not greedy:
        # Every step's random numbers drawn before the loop, in three calls: drawn step by step
        # (a seed folded in per step), their dozen small kernels cost a one-drawing step ~15% more.
        seeds = tf.random.experimental.stateless_split(seed, 3)
        rows_n = start.shape[0] or n  # (static when known: the loop's shapes stay static)
        steps_n = buffer_len if static else max_len
        all_noise = (_uniform([steps_n, rows_n, m], seeds[0]), _uniform([steps_n, rows_n, 3], seeds[1]),
                     tf.random.stateless_normal([steps_n, 2, rows_n], seeds[2]))

    def body(t, prevs, states, done, lengths, rows_ta, raw_ta):
        noise = None if greedy else tuple(a[t] for a in all_noise)
        outs = []
        for i, (lo, hi) in enumerate(parts):
            ctx, lane_noise = context, noise
            if lanes > 1:
                ctx = None if context is None else tuple(a[lo:hi] for a in context)
                lane_noise = None if noise is None else (noise[0][lo:hi], noise[1][lo:hi], noise[2][:, lo:hi])
            outs.append(lane(prevs[i], states[i], ctx, lane_noise))
        rows, pens, states, raws = zip(*outs, strict=True)
        row, raw, pen_idx = (a[0] if lanes == 1 else tf.concat(a, 0) for a in (rows, raws, pens))
        # Rows after a drawing's end are padding in the output; with early_stop off the loop keeps
        # feeding the model's own rows back, as the reference does.
        out_row = tf.where(done[:, None] & early_stop, tf.constant([[0.0, 0, 0, 0, 1]]), row)
        lengths = tf.where(done, lengths, t + 1)
        done = done | tf.equal(pen_idx, 2)
        return t + 1, rows, states, done, lengths, rows_ta.write(t, out_row), raw_ta.write(t, raw)

    def cond(t, prev, s, done, *_):
        return (t < max_len) & ~(early_stop & tf.reduce_all(done))

    def array(width):
        if static:
            return tf.TensorArray(tf.float32, size=buffer_len, element_shape=tf.TensorShape([None, width]))
        return tf.TensorArray(tf.float32, size=0, dynamic_size=True)

    flat = cell.split_state(state)
    # (a lane's row count is only known at run time; with one lane the tensors stay as they are)
    cut = (lambda a, lo, hi: a) if lanes == 1 else (lambda a, lo, hi: _any_rows(a[lo:hi]))
    prevs = tuple(cut(start, lo, hi) for lo, hi in parts)
    states = tuple(tuple(cut(a, lo, hi) for a in flat) for lo, hi in parts)
    init = (tf.constant(0), prevs, states, tf.zeros([n], tf.bool), tf.zeros([n], tf.int32),
            array(5), array(config.output_size))
    _, _, _, _, lengths, rows_ta, raw_ta = tf.while_loop(cond, body, init, maximum_iterations=buffer_len)
    rows = tf.transpose(rows_ta.stack(), [1, 0, 2])
    raw = tf.transpose(raw_ta.stack(), [1, 0, 2])
    return rows, lengths, raw


def _any_rows(v: tf.Tensor) -> tf.Tensor:
    """``v`` with its static row count forgotten (a lane's slice of a batch of known size has a
    static row count that the loop body's tensors, sliced with run-time bounds, do not)."""
    return tf.raw_ops.PlaceholderWithDefault(input=v, shape=tf.TensorShape([None]).concatenate(v.shape[1:]))


def _next_row(raw, m, greedy, noise, pdf_temp, sigma_scale):
    """The next stroke-5 row ``[n, 5]`` and pen state ``[n]`` drawn from the decoder's outputs.

    Only the drawn component's parameters are transformed. The mixture weights need no softmax:
    ``softmax(log(softmax(x)) / tau) = softmax(x / tau)``, and the Gumbel-max draw (or greedy's
    argmax) is unchanged by the normalising constant. (At batch 1 each of the XLA loop's kernels
    costs about as much as its arithmetic, so fewer is faster.)
    """
    pen_logits = raw[:, :3]
    pi_logits = raw[:, 3 : 3 + m]
    if greedy:
        idx = tf.argmax(pi_logits, axis=-1, output_type=tf.int32)
        pen_idx = tf.argmax(pen_logits, axis=-1, output_type=tf.int32)
    else:
        u_pi, u_pen, e = noise
        idx = _gumbel_argmax(pi_logits / pdf_temp, u_pi)
        pen_idx = _gumbel_argmax(pen_logits / pdf_temp, u_pen)
    # [n, 5, m]: mu1, mu2, log sigma1, log sigma2, corr, in losses.split_raw's layout (the reference's),
    # gathered at once; test_greedy_takes_argmax_component_mean_and_argmax_pen checks they agree.
    comp = tf.gather(tf.reshape(raw[:, 3 + m :], [-1, 5, m]), idx, axis=2, batch_dims=1)
    mu = comp[:, :2]
    if greedy:
        offset = mu
    else:
        s1, s2 = tf.exp(comp[:, 2]) * sigma_scale, tf.exp(comp[:, 3]) * sigma_scale
        rho = tf.tanh(comp[:, 4])
        offset = mu + tf.stack([s1 * e[0], s2 * (rho * e[0] + tf.sqrt(1.0 - tf.square(rho)) * e[1])], 1)
    return tf.concat([offset, tf.one_hot(pen_idx, 3)], axis=1), pen_idx


def _uniform(shape, seed):
    """Uniform draws in ``(0, 1)`` for :func:`_gumbel_argmax` (never 0: ``log`` stays finite)."""
    return tf.random.stateless_uniform(shape, seed, minval=np.finfo(np.float32).tiny, maxval=1.0)


def _gumbel_argmax(logits, u):
    """One draw per row from ``softmax(logits)`` given uniforms ``u`` of the same shape, by the
    Gumbel-max trick (``argmax(logits + G)``, ``G = -log(-log u)``): exact, and unlike
    ``stateless_categorical`` it compiles with XLA."""
    return tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)


def _encoder_rows(drawings: list[np.ndarray], width: int) -> np.ndarray:
    """Time-major stroke-5 encoder inputs of both directions ``[2, width, B, 5]`` for stroke-3
    drawings: the rows as ``pad_batch`` makes them (without the start token), and each drawing's
    rows reversed in place for the backward direction (``tf.reverse_sequence`` of the reference,
    done here at no cost). Rows past a drawing's end are end-of-sketch rows ``(0, 0, 0, 0, 1)``,
    which is how the compiled loops find the lengths (one input tensor: at batch 1 each converted
    argument costs about as much as tens of loop steps)."""
    fw = pad_batch(drawings, width)[:, 1:]
    lengths = np.array([len(d) for d in drawings])[:, None]
    t = np.arange(width)[None, :]
    bw = np.take_along_axis(fw, np.where(t < lengths, lengths - 1 - t, t)[..., None], axis=1)
    return np.stack([fw, bw]).transpose(0, 2, 1, 3).copy()


def _encoder_direction(cell, rows, unroll: int):
    """One encoder direction for inference: the final output ``[B, units]`` of ``cell`` run over
    time-major rows ``[T, B, 5]``, each drawing stopping at its length (its rows before the first
    end-of-sketch row, see :func:`_encoder_rows`).

    The loop runs to the longest length, not the padded T (a data-dependent trip count compiles with
    XLA; only the final state is needed, so no TensorArray); the input projections of all steps are
    one matmul before it, so a step is the recurrent product and the gate maths only. ``unroll``
    steps per iteration (2: about 7% faster at 256 units than one, the loop's own overhead), the
    extra steps of the last iteration masked out.
    """
    batch = rows.shape[1]
    lengths = tf.reduce_sum(tf.cast(rows[:, :, 4] == 0.0, tf.int32), axis=0)
    proj = cell.project(rows)

    def body(t, state):
        for k in range(unroll):
            # XLA clamps an index past T (a length of exactly T), and that step is masked out.
            _, new = cell.step(tuple(p[t + k] for p in proj), state)
            # dynamic_rnn semantics: past its length a drawing's state is carried unchanged.
            keep = (t + k < lengths)[:, None]
            state = tuple(tf.where(keep, a, b) for a, b in zip(new, state, strict=True))
        return t + unroll, state

    steps = tf.reduce_max(lengths)
    _, state = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), cell.zero_state(batch)))
    return cell.output(state)


def _latent(config, z, n: int, rng: np.random.Generator, repeat_single: bool):
    """Checked latent codes as a tensor ``[n, z_size]`` (``[n, 0]`` when unconditional), and n.

    ``z=None`` draws ``z ~ N(0, I)``; with ``repeat_single`` one code serves all ``n`` drawings.
    """
    if not config.conditional:
        if z is not None:
            raise ValueError("this model is unconditional: it takes no z")
        return tf.zeros([n, 0]), n
    if z is None:
        z = rng.standard_normal((n, config.z_size)).astype(np.float32)
    z = np.asarray(z, np.float32)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != config.z_size:
        expected = f"[{config.z_size}] or [n, {config.z_size}]" if repeat_single else f"[n, {config.z_size}]"
        raise ValueError(f"z has shape {z.shape}: expected {expected} for this model")
    if not np.isfinite(z).all():
        raise ValueError("z contains NaN or infinite values")
    if repeat_single and z.shape[0] == 1:
        z = np.repeat(z, n, axis=0)
    return tf.constant(z), z.shape[0]

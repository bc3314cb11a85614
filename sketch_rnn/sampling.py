"""Drawing with a model: the whole autoregressive loop as one compiled function, batched, on any backend.

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
reference's ``greedy_mode``. The first input row is the model's ``config.start_token``.

The loops here (:func:`_sample_loop`, :func:`_encode_rows`) are written in ``keras.ops`` and are the
reference: each is compiled as one function of the model's current weights
(:func:`sketch_rnn.backend.function`: ``jax.jit`` on JAX, a ``tf.function`` on TensorFlow, XLA-compiled
for small batches, see :class:`~sketch_rnn.runtime.RuntimeOptions`). On TensorFlow the sampler runs
:mod:`sketch_rnn.fast.sampler`'s loops instead by default (``RuntimeOptions(sampler=...)``), which
draw the same drawings faster there. On JAX the loops are always ``jax.jit``-compiled: the
``jit_compile`` arguments are accepted and ignored.

Random numbers: every step's noise is drawn before the loop from the call's ``seed``
(:func:`sketch_rnn.backend.uniform` / :func:`~sketch_rnn.backend.normal`, one stream per purpose).
Results are reproducible for a given ``seed``, batch size and ``max_len`` on one backend (and, on
TensorFlow, whether XLA runs, which changes float rounding); the two backends draw different
numbers, so different drawings, from the same seed.

Example:
    >>> from sketch_rnn.config import ModelConfig
    >>> from sketch_rnn.model import SketchRNN
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
from keras import ops

from sketch_rnn import backend
from sketch_rnn.config import TEMPERATURE_CONVENTIONS
from sketch_rnn.losses import mixture_params
from sketch_rnn.model import SketchRNN
from sketch_rnn.runtime import RuntimeOptions, resolve
from sketch_rnn.strokes import check_drawing, pad_batch, to_data_units, to_model_units, to_stroke3, to_stroke5

CONVENTIONS = TEMPERATURE_CONVENTIONS
#: A drawing's output rows after its end (with early stopping): end-of-sketch padding.
END_ROW = (0.0, 0.0, 0.0, 0.0, 1.0)


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
    """Draws with one model; owns the compiled loops (one per greedy / buffer size / XLA, and lanes
    on TensorFlow), the compiled encoder and the primer, and their caches.

    Args:
        model: a :class:`~sketch_rnn.model.SketchRNN`.
        runtime: the loops' speed choices (the reference loops or :mod:`sketch_rnn.fast.sampler`'s,
            XLA below a batch size, lanes, encoder unrolling); the drawings depend on them only
            through float rounding (XLA's, and that of the lanes' smaller products).

    Example:
        >>> from sketch_rnn.config import ModelConfig
        >>> from sketch_rnn.model import SketchRNN
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
        self._fast = self.runtime.uses_fast_sampler()
        if self._fast and keras.backend.backend() != "tensorflow":
            raise ValueError(f"RuntimeOptions(sampler='fast') runs on TensorFlow only, not on the "
                             f"{keras.backend.backend()} backend")
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
            jit_compile: on TensorFlow, XLA-compile the loop (``None``: as the runtime options say);
                ignored on JAX, where the loop is always ``jax.jit``-compiled.
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
        z, n = _latent(config, z, n, rng, repeat_single=False)
        if n <= 0:
            raise ValueError("z: no latent codes given (shape [0, z_size])")
        if initial_state is None:
            state = None  # made from z inside the compiled loop (eagerly, its few ops cost ~5% of a sketch)
        else:
            state = ops.convert_to_tensor(initial_state, "float32")
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
        fn = self._loop(bool(greedy), _buffer_len(max_len), self._jit(n, jit_compile), n)
        scalars = (np.asarray(max_len, np.int32), np.asarray(pdf_temperature, np.float32),
                   np.asarray(sigma_scale, np.float32), np.asarray(early_stop))
        strokes, lengths, raw = fn(np.ascontiguousarray(start), z, state, *scalars, _seed_words(seed))
        lengths = ops.convert_to_numpy(lengths)
        # The outputs may have a static buffer's rows; the steps run are max_len without early
        # stopping, else up to the last drawing's end.
        steps = max_len if not early_stop else int(lengths.max())
        return SampleResult(ops.convert_to_numpy(strokes)[:, :steps], lengths,
                            ops.convert_to_numpy(raw)[:, :steps])

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
            jit_compile: as in :meth:`sample`.

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
        z, n = _latent(config, z, n, rng, repeat_single=True)
        # The primer and the sampler both take the checked codes (one per alternative).
        z = z if config.conditional else None
        if max_len is None:
            max_len = max(config.max_seq_len - len(prefix3), 1)
        start_token = config.start_token if start_token is None else start_token
        rows = to_stroke5(prefix3 if factor == 1.0 else to_model_units(prefix3, factor), len(prefix3))
        inputs = np.concatenate([np.asarray(start_token, np.float32)[None], rows[:-1]])
        inputs = np.broadcast_to(inputs[None], (n,) + inputs.shape)
        state = self._primer()(np.ascontiguousarray(inputs), z)
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
        notebook's ``encode`` returns). Drawings are processed ``batch_size`` at a time. The loop over
        the drawings' rows stops at the batch's longest drawing; inputs are padded to a power of two
        at least 64, so that few sizes compile. ``jit_compile`` as in :meth:`sample` (on TensorFlow
        the fast sampler without XLA pads each batch to its own longest drawing and runs the model's
        ``posterior``).

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
            jit = self._jit(len(chunk), jit_compile)
            if self._fast and not jit:
                x = pad_batch(chunk, int(lengths.max()))
                mu, presig = self._encoder(jit)(x, lengths)
            else:
                mu, presig = self._encoder(jit)(_encoder_rows(chunk, _buffer_len(lengths.max())))
            out.append((ops.convert_to_numpy(mu), ops.convert_to_numpy(presig)))
        mu = out[0][0] if len(out) == 1 else np.concatenate([m for m, _ in out])
        if sample_z:
            presig = out[0][1] if len(out) == 1 else np.concatenate([p for _, p in out])
            rng = np.random.default_rng(seed)
            mu = mu + np.exp(presig / 2.0) * rng.standard_normal(mu.shape).astype(np.float32)
        return mu

    # -- the compiled functions ------------------------------------------------------------------

    def _jit(self, n: int, jit_compile: bool | None) -> bool:
        """Whether a call on ``n`` drawings runs XLA-compiled: always on JAX (there is no graph mode
        without compiling), else as ``jit_compile`` or the runtime options say."""
        if keras.backend.backend() == "jax":
            return True
        return self.runtime.sampler_uses_jit(n) if jit_compile is None else bool(jit_compile)

    def _loop(self, greedy: bool, buffer_len: int, jit: bool, n: int):
        """The sampling loop for ``n`` drawings, compiled once per (greedy, buffer size, XLA or not;
        lanes for the fast loop): ``fn(start, z, state, max_len, pdf_temp, sigma_scale, early_stop,
        seed) -> (rows, lengths, raw)``."""
        model = self.model
        if self._fast:
            from sketch_rnn.fast import sampler as fast

            lanes = fast.lanes_for(self.runtime, n, jit)
            key = ("fast loop", greedy, buffer_len, jit, lanes)
            if key not in self._compiled:
                self._compiled[key] = fast.loop_function(model, greedy, buffer_len, jit, lanes, _noise_seeds,
                                                         _draw_noise)
            return self._compiled[key]
        key = ("loop", greedy, buffer_len, jit)
        if key not in self._compiled:
            self._compiled[key] = backend.function(
                lambda *args: _sample_loop(model, greedy, buffer_len, *args), model.weights, jit=jit)
        return self._compiled[key]

    def _primer(self):
        """The model's ``decode_sequence`` over the priming rows ``[n, L, 5]`` (and ``z``), compiled
        once (on JAX once per length ``L``); returns the final flat state."""
        if "prime" not in self._compiled:
            model, runtime = self.model, self.runtime

            def prime(inputs, z):
                state = model.initial_state(z, ops.shape(inputs)[0])
                return model.decode_sequence(inputs, z, state, runtime=runtime)[1]

            # On TensorFlow a graph, which the fused recurrences (runtime.recurrence) run in.
            self._compiled["prime"] = backend.function(prime, model.weights,
                                                       jit=keras.backend.backend() == "jax")
        return self._compiled["prime"]

    def _encoder(self, jit: bool):
        """The encoder, compiled: ``fn(rows) -> (mu, presig)`` for the rows of :func:`_encoder_rows`
        (:func:`_encode_rows`, or the fast sampler's encoder with XLA), or the fast sampler's
        ``fn(x, lengths)`` without XLA (see :func:`sketch_rnn.fast.sampler.encoder_function`)."""
        key = ("encode", self._fast, jit)
        if key not in self._compiled:
            model = self.model
            if self._fast:
                from sketch_rnn.fast import sampler as fast

                self._compiled[key] = fast.encoder_function(model, self.runtime, jit)
            else:
                self._compiled[key] = backend.function(lambda rows: _encode_rows(model, rows), model.weights,
                                                       jit=jit)
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


def _seed_words(seed: int) -> np.ndarray:
    """A call's seed as the two non-negative int32 words of a stateless seed ``[2]``."""
    return np.array([seed % 2**31, seed // 2**31 % 2**31], np.int32)


def _sample_loop(model, greedy, buffer_len, start, z, state, max_len, pdf_temp, sigma_scale, early_stop,
                 seed):
    """The sampling loop: ``(rows [n, buffer_len, 5], lengths [n], raw [n, buffer_len, 3+6M])``.

    Each step feeds the previous row to the model's :meth:`~sketch_rnn.model.SketchRNN.decode_step`
    and chooses the next row (:func:`_next_row`) from the step's noise (:func:`_draw_noise`); the
    loop stops after ``max_len`` steps (``max_len <= buffer_len``) or, with ``early_stop``, once
    every drawing has ended. The outputs have a static number of rows, ``buffer_len``: the rows
    after the last step run are zeros. ``state`` (flat) None starts from ``z``'s initial state.
    """
    config, cell = model.config, model.decoder
    m = config.num_mixture
    n = ops.shape(start)[0]
    if state is None:
        state = model.initial_state(z if config.conditional else None, n)
    context = model.decoder_context(z) if config.conditional else None
    noise = None if greedy else _draw_noise(_noise_seeds(seed), buffer_len, n, m)

    def body(t, prev, state, done, lengths, rows, raws):
        raw, state = model.decode_step(prev, state, context)
        row, pen_idx = _next_row(raw, m, greedy, None if greedy else tuple(a[t] for a in noise),
                                 pdf_temp, sigma_scale)
        # Rows after a drawing's end are padding in the output; with early_stop off the loop keeps
        # feeding the model's own rows back, as the reference does.
        out_row = ops.where(ops.logical_and(done[:, None], early_stop), np.array([END_ROW], np.float32), row)
        lengths = ops.where(done, lengths, t + 1)
        done = ops.logical_or(done, pen_idx == 2)
        rows = ops.slice_update(rows, (t, 0, 0), out_row[None])
        raws = ops.slice_update(raws, (t, 0, 0), raw[None])
        return t + 1, row, state, done, lengths, rows, raws

    def cond(t, prev, state, done, *_):
        return ops.logical_and(t < max_len, ops.logical_not(ops.logical_and(early_stop, ops.all(done))))

    init = (ops.zeros((), "int32"), start, cell.split_state(state), ops.zeros((n,), "bool"),
            ops.zeros((n,), "int32"), ops.zeros((buffer_len, n, 5)),
            ops.zeros((buffer_len, n, config.output_size)))
    _, _, _, _, lengths, rows, raws = ops.while_loop(cond, body, init)
    return ops.swapaxes(rows, 0, 1), lengths, ops.swapaxes(raws, 0, 1)


def _noise_seeds(seed):
    """The seeds ``[3, 2]`` of :func:`_draw_noise`'s three draws, each folded in from the call's
    ``seed`` ``[2]``."""
    return ops.stack([backend.fold_in(seed, k) for k in range(3)])


def _draw_noise(seeds, steps: int, n, m: int):
    """Every step's random numbers, for ``steps`` steps of ``n`` drawings: uniforms for the
    component's and the pen's Gumbel-max draws (``[steps, n, m]``, ``[steps, n, 3]``) and standard
    normals for the offsets (``[steps, 2, n]``), from the three ``seeds`` of :func:`_noise_seeds`.

    Drawn before the loop, in three calls: drawn step by step (a seed folded in per step), their
    dozen small kernels cost a one-drawing step ~15% more. The fast sampler draws with these too.
    """
    return (_uniform([steps, n, m], seeds[0]), _uniform([steps, n, 3], seeds[1]),
            backend.normal([steps, 2, n], seeds[2]))


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
        idx = ops.argmax(pi_logits, axis=-1)
        pen_idx = ops.argmax(pen_logits, axis=-1)
    else:
        u_pi, u_pen, e = noise
        idx = _gumbel_argmax(pi_logits / pdf_temp, u_pi)
        pen_idx = _gumbel_argmax(pen_logits / pdf_temp, u_pen)
    # [n, 5]: mu1, mu2, log sigma1, log sigma2, corr of the drawn component, in losses.split_raw's
    # layout (the reference's); test_greedy_takes_argmax_component_mean_and_argmax_pen checks they
    # agree. Picked by a one-hot product: exact (one term, the rest zeros), and a few ops on every
    # backend where keras.ops.take_along_axis is a dozen on TensorFlow.
    pick = ops.one_hot(idx, m)[:, None, :]
    comp = ops.sum(ops.reshape(raw[:, 3 + m :], (-1, 5, m)) * pick, axis=-1)
    mu = comp[:, :2]
    if greedy:
        offset = mu
    else:
        s1, s2 = ops.exp(comp[:, 2]) * sigma_scale, ops.exp(comp[:, 3]) * sigma_scale
        rho = ops.tanh(comp[:, 4])
        offset = mu + ops.stack([s1 * e[0], s2 * (rho * e[0] + ops.sqrt(1.0 - ops.square(rho)) * e[1])],
                                axis=1)
    return ops.concatenate([offset, ops.one_hot(pen_idx, 3)], axis=1), pen_idx


def _uniform(shape, seed):
    """Uniform draws in ``(0, 1)`` for :func:`_gumbel_argmax` (never 0: ``log`` stays finite)."""
    return backend.uniform(shape, seed, minval=float(np.finfo(np.float32).tiny), maxval=1.0)


def _gumbel_argmax(logits, u):
    """One draw per row from ``softmax(logits)`` given uniforms ``u`` of the same shape, by the
    Gumbel-max trick (``argmax(logits + G)``, ``G = -log(-log u)``): exact, and unlike a categorical
    sampler it compiles with XLA from numbers drawn before the loop."""
    return ops.argmax(logits - ops.log(-ops.log(u)), axis=-1)


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


def _encode_rows(model, rows):
    """The encoder for inference: ``(mu, presig)`` of the drawings in ``rows`` (see
    :func:`_encoder_rows`).

    Each direction's loop runs to the longest drawing, not the padded width (only the final state
    is needed); the input projections of all steps are one matmul before it, so a step is the
    recurrent product and the gate maths only. Past its length a drawing's state is carried
    unchanged (``dynamic_rnn``), as in the model's ``posterior``.
    """
    lengths = ops.sum(ops.cast(rows[0, :, :, 4] == 0.0, "int32"), axis=0)
    steps = ops.max(lengths)
    batch = ops.shape(rows)[2]
    outputs = []
    for cell, direction in ((model.enc_fw, rows[0]), (model.enc_bw, rows[1])):
        proj = cell.project(direction)

        def body(t, state, cell=cell, proj=proj):
            _, new = cell.step(tuple(p[t] for p in proj), state)
            keep = (t < lengths)[:, None]
            return t + 1, tuple(ops.where(keep, a, b) for a, b in zip(new, state, strict=True))

        start = (ops.zeros((), "int32"), cell.zero_state(batch))
        _, state = ops.while_loop(lambda t, _: t < steps, body, start)
        outputs.append(cell.output(state))
    return model.latent_code(ops.concatenate(outputs, axis=-1))


def _latent(config, z, n: int, rng: np.random.Generator, repeat_single: bool):
    """Checked latent codes ``[n, z_size]`` float32 (``[n, 0]`` when unconditional), and n.

    ``z=None`` draws ``z ~ N(0, I)``; with ``repeat_single`` one code serves all ``n`` drawings.
    """
    if not config.conditional:
        if z is not None:
            raise ValueError("this model is unconditional: it takes no z")
        return np.zeros([n, 0], np.float32), n
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
    return z, z.shape[0]

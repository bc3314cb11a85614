"""Configuration objects: what a model computes, how its data is served, how it is trained.

* :class:`ModelConfig` is everything that changes what a :class:`~sketch_rnn.model.SketchRNN`
  computes: cell types and sizes, mixture components, conditional or not, dropout, the loss form,
  and the conventions of the drawings it reads and writes (scale factor, start token, temperature
  convention, ``z_tanh``). It is saved beside the weights (``get_config`` / ``from_config``).
* :class:`DataConfig` is how training data is loaded and served (files, batch size, augmentation).
* :class:`TrainConfig` is the training schedule (steps, KL annealing, learning rate, clipping).

magenta's :class:`~sketch_rnn.hparams.HParams` (one flat set of 31 names, as every magenta command line
and ``model_config.json`` spells them) fills all three. Each value is checked once, here, whichever
path built the config.

Example:
    >>> config = ModelConfig(dec_model="layer_norm", z_size=32, scale_factor=18.5)
    >>> ModelConfig.from_config(config.get_config()) == config
    True
    >>> config.state_size("decoder")   # [h, c] of a 512-unit layer-norm LSTM
    1024
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from sketch_rnn.strokes import START_TOKEN

#: Largest model :class:`ModelConfig` accepts: 4 GB of float32 weights, about 500 times magenta's
#: default model and 10 times its largest published one.
MAX_PARAMETERS = 1_000_000_000
#: Largest single activation tensor of a training batch (decoder gates or mixture outputs over
#: every step): TensorFlow's GPU kernels index with int32, and it is 8 GiB of float32 already.
MAX_BATCH_VALUES = 2**31 - 1
_STROKE5 = len(START_TOKEN)  # the width of a decoder input row

CELL_TYPES = ("lstm", "layer_norm", "hyper")
GMM_LOSSES = ("stable", "reference")
PAD_MODES = ("max", "batch")
TEMPERATURE_CONVENTIONS = ("reference", "browser")

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def coerce(name: str, type_name: Any, value: Any) -> Any:
    """``value`` as the field type ``type_name`` (the annotation's text), from a Python value or
    from the text of a command line (``"true"``, ``"0"``, ``"64"``, ``"1e-3"``); a clear
    ``ValueError`` naming the field otherwise.

    Example:
        >>> coerce("z_size", "int", "64"), coerce("conditional", "bool", 0)
        (64, False)
    """
    t = str(type_name).replace(" ", "")
    optional = t.endswith("|None")
    if optional:
        if value is None:
            return None
        t = t[: -len("|None")]
    try:
        if t.startswith("tuple[str"):
            if isinstance(value, str):
                value = [value]
            if not all(isinstance(v, str) for v in value):
                raise TypeError
            return tuple(value)
        if t.startswith("tuple[float"):
            items = tuple(coerce(name, "float", v) for v in value)
            return items
        if t == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise TypeError
        if t == "int":
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, str):
                value = float(value.strip())
            if isinstance(value, float):
                if not value.is_integer():
                    raise TypeError
                value = int(value)
            if not isinstance(value, int):
                raise TypeError
            return value
        if t == "float":
            if isinstance(value, bool):
                raise TypeError
            value = float(value.strip()) if isinstance(value, str) else float(value)
            if not math.isfinite(value):
                raise TypeError
            return value
        if t == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: expected {t}{' or None' if optional else ''}") from None
    return value


def _coerce_fields(obj) -> None:
    for f in dataclasses.fields(obj):
        object.__setattr__(obj, f.name, coerce(f.name, f.type, getattr(obj, f.name)))


def _one_of(obj, name: str, choices: tuple[str, ...]) -> None:
    if getattr(obj, name) not in choices:
        raise ValueError(f"{name}={getattr(obj, name)!r}: must be one of {', '.join(choices)}")


def _positive(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{name}={getattr(obj, name)}: must be > 0")


def _at_least_zero(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ValueError(f"{name}={getattr(obj, name)}: must be >= 0")


def _in_range(obj, names: tuple[str, ...], low: float, high: float, what: str) -> None:
    """Each value in ``(low, high]`` (``what`` says so in the message)."""
    for name in names:
        v = getattr(obj, name)
        if not low < v <= high:
            raise ValueError(f"{name}={v}: {what}")


class _Config:
    """``replace`` / ``get_config`` / ``from_config`` for the frozen dataclasses below."""

    def replace(self, **changes: Any):
        """A copy with some values changed (checked like a new config).

        Example:
            >>> ModelConfig().replace(z_size=16).z_size
            16
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown field(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def get_config(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """Rebuild from :meth:`get_config`'s dict (unknown keys are an error, missing ones default)."""
        if not isinstance(config, dict):
            raise ValueError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Config):
    """What a SketchRNN computes, and the conventions of the drawings it reads and writes.

    Architecture (magenta's hparam names): ``enc_model`` / ``dec_model`` (``lstm``, ``layer_norm``
    or ``hyper``), ``enc_rnn_size`` (per direction), ``dec_rnn_size``, ``z_size``, ``num_mixture``,
    ``conditional`` (False: decoder only); ``hyper_num_units`` / ``hyper_embedding_size`` of the
    HyperLSTM (the reference's 256 / 32). Dropout, training only (keep probabilities, as magenta):
    recurrent dropout on the candidate in every cell, input and output dropout on the decoder.
    ``gmm_loss``: ``"stable"`` evaluates the reference's offset loss in log space, ``"reference"``
    op for op in probability space (see :mod:`sketch_rnn.losses`). ``max_seq_len``: the longest
    drawing it was trained on (the sampler's default length).

    Conventions: ``scale_factor`` is data units (pixels) per model unit, the training data's
    normalising factor (None if unknown); ``start_token`` the decoder's first input
    (``(0, 0, 1, 0, 0)`` for magenta's models, zeros for browser ones); ``temperature_convention``
    the sampler's default (``"reference"``: sigma x tau; ``"browser"``: sigma x sqrt(tau), see
    :mod:`sketch_rnn.sampling`); ``z_tanh``: the decoder's initial state is made from ``tanh(z)``
    (legacy browser VAEs); ``pixel_factor``: the browser clients' canvas pixels per data unit (their
    file's ``scale_factor`` is ``scale_factor * pixel_factor``); ``name``: what it draws.

    Example:
        >>> ModelConfig(conditional=False).state_size("decoder")
        1024
    """

    enc_model: str = "lstm"
    dec_model: str = "lstm"
    enc_rnn_size: int = 256
    dec_rnn_size: int = 512
    z_size: int = 128
    num_mixture: int = 20
    conditional: bool = True
    max_seq_len: int = 250
    use_recurrent_dropout: bool = True
    recurrent_dropout_prob: float = 0.90
    use_input_dropout: bool = False
    input_dropout_prob: float = 0.90
    use_output_dropout: bool = False
    output_dropout_prob: float = 0.90
    hyper_num_units: int = 256
    hyper_embedding_size: int = 32
    gmm_loss: str = "stable"
    scale_factor: float | None = None
    start_token: tuple[float, ...] = START_TOKEN
    temperature_convention: str = "reference"
    z_tanh: bool = False
    pixel_factor: float = 2.0
    name: str = ""

    def __post_init__(self) -> None:
        _coerce_fields(self)
        _one_of(self, "enc_model", CELL_TYPES)
        _one_of(self, "dec_model", CELL_TYPES)
        _one_of(self, "gmm_loss", GMM_LOSSES)
        _one_of(self, "temperature_convention", TEMPERATURE_CONVENTIONS)
        _positive(self, "enc_rnn_size", "dec_rnn_size", "z_size", "num_mixture", "max_seq_len",
                  "hyper_num_units", "hyper_embedding_size", "pixel_factor")
        _in_range(self, ("recurrent_dropout_prob", "input_dropout_prob", "output_dropout_prob"), 0.0, 1.0,
                  "a keep probability must be in (0, 1]")
        if self.scale_factor is not None and not self.scale_factor > 0:
            raise ValueError(f"scale_factor={self.scale_factor}: must be a positive number (or None)")
        if len(self.start_token) != 5:
            raise ValueError(f"start_token={self.start_token}: must be a stroke-5 row of 5 numbers")
        # Checked here, from the sizes alone, so that an absurd size is a message naming it rather
        # than a ResourceExhaustedError (or minutes of swapping) while the weights are allocated.
        count = self.parameter_count()
        if count > MAX_PARAMETERS:
            used = ["dec_rnn_size", "num_mixture"]
            if self.conditional:
                used[:0] = ["enc_rnn_size", "z_size"]
            if "hyper" in ((self.enc_model, self.dec_model) if self.conditional else (self.dec_model,)):
                used += ["hyper_num_units", "hyper_embedding_size"]
            sizes = ", ".join(f"{k}={getattr(self, k)}" for k in used)
            raise ValueError(f"{sizes}: the model would have {count:.3g} parameters, more than the "
                             f"limit of {MAX_PARAMETERS:.0e}; use smaller sizes")

    def parameter_count(self) -> int:
        """The number of weights :class:`~sketch_rnn.model.SketchRNN` builds for this config
        (the reference's shapes; 2,186,107 for magenta's defaults).

        Example:
            >>> ModelConfig().parameter_count()
            2186107
        """
        out = self.dec_rnn_size * self.output_size + self.output_size
        if not self.conditional:
            return out + self._cell_parameters(self.dec_model, _STROKE5, self.dec_rnn_size)
        e, z, s = self.enc_rnn_size, self.z_size, self.state_size("decoder")
        encoder = 2 * self._cell_parameters(self.enc_model, _STROKE5, e)
        heads = 2 * (2 * e * z + z)
        return (out + encoder + heads + z * s + s
                + self._cell_parameters(self.dec_model, _STROKE5 + z, self.dec_rnn_size))

    def _cell_parameters(self, kind: str, inputs: int, n: int) -> int:
        """Weights of one cell of :mod:`sketch_rnn.cells` (``W_xh``, ``W_hh`` and its extras)."""
        count = 4 * n * (inputs + n)
        if kind == "lstm":
            return count + 4 * n
        if kind == "layer_norm":
            return count + 10 * n  # gamma and beta of the gates (4n each) and of c (n each)
        hu, emb = self.hyper_num_units, self.hyper_embedding_size
        # bias and layer norms, the z -> alpha / beta embeddings, and the small LSTM inside.
        return (count + 14 * n + 12 * hu * emb + 8 * emb + 12 * emb * n
                + self._cell_parameters("layer_norm", inputs + n, hu))

    @property
    def output_size(self) -> int:
        """The decoder's ``3 + 6 M`` outputs per step."""
        return 3 + 6 * self.num_mixture

    def state_size(self, which: str = "decoder") -> int:
        """Width of the flat state of the ``"decoder"`` or of one ``"encoder"`` direction."""
        kind, units = ((self.dec_model, self.dec_rnn_size) if which == "decoder"
                       else (self.enc_model, self.enc_rnn_size))
        return 2 * (units + self.hyper_num_units) if kind == "hyper" else 2 * units

    def units_per_model_unit(self) -> float:
        """``scale_factor``, checked: data units (pixels) per model unit.

        Example:
            >>> ModelConfig(scale_factor=18.5).units_per_model_unit()
            18.5
        """
        if self.scale_factor is None:
            raise ValueError("this model has no scale_factor (data units per model unit): give drawings "
                             "in model units, or the scale explicitly")
        return float(self.scale_factor)


@dataclasses.dataclass(frozen=True)
class DataConfig(_Config):
    """How training data is loaded and served (magenta's names).

    ``data_set``: ``.npz`` file names (splits concatenated across files); ``max_seq_len`` is
    replaced by the longest drawing over all splits when loading, as the reference does;
    ``random_scale_factor`` / ``augment_stroke_prob``: the training split's augmentation;
    ``pad_to``: ``"max"`` pads every batch to ``max_seq_len`` (reference), ``"batch"`` to its
    longest drawing.

    Example:
        >>> DataConfig(data_set="cat.npz").data_set
        ('cat.npz',)
    """

    data_set: tuple[str, ...] = ("aaron_sheep.npz",)
    batch_size: int = 100
    max_seq_len: int = 250
    random_scale_factor: float = 0.15
    augment_stroke_prob: float = 0.10
    pad_to: str = "max"

    def __post_init__(self) -> None:
        _coerce_fields(self)
        if not self.data_set:
            raise ValueError("data_set: at least one .npz file is needed")
        _positive(self, "batch_size", "max_seq_len")
        _one_of(self, "pad_to", PAD_MODES)
        for name in ("augment_stroke_prob", "random_scale_factor"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name}={v}: must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Config):
    """The training schedule (magenta's names).

    ``lr_t = (learning_rate - min_learning_rate) * decay_rate^t + min_learning_rate``;
    ``w_t = kl_weight - (kl_weight - kl_weight_start) * kl_decay_rate^t``; the KL term is floored at
    ``kl_tolerance``; gradients are clipped element-wise to ``+-grad_clip``; every ``save_every``
    steps the validation split is evaluated.

    Example:
        >>> TrainConfig().kl_weight_start
        0.01
    """

    num_steps: int = 10_000_000
    save_every: int = 500
    kl_weight: float = 0.5
    kl_weight_start: float = 0.01
    kl_tolerance: float = 0.2
    grad_clip: float = 1.0
    learning_rate: float = 0.001
    decay_rate: float = 0.9999
    kl_decay_rate: float = 0.99995
    min_learning_rate: float = 0.00001

    def __post_init__(self) -> None:
        _coerce_fields(self)
        _positive(self, "save_every", "learning_rate", "min_learning_rate", "grad_clip")
        # Zero is meaningful for each (no training steps, no KL term, no floor); below it the loss
        # rewards a large KL divergence.
        _at_least_zero(self, "num_steps", "kl_weight", "kl_weight_start", "kl_tolerance")
        _in_range(self, ("decay_rate", "kl_decay_rate"), 0.0, 1.0, "must be in (0, 1]")


def check_batch_size(model: ModelConfig, data: DataConfig) -> None:
    """A clear ``ValueError`` naming the sizes when one training batch of ``data`` through
    ``model`` would hold an activation tensor of more than :data:`MAX_BATCH_VALUES` values (the
    decoder's gates or its mixture outputs, ``batch_size x max_seq_len`` rows of them).

    Example:
        >>> check_batch_size(ModelConfig(), DataConfig())
        >>> check_batch_size(ModelConfig(), DataConfig(batch_size=10**7))
        Traceback (most recent call last):
        ValueError: batch_size=10000000, max_seq_len=250, dec_rnn_size=512: one training batch would
        hold 5.12e+12 decoder activations in one tensor, more than 2**31 - 1; use a smaller batch_size
    """
    widest = max(4 * model.dec_rnn_size, 4 * model.hyper_num_units if model.dec_model == "hyper" else 0,
                 model.output_size)
    values = data.batch_size * data.max_seq_len * widest
    if values > MAX_BATCH_VALUES:
        raise ValueError(f"batch_size={data.batch_size}, max_seq_len={data.max_seq_len}, "
                         f"dec_rnn_size={model.dec_rnn_size}: one training batch would hold {values:.3g} "
                         "decoder activations in one tensor, more than 2**31 - 1; use a smaller batch_size")

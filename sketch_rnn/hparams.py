"""Hyper-parameters: magenta's names and defaults, parsed from strings, dicts and JSON.

:class:`HParams` is magenta's flat set of names; it fills the three configs the library works with
(:meth:`HParams.model_config`, :meth:`~HParams.data_config`, :meth:`~HParams.train_config`, see
:mod:`sketch_rnn.config`), whose rules check every value.

Every magenta command line (``--hparams="dec_model=layer_norm,z_size=64"``) and every
``model_config.json`` the original code or its released models wrote loads unchanged: a dict
of values (booleans as ``true``/``false`` or as the 0/1 integers of ``sketch_rnn.zip``), or the
list of key names that the original trainer writes under Python 3 (no values: defaults are used).

Example:
    >>> from sketch_rnn.hparams import get_default_hparams
    >>> hps = get_default_hparams().parse("dec_model=layer_norm,z_size=64,conditional=0")
    >>> hps.dec_model, hps.z_size, hps.conditional
    ('layer_norm', 64, False)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

from sketch_rnn.config import DataConfig, ModelConfig, TrainConfig, check_batch_size, coerce
from sketch_rnn.files import atomic_write_text

CONFIG_FILE = "model_config.json"


@dataclasses.dataclass(frozen=True)
class HParams:
    """SketchRNN hyper-parameters (magenta's names and defaults, plus two documented options).

    The two options that are not magenta's keep the reference behaviour available:

    * ``gmm_loss``: ``"stable"`` (default) computes the reference offset loss
      ``-log(sum_j pi_j N_j + 1e-6)`` in log space, so it agrees with the reference to float32
      precision on normal data but cannot overflow or produce NaN when sigma is tiny or |rho| -> 1;
      ``"reference"`` is the original probability-space form, op for op.
    * ``pad_to``: ``"max"`` (reference) pads every batch to ``max_seq_len``; ``"batch"`` pads to the
      longest sketch in the batch. Losses keep the reference normalisation by ``max_seq_len`` rows
      in both modes (padding rows contribute a pen loss only when training, exactly as they would).

    The defaults are the configs' (magenta's); ``is_training`` is magenta's and changes nothing here.

    Example:
        >>> HParams(z_size=32).z_size
        32
    """

    data_set: tuple[str, ...] = DataConfig.data_set
    num_steps: int = TrainConfig.num_steps
    save_every: int = TrainConfig.save_every
    max_seq_len: int = DataConfig.max_seq_len
    dec_rnn_size: int = ModelConfig.dec_rnn_size
    dec_model: str = ModelConfig.dec_model
    enc_rnn_size: int = ModelConfig.enc_rnn_size
    enc_model: str = ModelConfig.enc_model
    z_size: int = ModelConfig.z_size
    kl_weight: float = TrainConfig.kl_weight
    kl_weight_start: float = TrainConfig.kl_weight_start
    kl_tolerance: float = TrainConfig.kl_tolerance
    batch_size: int = DataConfig.batch_size
    grad_clip: float = TrainConfig.grad_clip
    num_mixture: int = ModelConfig.num_mixture
    learning_rate: float = TrainConfig.learning_rate
    decay_rate: float = TrainConfig.decay_rate
    kl_decay_rate: float = TrainConfig.kl_decay_rate
    min_learning_rate: float = TrainConfig.min_learning_rate
    use_recurrent_dropout: bool = ModelConfig.use_recurrent_dropout
    recurrent_dropout_prob: float = ModelConfig.recurrent_dropout_prob
    use_input_dropout: bool = ModelConfig.use_input_dropout
    input_dropout_prob: float = ModelConfig.input_dropout_prob
    use_output_dropout: bool = ModelConfig.use_output_dropout
    output_dropout_prob: float = ModelConfig.output_dropout_prob
    random_scale_factor: float = DataConfig.random_scale_factor
    augment_stroke_prob: float = DataConfig.augment_stroke_prob
    conditional: bool = ModelConfig.conditional
    is_training: bool = True
    gmm_loss: str = ModelConfig.gmm_loss
    pad_to: str = DataConfig.pad_to

    def __post_init__(self) -> None:
        # Coerce and validate here so that every construction path (kwargs, replace, parse, JSON)
        # gives the same clear error for a bad value; the rules are the configs' own.
        try:
            for f in dataclasses.fields(self):
                object.__setattr__(self, f.name, coerce(f.name, f.type, getattr(self, f.name)))
            data = self.data_config()  # (first: the model config's name is the data set's)
            check_batch_size(self.model_config(), data)
            self.train_config()
        except ValueError as e:
            raise ValueError(f"hparam {e}") from None

    # -- the configs it fills ------------------------------------------------------------------

    def model_config(self, **extra: Any) -> ModelConfig:
        """The :class:`~sketch_rnn.config.ModelConfig` these hparams describe; ``extra`` sets the
        fields magenta has no hparam for (``scale_factor``, ``name``, ...).

        Example:
            >>> HParams(dec_model="hyper").model_config(scale_factor=18.5).dec_model
            'hyper'
        """
        if "name" not in extra:  # what it draws: magenta's hparams name the data set
            extra["name"] = os.path.basename(self.data_set[0]).split(".")[0]
        return ModelConfig(**{k: getattr(self, k) for k in MODEL_HPARAMS}, **extra)

    def data_config(self) -> DataConfig:
        """The :class:`~sketch_rnn.config.DataConfig` these hparams describe."""
        return DataConfig(**{k: getattr(self, k) for k in _DATA_FIELDS})

    def train_config(self) -> TrainConfig:
        """The :class:`~sketch_rnn.config.TrainConfig` these hparams describe."""
        return TrainConfig(**{k: getattr(self, k) for k in _TRAIN_FIELDS})

    @classmethod
    def from_configs(cls, model: ModelConfig | None = None, data: DataConfig | None = None,
                     train: TrainConfig | None = None) -> HParams:
        """magenta's hparams for the given configs (defaults for what is not given).

        Example:
            >>> HParams.from_configs(ModelConfig(z_size=16)).z_size
            16
        """
        values: dict[str, Any] = {}
        if data is None and model is not None and model.name:
            values["data_set"] = (f"{model.name}.npz",)
        for config, names in ((train, _TRAIN_FIELDS), (data, _DATA_FIELDS), (model, MODEL_HPARAMS)):
            if config is not None:
                values.update({k: getattr(config, k) for k in names})
        return cls(**values)

    # -- construction -------------------------------------------------------------------------

    def replace(self, **overrides: Any) -> HParams:
        """A copy with some values changed; unknown names raise ``ValueError``.

        Example:
            >>> HParams().replace(batch_size=10).batch_size
            10
        """
        _check_names(overrides)
        return dataclasses.replace(self, **overrides)

    def override(self, spec: str | dict[str, Any] | None) -> HParams:
        """Override from a dict, a JSON object string or magenta's ``a=1,b=x`` string.

        Example:
            >>> HParams().override('{"z_size": 16}').z_size
            16
        """
        if spec is None:
            return self
        if isinstance(spec, dict):
            return self.replace(**spec)
        text = spec.strip()
        if not text:
            return self
        if text.startswith("{"):
            try:
                values = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"--hparams is not valid JSON: {e}") from None
            return self.replace(**values)
        return self.replace(**_parse_assignments(text))

    parse = override

    def values(self) -> dict[str, Any]:
        """All values as a JSON-ready dict (``data_set`` as a list, as magenta writes it)."""
        d = dataclasses.asdict(self)
        d["data_set"] = list(self.data_set)
        return d

    def to_json(self) -> str:
        return json.dumps(self.values(), indent=1)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``model_config.json`` (a dict of values) atomically.

        ``path`` may be the file or the folder that holds it.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_FILE)
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> HParams:
        """Read a ``model_config.json`` in any of magenta's variants (see module docstring).

        ``path`` may be the file or the folder that holds it.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such model config file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not a JSON model config ({e})") from None
        if isinstance(raw, list):
            # The original trainer writes json.dump(list(hps.values())) which, under Python 3,
            # serialises the key names only: nothing to read but the fact that it is magenta's.
            unknown = [k for k in raw if not isinstance(k, str) or k not in _FIELDS]
            if unknown:
                raise ValueError(f"{path}: unknown hparam names {unknown}")
            logging.warning("%s holds hparam names without values; using defaults", path)
            return cls()
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object of hparams, got {type(raw).__name__}")
        try:
            return cls().replace(**raw)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


def get_default_hparams() -> HParams:
    """magenta's default hyper-parameters.

    Example:
        >>> get_default_hparams().dec_rnn_size
        512
    """
    return HParams()


# -- helpers ----------------------------------------------------------------------------------

_FIELDS = {f.name: f for f in dataclasses.fields(HParams)}
# Which hparams fill which config (is_training is magenta's and changes nothing here).
MODEL_HPARAMS = ("enc_model", "dec_model", "enc_rnn_size", "dec_rnn_size", "z_size", "num_mixture",
                 "conditional", "max_seq_len", "use_recurrent_dropout", "recurrent_dropout_prob",
                 "use_input_dropout", "input_dropout_prob", "use_output_dropout", "output_dropout_prob",
                 "gmm_loss")
_DATA_FIELDS = ("data_set", "batch_size", "max_seq_len", "random_scale_factor", "augment_stroke_prob",
                "pad_to")
_TRAIN_FIELDS = ("num_steps", "save_every", "kl_weight", "kl_weight_start", "kl_tolerance", "grad_clip",
                 "learning_rate", "decay_rate", "kl_decay_rate", "min_learning_rate")


def _check_names(values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown hparam name(s): {', '.join(unknown)}")


def _parse_assignments(text: str) -> dict[str, Any]:
    """Parse magenta's ``a=1,b=[x.npz,y.npz],c=str`` syntax (values stay strings)."""
    out: dict[str, Any] = {}
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"--hparams: could not parse {text[i:]!r} (expected name=value)")
        name = text[i:eq].strip()
        j = eq + 1
        if j < n and text[j] == "[":
            end = text.find("]", j)
            if end < 0:
                raise ValueError(f"--hparams: unclosed '[' in value of {name}")
            value: Any = [v.strip().strip("'\"") for v in text[j + 1 : end].split(",") if v.strip()]
            j = end + 1
            if j < n and text[j] != ",":
                raise ValueError(f"--hparams: unexpected text after list value of {name}")
        else:
            end = text.find(",", j)
            end = n if end < 0 else end
            value = text[j:end].strip().strip("'\"")
            j = end
        if not name:
            raise ValueError(f"--hparams: empty name in {text!r}")
        if name in out:
            raise ValueError(f"--hparams: {name} given twice")
        out[name] = value
        i = j + 1
    _check_names(out)
    return out

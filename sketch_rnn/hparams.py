"""Hyper-parameters: magenta's names and defaults, parsed from strings, dicts and JSON.

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

from sketch_rnn.files import atomic_write_text

CELL_TYPES = ("lstm", "layer_norm", "hyper")
GMM_LOSSES = ("stable", "reference")
PAD_MODES = ("max", "batch")

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

    Example:
        >>> HParams(z_size=32).z_size
        32
    """

    data_set: tuple[str, ...] = ("aaron_sheep.npz",)
    num_steps: int = 10_000_000
    save_every: int = 500
    max_seq_len: int = 250
    dec_rnn_size: int = 512
    dec_model: str = "lstm"
    enc_rnn_size: int = 256
    enc_model: str = "lstm"
    z_size: int = 128
    kl_weight: float = 0.5
    kl_weight_start: float = 0.01
    kl_tolerance: float = 0.2
    batch_size: int = 100
    grad_clip: float = 1.0
    num_mixture: int = 20
    learning_rate: float = 0.001
    decay_rate: float = 0.9999
    kl_decay_rate: float = 0.99995
    min_learning_rate: float = 0.00001
    use_recurrent_dropout: bool = True
    recurrent_dropout_prob: float = 0.90
    use_input_dropout: bool = False
    input_dropout_prob: float = 0.90
    use_output_dropout: bool = False
    output_dropout_prob: float = 0.90
    random_scale_factor: float = 0.15
    augment_stroke_prob: float = 0.10
    conditional: bool = True
    is_training: bool = True
    gmm_loss: str = "stable"
    pad_to: str = "max"

    def __post_init__(self) -> None:
        # Coerce and validate here so that every construction path (kwargs, replace, parse, JSON)
        # gives the same clear error for a bad value.
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, f.type, getattr(self, f.name)))
        for name in ("dec_model", "enc_model"):
            if getattr(self, name) not in CELL_TYPES:
                raise ValueError(
                    f"hparam {name}={getattr(self, name)!r}: must be one of {', '.join(CELL_TYPES)}"
                )
        if self.gmm_loss not in GMM_LOSSES:
            raise ValueError(f"hparam gmm_loss={self.gmm_loss!r}: must be one of {GMM_LOSSES}")
        if self.pad_to not in PAD_MODES:
            raise ValueError(f"hparam pad_to={self.pad_to!r}: must be one of {PAD_MODES}")
        positive = ("max_seq_len", "dec_rnn_size", "enc_rnn_size", "z_size", "batch_size",
                    "num_mixture", "save_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"hparam {name}={getattr(self, name)}: must be > 0")
        if self.num_steps < 0:
            raise ValueError(f"hparam num_steps={self.num_steps}: must be >= 0")
        for name in ("recurrent_dropout_prob", "input_dropout_prob", "output_dropout_prob"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"hparam {name}={v}: a keep probability must be in (0, 1]")
        for name in ("augment_stroke_prob", "random_scale_factor"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"hparam {name}={v}: must be in [0, 1)")
        for name in ("learning_rate", "min_learning_rate", "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"hparam {name}={getattr(self, name)}: must be > 0")
        for name in ("decay_rate", "kl_decay_rate"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"hparam {name}={v}: must be in (0, 1]")
        if not self.data_set:
            raise ValueError("hparam data_set: at least one .npz file is needed")

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
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _check_names(values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown hparam name(s): {', '.join(unknown)}")


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    t = str(type_name)
    try:
        if t.startswith("tuple"):
            if isinstance(value, str):
                value = [value]
            items = [str(v) for v in value]
            if not all(isinstance(v, str) for v in value):
                raise TypeError
            return tuple(items)
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
            if value != value or value in (float("inf"), float("-inf")):
                raise TypeError
            return value
        if t == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ValueError(f"hparam {name}={value!r}: expected {t}") from None
    return value


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

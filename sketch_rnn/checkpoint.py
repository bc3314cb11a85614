"""Saving and loading models and training states: files every Keras backend reads, crash-safe.

A ``sketch_rnn`` model folder holds ``sketch_rnn.json`` (the format version and the model's
:class:`~sketch_rnn.config.ModelConfig`: everything that changes what it computes, conventions
included), ``model_config.json`` (magenta's hparams, data and training settings included, so that
magenta's tools and ``sketch_rnn_train --resume_training`` read it) and weights files
``ckpt-<step>.weights.h5`` in Keras' own format (``model.load_weights`` reads one too), written by
:func:`write_checkpoint`, with a ``checkpoint`` pointer naming the newest (TF's text format). A
training run's ``resume/`` folder holds ``ckpt-<step>.state.h5`` files (:class:`TrainingState`:
weights, optimizer slots and the trainer's counters and random states). Both are plain HDF5, read
and written the same way on TensorFlow and JAX.

A save writes each new file under a temporary name and renames it into place, then replaces the
pointer atomically, then deletes the oldest, so a crash at any moment leaves an intact checkpoint
in force. Readers (:func:`load_model`, a resumed training run) do not trust the pointer alone:
:func:`restore_newest` tries the checkpoints newest first and falls back, with a warning naming the
file, past any that is damaged or half-written.

Folders written before (format 2: TensorFlow checkpoints ``ckpt-<step>.index/.data-*``; format 1:
``sketch_rnn.json`` with only the scale factor) still load, on every backend
(:mod:`sketch_rnn.tf_checkpoint` reads TF's files without TensorFlow); ``save_model`` writes them
anew. ``load_model(path)`` also reads magenta TF1 checkpoint folders (see
:mod:`sketch_rnn.interop.tf1`) and browser model files (:mod:`sketch_rnn.interop.browser`); whatever
it read, ``save_model`` writes it back with its whole config, so it loads again as the same model.

Example:
    >>> from sketch_rnn.config import ModelConfig
    >>> from sketch_rnn.model import SketchRNN
    >>> import tempfile
    >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2,
    ...                               scale_factor=18.5, start_token=(0, 0, 0, 0, 0)))
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_model(model, folder)
    >>> back = load_model(folder)
    >>> back.config == model.config, back.config.start_token
    (True, (0.0, 0.0, 0.0, 0.0, 0.0))
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Collection

import h5py
import numpy as np

from sketch_rnn.config import ModelConfig
from sketch_rnn.files import atomic_write_text
from sketch_rnn.hparams import CONFIG_FILE, MODEL_HPARAMS, HParams
from sketch_rnn.model import SketchRNN

logger = logging.getLogger(__name__)

META_FILE = "sketch_rnn.json"
POINTER_FILE = "checkpoint"
FORMAT_VERSION = 3
WEIGHTS_SUFFIX = ".weights.h5"
STATE_SUFFIX = ".state.h5"
#: TensorFlow checkpoints (format 2 folders, magenta's): read, never written.
TF_SUFFIX = ".index"
#: The model config's fields that magenta's hparams do not hold (conventions, hyper cell sizes).
_NOT_HPARAMS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name not in MODEL_HPARAMS)


def write_meta(folder: str, model: SketchRNN, hps: HParams | None = None) -> None:
    """Write ``sketch_rnn.json`` (the model's config) and ``model_config.json`` (magenta's hparams:
    ``hps``, whose data and training settings a trainer keeps, else the model's with magenta's
    defaults for the rest) into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    hps = hps if hps is not None else HParams.from_configs(model.config)
    hps.save(os.path.join(folder, CONFIG_FILE))
    meta = {"format_version": FORMAT_VERSION, "model": model.config.get_config()}
    atomic_write_text(os.path.join(folder, META_FILE), json.dumps(meta, indent=1) + "\n")


def save_model(model: SketchRNN, folder: str | os.PathLike, step: int | None = None,
               hps: HParams | None = None) -> str:
    """Save weights and config into ``folder``; returns the checkpoint prefix. ``hps``: the data
    and training settings to record in ``model_config.json`` (default magenta's).

    Example (:func:`load_model` reads the folder back, see the module docstring):
        >>> import tempfile
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> folder = tempfile.mkdtemp()
        >>> os.path.basename(save_model(model, folder, step=7))
        'ckpt-7'
        >>> sorted(os.listdir(folder))
        ['checkpoint', 'ckpt-7.weights.h5', 'model_config.json', 'sketch_rnn.json']
    """
    folder = os.fspath(folder)
    write_meta(folder, model, hps)
    if step is None:
        step = max(checkpoint_numbers(folder), default=0) + 1
    return write_checkpoint(ModelWeights(model), folder, step, keep=5)


# ---------------------------------------------------------------------------------------------
# crash-safe checkpoint files


def _crash_point(stage: str, prefix: str) -> None:
    """Called between the stages of a save; fault-injection tests make it raise, as a kill would."""


_CKPT_RE = re.compile(r"^ckpt-(\d+)(\.weights\.h5|\.state\.h5|\.index)$")


def checkpoint_numbers(folder: str | os.PathLike) -> list[int]:
    """The numbers ``N`` of the ``ckpt-N`` checkpoints in ``folder`` (a weights, training-state or
    TF index file present), newest first, whatever the pointer file says."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted({int(m.group(1)) for m in map(_CKPT_RE.match, names) if m}, reverse=True)


def checkpoint_file(prefix: str) -> str | None:
    """The file that holds checkpoint ``prefix`` (``.weights.h5``, ``.state.h5`` or TF's
    ``.index``), or None."""
    for suffix in (WEIGHTS_SUFFIX, STATE_SUFFIX, TF_SUFFIX):
        if os.path.isfile(prefix + suffix):
            return prefix + suffix
    return None


def _read_pointer(folder: str) -> str | None:
    """The checkpoint TF's pointer file names (a path in ``folder``), or None if it is absent or
    unreadable."""
    try:
        with open(os.path.join(folder, POINTER_FILE), encoding="utf-8") as f:
            m = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', f.read(), re.M)
    except (OSError, UnicodeDecodeError):
        return None
    if not m:
        return None
    name = m.group(1)
    return name if os.path.isabs(name) else os.path.join(folder, name)


def _write_pointer(folder: str, numbers: list[int]) -> None:
    """TF's ``checkpoint`` text file (what ``tf.train.latest_checkpoint`` reads), newest last,
    replaced atomically."""
    lines = [f'model_checkpoint_path: "ckpt-{numbers[0]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{n}"' for n in reversed(numbers)]
    atomic_write_text(os.path.join(folder, POINTER_FILE), "\n".join(lines) + "\n")


def write_checkpoint(ckpt: ModelWeights | TrainingState, folder: str | os.PathLike, number: int, *,
                     keep: int) -> str:
    """Write ``folder/ckpt-<number>`` (the file ``ckpt`` makes) and keep the newest ``keep``
    checkpoints; returns the prefix.

    The stages are ordered so that a kill between (or inside) any two leaves a folder whose newest
    intact checkpoint is a complete one: the new file is written under a temporary name and renamed
    into place, then the pointer is replaced atomically, then older checkpoints and leftovers of
    interrupted saves are deleted.

    Example:
        >>> import tempfile
        >>> from sketch_rnn.config import ModelConfig
        >>> folder = tempfile.mkdtemp()
        >>> weights = ModelWeights(SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4)))
        >>> for n in (1, 2, 3):
        ...     prefix = write_checkpoint(weights, folder, n, keep=2)
        >>> os.path.basename(prefix), checkpoint_numbers(folder)
        ('ckpt-3', [3, 2])
        >>> open(os.path.join(folder, "checkpoint")).readline().strip()
        'model_checkpoint_path: "ckpt-3"'
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, f"ckpt-{number}")
    _crash_point("before_write", prefix)
    staging = f"{prefix}_temp"
    os.makedirs(staging, exist_ok=True)
    name = os.path.basename(prefix) + ckpt.suffix
    ckpt.write(os.path.join(staging, name))
    _crash_point("staged", prefix)
    _fsync(os.path.join(staging, name))
    os.replace(os.path.join(staging, name), prefix + ckpt.suffix)
    shutil.rmtree(staging, ignore_errors=True)
    _crash_point("written", prefix)
    kept = [number] + [n for n in checkpoint_numbers(folder) if n != number][: keep - 1]
    _write_pointer(folder, kept)
    _crash_point("pointed", prefix)
    remove_checkpoints(folder, kept)
    _crash_point("swept", prefix)
    return prefix


def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def remove_checkpoints(folder: str | os.PathLike, keep: Collection[int] = ()) -> None:
    """Delete the ``ckpt-N`` files of ``folder`` whose ``N`` is not in ``keep``, with the leftovers
    of interrupted saves (``ckpt-N_temp`` folders); keeping none, the pointer file too.

    Example:
        >>> import tempfile
        >>> from sketch_rnn.config import ModelConfig
        >>> folder = tempfile.mkdtemp()
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4))
        >>> _ = write_checkpoint(ModelWeights(model), folder, 1, keep=2)
        >>> remove_checkpoints(folder)
        >>> os.listdir(folder)
        []
    """
    folder = os.fspath(folder)
    for path in glob.glob(os.path.join(glob.escape(folder), "ckpt-*")):
        m = re.match(r"^ckpt-(\d+)(?:\.|_temp)", os.path.basename(path))
        if m and int(m.group(1)) not in keep:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
    if not keep:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, POINTER_FILE))


# What reading a damaged, truncated or half-written checkpoint raises (h5py's OSError for a file
# it cannot open, KeyError for a missing dataset, ValueError from the TF-file reader and for bad
# JSON or a wrong count, UnicodeDecodeError for a garbled text).
_DAMAGE = (ValueError, KeyError, IndexError, OSError, UnicodeDecodeError)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def restore_newest(folder: str | os.PathLike, read: Callable[[str], None], what: str = "checkpoint",
                   check: Callable[[str], None] | None = None) -> str | None:
    """Restore from the newest intact checkpoint in ``folder``; returns its prefix (None if the
    folder holds none).

    ``read(prefix)`` restores one checkpoint and raises if its files are damaged; then the next
    older one is tried, with a warning naming the file. ``check(prefix)`` runs first; its
    :class:`CheckpointMismatch` (intact weights that do not fit the config) is not damage, so it
    stops the search. If every checkpoint is damaged, a ``ValueError`` names the newest and
    what is wrong with it.
    """
    folder = os.fspath(folder)
    candidates = [os.path.join(folder, f"ckpt-{n}") for n in checkpoint_numbers(folder)]
    pointed = _read_pointer(folder)
    if pointed is not None and pointed not in candidates and checkpoint_file(pointed):
        candidates.insert(0, pointed)  # a checkpoint not named ckpt-N (written by other tools)
    if not candidates:
        return None
    if os.path.exists(os.path.join(folder, POINTER_FILE)) and pointed is None:
        logger.warning("%s: unreadable; looking at the checkpoint files themselves",
                       os.path.join(folder, POINTER_FILE))
    errors: list[tuple[str, BaseException]] = []
    for i, prefix in enumerate(candidates):
        try:
            if check is not None:
                check(prefix)
            read(prefix)
        except CheckpointMismatch:
            raise
        except _DAMAGE as e:
            errors.append((prefix, e))
        else:
            return prefix
        later = f"; trying {os.path.basename(candidates[i + 1])}" if i + 1 < len(candidates) else ""
        logger.warning("%s: damaged or incomplete %s (%s)%s", prefix, what,
                       _first_line(errors[-1][1]), later)
    prefix, e = errors[0]
    raise ValueError(f"{prefix}: damaged {what}, and no older intact one in {folder} "
                     f"({_first_line(e)})")


def is_sketch_rnn_folder(path: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(os.fspath(path), META_FILE))


def load_model(path: str | os.PathLike, hps: HParams | None = None) -> SketchRNN:
    """Load a model from a ``sketch_rnn`` checkpoint folder, a magenta TF1 checkpoint folder or a
    browser ``*.gen.json`` / ``*.vae.json`` file (``hps`` is ignored for those).

    ``path`` may also be a checkpoint prefix inside such a folder (``.../ckpt-1500``). ``hps``
    overrides the architecture the folder's config gives (its conventions are kept).

    Example:
        >>> model = load_model("checkpoints/aaron_sheep")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if path.lower().endswith(".json") and os.path.isfile(path):
        # A browser (sketch-rnn-js / @magenta/sketch) *.gen.json or *.vae.json model.
        from sketch_rnn.interop.browser import load_browser_model

        return load_browser_model(path)
    folder, prefix = path, None
    if not os.path.isdir(path):
        if checkpoint_file(path):
            folder, prefix = os.path.dirname(path) or ".", path
        elif not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such model folder or checkpoint")
        else:
            raise ValueError(f"{path}: not a model folder or checkpoint prefix")
    if is_sketch_rnn_folder(folder):
        return _load_ours(folder, prefix, hps)
    from sketch_rnn.interop.tf1 import is_tf1_checkpoint, load_tf1_checkpoint

    if is_tf1_checkpoint(path):
        return load_tf1_checkpoint(path, hps)
    raise ValueError(
        f"{path}: not a sketch_rnn model folder (no {META_FILE}) nor a magenta TF1 checkpoint"
    )


def _load_ours(folder: str, prefix: str | None, hps: HParams | None) -> SketchRNN:
    meta_path = os.path.join(folder, META_FILE)
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{meta_path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format_version", 0), int) \
            or meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{meta_path}: unsupported format {meta!r:.80}")
    if "model" in meta:
        try:
            config = ModelConfig.from_config(meta["model"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{meta_path}: bad model config ({e})") from None
        if hps is not None:
            config = hps.model_config(**{k: getattr(config, k) for k in _NOT_HPARAMS})
    else:  # format 1: the architecture in model_config.json, the scale factor here
        hps = hps or HParams.load(os.path.join(folder, CONFIG_FILE))
        config = hps.model_config(scale_factor=meta.get("scale_factor"))
    model = SketchRNN(config, initialize=False)
    weights = ModelWeights(model)
    if prefix is not None:  # asked for by name: no fallback to another
        try:
            check_matches(model, prefix)
            weights.read(prefix)
        except CheckpointMismatch:
            raise
        except _DAMAGE as e:
            raise ValueError(f"{prefix}: damaged checkpoint ({_first_line(e)})") from None
        return model
    if restore_newest(folder, weights.read, "checkpoint", check=lambda p: check_matches(model, p)) is None:
        raise FileNotFoundError(f"{folder}: model config found but no checkpoint files")
    return model


# ---------------------------------------------------------------------------------------------
# what the files hold


def weight_layout(model: SketchRNN) -> dict[str, tuple[str, object]]:
    """Where each weight lives in a Keras ``.weights.h5`` file: ``{dataset path: (name,
    variable)}``, e.g. ``"decoder/vars/1": ("decoder/W_hh", <W_hh>)``. Keras stores a layer's own
    variables, in order, under the layer's attribute path (the model's own under ``vars/``);
    ``tests/test_checkpoint.py`` checks this against a file Keras wrote."""
    layout = {}
    for name, var in _named_weights(model, ""):
        layer_path, _, _ = name.rpartition("/")
        layer = model
        for part in filter(None, layer_path.split("/")):
            layer = getattr(layer, part)
        own = list(layer._trainable_variables) + list(layer._non_trainable_variables)
        index = next(i for i, v in enumerate(own) if v is var)
        layout[f"{layer_path + '/' if layer_path else ''}vars/{index}"] = (name, var)
    return layout


class ModelWeights:
    """A model's weights as one checkpoint: ``ckpt-N.weights.h5``, in Keras' layout (Keras'
    ``model.load_weights`` reads it) with a SHA-256 of its contents, so that a damaged file is
    found, not loaded; read here (also a TF checkpoint of an older folder), so that every damaged
    or mismatched file is a clear error rather than a partly loaded model."""

    suffix = WEIGHTS_SUFFIX

    def __init__(self, model: SketchRNN):
        self.model = model

    def write(self, path: str) -> None:
        with h5py.File(path, "w") as f:
            _write_weights(f, self.model)
            f.attrs[DIGEST] = _digest(f)

    def read(self, prefix: str) -> None:
        path = checkpoint_file(prefix)
        if path is None:
            raise FileNotFoundError(f"{prefix}: no checkpoint file ({WEIGHTS_SUFFIX} or {TF_SUFFIX})")
        if path.endswith(TF_SUFFIX):
            _read_tf_weights(self.model, prefix)
            return
        with h5py.File(path, "r") as f:
            _verify(f, path)
            _assign_from_group(f, weight_layout(self.model), path)


#: The root attribute holding the SHA-256 of a file's datasets and other attributes.
DIGEST = "sha256"


def _digest(f) -> str:
    h = hashlib.sha256()
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    for name in sorted(names):
        value = np.ascontiguousarray(f[name][()])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    for key in sorted(k for k in f.attrs if k != DIGEST):
        h.update(f"{key}={f.attrs[key]!s}|".encode())
    return h.hexdigest()


def _verify(f, path: str) -> None:
    """Raise if the file's contents do not match its digest (files written elsewhere, without one,
    are taken as they are)."""
    if DIGEST in f.attrs and f.attrs[DIGEST] != _digest(f):
        raise ValueError(f"{path}: contents do not match their checksum (damaged file)")


def _write_weights(group, model: SketchRNN) -> None:
    for key, (_, var) in weight_layout(model).items():
        group[key] = _numpy(var)
        layer_group = group[key.rpartition("/")[0]]
        layer_group.attrs.setdefault("name", _layer_at(model, key).name)


def _numpy(var) -> np.ndarray:
    from keras import ops

    return ops.convert_to_numpy(var.value)


def _layer_at(model: SketchRNN, key: str):
    layer = model
    for part in key.split("/")[:-2]:
        layer = getattr(layer, part)
    return layer


def _assign_from_group(group, layout: dict, source: str) -> None:
    values = {}
    for key, (name, var) in layout.items():
        if key not in group:
            raise KeyError(f"{source}: no {key} ({name})")
        value = np.asarray(group[key])
        if tuple(value.shape) != tuple(var.shape):
            raise CheckpointMismatch(f"{source}: {name} has shape {list(value.shape)}, the model "
                                     f"{list(var.shape)}")
        values[name] = (var, value)
    for var, value in values.values():  # assigned only once every one has been read
        var.assign(value)


def _read_tf_weights(model: SketchRNN, prefix: str) -> None:
    """A format-2 folder's TF object checkpoint (keys ``model/<name>/.ATTRIBUTES/VARIABLE_VALUE``)."""
    from sketch_rnn.tf_checkpoint import CheckpointReader

    reader = CheckpointReader(prefix)
    values = [(var, reader.get(_tf_key(name))) for name, var in _named_weights(model, "")]
    for var, value in values:
        var.assign(value)


def _tf_key(name: str) -> str:
    return f"model/{name}/.ATTRIBUTES/VARIABLE_VALUE"


class TrainingState:
    """Everything a resumed training run needs, as one checkpoint ``ckpt-N.state.h5``: the model's
    weights (in the Keras layout), the optimizer's variables (Adam's step and slots, in order) and
    ``extra()``, a JSON-able dict of the trainer's own state (counters, random states), given
    back to ``restore(extra)`` on reading.

    Example:
        >>> import tempfile, keras
        >>> from sketch_rnn.config import ModelConfig
        >>> model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4))
        >>> adam = keras.optimizers.Adam()
        >>> adam.build(model.trainable_variables)
        >>> got = {}
        >>> state = TrainingState(model, adam, lambda: {"step": 3}, got.update)
        >>> prefix = write_checkpoint(state, tempfile.mkdtemp(), 3, keep=2)
        >>> state.read(prefix); got
        {'step': 3}
    """

    suffix = STATE_SUFFIX
    FORMAT = "sketch_rnn.training_state"

    def __init__(self, model: SketchRNN, optimizer, extra: Callable[[], dict],
                 restore: Callable[[dict], None]):
        self.model, self.optimizer, self.extra, self.restore = model, optimizer, extra, restore

    def write(self, path: str) -> None:
        with h5py.File(path, "w") as f:
            f.attrs["format"] = self.FORMAT
            f.attrs["extra"] = json.dumps(self.extra())
            _write_weights(f.create_group("model"), self.model)
            opt = f.create_group("optimizer")
            for i, var in enumerate(self.optimizer.variables):
                opt[str(i)] = _numpy(var)
                opt[str(i)].attrs["name"] = var.path
            f.attrs[DIGEST] = _digest(f)

    def read(self, prefix: str) -> None:
        if not os.path.isfile(prefix + STATE_SUFFIX) and os.path.isfile(prefix + TF_SUFFIX):
            self._read_tf(prefix)
            return
        path = prefix + STATE_SUFFIX
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != self.FORMAT or DIGEST not in f.attrs:
                raise ValueError(f"{path}: not a sketch_rnn training state")
            _verify(f, path)
            extra = json.loads(f.attrs["extra"])
            opt = f["optimizer"]
            variables = self.optimizer.variables
            if len(opt) != len(variables):
                raise CheckpointMismatch(f"{path}: {len(opt)} optimizer variables, the trainer's "
                                         f"optimizer {len(variables)}")
            slots = [np.asarray(opt[str(i)]) for i in range(len(variables))]
            for var, value in zip(variables, slots, strict=True):
                if tuple(value.shape) != tuple(var.shape):
                    raise CheckpointMismatch(f"{path}: optimizer variable {var.path} has shape "
                                             f"{list(value.shape)}, expected {list(var.shape)}")
            _assign_from_group(f["model"], weight_layout(self.model), path)
        for var, value in zip(variables, slots, strict=True):
            var.assign(value)
        self.restore(extra)


    def _read_tf(self, prefix: str) -> None:
        """A resume state written by earlier versions (a TF object checkpoint): the weights, Adam's
        step and slots (``optimizer/_variables/<i>``, the step as ``_iterations``), the best
        validation cost and the data RNG. Its noise generator has no counterpart here, so the run
        goes on with the trainer's noise seed."""
        from sketch_rnn.tf_checkpoint import CheckpointReader

        reader = CheckpointReader(prefix)
        variables = self.optimizer.variables
        keys = [f"optimizer/_{'iterations' if i == 0 else f'variables/{i}'}/.ATTRIBUTES/VARIABLE_VALUE"
                for i in range(len(variables))]
        slots = [reader.get(k) for k in keys]
        for var, value, key in zip(variables, slots, keys, strict=True):
            if tuple(value.shape) != tuple(var.shape):
                raise CheckpointMismatch(f"{prefix}: {key} has shape {list(value.shape)}, expected "
                                         f"{list(var.shape)}")
        extra = {"best_valid_cost": float(reader.get("best_valid_cost/.ATTRIBUTES/VARIABLE_VALUE")),
                 "data_rng": json.loads(reader.get("data_rng/.ATTRIBUTES/py_state"))}
        _read_tf_weights(self.model, prefix)
        for var, value in zip(variables, slots, strict=True):
            var.assign(value)
        logger.warning("%s: a resume state of an earlier sketch_rnn; z's noise and the dropout masks "
                       "go on from this run's noise seed", prefix)
        self.restore(extra)


class CheckpointMismatch(ValueError):
    """An intact checkpoint whose weights do not fit the model config: not damage, so no fallback."""


def saved_shapes(prefix: str) -> dict[str, list[int]]:
    """``{weight name: shape}`` of the model weights checkpoint ``prefix`` holds, named as
    :func:`weight_layout` names them (``decoder/W_hh``), whatever its file format."""
    path = checkpoint_file(prefix)
    if path is None:
        raise FileNotFoundError(f"{prefix}: no checkpoint file")
    if path.endswith(TF_SUFFIX):
        from sketch_rnn.tf_checkpoint import CheckpointReader

        shapes = CheckpointReader(prefix).shapes()
        head, tail = "model/", "/.ATTRIBUTES/VARIABLE_VALUE"
        return {k[len(head) : -len(tail)]: list(v) for k, v in shapes.items()
                if k.startswith(head) and k.endswith(tail)}
    out = {}
    with h5py.File(path, "r") as f:
        group = f["model"] if path.endswith(STATE_SUFFIX) else f

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = list(obj.shape)

        group.visititems(visit)
    return out


def check_matches(model: SketchRNN, prefix: str) -> None:
    """Raise a clear error if the checkpoint's weights do not fit the model built from the config."""
    saved = saved_shapes(prefix)  # (a damaged file raises here, as reading it would)
    path = checkpoint_file(prefix) or prefix
    if path.endswith(TF_SUFFIX):
        expected = {name: list(var.shape) for name, var in _named_weights(model, "")}
        label = {name: name for name in expected}
    else:
        layout = weight_layout(model)
        expected = {key: list(var.shape) for key, (_, var) in layout.items()}
        label = {key: f"{name} ({key})" for key, (name, _) in layout.items()}
    missing = sorted(label[k] for k in set(expected) - set(saved))
    wrong = [f"{label[k]}: checkpoint {saved[k]} vs config {expected[k]}" for k in sorted(expected)
             if k in saved and list(saved[k]) != expected[k]]
    extra = sorted(k for k in set(saved) - set(expected) if not k.startswith("_"))
    if missing or wrong or extra:
        problems = []
        if missing:
            problems.append(f"weights missing from the checkpoint: {missing[:5]}")
        if extra:
            problems.append(f"checkpoint weights the config does not have: {extra[:5]}")
        if wrong:
            problems.append(f"shape mismatch: {wrong[:5]}")
        raise CheckpointMismatch(
            f"{prefix}: checkpoint does not match its model config: " + "; ".join(problems))


def _named_weights(layer, prefix):
    """``(name, variable)`` of every weight under ``layer``, named by attribute path
    (``decoder/W_hh``: the names TF's object checkpoints used, and :func:`weight_layout`'s)."""
    import keras

    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if isinstance(value, keras.Variable):
            yield prefix + name, value
        elif isinstance(value, keras.layers.Layer):
            yield from _named_weights(value, f"{prefix}{name}/")


def weights_equal(a: SketchRNN, b: SketchRNN) -> bool:
    """True if two models have the same weights, bit for bit."""
    return len(a.weights) == len(b.weights) and all(
        np.array_equal(_numpy(x), _numpy(y)) for x, y in zip(a.weights, b.weights, strict=True)
    )

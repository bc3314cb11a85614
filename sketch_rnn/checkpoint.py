"""Saving and loading models: our TF checkpoints with their config beside them, and ``load_model``.

A ``sketch_rnn`` model folder holds ``sketch_rnn.json`` (the format version and the model's
:class:`~sketch_rnn.config.ModelConfig`: everything that changes what it computes, conventions
included), ``model_config.json`` (magenta's hparams, data and training settings included, so that
magenta's tools and ``sketch_rnn_train --resume_training`` read it) and TF checkpoint files written by
``tf.train.CheckpointManager`` (``ckpt-<step>.index/.data-*`` plus the ``checkpoint`` pointer,
which TF rewrites atomically, so a crash mid-save leaves the previous checkpoint in force). Folders
of format 1 (``sketch_rnn.json`` with only the scale factor; the model built from
``model_config.json``) still load.

``load_model(path)`` also reads magenta TF1 checkpoint folders (see :mod:`sketch_rnn.interop.tf1`)
and browser model files (:mod:`sketch_rnn.interop.browser`); whatever it read, ``save_model`` writes
it back with its whole config, so it loads again as the same model.

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

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from sketch_rnn.config import ModelConfig
from sketch_rnn.files import atomic_write_text
from sketch_rnn.hparams import CONFIG_FILE, MODEL_HPARAMS, HParams
from sketch_rnn.model import SketchRNN

META_FILE = "sketch_rnn.json"
FORMAT_VERSION = 2
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
        >>> sorted(f for f in os.listdir(folder) if not f.startswith("ckpt-"))
        ['checkpoint', 'model_config.json', 'sketch_rnn.json']
    """
    folder = os.fspath(folder)
    write_meta(folder, model, hps)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), folder, max_to_keep=5)
    return manager.save(checkpoint_number=step)


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
        if os.path.exists(path + ".index"):
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
    prefix = prefix or tf.train.latest_checkpoint(folder)
    if prefix is None:
        raise FileNotFoundError(f"{folder}: model config found but no checkpoint files")
    model = SketchRNN(config, initialize=False)
    check_matches(model, prefix)
    tf.train.Checkpoint(model=model).read(prefix).expect_partial().assert_existing_objects_matched()
    return model


def check_matches(model: SketchRNN, prefix: str) -> None:
    """Raise a clear error if the checkpoint's weights do not fit the model built from the config."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f"{prefix}: unreadable checkpoint ({e})") from None
    shapes = reader.get_variable_to_shape_map()
    saved = {}
    for key, shape in shapes.items():
        # Keys look like "model/decoder/W_hh/.ATTRIBUTES/VARIABLE_VALUE".
        if key.startswith("model/") and key.endswith("/.ATTRIBUTES/VARIABLE_VALUE"):
            saved[key[len("model/") : -len("/.ATTRIBUTES/VARIABLE_VALUE")]] = shape
    paths = {id(var): path for path, var in _named_weights(model, "")}
    expected = {paths[id(v)]: list(v.shape) for v in model.weights}
    missing = sorted(set(expected) - set(saved))
    wrong = [f"{k}: checkpoint {saved[k]} vs config {expected[k]}" for k in sorted(expected)
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
        raise ValueError(f"{prefix}: checkpoint does not match its model config: " + "; ".join(problems))


def _named_weights(layer, prefix):
    """``(checkpoint path, variable)`` of every weight under ``layer`` (the attribute names the TF
    checkpoint's object graph uses)."""
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
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a.weights, b.weights, strict=True)
    )

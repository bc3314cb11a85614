"""Saving and loading models: our TF checkpoints with their config beside them, and ``load_model``.

A ``sketch_rnn`` model folder holds ``sketch_rnn.json`` (the format version and the model's
:class:`~sketch_rnn.config.ModelConfig`: everything that changes what it computes, conventions
included), ``model_config.json`` (magenta's hparams, data and training settings included, so that
magenta's tools and ``sketch_rnn_train --resume_training`` read it) and TF checkpoint files written by
:func:`write_checkpoint` (``ckpt-<step>.index/.data-*`` plus TF's ``checkpoint`` pointer). A save
writes the new files, then replaces the pointer atomically, then deletes the oldest, so a crash at
any moment leaves an intact checkpoint in force. Readers (:func:`load_model`, a resumed training
run) do not trust the pointer alone: :func:`restore_newest` tries the checkpoints newest first and
falls back, with a warning naming the file, past any that is damaged or half-written. Folders
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

import contextlib
import dataclasses
import glob
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Collection

import numpy as np
import tensorflow as tf

from sketch_rnn.config import ModelConfig
from sketch_rnn.files import atomic_write_text
from sketch_rnn.hparams import CONFIG_FILE, MODEL_HPARAMS, HParams
from sketch_rnn.model import SketchRNN

logger = logging.getLogger(__name__)

META_FILE = "sketch_rnn.json"
POINTER_FILE = "checkpoint"
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
    if step is None:
        step = max(checkpoint_numbers(folder), default=0) + 1
    return write_checkpoint(tf.train.Checkpoint(model=model), folder, step, keep=5)


# ---------------------------------------------------------------------------------------------
# crash-safe checkpoint files


def _crash_point(stage: str, prefix: str) -> None:
    """Called between the stages of a save; fault-injection tests make it raise, as a kill would."""


_CKPT_RE = re.compile(r"^ckpt-(\d+)\.index$")


def checkpoint_numbers(folder: str | os.PathLike) -> list[int]:
    """The numbers ``N`` of the ``ckpt-N`` checkpoints in ``folder`` (those with an index), newest
    first, whatever the pointer file says."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((int(m.group(1)) for m in map(_CKPT_RE.match, names) if m), reverse=True)


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


def write_checkpoint(ckpt: tf.train.Checkpoint, folder: str | os.PathLike, number: int, *,
                     keep: int) -> str:
    """Write ``folder/ckpt-<number>`` and keep the newest ``keep`` checkpoints; returns the prefix.

    The stages are ordered so that a kill between (or inside) any two leaves a folder whose newest
    intact checkpoint is a complete one: the new files are written (TF stages them under a temporary
    name), then the pointer is replaced atomically, then older checkpoints and leftovers of
    interrupted saves are deleted.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
        >>> for n in (1, 2, 3):
        ...     prefix = write_checkpoint(ckpt, folder, n, keep=2)
        >>> os.path.basename(prefix), checkpoint_numbers(folder)
        ('ckpt-3', [3, 2])
        >>> os.path.basename(tf.train.latest_checkpoint(folder))
        'ckpt-3'
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, f"ckpt-{number}")
    _crash_point("before_write", prefix)
    ckpt.write(prefix)
    _crash_point("written", prefix)
    kept = [number] + [n for n in checkpoint_numbers(folder) if n != number][: keep - 1]
    _write_pointer(folder, kept)
    _crash_point("pointed", prefix)
    remove_checkpoints(folder, kept)
    _crash_point("swept", prefix)
    return prefix


def remove_checkpoints(folder: str | os.PathLike, keep: Collection[int] = ()) -> None:
    """Delete the ``ckpt-N`` files of ``folder`` whose ``N`` is not in ``keep``, with the leftovers
    of interrupted saves (TF's ``ckpt-N_temp`` folders); keeping none, the pointer file too.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
        >>> _ = write_checkpoint(ckpt, folder, 1, keep=2)
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


# What reading a damaged, truncated or half-written checkpoint raises (TF's OpError subclasses,
# "Read less bytes than requested" as an IndexError, a failed object-graph match, bad JSON in a
# Python state).
_DAMAGE = (tf.errors.OpError, ValueError, IndexError, AssertionError, OSError, UnicodeDecodeError)


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
    if pointed is not None and pointed not in candidates and os.path.exists(pointed + ".index"):
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
    model = SketchRNN(config, initialize=False)
    ckpt = tf.train.Checkpoint(model=model)

    def read(p: str) -> None:
        ckpt.read(p).expect_partial().assert_existing_objects_matched()

    if prefix is not None:  # asked for by name: no fallback to another
        check_matches(model, prefix)
        try:
            read(prefix)
        except _DAMAGE as e:
            raise ValueError(f"{prefix}: damaged checkpoint ({_first_line(e)})") from None
        return model
    if restore_newest(folder, read, "checkpoint", check=lambda p: check_matches(model, p)) is None:
        raise FileNotFoundError(f"{folder}: model config found but no checkpoint files")
    return model


class CheckpointMismatch(ValueError):
    """An intact checkpoint whose weights do not fit the model config: not damage, so no fallback."""


def check_matches(model: SketchRNN, prefix: str) -> None:
    """Raise a clear error if the checkpoint's weights do not fit the model built from the config."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f"{prefix}: unreadable checkpoint ({_first_line(e)})") from None
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
        raise CheckpointMismatch(
            f"{prefix}: checkpoint does not match its model config: " + "; ".join(problems))


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

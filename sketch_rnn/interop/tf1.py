"""Read (and name-map) magenta TF1 ``sketch_rnn`` checkpoints without building a TF1 graph.

A magenta model folder holds ``model_config.json``, a ``checkpoint`` text file and
``vector[-STEP].{index,data-*}``. Tensors are read with :mod:`sketch_rnn.tf_checkpoint` (numpy only,
so reading works on any Keras backend without TensorFlow installed) and assigned to a
:class:`~sketch_rnn.model.SketchRNN` built from the config; trainer-only tensors (Adam slots,
``global_step``, the learning-rate and KL-weight variables, ``vector_rnn_1/...``) are ignored.
Writing (:func:`export_tf1_checkpoint`) uses TensorFlow's own ``SaveV2`` op, so it needs TensorFlow.

Example: a round trip through magenta's format (a folder written by magenta loads the same way).
    >>> import tempfile
    >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    >>> folder = tempfile.mkdtemp()
    >>> _ = export_tf1_checkpoint(model, folder, step=5)
    >>> back = load_tf1_checkpoint(folder)
    >>> all(np.array_equal(a, b) for a, b in zip(model.get_weights(), back.get_weights()))
    True
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable

import keras
import numpy as np
from numpy.typing import ArrayLike

from sketch_rnn.cells import HyperLSTMCell, LayerNormLSTMCell, LSTMCell
from sketch_rnn.files import atomic_write_text
from sketch_rnn.hparams import CONFIG_FILE, HParams
from sketch_rnn.model import SketchRNN
from sketch_rnn.tf_checkpoint import CheckpointReader, latest_checkpoint

SCOPE = "vector_rnn"
_GATES = ("i", "j", "f", "o")


def _cell_names(cell, scope: str) -> list[tuple[keras.Variable, str | list[str]]]:
    if isinstance(cell, LSTMCell):
        base = f"{scope}/LSTMCell"
        return [(cell.W_xh, f"{base}/W_xh"), (cell.W_hh, f"{base}/W_hh"), (cell.bias, f"{base}/bias")]
    if isinstance(cell, LayerNormLSTMCell):
        base = f"{scope}/LayerNormLSTMCell"
        return [
            (cell.W_xh, f"{base}/W_xh"), (cell.W_hh, f"{base}/W_hh"),
            (cell.ln_all_gamma, f"{base}/ln_all/ln_gamma"), (cell.ln_all_beta, f"{base}/ln_all/ln_beta"),
            (cell.ln_c_gamma, f"{base}/ln_c/ln_gamma"), (cell.ln_c_beta, f"{base}/ln_c/ln_beta"),
        ]
    if isinstance(cell, HyperLSTMCell):
        base = f"{scope}/HyperLSTMCell"
        all_gates = [f"hyper_{g}x" for g in _GATES] + [f"hyper_{g}h" for g in _GATES]
        h_gates = [f"hyper_{g}h" for g in _GATES]
        return [
            (cell.W_xh, f"{base}/W_xh"), (cell.W_hh, f"{base}/W_hh"), (cell.bias, f"{base}/bias"),
            (cell.ln_all_gamma, f"{base}/ln_all/ln_gamma"), (cell.ln_all_beta, f"{base}/ln_all/ln_beta"),
            (cell.ln_c_gamma, f"{base}/ln_c/ln_gamma"), (cell.ln_c_beta, f"{base}/ln_c/ln_beta"),
            (cell.zw_w, [f"{base}/{g}/zw/super_linear_w" for g in all_gates]),
            (cell.zw_b, [f"{base}/{g}/zw/super_linear_b" for g in all_gates]),
            (cell.alpha_w, [f"{base}/{g}/alpha/super_linear_w" for g in all_gates]),
            (cell.zb_w, [f"{base}/{g}/zb/super_linear_w" for g in h_gates]),
            (cell.beta_w, [f"{base}/{g}/beta/super_linear_w" for g in h_gates]),
            *_cell_names(cell.hyper_cell, base),
        ]
    raise TypeError(f"no TF1 names for cell {type(cell).__name__}")


def tf1_names(model: SketchRNN) -> list[tuple[keras.Variable, str | list[str]]]:
    """Each trainable variable of ``model`` with its magenta checkpoint name(s).

    A list of names means the variable stacks those tensors along a new first axis.
    """
    s = SCOPE
    out = []
    if model.config.conditional:
        out += _cell_names(model.enc_fw, f"{s}/ENC_RNN/fw")
        out += _cell_names(model.enc_bw, f"{s}/ENC_RNN/bw")
        out += [
            (model.mu_w, f"{s}/ENC_RNN_mu/super_linear_w"), (model.mu_b, f"{s}/ENC_RNN_mu/super_linear_b"),
            (model.presig_w, f"{s}/ENC_RNN_sigma/super_linear_w"),
            (model.presig_b, f"{s}/ENC_RNN_sigma/super_linear_b"),
            (model.init_w, f"{s}/linear/super_linear_w"), (model.init_b, f"{s}/linear/super_linear_b"),
        ]
    out += _cell_names(model.decoder, f"{s}/RNN")
    out += [(model.output_w, f"{s}/RNN/output_w"), (model.output_b, f"{s}/RNN/output_b")]
    return out


def resolve_prefix(path: str | os.PathLike) -> str:
    """The checkpoint prefix for a magenta model folder, a prefix, or one of its files.

    Example:
        >>> resolve_prefix("runs/sheep/vector-2000.index"), resolve_prefix("runs/sheep/vector-2000.meta")
        ('runs/sheep/vector-2000', 'runs/sheep/vector-2000')
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        prefix = latest_checkpoint(path)
        if prefix is None:
            # sketch_rnn.zip folders may lack a usable `checkpoint` file; take the newest index.
            indexes = sorted(
                (f for f in os.listdir(path) if f.endswith(".index")),
                key=lambda f: os.path.getmtime(os.path.join(path, f)),
            )
            if not indexes:
                raise FileNotFoundError(f"{path}: no TF checkpoint (no *.index file) in this folder")
            prefix = os.path.join(path, indexes[-1][: -len(".index")])
        return prefix
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    if ".data-" in os.path.basename(path):
        return path.split(".data-")[0]
    if os.path.exists(path + ".index"):
        return path
    raise FileNotFoundError(f"{path}: not a TF checkpoint folder or prefix")


def is_tf1_checkpoint(path: str | os.PathLike) -> bool:
    """True if ``path`` holds a checkpoint with magenta's ``vector_rnn/`` variable names (only its
    ``.index`` file is read).

    Example:
        >>> import tempfile
        >>> is_tf1_checkpoint(tempfile.mkdtemp())
        False
    """
    try:
        names = CheckpointReader(resolve_prefix(path)).shapes()
    except (OSError, ValueError):
        return False
    return any(n.startswith(f"{SCOPE}/RNN/") for n in names)


def load_tf1_checkpoint(path: str | os.PathLike, hps: HParams | None = None) -> SketchRNN:
    """Load a magenta TF1 checkpoint folder (or prefix) into a :class:`SketchRNN`.

    ``hps`` defaults to the ``model_config.json`` beside the checkpoint (any magenta variant).
    Raises ``ValueError`` naming the checkpoint and the tensors if the config does not match, and
    ``ValueError`` / ``FileNotFoundError`` naming the file if a checkpoint file is damaged or missing.
    """
    prefix = resolve_prefix(path)
    folder = os.path.dirname(prefix)
    if hps is None:
        config = os.path.join(folder, CONFIG_FILE)
        if not os.path.exists(config):
            raise FileNotFoundError(f"{folder}: no {CONFIG_FILE} beside the checkpoint")
        hps = HParams.load(config)
    reader = CheckpointReader(prefix)  # its errors name the file and the damage
    shapes = reader.shapes()
    if not glob.glob(glob.escape(prefix) + ".data-*"):
        raise FileNotFoundError(f"{prefix}: the checkpoint has an index but no .data-* file "
                                "(the weights are missing)")
    model = SketchRNN(hps.model_config(), initialize=False)
    assign_from(model, reader.get, shapes, source=prefix)
    return model


def check_names(model: SketchRNN, shapes: dict[str, list[int]], source: str) -> None:
    """Raise ``ValueError`` unless every tensor ``model`` needs is in ``shapes`` with its shape."""
    missing, wrong = [], []
    for var, names in tf1_names(model):
        group = [names] if isinstance(names, str) else names
        expect = list(var.shape) if isinstance(names, str) else list(var.shape[1:])
        for n in group:
            if n not in shapes:
                missing.append(n)
            elif list(shapes[n]) != expect:
                wrong.append(f"{n}: checkpoint {list(shapes[n])} vs config {expect}")
    _raise_if(missing, wrong, source)


def assign_from(model: SketchRNN, get: Callable[[str], ArrayLike], shapes: dict[str, list[int]],
                source: str) -> None:
    """Assign every variable of ``model`` from ``get(name)`` after checking names and shapes."""
    check_names(model, shapes, source)
    for var, names in tf1_names(model):
        group = [names] if isinstance(names, str) else names
        arrays = [np.asarray(get(n), np.float32) for n in group]
        var.assign(arrays[0] if isinstance(names, str) else np.stack(arrays))


def _raise_if(missing: list[str], wrong: list[str], source: str) -> None:
    if missing or wrong:
        problems = []
        if missing:
            problems.append(f"missing tensors {missing[:6]}{' ...' if len(missing) > 6 else ''}")
        if wrong:
            problems.append(f"shape mismatch {wrong[:6]}")
        raise ValueError(f"{source}: checkpoint does not match its model config: " + "; ".join(problems))


# -- writing -------------------------------------------------------------------------------------

OUR_ONLY_HPARAMS = ("gmm_loss", "pad_to")


def tf1_tensors(model: SketchRNN) -> dict[str, np.ndarray]:
    """Every weight of ``model`` under its magenta checkpoint name (stacked variables unstacked)."""
    out = {}
    for var, names in tf1_names(model):
        value = np.asarray(var, np.float32)
        if isinstance(names, str):
            out[names] = value
        else:
            for k, name in enumerate(names):
                out[name] = value[k]
    return out


def export_tf1_checkpoint(model: SketchRNN, folder: str | os.PathLike, step: int = 0,
                          hps: HParams | None = None) -> str:
    """Write ``model`` as a magenta TF1 checkpoint folder; returns the checkpoint prefix.

    The folder gets ``model_config.json`` (magenta's hparam keys with values: the model's, and the
    data and training settings of ``hps`` when given, else magenta's defaults; our extra ``gmm_loss``
    / ``pad_to`` dropped), a ``checkpoint`` text file and ``vector-<step>.index`` /
    ``.data-00000-of-00001`` written by TF's ``SaveV2`` (the op ``tf.compat.v1.train.Saver`` uses),
    holding every variable under its magenta name plus the trainer's scalars ``global_step``,
    ``Variable`` (learning rate) and ``Variable_1`` (KL weight).

    Example:
        >>> import tempfile
        >>> model = SketchRNN(HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
        >>> folder = tempfile.mkdtemp()
        >>> os.path.basename(export_tf1_checkpoint(model, folder, step=5))
        'vector-5'
        >>> sorted(os.listdir(folder))
        ['checkpoint', 'model_config.json', 'vector-5.data-00000-of-00001', 'vector-5.index']
    """
    try:  # only writing needs TensorFlow: reading works on a JAX-only install
        import tensorflow as tf
    except ImportError:
        raise RuntimeError("writing magenta TF1 checkpoints needs TensorFlow: "
                           "pip install tensorflow") from None
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    hps = HParams.from_configs(model.config, hps.data_config(), hps.train_config()) if hps is not None \
        else HParams.from_configs(model.config)
    tensors = {name: tf.constant(v) for name, v in tf1_tensors(model).items()}
    tensors[f"{SCOPE}/global_step"] = tf.constant(int(step), tf.int32)
    tensors[f"{SCOPE}/Variable"] = tf.constant(float(hps.learning_rate), tf.float32)
    tensors[f"{SCOPE}/Variable_1"] = tf.constant(float(hps.kl_weight), tf.float32)
    names = sorted(tensors)
    basename = f"vector-{int(step)}"
    prefix = os.path.join(folder, basename)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tensors[n] for n in names])
    config = {k: v for k, v in hps.values().items() if k not in OUR_ONLY_HPARAMS}
    atomic_write_text(os.path.join(folder, CONFIG_FILE), json.dumps(config, indent=1) + "\n")
    atomic_write_text(os.path.join(folder, "checkpoint"),
                       f'model_checkpoint_path: "{basename}"\nall_model_checkpoint_paths: "{basename}"\n')
    return prefix

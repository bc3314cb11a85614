"""sketch_rnn: SketchRNN (Ha & Eck 2017) on Keras 3, faithful to magenta's reference.

Train a VAE over pen strokes, sample and complete drawings, encode and interpolate in latent space.
The top level holds what a user starts from; the rest lives in namespaces: ``sketch_rnn.latent``
(latent-space tools), ``.draw`` (SVG/PNG), ``.strokes`` (stroke geometry), ``.datasets`` (building
datasets), ``.interop`` (magenta TF1 checkpoints, browser models), and the layers below.

Example:
    >>> import sketch_rnn
    >>> config = sketch_rnn.ModelConfig(enc_rnn_size=16, dec_rnn_size=32, z_size=8)
    >>> model = sketch_rnn.SketchRNN(config)
    >>> drawings = sketch_rnn.sample(model, n=2, temperature=0.5, seed=0, max_len=30)
    >>> len(drawings)
    2

Modules, lowest layer first (data flows one way): ``files``, ``strokes`` -> ``config``, ``hparams``
-> ``data`` -> ``runtime``, ``cells``, ``losses``, ``schedules`` -> ``model`` -> ``fast`` ->
``train``, ``sampling``, ``checkpoint``, ``evaluation`` -> ``latent``, ``draw``; at the edges
``interop``, ``datasets``, ``cli``. Submodules load on first use, so ``import sketch_rnn`` is quick
and imports no TensorFlow until a model is made.
"""

from __future__ import annotations

import importlib
import warnings

__version__ = "0.1.0"

#: The front door: name -> the module that owns it.
_EXPORTS = {
    "SketchRNN": "sketch_rnn.model",
    "ModelConfig": "sketch_rnn.config",
    "HParams": "sketch_rnn.hparams",
    "get_default_hparams": "sketch_rnn.hparams",
    "load_model": "sketch_rnn.checkpoint",
    "save_model": "sketch_rnn.checkpoint",
    "Trainer": "sketch_rnn.train",
    "load_dataset": "sketch_rnn.data",
    "sample": "sketch_rnn.sampling",
    "complete": "sketch_rnn.sampling",
    "encode": "sketch_rnn.sampling",
    "decode": "sketch_rnn.sampling",
    "evaluate": "sketch_rnn.evaluation",
}

_NAMESPACES = ("cells", "checkpoint", "cli", "config", "data", "datasets", "draw", "evaluation", "fast",
               "files", "hparams", "interop", "latent", "losses", "model", "runtime", "sampling",
               "schedules", "strokes", "train")

#: Names this package used to export at the top level: they keep working for one release, with a
#: DeprecationWarning naming where they live now.
_DEPRECATED = {
    "DataLoader": "sketch_rnn.data",
    "load_npz": "sketch_rnn.data",
    "augment_strokes": "sketch_rnn.strokes",
    "lerp": "sketch_rnn.strokes",
    "slerp": "sketch_rnn.strokes",
    "pad_batch": "sketch_rnn.strokes",
    "random_scale": "sketch_rnn.strokes",
    "to_stroke3": "sketch_rnn.strokes",
    "to_stroke5": "sketch_rnn.strokes",
    "configure_cpu_threads": "sketch_rnn.fast",
    "SVG": "sketch_rnn.draw",
    "draw_png": "sketch_rnn.draw",
    "draw_svg": "sketch_rnn.draw",
    "grid_svg": "sketch_rnn.draw",
    "save_svg": "sketch_rnn.draw",
    "scatter_svg": "sketch_rnn.draw",
    "show": "sketch_rnn.draw",
    "strip_svg": "sketch_rnn.draw",
    "evaluate_drawings": "sketch_rnn.evaluation",
    "kl_loss": "sketch_rnn.losses",
    "mixture_params": "sketch_rnn.losses",
    "reconstruction_loss": "sketch_rnn.losses",
    "kl_weight": "sketch_rnn.schedules",
    "learning_rate": "sketch_rnn.schedules",
    "analogy": "sketch_rnn.latent",
    "eigen_sketches": "sketch_rnn.latent",
    "interpolate": "sketch_rnn.latent",
    "morph": "sketch_rnn.latent",
    "pca": "sketch_rnn.latent",
    "project": "sketch_rnn.latent",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _NAMESPACES:
        value = importlib.import_module(f"sketch_rnn.{name}")
    elif name in _DEPRECATED:
        module = _DEPRECATED[name]
        warnings.warn(f"sketch_rnn.{name} is deprecated and will be removed in the next release: use "
                      f"{module}.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    else:
        raise AttributeError(f"module 'sketch_rnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_NAMESPACES))

"""Import the ORIGINAL magenta sketch_rnn code (magenta 2.1.4 from PyPI) without its package init.

Run inside the reference venv made by ``bench/setup_reference.sh``. ``magenta/__init__.py`` imports
half of magenta (note_seq, tf_slim, librosa, ...), none of which is installed there, so
``magenta`` is registered in ``sys.modules`` as a bare namespace module whose ``__path__`` points
at the installed package; ``magenta.models``, ``magenta.contrib`` (whose ``__init__`` files are
empty) and ``magenta.models.sketch_rnn.*`` are then imported normally from site-packages.

magenta 2.1.4's sketch_rnn is already ported to ``tensorflow.compat.v1`` and ships its own
``magenta.contrib.training.HParams``, so no ``tf.contrib`` shim is needed. What it needs is:
- ``TF_USE_LEGACY_KERAS=1`` (set here before TensorFlow is imported): ``tf.compat.v1.nn.rnn_cell``
  is backed by tf_keras; with Keras 3 the RNNCell base class cannot be subclassed as magenta does;
- ``tf.compat.v1.disable_v2_behavior()`` (the original trainer's console entry point calls it).

Usage::

    from _magenta import load_reference
    ref = load_reference()          # namespace: tf, model, rnn, utils, train
    hps = ref.model.get_default_hparams()

Running this file directly is the smoke test used by setup_reference.sh.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

_LOADED: types.SimpleNamespace | None = None


def _register_bare_magenta() -> None:
    if "magenta" in sys.modules:
        return
    spec = importlib.util.find_spec("magenta")  # locates the package without executing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "magenta is not installed in this interpreter "
            f"({sys.executable}); run bash bench/setup_reference.sh and use bench/.venv-magenta"
        )
    pkg = types.ModuleType("magenta")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__file__ = None
    pkg.__package__ = "magenta"
    pkg.__spec__ = spec
    sys.modules["magenta"] = pkg


def load_reference(quiet: bool = True) -> types.SimpleNamespace:
    """Import magenta.models.sketch_rnn.{model,rnn,utils,sketch_rnn_train}; return them and tf."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    if quiet:
        tf.logging.set_verbosity(tf.logging.ERROR)

    _register_bare_magenta()
    model = importlib.import_module("magenta.models.sketch_rnn.model")
    rnn = importlib.import_module("magenta.models.sketch_rnn.rnn")
    utils = importlib.import_module("magenta.models.sketch_rnn.utils")
    train = importlib.import_module("magenta.models.sketch_rnn.sketch_rnn_train")
    if quiet:
        # sketch_rnn_train sets INFO verbosity at import time.
        tf.logging.set_verbosity(tf.logging.ERROR)
    import magenta.version as mv  # noqa: I001  (plain module, safe to import)

    _LOADED = types.SimpleNamespace(
        tf=tf, model=model, rnn=rnn, utils=utils, train=train, magenta_version=mv.__version__
    )
    return _LOADED


def versions(ref: types.SimpleNamespace) -> dict:
    import numpy as np

    return {
        "magenta": ref.magenta_version,
        "tensorflow": ref.tf.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":
    ref = load_reference()
    hps = ref.model.get_default_hparams()
    assert hps.dec_model == "lstm" and hps.batch_size == 100, hps.values()
    assert "magenta.pipelines" not in sys.modules, "magenta/__init__.py must not run"
    print("reference import OK:", versions(ref))

"""What the command-line tools share (no flags here: absl flags are process-global)."""

from __future__ import annotations

import json
import logging
import os
import sys

import numpy as np

# The bundled default data and pretrained model, beside the package in a source checkout or
# editable install.
REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA_DIR = os.path.join(REPO_DIR, "datasets", "aaron_sheep")
PRETRAINED_SHEEP_DIR = os.path.join(REPO_DIR, "checkpoints", "aaron_sheep")


def setup_logging() -> None:
    """INFO-level progress from the library on stderr, with timestamps."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("sketch_rnn").setLevel(logging.INFO)


def run_absl_app(main, module_name: str) -> None:
    """Run an absl ``main`` (the console-script entry of the module ``module_name``).

    absl's ``--help`` prints ``__main__``'s docstring and the flags of the module named by
    ``sys.argv[0]``. Under a console script ``__main__`` is pip's generated launcher, so both would
    be empty ("Try --helpfull"); the tool's own docstring and flags are lent to it here. Under
    ``python -m`` the module already is ``__main__``.
    """
    from absl import app, flags

    setup_logging()
    if module_name != "__main__":
        sys.modules["__main__"].__doc__ = sys.modules[module_name].__doc__
        for flag in flags.FLAGS.get_key_flags_for_module(module_name):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


def read_strokes(path: str, flag: str) -> np.ndarray:
    """A stroke-3 drawing from ``.npy`` (array ``[L, 3]``) or ``.json`` (list of rows); ``flag``
    names the option it came from, for the error."""
    if path.lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.lower().endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return np.asarray(json.load(f), dtype=np.float32)
    raise ValueError(f"--{flag}={path}: expected a .npy or .json stroke-3 file")


def save_drawings_npy(path: str, drawings) -> None:
    """Drawings of different lengths as one ``.npy`` object array (``np.load(..., allow_pickle=True)``)."""
    arr = np.empty(len(drawings), dtype=object)
    arr[:] = drawings
    np.save(path, arr, allow_pickle=True)

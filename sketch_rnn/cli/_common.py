"""What the command-line tools share (no flags here: absl flags are process-global)."""

from __future__ import annotations

import json
import logging
import os
import sys

import numpy as np

from sketch_rnn.strokes import check_drawing

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
    """A checked stroke-3 drawing ``[L, 3]`` (float32) from ``.npy`` (an array) or ``.json`` (a list
    of ``[dx, dy, pen_lift]`` rows). ``flag`` names the option it came from: every error says
    ``--flag=path`` and what is wrong with the file."""
    where = f"--{flag}={path}"
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npy", ".json"):
        raise ValueError(f"{where}: expected a .npy or .json stroke-3 file")
    if not os.path.isfile(path):
        raise ValueError(f"{where}: no such file")
    try:
        if suffix == ".npy":
            with open(path, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise ValueError("not a .npy file")
            data = np.load(path, allow_pickle=False)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        strokes = np.asarray(data, dtype=np.float32)
    except (OSError, ValueError, TypeError) as e:
        # numpy says "pickled data" for an object array; json names line and column.
        raise ValueError(f"{where}: not a stroke-3 drawing ({e})") from e
    return check_drawing(strokes, where)


def save_drawings_npy(path: str, drawings) -> None:
    """Drawings of different lengths as one ``.npy`` object array (``np.load(..., allow_pickle=True)``),
    written atomically."""
    from sketch_rnn.files import atomic_output

    arr = np.empty(len(drawings), dtype=object)
    arr[:] = drawings
    with atomic_output(path, suffix=".npy") as f:
        np.save(f, arr, allow_pickle=True)

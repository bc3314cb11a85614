"""What the command-line tools share (no flags here: absl flags are process-global)."""

from __future__ import annotations

import logging
import os

# The bundled default data, beside the package in a source checkout or editable install.
DEFAULT_DATA_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "datasets", "aaron_sheep",
)


def setup_logging() -> None:
    """INFO-level progress from the library on stderr, with timestamps."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("sketch_rnn").setLevel(logging.INFO)

"""Helpers shared by test modules (``from _helpers import ...``: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import numpy as np

from sketch_rnn.model import SketchRNN


def randomize(model: SketchRNN, seed: int = 0, scale: float = 0.4) -> SketchRNN:
    """Give every weight a random value, so that biases, gains and layouts all matter."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(0.0, scale, tuple(v.shape)).astype(np.float32))
    return model

"""Dropout masks, and the stateless seeds they come from.

The reference draws a fresh recurrent-dropout mask at every step inside each cell (and the
decoder's input and output dropout masks likewise). Here one call's masks are drawn before its
loops, each from its own seed folded in from the call's ``noise_seed`` (a checkpointed generator
draws that, so a resumed run drops exactly what the uninterrupted one would have), and both ways a
sequence runs (the reference loops, the fused plug-in) read the same masks.

Drawing from a seed computed at run time is the one piece Keras does not offer (``keras.random``
takes integer seeds or seed generators): :mod:`sketch_rnn.backend` does it per backend.

Example:
    >>> mask = Noise().mask((3, 2, 4), keep_prob=0.5)
    >>> tuple(mask.kept.shape), set(np.asarray(mask.values()).ravel().tolist()) <= {0.0, 2.0}
    ((3, 2, 4), True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from keras import ops

from sketch_rnn import backend


class DropoutMask(NamedTuple):
    """Which units one dropout keeps at every step, ``kept`` (bool ``[T, B, units]``: a fresh mask per
    step, as the reference draws one inside the cell), and its keep probability. The mask's values,
    made when a step runs, are those of ``tf.nn.dropout``: ``1 / keep_prob`` where kept, else 0."""

    kept: object
    keep_prob: float

    def values(self, kept=None):
        """The mask values of ``kept`` (default: all steps)."""
        kept = self.kept if kept is None else kept
        scale = np.float32(1.0) / np.float32(self.keep_prob)  # (in float32, as tf.nn.dropout)
        return ops.where(kept, scale, np.float32(0.0))


class Noise:
    """Where one call's dropout masks come from: each draw gets its own seed folded in from the
    stateless ``seed`` ``[2]``, or a fresh one when ``seed`` is None."""

    def __init__(self, seed=None):
        self.seed, self.count = seed, 0

    def next_seed(self):
        self.count += 1
        return None if self.seed is None else backend.fold_in(self.seed, self.count)

    def mask(self, shape, keep_prob: float) -> DropoutMask | None:
        """A :class:`DropoutMask` of ``shape`` (None when everything is kept; the draw is counted)."""
        seed = self.next_seed()
        if keep_prob >= 1.0:
            return None
        return DropoutMask(backend.kept(shape, keep_prob, seed), keep_prob)

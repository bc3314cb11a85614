"""The reference's learning-rate decay and KL-weight annealing, as functions of the global step.

``lr_t = (lr0 - lr_min) * decay^t + lr_min`` and ``w_t = w_KL - (w_KL - w_start) * R^t``.

Example:
    >>> config = TrainConfig()
    >>> round(learning_rate(config, 0), 6), round(kl_weight(config, 0), 6)
    (0.001, 0.01)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from sketch_rnn import backend
from sketch_rnn.config import TrainConfig
from sketch_rnn.hparams import HParams


def learning_rate(config: TrainConfig | HParams, step):
    """Learning rate at global step ``step`` (a number or a tensor) of a training config (or hparams).

    Example:
        >>> from sketch_rnn.hparams import get_default_hparams
        >>> hps = get_default_hparams()   # 0.001, decaying by 0.9999 a step towards 1e-5
        >>> round(learning_rate(hps, 0), 6), round(learning_rate(hps, 10_000), 6)
        (0.001, 0.000374)
    """
    c = config
    return (c.learning_rate - c.min_learning_rate) * c.decay_rate**step + c.min_learning_rate


def kl_weight(config: TrainConfig | HParams, step):
    """KL weight at global step ``step`` (a number or a tensor) of a training config (or hparams).

    Example:
        >>> from sketch_rnn.hparams import get_default_hparams
        >>> hps = get_default_hparams()   # from 0.01 towards 0.5, the gap shrinking by 0.99995 a step
        >>> round(kl_weight(hps, 0), 4), round(kl_weight(hps, 10_000), 4)
        (0.01, 0.2028)
    """
    c = config
    return c.kl_weight - (c.kl_weight - c.kl_weight_start) * c.kl_decay_rate**step


class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The reference decay as a Keras schedule, driven by the optimizer's step counter.

    Example:
        >>> round(float(LearningRate(TrainConfig())(6931)), 6)
        0.000505
    """

    def __init__(self, config: TrainConfig | HParams | None = None, *, learning_rate: float | None = None,
                 min_learning_rate: float | None = None, decay_rate: float | None = None):
        c = config or TrainConfig()
        self.lr0 = c.learning_rate if learning_rate is None else learning_rate
        self.lr_min = c.min_learning_rate if min_learning_rate is None else min_learning_rate
        self.decay = c.decay_rate if decay_rate is None else decay_rate

    def __call__(self, step):
        # The power in float64: float32(0.9999) alone is off by 1.7e-8, which compounds to a
        # 4e-4 relative error in the rate by step 46,000. Without float64 (JAX's default), as
        # exp(step ln d) with ln d exact: about 3e-7 relative by then.
        if not backend.float64_available():
            log_decay = np.float32(math.log(self.decay))
            rate = (self.lr0 - self.lr_min) * ops.exp(ops.cast(step, "float32") * log_decay) + self.lr_min
            return ops.cast(rate, "float32")
        step = ops.cast(step, "float64")
        decay = ops.convert_to_tensor(self.decay, dtype="float64")  # (not via float32)
        rate = (self.lr0 - self.lr_min) * ops.power(decay, step) + self.lr_min
        return ops.cast(rate, "float32")

    def get_config(self):
        return {"learning_rate": self.lr0, "min_learning_rate": self.lr_min,
                "decay_rate": self.decay}

"""The reference's learning-rate decay and KL-weight annealing, as functions of the global step.

``lr_t = (lr0 - lr_min) * decay^t + lr_min`` and ``w_t = w_KL - (w_KL - w_start) * R^t``.

Example:
    >>> from sketch_rnn.hparams import HParams
    >>> hps = HParams()
    >>> round(learning_rate(hps, 0), 6), round(kl_weight(hps, 0), 6)
    (0.001, 0.01)
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow import keras

from sketch_rnn.hparams import HParams


def learning_rate(hps: HParams, step):
    """Learning rate at global step ``step`` (a number or a tensor).

    Example:
        >>> from sketch_rnn.hparams import get_default_hparams
        >>> hps = get_default_hparams()   # 0.001, decaying by 0.9999 a step towards 1e-5
        >>> round(learning_rate(hps, 0), 6), round(learning_rate(hps, 10_000), 6)
        (0.001, 0.000374)
    """
    return (hps.learning_rate - hps.min_learning_rate) * hps.decay_rate**step + hps.min_learning_rate


def kl_weight(hps: HParams, step):
    """KL weight at global step ``step`` (a number or a tensor).

    Example:
        >>> from sketch_rnn.hparams import get_default_hparams
        >>> hps = get_default_hparams()   # from 0.01 towards 0.5, the gap shrinking by 0.99995 a step
        >>> round(kl_weight(hps, 0), 4), round(kl_weight(hps, 10_000), 4)
        (0.01, 0.2028)
    """
    return hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * hps.kl_decay_rate**step


class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The reference decay as a Keras schedule, driven by the optimizer's step counter.

    Example:
        >>> from sketch_rnn.hparams import HParams
        >>> round(float(LearningRate(HParams())(6931)), 6)
        0.000505
    """

    def __init__(self, hps: HParams | None = None, *, learning_rate: float | None = None,
                 min_learning_rate: float | None = None, decay_rate: float | None = None):
        hps = hps or HParams()
        self.lr0 = hps.learning_rate if learning_rate is None else learning_rate
        self.lr_min = hps.min_learning_rate if min_learning_rate is None else min_learning_rate
        self.decay = hps.decay_rate if decay_rate is None else decay_rate

    def __call__(self, step):
        # The power in float64: float32(0.9999) alone is off by 1.7e-8, which compounds to a
        # 4e-4 relative error in the rate by step 46,000.
        step = tf.cast(step, tf.float64)
        rate = (self.lr0 - self.lr_min) * tf.pow(tf.constant(self.decay, tf.float64), step) + self.lr_min
        return tf.cast(rate, tf.float32)

    def get_config(self):
        return {"learning_rate": self.lr0, "min_learning_rate": self.lr_min,
                "decay_rate": self.decay}

"""How a model's computations run, never what they compute: one options object for the speed plug-ins.

A :class:`RuntimeOptions` is passed to whoever runs the model (``model(x, seq_len, runtime=...)``,
:class:`~sketch_rnn.train.Trainer`, :class:`~sketch_rnn.sampling.Sampler`); it is not saved with the
weights, and every choice gives the same values to float32 rounding (``tests/test_fast.py``).

* ``recurrence``: how teacher-forced sequences (training, evaluation) run. ``"reference"``: the
  cells' plain steps (:mod:`sketch_rnn.cells`) in a ``keras.ops`` loop, differentiated
  automatically, on any backend. ``"fused"``: :mod:`sketch_rnn.fast`'s hand-fused recurrences
  (a hand-written backward pass, batch lanes, compiled pieces; TensorFlow only). ``"auto"``
  (default): fused on TensorFlow, the reference elsewhere. The fused recurrences differentiate
  with respect to the weights, the latent code and the initial state (what training needs), not
  the drawings they read: for gradients with respect to the input strokes, use ``"reference"``.
* ``lanes``: independent batch lanes of the fused recurrences (``None``: one per CPU core up to
  two, one on a GPU). ``fused_xla``: XLA-compile the fused backward's elementwise maths.
* ``sampler``: how :class:`~sketch_rnn.sampling.Sampler` draws and encodes. ``"reference"``: its
  ``keras.ops`` loops, on any backend. ``"fast"``: :mod:`sketch_rnn.fast.sampler`'s loops (batch
  lanes, TensorArrays, XLA for small batches, the encoder's two directions side by side; TensorFlow
  only), which draw exactly the reference's drawings. ``"auto"`` (default): fast on TensorFlow, the
  reference elsewhere.
* ``sampler_jit`` / ``jit_max_batch``: on TensorFlow, XLA-compile the sampler's loops (``None``: for
  batches under ``jit_max_batch`` drawings; on JAX the loops are always compiled);
  ``lane_min_batch``: batches from this size sample as lanes (fast sampler); ``encoder_unroll``:
  encoder steps per loop iteration when the fast sampler encodes.
* ``eval_jit`` / ``eval_jit_min``: evaluation (:mod:`sketch_rnn.evaluation`) runs its forward
  passes as one XLA-compiled function of fixed-shape batches, with the reference recurrences
  (``None``: from ``eval_jit_min`` drawings on; fewer run eagerly with ``recurrence``, as compiling
  a 512-unit decoder costs about what eagerly evaluating 30-50 drawings does).

Example:
    >>> RuntimeOptions(recurrence="reference").uses_fused()
    False
"""

from __future__ import annotations

import dataclasses

RECURRENCES = ("auto", "fused", "reference")
SAMPLERS = ("auto", "fast", "reference")


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
    """Speed choices for running a model (see the module docstring). Frozen: make a new one with
    :meth:`replace`.

    Example:
        >>> RuntimeOptions().replace(lanes=1).lanes
        1
    """

    recurrence: str = "auto"
    lanes: int | None = None
    fused_xla: bool = True
    sampler_jit: bool | None = None
    jit_max_batch: int = 4
    lane_min_batch: int = 8
    encoder_unroll: int = 2
    eval_jit: bool | None = None
    eval_jit_min: int = 32
    sampler: str = "auto"

    def __post_init__(self) -> None:
        if self.recurrence not in RECURRENCES:
            raise ValueError(f"recurrence={self.recurrence!r}: expected one of {', '.join(RECURRENCES)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler={self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        if self.lanes is not None and int(self.lanes) < 1:
            raise ValueError(f"lanes={self.lanes}: must be >= 1 (or None)")
        for name in ("jit_max_batch", "lane_min_batch", "encoder_unroll", "eval_jit_min"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")

    def replace(self, **changes) -> RuntimeOptions:
        return dataclasses.replace(self, **changes)

    def uses_fused(self) -> bool:
        """Whether teacher-forced sequences run through :mod:`sketch_rnn.fast` (resolves ``"auto"``)."""
        if self.recurrence == "auto":
            import keras

            return keras.backend.backend() == "tensorflow"
        return self.recurrence == "fused"

    def uses_fast_sampler(self) -> bool:
        """Whether the sampler runs :mod:`sketch_rnn.fast.sampler`'s loops (resolves ``"auto"``)."""
        if self.sampler == "auto":
            import keras

            return keras.backend.backend() == "tensorflow"
        return self.sampler == "fast"

    def sampler_uses_jit(self, batch: int) -> bool:
        """Whether the sampler XLA-compiles its loop for ``batch`` drawings."""
        return batch < self.jit_max_batch if self.sampler_jit is None else bool(self.sampler_jit)

    def eval_uses_jit(self, drawings: int) -> bool:
        """Whether evaluating ``drawings`` drawings runs the compiled forward pass."""
        return drawings >= self.eval_jit_min if self.eval_jit is None else bool(self.eval_jit)


DEFAULT = RuntimeOptions()


def resolve(runtime: RuntimeOptions | None) -> RuntimeOptions:
    """``runtime``, or the defaults."""
    if runtime is None:
        return DEFAULT
    if not isinstance(runtime, RuntimeOptions):
        raise TypeError(f"runtime must be a RuntimeOptions, got {type(runtime).__name__}")
    return runtime

"""Speed plug-ins: code that computes exactly what the reference does, faster on some machine.

Nothing here changes a result. Each plug-in is proven equal to the reference maths of
:mod:`sketch_rnn.cells` / :mod:`sketch_rnn.model` by ``tests/test_fast.py`` (values and gradients,
every dropout on), and is chosen through :class:`~sketch_rnn.runtime.RuntimeOptions`, never by
module globals or flags on the model.

* :mod:`sketch_rnn.fast.fused` (TensorFlow): the teacher-forced recurrences of training and
  evaluation with a hand-written backward pass, batch lanes and XLA-compiled elementwise pieces
  (``RuntimeOptions(recurrence="fused")``, the default on TensorFlow; about twice the reference's
  training speed on a 2-core CPU, see ``bench/RESULTS.md``).
* :func:`configure_cpu_threads`: one TensorFlow thread per op where the fused lanes fill every core.

The sampler's compiled loops (:class:`~sketch_rnn.sampling.Sampler`) run the model's own
:meth:`~sketch_rnn.model.SketchRNN.decode_step`; their speed choices are in ``RuntimeOptions`` too.

Example:
    >>> from sketch_rnn.runtime import RuntimeOptions
    >>> RuntimeOptions(recurrence="fused", lanes=1).uses_fused()
    True
"""

from __future__ import annotations


def configure_cpu_threads() -> int | None:
    """One TensorFlow thread per op on a small CPU-only machine (see
    :func:`sketch_rnn.fast.fused.configure_cpu_threads`); call it first thing in a training script.
    On other backends it does nothing (and returns None).

    Example:
        >>> import sketch_rnn.fast
        >>> sketch_rnn.fast.configure_cpu_threads()  # doctest: +SKIP
        1
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    from sketch_rnn.fast.fused import configure_cpu_threads as configure

    return configure()


__all__ = ["configure_cpu_threads"]

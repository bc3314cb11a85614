"""The fused recurrences of :mod:`sketch_rnn.fast.fused` equal the reference maths of :mod:`sketch_rnn.model`.

The reference runs the cells' plain steps in ``keras.ops`` loops and is differentiated automatically;
the fused plug-in runs hand-fused TensorFlow loops with a hand-written backward pass, batch lanes and
XLA-compiled elementwise pieces. On small models whose every weight is random, for each cell type
(``lstm``, ``layer_norm``, ``hyper``), with the same dropout masks (same ``noise_seed``), this proves:

* whole model, conditional and unconditional: ``raw``, ``mu``, ``presig``, ``z`` and ``final_state``,
  and the gradient of every trainable variable, in training (recurrent, input and output dropout all
  on, keep probabilities < 1) and in inference; with 1, 2 and 3 lanes, ``fused_xla`` on and off;
  unconditional in training also the gradient of the input rows (``fused_sequence(input_grad=True)``);
* the encoder alone (:meth:`SketchRNN.posterior`) on ragged, unsorted lengths (0, 1, the padded
  length, all shorter than it) with 4 lanes (two per direction, so the rows are dealt across lanes)
  and 1: ``(mu, presig)`` and the encoder weights' gradients;
* the decoder alone (:meth:`SketchRNN.decode_sequence`) in training: gradients of its input rows,
  ``z`` and initial state as well as of its weights;
* the dropout is really on: every one of the five masks is drawn with its keep probability, and
  removing any one of them changes the fused outputs, as do ``training=False`` and another seed;
* the same inside ``tf.function``, as the trainer runs a step.

Every test also checks that the fused path ran (``fused_sequence`` called, with the lanes and XLA
setting asked for) and that the reference did not touch it, so the comparisons cannot be vacuous.
The backward's chunks are cut to ``CHUNK`` steps so that the 6-step sequences cross a chunk
boundary into a partial chunk (the real sizes, 25 and 10 steps, would hold them in one).

Not compared, by design of the plug-in: the gradient of the encoder's input rows, and of the
decoder's rows without input dropout (the fused sequences treat those as data and return None, so
the whole model's gradient w.r.t. ``x`` is not the reference's).
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn.config import ModelConfig
from sketch_rnn.fast import fused
from sketch_rnn.model import SketchRNN
from sketch_rnn.noise import Noise
from sketch_rnn.runtime import RuntimeOptions

KINDS = ("lstm", "layer_norm", "hyper")
BATCH, STEPS = 5, 6
# Unsorted, one drawing of length 1, two of the padded length.
LENGTHS = (6, 3, 5, 1, 6)
KEEP = {"recurrent_dropout_prob": 0.6, "input_dropout_prob": 0.8, "output_dropout_prob": 0.7}
SEED = (3, 4)
CHUNK = 4
VALUE_ATOL = 1e-5
GRAD_RTOL = 1e-4  # of the largest reference gradient of each variable (about 1e-6 is seen)
# Far above float32 rounding, far below what a dropped unit does to the outputs.
DROPOUT_MARGIN = 1e-2

REFERENCE = RuntimeOptions(recurrence="reference")


def fused_runtime(lanes: int | None, xla: bool) -> RuntimeOptions:
    return RuntimeOptions(recurrence="fused", lanes=lanes, fused_xla=xla)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(fused.Kernel, "chunk", CHUNK)
    monkeypatch.setattr(fused.HyperKernel, "chunk", CHUNK)


@functools.cache
def make_model(kind: str, conditional: bool) -> SketchRNN:
    config = ModelConfig(enc_model=kind, dec_model=kind, enc_rnn_size=8, dec_rnn_size=16, z_size=4,
                         num_mixture=2, conditional=conditional, use_recurrent_dropout=True,
                         use_input_dropout=True, use_output_dropout=True, hyper_num_units=8,
                         hyper_embedding_size=4, **KEEP)
    model = SketchRNN(config, initialize=False)
    rng = np.random.default_rng(zlib.crc32(f"{kind}{conditional}".encode()))
    for v in model.weights:
        # Gains (initially ones) stay near 1, so that their backward terms are not scaled away.
        centre = 1.0 if np.all(v.numpy() == 1.0) else 0.0
        v.assign((centre + rng.normal(0.0, 0.3, tuple(v.shape))).astype(np.float32))
    return model


def random(name: str, shape) -> tf.Tensor:
    """A fixed random tensor per name (inputs, and the cotangents that weigh each output)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return tf.constant(rng.normal(0.0, 1.0, tuple(shape)).astype(np.float32))


def probe(outputs: dict, model: SketchRNN) -> tf.Tensor:
    # A random cotangent per output rather than a plain sum: every output element gets its own
    # weight, so no error in the backward can cancel out by symmetry. (Shapes from the config: in
    # a graph the fused final state's rows are not known statically.)
    c = model.config
    shapes = {"raw": (BATCH, STEPS, c.output_size), "final_state": (BATCH, model.decoder.state_size),
              **{k: (BATCH, c.z_size) for k in ("mu", "presig", "z")}}
    return tf.add_n([tf.reduce_sum(random(f"cotangent/{k}", shapes[k]) * v) for k, v in outputs.items()])


@contextlib.contextmanager
def fused_calls(runtime: RuntimeOptions, sequences: int):
    """Checks that ``runtime`` ran ``sequences`` fused sequences, with its lanes and XLA setting,
    or (the reference) none."""
    with mock.patch.object(fused, "fused_sequence", wraps=fused.fused_sequence) as seq, \
            mock.patch.object(fused, "_elementwise", wraps=fused._elementwise) as elementwise:
        yield
    if not runtime.uses_fused():
        assert seq.call_count == 0 and elementwise.call_count == 0, "the reference ran fused code"
        return
    assert seq.call_count == sequences, f"{seq.call_count} fused sequences ran, expected {sequences}"
    lanes = fused.default_lanes() if runtime.lanes is None else runtime.lanes
    for call in seq.call_args_list:
        # The encoder's two directions share the lanes (see fused.encoder_outputs).
        expected = max(1, lanes // 2) if call.kwargs.get("lengths") is not None else lanes
        assert call.kwargs["lanes"] == expected
        assert call.kwargs["xla"] == runtime.fused_xla
    # The backward ran; its steps compile when fused_xla is on, but only full-batch sequences'
    # (the encoder's steps change their row count).
    assert elementwise.call_count > 0
    full_batch = any(call.kwargs.get("lengths") is None for call in seq.call_args_list)
    assert any(call.args[1] for call in elementwise.call_args_list) == (runtime.fused_xla and full_batch)


def forward_backward(model: SketchRNN, runtime: RuntimeOptions, training: bool, seed=SEED,
                     with_x: bool = False):
    """The model's outputs, and the gradients of one random probe of them w.r.t. every trainable
    variable (and the input rows ``x`` with ``with_x``), as dicts of tensors."""
    x = random("x", (BATCH, STEPS + 1, 5))
    names = ("raw", "final_state")
    if model.config.conditional:
        names += ("mu", "presig", "z")
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x, tf.constant(LENGTHS), training=training, eps=random("eps", (BATCH, 4)),
                    noise_seed=tf.constant(seed, tf.int64), runtime=runtime)
        out = {k: out[k] for k in names}
        loss = probe(out, model)
    sources = [*model.trainable_variables, x] if with_x else model.trainable_variables
    labels = [v.path for v in model.trainable_variables] + (["x"] if with_x else [])
    return out, dict(zip(labels, tape.gradient(loss, sources), strict=True))


def run_model(model: SketchRNN, runtime: RuntimeOptions, training: bool, with_x: bool = False):
    """:func:`forward_backward`, checked for the path it took, as numpy."""
    with fused_calls(runtime, 3 if model.config.conditional else 1):
        return to_numpy(forward_backward(model, runtime, training, with_x=with_x))


def to_numpy(nest):
    return tf.nest.map_structure(lambda t: None if t is None else np.asarray(t), nest)


@functools.cache
def reference(kind: str, conditional: bool, training: bool):
    return run_model(make_model(kind, conditional), REFERENCE, training, with_x=not conditional)


def assert_values_equal(expected: dict, got: dict) -> None:
    assert expected.keys() == got.keys()
    for name, want in expected.items():
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want), rtol=0, atol=VALUE_ATOL,
                                   err_msg=name)


def assert_grads_equal(expected: dict, got: dict) -> None:
    assert expected.keys() == got.keys()
    for name, want in expected.items():
        assert want is not None and got[name] is not None, f"{name}: no gradient"
        want, have = np.asarray(want), np.asarray(got[name])
        scale = np.abs(want).max()
        # A zero gradient would compare nothing: every weight here must influence the probe.
        assert scale > 0, f"{name}: the reference gradient is zero"
        error = np.abs(have - want).max() / scale
        assert error <= GRAD_RTOL, f"{name}: gradient differs by {error:.2e} of its largest entry"


# (kind, training, lanes, fused_xla): every kind in training, and between the kinds training and
# inference each with 1 and 2 lanes and XLA on and off; every combination on every kind would
# triple the file's run time (each fused run is seconds of eager loops, plus XLA compiles).
CONDITIONAL_CASES = [
    ("lstm", True, 1, False), ("lstm", False, 2, True),
    ("layer_norm", True, 2, True), ("layer_norm", False, 1, False),
    ("hyper", True, 2, True),
]
UNCONDITIONAL_CASES = [
    ("lstm", True, 3, True), ("lstm", False, 2, True), ("layer_norm", True, 1, False),
    ("hyper", True, 2, False), ("hyper", False, 1, False),
]


@pytest.mark.parametrize("kind, training, lanes, xla", CONDITIONAL_CASES)
def test_conditional_model_values_and_gradients(kind, training, lanes, xla):
    values, grads = run_model(make_model(kind, True), fused_runtime(lanes, xla), training)
    expected_values, expected_grads = reference(kind, True, training)
    assert_values_equal(expected_values, values)
    assert_grads_equal(expected_grads, grads)


@pytest.mark.parametrize("kind, training, lanes, xla", UNCONDITIONAL_CASES)
def test_unconditional_model_values_and_gradients(kind, training, lanes, xla):
    # In training the input rows are dropped out, so the fused decoder differentiates them too
    # (input_grad); in inference it treats them as data, with no gradient to compare.
    values, grads = run_model(make_model(kind, False), fused_runtime(lanes, xla), training, with_x=training)
    expected_values, expected_grads = reference(kind, False, training)
    if not training:
        expected_grads = {k: v for k, v in expected_grads.items() if k != "x"}
    assert_values_equal(expected_values, values)
    assert_grads_equal(expected_grads, grads)


@pytest.mark.parametrize("kind, lengths, lanes", [
    ("lstm", LENGTHS, 4), ("lstm", (4, 0, 1, 5, 2), 1), ("layer_norm", (4, 0, 1, 5, 2), 4),
    ("hyper", (4, 0, 1, 5, 2), 1),
])
def test_encoder_on_ragged_lengths(kind, lengths, lanes):
    model = make_model(kind, True)
    variables = [*model.enc_fw.trainable_variables, *model.enc_bw.trainable_variables,
                 model.mu_w, model.mu_b, model.presig_w, model.presig_b]
    x = random("x", (BATCH, STEPS + 1, 5))
    results = []
    for runtime in (REFERENCE, fused_runtime(lanes, True)):
        with fused_calls(runtime, 2):
            with tf.GradientTape() as tape:
                mu, presig = model.posterior(x, tf.constant(lengths), training=True, runtime=runtime,
                                             noise=Noise(tf.constant(SEED, tf.int64)))
                loss = probe({"mu": mu, "presig": presig}, model)
            grads = tape.gradient(loss, variables)
        grads = {v.path: g for v, g in zip(variables, grads, strict=True)}
        results.append(({"mu": mu, "presig": presig}, grads))
    (expected_values, expected_grads), (values, grads) = results
    assert_values_equal(expected_values, values)
    assert_grads_equal(expected_grads, grads)


@pytest.mark.parametrize("kind", KINDS)
def test_decoder_gradients_of_rows_z_and_state(kind):
    model = make_model(kind, True)
    rows = random("rows", (BATCH, STEPS, 5))
    z = random("z", (BATCH, 4))
    state = 0.5 * random("state", (BATCH, model.decoder.state_size))
    variables = [*model.decoder.trainable_variables, model.output_w, model.output_b]
    labels = ["rows", "z", "state", *(v.path for v in variables)]
    results = []
    for runtime in (REFERENCE, fused_runtime(2, True)):
        with fused_calls(runtime, 1):
            with tf.GradientTape() as tape:
                tape.watch([rows, z, state])
                raw, final = model.decode_sequence(rows, z, state, training=True, runtime=runtime,
                                                   noise=Noise(tf.constant(SEED, tf.int64)))
                loss = probe({"raw": raw, "final_state": final}, model)
            grads = tape.gradient(loss, [rows, z, state, *variables])
        results.append(({"raw": raw, "final_state": final}, dict(zip(labels, grads, strict=True))))
    (expected_values, expected_grads), (values, grads) = results
    assert_values_equal(expected_values, values)
    assert_grads_equal(expected_grads, grads)


def test_dropout_is_on_in_these_comparisons():
    model = make_model("lstm", True)
    x = random("x", (BATCH, STEPS + 1, 5))
    runtime = fused_runtime(2, True)

    def raw(training=True, seed=SEED, skip=None):
        """The fused ``raw``, with the ``skip``-th mask drawn but not used; and the masks drawn."""
        drawn = []
        original = Noise.mask

        def mask(noise, shape, keep_prob):
            drawn.append(original(noise, shape, keep_prob))
            return None if len(drawn) - 1 == skip else drawn[-1]

        with mock.patch.object(Noise, "mask", mask):
            out = model(x, tf.constant(LENGTHS), training=training, eps=random("eps", (BATCH, 4)),
                        noise_seed=tf.constant(seed, tf.int64), runtime=runtime)
        return out["raw"].numpy(), drawn

    full, masks = raw()
    # Encoder forward and backward recurrent, decoder recurrent, input, output, in that order.
    probs = [KEEP["recurrent_dropout_prob"]] * 3 + [KEEP["input_dropout_prob"], KEEP["output_dropout_prob"]]
    assert [m is not None and m.keep_prob for m in masks] == probs
    for m, p in zip(masks, probs, strict=True):
        kept = np.mean(m.kept.numpy())
        assert 0 < kept < 1 and abs(kept - p) < 0.1, f"kept {kept:.2f}, keep probability {p}"
    assert np.abs(full - raw(training=False)[0]).max() > DROPOUT_MARGIN
    assert np.abs(full - raw(seed=(5, 6))[0]).max() > DROPOUT_MARGIN
    for skip in range(len(masks)):
        assert np.abs(full - raw(skip=skip)[0]).max() > DROPOUT_MARGIN, f"mask {skip} changes nothing"


def test_inside_tf_function():
    # The trainer's configuration: the default fused runtime (lanes and XLA as on this machine),
    # forward and backward traced into one graph.
    model = make_model("lstm", True)
    runtime = RuntimeOptions(recurrence="fused")
    step = tf.function(functools.partial(forward_backward, model, runtime, True))
    with fused_calls(runtime, 3):
        values, grads = to_numpy(step())
    expected_values, expected_grads = reference("lstm", True, True)
    assert_values_equal(expected_values, values)
    assert_grads_equal(expected_grads, grads)

"""The SketchRNN model: parameter counts, weight shapes, state layouts, a float64 numpy oracle of the
encoder and decoder, length masking, the z -> state projection, dropout and config round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from _helpers import randomize

from sketch_rnn.cells import HYPER_EMBEDDING_SIZE, HYPER_NUM_UNITS, dense
from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN
from sketch_rnn.runtime import RuntimeOptions

REFERENCE = RuntimeOptions(recurrence="reference")
FUSED = RuntimeOptions(recurrence="fused")

E, D, Z, M = 8, 16, 4, 2
TINY = dict(enc_rnn_size=E, dec_rnn_size=D, z_size=Z, num_mixture=M, max_seq_len=12)


def tiny(**kw) -> HParams:
    return HParams(**{**TINY, **kw})




def uninitialized(hps) -> SketchRNN:
    """A model without the orthogonal (SVD) init of ``W_hh``, for tests that only look at shapes or
    overwrite every weight: with many big hyper cells it dominates the run time."""
    return SketchRNN(hps, initialize=False)


# HyperLSTM models are slow to build (their 256-unit hyper cells get orthogonal SVD inits), so the
# tests share two: a conditional hyper/hyper one with random weights (recurrent dropout keep 0.5),
# and an unconditional one with its initial weights. Tests only read them.
_SHARED: dict[str, SketchRNN] = {}


def hyper_model(conditional: bool = True) -> SketchRNN:
    key = "vae" if conditional else "uncond"
    if key not in _SHARED:
        if conditional:
            hps = tiny(enc_model="hyper", dec_model="hyper", recurrent_dropout_prob=0.5)
            _SHARED[key] = randomize(uninitialized(hps), seed=99, scale=0.3)
        else:
            _SHARED[key] = SketchRNN(tiny(dec_model="hyper", conditional=False))
    return _SHARED[key]


def model_for(kind: str, seed: int, scale: float = 0.3, **kw) -> SketchRNN:
    """A randomised model with encoder and decoder of ``kind`` (the shared one for hyper)."""
    if kind == "hyper":
        return hyper_model()
    return randomize(SketchRNN(tiny(enc_model=kind, dec_model=kind, **kw)), seed=seed, scale=scale)


def make_batch(lengths, t=None, seed=0, garbage=False):
    """Stroke-5 batch ``[B, T+1, 5]`` with start token; padding rows, or random garbage after each length.

    The sketches themselves depend only on ``lengths`` and ``seed``, not on ``t`` or ``garbage``.
    """
    rng = np.random.default_rng(seed)
    t = max(lengths) if t is None else t
    x = np.zeros([len(lengths), t + 1, 5], np.float32)
    x[:, 0] = [0, 0, 1, 0, 0]
    for b, n in enumerate(lengths):
        x[b, 1 : n + 1, :2] = rng.normal(0.0, 1.0, (n, 2))
        pen = rng.integers(0, 2, n)
        x[b, 1 + np.arange(n), 2 + pen] = 1.0
        x[b, n + 1 :, 4] = 1.0
    if garbage:
        junk = np.random.default_rng(seed + 1000)
        for b, n in enumerate(lengths):
            x[b, n + 1 :] = junk.normal(0.0, 3.0, (t - n, 5))
    return x, np.array(lengths, np.int32)


# -- float64 numpy oracle (REFERENCE.md sections 1.3 and 1.6) ------------------------------------


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_ln(x, gamma, beta, eps=1e-3):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def w64(v):
    return np.asarray(v.numpy(), np.float64)


def np_cell_step(cell, kind, x, state):
    """One step of magenta's LSTMCell ([c, h]) or LayerNormLSTMCell ([h, c]); returns (h, state)."""
    n = cell.units
    if kind == "lstm":
        c, h = state
        gates = x @ w64(cell.W_xh) + h @ w64(cell.W_hh) + w64(cell.bias)
    else:
        h, c = state
        pre = x @ w64(cell.W_xh) + h @ w64(cell.W_hh)
        blocks = [np_ln(pre[:, k * n : (k + 1) * n], 1.0, 0.0) for k in range(4)]
        gates = np.concatenate(blocks, -1) * w64(cell.ln_all_gamma) + w64(cell.ln_all_beta)
    i, j, f, o = np.split(gates, 4, axis=-1)
    c = c * sig(f + 1.0) + sig(i) * np.tanh(j)
    if kind == "lstm":
        h = np.tanh(c) * sig(o)
        return h, (c, h)
    h = np.tanh(np_ln(c, w64(cell.ln_c_gamma), w64(cell.ln_c_beta))) * sig(o)
    return h, (h, c)


def np_encode(model, x, lengths):
    kind = model.config.enc_model
    e = model.config.enc_rnn_size
    rows = []
    for b, n in enumerate(lengths):
        seq = np.asarray(x[b, 1 : n + 1], np.float64)
        finals = []
        for cell, order in ((model.enc_fw, seq), (model.enc_bw, seq[::-1])):
            state = (np.zeros([1, e]), np.zeros([1, e]))
            h = np.zeros([1, e])
            for row in order:
                h, state = np_cell_step(cell, kind, row[None], state)
            finals.append(h)
        rows.append(np.concatenate(finals, -1))
    last_h = np.concatenate(rows, 0)
    mu = last_h @ w64(model.mu_w) + w64(model.mu_b)
    presig = last_h @ w64(model.presig_w) + w64(model.presig_b)
    return mu, presig


def np_decode(model, x, z):
    """Teacher-forced decoder over ``x[:, :-1]``: raw outputs and the flat final state."""
    hps = model.config
    kind, d = hps.dec_model, hps.dec_rnn_size
    x = np.asarray(x, np.float64)
    b = x.shape[0]
    if hps.conditional:
        init = np.tanh(z @ w64(model.init_w) + w64(model.init_b))
    else:
        init = np.zeros([b, 2 * d])
    state = (init[:, :d], init[:, d:])
    raws = []
    for t in range(x.shape[1] - 1):
        inp = x[:, t] if not hps.conditional else np.concatenate([x[:, t], z], -1)
        h, state = np_cell_step(model.decoder, kind, inp, state)
        raws.append(h @ w64(model.output_w) + w64(model.output_b))
    return np.stack(raws, 1), np.concatenate(state, -1)


# -- parameter counts and shapes -----------------------------------------------------------------


def n_params(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def test_default_parameter_count_matches_reference():
    model = uninitialized(HParams())
    assert n_params(model) == 2_186_107
    # REFERENCE.md 1.1: encoder 536,576 + mu/sigma heads 131,328 + z->state 132,096
    # + decoder LSTM 1,323,008 + output 63,099.
    count = lambda vs: int(sum(np.prod(v.shape) for v in vs))  # noqa: E731
    assert count(model.enc_fw.trainable_weights + model.enc_bw.trainable_weights) == 536_576
    assert count([model.mu_w, model.mu_b, model.presig_w, model.presig_b]) == 131_328
    assert count([model.init_w, model.init_b]) == 132_096
    assert count(model.decoder.trainable_weights) == 1_323_008
    assert count([model.output_w, model.output_b]) == 63_099
    assert len(model.non_trainable_weights) == 0


@pytest.mark.parametrize(
    "enc, dec, conditional, expected",
    [
        # trainable parameter counts of the parity cases (E16, D32, Z8, M3), from magenta itself
        ("lstm", "lstm", True, 10_501),
        ("layer_norm", "layer_norm", True, 10_885),
        ("hyper", "hyper", True, 1_219_205),
        ("lstm", "lstm", False, 5_557),
        ("lstm", "layer_norm", False, 5_749),
    ],
)
def test_parity_case_parameter_counts(enc, dec, conditional, expected):
    hps = HParams(enc_model=enc, dec_model=dec, conditional=conditional, num_mixture=3,
                  dec_rnn_size=32, **({"enc_rnn_size": 16, "z_size": 8} if conditional else {}))
    assert n_params(uninitialized(hps)) == expected


def _cell_shapes(kind, inp, n):
    shapes = {"W_xh": (inp, 4 * n), "W_hh": (n, 4 * n)}
    if kind in ("lstm", "hyper"):
        shapes["bias"] = (4 * n,)
    if kind in ("layer_norm", "hyper"):
        shapes.update(ln_all_gamma=(4 * n,), ln_all_beta=(4 * n,), ln_c_gamma=(n,), ln_c_beta=(n,))
    if kind == "hyper":
        hu, e = HYPER_NUM_UNITS, HYPER_EMBEDDING_SIZE
        shapes.update(zw_w=(8, hu, e), zw_b=(8, e), alpha_w=(8, e, n), zb_w=(4, hu, e),
                      beta_w=(4, e, n))
    return shapes


def _check_cell(cell, kind, inp, n):
    expected = _cell_shapes(kind, inp, n)
    for name, shape in expected.items():
        assert tuple(getattr(cell, name).shape) == shape, (kind, name)
    if kind == "layer_norm":
        assert not hasattr(cell, "bias")  # magenta's LayerNormLSTMCell has no bias
    total = sum(int(np.prod(s)) for s in expected.values())
    if kind == "hyper":
        hu = HYPER_NUM_UNITS
        assert cell.hyper_cell.units == hu
        _check_cell(cell.hyper_cell, "layer_norm", inp + n, hu)
        total += sum(int(np.prod(s)) for s in _cell_shapes("layer_norm", inp + n, hu).values())
        assert cell.state_size == 2 * (n + hu)
    else:
        assert cell.state_size == 2 * n
    assert sum(int(np.prod(v.shape)) for v in cell.trainable_weights) == total
    return total


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
@pytest.mark.parametrize("conditional", [True, False])
def test_variable_shapes(kind, conditional):
    if kind == "hyper":
        model = hyper_model(conditional)
    else:
        model = SketchRNN(tiny(enc_model=kind, dec_model=kind, conditional=conditional))
    total = _check_cell(model.decoder, kind, 5 + (Z if conditional else 0), D)
    total += D * (3 + 6 * M) + 3 + 6 * M
    assert tuple(model.output_w.shape) == (D, 3 + 6 * M)
    assert tuple(model.output_b.shape) == (3 + 6 * M,)
    if conditional:
        total += _check_cell(model.enc_fw, kind, 5, E) + _check_cell(model.enc_bw, kind, 5, E)
        for name in ("mu_w", "presig_w"):
            assert tuple(getattr(model, name).shape) == (2 * E, Z)
        for name in ("mu_b", "presig_b"):
            assert tuple(getattr(model, name).shape) == (Z,)
        s = model.decoder.state_size
        assert tuple(model.init_w.shape) == (Z, s)
        assert tuple(model.init_b.shape) == (s,)
        total += 2 * (2 * E * Z + Z) + Z * s + s
    else:
        for name in ("enc_fw", "enc_bw", "mu_w", "init_w"):
            assert not hasattr(model, name)
    assert n_params(model) == total


def test_reference_initialisation():
    model = SketchRNN(tiny(dec_model="lstm"))
    np.testing.assert_array_equal(model.mu_b.numpy(), 0.0)
    np.testing.assert_array_equal(model.init_b.numpy(), 0.0)
    np.testing.assert_array_equal(model.decoder.bias.numpy(), 0.0)  # the +1 forget bias is added at run time
    for w in (model.mu_w, model.presig_w, model.init_w):
        assert 0 < np.std(w.numpy()) < 0.003  # N(0, 0.001^2)
    # output_b is Glorot-uniform like output_w (tf.get_variable default), not zeros.
    assert np.abs(model.output_b.numpy()).max() > 0
    # W_hh: four orthogonal [n, n] blocks.
    w_hh = model.decoder.W_hh.numpy()
    for k in range(4):
        block = w_hh[:, k * D : (k + 1) * D]
        np.testing.assert_allclose(block.T @ block, np.eye(D), atol=1e-5)
    ln = SketchRNN(tiny(dec_model="layer_norm", enc_model="layer_norm"))
    np.testing.assert_array_equal(ln.decoder.ln_all_gamma.numpy(), 1.0)
    np.testing.assert_array_equal(ln.decoder.ln_c_beta.numpy(), 0.0)
    hyper = hyper_model(conditional=False).decoder
    np.testing.assert_allclose(hyper.alpha_w.numpy(), 0.1 / HYPER_EMBEDDING_SIZE)
    np.testing.assert_array_equal(hyper.zw_w.numpy(), 0.0)
    np.testing.assert_array_equal(hyper.zw_b.numpy(), 1.0)
    np.testing.assert_array_equal(hyper.beta_w.numpy(), 0.0)


# -- outputs against the numpy oracle -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "layer_norm"])
def test_encoder_matches_numpy_oracle(kind):
    model = randomize(SketchRNN(tiny(enc_model=kind, dec_model=kind)), seed=1)
    x, lengths = make_batch([6, 3, 1, 5], seed=2)
    mu, presig = model.posterior(x, lengths)
    want_mu, want_presig = np_encode(model, x, lengths)
    assert mu.dtype == tf.float32 and tuple(mu.shape) == (4, Z)
    np.testing.assert_allclose(mu.numpy(), want_mu, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(presig.numpy(), want_presig, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "layer_norm"])
@pytest.mark.parametrize("conditional", [True, False])
def test_decoder_matches_numpy_oracle(kind, conditional):
    model = randomize(SketchRNN(tiny(enc_model=kind, dec_model=kind, conditional=conditional)), seed=3)
    x, lengths = make_batch([7, 4, 2], seed=4)
    z = np.random.default_rng(5).normal(size=(3, Z)).astype(np.float32) if conditional else None
    out = model(x, lengths, training=False, z=z)
    want_raw, want_final = np_decode(model, x, None if z is None else z.astype(np.float64))
    assert out["raw"].dtype == tf.float32
    assert tuple(out["raw"].shape) == (3, 7, 3 + 6 * M)
    np.testing.assert_allclose(out["raw"].numpy(), want_raw, atol=5e-5, rtol=1e-5)
    np.testing.assert_allclose(out["final_state"].numpy(), want_final, atol=2e-5, rtol=1e-5)


# -- state layouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, h_slice", [("lstm", slice(D, None)), ("layer_norm", slice(0, D)),
                                           ("hyper", slice(0, D))])
def test_state_layout_matches_cell_loop(kind, h_slice):
    model = model_for(kind, seed=6)
    x, lengths = make_batch([5, 5], seed=7)
    z = np.random.default_rng(8).normal(size=(2, Z)).astype(np.float32)
    out = model(x, lengths, z=z)
    final = out["final_state"].numpy()
    assert final.shape == (2, model.decoder.state_size)
    # The decoder's output at the last step is the h part of the final state ...
    np.testing.assert_allclose(model.output_layer(tf.constant(final[:, h_slice])).numpy(),
                               out["raw"].numpy()[:, -1], atol=1e-5)
    # ... and stepping the cell by hand from the split initial state gives the same state.
    cell = model.decoder
    state = cell.split_state(out["initial_state"])
    h = None
    for t in range(x.shape[1] - 1):
        inp = tf.concat([x[:, t], z], -1)
        h, state = cell.step(cell.project(inp), state)
    np.testing.assert_allclose(cell.flat_state(state).numpy(), final, atol=1e-5)
    np.testing.assert_allclose(h.numpy(), final[:, h_slice], atol=1e-6)
    np.testing.assert_allclose(cell.output(state).numpy(), final[:, h_slice], atol=1e-6)
    if kind == "lstm":  # [c, h]: c is unbounded by tanh*sigmoid, h is not
        np.testing.assert_allclose(state[0].numpy(), final[:, :D], atol=1e-6)
    if kind == "hyper":  # [h, hyper_h, c, hyper_c]
        assert [int(p.shape[-1]) for p in state] == [D, HYPER_NUM_UNITS, D, HYPER_NUM_UNITS]


def test_initial_state_split_follows_layout():
    model = SketchRNN(tiny(dec_model="lstm"))
    flat = tf.constant(np.arange(2 * 2 * D, dtype=np.float32).reshape(2, 2 * D))
    c, h = model.decoder.split_state(flat)
    np.testing.assert_array_equal(c.numpy(), flat.numpy()[:, :D])
    np.testing.assert_array_equal(h.numpy(), flat.numpy()[:, D:])
    np.testing.assert_array_equal(model.decoder.output((c, h)).numpy(), flat.numpy()[:, D:])
    ln = SketchRNN(tiny(dec_model="layer_norm")).decoder
    h2, c2 = ln.split_state(flat)
    np.testing.assert_array_equal(ln.output((h2, c2)).numpy(), flat.numpy()[:, :D])


# -- encoder length masking -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
def test_encoder_ignores_rows_after_length(kind):
    model = model_for(kind, seed=9)
    lengths = [6, 2, 4]
    x, n = make_batch(lengths, seed=10)
    mu, presig = (a.numpy() for a in model.posterior(x, n))
    # Garbage instead of padding after each length, and a longer padded batch.
    junk, _ = make_batch(lengths, t=11, seed=10, garbage=True)
    for b, length in enumerate(lengths):  # the same sketches, different rows after them
        np.testing.assert_array_equal(junk[b, : length + 1], x[b, : length + 1])
    assert np.abs(junk[1, 3:7] - x[1, 3:7]).min() > 0
    for xx in (junk, junk[:, :7]):
        mu2, presig2 = (a.numpy() for a in model.posterior(xx, n))
        np.testing.assert_allclose(mu2, mu, atol=1e-6)
        np.testing.assert_allclose(presig2, presig, atol=1e-6)
    # The reference loops (over every padded row) give the same result.
    mu3, _ = model.posterior(junk, n, runtime=REFERENCE)
    np.testing.assert_allclose(mu3.numpy(), mu, atol=1e-6)
    # Each sketch encoded alone gives its row of the batch.
    for b, length in enumerate(lengths):
        alone, _ = model.posterior(x[b : b + 1, : length + 1], n[b : b + 1])
        np.testing.assert_allclose(alone.numpy()[0], mu[b], atol=1e-6)
    # A change inside a sketch does change its code (the test above can fail).
    changed = x.copy()
    changed[1, 2, 0] += 1.0
    assert np.abs(model.posterior(changed, n)[0].numpy()[1] - mu[1]).max() > 1e-4
    # ... and so does a shorter length.
    shorter = model.posterior(x, np.array([5, 2, 4], np.int32))[0].numpy()
    assert np.abs(shorter[0] - mu[0]).max() > 1e-4
    np.testing.assert_allclose(shorter[1:], mu[1:], atol=1e-6)


def test_encode_unconditional_raises():
    model = SketchRNN(tiny(conditional=False))
    x, n = make_batch([3])
    with pytest.raises(ValueError, match="unconditional"):
        model.posterior(x, n)
    out = model(x, n)
    assert "mu" not in out and "z" not in out
    np.testing.assert_array_equal(out["initial_state"].numpy(), np.zeros([1, 2 * D]))


# -- latent code and decoder initial state --------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
def test_initial_state_is_tanh_of_z_projection(kind):
    model = model_for(kind, seed=11, scale=0.5)
    x, n = make_batch([3, 4], seed=12)
    z = np.random.default_rng(13).normal(size=(2, Z)).astype(np.float32)
    out = model(x, n, z=z)
    want = np.tanh(z.astype(np.float64) @ w64(model.init_w) + w64(model.init_b))
    assert tuple(out["initial_state"].shape) == (2, model.decoder.state_size)
    np.testing.assert_allclose(out["initial_state"].numpy(), want, atol=1e-6)
    np.testing.assert_allclose(model.initial_state(tf.constant(z)).numpy(), want, atol=1e-6)
    np.testing.assert_array_equal(out["z"].numpy(), z)


def test_z_is_mu_plus_sigma_eps():
    model = randomize(SketchRNN(tiny()), seed=14)
    x, n = make_batch([4, 2], seed=15)
    eps = np.random.default_rng(16).normal(size=(2, Z)).astype(np.float32)
    out = model(x, n, eps=eps)
    mu, presig = out["mu"].numpy(), out["presig"].numpy()
    np.testing.assert_allclose(out["z"].numpy(), mu + np.exp(presig / 2) * eps, rtol=1e-6, atol=1e-6)
    at_mean = model(x, n, eps=np.zeros_like(eps))
    np.testing.assert_array_equal(at_mean["z"].numpy(), mu)
    # Without eps, z is random.
    a, b = model(x, n)["z"].numpy(), model(x, n)["z"].numpy()
    assert np.abs(a - b).max() > 1e-3
    # z feeds the decoder: a different z, a different output.
    other = model(x, n, z=out["z"].numpy() + 1.0)
    assert np.abs(other["raw"].numpy() - out["raw"].numpy()).max() > 1e-3


# -- dropout ------------------------------------------------------------------------------------


def _eps(b):
    return np.zeros([b, Z], np.float32)


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
def test_recurrent_dropout_only_in_training(kind):
    model = model_for(kind, seed=17, use_recurrent_dropout=True, recurrent_dropout_prob=0.5)
    assert model.config.use_recurrent_dropout and model.config.recurrent_dropout_prob == 0.5
    x, n = make_batch([6, 5], seed=18)
    e1, e2 = model(x, n, training=False, eps=_eps(2)), model(x, n, training=False, eps=_eps(2))
    np.testing.assert_array_equal(e1["raw"].numpy(), e2["raw"].numpy())
    t1, t2 = model(x, n, training=True, eps=_eps(2)), model(x, n, training=True, eps=_eps(2))
    assert np.abs(t1["raw"].numpy() - t2["raw"].numpy()).max() > 1e-3
    assert np.abs(t1["mu"].numpy() - t2["mu"].numpy()).max() > 1e-6  # the encoder drops out too
    assert np.abs(t1["raw"].numpy() - e1["raw"].numpy()).max() > 1e-3


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
def test_fused_recurrences_match_plain_loops_with_dropout(kind):
    # The fused sequences (hand-written backward; masks kept as booleans) against the plain loops
    # (automatic gradient; masks as values), with the same dropout masks from the same seed.
    # (the shared hyper model is built with recurrent_dropout_prob 0.5: the others match it)
    model = model_for(kind, seed=19, use_recurrent_dropout=True, recurrent_dropout_prob=0.5)
    assert model.config.use_recurrent_dropout and model.config.recurrent_dropout_prob == 0.5
    x, n = make_batch([6, 3, 5], seed=20)
    seed = tf.constant([3, 4], tf.int64)
    results = []
    for runtime in (FUSED, REFERENCE):
        with tf.GradientTape() as tape:
            out = model(x, n, training=True, eps=np.ones([3, Z], np.float32), noise_seed=seed,
                        runtime=runtime)
            loss = tf.reduce_sum(tf.square(out["raw"])) + tf.reduce_sum(out["presig"])
        grads = tape.gradient(loss, model.trainable_weights)
        results.append((out["raw"].numpy(), out["mu"].numpy(), [g.numpy() for g in grads]))
    (raw_f, mu_f, g_f), (raw_p, mu_p, g_p) = results
    np.testing.assert_allclose(raw_f, raw_p, atol=1e-5)
    np.testing.assert_allclose(mu_f, mu_p, atol=1e-5)
    for v, a, b in zip(model.trainable_weights, g_f, g_p, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4, err_msg=v.path)
    # Dropout is on: without it the outputs differ.
    plain = model(x, n, training=False, eps=np.ones([3, Z], np.float32))
    assert np.abs(plain["raw"].numpy() - raw_f).max() > 1e-3


def test_training_flag_without_dropout_changes_nothing():
    hps = tiny(use_recurrent_dropout=False, use_input_dropout=False, use_output_dropout=False)
    model = randomize(SketchRNN(hps), seed=19)
    x, n = make_batch([4, 3], seed=20)
    a = model(x, n, training=True, eps=_eps(2))
    b = model(x, n, training=False, eps=_eps(2))
    np.testing.assert_array_equal(a["raw"].numpy(), b["raw"].numpy())
    np.testing.assert_array_equal(a["mu"].numpy(), b["mu"].numpy())
    # A keep probability of 1 is the same as no dropout.
    keep_all = randomize(SketchRNN(tiny(recurrent_dropout_prob=1.0, use_input_dropout=True,
                                        input_dropout_prob=1.0)), seed=19)
    c = keep_all(x, n, training=True, eps=_eps(2))
    np.testing.assert_allclose(c["raw"].numpy(), b["raw"].numpy(), atol=1e-6)


@pytest.mark.parametrize("flag", ["use_input_dropout", "use_output_dropout"])
def test_input_and_output_dropout(flag):
    prob = flag.replace("use_", "") + "_prob"
    model = randomize(SketchRNN(tiny(use_recurrent_dropout=False, **{flag: True, prob: 0.5})), seed=21)
    x, n = make_batch([5, 5], seed=22)
    a = model(x, n, training=True, eps=_eps(2))["raw"].numpy()
    b = model(x, n, training=True, eps=_eps(2))["raw"].numpy()
    assert np.abs(a - b).max() > 1e-3
    e1 = model(x, n, training=False, eps=_eps(2))["raw"].numpy()
    e2 = model(x, n, training=False, eps=_eps(2))["raw"].numpy()
    np.testing.assert_array_equal(e1, e2)


# -- output layer and dense ---------------------------------------------------------------------


def test_output_layer_and_dense_equal_numpy_matmul():
    model = randomize(SketchRNN(tiny()), seed=23)
    rng = np.random.default_rng(24)
    h3 = rng.normal(size=(3, 5, D)).astype(np.float32)
    want = h3.astype(np.float64) @ w64(model.output_w) + w64(model.output_b)
    got = model.output_layer(tf.constant(h3)).numpy()
    assert got.shape == (3, 5, 3 + 6 * M) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(model.output_layer(tf.constant(h3[:, 0])).numpy(), want[:, 0], atol=1e-5)
    w = rng.normal(size=(D, 7)).astype(np.float32)
    for shape in [(4, D), (2, 3, D), (2, 3, 4, D)]:
        x = rng.normal(size=shape).astype(np.float32)
        out = dense(tf.constant(x), tf.constant(w)).numpy()
        assert out.shape == shape[:-1] + (7,)
        np.testing.assert_allclose(out, x.astype(np.float64) @ w.astype(np.float64), atol=1e-5)


def test_raw_output_equals_dense_on_hidden_states():
    # The decoder's raw output at every step is h_t @ output_w + output_b (h from the oracle).
    model = randomize(SketchRNN(tiny(conditional=False)), seed=25)
    x, n = make_batch([4, 4], seed=26)
    raw = model(x, n)["raw"].numpy()
    want, _ = np_decode(model, x, None)
    np.testing.assert_allclose(raw, want, atol=5e-5)


# -- gradients ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
def test_every_weight_gets_a_gradient(kind):
    model = model_for(kind, seed=30)
    x, n = make_batch([4, 3], seed=27)
    with tf.GradientTape() as tape:
        out = model(x, n, training=True, eps=np.ones([2, Z], np.float32))
        loss = tf.reduce_sum(tf.square(out["raw"])) + tf.reduce_sum(out["presig"])
    grads = tape.gradient(loss, model.trainable_weights)
    for v, g in zip(model.trainable_weights, grads, strict=True):
        assert g is not None, v.path
        assert np.isfinite(g.numpy()).all(), v.path
        assert tuple(g.shape) == tuple(v.shape)


# -- config round trip --------------------------------------------------------------------------


def test_get_config_from_config_round_trip():
    hps = tiny(dec_model="layer_norm", enc_model="layer_norm", gmm_loss="reference", pad_to="batch")
    model = randomize(SketchRNN(hps, scale_factor=18.5, name="my_model"), seed=28)
    config = model.get_config()
    config = json.loads(json.dumps(config))  # JSON-serialisable
    again = SketchRNN.from_config(config)
    assert again.config == hps.model_config(scale_factor=18.5) == model.config
    assert again.scale_factor == 18.5
    assert again.name == "my_model"
    assert [tuple(v.shape) for v in again.weights] == [tuple(v.shape) for v in model.weights]
    again.set_weights(model.get_weights())
    x, n = make_batch([3, 5], seed=29)
    a = model(x, n, eps=_eps(2))["raw"].numpy()
    b = again(x, n, eps=_eps(2))["raw"].numpy()
    np.testing.assert_array_equal(a, b)
    plain = SketchRNN.from_config(SketchRNN(tiny()).get_config())
    assert plain.scale_factor is None and plain.config == tiny().model_config()


def test_call_shapes_and_dtypes():
    model = hyper_model()
    x, n = make_batch([5, 1, 3], t=9)
    out = model(x, n)
    s = model.decoder.state_size
    assert s == 2 * (D + HYPER_NUM_UNITS)
    expected = {"raw": (3, 9, 3 + 6 * M), "mu": (3, Z), "presig": (3, Z), "z": (3, Z),
                "initial_state": (3, s), "final_state": (3, s)}
    assert set(out) == set(expected)
    for k, shape in expected.items():
        assert tuple(out[k].shape) == shape, k
        assert out[k].dtype == tf.float32, k
        assert np.isfinite(out[k].numpy()).all(), k

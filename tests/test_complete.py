"""Sketch completion (``sketch_rnn.sampling.complete``) and the sampler's per-model conventions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from sketch_rnn.hparams import HParams
from sketch_rnn.losses import mixture_params
from sketch_rnn.model import SketchRNN
from sketch_rnn.sampling import complete, encode, sample, sample_strokes5
from sketch_rnn.strokes import BROWSER_START_TOKEN, START_TOKEN

M = 3


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    hps = HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=M, max_seq_len=40)
    return SketchRNN(hps, scale_factor=4.0)


@pytest.fixture(scope="module")
def uncond():
    keras.utils.set_random_seed(4)
    hps = HParams(dec_rnn_size=16, num_mixture=M, max_seq_len=30, conditional=False)
    return SketchRNN(hps)


PREFIX = np.array([[0.5, -0.2, 0], [0.3, 0.1, 0], [-0.1, 0.4, 1], [0.2, 0.2, 0]], np.float32)


def to_rows(strokes3, start=START_TOKEN):
    rows = np.zeros((len(strokes3), 5), np.float32)
    rows[:, :2] = strokes3[:, :2]
    rows[:, 3] = strokes3[:, 2]
    rows[:, 2] = 1 - strokes3[:, 2]
    return np.concatenate([np.asarray(start, np.float32)[None], rows])


def test_keeps_prefix_and_shapes(model):
    out = complete(model, PREFIX, n=4, temperature=0.7, seed=1, max_len=12)
    assert len(out) == 4
    for d in out:
        assert d.dtype == np.float32 and d.ndim == 2 and d.shape[1] == 3
        assert len(PREFIX) <= len(d) <= len(PREFIX) + 12
        np.testing.assert_array_equal(d[: len(PREFIX)], PREFIX)
        assert set(np.unique(d[:, 2])) <= {0.0, 1.0}
    # Different alternatives (different z, different draws).
    assert len({d.tobytes() for d in out}) > 1
    again = complete(model, PREFIX, n=4, temperature=0.7, seed=1, max_len=12)
    for a, b in zip(out, again, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("which", ["model", "uncond"])
def test_greedy_continuation_matches_decoder(which, model, uncond):
    """A greedy continuation equals the decoder run over prefix + continuation, step by step."""
    m = model if which == "model" else uncond
    z = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32) if which == "model" else None
    steps = 15
    (d,), res = complete(m, PREFIX, n=1, z=z, greedy=True, max_len=steps, early_stop=False,
                         return_raw=True)
    cont_rows = res.strokes5[0]
    assert cont_rows.shape == (steps, 5)
    # Full input sequence: start token, prefix rows, continuation rows (all but the last).
    x = np.concatenate([to_rows(PREFIX), cont_rows[:-1]])[None]
    raw, _ = m.decode_sequence(x, z, m.initial_state(z, 1))
    raw = ops.convert_to_numpy(raw)[0, len(PREFIX):]  # output i predicts input row i+1; cont[j] is row L+1+j
    assert raw.shape[0] == steps
    np.testing.assert_allclose(res.raw[0], raw, atol=1e-5)
    p = {k: ops.convert_to_numpy(v) for k, v in mixture_params(raw, M).items()}
    idx = p["pi"].argmax(-1)
    rows = np.arange(steps)
    np.testing.assert_allclose(cont_rows[:, 0], p["mu1"][rows, idx], atol=1e-5)
    np.testing.assert_allclose(cont_rows[:, 1], p["mu2"][rows, idx], atol=1e-5)
    np.testing.assert_array_equal(cont_rows[:, 2:].argmax(-1), p["pen"].argmax(-1))
    # The stroke-3 output is the prefix followed by the continuation up to its end.
    length = res.lengths[0]
    ends = np.nonzero(cont_rows[:length, 4])[0]
    k = ends[0] if len(ends) else length
    assert len(d) == len(PREFIX) + k
    np.testing.assert_array_equal(d[len(PREFIX):, :2], cont_rows[:k, :2])


def test_one_point_prefix_and_shared_z(model):
    z = np.zeros(4, np.float32)
    out = complete(model, PREFIX[:1], n=3, z=z, greedy=True, max_len=8)
    # Same z, greedy: all alternatives identical.
    assert all(np.array_equal(out[0], o) for o in out)
    np.testing.assert_array_equal(out[0][:1], PREFIX[:1])


def test_pixel_units_round_trip(model):
    pix = PREFIX * np.array([4.0, 4.0, 1.0], np.float32)
    a = complete(model, PREFIX, n=2, units="model", seed=5, max_len=10, temperature=0.5)
    b = complete(model, pix, n=2, units="pixels", seed=5, max_len=10, temperature=0.5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(y[: len(PREFIX)], pix)
        np.testing.assert_allclose(y[:, :2], x[:, :2] * 4.0, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y[:, 2], x[:, 2])


def with_config(model, **changes) -> SketchRNN:
    """The same weights under a config with ``changes`` (conventions: what a loader records)."""
    other = SketchRNN(model.config.replace(**changes), initialize=False)
    other.set_weights(model.get_weights())
    return other


def test_pixel_units_follow_the_config_scale(uncond):
    with pytest.raises(ValueError, match="units='pixels'.*scale_factor"):
        complete(uncond, PREFIX, units="pixels", max_len=3)
    scaled = with_config(uncond, scale_factor=2.0)
    out = complete(scaled, PREFIX * [2, 2, 1], units="pixels", greedy=True, max_len=3)
    ref = complete(uncond, PREFIX, greedy=True, max_len=3)
    np.testing.assert_allclose(out[0][:, :2], ref[0][:, :2] * 2, atol=1e-5)


@pytest.mark.parametrize("prefix, match", [
    (np.zeros((0, 3)), "empty"),
    (np.zeros((3, 5)), "stroke-3"),
    (np.zeros(3), "stroke-3"),
    (np.array([[0.0, np.nan, 0]]), "NaN"),
    (np.array([[0.0, 1.0, 0.5]]), "pen-lift"),
    ("abc", "numeric|stroke-3"),
])
def test_bad_prefix(model, prefix, match):
    with pytest.raises(ValueError, match=match):
        complete(model, prefix, max_len=3)


def test_bad_arguments(model, uncond):
    with pytest.raises(ValueError, match="temperature"):
        complete(model, PREFIX, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        complete(model, PREFIX, temperature=-1.0)
    with pytest.raises(ValueError, match="z has shape"):
        complete(model, PREFIX, z=np.zeros(5))
    with pytest.raises(ValueError, match="unconditional"):
        complete(uncond, PREFIX, z=np.zeros(4))
    with pytest.raises(ValueError, match="units"):
        complete(model, PREFIX, units="inches")
    with pytest.raises(ValueError, match="n="):
        complete(model, PREFIX, n=0)


def test_bounded_by_max_len(uncond):
    """Sampling never hangs: without an end-of-sketch it stops at max_len."""
    res = sample_strokes5(uncond, 3, max_len=7, early_stop=False, seed=0)
    assert res.strokes5.shape == (3, 7, 5) and res.raw.shape == (3, 7, 3 + 6 * M)
    assert (res.lengths <= 7).all()
    out = complete(uncond, PREFIX, n=2, max_len=5, seed=0)
    assert all(len(d) <= len(PREFIX) + 5 for d in out)
    # Default bound: max_seq_len minus the prefix.
    _, r = complete(uncond, PREFIX, n=2, seed=0, early_stop=False, return_raw=True)
    assert r.strokes5.shape[1] == uncond.config.max_seq_len - len(PREFIX)


def test_model_conventions_are_defaults(uncond):
    """The config's start_token / temperature_convention are the defaults; arguments override them."""
    base = sample_strokes5(uncond, 2, seed=3, max_len=6, early_stop=False, temperature=0.6)
    browser = with_config(uncond, start_token=BROWSER_START_TOKEN, temperature_convention="browser")
    mine = sample_strokes5(browser, 2, seed=3, max_len=6, early_stop=False, temperature=0.6)
    explicit = sample_strokes5(uncond, 2, seed=3, max_len=6, early_stop=False, temperature=0.6,
                               start_token=(0, 0, 0, 0, 0), convention="browser")
    overridden = sample_strokes5(browser, 2, seed=3, max_len=6, early_stop=False, temperature=0.6,
                                 start_token=START_TOKEN, convention="reference")
    np.testing.assert_array_equal(mine.strokes5, explicit.strokes5)
    np.testing.assert_array_equal(overridden.strokes5, base.strokes5)
    assert not np.array_equal(mine.raw, base.raw)


def test_sample_greedy_equals_modes(uncond):
    d, res = sample(uncond, 2, greedy=True, max_len=10, early_stop=False, return_raw=True)
    p = res.params(M)
    idx = p["pi"].argmax(-1)
    np.testing.assert_allclose(res.strokes5[..., 0], np.take_along_axis(p["mu1"], idx[..., None], -1)[..., 0],
                               atol=1e-6)
    assert len(d) == 2


def test_xla_and_graph_paths_agree(model):
    """On TensorFlow the XLA loop / encoder (small batches) and the graph ones (large batches)
    compute the same to float rounding; on JAX ``jit_compile`` is ignored (the loops are always
    ``jax.jit``-compiled): the same numbers."""
    z = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    a = sample_strokes5(model, z=z, greedy=True, max_len=12, early_stop=False, jit_compile=True)
    b = sample_strokes5(model, z=z, greedy=True, max_len=12, early_stop=False, jit_compile=False)
    drawings = [PREFIX, PREFIX[:2], np.tile(PREFIX, (20, 1))]
    codes = [encode(model, drawings, jit_compile=jit) for jit in (True, False)]
    if keras.backend.backend() == "jax":
        np.testing.assert_array_equal(a.raw, b.raw)
        np.testing.assert_array_equal(codes[0], codes[1])
    np.testing.assert_allclose(a.raw, b.raw, atol=1e-5)
    np.testing.assert_array_equal(a.strokes5[..., 2:], b.strokes5[..., 2:])
    np.testing.assert_allclose(codes[0], codes[1], atol=1e-5)

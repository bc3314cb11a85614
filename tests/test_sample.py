"""The sampler against the mixture it samples from: greedy choices, temperature conventions, pen and
component frequencies, offset moments, seeds, early stopping, errors; encode and decode."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import randomize
from keras import ops

from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN
from sketch_rnn.sampling import Sampler, decode, encode, sample, sample_strokes5
from sketch_rnn.strokes import pad_batch

E, D, Z, M = 8, 16, 4, 3
TINY = dict(enc_rnn_size=E, dec_rnn_size=D, z_size=Z, num_mixture=M, max_seq_len=20)
END_ROW = [0.0, 0.0, 0.0, 0.0, 1.0]
# The sampling loop is XLA-compiled once per model, batch size and max_len: the tests keep to a few
# shapes (B sketches of up to L steps) so that the suite stays fast.
B, L = 4, 20




@pytest.fixture(scope="module")
def vae():
    """A conditional model with random weights."""
    return randomize(SketchRNN(HParams(**TINY)), seed=1)


@pytest.fixture(scope="module")
def uncond():
    """An unconditional model with random weights."""
    return randomize(SketchRNN(HParams(**TINY, conditional=False, dec_model="layer_norm")), seed=2)


# The fixed mixture: zero output weights, so every step of every sketch has this distribution.
PEN = np.array([0.6, 0.3, 0.1])
PI = np.array([0.5, 0.3, 0.2])
MU1 = np.array([0.0, 60.0, -60.0])
MU2 = np.array([0.0, 60.0, 60.0])
SIGMA1 = np.array([1.0, 0.5, 2.0])
SIGMA2 = np.array([0.5, 1.0, 1.5])
RHO = np.array([0.5, -0.3, 0.0])


def fixed_mixture_model(pen=PEN, conditional=False) -> SketchRNN:
    model = randomize(SketchRNN(HParams(**TINY, conditional=conditional)), seed=3)
    model.output_w.assign(np.zeros(model.output_w.shape, np.float32))
    bias = np.concatenate([np.log(pen), np.log(PI), MU1, MU2, np.log(SIGMA1), np.log(SIGMA2),
                           np.arctanh(RHO)]).astype(np.float32)
    model.output_b.assign(bias)
    return model


@pytest.fixture(scope="module")
def fixed():
    return fixed_mixture_model()


def tempered(p, tau):
    q = np.exp(np.log(p) / tau)
    return q / q.sum()


def chi_square(counts, probs):
    expected = counts.sum() * np.asarray(probs)
    return float(((counts - expected) ** 2 / expected).sum())


CHI2_DF2_P001 = 13.816  # chi-square critical value, 2 degrees of freedom, p = 0.001


# -- greedy decoding --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["vae", "uncond"])
def test_greedy_takes_argmax_component_mean_and_argmax_pen(which, request):
    model = request.getfixturevalue(which)
    z = np.random.default_rng(4).normal(size=(B, Z)).astype(np.float32) if which == "vae" else None
    res = sample_strokes5(model, n=B, z=z, greedy=True, max_len=L, early_stop=False)
    assert res.strokes5.shape == (B, L, 5) and res.strokes5.dtype == np.float32
    assert res.raw.shape == (B, L, 3 + 6 * M)
    p = res.params(M)
    idx = p["pi"].argmax(-1)
    mu1 = np.take_along_axis(p["mu1"], idx[..., None], -1)[..., 0]
    mu2 = np.take_along_axis(p["mu2"], idx[..., None], -1)[..., 0]
    np.testing.assert_allclose(res.strokes5[..., 0], mu1, atol=1e-6)
    np.testing.assert_allclose(res.strokes5[..., 1], mu2, atol=1e-6)
    np.testing.assert_array_equal(res.strokes5[..., 2:], np.eye(3)[p["pen"].argmax(-1)])
    # The raw outputs are the decoder's on its own (fed-back) rows: teacher forcing reproduces them.
    start = np.tile(np.float32([0, 0, 1, 0, 0]), (B, 1, 1))
    inputs = np.concatenate([start, res.strokes5[:, :-1]], 1)
    raw, _ = model.decode_sequence(inputs, z, model.initial_state(z, B))
    np.testing.assert_allclose(ops.convert_to_numpy(raw), res.raw, atol=1e-4)


def test_greedy_ignores_seed_and_temperature(vae):
    z = np.random.default_rng(5).normal(size=(B, Z)).astype(np.float32)
    a = sample_strokes5(vae, z=z, greedy=True, max_len=L, seed=1, temperature=0.3)
    b = sample_strokes5(vae, z=z, greedy=True, max_len=L, seed=2, temperature=1.0)
    np.testing.assert_array_equal(a.strokes5, b.strokes5)
    np.testing.assert_array_equal(a.lengths, b.lengths)


def test_tiny_temperature_approaches_greedy(vae):
    z = np.random.default_rng(6).normal(size=(B, Z)).astype(np.float32)
    greedy = sample_strokes5(vae, z=z, greedy=True, max_len=L, early_stop=False)
    runs = [sample_strokes5(vae, z=z, temperature=1e-4, seed=s, max_len=L, early_stop=False)
            for s in (10, 11)]
    assert np.abs(runs[0].strokes5 - runs[1].strokes5).max() > 0  # different noise ...
    for run in runs:  # ... but nearly identical drawings, the greedy one
        np.testing.assert_array_equal(run.strokes5[..., 2:], greedy.strokes5[..., 2:])
        np.testing.assert_allclose(run.strokes5[..., :2], greedy.strokes5[..., :2], atol=1e-2)


# -- seeds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["vae", "uncond"])
def test_same_seed_same_result_different_seed_different(which, request):
    model = request.getfixturevalue(which)
    a = sample(model, n=B, temperature=0.8, seed=7, max_len=L, return_raw=True)
    b = sample(model, n=B, temperature=0.8, seed=7, max_len=L, return_raw=True)
    c = sample(model, n=B, temperature=0.8, seed=8, max_len=L, return_raw=True)
    np.testing.assert_array_equal(a[1].strokes5, b[1].strokes5)
    for x, y in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[1].strokes5.shape != c[1].strokes5.shape or np.abs(a[1].strokes5 - c[1].strokes5).max() > 0


def test_seed_draws_z_reproducibly(vae):
    # With z=None a conditional model draws z ~ N(0, I) from the seed.
    a = sample_strokes5(vae, n=B, greedy=True, seed=3, max_len=L)
    b = sample_strokes5(vae, n=B, greedy=True, seed=3, max_len=L)
    c = sample_strokes5(vae, n=B, greedy=True, seed=4, max_len=L)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert a.raw[:, 0].shape == c.raw[:, 0].shape
    assert np.abs(a.raw[:, 0] - c.raw[:, 0]).max() > 1e-4  # a different z, a different first step


# -- frequencies and moments against the known mixture ----------------------------------------


def _draws(model, tau, convention, seed=0, n=100, steps=100, **kw):
    res = sample_strokes5(model, n=n, temperature=tau, convention=convention, seed=seed,
                          max_len=steps, early_stop=False, **kw)
    rows = res.strokes5.reshape(-1, 5)
    assert rows.shape == (n * steps, 5)
    # Every step has the same mixture: the model's output does not depend on its state.
    np.testing.assert_allclose(res.raw, np.broadcast_to(model.output_b.numpy(), res.raw.shape),
                               atol=1e-6)
    return rows


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_pen_frequencies_reference_convention(fixed, tau):
    rows = _draws(fixed, tau, "reference")
    counts = rows[:, 2:].sum(0)
    assert counts.sum() == len(rows)  # one-hot
    assert chi_square(counts, tempered(PEN, tau)) < CHI2_DF2_P001
    if tau != 1.0:  # the untempered distribution is rejected: the test has power
        assert chi_square(counts, PEN) > 10 * CHI2_DF2_P001


@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_component_frequencies_reference_convention(fixed, tau):
    rows = _draws(fixed, tau, "reference", seed=1)
    comp = _component_of(rows)
    counts = np.bincount(comp, minlength=M)
    assert chi_square(counts, tempered(PI, tau)) < CHI2_DF2_P001
    assert chi_square(counts, PI) > 10 * CHI2_DF2_P001


def test_browser_convention_uses_pdf_temperature(fixed):
    tau = 0.2
    rows = _draws(fixed, tau, "browser", seed=2)
    pdf_tau = 0.5 + 0.5 * tau  # sketch-rnn-js default
    assert chi_square(rows[:, 2:].sum(0), tempered(PEN, pdf_tau)) < CHI2_DF2_P001
    assert chi_square(np.bincount(_component_of(rows), minlength=M), tempered(PI, pdf_tau)) < CHI2_DF2_P001
    assert chi_square(rows[:, 2:].sum(0), tempered(PEN, tau)) > 10 * CHI2_DF2_P001
    # An explicit pdf_temperature overrides the default.
    rows = _draws(fixed, tau, "browser", seed=3, pdf_temperature=2.0)
    assert chi_square(rows[:, 2:].sum(0), tempered(PEN, 2.0)) < CHI2_DF2_P001


def _component_of(rows):
    """Which component drew each offset: the means are 84+ apart, sigma * tau is at most 4."""
    d = (rows[:, None, 0] - MU1) ** 2 + (rows[:, None, 1] - MU2) ** 2
    comp = d.argmin(1)
    assert np.sqrt(d.min(1)).max() < 30.0
    return comp


@pytest.mark.parametrize("convention, var_factor", [("reference", lambda t: t**2),
                                                    ("browser", lambda t: t)])
def test_offset_moments_per_component(fixed, convention, var_factor):
    tau = 0.5
    rows = _draws(fixed, tau, convention, seed=4)
    comp = _component_of(rows)
    wrong = {"reference": tau, "browser": tau**2}[convention]  # the other convention's factor
    for k in range(M):
        xy = rows[comp == k, :2].astype(np.float64)
        count = len(xy)
        assert count > 300
        s1, s2 = SIGMA1[k], SIGMA2[k]
        scale = np.sqrt(var_factor(tau))
        mean = xy.mean(0)
        assert abs(mean[0] - MU1[k]) < 5 * s1 * scale / np.sqrt(count)
        assert abs(mean[1] - MU2[k]) < 5 * s2 * scale / np.sqrt(count)
        cov = np.cov(xy.T)
        want = var_factor(tau) * np.array([[s1**2, RHO[k] * s1 * s2], [RHO[k] * s1 * s2, s2**2]])
        tol = 5 * np.sqrt(2.0 / count)  # ~5 standard errors of a sample variance, relative
        np.testing.assert_allclose(np.diag(cov), np.diag(want), rtol=tol)
        assert abs(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) - RHO[k]) < 5 / np.sqrt(count)
        # ... and the other convention's variance (2x or 1/2x) is clearly off.
        assert tol < 0.25
        other = wrong * np.array([s1**2, s2**2])
        assert np.all(np.abs(np.diag(cov) / other - 1) > 0.4)


# -- early stopping and max_len ----------------------------------------------------------------


@pytest.fixture(scope="module")
def ending():
    """A fixed mixture where the pen ends the sketch with probability 0.2 at each step."""
    return fixed_mixture_model(pen=np.array([0.6, 0.2, 0.2]))


def test_early_stop_lengths_and_padding(ending):
    res = sample_strokes5(ending, n=16, temperature=1.0, seed=5, max_len=30)
    rows, lengths = res.strokes5, res.lengths
    assert lengths.dtype.kind == "i" and lengths.shape == (16,)
    assert (lengths >= 1).all() and (lengths <= 30).all()
    assert len(set(lengths.tolist())) > 3  # geometric lengths, not all the same
    assert rows.shape[1] == lengths.max()  # the loop stops once every sketch has ended
    for b, length in enumerate(lengths):
        ended = rows[b, length - 1, 4] == 1
        assert ended or length == 30
        assert (rows[b, : length - 1, 4] == 0).all()
        np.testing.assert_array_equal(rows[b, length:], np.tile(END_ROW, (rows.shape[1] - length, 1)))
    # The same draw without early stopping: all max_len rows, and the same rows up to each end.
    full = sample_strokes5(ending, n=16, temperature=1.0, seed=5, max_len=30, early_stop=False)
    assert full.strokes5.shape == (16, 30, 5)
    np.testing.assert_array_equal(full.lengths, lengths)
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(full.strokes5[b, :length], rows[b, :length])
    # There, the rows after an end are the model's own draws (fed back, as the reference does),
    # not padding.
    after = np.concatenate([full.strokes5[b, length:] for b, length in enumerate(lengths)])
    assert len(after) > 0 and np.abs(after[:, :2]).max() > 1.0
    # sample() cuts each drawing before its end row and converts to stroke-3.
    drawings = sample(ending, n=16, temperature=1.0, seed=5, max_len=30)
    assert len(drawings) == 16
    for b, (d, length) in enumerate(zip(drawings, lengths, strict=True)):
        ended = rows[b, length - 1, 4] == 1
        assert d.shape == ((length - 1 if ended else length), 3)
        assert d.dtype == np.float32
        np.testing.assert_array_equal(d[:, :2], rows[b, : len(d), :2])
        np.testing.assert_array_equal(d[:, 2], rows[b, : len(d), 3])


def test_max_len_bounds_the_loop():
    never_ends = fixed_mixture_model(pen=np.array([0.5, 0.5, 1e-12]))
    for max_len in (7, L):
        res = sample_strokes5(never_ends, n=B, temperature=1.0, seed=6, max_len=max_len)
        assert res.strokes5.shape == (B, max_len, 5)
        np.testing.assert_array_equal(res.lengths, max_len)
        assert (res.strokes5[..., 4] == 0).all()
        drawings = sample(never_ends, n=B, temperature=1.0, seed=6, max_len=max_len)
        assert [d.shape for d in drawings] == [(max_len, 3)] * B
    # The default is config.max_seq_len.
    assert TINY["max_seq_len"] == L
    assert sample_strokes5(never_ends, n=B, seed=6).strokes5.shape == (B, L, 5)


# -- shapes, dtypes and errors -----------------------------------------------------------------


def test_sample_shapes_and_dtypes(vae, uncond):
    for model in (vae, uncond):
        drawings = sample(model, n=B, temperature=0.7, seed=9, max_len=L)
        assert isinstance(drawings, list) and len(drawings) == B
        for d in drawings:
            assert d.ndim == 2 and d.shape[1] == 3 and d.dtype == np.float32
            assert set(np.unique(d[:, 2])) <= {0.0, 1.0}
            assert np.isfinite(d).all()
    # z given: one drawing per row of z, whatever n says.
    z = np.zeros([B, Z], np.float32)
    assert len(sample(vae, n=7, z=z, temperature=0.5, seed=1, max_len=L)) == B
    assert len(sample(vae, z=z[0], greedy=True, max_len=L)) == 1  # a single code


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(z=np.zeros([2, Z + 1], np.float32)), "z"),
        (dict(z=np.zeros([2, 2, Z], np.float32)), "z"),
        (dict(convention="paper"), "convention"),
        (dict(convention="browser", pdf_temperature=0.0), "pdf_temperature"),
        (dict(max_len=0), "max_len"),
        (dict(n=0), "n"),
    ],
)
def test_sample_errors_conditional(vae, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample(vae, **{"max_len": L, "seed": 0, **kwargs})


def test_sample_errors_unconditional(uncond):
    with pytest.raises(ValueError, match="unconditional"):
        sample(uncond, z=np.zeros([1, Z], np.float32), max_len=20)
    with pytest.raises(ValueError, match="temperature"):
        sample(uncond, temperature=0.0, max_len=20)
    with pytest.raises(ValueError, match="convention"):
        sample(uncond, convention="magenta", max_len=20)
    with pytest.raises(ValueError):
        sample(uncond, n=0, max_len=20)


def test_greedy_allows_zero_temperature(uncond):
    a = sample(uncond, n=B, greedy=True, temperature=0.0, max_len=L)
    b = sample(uncond, n=B, greedy=True, max_len=L)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# -- encode and decode ---------------------------------------------------------------------------


def _drawings(count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for length in rng.integers(1, 15, count):
        d = np.zeros([length, 3], np.float32)
        d[:, :2] = rng.normal(size=(length, 2))
        d[:, 2] = rng.integers(0, 2, length)
        d[-1, 2] = 1
        out.append(d)
    return out


def test_encode_equals_model_encode_on_padded_batch(vae):
    drawings = _drawings(7, seed=10)
    mu = encode(vae, drawings)
    assert mu.shape == (7, Z) and mu.dtype == np.float32
    lengths = np.array([len(d) for d in drawings], np.int32)
    x = pad_batch(drawings, int(lengths.max()) + 3)
    want, _ = vae.posterior(x, lengths)
    np.testing.assert_allclose(mu, ops.convert_to_numpy(want), atol=1e-6)
    # Chunking does not change anything.
    np.testing.assert_allclose(encode(vae, drawings, batch_size=2), mu, atol=1e-6)
    # Integer arrays and lists are accepted.
    np.testing.assert_allclose(encode(vae, [drawings[0].tolist()]), mu[:1], atol=1e-6)


@pytest.mark.parametrize("enc_model", ["lstm", "layer_norm", "hyper"])
def test_encode_xla_matches_graph_at_edge_lengths(enc_model):
    # The XLA encoder (two loops side by side, two steps per iteration, stopping at the real
    # length) against model.posterior: odd and even lengths, one point, exactly the padded bucket (64)
    # and one more, and the masking of a small batch.
    model = randomize(SketchRNN(HParams(**TINY, enc_model=enc_model)), seed=4)
    rng = np.random.default_rng(5)
    drawings = []
    for length in (1, 2, 7, 64, 65):
        d = rng.normal(size=(length, 3)).astype(np.float32)
        d[:, 2] = rng.integers(0, 2, length)
        drawings.append(d)
    lengths = np.array([len(d) for d in drawings], np.int32)
    want, _ = model.posterior(pad_batch(drawings, int(lengths.max())), lengths)
    for d, w in zip(drawings, ops.convert_to_numpy(want), strict=True):
        np.testing.assert_allclose(encode(model, [d], jit_compile=True)[0], w, atol=1e-5)
    np.testing.assert_allclose(encode(model, drawings[:3], jit_compile=True), want[:3], atol=1e-5)
    np.testing.assert_allclose(encode(model, drawings, jit_compile=True), want, atol=1e-5)
    np.testing.assert_allclose(encode(model, drawings, jit_compile=False), want, atol=1e-5)


def test_z_tanh_applies_to_the_initial_state_only(vae):
    """Legacy browser VAEs (``z_tanh``): sketch-rnn-js makes the decoder's initial state from
    ``tanh(z)`` but feeds the raw ``z`` as input, and its ``encode`` returns ``z`` untouched."""
    legacy = randomize(SketchRNN(HParams(**TINY).model_config(z_tanh=True)), seed=1)  # vae's weights
    drawings = _drawings(3, seed=14)
    np.testing.assert_array_equal(encode(legacy, drawings), encode(vae, drawings))
    z = 3.0 * np.random.default_rng(15).normal(size=(2, Z)).astype(np.float32)
    got = sample_strokes5(legacy, z=z, greedy=True, max_len=L, early_stop=False)
    want = sample_strokes5(vae, z=z, greedy=True, max_len=L, early_stop=False,
                           initial_state=vae.initial_state(ops.tanh(z)))
    np.testing.assert_allclose(got.raw, want.raw, atol=1e-5)
    plain = sample_strokes5(vae, z=z, greedy=True, max_len=L, early_stop=False)
    assert np.abs(plain.raw - got.raw).max() > 1e-3
    # complete() primes the decoder from the same state.
    inputs = np.zeros([2, 4, 5], np.float32)
    inputs[:, :, 2] = 1.0
    primed = Sampler(legacy)._primer()(ops.convert_to_tensor(inputs), ops.convert_to_tensor(z))
    _, want_state = vae.decode_sequence(inputs, z, vae.initial_state(ops.tanh(z)))
    np.testing.assert_allclose(ops.convert_to_numpy(primed), ops.convert_to_numpy(want_state), atol=1e-5)


def test_encode_sample_z_adds_noise(vae):
    # sigma = exp(presig / 2) = 3 exactly for every drawing (weights restored afterwards).
    saved = vae.presig_w.numpy(), vae.presig_b.numpy()
    vae.presig_w.assign(np.zeros(vae.presig_w.shape, np.float32))
    vae.presig_b.assign(np.full(vae.presig_b.shape, 2 * np.log(3.0), np.float32))
    drawings = _drawings(200, seed=12)
    try:
        mu = encode(vae, drawings)
        z1 = encode(vae, drawings, sample_z=True, seed=1)
        z2 = encode(vae, drawings, sample_z=True, seed=1)
        z3 = encode(vae, drawings, sample_z=True, seed=2)
    finally:
        vae.presig_w.assign(saved[0])
        vae.presig_b.assign(saved[1])
    np.testing.assert_array_equal(z1, z2)
    assert np.abs(z1 - z3).min() > 0
    noise = (z1 - mu).ravel()
    assert abs(noise.std() - 3.0) < 0.3
    assert abs(noise.mean()) < 0.35


@pytest.mark.parametrize(
    "drawings",
    [
        [],
        [np.zeros([0, 3], np.float32)],
        [np.zeros([4, 2], np.float32)],
        [np.zeros([4], np.float32)],
        [np.array([[0.0, np.nan, 0.0], [1.0, 1.0, 1.0]], np.float32)],
        [np.array([[0.0, 1.0, 0.0], [np.inf, 1.0, 1.0]], np.float32)],
        [np.ones([3, 3], np.float32), np.zeros([2, 4], np.float32)],
    ],
)
def test_encode_bad_drawings_raise(vae, drawings):
    with pytest.raises(ValueError):
        encode(vae, drawings)


def test_encode_unconditional_raises(uncond):
    with pytest.raises(ValueError, match="unconditional"):
        encode(uncond, _drawings(1, seed=0))


def test_decode_draws_one_per_z_row(vae):
    z = np.random.default_rng(13).normal(size=(B, Z)).astype(np.float32)
    drawings = decode(vae, z, greedy=True, max_len=L)
    assert len(drawings) == B
    same = sample(vae, z=z, greedy=True, max_len=L)
    for a, b in zip(drawings, same, strict=True):
        np.testing.assert_array_equal(a, b)
    # Each row is decoded on its own z: the rows of a batch match single decodes.
    for i in range(B):
        alone = decode(vae, z[i], greedy=True, max_len=L)
        assert len(alone) == 1
        np.testing.assert_allclose(alone[0], drawings[i], atol=1e-5)
    assert len(decode(vae, z, temperature=0.5, seed=3, max_len=L)) == B

"""Losses and schedules: hand-computed values, a float64 numpy oracle, masking, the KL floor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from sketch_rnn.hparams import HParams
from sketch_rnn.losses import (
    EPSILON,
    kl_loss,
    mixture_params,
    offset_nll,
    pen_loss,
    reconstruction_loss,
    reconstruction_terms,
    split_raw,
    total_loss,
)
from sketch_rnn.schedules import LearningRate, kl_weight, learning_rate

TWO_PI = 2.0 * math.pi
LOG3 = math.log(3.0)


# -- a float64 numpy oracle written from REFERENCE.md section 1.4 ----------------------------


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_params(raw, m):
    raw = np.asarray(raw, np.float64)
    blk = lambda k: raw[..., 3 + k * m : 3 + (k + 1) * m]  # noqa: E731
    return dict(pen_logits=raw[..., :3], pi=np_softmax(blk(0)), mu1=blk(1), mu2=blk(2),
                sigma1=np.exp(blk(3)), sigma2=np.exp(blk(4)), corr=np.tanh(blk(5)))


def np_density(x, y, p):
    n1, n2 = x[..., None] - p["mu1"], y[..., None] - p["mu2"]
    s1, s2, rho = p["sigma1"], p["sigma2"], p["corr"]
    z = (n1 / s1) ** 2 + (n2 / s2) ** 2 - 2 * rho * n1 * n2 / (s1 * s2)
    return np.exp(-z / (2 * (1 - rho**2))) / (TWO_PI * s1 * s2 * np.sqrt(1 - rho**2))


def np_terms(raw, target, m):
    target = np.asarray(target, np.float64)
    p = np_params(raw, m)
    mask = 1.0 - target[..., 4]
    ls = -np.log((np_density(target[..., 0], target[..., 1], p) * p["pi"]).sum(-1) + 1e-6) * mask
    logits = p["pen_logits"]
    log_sm = logits - logits.max(-1, keepdims=True)
    log_sm = log_sm - np.log(np.exp(log_sm).sum(-1, keepdims=True))
    lp = -(target[..., 2:5] * log_sm).sum(-1)
    return ls, lp, mask


def random_batch(rng, b, n, m, lengths):
    """Random decoder outputs and a stroke-5 target batch with the given real lengths."""
    raw = rng.normal(0.0, 0.7, (b, n, 3 + 6 * m)).astype(np.float32)
    target = np.zeros((b, n, 5), np.float32)
    for i, length in enumerate(lengths):
        target[i, :length, :2] = rng.normal(0.0, 1.0, (length, 2))
        pen = rng.integers(0, 2, length)
        target[i, np.arange(length), 2 + pen] = 1.0
        target[i, length:, 4] = 1.0
    return raw, target


def one_component(mu=(0.0, 0.0), log_sigma=(0.0, 0.0), corr_raw=0.0, pen=(0.0, 0.0, 0.0)):
    raw = np.zeros([1, 1, 3 + 6], np.float32)
    raw[..., :3] = pen
    raw[..., 4:6] = mu
    raw[..., 6:8] = log_sigma
    raw[..., 8] = corr_raw
    return raw


FORMS = ["reference", "stable"]


# -- bivariate normal: hand-computed values ---------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "kw, point, density",
    [
        # standard normal at its mean
        ({}, (0.0, 0.0), 1.0 / TWO_PI),
        # one unit away in x: Z = 1
        (dict(mu=(1.0, 0.0)), (0.0, 0.0), math.exp(-0.5) / TWO_PI),
        # sigma_x = 2, sigma_y = 1/2, point (2, 0.5): Z = 2, sigma_x sigma_y = 1
        (dict(log_sigma=(math.log(2.0), math.log(0.5))), (2.0, 0.5), math.exp(-1.0) / TWO_PI),
        # rho = 0.5 at (1, 1): Z = 1 + 1 - 2 * 0.5 = 1, 1 - rho^2 = 0.75
        (dict(corr_raw=math.atanh(0.5)), (1.0, 1.0),
         math.exp(-1.0 / 1.5) / (TWO_PI * math.sqrt(0.75))),
        # rho = -0.5 at (1, 1): Z = 3
        (dict(corr_raw=math.atanh(-0.5)), (1.0, 1.0),
         math.exp(-3.0 / 1.5) / (TWO_PI * math.sqrt(0.75))),
        # shifted mean, sigma 3 and rho 0.8 at (mu1 + 3, mu2 - 3): Z = 1 + 1 + 1.6 = 3.6
        (dict(mu=(0.5, -1.0), log_sigma=(math.log(3.0), math.log(3.0)), corr_raw=math.atanh(0.8)),
         (3.5, -4.0), math.exp(-3.6 / 0.72) / (TWO_PI * 9.0 * 0.6)),
    ],
)
def test_offset_nll_hand_values(form, kw, point, density):
    raw = one_component(**kw)
    got = offset_nll(raw, np.float32([[point[0]]]), np.float32([[point[1]]]), 1, form).numpy()
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(-math.log(density + 1e-6), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("form", FORMS)
def test_two_component_mixture_hand_value(form):
    raw = np.zeros([1, 1, 3 + 12], np.float32)
    raw[0, 0, 3:5] = [math.log(3.0), 0.0]  # pi = (0.75, 0.25)
    raw[0, 0, 5:7] = [0.0, 3.0]  # mu1
    raw[0, 0, 7:9] = [0.0, 4.0]  # mu2
    got = float(offset_nll(raw, np.float32([[0.0]]), np.float32([[0.0]]), 2, form)[0, 0])
    mixture = (0.75 + 0.25 * math.exp(-12.5)) / TWO_PI
    assert got == pytest.approx(-math.log(mixture + 1e-6), rel=1e-6)


@pytest.mark.parametrize("form", FORMS)
def test_far_point_is_floored_by_epsilon(form):
    # The density underflows to zero: the 1e-6 inside the log is all that is left.
    got = offset_nll(one_component(), np.float32([[100.0]]), np.float32([[0.0]]), 1, form)
    assert float(got[0, 0]) == pytest.approx(-math.log(EPSILON), rel=1e-6)
    assert EPSILON == 1e-6


@pytest.mark.parametrize("form", FORMS)
def test_offset_nll_matches_float64_oracle(form):
    rng = np.random.default_rng(0)
    m = 3
    raw, target = random_batch(rng, 4, 7, m, [7, 5, 3, 1])
    got = offset_nll(raw, target[..., 0], target[..., 1], m, form).numpy()
    p = np_params(raw, m)
    want = -np.log((np_density(target[..., 0].astype(np.float64), target[..., 1].astype(np.float64), p)
                    * p["pi"]).sum(-1) + 1e-6)
    assert got.shape == (4, 7) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stable_and_reference_agree_on_normal_data(seed):
    rng = np.random.default_rng(seed)
    m = 5
    raw = rng.normal(0.0, 1.0, (8, 30, 3 + 6 * m)).astype(np.float32)
    dx = rng.normal(0.0, 1.0, (8, 30)).astype(np.float32)
    dy = rng.normal(0.0, 1.0, (8, 30)).astype(np.float32)
    ref = offset_nll(raw, dx, dy, m, "reference").numpy()
    stable = offset_nll(raw, dx, dy, m, "stable").numpy()
    assert np.isfinite(ref).all() and np.isfinite(stable).all()
    # Per position both are a few float32 ulps from the float64 value (losses reach 13.8, where
    # one ulp is 1e-6), so they agree to 1e-5; on average over positions, to 1e-6.
    np.testing.assert_allclose(stable, ref, rtol=1e-5, atol=1e-5)
    p = np_params(raw, m)
    want = -np.log((np_density(dx.astype(np.float64), dy.astype(np.float64), p) * p["pi"]).sum(-1)
                   + 1e-6)
    np.testing.assert_allclose(stable, want, rtol=1e-5, atol=1e-5)
    assert stable.mean() == pytest.approx(ref.mean(), rel=1e-6, abs=1e-6)
    # The same holds for the whole loss, and for its gradient.
    target = np.zeros((8, 30, 5), np.float32)
    target[..., 0], target[..., 1], target[..., 2] = dx, dy, 1.0
    raw_v = tf.Variable(raw)
    losses, grads = {}, {}
    for form in FORMS:
        with tf.GradientTape() as tape:
            losses[form] = reconstruction_loss(raw_v, target, m, form=form)
        grads[form] = tape.gradient(losses[form], raw_v).numpy()
    assert float(losses["stable"]) == pytest.approx(float(losses["reference"]), rel=1e-6)
    np.testing.assert_allclose(grads["stable"], grads["reference"], rtol=1e-4, atol=1e-7)


def test_unknown_form_raises():
    raw = one_component()
    with pytest.raises(ValueError, match="exact"):
        offset_nll(raw, np.float32([[0.0]]), np.float32([[0.0]]), 1, form="exact")
    with pytest.raises(ValueError):
        reconstruction_loss(raw, np.float32([[[0, 0, 1, 0, 0]]]), 1, form="fast")


def _value_and_grad(raw, point, form):
    raw_v = tf.Variable(raw)
    with tf.GradientTape() as tape:
        value = offset_nll(raw_v, np.float32([[point[0]]]), np.float32([[point[1]]]), 1, form)
    return float(value[0, 0]), tape.gradient(value, raw_v).numpy()


@pytest.mark.parametrize(
    "kw, point, expected",
    [
        # sigma = e^-60: sigma_x sigma_y underflows to 0 in float32; at the mean the density is
        # e^120 / 2pi, so the loss is -(120 - log 2pi).
        (dict(log_sigma=(-60.0, -60.0)), (0.0, 0.0), -(120.0 - math.log(TWO_PI))),
        # rho = tanh(30) == 1 in float32: 1 - rho^2 == 0. On the line x = y (unit offsets),
        # Z = 2(1 - rho) but Z / (1 - rho^2) = 2 / (1 + rho) = 1, so
        # -log(N) = log 2pi + log(1 - rho^2) / 2 + 1/2 with log(1 - tanh(30)^2) = log 4 - 60 (+ 4e-26).
        (dict(corr_raw=30.0), (1.0, 1.0), math.log(TWO_PI) + 0.5 * (math.log(4.0) - 60.0) + 0.5),
        (dict(corr_raw=-30.0), (1.0, -1.0), math.log(TWO_PI) + 0.5 * (math.log(4.0) - 60.0) + 0.5),
        # Off that line the density is 0: only the 1e-6 floor is left.
        (dict(corr_raw=30.0), (1.0, -1.0), -math.log(1e-6)),
        (dict(corr_raw=30.0), (1e4, -1e4), -math.log(1e-6)),
        # sigma = e^60: sigma_x sigma_y overflows to inf in float32; the density is ~0.
        (dict(log_sigma=(60.0, 60.0)), (0.0, 0.0), -math.log(math.exp(-120.0) / TWO_PI + 1e-6)),
    ],
)
def test_stable_is_finite_where_reference_overflows(kw, point, expected):
    raw = one_component(**kw)
    ref_value, ref_grad = _value_and_grad(raw, point, "reference")
    value, grad = _value_and_grad(raw, point, "stable")
    # The reference form breaks down: a non-finite loss or gradient.
    assert not (np.isfinite(ref_value) and np.isfinite(ref_grad).all())
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(expected, rel=1e-6)


def test_stable_loss_finite_for_tiny_sigma_with_correlation():
    raw = one_component(log_sigma=(-60.0, -60.0), corr_raw=0.5)
    value, grad = _value_and_grad(raw, (1.0, 1.0), "stable")
    # The density is 0 here: the loss is the epsilon floor and no gradient flows.
    assert value == pytest.approx(-math.log(1e-6), rel=1e-6)
    assert np.isfinite(grad).all()


def test_stable_gradient_finite_for_tiny_sigma_off_the_mean():
    raw = one_component(log_sigma=(-60.0, -60.0), corr_raw=0.0)
    value, grad = _value_and_grad(raw, (1.0, 1.0), "stable")
    assert value == pytest.approx(-math.log(1e-6), rel=1e-6)  # this part already holds
    assert np.isfinite(grad).all()


# -- mixture layout ----------------------------------------------------------------------------


def test_mixture_params_layout():
    m = 3
    # Every output gets a distinct value: block k, component j -> 0.1 k + 0.01 j - 0.2.
    raw = np.zeros([2, 3 + 6 * m], np.float32)
    raw[:, :3] = [0.3, -0.1, 0.5]
    for k in range(6):
        for j in range(m):
            raw[:, 3 + k * m + j] = 0.1 * k + 0.01 * j - 0.2
    raw[1] *= 2.0
    p = {k: v.numpy() for k, v in mixture_params(raw, m).items()}
    assert set(p) == {"pi", "mu1", "mu2", "sigma1", "sigma2", "corr", "pen", "pen_logits"}
    for key, v in p.items():
        assert v.dtype == np.float32
        assert v.shape == ((2, 3) if key.startswith("pen") else (2, m)), key
    block = lambda k: raw[:, 3 + k * m : 3 + (k + 1) * m].astype(np.float64)  # noqa: E731
    np.testing.assert_allclose(p["pen_logits"], raw[:, :3])
    np.testing.assert_allclose(p["pen"], np_softmax(raw[:, :3].astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(p["pi"], np_softmax(block(0)), rtol=1e-6)
    np.testing.assert_allclose(p["mu1"], block(1), rtol=1e-7)
    np.testing.assert_allclose(p["mu2"], block(2), rtol=1e-7)
    np.testing.assert_allclose(p["sigma1"], np.exp(block(3)), rtol=1e-6)
    np.testing.assert_allclose(p["sigma2"], np.exp(block(4)), rtol=1e-6)
    np.testing.assert_allclose(p["corr"], np.tanh(block(5)), rtol=1e-6)
    r = {k: v.numpy() for k, v in split_raw(tf.constant(raw), m).items()}
    for k, name in enumerate(["pi_logits", "mu1", "mu2", "log_sigma1", "log_sigma2", "corr_raw"]):
        np.testing.assert_array_equal(r[name], block(k).astype(np.float32))
    np.testing.assert_array_equal(r["pen_logits"], raw[:, :3])


def test_mixture_params_hand_values():
    raw = np.zeros([1, 3 + 6 * 2], np.float32)
    raw[0, :3] = [0.0, math.log(2.0), math.log(5.0)]
    raw[0, 3:5] = [math.log(3.0), 0.0]
    p = mixture_params(raw, 2)
    np.testing.assert_allclose(p["pen"].numpy()[0], [1 / 8, 2 / 8, 5 / 8], rtol=1e-6)
    np.testing.assert_allclose(p["pi"].numpy()[0], [0.75, 0.25], rtol=1e-6)
    np.testing.assert_allclose(p["sigma1"].numpy()[0], [1.0, 1.0])
    np.testing.assert_allclose(p["corr"].numpy()[0], [0.0, 0.0])


# -- pen loss, masking and normalisation ------------------------------------------------------


def test_pen_loss_hand_value():
    logits = np.float32([[[0.0, math.log(2.0), math.log(5.0)]]])
    raw = np.concatenate([logits, np.zeros([1, 1, 6], np.float32)], -1)
    for k, prob in enumerate([1 / 8, 2 / 8, 5 / 8]):
        onehot = np.eye(3, dtype=np.float32)[k][None, None]
        assert float(pen_loss(raw, onehot)[0, 0]) == pytest.approx(-math.log(prob), rel=1e-6)


def _masking_case():
    """One sketch: 2 real rows then 2 padding rows (with non-zero offsets that must not count)."""
    raw = np.zeros([1, 4, 3 + 6], np.float32)
    target = np.float32([[[0, 0, 1, 0, 0], [1, 0, 0, 1, 0], [5, 5, 0, 0, 1], [0, 0, 0, 0, 1]]])
    ls0 = -math.log(1 / TWO_PI + 1e-6)
    ls1 = -math.log(math.exp(-0.5) / TWO_PI + 1e-6)
    return raw, target, ls0, ls1


@pytest.mark.parametrize("form", FORMS)
def test_pen_masking_exact_values(form):
    raw, target, ls0, ls1 = _masking_case()
    # Training (reference is_training=True): pen loss on every row, padding included.
    unmasked = float(reconstruction_loss(raw, target, 1, mask_pen=False, form=form))
    assert unmasked == pytest.approx((ls0 + ls1 + 4 * LOG3) / 4, rel=1e-6)
    # Evaluation: pen loss only on real rows, but still divided by all 4 positions.
    masked = float(reconstruction_loss(raw, target, 1, mask_pen=True, form=form))
    assert masked == pytest.approx((ls0 + ls1 + 2 * LOG3) / 4, rel=1e-6)
    ls, lp, mask = (t.numpy() for t in reconstruction_terms(raw, target, 1, form))
    np.testing.assert_allclose(mask, [[1, 1, 0, 0]])
    np.testing.assert_allclose(ls, [[ls0, ls1, 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(lp, [[LOG3] * 4], rtol=1e-6)


def test_padding_offsets_do_not_matter():
    rng = np.random.default_rng(3)
    raw, target = random_batch(rng, 3, 9, 2, [9, 4, 2])
    other = target.copy()
    other[1, 4:, :2] = 1e3 * rng.normal(size=(5, 2))
    other[2, 2:, :2] = -7.0
    for mask_pen in (False, True):
        a = float(reconstruction_loss(raw, target, 2, mask_pen=mask_pen))
        b = float(reconstruction_loss(raw, other, 2, mask_pen=mask_pen))
        assert a == b


@pytest.mark.parametrize("mask_pen", [False, True])
@pytest.mark.parametrize("form", FORMS)
def test_reconstruction_loss_matches_oracle(mask_pen, form):
    rng = np.random.default_rng(7)
    m = 3
    raw, target = random_batch(rng, 5, 11, m, [11, 8, 6, 3, 1])
    ls, lp, mask = np_terms(raw, target, m)
    if mask_pen:
        lp = lp * mask
    want = (ls + lp).sum() / (5 * 11)  # all B x N positions, not the number of real points
    got = reconstruction_loss(raw, target, m, mask_pen=mask_pen, form=form)
    assert got.dtype == tf.float32 and got.shape == ()
    assert float(got) == pytest.approx(want, rel=2e-6)
    # Dividing by the number of real points instead would be a different number.
    assert abs(want - (ls + lp).sum() / mask.sum()) > 0.1


def test_normalisation_by_all_positions():
    rng = np.random.default_rng(11)
    raw, target = random_batch(rng, 2, 6, 2, [6, 3])
    base = float(reconstruction_loss(raw, target, 2, mask_pen=True))
    # Four more padding positions per sketch: the summed loss is unchanged, the divisor grows.
    extra_raw = np.concatenate([raw, rng.normal(size=(2, 4, raw.shape[-1])).astype(np.float32)], 1)
    pad = np.tile(np.float32([0, 0, 0, 0, 1]), (2, 4, 1))
    longer = float(reconstruction_loss(extra_raw, np.concatenate([target, pad], 1), 2, mask_pen=True))
    assert longer == pytest.approx(base * 6 / 10, rel=1e-6)


# -- KL term and its floor --------------------------------------------------------------------


def test_kl_loss_hand_value():
    mu = np.float32([[1.0, 2.0]])
    presig = np.float32([[0.0, math.log(2.0)]])
    # terms: 1 + 0 - 1 - 1 = -1 and 1 + log 2 - 4 - 2; KL = -1/2 * mean = (6 - log 2) / 4
    assert float(kl_loss(mu, presig)) == pytest.approx((6.0 - math.log(2.0)) / 4.0, rel=1e-6)
    assert float(kl_loss(np.zeros([3, 4], np.float32), np.zeros([3, 4], np.float32))) == 0.0


def test_kl_loss_matches_oracle_mean_over_batch_and_latent():
    rng = np.random.default_rng(5)
    mu = rng.normal(size=(4, 6)).astype(np.float32)
    presig = rng.normal(size=(4, 6)).astype(np.float32)
    m64, p64 = mu.astype(np.float64), presig.astype(np.float64)
    want = -0.5 * np.mean(1 + p64 - m64**2 - np.exp(p64))
    assert float(kl_loss(mu, presig)) == pytest.approx(want, rel=1e-6)
    # Not a sum over latent dimensions (that would be 6x larger).
    assert abs(float(kl_loss(mu, presig)) * 6 - want) > 1.0


def _total_and_grads(mu, presig, r=1.5, w=0.5, tol=0.2):
    mu_v, ps_v, r_v = tf.Variable(mu), tf.Variable(presig), tf.Variable(r)
    with tf.GradientTape() as tape:
        kl = kl_loss(mu_v, ps_v)
        loss = total_loss(r_v, kl, w, tol)
    g_mu, g_ps, g_r = tape.gradient(loss, [mu_v, ps_v, r_v])
    return float(kl), float(loss), g_mu.numpy(), g_ps.numpy(), float(g_r)


def test_kl_floor_passes_no_gradient_below_tolerance():
    mu = np.float32([[0.1, -0.2, 0.3]])  # KL = (0.01 + 0.04 + 0.09) / 6 = 0.0233 < 0.2
    kl, loss, g_mu, g_ps, g_r = _total_and_grads(mu, np.zeros_like(mu))
    assert kl == pytest.approx(0.14 / 6, rel=1e-5)
    assert loss == pytest.approx(1.5 + 0.5 * 0.2, rel=1e-6)
    np.testing.assert_array_equal(g_mu, 0.0)
    np.testing.assert_array_equal(g_ps, 0.0)
    assert g_r == 1.0


def test_kl_above_tolerance_has_exact_gradient():
    mu = np.float32([[1.0, -2.0, 0.5]])  # KL = (1 + 4 + 0.25) / 6 = 0.875 > 0.2
    kl, loss, g_mu, g_ps, g_r = _total_and_grads(mu, np.zeros_like(mu), w=0.5)
    assert kl == pytest.approx(5.25 / 6, rel=1e-6)
    assert loss == pytest.approx(1.5 + 0.5 * 5.25 / 6, rel=1e-6)
    # d/dmu of w * (-1/2) mean(... - mu^2) = w * mu / (B * Z)
    np.testing.assert_allclose(g_mu, 0.5 * mu / 3, rtol=1e-6)
    # d/dpresig = w * (-1/2) (1 - exp(presig)) / (B Z) = 0 at presig = 0
    np.testing.assert_allclose(g_ps, 0.0, atol=1e-8)
    assert g_r == 1.0


# -- schedules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step, lr",
    [
        (0, 0.001),
        (1, 0.00099 * 0.9999 + 1e-5),
        (6931, 0.00099 * 0.5 + 1e-5),  # half-life of the decay
        (46049, 0.00099 * 0.01 + 1e-5),  # the decaying part is down to 1%
        (10_000_000, 1e-5),
    ],
)
def test_learning_rate_values(step, lr):
    hps = HParams()
    assert learning_rate(hps, step) == pytest.approx(lr, rel=2e-5)
    # The Keras schedule returns float32: 1e-3 here, the exact check is below.
    assert float(LearningRate(hps)(step)) == pytest.approx(lr, rel=1e-3)


@pytest.mark.parametrize(
    "step, w",
    [
        (0, 0.01),
        (1, 0.5 - 0.49 * 0.99995),
        (13863, 0.5 - 0.49 * 0.5),  # half of the ramp
        (59913, 0.5 - 0.49 * 0.05),  # 95% of the ramp
        (10_000_000, 0.5),
    ],
)
def test_kl_weight_values(step, w):
    assert kl_weight(HParams(), step) == pytest.approx(w, rel=2e-5)


def test_schedules_exact_formula_and_hparams():
    hps = HParams(learning_rate=0.01, min_learning_rate=0.001, decay_rate=0.5,
                  kl_weight=1.0, kl_weight_start=0.2, kl_decay_rate=0.5)
    assert learning_rate(hps, 0) == pytest.approx(0.01)
    assert learning_rate(hps, 1) == pytest.approx(0.009 * 0.5 + 0.001)
    assert learning_rate(hps, 3) == pytest.approx(0.009 * 0.125 + 0.001)
    assert kl_weight(hps, 0) == pytest.approx(0.2)
    assert kl_weight(hps, 2) == pytest.approx(1.0 - 0.8 * 0.25)
    # Tensors work as steps too (the trainer feeds its step counter).
    t = tf.constant(3.0)
    assert float(learning_rate(hps, t)) == pytest.approx(0.009 * 0.125 + 0.001, rel=1e-6)
    assert float(kl_weight(hps, t)) == pytest.approx(1.0 - 0.8 * 0.125, rel=1e-6)


def test_learning_rate_schedule_equals_function():
    hps = HParams()
    sched = LearningRate(hps)
    assert isinstance(sched, keras.optimizers.schedules.LearningRateSchedule)
    for step in [0, 1, 7, 100, 6931, 13863, 46049, 200_000]:
        for s in (step, tf.constant(step, tf.int64), tf.constant(step, tf.int32)):
            got = sched(s)
            assert got.dtype == tf.float32
            assert float(got) == pytest.approx(learning_rate(hps, step), rel=1e-3)
    assert float(sched(0)) == pytest.approx(0.001, rel=1e-7)
    # Driven by an optimizer's step counter.
    opt = keras.optimizers.Adam(learning_rate=sched)
    opt.iterations.assign(6931)
    assert float(opt.learning_rate) == pytest.approx(learning_rate(hps, 6931), rel=1e-3)
    assert sched.get_config() == {"learning_rate": 0.001, "min_learning_rate": 1e-5,
                                  "decay_rate": 0.9999}


def test_learning_rate_schedule_config_round_trip():
    sched = LearningRate(HParams(learning_rate=0.002))
    again = LearningRate.from_config(sched.get_config())
    assert float(again(100)) == pytest.approx(float(sched(100)))


@pytest.mark.parametrize("step", [6931, 46049])
def test_learning_rate_schedule_matches_reference_to_float32_rounding(step):
    hps = HParams()
    want = float(np.float32(learning_rate(hps, step)))  # what the reference feeds the optimizer
    assert float(LearningRate(hps)(step)) == pytest.approx(want, rel=1e-6)

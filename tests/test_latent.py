"""The latent space: interpolation paths (ends, slerp geometry), morphs through a model (ends are the
encoded drawings), grids, analogies, PCA / t-SNE maps, eigen-sketches, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import randomize

from sketch_rnn.hparams import HParams
from sketch_rnn.latent import analogy, eigen_sketches, grid, interpolate, morph, pca, project
from sketch_rnn.model import SketchRNN
from sketch_rnn.sampling import encode
from sketch_rnn.strokes import lerp, slerp

Z = 4
TINY = dict(enc_rnn_size=8, dec_rnn_size=16, z_size=Z, num_mixture=2, max_seq_len=12)
A = np.array([[1.0, 0.0, 0], [0.5, 1.0, 0], [-1.0, 0.2, 1]], np.float32)
B = np.array([[0.0, 1.0, 0], [1.0, 0.0, 1], [0.3, 0.3, 0], [0.2, -0.4, 1]], np.float32)




@pytest.fixture(scope="module")
def vae():
    return randomize(SketchRNN(HParams(**TINY), scale_factor=4.0), seed=1)


@pytest.fixture(scope="module")
def uncond():
    return randomize(SketchRNN(HParams(**TINY, conditional=False)), seed=2)


def codes(n=40, k=Z, seed=0):
    # Anisotropic Gaussian codes: clear principal axes (variances 9, 4, 1, 0.25, ...).
    scales = 3.0 / 1.5 ** (2 * np.arange(k) / 2)
    return np.random.default_rng(seed).normal(size=(n, k)) * scales


# ---------------------------------------------------------------------------------------------
# interpolate


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolate_ends_are_the_inputs(method):
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=(2, 8)).astype(np.float32)
    path = interpolate(z0, z1, n=7, method=method)
    assert path.shape == (7, 8) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], z0)
    np.testing.assert_array_equal(path[-1], z1)
    assert interpolate(z0.astype(np.float64), z1, 2).dtype == np.float64


def test_slerp_and_lerp_match_the_scalar_formulas():
    rng = np.random.default_rng(1)
    z0, z1 = rng.normal(size=(2, 5))
    t = np.linspace(0, 1, 6)
    np.testing.assert_allclose(interpolate(z0, z1, 6), [slerp(z0, z1, x) for x in t], atol=1e-12)
    np.testing.assert_allclose(interpolate(z0, z1, 6, "lerp"), [lerp(z0, z1, x) for x in t], atol=1e-12)


def test_slerp_keeps_norms():
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(2, 16))
    # Equal norms: the whole path stays on that sphere (lerp cuts inside it).
    z0, z1 = 3 * u / np.linalg.norm(u), 3 * v / np.linalg.norm(v)
    np.testing.assert_allclose(np.linalg.norm(interpolate(z0, z1, 9), axis=1), 3.0, rtol=1e-12)
    assert np.linalg.norm(interpolate(z0, z1, 9, "lerp")[4]) < 3.0 - 1e-3
    # Different norms, less than 90 degrees apart: norms stay between the ends'.
    z1 = 5 * (v - u * (u @ v) / (u @ u) + 0.3 * u) / np.linalg.norm(v)
    assert z0 @ z1 > 0
    norms = np.linalg.norm(interpolate(z0, z1, 11), axis=1)
    lo, hi = sorted([np.linalg.norm(z0), np.linalg.norm(z1)])
    assert np.all(norms >= lo - 1e-9) and np.all(norms <= hi + 1e-9)


def test_slerp_parallel_codes_fall_back_to_lerp_and_undefined_ones_raise():
    z = np.array([1.0, 2.0])
    np.testing.assert_allclose(interpolate(z, 2 * z, 3), [z, 1.5 * z, 2 * z])  # parallel
    # A zero code has no direction, opposite codes no single great circle: lerp is the caller's call.
    with pytest.raises(ValueError, match="z0 and z1 include a zero vector"):
        interpolate(np.zeros(2), z, 3)
    with pytest.raises(ValueError, match="z0 and z1 are opposite"):
        interpolate(z, -z, 3)
    with pytest.raises(ValueError, match="z0 and z1 are opposite"):
        interpolate(z, -3 * z, 3)
    np.testing.assert_allclose(interpolate(z, -z, 3, method="lerp"), [z, 0 * z, -z])
    with pytest.raises(ValueError, match="top edge"):
        grid(np.stack([z, -z, z[::-1], 2 * z[::-1]]), rows=2, cols=3)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(3), np.ones(3), 1), r"n=1: must be an integer >= 2"),
        ((np.zeros(3), np.ones(3), 2.5), r"n=2.5"),
        ((np.zeros(3), np.ones(4), 3), r"differ in size: 3 and 4"),
        ((np.zeros((2, 3)), np.ones(3), 3), r"z0: expected one latent code"),
        ((np.zeros(3), [1.0, np.nan, 0.0], 3), r"z1: contains NaN"),
        ((np.zeros(3), ["a", "b", "c"], 3), r"z1: not a numeric latent code"),
    ],
)
def test_interpolate_errors(args, match):
    with pytest.raises(ValueError, match=match):
        interpolate(*args)
    with pytest.raises(ValueError, match=r"method='cubic'"):
        interpolate(np.zeros(3), np.ones(3), 3, method="cubic")


# ---------------------------------------------------------------------------------------------
# morph


def test_morph_ends_are_the_encoded_drawings(vae):
    drawings, path = morph(vae, A, B, n=5, temperature=0.2, seed=3, return_z=True, max_len=8)
    assert len(drawings) == 5 and path.shape == (5, Z)
    assert all(d.ndim == 2 and d.shape[1] == 3 and len(d) <= 8 for d in drawings)
    ends = encode(vae, [A, B])
    np.testing.assert_array_equal(path[0], ends[0])
    np.testing.assert_array_equal(path[-1], ends[1])
    np.testing.assert_allclose(path, interpolate(ends[0], ends[1], 5), atol=1e-6)
    # Same seed, same drawings; the lerp path differs in the middle only.
    again = morph(vae, A, B, n=5, temperature=0.2, seed=3, max_len=8)
    assert all(np.array_equal(x, y) for x, y in zip(drawings, again, strict=True))
    _, lin = morph(vae, A, B, n=5, method="lerp", temperature=0.2, seed=3, return_z=True, max_len=8)
    np.testing.assert_array_equal(lin[[0, -1]], path[[0, -1]])


def test_morph_in_pixel_units(vae):
    s = vae.scale_factor
    px = morph(vae, A * [s, s, 1], B * [s, s, 1], n=5, units="pixels", greedy=True, max_len=8)
    model_units = morph(vae, A, B, n=5, greedy=True, max_len=8)
    for p, m in zip(px, model_units, strict=True):
        np.testing.assert_allclose(p, m * [s, s, 1], rtol=1e-5, atol=1e-5)


def test_morph_errors(vae, uncond):
    with pytest.raises(ValueError, match="unconditional"):
        morph(uncond, A, B, n=3)
    with pytest.raises(ValueError, match=r"n=1"):
        morph(vae, A, B, n=1)
    with pytest.raises(ValueError, match=r"drawing 1: expected a non-empty stroke-3"):
        morph(vae, A, np.zeros((0, 3)), n=3)
    with pytest.raises(ValueError, match=r"units='inches'"):
        morph(vae, A, B, n=3, units="inches")


# ---------------------------------------------------------------------------------------------
# grid and analogy


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_grid_corners_and_edges(method):
    corners = codes(4, 6, seed=5)
    sheet = grid(corners, rows=4, cols=5, method=method)
    assert sheet.shape == (4, 5, 6)
    np.testing.assert_array_equal(sheet[[0, 0, -1, -1], [0, -1, 0, -1]], corners)
    np.testing.assert_allclose(sheet[0], interpolate(corners[0], corners[1], 5, method), atol=1e-12)
    np.testing.assert_allclose(sheet[:, -1], interpolate(corners[1], corners[3], 4, method), atol=1e-12)


def test_grid_lerp_is_bilinear():
    corners = codes(4, 3, seed=6)
    sheet = grid(corners, rows=3, cols=3, method="lerp")
    np.testing.assert_allclose(sheet[1, 1], corners.mean(axis=0), atol=1e-12)


def test_grid_from_drawings(vae, uncond):
    sheet = grid([A, B, B, A], rows=2, cols=3, model=vae)
    # (One encode call of the four: batch sizes may differ in the last bit, XLA or not.)
    ends = encode(vae, [A, B, B, A])
    np.testing.assert_array_equal(sheet[[0, 0, -1, -1], [0, -1, 0, -1]], ends)
    with pytest.raises(ValueError, match=r"expected 4 corner drawings"):
        grid([A, B], model=vae)
    with pytest.raises(ValueError, match="unconditional"):
        grid([A, B, B, A], model=uncond)
    with pytest.raises(ValueError, match=r"expected 4 corner codes"):
        grid(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"rows=1"):
        grid(np.zeros((4, 4)), rows=1)


def test_analogy():
    za, zb, zc = np.array([1.0, 0.0]), np.array([1.0, 2.0]), np.array([[5.0, 5.0], [0.0, 0.0]])
    np.testing.assert_array_equal(analogy(za, zb, zc), [[5.0, 7.0], [0.0, 2.0]])
    np.testing.assert_array_equal(analogy(za, zb, za), zb)
    with pytest.raises(ValueError, match=r"codes differ in size"):
        analogy(za, zb, np.zeros(3))
    with pytest.raises(ValueError, match=r"zb contains NaN"):
        analogy(za, [np.inf, 0.0], zc)


# ---------------------------------------------------------------------------------------------
# PCA and maps


def test_pca_axes_variances_mean():
    z = codes(200, 5)
    p = pca(z, k=3)
    assert p.components.shape == (3, 5) and p.mean.shape == (5,)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(p.mean, z.mean(axis=0))
    assert np.all(np.diff(p.explained_variance) < 0)
    # The same as numpy's eigen-decomposition of the covariance (up to each axis's sign).
    w, v = np.linalg.eigh(np.cov(z.T))
    np.testing.assert_allclose(p.explained_variance, w[::-1][:3], rtol=1e-10)
    np.testing.assert_allclose(np.abs(p.components @ v[:, ::-1][:, :3]), np.eye(3), atol=1e-8)
    np.testing.assert_allclose(p.explained_variance_ratio, w[::-1][:3] / w.sum(), rtol=1e-10)
    # Deterministic, signs included.
    np.testing.assert_array_equal(pca(z, 3).components, p.components)
    with pytest.raises(ValueError, match=r"k=6 must be an integer in 1..5"):
        pca(z, 6)
    with pytest.raises(ValueError, match=r"1 codes given, at least 2"):
        pca(z[:1])


def test_project_pca_and_tsne():
    z = codes(30, 6)
    xy = project(z)
    assert xy.shape == (30, 2)
    np.testing.assert_allclose(xy, pca(z, 2).transform(z))
    np.testing.assert_array_equal(project(z), xy)
    t1 = project(z, "tsne", max_iter=250)
    t2 = project(z, "tsne", max_iter=250)
    assert t1.shape == (30, 2) and np.isfinite(t1).all()
    np.testing.assert_array_equal(t1, t2)
    r1, r2 = (project(z, "tsne", max_iter=250, init="random", random_state=3) for _ in range(2))
    np.testing.assert_array_equal(r1, r2)  # fixed random_state: the same map
    with pytest.raises(ValueError, match=r"method='umap'"):
        project(z, "umap")
    with pytest.raises(ValueError, match=r"expected latent codes \[n, z_size\]"):
        project(z[0])


# ---------------------------------------------------------------------------------------------
# eigen-sketches


def test_eigen_sketches_shapes_and_points(vae):
    z = codes(40, Z)
    out = eigen_sketches(vae, z, axes=[0, 2], steps=3, temperatures=(0.1, 0.6), seed=0, max_len=6)
    assert out.axes == (0, 2) and out.temperatures == (0.1, 0.6)
    np.testing.assert_array_equal(out.steps, [-2.0, 0.0, 2.0])
    assert out.z.shape == (2, 3, Z)
    assert len(out.drawings) == 2 and all(
        len(row) == 2 and all(len(r) == 3 for r in row) for row in out.drawings
    )
    assert all(d.shape[1] == 3 for row in out.drawings for r in row for d in r)
    p = out.pca
    np.testing.assert_allclose(out.z[:, 1], np.broadcast_to(p.mean, (2, Z)), atol=1e-6)
    expected = p.mean + 2.0 * np.sqrt(p.explained_variance[2]) * p.components[2]
    np.testing.assert_allclose(out.z[1, 2], expected, rtol=1e-5, atol=1e-6)
    # The projections of the walk lie on their axis, s standard deviations out.
    np.testing.assert_allclose(
        p.transform(out.z[0])[:, 0] / np.sqrt(p.explained_variance[0]), [-2, 0, 2], atol=1e-5
    )
    # Same seed for every temperature; a greedy walk is deterministic.
    greedy = eigen_sketches(vae, z, axes=1, steps=[1.0], temperatures=[0.5], greedy=True, max_len=6)
    assert greedy.z.shape == (1, 1, Z) and len(greedy.drawings[0][0]) == 1


def test_eigen_sketches_errors(vae, uncond):
    z = codes(10, Z)
    with pytest.raises(ValueError, match="unconditional"):
        eigen_sketches(uncond, z)
    with pytest.raises(ValueError, match=r"have 3 entries: this model's z_size is 4"):
        eigen_sketches(vae, z[:, :3])
    with pytest.raises(ValueError, match=r"axes=\(4,\) must be non-empty indices in 0..3"):
        eigen_sketches(vae, z, axes=[4])
    with pytest.raises(ValueError, match=r"steps=0"):
        eigen_sketches(vae, z, steps=0)

"""The sampler on every backend.

On TensorFlow the fast plug-in (:mod:`sketch_rnn.fast.sampler`, the default there) against the
reference ``keras.ops`` loops (``RuntimeOptions(sampler="reference")``): both draw their noise with
the same function, so the same seed gives the same drawings, to the last bit where the two run the
same products (XLA loops, one-lane graph loops, the XLA encoder), and to float rounding where the
plug-in splits them differently (batch lanes, the fused encoder).

Under JAX (a subprocess, as Keras picks its backend at import): sampling imports no TensorFlow and
is reproducible from its seed. The backend-neutral behaviour is tested by ``test_sample.py`` and
``test_complete.py``, which run under both backends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from _helpers import randomize

from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN
from sketch_rnn.runtime import RuntimeOptions
from sketch_rnn.sampling import Sampler

REPO = Path(__file__).resolve().parent.parent
TINY = dict(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=3, max_seq_len=30)
STEPS = 30
PREFIX = np.array([[0.5, -0.2, 0], [0.3, 0.1, 0], [-0.1, 0.4, 1], [0.2, 0.2, 0]], np.float32)

tf_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="the fast sampler is a TensorFlow plug-in")


def samplers(cell: str, conditional: bool, **runtime) -> tuple[Sampler, Sampler]:
    """(fast, reference) samplers of one model with random weights."""
    model = randomize(SketchRNN(HParams(**TINY, enc_model=cell, dec_model=cell, conditional=conditional)),
                      seed=1)
    return (Sampler(model, RuntimeOptions(sampler="fast", **runtime)),
            Sampler(model, RuntimeOptions(sampler="reference", **runtime)))


CELLS = ("lstm", "layer_norm", "hyper")


@pytest.fixture(scope="module", params=[(c, k) for c in CELLS for k in (True, False)],
                ids=lambda p: f"{p[0]}-{'vae' if p[1] else 'decoder'}")
def pair(request):
    return samplers(*request.param)


def assert_same(a, b):
    np.testing.assert_array_equal(a.lengths, b.lengths)
    np.testing.assert_array_equal(a.strokes5, b.strokes5)
    np.testing.assert_array_equal(a.raw, b.raw)


# -- TensorFlow: the fast plug-in draws the reference's drawings ----------------------------------


@tf_only
@pytest.mark.parametrize("greedy", [False, True], ids=["sampled", "greedy"])
@pytest.mark.parametrize("jit", [True, False], ids=["xla", "graph"])
def test_fast_sampler_draws_the_reference_drawings(pair, greedy, jit):
    fast, reference = pair
    n = 3 if jit else 5  # without XLA, 5 drawings run as one lane (lane_min_batch is 8)
    assert n < fast.runtime.lane_min_batch
    for early_stop in (True, False):
        kw = dict(temperature=0.8, greedy=greedy, seed=5, max_len=STEPS, early_stop=early_stop,
                  jit_compile=jit)
        got, want = fast.strokes5(n, **kw), reference.strokes5(n, **kw)
        assert_same(got, want)
        if not greedy:
            # The draws end at different steps, so early stopping is exercised.
            assert len(set(want.lengths.tolist())) > 1 and want.lengths.min() < STEPS
        if early_stop:
            assert want.strokes5.shape[1] == want.lengths.max()
    # Another seed: other drawings (the noise is the seed's).
    if not greedy:
        other = reference.strokes5(n, temperature=0.8, seed=6, max_len=STEPS, jit_compile=jit)
        assert other.strokes5.shape != want.strokes5.shape \
            or not np.array_equal(other.strokes5, want.strokes5)


@tf_only
@pytest.mark.parametrize("greedy", [False, True], ids=["sampled", "greedy"])
def test_fast_sampler_lanes_draw_the_reference_drawings(greedy):
    # Batches of lane_min_batch drawings or more run without XLA as lanes; a step's random numbers
    # are drawn for the whole batch and cut, so the choices are the reference's. The values round
    # differently (TensorFlow's matmul kernels round a 5-row product unlike a 10-row one), so only
    # to float32 precision.
    fast, reference = samplers("layer_norm", True, lanes=2, lane_min_batch=8)
    from sketch_rnn.fast import sampler as fast_sampler

    assert fast_sampler.lanes_for(fast.runtime, 10, jit=False) == 2
    assert fast_sampler.lanes_for(fast.runtime, 7, jit=False) == 1
    assert fast_sampler.lanes_for(fast.runtime, 10, jit=True) == 1
    kw = dict(temperature=0.8, greedy=greedy, seed=5, max_len=STEPS, early_stop=False, jit_compile=False)
    got, want = fast.strokes5(10, **kw), reference.strokes5(10, **kw)
    np.testing.assert_array_equal(got.lengths, want.lengths)
    np.testing.assert_array_equal(got.strokes5[..., 2:], want.strokes5[..., 2:])
    np.testing.assert_allclose(got.strokes5, want.strokes5, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.raw, want.raw, rtol=1e-5, atol=1e-5)


@tf_only
@pytest.mark.parametrize("cell, conditional", [("lstm", True), ("layer_norm", False)])
@pytest.mark.parametrize("jit", [True, False], ids=["xla", "graph"])
def test_fast_sampler_completes_as_the_reference(cell, conditional, jit):
    fast, reference = samplers(cell, conditional)
    for early_stop in (True, False):
        kw = dict(n=3, temperature=0.6, seed=2, max_len=STEPS, early_stop=early_stop, jit_compile=jit,
                  return_raw=True)
        got, got_raw = fast.complete(PREFIX, **kw)
        want, want_raw = reference.complete(PREFIX, **kw)
        assert_same(got_raw, want_raw)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    assert len({r.tobytes() for r in want_raw.strokes5}) == 3  # three different continuations


def _drawings(seed: int, lengths=(1, 2, 7, 64, 65)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for length in lengths:
        d = rng.normal(size=(length, 3)).astype(np.float32)
        d[:, 2] = rng.integers(0, 2, length)
        out.append(d)
    return out


@tf_only
@pytest.mark.parametrize("cell", CELLS)
def test_fast_encoder_gives_the_reference_codes(cell):
    fast, reference = samplers(cell, True)
    drawings = _drawings(3)  # odd and even lengths, one point, the 64-row bucket's edge
    # With XLA (small batches): the two directions side by side, unrolled, then the same code.
    want = reference.encode(drawings, jit_compile=True)
    np.testing.assert_array_equal(fast.encode(drawings, jit_compile=True), want)
    assert len({c.tobytes() for c in want}) == len(drawings)
    # Without XLA the plug-in runs the model's posterior (the fused recurrences, in lanes): its
    # codes round differently.
    np.testing.assert_allclose(fast.encode(drawings, jit_compile=False),
                               reference.encode(drawings, jit_compile=False), rtol=1e-5, atol=1e-6)


@tf_only
def test_sampler_option_is_checked_and_chosen():
    with pytest.raises(ValueError, match="sampler='vectorised'"):
        RuntimeOptions(sampler="vectorised")
    model = randomize(SketchRNN(HParams(**TINY)), seed=0)
    assert Sampler(model)._fast and Sampler(model, RuntimeOptions(sampler="fast"))._fast
    assert not Sampler(model, RuntimeOptions(sampler="reference"))._fast


# -- JAX, in a subprocess --------------------------------------------------------------------------


JAX_SCRIPT = """
import sys
import numpy as np
import sketch_rnn, sketch_rnn.sampling
from sketch_rnn.config import ModelConfig
from sketch_rnn.runtime import RuntimeOptions
from sketch_rnn.sampling import Sampler, complete, encode, sample

assert sketch_rnn.sampling.keras.backend.backend() == "jax"
model = sketch_rnn.SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
a = sample(model, n=3, temperature=0.7, seed=4, max_len=12)
b = Sampler(model).sample(3, temperature=0.7, seed=4, max_len=12)   # its own compiled loop
c = sample(model, n=3, temperature=0.7, seed=5, max_len=12)
assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c, strict=True))
prefix = np.array([[1.0, 0.0, 0], [0.0, 1.0, 1]], np.float32)
assert all(np.array_equal(d[:2], prefix) for d in complete(model, prefix, n=2, seed=1, max_len=5))
assert encode(model, [prefix]).shape == (1, 4)
try:
    Sampler(model, RuntimeOptions(sampler="fast"))
    raise AssertionError("the fast sampler was accepted under JAX")
except ValueError as e:
    assert "TensorFlow only" in str(e)
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def test_jax_sampling_imports_no_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "tensorflow imported: False"

"""One model on every backend: weights trained on one load on the other with the same outputs, a
training run started on one resumes on the other, and JAX runs without TensorFlow.

Each test runs a child process on the other backend (Keras fixes its backend at import), so the
whole file runs under both ``python -m pytest`` and ``KERAS_BACKEND=jax python -m pytest``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from sketch_rnn.checkpoint import checkpoint_numbers, load_model, save_model
from sketch_rnn.config import ModelConfig
from sketch_rnn.hparams import get_default_hparams
from sketch_rnn.model import SketchRNN
from sketch_rnn.train import Trainer

THIS = keras.backend.backend()
OTHER = "jax" if THIS == "tensorflow" else "tensorflow"
#: Run first in a child that must not see TensorFlow: any import of it fails.
NO_TENSORFLOW = "import sys; sys.modules['tensorflow'] = None\n"
HPARAMS = ("data_set=toy.npz,enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=10,"
           "save_every=3,use_recurrent_dropout=True")


def run_on(backend: str, code: str, *args: str, block_tensorflow: bool = False) -> str:
    """Run ``code`` in a new Python on ``backend``; its stdout (it fails the test if the child does)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    source = (NO_TENSORFLOW if block_tensorflow else "") + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _batch():
    rng = np.random.default_rng(0)
    x = np.zeros([3, 13, 5], np.float32)
    x[:, 0] = [0, 0, 1, 0, 0]
    x[:, 1:, :2] = rng.normal(size=(3, 12, 2))
    x[:, 1:, 2] = 1
    return x, np.array([12, 7, 3], np.int32)


def _raw(model: SketchRNN) -> np.ndarray:
    x, n = _batch()
    eps = np.zeros([3, model.config.z_size], np.float32) if model.config.conditional else None
    return keras.ops.convert_to_numpy(model(x, n, eps=eps)["raw"])


RAW_ON_OTHER = """
import sys, numpy as np, keras
sys.path.insert(0, "tests")
from test_backends import _raw
from sketch_rnn.checkpoint import load_model
for folder in sys.argv[1:]:
    np.save(folder + "/raw_there.npy", _raw(load_model(folder)))
"""


def test_weights_saved_here_give_the_same_outputs_there(tmp_path):
    folders, raws = [], []
    for cell in ("lstm", "layer_norm", "hyper"):
        for conditional in (True, False):
            model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2,
                                          enc_model=cell, dec_model=cell, hyper_num_units=8,
                                          conditional=conditional))
            folders.append(str(tmp_path / f"{cell}_{conditional}"))
            save_model(model, folders[-1])
            raws.append(_raw(model))
    run_on(OTHER, RAW_ON_OTHER, *folders)
    for folder, raw in zip(folders, raws, strict=True):
        np.testing.assert_allclose(np.load(folder + "/raw_there.npy"), raw, rtol=1e-5, atol=1e-5,
                                   err_msg=folder)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    rng = np.random.default_rng(0)

    def split(n):
        out = np.empty(n, dtype=object)
        out[:] = [np.c_[rng.integers(-20, 20, (length, 2)), np.arange(length) % 4 == 3].astype(np.int16)
                  for length in rng.integers(6, 14, n)]
        return out

    folder = tmp_path_factory.mktemp("toy")
    np.savez(folder / "toy.npz", train=split(40), valid=split(10), test=split(10))
    return str(folder)


TRAIN_ON_OTHER = """
import sys, logging
from sketch_rnn.hparams import get_default_hparams
from sketch_rnn.train import Trainer
logging.basicConfig(level=logging.INFO)
data_dir, log_root, steps, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "resume"
trainer = Trainer(get_default_hparams().parse(sys.argv[5]), data_dir, log_root, seed=1, resume=resume,
                  progress=False)
print(trainer.step)
trainer.train(num_steps=steps)
print(trainer.step)
"""


def test_a_run_trained_there_loads_and_resumes_here(toy_dir, tmp_path):
    log_root = str(tmp_path / "run")
    out = run_on(OTHER, TRAIN_ON_OTHER, toy_dir, log_root, "4", "fresh", HPARAMS).split()
    assert out == ["0", "4"]
    model = load_model(log_root)  # the best weights, written on the other backend
    run_on(OTHER, RAW_ON_OTHER, log_root)
    np.testing.assert_allclose(np.load(log_root + "/raw_there.npy"), _raw(model), rtol=1e-5, atol=1e-5)
    resumed = Trainer(get_default_hparams().parse(HPARAMS), toy_dir, log_root, seed=1, resume=True,
                      progress=False)
    assert resumed.step == 4
    summary = resumed.train(num_steps=7)
    assert summary.step == 7 and np.isfinite(summary.valid["cost"])
    assert checkpoint_numbers(os.path.join(log_root, "resume"))[0] == 7
    # ... and back: the other backend resumes what this one wrote.
    assert run_on(OTHER, TRAIN_ON_OTHER, toy_dir, log_root, "9", "resume", HPARAMS).split() == ["7", "9"]


def test_import_under_jax_never_imports_tensorflow():
    code = """
    import sys
    import sketch_rnn
    from sketch_rnn import (checkpoint, data, draw, evaluation, latent, model, sampling, schedules,
                            strokes, train)
    print(sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.")))
    """
    assert run_on("jax", code).strip() == "[]"


def test_the_shipped_sheep_works_under_jax_without_tensorflow(repo_dir):
    code = """
    import json, numpy as np, sketch_rnn
    model = sketch_rnn.load_model("checkpoints/aaron_sheep")
    drawings = sketch_rnn.sample(model, n=3, temperature=0.4, seed=0, max_len=60)
    z = sketch_rnn.encode(model, drawings)
    print(json.dumps({"n": len(drawings), "z": list(z.shape), "finite": bool(np.isfinite(z).all())}))
    """
    got = json.loads(run_on("jax", code, block_tensorflow=True))
    assert got == {"n": 3, "z": [3, 32], "finite": True}

"""Training: a real run on aaron_sheep, exact resumption, kill -9 safety, the non-finite guard, CLI."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from sketch_rnn.checkpoint import checkpoint_numbers, load_model, weights_equal
from sketch_rnn.data import load_dataset
from sketch_rnn.hparams import HParams
from sketch_rnn.train import (
    MAX_BAD_STEPS,
    Trainer,
    TrainStep,
    build_optimizer,
    compute_losses,
    evaluate_split,
)

TINY = dict(enc_rnn_size=16, dec_rnn_size=32, z_size=8, num_mixture=3, batch_size=20)


@pytest.fixture(scope="module")
def sheep_dir(repo_dir):
    return os.path.join(repo_dir, "datasets", "aaron_sheep")


def test_training_lowers_validation_loss(sheep_dir, tmp_path):
    hps = HParams(**TINY, save_every=40, num_steps=80, learning_rate=0.005)
    trainer = Trainer(hps, sheep_dir, str(tmp_path), seed=1, progress=False)
    before = evaluate_split(trainer.model, trainer.valid_data, hps.kl_weight_start)
    summary = trainer.train()
    after = evaluate_split(trainer.model, trainer.valid_data, hps.kl_weight_start)
    assert summary.step == 80
    assert after["r_cost"] < before["r_cost"] - 0.3, (before, after)
    assert summary.best_valid_cost == pytest.approx(after["cost"], rel=1e-5)
    # The best checkpoint loads back to the trained weights, with config and scale factor.
    model = load_model(tmp_path)
    assert weights_equal(model, trainer.model)
    assert model.scale_factor == pytest.approx(18.5198, abs=1e-4)
    assert model.config.max_seq_len == 250 and model.config.name == "aaron_sheep"
    assert HParams.load(tmp_path) == trainer.hps  # the run's data and training settings too
    # TensorBoard got the reference's summaries.
    tf = pytest.importorskip("tensorflow")
    tags = set()
    for f in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(f):
            tags.update(v.tag for v in event.summary.value)
    for tag in ("Train_Cost", "Train_Reconstr_Cost", "Train_KL_Cost", "Learning_Rate", "KL_Weight",
                "Valid_Cost", "Valid_Reconstr_Cost", "Valid_KL_Cost", "Eval_Cost", "Best_Valid_Cost"):
        assert tag in tags


def test_resume_is_exact(sheep_dir, tmp_path):
    # Every dropout on: its masks are drawn from the run's noise seed and the step too.
    hps = HParams(**TINY, save_every=10, num_steps=20, use_recurrent_dropout=True,
                  use_input_dropout=True, use_output_dropout=True)
    straight = Trainer(hps, sheep_dir, str(tmp_path / "a"), seed=3, progress=False)
    straight.train()
    first = Trainer(hps, sheep_dir, str(tmp_path / "b"), seed=3, progress=False)
    first.train(num_steps=10)
    resumed = Trainer(hps, sheep_dir, str(tmp_path / "b"), seed=99, resume=True, progress=False)
    assert resumed.step == 10
    assert resumed.train_data.get_state() == first.train_data.get_state()
    for a, b in zip(resumed.optimizer.variables, first.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    resumed.train()
    assert resumed.step == 20
    assert weights_equal(resumed.model, straight.model)


def test_non_finite_steps_are_skipped(sheep_dir, tmp_path):
    hps = HParams(**TINY, save_every=10, num_steps=10)
    ds = load_dataset(sheep_dir, hps, seed=0)
    trainer = Trainer(hps, sheep_dir, str(tmp_path), datasets=ds, progress=False)
    weights = [np.asarray(v).copy() for v in trainer.model.weights]
    x, seq_len = ds.train.random_batch()
    x = x.copy()
    x[0, 1, 0] = np.inf
    parts, finite = trainer.step_fn(x, seq_len, 0.01)
    assert not finite
    assert trainer.step == 0
    for before, v in zip(weights, trainer.model.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(v))

    class Poisoned:
        def __init__(self, loader):
            self.loader = loader

        def random_batch(self):
            x, n = self.loader.random_batch()
            x = x.copy()
            x[:, 1, 0] = np.nan
            return x, n

        def __getattr__(self, name):
            return getattr(self.loader, name)

    trainer.train_data = Poisoned(ds.train)
    with pytest.raises(FloatingPointError, match=f"{MAX_BAD_STEPS} steps in a row"):
        trainer.train()
    for before, v in zip(weights, trainer.model.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(v))


def test_gradients_are_clipped_elementwise(sheep_dir):
    hps = HParams(**TINY, grad_clip=1e-4, learning_rate=1.0)
    ds = load_dataset(sheep_dir, hps, seed=0)
    from sketch_rnn.model import SketchRNN

    model = SketchRNN(ds.hps)
    step = TrainStep(model, build_optimizer(ds.hps.train_config()), ds.hps.train_config())
    x, n = ds.train.random_batch()
    _, grads, finite = step.gradients(x, n, 0.01)
    assert bool(finite)
    top = max(float(np.abs(keras.ops.convert_to_numpy(g)).max()) for g in grads)
    assert top == pytest.approx(1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's fused and XLA steps")
def test_xla_compiled_step_equals_the_default(sheep_dir):
    # --jit_compile runs the reference recurrences (static trip counts) under XLA: the same losses
    # and gradients as the default fused step, dropout included (same seed, same masks).
    import tensorflow as tf

    hps = HParams(**TINY, recurrent_dropout_prob=0.7)
    ds = load_dataset(sheep_dir, hps, seed=0)
    from sketch_rnn.model import SketchRNN

    model = SketchRNN(ds.hps)
    x, n = ds.train.get_batch(0)
    eps, seed = tf.zeros([len(n), ds.hps.z_size]), tf.constant([5, 6], tf.int64)
    config = ds.hps.train_config()
    results = []
    for jit in (False, True):
        runtime = TrainStep(model, build_optimizer(config), config, jit_compile=jit).runtime
        assert runtime.uses_fused() == (not jit)

        @tf.function(jit_compile=jit)
        def grads(x, n, runtime=runtime):
            with tf.GradientTape() as tape:
                parts = compute_losses(model, x, n, 0.1, training=True, eps=eps, noise_seed=seed,
                                       runtime=runtime)
            return parts["cost"], tape.gradient(parts["cost"], model.trainable_variables)

        results.append(grads(x, n))
    (cost_a, grads_a), (cost_b, grads_b) = results
    assert float(cost_a) == pytest.approx(float(cost_b), abs=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def _train_cmd(log_root, data_dir, extra=()):
    hp = "enc_rnn_size=16,dec_rnn_size=32,z_size=8,num_mixture=3,batch_size=20,save_every=5"
    return [sys.executable, "-m", "sketch_rnn.cli.train", f"--data_dir={data_dir}",
            f"--log_root={log_root}", f"--hparams={hp}", "--seed=0", "--noprogress", *extra]


def _resume_step(log_root):
    return max(checkpoint_numbers(os.path.join(log_root, "resume")), default=-1)


def test_kill_9_then_resume(sheep_dir, tmp_path):
    log_root = str(tmp_path / "run")
    proc = subprocess.Popen(_train_cmd(log_root, sheep_dir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while _resume_step(log_root) < 10 and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        time.sleep(0.7)  # land somewhere inside the next steps or a save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    step = _resume_step(log_root)
    assert step >= 10
    model = load_model(log_root)  # the best checkpoint is intact
    assert model.config.dec_rnn_size == 32
    target = step + 3
    # The last --hparams wins; the rest of the config comes from log_root's model_config.json.
    cmd = _train_cmd(log_root, sheep_dir, ["--resume_training", f"--hparams=num_steps={target}"])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr
    assert _resume_step(log_root) == target


def test_cli_rejects_bad_hparams(sheep_dir, tmp_path):
    bad = subprocess.run(_train_cmd(str(tmp_path), sheep_dir) + ["--hparams=bogus_name=1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "unknown hparam name(s): bogus_name" in bad.stderr
    missing = subprocess.run(_train_cmd(str(tmp_path), str(tmp_path / "nowhere")),
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2
    assert "nowhere" in missing.stderr


THREADS_SCRIPT = """
import sys
import tensorflow as tf
from sketch_rnn.fast import configure_cpu_threads
if sys.argv[1] == "late":
    tf.constant(1.0) + 1.0  # TensorFlow has run: its pools are fixed
print(configure_cpu_threads(), tf.config.threading.get_intra_op_parallelism_threads())
"""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's thread pools")
@pytest.mark.parametrize("case", ["first", "late", "env"])
def test_configure_cpu_threads(case):
    from sketch_rnn.fast.fused import CPU_LANES

    # One thread per op where the lanes fill every core (this CPU-only CI machine has 2), TF's
    # default elsewhere; a user's TF_NUM_INTRAOP_THREADS wins; once TF has run, nothing changes.
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    if case == "env":
        env["TF_NUM_INTRAOP_THREADS"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    done = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, case], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    expect = "1 1" if cores <= CPU_LANES and case == "first" else "None 0"
    assert done.stdout.strip().split("\n")[-1] == expect

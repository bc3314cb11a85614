"""Training: the reference's loop, resumable exactly, with TensorBoard logs and a live progress line.

Per step ``t`` (the global step before the update): a random augmented batch; the loss
``L_R + w_t * max(L_KL, kl_tolerance)`` with the pen loss unmasked; gradients clipped element-wise to
``+-grad_clip``; Adam at ``lr_t`` (TF1 defaults, epsilon 1e-8). Every 20 steps ``Train_*``,
``Learning_Rate`` and ``KL_Weight`` are logged; every ``save_every`` steps the whole validation split
is evaluated (``Valid_*``; ``Valid_Cost`` uses ``kl_weight_start`` as the reference's does), and when
it improves the weights are saved and the test split evaluated (``Eval_*``).

z's noise and the dropout masks of step ``t`` are drawn from a seed folded from the run's noise
seed and ``t``, so they depend on nothing but the seed and the step.

Two kinds of checkpoint live under ``log_root``: the best weights (``ckpt-<step>.weights.h5``, what
``load_model(log_root)`` reads) and ``resume/`` (``ckpt-<step>.state.h5``), written before the
first step, every ``save_every`` steps and on interruption, holding everything a resumed run needs:
weights, Adam slots, global step, the data RNG, the noise seed and the best validation cost (the
same files on every backend: a run started on TensorFlow resumes on JAX). Both are written by
:func:`~sketch_rnn.checkpoint.write_checkpoint` (new files, then the pointer, then the sweep) and the
newest two resume states are kept, so a kill at any moment, inside a save included, leaves a state
from which ``resume=True`` continues exactly: the final weights are bit-identical to an
uninterrupted run's. A damaged newest resume state is skipped with a warning for the older one.
An existing run is never restarted silently: without ``resume`` the trainer refuses the folder
unless ``overwrite=True``.

A step whose loss or gradients are not finite is skipped with a warning (the weights never see
it); ``MAX_BAD_STEPS`` in a row stop the run with an error.

Example:
    >>> from sketch_rnn.hparams import HParams
    >>> hps = HParams(num_steps=40, save_every=20, batch_size=10, dec_rnn_size=32,
    ...               enc_rnn_size=16, z_size=8, num_mixture=3)
    >>> trainer = Trainer(hps, data_dir="datasets/aaron_sheep", log_root="/tmp/run")  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from sketch_rnn import backend, losses, schedules
from sketch_rnn.checkpoint import (
    META_FILE,
    ModelWeights,
    TrainingState,
    checkpoint_numbers,
    remove_checkpoints,
    restore_newest,
    write_checkpoint,
    write_meta,
)
from sketch_rnn.config import TrainConfig
from sketch_rnn.data import DataLoader, load_dataset
from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN
from sketch_rnn.runtime import RuntimeOptions, resolve
from sketch_rnn.summary import SummaryWriter

logger = logging.getLogger("sketch_rnn")

LOG_EVERY = 20
MAX_BAD_STEPS = 10
RESUME_DIR = "resume"
BEST_TO_KEEP = 5
#: Two, so that a damaged newest resume state leaves an older one to continue from.
RESUME_TO_KEEP = 2


def build_optimizer(config: TrainConfig | HParams) -> keras.optimizers.Optimizer:
    """Adam with TF1's defaults and the reference's learning-rate decay.

    Gradients are clipped element-wise by :class:`TrainStep`, as the reference does.
    """
    return keras.optimizers.Adam(learning_rate=schedules.LearningRate(config), beta_1=0.9,
                                 beta_2=0.999, epsilon=1e-8)


def compute_losses(model: SketchRNN, x, seq_len, kl_weight, training: bool, eps=None, noise_seed=None, *,
                   kl_tolerance: float = TrainConfig.kl_tolerance, form: str | None = None,
                   runtime: RuntimeOptions | None = None) -> dict:
    """Forward pass and every reported loss: ``cost``, ``r_cost`` (pen loss unmasked, as the
    reference trains and validates), ``r_cost_masked`` (its inference-mode form) and ``kl_cost``
    (after the ``kl_tolerance`` floor). ``form``: the offset loss's form (default the model's
    ``config.gmm_loss``)."""
    config = model.config
    out = model(x, seq_len, training=training, eps=eps, noise_seed=noise_seed, runtime=runtime)
    form = form or config.gmm_loss
    ls, lp, mask = losses.reconstruction_terms(out["raw"], x[:, 1:], config.num_mixture, form)
    r = ops.mean(ls + lp)
    r_masked = ops.mean(ls + lp * mask)
    if config.conditional:
        kl = ops.maximum(losses.kl_loss(out["mu"], out["presig"]), kl_tolerance)
    else:
        kl = ops.convert_to_tensor(0.0)
    return {"cost": r + kl_weight * kl, "r_cost": r, "r_cost_masked": r_masked, "kl_cost": kl}


def noise_seed(seed: int | None) -> np.ndarray:
    """A run's noise seed ``[2]`` (int32): from ``seed``, or fresh when it is None."""
    return (np.random.SeedSequence(seed).generate_state(2) & 0x7FFFFFFF).astype(np.int32)


class TrainStep:
    """The compiled training step: losses, gradients, element-wise clipping, finiteness check, Adam
    update (:func:`sketch_rnn.backend.gradient_step`).

    Args:
        model: the model to train.
        optimizer: from :func:`build_optimizer`.
        config: the training settings it reads (``kl_tolerance``, ``grad_clip``); default magenta's.
        jit_compile: XLA-compile the forward and backward pass (with the reference recurrences,
            whose loops have static trip counts; see ``bench/RESULTS.md``). JAX always compiles.
        seed: the run's noise seed ``[2]`` (:func:`noise_seed`): z's noise and the dropout masks of
            step ``t`` are drawn from ``fold_in(seed, t)``, so a resumed run draws what the
            uninterrupted one would have.
        runtime: how the recurrences run (default: the fused ones on TensorFlow).
    """

    def __init__(self, model: SketchRNN, optimizer, config: TrainConfig | HParams | None = None, *,
                 jit_compile: bool = False, seed=None, runtime: RuntimeOptions | None = None):
        self.model, self.optimizer = model, optimizer
        self.config = config if config is not None else TrainConfig()
        runtime = resolve(runtime)
        if jit_compile or keras.backend.backend() != "tensorflow":
            # XLA needs static trip counts: the reference loops run over the padded length.
            runtime = runtime.replace(recurrence="reference")
        self.runtime = runtime
        self.seed = noise_seed(None) if seed is None else np.asarray(seed, np.int32)
        self.variables = model.trainable_variables
        optimizer.build(self.variables)
        self._step = backend.gradient_step(self._losses, self.variables, optimizer, self.config.grad_clip,
                                           jit=jit_compile)

    def _losses(self, x, seq_len, kl_weight, step_seed):
        config = self.model.config
        eps = backend.normal((ops.shape(x)[0], config.z_size), backend.fold_in(step_seed, 1)) \
            if config.conditional else None
        return compute_losses(self.model, x, seq_len, kl_weight, training=True, eps=eps,
                              noise_seed=backend.fold_in(step_seed, 2),
                              kl_tolerance=self.config.kl_tolerance, runtime=self.runtime)

    def _args(self, x, seq_len, kl_weight: float, step: int | None):
        step = int(ops.convert_to_numpy(self.optimizer.iterations)) if step is None else step
        return (ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(seq_len, "int32"),
                ops.convert_to_tensor(kl_weight, "float32"), backend.fold_in(self.seed, step))

    def gradients(self, x, seq_len, kl_weight: float, step: int | None = None):
        """``(losses, clipped gradients, finite)`` of one step, without the update (``step``:
        whose noise to draw; default the optimizer's step count)."""
        return self._step.gradients(*self._args(x, seq_len, kl_weight, step))

    def __call__(self, x, seq_len, kl_weight: float) -> tuple[dict, bool]:
        parts, finite = self._step(*self._args(x, seq_len, kl_weight, None))
        return {k: float(v) for k, v in parts.items()}, finite


class SplitEvaluator:
    """The reference's evaluation of a data split: average losses over all ``loader.num_batches``
    batches (dropout off). Owns its compiled loss function (made on first use).

    ``z`` is sampled as in the reference's eval model, from a fixed seed so results repeat.
    """

    def __init__(self, model: SketchRNN, kl_tolerance: float = TrainConfig.kl_tolerance,
                 runtime: RuntimeOptions | None = None):
        self.model, self.kl_tolerance, self.runtime = model, kl_tolerance, runtime
        self._fn = None

    def __call__(self, loader: DataLoader, kl_weight: float, seed: int = 0) -> dict:
        if loader.num_batches == 0:
            raise ValueError(f"cannot evaluate: {len(loader)} sketches, fewer than one batch of "
                             f"{loader.batch_size}")
        config = self.model.config
        if self._fn is None:
            def losses_of(x, s, w, eps):
                return compute_losses(self.model, x, s, w, training=False, eps=eps,
                                      kl_tolerance=self.kl_tolerance, runtime=self.runtime)

            # Compiled as a graph on TensorFlow (no XLA: the fused recurrences run there); with
            # jax.jit on JAX.
            self._fn = backend.function(losses_of, self.model.weights,
                                        jit=keras.backend.backend() != "tensorflow")
        seeds = noise_seed(seed)
        totals: dict[str, float] = {}
        for i in range(loader.num_batches):
            x, seq_len = loader.get_batch(i)
            eps = backend.normal((len(seq_len), config.z_size), backend.fold_in(seeds, i)) \
                if config.conditional else None
            parts = self._fn(ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(seq_len, "int32"),
                             ops.convert_to_tensor(kl_weight, "float32"), eps)
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + float(v)
        return {k: v / loader.num_batches for k, v in totals.items()}


def evaluate_split(model: SketchRNN, loader: DataLoader, kl_weight: float, seed: int = 0, *,
                   kl_tolerance: float = TrainConfig.kl_tolerance,
                   runtime: RuntimeOptions | None = None) -> dict:
    """Average losses over all batches of a data split, as the reference's validation does (see
    :class:`SplitEvaluator`, which keeps its compiled function for repeated use).

    Example: ``evaluate_split(trainer.model, trainer.valid_data, kl_weight=0.01)`` gives the
    ``Valid_*`` costs (``cost``, ``r_cost``, ``r_cost_masked``, ``kl_cost``).
    """
    return SplitEvaluator(model, kl_tolerance, runtime)(loader, kl_weight, seed)


@dataclass
class Summary:
    step: int
    best_valid_cost: float
    valid: dict | None
    test: dict | None
    skipped_steps: int


class Trainer:
    """Trains a SketchRNN the way magenta's ``sketch_rnn_train`` does, resumably.

    Args:
        hps: hyper-parameters (``max_seq_len`` is reset from the data, as the reference does).
        data_dir: folder holding ``hps.data_set``.
        log_root: where checkpoints, ``model_config.json`` and TensorBoard logs go.
        resume: continue from ``log_root/resume`` (or the best checkpoint) if there is one.
        overwrite: if ``log_root`` already holds a run and ``resume`` is off, delete its checkpoints
            and start again (without it, such a folder is refused with ``FileExistsError``).
        seed: seeds weight init, data order and augmentation.
        progress: show a live progress line on a terminal (``None``: only if stderr is a TTY).
        jit_compile: XLA-compile the training step.
        max_seconds: stop (after saving) once this much wall time has passed.
        runtime: how the model's recurrences run (see :class:`~sketch_rnn.runtime.RuntimeOptions`).

    Example: a few steps of a tiny model on a toy data file (stroke-3 object arrays per split).

        >>> import tempfile
        >>> from sketch_rnn.hparams import get_default_hparams
        >>> rng = np.random.default_rng(0)
        >>> def toy(n):
        ...     split = np.empty(n, dtype=object)
        ...     split[:] = [np.c_[rng.integers(-20, 20, (12, 2)), np.arange(12) % 4 == 3] for _ in range(n)]
        ...     return split
        >>> folder = tempfile.mkdtemp()
        >>> np.savez(os.path.join(folder, "toy.npz"), train=toy(8), valid=toy(4), test=toy(4))
        >>> hps = get_default_hparams().parse(
        ...     "data_set=toy.npz,enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=4")
        >>> trainer = Trainer(hps, data_dir=folder, log_root=os.path.join(folder, "run"), progress=False)
        >>> summary = trainer.train(num_steps=3)   # saves and evaluates at the end
        >>> summary.step, sorted(summary.valid)
        (3, ['cost', 'kl_cost', 'r_cost', 'r_cost_masked'])
    """

    def __init__(self, hps: HParams, data_dir: str, log_root: str, *, resume: bool = False,
                 overwrite: bool = False, seed: int | None = None, progress: bool | None = None,
                 jit_compile: bool = False, max_seconds: float | None = None, datasets=None,
                 runtime: RuntimeOptions | None = None):
        self.log_root = os.fspath(log_root)
        self.resume_dir = os.path.join(self.log_root, RESUME_DIR)
        if not resume:
            _claim_fresh(self.log_root, overwrite)
        os.makedirs(self.log_root, exist_ok=True)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        ds = datasets or load_dataset(data_dir, hps, seed=seed)
        self.train_data, self.valid_data, self.test_data = ds.train, ds.valid, ds.test
        self.hps = ds.hps
        self.train_config = self.hps.train_config()
        self.scale_factor = float(ds.scale_factor)
        logger.info("normalising scale factor %.4f, max_seq_len %d", self.scale_factor,
                    self.hps.max_seq_len)
        name = os.path.basename(self.hps.data_set[0]).split(".")[0]
        self.model = SketchRNN(self.hps.model_config(scale_factor=self.scale_factor, name=name))
        self.optimizer = build_optimizer(self.train_config)
        self.step_fn = TrainStep(self.model, self.optimizer, self.train_config, jit_compile=jit_compile,
                                 seed=noise_seed(seed), runtime=runtime)
        self.evaluator = SplitEvaluator(self.model, self.train_config.kl_tolerance, self.step_fn.runtime)
        self.best_valid_cost = math.inf
        self.best_ckpt = ModelWeights(self.model)
        self.resume_ckpt = TrainingState(self.model, self.optimizer, self._state, self._set_state)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.max_seconds = max_seconds
        self.writer = SummaryWriter(self.log_root)
        if resume:
            self.restore()
        write_meta(self.log_root, self.model, self.hps)

    @property
    def step(self) -> int:
        return int(ops.convert_to_numpy(self.optimizer.iterations))

    @property
    def noise_seed(self) -> np.ndarray:
        """The run's noise seed ``[2]`` (saved in the resume state)."""
        return self.step_fn.seed

    @noise_seed.setter
    def noise_seed(self, value) -> None:
        self.step_fn.seed = np.asarray(value, np.int32)

    def _state(self) -> dict:
        """The trainer's own part of a resume state (JSON)."""
        return {"best_valid_cost": self.best_valid_cost, "data_rng": self.train_data.get_state(),
                "noise_seed": self.noise_seed.tolist()}

    def _set_state(self, state: dict) -> None:
        self.best_valid_cost = float(state["best_valid_cost"])
        self.train_data.set_state(state["data_rng"])
        if "noise_seed" in state:  # (not in an earlier version's resume state)
            self.noise_seed = state["noise_seed"]

    def restore(self) -> None:
        """Load the newest intact state in ``log_root`` (what ``resume=True`` does): the resume
        checkpoint, else the best weights alone, else nothing."""
        latest = restore_newest(self.resume_dir, self.resume_ckpt.read, "resume state")
        if latest:
            logger.info("resumed from %s at step %d", latest, self.step)
            return
        best = restore_newest(self.log_root, self.best_ckpt.read)
        if best:
            # Weights only (e.g. a folder written by save_model): the schedules restart at 0.
            logger.info("loaded weights from %s (no resume state)", best)
        else:
            logger.info("no checkpoint in %s: starting fresh", self.log_root)

    def save_resume(self) -> str:
        """Write the resume checkpoint now (also done before the first step, every ``save_every``
        steps and at the end)."""
        return write_checkpoint(self.resume_ckpt, self.resume_dir, self.step, keep=RESUME_TO_KEEP)

    def latest_resume(self) -> str | None:
        """The newest resume checkpoint's prefix, if any."""
        numbers = checkpoint_numbers(self.resume_dir)
        return os.path.join(self.resume_dir, f"ckpt-{numbers[0]}") if numbers else None

    def train(self, num_steps: int | None = None) -> Summary:
        """Run until global step ``num_steps`` (default ``hps.num_steps``)."""
        config = self.train_config
        num_steps = config.num_steps if num_steps is None else num_steps
        n_params = int(sum(np.prod(v.shape) for v in self.model.trainable_variables))
        logger.info("trainable parameters: %d", n_params)
        self.writer.scalar("Num_Trainable_Params", n_params, self.step)
        start_time = last_log = time.time()
        start_step = self.step
        bad_in_row = skipped = 0
        valid = test = None
        last_validated = None
        interrupted = []
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            interrupted.append(signum)

        if _in_main_thread():
            signal.signal(signal.SIGTERM, on_term)
        if not checkpoint_numbers(self.resume_dir):
            # A kill before the first periodic save then resumes from here, not from scratch
            # with the best weights and fresh optimizer state.
            self.save_resume()
        try:
            while self.step < num_steps and not interrupted:
                step = self.step
                x, seq_len = self.train_data.random_batch()
                kl_w = schedules.kl_weight(config, step)
                parts, finite = self.step_fn(x, seq_len, kl_w)
                if not finite:
                    skipped += 1
                    bad_in_row += 1
                    logger.warning("step %d: non-finite loss or gradient (cost %s); update skipped",
                                   step, parts["cost"])
                    if bad_in_row >= MAX_BAD_STEPS:
                        raise FloatingPointError(
                            f"{MAX_BAD_STEPS} steps in a row had a non-finite loss or gradient "
                            f"(last at step {step}); try a lower learning_rate or gmm_loss=stable"
                        )
                    continue
                bad_in_row = 0
                if self.progress:
                    _progress_line(step, num_steps, parts, time.time() - start_time,
                                   self.step - start_step, self.max_seconds)
                if step % LOG_EVERY == 0 and step > 0:
                    took = time.time() - last_log
                    last_log = time.time()
                    self._log_train(step, parts, kl_w, took)
                if step % config.save_every == 0 and step > 0:
                    valid, test = self._validate(step)
                    last_validated = step
                    self.save_resume()
                if self.max_seconds is not None and time.time() - start_time > self.max_seconds:
                    logger.info("time budget of %.0f s reached at step %d", self.max_seconds, step)
                    break
        except KeyboardInterrupt:
            interrupted.append("KeyboardInterrupt")
        finally:
            if _in_main_thread():
                signal.signal(signal.SIGTERM, previous)
            if self.progress:
                sys.stderr.write("\n")
        if not interrupted and self.step > start_step and last_validated != self.step - 1:
            # A run that stops between validations (time budget, num_steps) still gets its
            # final weights judged, so the best checkpoint reflects them.
            valid, test = self._validate(self.step)
        self.save_resume()
        if interrupted:
            logger.info("interrupted at step %d; state saved to %s", self.step, self.latest_resume())
        self.writer.flush()
        return Summary(self.step, self.best_valid_cost, valid, test, skipped)

    def _log_train(self, step, parts, kl_w, took):
        lr = float(schedules.learning_rate(self.train_config, step))
        logger.info("step: %d, lr: %.6f, klw: %0.4f, cost: %.4f, recon: %.4f, kl: %.4f, "
                    "train_time_taken: %.4f", step, lr, kl_w, parts["cost"], parts["r_cost"],
                    parts["kl_cost"], took)
        for name, value in (("Train_Cost", parts["cost"]), ("Train_Reconstr_Cost", parts["r_cost"]),
                            ("Train_KL_Cost", parts["kl_cost"]), ("Learning_Rate", lr),
                            ("KL_Weight", kl_w), ("Time_Taken_Train", took)):
            self.writer.scalar(name, value, step)

    def _validate(self, step):
        t0 = time.time()
        valid = self.evaluator(self.valid_data, self.train_config.kl_weight_start)
        self._write_eval("Valid", valid, step, time.time() - t0)
        test = None
        if valid["cost"] < self.best_valid_cost:
            self.best_valid_cost = valid["cost"]
            path = write_checkpoint(self.best_ckpt, self.log_root, step, keep=BEST_TO_KEEP)
            logger.info("best valid cost %.4f: saved %s", valid["cost"], path)
            self.writer.scalar("Best_Valid_Cost", valid["cost"], step)
            t0 = time.time()
            test = self.evaluator(self.test_data, self.train_config.kl_weight_start)
            self._write_eval("Eval", test, step, time.time() - t0)
        return valid, test

    def _write_eval(self, prefix, res, step, took):
        logger.info("%s: cost %.4f, recon %.4f (pen masked: %.4f), kl %.4f, time %.1f s", prefix,
                    res["cost"], res["r_cost"], res["r_cost_masked"], res["kl_cost"], took)
        for name, key in (("Cost", "cost"), ("Reconstr_Cost", "r_cost"),
                          ("Reconstr_Cost_Masked", "r_cost_masked"), ("KL_Cost", "kl_cost")):
            self.writer.scalar(f"{prefix}_{name}", res[key], step)
        self.writer.scalar(f"Time_Taken_{prefix}", took, step)


def _claim_fresh(log_root: str, overwrite: bool) -> None:
    """Refuse to start a fresh run over an existing one, or (``overwrite``) delete its checkpoints."""
    if os.path.exists(log_root) and not os.path.isdir(log_root):
        raise NotADirectoryError(f"{log_root}: is a file; log_root must be a folder")
    resume_dir = os.path.join(log_root, RESUME_DIR)
    steps = checkpoint_numbers(resume_dir) or checkpoint_numbers(log_root)
    if not steps and not os.path.exists(os.path.join(log_root, META_FILE)):
        return
    if not overwrite:
        at = f" (newest checkpoint at step {steps[0]})" if steps else ""
        raise FileExistsError(
            f"{log_root}: already holds a training run{at}; resume it (resume=True, "
            "--resume_training) or delete its checkpoints and start again (overwrite=True, --overwrite)")
    logger.warning("%s: deleting the checkpoints of the run there (overwrite)", log_root)
    shutil.rmtree(resume_dir, ignore_errors=True)
    remove_checkpoints(log_root)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _progress_line(step, total, parts, elapsed, done, max_seconds=None):
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = (total - step - 1) / rate if rate > 0 else math.nan
    if max_seconds is not None:
        remaining = min(remaining, max(max_seconds - elapsed, 0.0))
    eta = "" if math.isnan(remaining) else f" {remaining / 60:.1f} min left"
    of_total = f"/{total}" if total < 10**7 else ""
    sys.stderr.write(f"\rstep {step + 1}{of_total} cost {parts['cost']:.4f} "
                     f"recon {parts['r_cost']:.4f} kl {parts['kl_cost']:.4f} "
                     f"{rate:.2f} step/s{eta}   ")
    sys.stderr.flush()

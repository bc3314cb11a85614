"""Training speed and peak memory of OUR trainer (the counterpart of ``bench/reference/train_speed.py``).

Run with the project's Python from the repository root::

    python bench/ours/train_speed.py --enc_model lstm --dec_model lstm --steps 5 --warmup 2

or through ``bench/_measure.py`` (``bench_train.py`` does this)::

    _measure.run_ours_script("ours/train_speed.py", ["--enc_model", "lstm", ...])

It does what :class:`sketch_rnn.train.Trainer` does per step, minus logging, validation and
checkpoints, exactly as the reference script mirrors magenta's trainer: ``load_dataset`` on
aaron_sheep (max_seq_len becomes 250), the model and the compiled :class:`~sketch_rnn.train.TrainStep`,
then per step the trainer's loop body: read the global step, the KL-weight schedule (the LR schedule
runs inside the optimizer), draw ``train.random_batch()`` (random scale + point dropping, in
Python) and run the step (forward, backward, clipping, finiteness check, Adam update; the costs
come back to Python as the reference's ``sess.run`` returns them).

A step's time is the whole loop body, batch preparation included. Prints one JSON line with the
reference script's fields (``sec_per_step``, ``all_steps``, ``warmup_steps``,
``sec_per_step_run_only``, ``sec_per_batch_prep``, ``cpu_sec_per_step``, ``costs``,
``trainable_params``, ``peak_rss_gib``, ``machine``, ...) plus ``device``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(0, os.path.dirname(BENCH_DIR))  # the repository root: ``import sketch_rnn``

import _measure  # noqa: E402
import numpy as np  # noqa: E402

CELLS = ("lstm", "layer_norm", "hyper")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enc_model", choices=CELLS, default="lstm")
    ap.add_argument("--dec_model", choices=CELLS, default="lstm")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--hparams", default="",
                    help="extra hparams, e.g. 'batch_size=50,use_recurrent_dropout=0'")
    ap.add_argument("--data_dir", default=str(_measure.DEFAULT_DATA_DIR))
    ap.add_argument("--seed", type=int, default=0, help="numpy / random / TF seed")
    ap.add_argument("--jit_compile", action="store_true", help="XLA-compile the step")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    import tensorflow as tf
    from tensorflow import keras

    from sketch_rnn import schedules
    from sketch_rnn.data import load_dataset
    from sketch_rnn.hparams import HParams
    from sketch_rnn.model import SketchRNN
    from sketch_rnn.train import TrainStep, build_optimizer, configure_cpu_threads

    threads = configure_cpu_threads()  # as sketch_rnn_train does

    np.random.seed(args.seed)
    random.seed(args.seed)
    keras.utils.set_random_seed(args.seed)

    hps = HParams().override(args.hparams or None).replace(enc_model=args.enc_model,
                                                          dec_model=args.dec_model)
    t0 = time.perf_counter()
    ds = load_dataset(args.data_dir, hps, seed=args.seed)
    data_sec = time.perf_counter() - t0
    hps, train_set = ds.hps, ds.train

    t0 = time.perf_counter()
    model = SketchRNN(hps, scale_factor=ds.scale_factor)
    optimizer = build_optimizer(hps)
    step_fn = TrainStep(model, optimizer, jit_compile=args.jit_compile,
                        rng=tf.random.Generator.from_seed(args.seed))
    build_sec = time.perf_counter() - t0
    n_params = int(sum(np.prod(v.shape) for v in model.trainable_variables))

    # Peak RSS before the first step: what TensorFlow, the data and the model take by themselves.
    rss_before_steps = _measure.peak_rss_gib()
    batch_times, run_times, cpu_times, costs = [], [], [], []

    def one_step(_i):
        # The body of Trainer.train's loop, without logging and checkpoints.
        c0 = time.process_time()
        step = int(optimizer.iterations.numpy())
        kl_w = schedules.kl_weight(hps, step)
        tb = time.perf_counter()
        x, seq_len = train_set.random_batch()
        tr = time.perf_counter()
        parts, _finite = step_fn(x, seq_len, kl_w)
        te = time.perf_counter()
        cpu_times.append(time.process_time() - c0)
        batch_times.append(tr - tb)
        run_times.append(te - tr)
        costs.append([parts["cost"], parts["r_cost"], parts["kl_cost"]])

    warm, timed = _measure.time_calls(one_step, args.steps, args.warmup)

    w = args.warmup
    gpus = tf.config.list_physical_devices("GPU")
    result = {
        "impl": "sketch_rnn",
        "bench": "train",
        "config": {
            "name": f"enc={args.enc_model},dec={args.dec_model}",
            "enc_model": hps.enc_model,
            "dec_model": hps.dec_model,
            "enc_rnn_size": hps.enc_rnn_size,
            "dec_rnn_size": hps.dec_rnn_size,
            "z_size": hps.z_size,
            "num_mixture": hps.num_mixture,
            "batch_size": hps.batch_size,
            "max_seq_len": hps.max_seq_len,
            "use_recurrent_dropout": bool(hps.use_recurrent_dropout),
            "recurrent_dropout_prob": hps.recurrent_dropout_prob,
            "conditional": bool(hps.conditional),
            "hparams": args.hparams,
            "jit_compile": args.jit_compile,
            "intra_op_threads": threads,
        },
        "sec_per_step": _measure.median(timed),
        "all_steps": timed,
        "warmup_steps": warm,
        "sec_per_step_run_only": _measure.median(run_times[w:]),
        "sec_per_batch_prep": _measure.median(batch_times[w:]),
        "cpu_sec_per_step": _measure.median(cpu_times[w:]),
        "costs": costs,
        "trainable_params": n_params,
        "data_sec": data_sec,
        "build_sec": build_sec,
        "total_sec": time.perf_counter() - t_start,
        "peak_rss_gib": _measure.peak_rss_gib(),
        "peak_rss_gib_before_steps": rss_before_steps,
        "peak_rss_children_gib": _measure.peak_rss_children_gib(),
        "device": f"GPU ({gpus[0].name})" if gpus else "CPU",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "machine": _measure.machine_info(),
    }
    _measure.emit(result)
    return result


if __name__ == "__main__":
    main()

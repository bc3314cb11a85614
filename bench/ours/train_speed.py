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
``trainable_params``, ``peak_rss_gib``, ``machine``, ...) plus ``device`` and the machine's
**matmul floor** for the step: ``step_gflop`` (the matrix products of one step, forward and
backward, counted with the reference's shapes: magenta multiplies ``[x, h]`` by ``[W_xh; W_hh]``),
``matmul_gflops`` (the rate this machine reaches on a recurrence-shaped product, ``[batch / lanes,
units] x [units, 4 units]``, measured here with the training's thread settings, every lane on its
own core as the fused recurrences run) and ``floor_sec_per_step = step_gflop / matmul_gflops``: no
implementation that does the reference's products runs a step in less.
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
    from sketch_rnn.fast import configure_cpu_threads
    from sketch_rnn.hparams import HParams
    from sketch_rnn.model import SketchRNN
    from sketch_rnn.train import TrainStep, build_optimizer

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
    optimizer = build_optimizer(hps.train_config())
    step_fn = TrainStep(model, optimizer, hps.train_config(), jit_compile=args.jit_compile,
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
    step_gflop = reference_step_gflop(hps.model_config(), hps.batch_size, hps.max_seq_len)
    matmul_gflops = recurrence_matmul_gflops(hps.batch_size, hps.dec_rnn_size)

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
        "step_gflop": step_gflop,
        "matmul_gflops": matmul_gflops,
        "floor_sec_per_step": step_gflop / matmul_gflops,
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


def _cell_gflop(kind: str, inputs: int, units: int, hyper_units: int, embedding: int) -> float:
    """Multiply-adds x 2 of one cell step for one row, in GFLOP, with the reference's products."""
    flop = 2 * (inputs + units) * 4 * units  # [x, h] @ [W_xh; W_hh]
    if kind == "hyper":
        flop += 2 * (inputs + units + hyper_units) * 4 * hyper_units  # the hyper cell on [x, h]
        flop += 2 * hyper_units * embedding * (8 + 4)  # zw (8 gate parts) and zb (4)
        flop += 2 * embedding * units * (8 + 4)  # alpha and beta
    return flop / 1e9


def reference_step_gflop(config, batch: int, steps: int) -> float:
    """The matrix products of one training step, forward and backward (twice the forward: the
    gradients of the inputs and of the weights), in GFLOP: ~288 for the default lstm model."""
    c = config
    per_row = _cell_gflop(c.dec_model, 5 + (c.z_size if c.conditional else 0), c.dec_rnn_size,
                          c.hyper_num_units, c.hyper_embedding_size)
    per_row += 2 * c.dec_rnn_size * c.output_size / 1e9
    if c.conditional:
        per_row += 2 * _cell_gflop(c.enc_model, 5, c.enc_rnn_size, c.hyper_num_units, c.hyper_embedding_size)
    return 3 * per_row * batch * steps


def recurrence_matmul_gflops(batch: int, units: int, lanes: int = 2, iterations: int = 200,
                             repeats: int = 5) -> float:
    """GFLOP/s of this machine on recurrence-shaped products: ``lanes`` independent chains of
    ``[batch / lanes, units] x [units, 4 units]`` products (each using the previous one's output),
    run side by side as the fused recurrences' lanes run; the best of ``repeats``."""
    import tensorflow as tf

    rows = batch // lanes
    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(0, 0.05, (units, 4 * units)).astype(np.float32))
    h0 = [tf.constant(rng.normal(0, 1, (rows, units)).astype(np.float32)) for _ in range(lanes)]

    @tf.function
    def chains(*hs):
        def body(i, *hs):
            return (i + 1, *[tf.tanh(tf.matmul(h, w)[:, :units]) for h in hs])

        return tf.while_loop(lambda i, *_: i < iterations, body, (tf.constant(0), *hs))[1:]

    chains(*h0)  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        [np.asarray(h) for h in chains(*h0)]
        best = min(best, time.perf_counter() - t0)
    return 2 * rows * units * 4 * units * iterations * lanes / best / 1e9


if __name__ == "__main__":
    main()

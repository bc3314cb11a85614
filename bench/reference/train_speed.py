"""Training speed and peak memory of the ORIGINAL magenta sketch_rnn trainer.

Run with the reference venv (``bash bench/setup_reference.sh`` first)::

    bench/.venv-magenta/bin/python bench/reference/train_speed.py \
        --enc_model lstm --dec_model lstm --steps 5 --warmup 2

or from the project's Python through ``bench/_measure.py``::

    _measure.run_reference("train_speed.py", ["--enc_model", "lstm", ...])

It does what magenta's ``sketch_rnn_train.trainer`` + ``train`` do, minus summaries, evaluation
and checkpoints: ``load_dataset`` on aaron_sheep (max_seq_len becomes 250), the training model
and the trainer's eval model (``reuse=True``) in one graph, an ``InteractiveSession``, then per
step exactly the original loop body: read ``global_step``, compute the LR and KL-weight
schedules, draw ``train_set.random_batch()`` (random scale + point dropping) and
``sess.run([cost, r_cost, kl_cost, final_state, global_step, train_op], feed)``.

A step's time is the whole loop body (batch preparation included, as the trainer experiences
it): ``sec_per_step`` is the median over the timed steps; ``sec_per_step_run_only`` is the
median of the ``sess.run`` part alone. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _measure  # noqa: E402
import numpy as np  # noqa: E402
from _magenta import load_reference, versions  # noqa: E402

CELLS = ("lstm", "layer_norm", "hyper")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enc_model", choices=CELLS, default="lstm")
    ap.add_argument("--dec_model", choices=CELLS, default="lstm")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument(
        "--hparams",
        default="",
        help="extra magenta hparams, e.g. 'batch_size=50,use_recurrent_dropout=0' "
        "(enc_model/dec_model are taken from their own flags)",
    )
    ap.add_argument("--data_dir", default=str(_measure.DEFAULT_DATA_DIR))
    ap.add_argument("--seed", type=int, default=0, help="numpy / random / TF graph seed")
    ap.add_argument(
        "--no_eval_model",
        action="store_true",
        help="do not build the trainer's second (eval) model in the graph",
    )
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    ref = load_reference()
    tf, sk_model, sk_train = ref.tf, ref.model, ref.train

    np.random.seed(args.seed)
    random.seed(args.seed)

    hps = sk_model.get_default_hparams()
    if args.hparams:
        hps.parse(args.hparams)
    hps.enc_model = args.enc_model
    hps.dec_model = args.dec_model

    t0 = time.perf_counter()
    datasets = sk_train.load_dataset(args.data_dir, hps)
    train_set, model_params, eval_model_params = datasets[0], datasets[3], datasets[4]
    data_sec = time.perf_counter() - t0

    t0 = time.perf_counter()
    sk_train.reset_graph()
    tf.set_random_seed(args.seed)
    model = sk_model.Model(model_params)
    if not args.no_eval_model:
        sk_model.Model(eval_model_params, reuse=True)
    sess = tf.InteractiveSession()
    sess.run(tf.global_variables_initializer())
    build_sec = time.perf_counter() - t0
    n_params = int(sum(np.prod(v.get_shape().as_list()) for v in tf.trainable_variables()))

    hps = model.hps
    batch_times, run_times, cpu_times, costs = [], [], [], []

    def one_step(_i):
        # The body of magenta's sketch_rnn_train.train() loop, without logging.
        c0 = time.process_time()
        step = sess.run(model.global_step)
        curr_learning_rate = (hps.learning_rate - hps.min_learning_rate) * (
            hps.decay_rate
        ) ** step + hps.min_learning_rate
        curr_kl_weight = hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * (hps.kl_decay_rate) ** step
        tb = time.perf_counter()
        _, x, s = train_set.random_batch()
        feed = {
            model.input_data: x,
            model.sequence_lengths: s,
            model.lr: curr_learning_rate,
            model.kl_weight: curr_kl_weight,
        }
        tr = time.perf_counter()
        (train_cost, r_cost, kl_cost, _, _train_step, _) = sess.run(
            [
                model.cost,
                model.r_cost,
                model.kl_cost,
                model.final_state,
                model.global_step,
                model.train_op,
            ],
            feed,
        )
        te = time.perf_counter()
        cpu_times.append(time.process_time() - c0)
        batch_times.append(tr - tb)
        run_times.append(te - tr)
        costs.append([float(train_cost), float(r_cost), float(kl_cost)])

    warm, timed = _measure.time_calls(one_step, args.steps, args.warmup)
    sess.close()

    w = args.warmup
    result = {
        "impl": "magenta",
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
            "eval_model_in_graph": not args.no_eval_model,
        },
        "sec_per_step": _measure.median(timed),
        "all_steps": timed,
        "warmup_steps": warm,
        "sec_per_step_run_only": _measure.median(run_times[w:]),
        "sec_per_batch_prep": _measure.median(batch_times[w:]),
        # CPU seconds (all threads) per step: wall x cores used; far below 2 x sec_per_step on
        # this 2-core machine means something else was competing for the CPU.
        "cpu_sec_per_step": _measure.median(cpu_times[w:]),
        "costs": costs,
        "trainable_params": n_params,
        "data_sec": data_sec,
        "build_sec": build_sec,
        "total_sec": time.perf_counter() - t_start,
        "peak_rss_gib": _measure.peak_rss_gib(),
        "peak_rss_children_gib": _measure.peak_rss_children_gib(),
        "versions": versions(ref),
        "machine": _measure.machine_info(),
    }
    _measure.emit(result)
    return result


if __name__ == "__main__":
    main()

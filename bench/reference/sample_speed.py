"""Sampling and encoding speed of the ORIGINAL magenta sketch_rnn code.

Run with the reference venv (``bash bench/setup_reference.sh`` first)::

    bench/.venv-magenta/bin/python bench/reference/sample_speed.py --repeats 5 --encode_repeats 20

or from the project's Python: ``_measure.run_reference("sample_speed.py", [...])``.

The graph is built as magenta's sketch_rnn notebook does after ``load_env`` / ``load_model``:
the training model at batch 1, the eval model (batch 1, ``is_training=0``, no dropout) and the
sample model (batch 1, ``max_seq_len=1``) sharing variables, in an ``InteractiveSession``.
Weights are freshly initialised unless ``--checkpoint DIR`` names a magenta model folder
(``model_config.json`` + checkpoint), which is then loaded with the original ``load_model`` /
``load_checkpoint``. The speed does not depend on the weights: the original ``sample()`` always
runs ``seq_len`` steps, one ``session.run`` per point, and never stops early.

Timed:
- ``sample``: one call of the original ``model.sample(sess, sample_model, seq_len=250,
  temperature=1.0, greedy_mode=False, z=z)`` — one sketch of 250 points;
- ``encode``: the notebook's ``encode()`` minus its drawing: ``utils.to_big_strokes`` + start
  token + ``sess.run(eval_model.batch_z, ...)`` for one test sketch (of median length).

Medians over the repeats, after untimed warm-up calls. Prints one JSON line.
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
    ap.add_argument("--hparams", default="", help="extra magenta hparams (comma key=value)")
    ap.add_argument("--checkpoint", default=None, help="magenta model folder to load instead")
    ap.add_argument("--data_dir", default=str(_measure.DEFAULT_DATA_DIR))
    ap.add_argument("--repeats", type=int, default=5, help="timed sample() calls")
    ap.add_argument("--encode_repeats", type=int, default=20, help="timed encodes")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls of each first")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--greedy", action="store_true")
    ap.add_argument("--seq_len", type=int, default=None, help="points per sketch (max_seq_len)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    ref = load_reference()
    tf, sk_model, sk_train, utils = ref.tf, ref.model, ref.train, ref.utils
    np.random.seed(args.seed)
    random.seed(args.seed)

    if args.checkpoint:
        # magenta's notebook: load_env(data_dir, model_dir) then load_model(model_dir).
        model_params = sk_model.get_default_hparams()
        with open(os.path.join(args.checkpoint, "model_config.json")) as f:
            model_params.parse_json(f.read())
        datasets = sk_train.load_dataset(args.data_dir, model_params, inference_mode=True)
        model_params, eval_params, sample_params = sk_train.load_model(args.checkpoint)
    else:
        model_params = sk_model.get_default_hparams()
        if args.hparams:
            model_params.parse(args.hparams)
        model_params.enc_model = args.enc_model
        model_params.dec_model = args.dec_model
        datasets = sk_train.load_dataset(args.data_dir, model_params, inference_mode=True)
        eval_params, sample_params = datasets[4], datasets[5]
        model_params = sk_model.copy_hparams(datasets[3])
        model_params.batch_size = 1  # as load_model() does
    test_set = datasets[2]

    t0 = time.perf_counter()
    sk_train.reset_graph()
    tf.set_random_seed(args.seed)
    sk_model.Model(model_params)
    eval_model = sk_model.Model(eval_params, reuse=True)
    sample_model = sk_model.Model(sample_params, reuse=True)
    sess = tf.InteractiveSession()
    sess.run(tf.global_variables_initializer())
    if args.checkpoint:
        sk_train.load_checkpoint(sess, args.checkpoint)
    build_sec = time.perf_counter() - t0

    max_len = eval_model.hps.max_seq_len
    seq_len = args.seq_len or max_len
    sketch = test_set.strokes[len(test_set.strokes) // 2]  # sorted by length: a median one

    def encode(_i):
        strokes = utils.to_big_strokes(sketch, max_len).tolist()
        strokes.insert(0, [0, 0, 1, 0, 0])
        return sess.run(
            eval_model.batch_z,
            feed_dict={eval_model.input_data: [strokes], eval_model.sequence_lengths: [len(sketch)]},
        )[0]

    z = encode(0).reshape(1, -1) if eval_model.hps.conditional else None

    def draw(_i):
        return sk_model.sample(
            sess,
            sample_model,
            seq_len=seq_len,
            temperature=args.temperature,
            greedy_mode=args.greedy,
            z=z,
        )

    enc_warm, enc_timed = [], []
    if eval_model.hps.conditional:
        enc_warm, enc_timed = _measure.time_calls(encode, args.encode_repeats, args.warmup)
    c0 = time.process_time()
    smp_warm, smp_timed = _measure.time_calls(draw, args.repeats, args.warmup)
    cpu_per_sample = (time.process_time() - c0) / (args.repeats + args.warmup)
    sess.close()

    sample_sec = _measure.median(smp_timed)
    result = {
        "impl": "magenta",
        "bench": "sample",
        "config": {
            "name": f"enc={model_params.enc_model},dec={model_params.dec_model}",
            "enc_model": model_params.enc_model,
            "dec_model": model_params.dec_model,
            "enc_rnn_size": model_params.enc_rnn_size,
            "dec_rnn_size": model_params.dec_rnn_size,
            "z_size": model_params.z_size,
            "num_mixture": model_params.num_mixture,
            "conditional": bool(model_params.conditional),
            "max_seq_len": max_len,
            "checkpoint": args.checkpoint,
            "hparams": args.hparams,
            "temperature": args.temperature,
            "greedy": args.greedy,
        },
        "sample_steps": seq_len,
        "sample_batch": 1,
        "early_stopping": False,
        "sample_sec_per_sketch": sample_sec,
        "sample_ms_per_step": 1000.0 * sample_sec / seq_len,
        "sample_all": smp_timed,
        "sample_warmup": smp_warm,
        "sample_cpu_sec_per_sketch": cpu_per_sample,
        "sketches_per_sec": 1.0 / sample_sec,
        "encode_sec_per_sketch": _measure.median(enc_timed) if enc_timed else None,
        "encode_all": enc_timed,
        "encode_warmup": enc_warm,
        "encode_sketch_len": len(sketch),
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

"""Sampling and encoding speed of OUR sampler (the counterpart of ``bench/reference/sample_speed.py``).

Run with the project's Python from the repository root::

    python bench/ours/sample_speed.py --steps 250 --batch 100 --repeats 5

or through ``bench/_measure.py`` (``bench_sample.py`` does this)::

    _measure.run_ours_script("ours/sample_speed.py", ["--steps", "250", ...])

Model: default hparams (lstm 256/512, z 128, M 20) as the reference, data-derived ``max_seq_len``
from aaron_sheep (250), freshly initialised weights (speed does not depend on them). Times, each
a median over ``--repeats`` calls after ``--warmup`` untimed ones (compilation happens there):

* ``sample_sec_per_sketch``: ``sample_strokes5(model, 1, z=z, max_len=steps, early_stop=False)``,
  non-greedy at ``--temperature`` — exactly ``steps`` points as the reference's ``sample()``;
* ``batch_sec``: the same for ``--batch`` sketches in ONE call;
* ``*_early``: the same with early stopping on (the loop ends once every sketch has ended);
* ``encode_sec_per_sketch``: ``encode(model, [sketch], sample_z=True)`` for the median-length test
  sketch (the reference notebook's ``encode`` returns a sampled z too); ``encode_batch_sec``:
  ``--batch`` test sketches in one call.

Prints one JSON line (``_measure`` protocol).
"""

from __future__ import annotations

import argparse
import os
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
    ap.add_argument("--hparams", default="", help="extra hparams, e.g. 'dec_rnn_size=256'")
    ap.add_argument("--data_dir", default=str(_measure.DEFAULT_DATA_DIR))
    ap.add_argument("--steps", type=int, default=250, help="points per sketch")
    ap.add_argument("--batch", type=int, default=100, help="sketches in one call")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--greedy", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                    help="XLA for the sampling loop (auto: the library's default)")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    import tensorflow as tf
    from tensorflow import keras

    from sketch_rnn.data import load_dataset
    from sketch_rnn.hparams import HParams
    from sketch_rnn.model import SketchRNN
    from sketch_rnn.sampling import encode, sample_strokes5

    keras.utils.set_random_seed(args.seed)
    hps = HParams().override(args.hparams or None).replace(enc_model=args.enc_model,
                                                          dec_model=args.dec_model)
    ds = load_dataset(args.data_dir, hps, inference_mode=True, seed=args.seed)
    hps = ds.hps
    t0 = time.perf_counter()
    model = SketchRNN(hps, scale_factor=ds.scale_factor)
    build_sec = time.perf_counter() - t0
    test = sorted(ds.test.strokes, key=len)
    sketch = test[len(test) // 2]
    batch_sketches = [test[i % len(test)] for i in range(args.batch)]
    jit = {"auto": None, "on": True, "off": False}[args.jit]
    rng = np.random.default_rng(args.seed)
    z1 = rng.standard_normal((1, hps.z_size)).astype(np.float32) if hps.conditional else None
    zb = rng.standard_normal((args.batch, hps.z_size)).astype(np.float32) if hps.conditional else None

    def drawer(z, n, early):
        def draw(i):
            r = sample_strokes5(model, n, z=z, temperature=args.temperature, greedy=args.greedy,
                                max_len=args.steps, seed=args.seed + i, early_stop=early, jit_compile=jit)
            if not early:
                assert r.strokes5.shape[1] == args.steps
            return r
        return draw

    times = {}
    for name, z, n, early in (("one", z1, 1, False), ("one_early", z1, 1, True),
                              ("batch", zb, args.batch, False), ("batch_early", zb, args.batch, True)):
        times[name] = _measure.time_calls(drawer(z, n, early), args.repeats, args.warmup)
    enc_times = enc_batch_times = ([], [])
    if hps.conditional:
        enc_times = _measure.time_calls(lambda i: encode(model, [sketch], sample_z=True, seed=i),
                                        max(args.repeats, 20), args.warmup)
        enc_batch_times = _measure.time_calls(
            lambda i: encode(model, batch_sketches, sample_z=True, seed=i, batch_size=args.batch),
            args.repeats, args.warmup)
    gpus = tf.config.list_physical_devices("GPU")
    med = lambda xs: _measure.median(xs) if xs else None  # noqa: E731
    one = med(times["one"][1])
    return {
        "impl": "sketch_rnn",
        "bench": "sample",
        "config": {"enc_model": hps.enc_model, "dec_model": hps.dec_model,
                   "enc_rnn_size": hps.enc_rnn_size, "dec_rnn_size": hps.dec_rnn_size,
                   "z_size": hps.z_size, "num_mixture": hps.num_mixture,
                   "conditional": bool(hps.conditional), "max_seq_len": hps.max_seq_len,
                   "hparams": args.hparams, "temperature": args.temperature, "greedy": args.greedy,
                   "jit": args.jit},
        "sample_steps": args.steps,
        "sample_sec_per_sketch": one,
        "sample_ms_per_step": 1000.0 * one / args.steps,
        "sample_all": times["one"][1],
        "sample_warmup": times["one"][0],
        "sample_sec_per_sketch_early": med(times["one_early"][1]),
        "batch": args.batch,
        "batch_sec": med(times["batch"][1]),
        "batch_all": times["batch"][1],
        "batch_warmup": times["batch"][0],
        "batch_sec_early": med(times["batch_early"][1]),
        "encode_sec_per_sketch": med(enc_times[1]),
        "encode_all": enc_times[1],
        "encode_warmup": enc_times[0],
        "encode_sketch_len": len(sketch),
        "encode_batch_sec": med(enc_batch_times[1]),
        "build_sec": build_sec,
        "total_sec": time.perf_counter() - t_start,
        "peak_rss_gib": _measure.peak_rss_gib(),
        "device": f"GPU ({gpus[0].name})" if gpus else "CPU",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "machine": _measure.machine_info(),
    }


if __name__ == "__main__":
    _measure.emit(main())

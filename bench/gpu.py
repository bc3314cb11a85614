"""GPU figures on the JAX backend, in one go: device, per-step training time, sampling, a real run.

Run by ``bench/gpu.sh`` on a machine with JAX and CUDA but no TensorFlow (the parity suite runs
first, from that script); on this CPU ``python bench/gpu.py --smoke`` runs the same code at toy
sizes. Prints one line per figure and writes, under ``--out``:

* ``gpu_results.json``: every figure (device, per-step times, sampling, the run's summary);
* ``curve.csv``: the real run's training costs every 20 steps and its validation costs;
* ``sheep_gpu/``: the real run's best weights with their config, a model folder that
  ``sketch_rnn.load_model`` reads on any backend.

Per-step time is what the trainer's loop body costs (``Trainer.train``): a random augmented batch
from the loader (numpy, on the host), the compiled step (forward, backward, element-wise clipping,
finiteness check, Adam) and the costs back to Python; the median of ``--time_steps`` steps after
``--warmup`` steps (the first compiles).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CELLS = ("lstm", "layer_norm", "hyper")
SMOKE = "enc_rnn_size=16,dec_rnn_size=32,z_size=8,num_mixture=3,batch_size=20"


def say(line: str) -> None:
    print(line, flush=True)


def device_info() -> dict:
    import jax
    import keras

    devices = jax.devices()
    return {"backend": keras.backend.backend(), "keras": keras.__version__, "jax": jax.__version__,
            "platform": devices[0].platform, "device": str(devices[0].device_kind),
            "devices": len(devices), "python": platform.python_version(), "host": platform.node()}


def step_times(cell: str, extra: str, warmup: int, steps: int, data_dir: str) -> dict:
    """Median time of the trainer's loop body at the default hparams with ``cell`` everywhere."""
    from sketch_rnn import schedules
    from sketch_rnn.data import load_dataset
    from sketch_rnn.hparams import get_default_hparams
    from sketch_rnn.model import SketchRNN
    from sketch_rnn.train import TrainStep, build_optimizer

    hps = get_default_hparams().parse(f"enc_model={cell},dec_model={cell}" + (f",{extra}" if extra else ""))
    ds = load_dataset(data_dir, hps, seed=0)
    config = ds.hps.train_config()
    model = SketchRNN(ds.hps.model_config(scale_factor=ds.scale_factor))
    step = TrainStep(model, build_optimizer(config), config, seed=[1, 2])
    t0 = time.perf_counter()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        x, seq_len = ds.train.random_batch()
        parts, finite = step(x, seq_len, schedules.kl_weight(config, i))
        took = time.perf_counter() - start
        if i == 0:
            first = took
        if i >= warmup:
            times.append(took)
    return {"cell": cell, "ms_per_step": 1000 * statistics.median(times), "ms_min": 1000 * min(times),
            "first_step_s": first, "total_s": time.perf_counter() - t0, "steps": steps,
            "batch_size": ds.hps.batch_size, "enc_rnn_size": ds.hps.enc_rnn_size,
            "dec_rnn_size": ds.hps.dec_rnn_size, "max_seq_len": ds.hps.max_seq_len,
            "cost": parts["cost"], "finite": finite,
            "params": int(sum(math.prod(v.shape) for v in model.trainable_variables))}


def sampling_times(model, repeats: int, big: int) -> dict:
    """One sketch of 250 steps, and ``big`` sketches of 250 steps in one call (early stop off)."""
    import sketch_rnn

    out = {}
    for n in (1, big):
        sketch_rnn.sample(model, n=n, temperature=0.5, seed=0, max_len=250, early_stop=False)  # compiles
        times = []
        for r in range(repeats):
            t0 = time.perf_counter()
            drawings = sketch_rnn.sample(model, n=n, temperature=0.5, seed=r + 1, max_len=250,
                                         early_stop=False)
            times.append(time.perf_counter() - t0)
        assert len(drawings) == n
        out[f"sample_{n}_s"] = statistics.median(times)
    t0 = time.perf_counter()
    sketch_rnn.sample(model, n=big, temperature=0.5, seed=99, max_len=250)
    out[f"sample_{big}_early_stop_s"] = time.perf_counter() - t0
    return out


def real_run(out_dir: str, extra: str, steps: int, data_dir: str) -> dict:
    """``steps`` steps of real training on aaron_sheep at the default hparams; the cost curve and
    the best weights go to ``out_dir``."""
    from sketch_rnn.hparams import get_default_hparams
    from sketch_rnn.train import Trainer

    curve = []

    class Recording(Trainer):
        def _log_train(self, step, parts, kl_w, took):
            curve.append({"step": step, "kind": "train", "cost": parts["cost"], "r_cost": parts["r_cost"],
                          "kl_cost": parts["kl_cost"], "sec": took})
            super()._log_train(step, parts, kl_w, took)

        def _write_eval(self, prefix, res, step, took):
            curve.append({"step": step, "kind": prefix.lower(), "cost": res["cost"], "r_cost": res["r_cost"],
                          "kl_cost": res["kl_cost"], "sec": took})
            super()._write_eval(prefix, res, step, took)

    hps = get_default_hparams().parse(f"save_every={max(steps // 4, 1)}" + (f",{extra}" if extra else ""))
    log_root = os.path.join(out_dir, "run")
    shutil.rmtree(log_root, ignore_errors=True)
    trainer = Recording(hps, data_dir, log_root, seed=0, progress=False)
    t0 = time.perf_counter()
    summary = trainer.train(num_steps=steps)
    wall = time.perf_counter() - t0
    with open(os.path.join(out_dir, "curve.csv"), "w") as f:
        f.write("step,kind,cost,r_cost,kl_cost,sec\n")
        for row in curve:
            f.write("{step},{kind},{cost:.6f},{r_cost:.6f},{kl_cost:.6f},{sec:.3f}\n".format(**row))
    model_dir = os.path.join(out_dir, "sheep_gpu")
    shutil.rmtree(model_dir, ignore_errors=True)
    os.makedirs(model_dir)
    from sketch_rnn.checkpoint import checkpoint_numbers

    best = checkpoint_numbers(log_root)[0]
    for name in ("sketch_rnn.json", "model_config.json", "checkpoint", f"ckpt-{best}.weights.h5"):
        shutil.copy2(os.path.join(log_root, name), model_dir)
    shutil.rmtree(log_root, ignore_errors=True)  # (resume state and events stay behind: 3 files at most)
    return {"steps": summary.step, "wall_s": wall, "best_step": best,
            "best_valid_cost": summary.best_valid_cost, "valid": summary.valid, "test": summary.test,
            "skipped_steps": summary.skipped_steps}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "bench/out/gpu"))
    ap.add_argument("--smoke", action="store_true", help="toy sizes and few steps (a CPU check)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--time_steps", type=int, default=20)
    ap.add_argument("--train_steps", type=int, default=2000)
    ap.add_argument("--big", type=int, default=1000, help="sketches in one sampling call")
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--data_dir", default=os.path.join(ROOT, "datasets", "aaron_sheep"))
    ap.add_argument("--only_steps", action="store_true",
                    help="per-step training times only (no sampling, no real run): a CPU comparison")
    args = ap.parse_args(argv)
    extra = SMOKE if args.smoke else ""
    if args.smoke:
        args.time_steps, args.train_steps, args.big = min(args.time_steps, 3), min(args.train_steps, 30), 20
    os.makedirs(args.out, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "smoke": args.smoke,
               "device": device_info()}
    say(f"device: {json.dumps(results['device'])}")
    results["train_step"] = []
    for cell in args.cells.split(","):
        r = step_times(cell, extra, args.warmup, args.time_steps, args.data_dir)
        results["train_step"].append(r)
        say(f"train step {cell}: {r['ms_per_step']:.1f} ms (min {r['ms_min']:.1f}, first "
            f"{r['first_step_s']:.1f} s with compilation; batch {r['batch_size']}, enc "
            f"{r['enc_rnn_size']} / dec {r['dec_rnn_size']}, {r['params']} weights)")
    if args.only_steps:
        return results
    from sketch_rnn.hparams import get_default_hparams
    from sketch_rnn.model import SketchRNN

    model = SketchRNN(get_default_hparams().parse(extra or None).model_config(scale_factor=18.5))
    results["sampling"] = sampling_times(model, 3, args.big)
    say("sampling: " + ", ".join(f"{k} {v:.3f}" for k, v in results["sampling"].items()))
    results["run"] = real_run(args.out, extra, args.train_steps, args.data_dir)
    run = results["run"]
    per_step = 1000 * run["wall_s"] / max(run["steps"], 1)
    say(f"real run: {run['steps']} steps in {run['wall_s']:.0f} s ({per_step:.1f} ms a step with "
        f"validation); best valid cost {run['best_valid_cost']:.4f} at step {run['best_step']}")
    with open(os.path.join(args.out, "gpu_results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()

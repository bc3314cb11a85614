"""Evaluation speed: ``evaluate_drawings`` on 1,000 QuickDraw drawings under a 512-unit browser model.

Run with the project's Python from the repository root::

    python bench/ours/eval_speed.py --model ../shared/pretrained/sketch_rnn_js/cat.gen.json \\
        --data ../shared/datasets/quickdraw_ndjson/simplified/monkey.ndjson --n 1000 --repeats 3

The data file's drawings are repeated until there are ``--n`` (the shared samples hold 25 per class;
speed depends on the lengths, not on which drawings they are). Times, each the median of
``--repeats`` calls: ``first_sec`` (the first call in the process: compilation included) and
``sec`` (later calls); ``--jit off`` times the eager path (the library before compiled evaluation).

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

SHARED = os.path.join(os.path.dirname(os.path.dirname(BENCH_DIR)), "shared")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(SHARED, "pretrained", "sketch_rnn_js", "cat.gen.json"))
    ap.add_argument("--data", default=os.path.join(SHARED, "datasets", "quickdraw_ndjson", "simplified",
                                                   "monkey.ndjson"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jit", choices=("on", "off"), default="on")
    args = ap.parse_args(argv)

    from sketch_rnn.evaluation import evaluate_drawings, load_drawings
    from sketch_rnn.interop.browser import load_browser_model
    from sketch_rnn.runtime import RuntimeOptions

    model = load_browser_model(args.model)
    drawings, _ = load_drawings(args.data)
    drawings = [drawings[i % len(drawings)] for i in range(args.n)]
    runtime = RuntimeOptions(eval_jit=args.jit == "on")
    times, nll = [], None
    for _ in range(args.repeats + 1):
        t = time.perf_counter()
        nll = evaluate_drawings(model, drawings, batch_size=args.batch, runtime=runtime).mean_nll_pixels
        times.append(time.perf_counter() - t)
    return {
        "impl": "sketch_rnn", "bench": "eval", "model": os.path.basename(args.model),
        "data": os.path.basename(args.data), "n": args.n, "batch": args.batch, "jit": args.jit,
        "dec_rnn_size": model.config.dec_rnn_size, "mean_nll_pixels": nll,
        "first_sec": times[0], "sec": _measure.median(times[1:]), "all": times,
        "load_avg": os.getloadavg(), "machine": _measure.machine_info(),
    }


if __name__ == "__main__":
    _measure.emit(main())

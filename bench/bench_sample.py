"""Sampling and encoding speed: sketch_rnn SIDE BY SIDE with the original magenta code.

    python bench/bench_sample.py                       # default model size, 250 steps, N=100
    python bench/bench_sample.py --repeats 20 --batch 100 --rounds 2

The original ``sample()`` (``bench/reference/sample_speed.py`` in the magenta venv) draws one
sketch with one ``session.run`` per point and never stops early; it has no batched mode, so its
throughput for N sketches is N x its one-sketch time. Ours runs in the same invocation, in its
own process, at the same number of steps with early stopping OFF; the early-stopping figures
are printed beside them. Goals (issue #3), on CPU at default model size: one sketch >= 20x
faster, N=100 sketches in one call >= 50x the reference's throughput, encoding >= 20x.

Only :func:`run_ours` is specific to our implementation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _measure

ONE_SKETCH_GOAL = 20.0
BATCH_THROUGHPUT_GOAL = 50.0
ENCODE_GOAL = 20.0


def run_ours(
    *,
    enc_model: str,
    dec_model: str,
    steps: int,
    batch: int,
    repeats: int,
    warmup: int,
    temperature: float,
    hparams: str,
    data_dir: str,
) -> dict:
    """Time our sampler and encoder at the reference's model size; return the figures.

    Model: default hparams (as the reference: lstm 256/512, z 128, M 20) overridden by
    ``hparams`` and ``enc_model`` / ``dec_model``; weights may be freshly initialised (speed
    does not depend on them), or a checkpoint. Sampling at ``temperature``, non-greedy, exactly
    ``steps`` points per sketch with early stopping OFF for the headline figures.

    Returns a dict with (seconds are medians over ``repeats`` after ``warmup`` calls):
      ``sample_sec_per_sketch``   one sketch (batch 1), early stopping off;
      ``batch_sec``               ``batch`` sketches in ONE call, early stopping off;
      ``encode_sec_per_sketch``   encode one sketch (batch 1);
      ``peak_rss_gib``;
    optionally ``sample_sec_per_sketch_early`` / ``batch_sec_early`` (early stopping on),
    ``encode_batch_sec`` (``batch`` sketches in one call) and ``device`` (e.g. "CPU", a GPU name).

    Run it in a fresh subprocess (``_measure.run_ours_script("ours/sample_speed.py", [...])``)
    so that memory is measured like the reference's.
    """
    ours_args = [
        "--enc_model", enc_model, "--dec_model", dec_model, "--steps", str(steps),
        "--batch", str(batch), "--repeats", str(repeats), "--warmup", str(max(warmup, 1)),
        "--temperature", str(temperature), "--data_dir", data_dir,
    ]  # fmt: skip
    if hparams:
        ours_args += ["--hparams", hparams]
    return _measure.run_ours_script("ours/sample_speed.py", ours_args, timeout=1800)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enc_model", default="lstm")
    ap.add_argument("--dec_model", default="lstm")
    ap.add_argument("--hparams", default="")
    ap.add_argument("--steps", type=int, default=250, help="points per sketch (both sides)")
    ap.add_argument("--batch", type=int, default=100, help="sketches in one call (ours)")
    ap.add_argument("--repeats", type=int, default=20,
                    help="timed calls per figure (5 of a ~15 ms call still catch post-compile warm-up)")
    ap.add_argument("--encode_repeats", type=int, default=20, help="reference encodes")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1, help="runs of each side, order alternating")
    ap.add_argument("--data_dir", default=str(_measure.DEFAULT_DATA_DIR))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--json_out", default=None)
    ap.add_argument("--check", action="store_true", help="exit 1 unless every goal is met")
    args = ap.parse_args(argv)

    print(f"machine: {_measure.machine_info()}", flush=True)
    ref_runs, our_runs, our_error = [], [], None

    def do_ref():
        print("reference (magenta) ...", flush=True)
        ref_args = [
            "--enc_model", args.enc_model, "--dec_model", args.dec_model,
            "--seq_len", str(args.steps), "--repeats", str(args.repeats),
            "--encode_repeats", str(args.encode_repeats), "--warmup", str(args.warmup),
            "--temperature", str(args.temperature), "--data_dir", args.data_dir,
        ]  # fmt: skip
        if args.hparams:
            ref_args += ["--hparams", args.hparams]
        r = _measure.run_reference("sample_speed.py", ref_args, timeout=args.timeout)
        ref_runs.append(r)
        print(
            f"  magenta: {r['sample_sec_per_sketch']:.3f} s/sketch, "
            f"encode {1000 * r['encode_sec_per_sketch']:.1f} ms",
            flush=True,
        )

    def do_ours():
        print("ours ...", flush=True)
        r = run_ours(
            enc_model=args.enc_model,
            dec_model=args.dec_model,
            steps=args.steps,
            batch=args.batch,
            repeats=args.repeats,
            warmup=args.warmup,
            temperature=args.temperature,
            hparams=args.hparams,
            data_dir=args.data_dir,
        )
        our_runs.append(r)
        print(
            f"  ours: {r['sample_sec_per_sketch']:.4f} s/sketch, "
            f"{args.batch} in {r['batch_sec']:.3f} s, "
            f"encode {1000 * r['encode_sec_per_sketch']:.2f} ms",
            flush=True,
        )

    for rnd in range(args.rounds):
        for fn in (do_ref, do_ours) if rnd % 2 == 0 else (do_ours, do_ref):
            if fn is do_ours and our_error is not None:
                continue
            try:
                fn()
            except NotImplementedError as e:
                our_error = f"not implemented: {e}"
                print(f"  ours: {our_error}", flush=True)

    def med(runs, key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return _measure.median(vals) if vals else None

    def peak(runs):
        vals = [r.get("peak_rss_gib_wait4") or r.get("peak_rss_gib") for r in runs]
        vals = [v for v in vals if v is not None]
        return max(vals) if vals else None

    ref_one = med(ref_runs, "sample_sec_per_sketch")
    ref_enc = med(ref_runs, "encode_sec_per_sketch")
    ref_batch = None if ref_one is None else ref_one * args.batch  # no batched mode: N x one
    our_one = med(our_runs, "sample_sec_per_sketch")
    our_batch = med(our_runs, "batch_sec")
    our_enc = med(our_runs, "encode_sec_per_sketch")
    our_enc_batch = med(our_runs, "encode_batch_sec")
    ref_enc_batch = None if ref_enc is None else ref_enc * args.batch  # no batched mode: N x one
    our_one_early = med(our_runs, "sample_sec_per_sketch_early")
    our_batch_early = med(our_runs, "batch_sec_early")

    one_x = _measure.ratio(ref_one, our_one)
    batch_x = _measure.ratio(ref_batch, our_batch)  # = throughput ratio
    enc_x = _measure.ratio(ref_enc, our_enc)
    enc_batch_x = _measure.ratio(ref_enc_batch, our_enc_batch)

    def goal(x, g):
        return "n/a" if x is None else ("yes" if x >= g else "NO")

    n = args.batch
    rows = [
        [
            f"one sketch, {args.steps} steps",
            _measure.fmt(ref_one, ".3f", " s"),
            _measure.fmt(our_one, ".4f", " s"),
            _measure.fmt(one_x, ".1f", "x"),
            f">= {ONE_SKETCH_GOAL:g}x: {goal(one_x, ONE_SKETCH_GOAL)}",
            _measure.fmt(our_one_early, ".4f", " s"),
        ],
        [
            f"{n} sketches (ref: {n} x one)",
            _measure.fmt(ref_batch, ".2f", " s"),
            _measure.fmt(our_batch, ".3f", " s"),
            _measure.fmt(batch_x, ".1f", "x"),
            f">= {BATCH_THROUGHPUT_GOAL:g}x: {goal(batch_x, BATCH_THROUGHPUT_GOAL)}",
            _measure.fmt(our_batch_early, ".3f", " s"),
        ],
        [
            "encode one sketch",
            _measure.fmt(None if ref_enc is None else 1000 * ref_enc, ".1f", " ms"),
            _measure.fmt(None if our_enc is None else 1000 * our_enc, ".2f", " ms"),
            _measure.fmt(enc_x, ".1f", "x"),
            f">= {ENCODE_GOAL:g}x: {goal(enc_x, ENCODE_GOAL)}",
            "",
        ],
        [
            f"encode {n} sketches (ref: {n} x one)",
            _measure.fmt(ref_enc_batch, ".2f", " s"),
            _measure.fmt(our_enc_batch, ".3f", " s"),
            _measure.fmt(enc_batch_x, ".1f", "x"),
            f">= {ENCODE_GOAL:g}x: {goal(enc_batch_x, ENCODE_GOAL)} (throughput)",
            "",
        ],
        [
            "peak RSS",
            _measure.fmt(peak(ref_runs), ".2f", " GiB"),
            _measure.fmt(peak(our_runs), ".2f", " GiB"),
            _measure.fmt(_measure.ratio(peak(our_runs), peak(ref_runs)), ".2f", "x (ours/ref)"),
            "",
            "",
        ],
    ]
    print()
    print(
        f"Sampling at temperature {args.temperature}, {args.steps} steps, early stopping off; "
        f"{args.rounds} round(s); {args.enc_model}/{args.dec_model} {args.hparams or 'defaults'}"
        + (f"; ours on {our_runs[0]['device']}" if our_runs and our_runs[0].get("device") else "")
    )
    print(_measure.format_table(["what", "magenta", "ours", "speed-up", "goal", "ours, early stop on"], rows))
    all_met = all(
        x is not None and x >= g
        for x, g in ((one_x, ONE_SKETCH_GOAL), (batch_x, BATCH_THROUGHPUT_GOAL), (enc_x, ENCODE_GOAL))
    )
    payload = {
        "bench": "sample",
        "args": vars(args),
        "machine": _measure.machine_info(),
        "reference": ref_runs,
        "ours": our_runs,
        "ours_error": our_error,
        "speedups": {"one_sketch": one_x, "batch_throughput": batch_x, "encode": enc_x,
                     "encode_batch_throughput": enc_batch_x},
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(payload, indent=1))
        print(f"raw figures: {args.json_out}")
    else:
        print(f"raw figures: {_measure.save_results('sample', payload)}")
    return 0 if (all_met or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Training speed and peak memory: sketch_rnn SIDE BY SIDE with the original magenta code.

    python bench/bench_train.py                                  # default hparams, lstm/lstm
    python bench/bench_train.py --configs lstm,layer_norm,hyper --steps 5 --warmup 2
    python bench/bench_train.py --rounds 2                       # alternate the order, pool

For each config the original trainer (``bench/reference/train_speed.py`` in the magenta venv) and
ours run one after the other in fresh processes, in the same invocation, so that both figures
come from the same machine state (this machine's speed drifts by up to 1.5x over a day). With
``--rounds N`` the order alternates (ref, ours / ours, ref, ...) and the timed steps are pooled.

Printed per config: seconds per step of each (median over timed steps), the speed-up
(reference / ours), the machine's matmul floor for the step (the step's matrix products at the rate
this machine reaches on a recurrence-shaped product, measured in our run: see
``ours/train_speed.py``; where both sides come near it, the speed-up says more about the machine than
about the code), the peak RSS of each process and the memory ratio (ours / reference), and
whether issue #2's goals hold (>= 2x speed, <= 0.5x memory). ``--json_out`` (default
``bench/out/train-<time>.json``, git-ignored) keeps all raw figures.

Only :func:`run_ours` is specific to our implementation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _measure

CONFIGS = {
    # name: (enc_model, dec_model); issue #2 names them "default", "layer_norm" and "hyper".
    "lstm": ("lstm", "lstm"),
    "layer_norm": ("layer_norm", "layer_norm"),
    "hyper": ("hyper", "hyper"),
    "hyper_dec": ("lstm", "hyper"),
}
SPEED_GOAL = 2.0  # ours must be at least this many times faster
MEMORY_GOAL = 0.5  # ours must use at most this fraction of the reference's peak RSS


def run_ours(
    *,
    enc_model: str,
    dec_model: str,
    steps: int,
    warmup: int,
    hparams: str,
    data_dir: str,
    timeout: float | None = None,
) -> dict:
    """Train our implementation for ``warmup`` + ``steps`` steps; return its figures.

    Must match the reference: default hparams (lstm 256/512, batch 100, max_seq_len 250,
    recurrent dropout on) overridden by ``hparams``, ``enc_model`` / ``dec_model``, aaron_sheep
    from ``data_dir`` with the random augmented batches, the same loss and padding semantics.
    A step is the whole training step including batch preparation (an input pipeline that
    prefetches counts as long as it is part of the timed loop).

    Returns a dict with at least:
      ``sec_per_step`` (median over the timed steps), ``all_steps`` (list of seconds),
      ``peak_rss_gib`` (peak RSS of the process that trained),
    and optionally ``costs`` ([[cost, r_cost, kl_cost], ...] per step) and ``device``.

    Run it in a fresh subprocess so that peak memory is measured like the reference's, e.g.::

        return _measure.run_ours_script("ours/train_speed.py", [
            "--enc_model", enc_model, "--dec_model", dec_model, "--steps", str(steps),
            "--warmup", str(warmup), "--hparams", hparams, "--data_dir", data_dir])

    (``run_script`` adds ``peak_rss_gib_wait4``, the kernel's figure for the child.)
    """
    args = ["--enc_model", enc_model, "--dec_model", dec_model, "--steps", str(steps),
            "--warmup", str(warmup), "--data_dir", data_dir]
    if hparams:
        args += ["--hparams", hparams]
    return _measure.run_ours_script("ours/train_speed.py", args, timeout=timeout)


def _peak(result: dict) -> float | None:
    """Peak RSS of a run: the kernel's wait4 figure when run as a subprocess, else self-report."""
    return result.get("peak_rss_gib_wait4") or result.get("peak_rss_gib")


def _pool(results: list[dict]) -> dict | None:
    if not results:
        return None
    steps = [t for r in results for t in r["all_steps"]]
    peaks = [p for p in (_peak(r) for r in results) if p is not None]
    costs = [c for r in results for c in (r.get("costs") or [])]
    return {
        "sec_per_step": _measure.median(steps),
        "all_steps": steps,
        "peak_rss_gib": max(peaks) if peaks else None,
        "first_cost": costs[0][0] if costs else None,
        "floor_sec_per_step": min((r["floor_sec_per_step"] for r in results if "floor_sec_per_step" in r),
                                  default=None),
        "step_gflop": next((r["step_gflop"] for r in results if "step_gflop" in r), None),
        "runs": results,
    }


def _reference_run(name: str, enc: str, dec: str, args) -> dict:
    print(f"[{name}] reference (magenta) ...", flush=True)
    ref_args = ["--enc_model", enc, "--dec_model", dec, "--steps", str(args.steps)]
    ref_args += ["--warmup", str(args.warmup), "--data_dir", args.data_dir]
    if args.hparams:
        ref_args += ["--hparams", args.hparams]
    r = _measure.run_reference("train_speed.py", ref_args, timeout=args.timeout)
    print(f"[{name}]   magenta {r['sec_per_step']:.3f} s/step", flush=True)
    return r


def _our_run(name: str, enc: str, dec: str, args) -> dict:
    print(f"[{name}] ours ...", flush=True)
    r = run_ours(
        enc_model=enc,
        dec_model=dec,
        steps=args.steps,
        warmup=args.warmup,
        hparams=args.hparams,
        data_dir=args.data_dir,
        timeout=args.timeout,
    )
    print(f"[{name}]   ours    {r['sec_per_step']:.3f} s/step", flush=True)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default="lstm", help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each side, order alternating")
    ap.add_argument("--hparams", default="", help="extra hparams for both sides")
    ap.add_argument("--data_dir", default=str(_measure.DEFAULT_DATA_DIR))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--json_out", default=None)
    ap.add_argument("--check", action="store_true", help="exit 1 unless every goal is met")
    args = ap.parse_args(argv)

    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    for n in names:
        if n not in CONFIGS:
            ap.error(f"unknown config {n!r}; choose from {', '.join(CONFIGS)}")

    print(f"machine: {_measure.machine_info()}", flush=True)
    rows, raw, all_met = [], {}, True
    for name in names:
        enc, dec = CONFIGS[name]
        ref_runs, our_runs, our_error = [], [], None

        for rnd in range(args.rounds):
            for side in ("ref", "ours") if rnd % 2 == 0 else ("ours", "ref"):
                if side == "ref":
                    ref_runs.append(_reference_run(name, enc, dec, args))
                elif our_error is None:
                    try:
                        our_runs.append(_our_run(name, enc, dec, args))
                    except NotImplementedError as e:
                        our_error = f"not implemented: {e}"
                        print(f"[{name}]   ours: {our_error}", flush=True)

        ref, ours = _pool(ref_runs), _pool(our_runs)
        speedup = _measure.ratio(ref and ref["sec_per_step"], ours and ours["sec_per_step"])
        mem = _measure.ratio(ours and ours["peak_rss_gib"], ref and ref["peak_rss_gib"])
        met = speedup is not None and mem is not None and speedup >= SPEED_GOAL and mem <= MEMORY_GOAL
        all_met &= met
        rows.append(
            [
                f"{name} (enc={enc}, dec={dec})",
                _measure.fmt(ref and ref["sec_per_step"]),
                _measure.fmt(ours and ours["sec_per_step"]),
                _measure.fmt(speedup, ".2f", "x"),
                _measure.fmt(ours and ours["floor_sec_per_step"]),
                _measure.fmt(ours and ours["step_gflop"], ".0f"),
                _measure.fmt(ref and ref["peak_rss_gib"], ".2f"),
                _measure.fmt(ours and ours["peak_rss_gib"], ".2f"),
                _measure.fmt(mem, ".2f", "x"),
                "yes" if met else ("n/a" if ours is None else "NO"),
            ]
        )
        raw[name] = {
            "reference": ref,
            "ours": ours,
            "ours_error": our_error,
            "speedup": speedup,
            "memory_ratio": mem,
            "goal_met": met,
        }

    print()
    print(
        f"Training, {args.steps} timed steps after {args.warmup} warm-up, "
        f"{args.rounds} round(s); hparams: {args.hparams or 'defaults'}"
    )
    print(
        _measure.format_table(
            [
                "config",
                "magenta s/step",
                "ours s/step",
                "speed-up",
                "matmul floor s/step",
                "step GFLOP",
                "magenta peak GiB",
                "ours peak GiB",
                "memory ours/ref",
                f"goal (>={SPEED_GOAL:g}x, <={MEMORY_GOAL:g}x mem)",
            ],
            rows,
        )
    )
    payload = {"bench": "train", "args": vars(args), "machine": _measure.machine_info(), "results": raw}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(payload, indent=1))
        print(f"raw figures: {args.json_out}")
    else:
        print(f"raw figures: {_measure.save_results('train', payload)}")
    return 0 if (all_met or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())

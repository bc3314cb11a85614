"""``sketch_rnn_eval``: losses and per-sketch likelihoods of a model on a data file.

    sketch_rnn_eval --model=PATH --data=FILE[.npz|.ndjson] [--split=test] [--csv=FILE]
                    [--worst=N --worst_svg=FILE] [--start_token=model|zeros|tf] [--scale=S]

``--model`` is anything :func:`sketch_rnn.checkpoint.load_model` reads (a ``sketch_rnn`` folder, a
magenta TF1 checkpoint, a browser ``*.gen.json`` / ``*.vae.json``). Prints a table of L_R (both
pen-loss forms), L_KL and the per-step NLL in model and pixel units (see
:mod:`sketch_rnn.evaluation`); ``--csv`` writes one row per drawing; ``--worst`` lists the
highest-NLL drawings (outliers) and ``--worst_svg`` draws them on a grid.

Rules, checked before the model is loaded: ``--data`` is an existing ``.npz`` or ``.ndjson`` file;
``--batch_size`` and ``--scale`` are > 0 (``--scale`` finite), ``--worst`` >= 0; ``--csv`` ends in
``.csv`` and ``--worst_svg`` in ``.svg``, neither is an input, an existing folder or below a file,
and they differ. Outputs are written atomically. ndjson lines that cannot be read are skipped,
never silently: their number and every reason with its lines go to stderr, and the table's
``sketches`` row counts them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

from sketch_rnn.strokes import BROWSER_START_TOKEN, START_TOKEN

START_TOKENS = {"zeros": BROWSER_START_TOKEN, "tf": START_TOKEN}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sketch_rnn_eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model folder, TF1 checkpoint or browser .json")
    p.add_argument("--data", required=True, help=".npz dataset or QuickDraw .ndjson file")
    p.add_argument("--split", default="test", help="split of an .npz file (default test)")
    p.add_argument("--csv", help="write per-drawing results here")
    p.add_argument("--worst", type=int, default=0, help="list the N drawings with the highest NLL")
    p.add_argument("--worst_svg", help="draw the --worst drawings (default 16) on a grid, as SVG")
    p.add_argument("--start_token", choices=["model", "zeros", "tf"], default="model",
                   help="first decoder input: the model's own convention (default), all zeros "
                        "(browser models) or [0,0,1,0,0] (TF models)")
    p.add_argument("--scale", type=float, help="pixels per model unit (default: the model's)")
    p.add_argument("--batch_size", type=int, default=100)
    p.add_argument("--sample_z", action="store_true", help="decode from a sampled z instead of mu")
    p.add_argument("--seed", type=int, default=0)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Refuse bad flags and unsafe outputs before any work; raises ``ValueError`` naming the flag."""
    from sketch_rnn.files import check_output_path, same_path

    if args.batch_size <= 0:
        raise ValueError(f"--batch_size={args.batch_size}: must be > 0")
    if args.scale is not None and not (math.isfinite(args.scale) and args.scale > 0):
        raise ValueError(f"--scale={args.scale}: must be a finite number > 0")
    if args.worst < 0:
        raise ValueError(f"--worst={args.worst}: must be >= 0")
    if not args.data.endswith((".npz", ".ndjson")):
        raise ValueError(f"--data={args.data}: expected an .npz dataset or a QuickDraw .ndjson file")
    if not os.path.isfile(args.data):
        raise ValueError(f"--data={args.data}: no such file")
    inputs = [args.model, args.data]
    if args.csv:
        check_output_path(args.csv, inputs=inputs, flag="csv", suffixes=(".csv",))
    if args.worst_svg:
        check_output_path(args.worst_svg, inputs=inputs, flag="worst_svg", suffixes=(".svg",))
    if args.csv and args.worst_svg and same_path(args.csv, args.worst_svg):
        raise ValueError(f"--csv and --worst_svg name the same file ({args.csv})")


def main_args(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 2 refused or failed)."""
    args = parser().parse_args(argv)
    try:
        check_args(args)
    except ValueError as e:
        print(f"sketch_rnn_eval: error: {e}", file=sys.stderr)
        return 2
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.datasets.report import Report
    from sketch_rnn.evaluation import evaluate_drawings, load_drawings
    from sketch_rnn.hparams import CONFIG_FILE, HParams

    try:
        model = load_model(args.model)
        # The KL term's weight and floor are training settings: the model folder's hparams, if any.
        config_file = os.path.join(args.model, CONFIG_FILE)
        train = (HParams.load(config_file) if os.path.isfile(config_file) else HParams()).train_config()
        report = Report()
        # The library warns about skipped lines (for API users); here they become our own lines,
        # followed by every reason with its places.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            drawings, names = load_drawings(args.data, args.split, report)
        for w in caught:
            print(f"sketch_rnn_eval: warning: {w.message}", file=sys.stderr)
        if report.n_skipped:
            print(f"sketch_rnn_eval: {report.summary()}", file=sys.stderr)
        start = None if args.start_token == "model" else START_TOKENS[args.start_token]
        result = evaluate_drawings(model, drawings, scale=args.scale, start_token=start,
                                   batch_size=args.batch_size, sample_z=args.sample_z, seed=args.seed,
                                   kl_weight=train.kl_weight, kl_tolerance=train.kl_tolerance)
        result.skipped = report.n_skipped
    except (ValueError, OSError) as e:
        print(f"sketch_rnn_eval: error: {e}", file=sys.stderr)
        return 2
    print(f"model: {args.model}\ndata:  {args.data}" + (f" [{args.split}]" if args.data.endswith(".npz")
                                                         else ""))
    print(result.format_table())
    if args.csv:
        from sketch_rnn.files import atomic_path

        with atomic_path(args.csv, suffix=".csv") as tmp:
            result.write_csv(tmp, names)
        print(f"per-drawing results written to {args.csv}")
    n_worst = args.worst or (16 if args.worst_svg else 0)
    if n_worst:
        worst = result.worst(n_worst)
        print(f"\n{len(worst)} highest-NLL drawings (pixel units):")
        for rank, i in enumerate(worst, 1):
            print(f"{rank:>4}. {result.nll_pixels[i]:10.4f}  rows {int(result.n_rows[i]):>4}  {names[i]}")
        if args.worst_svg:
            from sketch_rnn.draw import grid_svg, save_svg

            save_svg(grid_svg([drawings[i] for i in worst], factor=1.0, by_stroke_color=True),
                     args.worst_svg)
            print(f"drawn to {args.worst_svg}")
    return 0


def run():
    """Console-script entry point."""
    sys.exit(main_args())


if __name__ == "__main__":
    run()

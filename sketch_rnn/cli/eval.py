"""``sketch_rnn_eval``: losses and per-sketch likelihoods of a model on a data file.

    sketch_rnn_eval --model=PATH --data=FILE[.npz|.ndjson] [--split=test] [--csv=FILE]
                    [--worst=N --worst_svg=FILE] [--start_token=model|zeros|tf] [--scale=S]

``--model`` is anything :func:`sketch_rnn.checkpoint.load_model` reads (a ``sketch_rnn`` folder, a
magenta TF1 checkpoint, a browser ``*.gen.json`` / ``*.vae.json``). Prints a table of L_R (both
pen-loss forms), L_KL and the per-step NLL in model and pixel units (see
:mod:`sketch_rnn.evaluation`); ``--csv`` writes one row per drawing; ``--worst`` lists the
highest-NLL drawings (outliers) and ``--worst_svg`` draws them on a grid.
"""

from __future__ import annotations

import argparse
import os
import sys

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


def main_args(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.evaluation import evaluate_drawings, load_drawings
    from sketch_rnn.hparams import CONFIG_FILE, HParams

    try:
        model = load_model(args.model)
        # The KL term's weight and floor are training settings: the model folder's hparams, if any.
        config_file = os.path.join(args.model, CONFIG_FILE)
        train = (HParams.load(config_file) if os.path.isfile(config_file) else HParams()).train_config()
        drawings, names = load_drawings(args.data, args.split)
        start = None if args.start_token == "model" else START_TOKENS[args.start_token]
        result = evaluate_drawings(model, drawings, scale=args.scale, start_token=start,
                                   batch_size=args.batch_size, sample_z=args.sample_z, seed=args.seed,
                                   kl_weight=train.kl_weight, kl_tolerance=train.kl_tolerance)
    except (ValueError, FileNotFoundError) as e:
        print(f"sketch_rnn_eval: error: {e}", file=sys.stderr)
        return 2
    print(f"model: {args.model}\ndata:  {args.data}" + (f" [{args.split}]" if args.data.endswith(".npz")
                                                         else ""))
    print(result.format_table())
    if args.csv:
        result.write_csv(args.csv, names)
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

"""``sketch_rnn_eval``: losses and per-sketch likelihoods of a model on a data file.

    sketch_rnn_eval --model=PATH --data=FILE[.npz|.ndjson] [--split=test|train|valid|all]
                    [--csv=FILE] [--worst=N --worst_svg=FILE] [--start_token=model|reference|zeros]
                    [--scale=S] [--dtype=float32|float64]

``--model`` is anything :func:`sketch_rnn.checkpoint.load_model` reads (a ``sketch_rnn`` folder, a
magenta TF1 checkpoint, a browser ``*.gen.json`` / ``*.vae.json``). Prints a table of L_R (both
pen-loss forms), L_KL and the per-step NLL in model and pixel units (see
:mod:`sketch_rnn.evaluation`); ``--csv`` writes one row per drawing; ``--worst`` lists the
highest-NLL drawings (outliers) and ``--worst_svg`` draws them on a grid. ``--split=all`` evaluates
the whole ``.npz`` file (train, valid, test); an ``.ndjson`` file has no splits. ``--dtype=float64``
computes the NLL's targets and the per-drawing sums in float64 (the network stays float32).

Rules, checked before the model is loaded: ``--data`` is an existing ``.npz`` or ``.ndjson`` file;
``--batch_size`` and ``--scale`` are > 0 (``--scale`` finite), ``--worst`` >= 0; ``--csv`` ends in
``.csv`` and ``--worst_svg`` in ``.svg``, neither is an input, an existing folder or below a file,
and they differ. Outputs are written atomically. ndjson lines that cannot be read are skipped,
never silently: their number and every reason with its lines go to stderr, and the table's
``sketches`` row counts them.
"""

from __future__ import annotations

import math
import os
import sys
import warnings

from absl import flags

from sketch_rnn.cli._common import console_entry, define_verbosity, import_backend, parse_tool_flags

__all__ = ["FLAGS", "check_args", "main_args", "run"]

PROG = "sketch_rnn_eval"

# Its own FlagValues, not absl's global FLAGS: this module can be imported next to the other
# CLIs without flag-name clashes.
FLAGS = flags.FlagValues()
_f = {"flag_values": FLAGS}
flags.DEFINE_string("model", None, "model folder, TF1 checkpoint or browser .json (required)", **_f)
flags.DEFINE_string("data", None, ".npz dataset or QuickDraw .ndjson file (required)", **_f)
flags.DEFINE_enum("split", "test", ["train", "valid", "test", "all"],
                  "split of an .npz file; all: train, valid and test (default test)", **_f)
flags.DEFINE_string("csv", None, "write per-drawing results here", **_f)
flags.DEFINE_integer("worst", 0, "list the N drawings with the highest NLL", **_f)
flags.DEFINE_string("worst_svg", None, "draw the --worst drawings (default 16) on a grid, as SVG",
                    **_f)
flags.DEFINE_enum("start_token", "model", ["model", "reference", "zeros", "tf", "browser"],
                  "first decoder input: the model's own convention (default), reference "
                  "[0,0,1,0,0] (magenta's TF models; old name tf) or zeros (browser models; old "
                  "name browser)", **_f)
flags.DEFINE_enum("dtype", "float32", ["float32", "float64"],
                  "float64: the NLL's targets and per-drawing sums in float64", **_f)
flags.DEFINE_float("scale", None, "pixels per model unit (default: the model's)", **_f)
flags.DEFINE_integer("batch_size", 100, "drawings per evaluation batch", **_f)
flags.DEFINE_boolean("sample_z", False, "decode from a sampled z instead of mu", **_f)
flags.DEFINE_integer("seed", 0, "seed of --sample_z's draws", **_f)
define_verbosity(FLAGS)


def check_args(args: flags.FlagValues) -> None:
    """Refuse bad flags and unsafe outputs before any work; raises ``ValueError`` naming the flag."""
    from sketch_rnn.files import check_output_path, same_path

    missing = [f"--{name}" for name in ("model", "data") if not args[name].value]
    if missing:
        raise ValueError(f"the following flags are required: {', '.join(missing)}")
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
    """Run the command on ``argv`` (program name excluded; default ``sys.argv[1:]``); returns the
    exit status (0 done, 2 refused or failed)."""
    parsed = parse_tool_flags(PROG, __doc__, FLAGS, sys.argv[1:] if argv is None else argv)
    if isinstance(parsed, int):
        return parsed
    args = FLAGS
    try:
        check_args(args)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    import_backend()
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
        result = evaluate_drawings(model, drawings, scale=args.scale, start_token=args.start_token,
                                   batch_size=args.batch_size, sample_z=args.sample_z, seed=args.seed,
                                   kl_weight=train.kl_weight, kl_tolerance=train.kl_tolerance,
                                   dtype=args.dtype)
        result.skipped = report.n_skipped
    except (ValueError, OSError) as e:
        print(f"sketch_rnn_eval: error: {e}", file=sys.stderr)
        return 2
    print(f"model: {args.model}\ndata:  {args.data}" + (f" [{args.split}]" if args.data.endswith(".npz")
                                                         else ""))
    print(result.format_table())
    if args.csv:
        result.write_csv(args.csv, names)  # atomically
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


def run() -> None:
    """Console-script entry point."""
    console_entry(main_args)


if __name__ == "__main__":
    run()

"""``sketch_rnn_data``: build Sketch-RNN datasets from your own drawings, and inspect them.

    sketch_rnn_data convert INPUT... --out=data.npz [--splits=0.9,0.05,0.05] [--batch_size=100]
        [--seed=0] [--min_len=1] [--max_len=0] [--epsilon=0] [--format=auto] [--size=255]
        [--tolerance=0.5] [--labels=auto] [--recognized_only] [--limit=0] [--workers=0]
    sketch_rnn_data info FILE.npz...
    sketch_rnn_data show FILE.npz --n=25 --out=grid.svg [--split=train] [--seed=N] [--factor=0]

INPUT is any mix of QuickDraw ``.ndjson`` (raw or simplified) and ``.bin`` files, ``.svg``
files, folders holding them, or glob patterns. The written ``.npz`` loads in
``sketch_rnn_train --data_dir=DIR --hparams=data_set=data.npz`` unchanged, alone or in a list.

Rules, checked before anything is read: ``convert`` refuses a ``.npz`` input (already a dataset)
and, with ``--format=auto``, any file not ending in .ndjson/.bin/.svg; ``--out`` must end in
``.npz`` (convert) or ``.svg`` (show), must not be one of the inputs, nor an existing folder, nor
lie below a file. Outputs are written atomically: a failure leaves the old file, or none.

Example:
    >>> main(["sketch_rnn_data", "info", "datasets/aaron_sheep/aaron_sheep.npz"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

from sketch_rnn.cli._common import console_entry, define_verbosity, tool_help, wants_help

__all__ = ["main", "run"]

#: Each command and what it does (the usage printed without arguments).
COMMANDS = {
    "convert": "build a .npz dataset from QuickDraw .ndjson/.bin and .svg drawings",
    "info": "statistics and problems of .npz datasets",
    "show": "draw sketches of a .npz dataset on an SVG grid",
}

# Its own FlagValues, not absl's global FLAGS: this module can be imported next to the other
# CLIs without flag-name clashes.
FLAGS = flags.FlagValues()
_f = {"flag_values": FLAGS}
# convert
flags.DEFINE_string("out", None, "convert: the .npz to write; show: the .svg to write.", **_f)
flags.DEFINE_enum("format", "auto", ["auto", "raw", "simplified", "bin", "svg"],
                  "convert: input format (auto: by extension and content).", **_f)
flags.DEFINE_string("splits", "0.9,0.05,0.05",
                    "convert: train,valid,test as fractions (0.9,0.05,0.05) or counts "
                    "(70000,2500,2500; per class when labelled).", **_f)
flags.DEFINE_integer("batch_size", 0, "convert: round split sizes down to multiples of this "
                     "(0: no rounding).", **_f)
flags.DEFINE_integer("seed", None, "convert: shuffle seed (default 0); show: pick sketches at "
                     "random with this seed (default: the first n).", **_f)
flags.DEFINE_integer("min_len", 1, "convert: drop sketches with fewer stroke-3 rows.", **_f)
flags.DEFINE_integer("max_len", 0, "convert: drop sketches with more rows (0: no limit).", **_f)
flags.DEFINE_float("epsilon", 0.0, "convert: extra RDP simplification of every sketch "
                   "(0: none).", **_f)
flags.DEFINE_float("quickdraw_epsilon", 2.0, "convert: RDP epsilon of the raw QuickDraw -> "
                   "simplified step (Google's: 2.0).", **_f)
flags.DEFINE_float("size", 255.0, "convert: fit SVG drawings into a box this big (0: keep SVG "
                   "units).", **_f)
flags.DEFINE_float("tolerance", 0.5, "convert: SVG curve sampling tolerance (output units).",
                   **_f)
flags.DEFINE_enum("labels", "auto", ["auto", "yes", "no"],
                  "convert: store class labels (auto: when there are several classes).", **_f)
flags.DEFINE_boolean("zero_first", True, "convert: make every sketch's first offset (0, 0).",
                     **_f)
flags.DEFINE_boolean("recognized_only", False, "convert: skip QuickDraw drawings the game did "
                     "not recognise.", **_f)
flags.DEFINE_integer("limit", 0, "convert: at most this many drawings per QuickDraw file "
                     "(0: all).", **_f)
flags.DEFINE_integer("workers", 0, "convert: processes for QuickDraw ndjson (0: CPU count).",
                     **_f)
flags.DEFINE_boolean("progress", True, "convert: show a progress line on stderr.", **_f)
# show
flags.DEFINE_integer("n", 25, "show: number of sketches on the grid.", **_f)
flags.DEFINE_enum("split", "train", ["train", "valid", "test"], "show: which split.", **_f)
flags.DEFINE_float("factor", 0.0, "show: divide offsets by this (0: about 120 px per cell).",
                   **_f)
flags.DEFINE_integer("ncols", 0, "show: grid columns (0: square-ish).", **_f)
define_verbosity(FLAGS)


def _short_usage() -> str:
    lines = [f"  {name:<8} {what}" for name, what in COMMANDS.items()]
    return ("usage: sketch_rnn_data COMMAND [ARGS] [FLAGS]\n\n" + "\n".join(lines)
            + "\n\nsketch_rnn_data --help for more.")


def _convert(inputs: Sequence[str]) -> int:
    from sketch_rnn.datasets.convert import check_input_files, convert_inputs, find_inputs
    from sketch_rnn.datasets.inspect import small_splits
    from sketch_rnn.datasets.report import Report
    from sketch_rnn.datasets.writer import build_dataset, parse_splits, write_npz
    from sketch_rnn.files import check_output_path

    if not inputs:
        print("sketch_rnn_data convert: give at least one input file or folder", file=sys.stderr)
        return 2
    if not FLAGS.out:
        print("sketch_rnn_data convert: --out is required", file=sys.stderr)
        return 2
    try:
        files = find_inputs(inputs)
        check_input_files(files, FLAGS.format)
        check_output_path(FLAGS.out, inputs=files, suffixes=(".npz",))
    except (OSError, ValueError) as e:  # incl. OutputPathError
        print(f"sketch_rnn_data convert: {e}", file=sys.stderr)
        return 2
    splits = parse_splits(FLAGS.splits)
    stream = sys.stderr if FLAGS.progress else None
    result = convert_inputs(
        files, fmt=FLAGS.format, size=FLAGS.size or None, tolerance=FLAGS.tolerance,
        zero_first=FLAGS.zero_first, quickdraw_epsilon=FLAGS.quickdraw_epsilon,
        recognized_only=FLAGS.recognized_only, limit=FLAGS.limit or None,
        workers=FLAGS.workers or None, progress_stream=stream)
    print(f"input: {result.report.summary()}", file=sys.stderr)
    filtered = Report()
    labelled = FLAGS.labels == "yes" or (FLAGS.labels == "auto" and len(result.class_names) > 1)
    dataset = build_dataset(
        result.sketches, labels=result.labels if labelled else None,
        class_names=result.class_names if labelled else None, splits=splits,
        batch_size=FLAGS.batch_size or None, seed=0 if FLAGS.seed is None else FLAGS.seed,
        min_len=FLAGS.min_len, max_len=FLAGS.max_len or None, epsilon=FLAGS.epsilon,
        report=filtered)
    if filtered.n_skipped:
        print(f"filtering: {filtered.summary()}", file=sys.stderr)
    counts = {k: len(v) for k, v in dataset.splits.items()}
    for problem in small_splits(counts, FLAGS.batch_size or None):
        print(f"sketch_rnn_data convert: warning: {problem}", file=sys.stderr)
    write_npz(FLAGS.out, dataset)
    print(f"wrote {FLAGS.out}\n{dataset.describe()}")
    return 0


def _info(paths: Sequence[str]) -> int:
    from sketch_rnn.datasets.inspect import dataset_info, format_info

    if not paths:
        print("sketch_rnn_data info: give at least one .npz file", file=sys.stderr)
        return 2
    for i, path in enumerate(paths):
        if i:
            print()
        print(format_info(dataset_info(path)))
    return 0


def _show(paths: Sequence[str]) -> int:
    from sketch_rnn.datasets.inspect import show_dataset
    from sketch_rnn.files import OutputPathError, check_output_path

    if len(paths) != 1:
        print("sketch_rnn_data show: give exactly one .npz file", file=sys.stderr)
        return 2
    out = FLAGS.out or "grid.svg"
    try:
        check_output_path(out, inputs=paths, suffixes=(".svg",))
    except OutputPathError as e:
        print(f"sketch_rnn_data show: {e}", file=sys.stderr)
        return 2
    show_dataset(paths[0], out, n=FLAGS.n, split=FLAGS.split, seed=FLAGS.seed,
                 factor=FLAGS.factor or None, ncols=FLAGS.ncols or None)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (0 ok, 1 failed, 2 usage error).

    Example:
        >>> main(["sketch_rnn_data", "nonsense"])  # doctest: +SKIP
        2
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:
        print(_short_usage(), file=sys.stderr)
        return 2
    if argv[1] == "help" or wants_help(argv[1:]):
        print(tool_help(__doc__, FLAGS))
        return 0
    command = argv[1]
    if command not in COMMANDS:
        print(f"sketch_rnn_data: unknown command {command!r}\n\n{_short_usage()}", file=sys.stderr)
        return 2
    FLAGS.unparse_flags()  # main() may run several times in one process (tests)
    try:
        rest = FLAGS([argv[0]] + argv[2:])[1:]
    except flags.Error as e:
        print(f"sketch_rnn_data {command}: {e}", file=sys.stderr)
        return 2
    try:
        return {"convert": _convert, "info": _info, "show": _show}[command](rest)
    except (ValueError, OSError) as e:  # incl. DatasetError and NoUsableDataError
        print(f"sketch_rnn_data {command}: {e}", file=sys.stderr)
    return 1


def run() -> None:
    """Console-script entry point."""
    console_entry(main)


if __name__ == "__main__":
    run()

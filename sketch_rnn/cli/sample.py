"""``sketch_rnn_sample``: draw sketches from a trained model into an SVG grid.

    sketch_rnn_sample --log_root=checkpoints/aaron_sheep --num=16 --temperature=0.4 --out=sheep.svg
    sketch_rnn_sample --log_root=DIR --complete=start.npy --units=pixels --num=8 --out=done.svg
    sketch_rnn_sample --log_root=DIR --num=9 --color_by_stroke=hsv --out=sheep.png --png_size=600

A thin wrapper over :func:`sketch_rnn.sampling.sample` / :func:`sketch_rnn.sampling.complete`:
``--log_root`` is a ``sketch_rnn`` model folder or a magenta TF1 checkpoint folder;
``--complete`` names a stroke-3 drawing (``.npy`` array ``[L, 3]`` or ``.json`` list of
``[dx, dy, pen_lift]``) to continue ``--num`` ways. Drawings are laid out on a grid
(:func:`sketch_rnn.draw.grid_svg`) and written as SVG or PNG by ``--out``'s suffix;
``--npy_out`` also saves them (stroke-3, model or prefix units).

Rules, checked before the model is loaded: ``--temperature`` is a finite number > 0 (unless
``--greedy``); ``--num``, ``--factor``, ``--png_size``, ``--ncols`` and ``--max_len`` are > 0;
``--out`` ends in ``.svg`` or ``.png`` and ``--npy_out`` in ``.npy``; neither is an input (the model,
``--complete``), an existing folder or below a file, and they differ; the ``--complete`` drawing
is read. Outputs are written atomically; a library error is one ``sketch_rnn_sample: error: ...``
line and exit status 2.
"""

from __future__ import annotations

import math
import os
import sys

from absl import app, flags

from sketch_rnn.cli._common import import_backend, read_strokes, run_absl_app, save_drawings_npy

FLAGS = flags.FLAGS

flags.DEFINE_string("log_root", None, "Model folder (sketch_rnn or magenta TF1 checkpoint).")
flags.DEFINE_integer("num", 16, "Number of sketches (alternatives with --complete).")
flags.DEFINE_float("temperature", 0.4, "Sampling temperature (> 0).")
flags.DEFINE_string("out", "samples.svg", "Output picture: .svg or .png.")
flags.DEFINE_string("complete", None, "Stroke-3 drawing to continue (.npy or .json).")
flags.DEFINE_enum(
    "units",
    "model",
    ["model", "pixels"],
    "Units of the --complete drawing (pixels: divided by the model's scale factor).",
)
flags.DEFINE_integer("seed", None, "Seed (reproducible draws).")
flags.DEFINE_boolean("greedy", False, "Most likely component, pen state and mean offsets.")
flags.DEFINE_enum(
    "convention",
    None,
    ["reference", "browser"],
    "Temperature convention (default: the model's, else reference).",
)
flags.DEFINE_integer("max_len", None, "Most points per sketch (default: the model's max_seq_len).")
flags.DEFINE_float("factor", 0.2, "SVG scale: coordinates are divided by it.")
flags.DEFINE_integer("ncols", None, "Grid columns (default: about sqrt(num)).")
flags.DEFINE_string("npy_out", None, "Also save the drawings as a .npy object array.")
flags.DEFINE_integer("png_size", None, "PNG: longer side in pixels (default: the SVG's size).")
flags.DEFINE_enum(
    "color_by_stroke",
    None,
    ["palette", "hsv"],
    "Colour strokes by their order (a fixed palette or a hue ramp).",
)

def _check_flags() -> None:
    if not FLAGS.log_root:
        raise app.UsageError("--log_root is required")
    if not FLAGS.greedy and not (math.isfinite(FLAGS.temperature) and FLAGS.temperature > 0):
        raise app.UsageError(f"--temperature={FLAGS.temperature}: must be a finite number > 0")
    if not FLAGS.out.lower().endswith((".svg", ".png")):
        raise app.UsageError(f"--out={FLAGS.out}: expected a .svg or .png file name")
    for name in ("num", "factor", "png_size", "ncols", "max_len"):
        value = FLAGS[name].value
        if value is not None and not (math.isfinite(value) and value > 0):
            raise app.UsageError(f"--{name}={value}: must be > 0")


def _check_outputs() -> None:
    """Raises ``ValueError`` naming the flag (a path problem is not a usage error: exit 2)."""
    from sketch_rnn.files import check_output_path, same_path

    inputs = [FLAGS.log_root, FLAGS.complete]
    check_output_path(FLAGS.out, inputs=inputs, suffixes=(".svg", ".png"))
    if FLAGS.npy_out:
        check_output_path(FLAGS.npy_out, inputs=inputs, flag="npy_out", suffixes=(".npy",))
        if same_path(FLAGS.out, FLAGS.npy_out):
            raise ValueError(f"--out and --npy_out name the same file ({FLAGS.out})")


def main(argv) -> int:
    del argv
    _check_flags()
    try:
        _check_outputs()
    except ValueError as e:
        print(f"sketch_rnn_sample: error: {e}", file=sys.stderr)
        return 2
    import_backend()
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.draw import grid_svg, save
    from sketch_rnn.sampling import complete, sample

    try:
        # The drawing to continue is read first: a bad file costs no model loading.
        prefix = read_strokes(FLAGS.complete, "complete") if FLAGS.complete else None
        model = load_model(FLAGS.log_root)
        kw = dict(
            temperature=FLAGS.temperature,
            seed=FLAGS.seed,
            greedy=FLAGS.greedy,
            convention=FLAGS.convention,
            max_len=FLAGS.max_len,
        )
        if prefix is not None:
            drawings = complete(model, prefix, n=FLAGS.num, units=FLAGS.units, **kw)
        else:
            drawings = sample(model, FLAGS.num, **kw)
        svg = grid_svg(
            drawings, ncols=FLAGS.ncols, factor=FLAGS.factor, color_by_stroke=FLAGS.color_by_stroke or False
        )
        save(svg, FLAGS.out, size=FLAGS.png_size)
        if FLAGS.npy_out:
            save_drawings_npy(FLAGS.npy_out, drawings)
    except (OSError, ValueError) as e:
        print(f"sketch_rnn_sample: error: {e}", file=sys.stderr)
        return 2
    what = "completions" if FLAGS.complete else "sketches"
    print(f"{len(drawings)} {what} in {os.path.abspath(FLAGS.out)}", file=sys.stderr)
    return 0


def run():
    """Console-script entry point."""
    run_absl_app(main, __name__)


if __name__ == "__main__":
    run()

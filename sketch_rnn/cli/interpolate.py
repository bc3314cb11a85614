"""``sketch_rnn_interpolate``: morph one drawing into another through a model's latent space.

    sketch_rnn_interpolate --log_root=checkpoints/aaron_sheep --a=first.npy --b=second.json --out=morph.svg
    sketch_rnn_interpolate --model=DIR --data=datasets/aaron_sheep/aaron_sheep.npz --index_a=0 \\
        --index_b=7 --steps=8 --method=lerp --temperature=0.1 --seed=0 --out=morph.png

A thin wrapper over :func:`sketch_rnn.latent.morph`: both drawings are encoded, ``--steps`` codes
are interpolated between them (``slerp`` or ``lerp``) and decoded in one batch, and the strip is
drawn with :func:`sketch_rnn.draw.strip_svg`, as SVG or PNG by ``--out``'s suffix.

The drawings are stroke-3 files (``.npy`` array ``[L, 3]`` or ``.json`` list of
``[dx, dy, pen_lift]``, as ``sketch_rnn_sample --complete`` reads; ``--units=pixels`` when they are
in data units) or two drawings of a dataset split (``--data=FILE.npz --index_a --index_b``, data
units, clamped to +-1000 and divided by the model's scale factor as in training).
``--model`` is anything :func:`sketch_rnn.checkpoint.load_model` reads (``--log_root`` is the same).

Rules, checked before the model is loaded: ``--temperature`` is a finite number > 0 (unless
``--greedy``); ``--steps`` >= 2; ``--factor``, ``--png_size`` and ``--max_len`` > 0; ``--out`` ends in
``.svg`` or ``.png`` and ``--npy_out`` in ``.npy``; neither is an input (the model, ``--a``/``--b``,
``--data``), an existing folder or below a file, and they differ; the two drawings are read.
Outputs are written atomically; a library error is one ``sketch_rnn_interpolate: error: ...`` line
and exit status 2.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
from absl import app, flags

from sketch_rnn.cli._common import import_backend, read_strokes, run_absl_app, save_drawings_npy

FLAGS = flags.FLAGS

flags.DEFINE_string("log_root", None, "Model folder (sketch_rnn or magenta TF1 checkpoint).")
flags.DEFINE_string("model", None, "Same as --log_root (also a browser .json model).")
flags.DEFINE_string("a", None, "First drawing, stroke-3 (.npy or .json).")
flags.DEFINE_string("b", None, "Last drawing, stroke-3 (.npy or .json).")
flags.DEFINE_enum(
    "units", "model", ["model", "pixels"], "Units of --a/--b (pixels: divided by the model's scale factor)."
)
flags.DEFINE_string("data", None, "Dataset .npz to take the two drawings from (instead of --a/--b).")
flags.DEFINE_string("split", "test", "Split of --data.")
flags.DEFINE_integer("index_a", None, "Index of the first drawing in --split of --data.")
flags.DEFINE_integer("index_b", None, "Index of the last drawing in --split of --data.")
flags.DEFINE_integer("steps", 10, "Drawings in the strip, both ends included (>= 2).")
flags.DEFINE_enum("method", "slerp", ["slerp", "lerp"], "Interpolation: spherical or linear.")
flags.DEFINE_float("temperature", 0.1, "Sampling temperature (> 0).")
flags.DEFINE_integer("seed", None, "Seed (reproducible draws).")
flags.DEFINE_boolean("greedy", False, "Most likely component, pen state and mean offsets.")
flags.DEFINE_integer("max_len", None, "Most points per drawing (default: the model's max_seq_len).")
flags.DEFINE_float("factor", 0.2, "SVG scale: model-unit coordinates are divided by it.")
flags.DEFINE_string("out", "interpolation.svg", "Output picture: .svg or .png.")
flags.DEFINE_integer("png_size", None, "PNG: longer side in pixels (default: the SVG's size).")
flags.DEFINE_enum("color_by_stroke", None, ["palette", "hsv"], "Colour strokes by their order.")
flags.DEFINE_boolean("labels", False, "Write each drawing's interpolation weight under it.")
flags.DEFINE_string("npy_out", None, "Also save the drawings (model units) as a .npy object array.")

def _check_flags() -> None:
    if bool(FLAGS.log_root) == bool(FLAGS.model):
        raise app.UsageError("give the model with --log_root or --model (one of them)")
    from_files = bool(FLAGS.a or FLAGS.b)
    from_data = bool(FLAGS.data) or FLAGS.index_a is not None or FLAGS.index_b is not None
    if from_files and from_data:
        raise app.UsageError(
            "give the drawings either as --a/--b files or as --data with --index_a/--index_b, not both"
        )
    if from_data and (not FLAGS.data or FLAGS.index_a is None or FLAGS.index_b is None):
        raise app.UsageError("--data needs --index_a and --index_b (and the reverse)")
    if not from_data and not (FLAGS.a and FLAGS.b):
        raise app.UsageError("both --a and --b are required (or --data with --index_a/--index_b)")
    if FLAGS.steps < 2:
        raise app.UsageError(f"--steps={FLAGS.steps}: must be >= 2 (both ends are drawn)")
    if not FLAGS.greedy and not (math.isfinite(FLAGS.temperature) and FLAGS.temperature > 0):
        raise app.UsageError(f"--temperature={FLAGS.temperature}: must be a finite number > 0")
    if not FLAGS.out.lower().endswith((".svg", ".png")):
        raise app.UsageError(f"--out={FLAGS.out}: expected a .svg or .png file name")
    if FLAGS.png_size is not None and FLAGS.png_size <= 0:
        raise app.UsageError(f"--png_size={FLAGS.png_size}: must be > 0")
    if not (math.isfinite(FLAGS.factor) and FLAGS.factor > 0):
        raise app.UsageError(f"--factor={FLAGS.factor}: must be > 0")
    if FLAGS.max_len is not None and FLAGS.max_len <= 0:
        raise app.UsageError(f"--max_len={FLAGS.max_len}: must be > 0")


def _check_outputs() -> None:
    """Raises ``ValueError`` naming the flag (a path problem is not a usage error: exit 2)."""
    from sketch_rnn.files import check_output_path, same_path

    inputs = [FLAGS.log_root, FLAGS.model, FLAGS.a, FLAGS.b, FLAGS.data]
    check_output_path(FLAGS.out, inputs=inputs, suffixes=(".svg", ".png"))
    if FLAGS.npy_out:
        check_output_path(FLAGS.npy_out, inputs=inputs, flag="npy_out", suffixes=(".npy",))
        if same_path(FLAGS.out, FLAGS.npy_out):
            raise ValueError(f"--out and --npy_out name the same file ({FLAGS.out})")


def _read_endpoints() -> tuple[np.ndarray, np.ndarray]:
    """The two drawings as stored (files: as given; a dataset: clamped data units)."""
    if FLAGS.data:
        from sketch_rnn.data import load_npz
        from sketch_rnn.strokes import clamp

        splits = load_npz(FLAGS.data)
        if FLAGS.split not in splits:
            raise ValueError(f"--split={FLAGS.split}: {FLAGS.data} has splits {sorted(splits)}")
        drawings = splits[FLAGS.split]
        pair = []
        for flag, i in (("index_a", FLAGS.index_a), ("index_b", FLAGS.index_b)):
            if not 0 <= i < len(drawings):
                raise ValueError(
                    f"--{flag}={i}: the {FLAGS.split} split has {len(drawings)} drawings "
                    f"(0..{len(drawings) - 1})"
                )
            pair.append(clamp(np.asarray(drawings[i], np.float32)))
        return pair[0], pair[1]
    return read_strokes(FLAGS.a, "a"), read_strokes(FLAGS.b, "b")


def _to_model_units(model, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sketch_rnn.strokes import to_model_units

    scaled = FLAGS.data or FLAGS.units == "pixels"
    factor = model.config.units_per_model_unit() if scaled else 1.0
    return to_model_units(a, factor), to_model_units(b, factor)


def main(argv) -> int:
    del argv
    _check_flags()
    try:
        _check_outputs()
    except ValueError as e:
        print(f"sketch_rnn_interpolate: error: {e}", file=sys.stderr)
        return 2
    import_backend()
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.draw import save, strip_svg
    from sketch_rnn.latent import morph

    try:
        # The drawings are read first: a bad file or index costs no model loading.
        a, b = _read_endpoints()
        model = load_model(FLAGS.log_root or FLAGS.model)
        a, b = _to_model_units(model, a, b)
        drawings = morph(
            model,
            a,
            b,
            n=FLAGS.steps,
            method=FLAGS.method,
            temperature=FLAGS.temperature,
            seed=FLAGS.seed,
            greedy=FLAGS.greedy,
            max_len=FLAGS.max_len,
        )
        labels = [f"{t:.2f}" for t in np.linspace(0, 1, FLAGS.steps)] if FLAGS.labels else None
        svg = strip_svg(
            drawings, factor=FLAGS.factor, labels=labels, color_by_stroke=FLAGS.color_by_stroke or False
        )
        save(svg, FLAGS.out, size=FLAGS.png_size)
        if FLAGS.npy_out:
            save_drawings_npy(FLAGS.npy_out, drawings)
    except (OSError, ValueError) as e:
        print(f"sketch_rnn_interpolate: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(drawings)} drawings ({FLAGS.method}) in {os.path.abspath(FLAGS.out)}", file=sys.stderr)
    return 0


def run():
    """Console-script entry point."""
    run_absl_app(main, __name__)


if __name__ == "__main__":
    run()

"""Training curve of a ``sketch_rnn_train`` run, from its TensorBoard events: CSV and SVG plot.

Used to document ``checkpoints/aaron_sheep`` (see ``checkpoints/README.md``)::

    python checkpoints/training_curve.py RUN_DIR --out checkpoints/aaron_sheep/training_curve
"""

from __future__ import annotations

import argparse
import csv
import glob
import os

import numpy as np
import svgwrite

SERIES = ("Train_Cost", "Train_Reconstr_Cost", "Train_KL_Cost", "Valid_Cost", "Valid_Reconstr_Cost",
          "Valid_KL_Cost", "KL_Weight")
COLOURS = {"Train_Cost": "#1f77b4", "Train_Reconstr_Cost": "#aec7e8", "Train_KL_Cost": "#9edae5",
           "Valid_Cost": "#d62728", "Valid_Reconstr_Cost": "#ff9896", "Valid_KL_Cost": "#f7b6d2",
           "KL_Weight": "#7f7f7f"}


def read_scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` for every scalar summary under ``run_dir`` (sorted by step)."""
    import tensorflow as tf

    out: dict[str, dict[int, float]] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "**", "events.out.tfevents.*"), recursive=True)):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                # TF2 summaries keep the scalar in a tensor proto; older writers in simple_value.
                number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                          else float(value.simple_value))
                out.setdefault(value.tag, {})[int(event.step)] = number  # a resumed run rewrites steps
    return {tag: sorted(points.items()) for tag, points in out.items()}


def plot_svg(scalars: dict[str, list[tuple[int, float]]], path: str, width: int = 720,
             height: int = 360) -> None:
    """Costs against step, one polyline per series (train costs smoothed over 5 points)."""
    margin = 50
    tags = [t for t in SERIES if t in scalars and t != "KL_Weight"]
    steps = [s for t in tags for s, _ in scalars[t]]
    values = [v for t in tags for _, v in scalars[t]]
    x0, x1 = 0, max(steps)
    y0, y1 = min(0.0, min(values)), max(values)
    dwg = svgwrite.Drawing(path, size=(width, height))
    dwg.add(dwg.rect((0, 0), (width, height), fill="white"))

    def xy(step, value):
        return (margin + (width - 2 * margin) * (step - x0) / max(x1 - x0, 1),
                height - margin - (height - 2 * margin) * (value - y0) / max(y1 - y0, 1e-9))

    dwg.add(dwg.line(xy(x0, y0), xy(x1, y0), stroke="black"))
    dwg.add(dwg.line(xy(x0, y0), xy(x0, y1), stroke="black"))
    for v in np.linspace(y0, y1, 5):
        dwg.add(dwg.text(f"{v:.2f}", insert=(4, xy(x0, v)[1] + 4), font_size=11))
    for s in np.linspace(x0, x1, 5):
        dwg.add(dwg.text(f"{int(s)}", insert=(xy(s, y0)[0] - 10, height - margin + 16), font_size=11))
    for i, tag in enumerate(tags):
        pts = np.array(scalars[tag], dtype=np.float64)
        if tag.startswith("Train") and len(pts) >= 5:
            kernel = np.ones(5) / 5
            pts = np.column_stack([pts[2:-2, 0], np.convolve(pts[:, 1], kernel, mode="valid")])
        dwg.add(dwg.polyline([xy(s, v) for s, v in pts], fill="none", stroke=COLOURS[tag], stroke_width=1.5))
        if tag.startswith("Valid"):  # evaluated every save_every steps: mark each evaluation
            for s, v in pts:
                dwg.add(dwg.circle(xy(s, v), r=2.5, fill=COLOURS[tag]))
        dwg.add(dwg.text(tag, insert=(width - margin - 150, margin + 14 * i), font_size=11,
                         fill=COLOURS[tag]))
    dwg.add(dwg.text("step", insert=(width / 2, height - 8), font_size=12))
    dwg.save()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--out", required=True, help="path prefix: writes PREFIX.csv and PREFIX.svg")
    args = ap.parse_args()
    scalars = read_scalars(args.run_dir)
    if not scalars:
        raise SystemExit(f"{args.run_dir}: no TensorBoard scalars found")
    tags = [t for t in SERIES if t in scalars]
    table = {t: dict(scalars[t]) for t in tags}
    steps = sorted({s for t in tags for s in table[t]})
    with open(args.out + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", *tags])
        for s in steps:
            w.writerow([s, *(f"{table[t][s]:.5f}" if s in table[t] else "" for t in tags)])
    plot_svg(scalars, args.out + ".svg")
    print(f"{len(steps)} steps -> {args.out}.csv, {args.out}.svg")


if __name__ == "__main__":
    main()

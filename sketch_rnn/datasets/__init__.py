"""Build Sketch-RNN datasets from real drawings, and inspect them.

QuickDraw ndjson (raw and simplified) and ``.bin`` files and SVG line art become int16 stroke-3
sketches; :func:`build_dataset` and :func:`write_npz` write them in the exact ``.npz`` layout the
reference loader reads; :func:`dataset_info` and :func:`show_dataset` look inside such files.
The same steps run from the command line as ``sketch_rnn_data convert | info | show``.

Pure numpy (plus ``svgelements`` for SVG); nothing here imports the model or TensorFlow.

Example:
    >>> from sketch_rnn.datasets import convert_inputs, build_dataset, write_npz
    >>> result = convert_inputs(["quickdraw/raw/cat.ndjson"])  # doctest: +SKIP
    >>> data = build_dataset(result.sketches, splits=(0.8, 0.1, 0.1), seed=0)  # doctest: +SKIP
    >>> write_npz("cat.npz", data)  # doctest: +SKIP
"""

from sketch_rnn.datasets.convert import Converted, convert_inputs, convert_svg_files, find_inputs
from sketch_rnn.datasets.inspect import (
    DatasetInfo,
    SplitInfo,
    dataset_info,
    format_info,
    show_dataset,
)
from sketch_rnn.datasets.polylines import PackedDrawings
from sketch_rnn.datasets.progress import Progress
from sketch_rnn.datasets.quickdraw import (
    QuickDrawRecord,
    convert_quickdraw,
    detect_kind,
    parse_ndjson_line,
    read_bin,
    read_ndjson,
    records_to_stroke3,
)
from sketch_rnn.datasets.report import NoUsableDataError, Problem, Report
from sketch_rnn.datasets.simplify import (
    normalize_drawings,
    quickdraw_simplify,
    rdp,
    rdp_mask,
    resample,
    simplify_stroke3,
)
from sketch_rnn.datasets.svg import svg_to_lines, svg_to_strokes
from sketch_rnn.datasets.writer import (
    Dataset,
    build_dataset,
    parse_splits,
    split_sizes,
    write_npz,
)

__all__ = [
    "Converted",
    "Dataset",
    "DatasetInfo",
    "NoUsableDataError",
    "PackedDrawings",
    "Problem",
    "Progress",
    "QuickDrawRecord",
    "Report",
    "SplitInfo",
    "build_dataset",
    "convert_inputs",
    "convert_quickdraw",
    "convert_svg_files",
    "dataset_info",
    "detect_kind",
    "find_inputs",
    "format_info",
    "normalize_drawings",
    "parse_ndjson_line",
    "parse_splits",
    "quickdraw_simplify",
    "rdp",
    "rdp_mask",
    "read_bin",
    "read_ndjson",
    "records_to_stroke3",
    "resample",
    "show_dataset",
    "simplify_stroke3",
    "split_sizes",
    "svg_to_lines",
    "svg_to_strokes",
    "write_npz",
]

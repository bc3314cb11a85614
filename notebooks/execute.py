"""Run the notebooks top to bottom and save them in place, so the committed copies carry outputs.

From the repository root, once the pretrained model is in ``checkpoints/aaron_sheep``::

    pip install -e ".[test]"             # nbclient, nbformat, ipykernel
    python notebooks/execute.py          # both notebooks; or name some: notebooks/sketch_rnn.ipynb

The notebooks read ``SKETCH_RNN_MODEL`` / ``SKETCH_RNN_DATA`` (defaults ``../checkpoints/aaron_sheep``
and ``../datasets/aaron_sheep``, relative to ``notebooks/``) and ``SKETCH_RNN_NB_FAST``; set them to
fill the outputs from another model (relative paths here are taken from the current directory).
The notebooks' source is not changed, only their outputs.

Before saving, a picture keeps one form (``sketch_rnn.draw.SVG`` offers each picture as SVG, as PNG and
as plain text, which is the SVG document again): by default SVG, unless the SVG is over 64 kB and
the PNG is smaller, as for a grid or map of hundreds of sketches, several times larger as SVG path
text (``--form=svg`` keeps SVG only, ``--form=all`` everything). TensorFlow's C++ start-up log
lines on stderr are dropped and cells carry no timing metadata: smaller files, smaller diffs.
Outputs that mention this machine's absolute paths are reported (they should not be committed).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ("sketch_rnn.ipynb", "latent_space.ipynb")
PATH_VARIABLES = ("SKETCH_RNN_MODEL", "SKETCH_RNN_DATA")
# TensorFlow's C++ logging (absl) writes these to the process's stderr at import, whatever
# TF_CPP_MIN_LOG_LEVEL says; ipykernel copies them into the cell's outputs.
SVG_LIMIT = 64_000  # characters; larger SVG pictures are kept as PNG where that is smaller
TF_LOG_LINE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} \d\d:\d\d:")


def execute(path: Path, out: Path | None = None, timeout: int = 900, form: str = "auto") -> object:
    """Execute the notebook at ``path`` with ``notebooks/`` as the kernel's working directory and
    write it to ``out`` (default: in place); returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    client.execute()
    tidy_outputs(nb, form)
    nbformat.write(nb, out or path)
    return nb


def tidy_outputs(nb, form: str = "auto") -> None:
    """Keep one form of each picture (``form``: ``"auto"``, ``"svg"`` or ``"all"``) and drop
    TensorFlow's start-up log lines (see the module docstring)."""
    for cell in nb.cells:
        kept = []
        for output in cell.get("outputs", ()):
            data = output.get("data", {})
            if "image/svg+xml" in data and form != "all":
                data.pop("text/plain", None)
                svg, png = len(data["image/svg+xml"]), len(data.get("image/png", ""))  # as stored (base64)
                if form == "auto" and svg > SVG_LIMIT and 0 < png < svg:
                    data.pop("image/svg+xml")
                else:
                    data.pop("image/png", None)
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output.text.splitlines(keepends=True)
                output.text = "".join(line for line in lines if not TF_LOG_LINE.match(line))
                if not output.text:
                    continue
            kept.append(output)
        if "outputs" in cell:
            cell.outputs = kept


def local_paths(nb) -> list[str]:
    """Absolute paths of this machine that the outputs mention (home, repository, Python prefix)."""
    needles = {str(Path.home()), str(HERE.parent), sys.prefix}
    needles.discard("/")
    found = []
    for i, cell in enumerate(nb.cells):
        text = str(cell.get("outputs", ""))
        found += [f"cell {i}: {needle}" for needle in sorted(needles) if needle in text]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: both)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    parser.add_argument("--form", choices=("auto", "svg", "all"), default="auto",
                        help="which forms of each picture to keep (default: SVG, PNG for large pictures)")
    args = parser.parse_args(argv)
    # The kernels run in notebooks/: paths given relative to the caller's directory must not move.
    for name in PATH_VARIABLES:
        if os.environ.get(name):
            os.environ[name] = os.path.abspath(os.environ[name])
    # TensorFlow's C++ info and warning lines go to the process's stderr, which ipykernel copies
    # into the outputs; they say nothing about the notebook.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    status = 0
    for path in args.notebooks or [HERE / name for name in NOTEBOOKS]:
        start = time.monotonic()
        print(f"{path}: running ...", flush=True)
        nb = execute(path, timeout=args.timeout, form=args.form)
        print(f"{path}: done in {time.monotonic() - start:.0f} s", flush=True)
        for where in local_paths(nb):
            print(f"{path}: an output mentions a local path ({where})", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

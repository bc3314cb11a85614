"""``sketch_rnn_sample``: writes a valid SVG (or PNG) grid, continues a drawing, rejects bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn.checkpoint import save_model
from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    hps = HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, max_seq_len=20)
    folder = tmp_path_factory.mktemp("model")
    save_model(SketchRNN(hps, scale_factor=3.0), folder)
    return folder


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sketch_rnn.cli.sample", *args], capture_output=True, text=True, timeout=300
    )


def check_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    paths = root.findall(f".//{SVG}path")
    assert paths and all(p.get("d", "").startswith("M") for p in paths)
    return root


def test_sample_and_complete(model_dir, tmp_path):
    """One process per command (TF start-up): a sample grid, then a completion from .json."""
    out = tmp_path / "grid.svg"
    npy = tmp_path / "grid.npy"
    done = run_cli(
        f"--log_root={model_dir}",
        "--num=4",
        "--temperature=0.5",
        f"--out={out}",
        "--seed=1",
        f"--npy_out={npy}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    check_svg(out)
    drawings = np.load(npy, allow_pickle=True)
    assert len(drawings) == 4 and all(d.shape[1] == 3 for d in drawings)

    prefix = [[3.0, 0.0, 0], [0.0, 3.0, 1], [1.5, 1.5, 0]]
    src = tmp_path / "start.json"
    src.write_text(json.dumps(prefix))
    out2 = tmp_path / "done.svg"
    done = run_cli(
        f"--log_root={model_dir}",
        "--num=3",
        f"--out={out2}",
        f"--complete={src}",
        "--units=pixels",
        "--seed=2",
        "--max_len=6",
        f"--npy_out={npy}",
        "--greedy",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    check_svg(out2)
    completions = np.load(npy, allow_pickle=True)
    assert len(completions) == 3
    for d in completions:
        np.testing.assert_array_equal(d[:3], np.asarray(prefix, np.float32))
        assert len(d) <= 3 + 6


def test_bad_input(model_dir, tmp_path):
    """An empty priming drawing: a clear error, exit status 2, no SVG written."""
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((0, 3), np.float32))
    done = run_cli(f"--log_root={model_dir}", f"--complete={bad}", f"--out={tmp_path / 'x.svg'}")
    assert done.returncode == 2 and "empty" in done.stderr
    assert not (tmp_path / "x.svg").exists()


def test_png_output(model_dir, tmp_path):
    """``--out`` ending in .png: a PNG of the requested size, strokes coloured by their order."""
    from PIL import Image

    # Continuations of a drawn prefix: the untrained model often ends a sketch at once, and the
    # prefix (kept in the output) makes sure there are strokes to see.
    src = tmp_path / "start.json"
    src.write_text(json.dumps([[9.0, 0.0, 0], [0.0, 9.0, 0], [-9.0, 0.0, 1]]))
    out = tmp_path / "grid.png"
    done = run_cli(
        f"--log_root={model_dir}",
        "--num=4",
        "--seed=3",
        "--max_len=10",
        f"--complete={src}",
        "--units=pixels",
        f"--out={out}",
        "--png_size=160",
        "--color_by_stroke=palette",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    img = Image.open(out)
    assert img.format == "PNG" and max(img.size) == 160
    assert np.asarray(img.convert("L")).min() < 200  # something is drawn

"""``sketch_rnn_interpolate``: a strip from two drawing files (SVG) or two dataset drawings (PNG), and
clear errors for bad input. Each process pays TensorFlow's start-up, so the bad inputs all run in
one process through ``main`` (absl flags are process-global: parsed afresh for every case)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sketch_rnn.checkpoint import save_model
from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN

SVG = "{http://www.w3.org/2000/svg}"
TINY = dict(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, max_seq_len=12)
A = [[3.0, 0.0, 0], [0.0, 3.0, 1], [1.5, 1.5, 0], [-3.0, 0.0, 1]]
B = [[0.0, 3.0, 0], [3.0, 0.0, 1]]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("models")
    save_model(SketchRNN(HParams(**TINY), scale_factor=3.0), folder / "vae")
    save_model(SketchRNN(HParams(**TINY, conditional=False)), folder / "uncond")
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "a.json").write_text(json.dumps(A))
    np.save(folder / "b.npy", np.asarray(B, np.float32))
    splits = {}
    for k, n in (("train", 3), ("valid", 2), ("test", 4)):
        arr = np.empty(n, dtype=object)
        # Offsets scaled per drawing; the pen column stays 0/1.
        arr[:] = [np.asarray(A if i % 2 else B, np.int16) * np.int16([i + 1, i + 1, 1]) for i in range(n)]
        splits[k] = arr
    np.savez(folder / "tiny.npz", **splits)
    return folder


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sketch_rnn.cli.interpolate", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_files_to_svg_strip(models, inputs, tmp_path):
    out, npy = tmp_path / "strip.svg", tmp_path / "strip.npy"
    done = run_cli(
        f"--log_root={models / 'vae'}",
        f"--a={inputs / 'a.json'}",
        f"--b={inputs / 'b.npy'}",
        "--steps=5",
        "--method=lerp",
        "--temperature=0.3",
        "--seed=2",  # (stateless draws: the untrained model ends every sketch at once for some seeds)
        "--max_len=8",
        "--labels",
        f"--out={out}",
        f"--npy_out={npy}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "5 drawings (lerp)" in done.stderr
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    assert [t.text for t in root.findall(f"{SVG}text")] == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    drawings = np.load(npy, allow_pickle=True)
    assert len(drawings) == 5 and all(d.shape[1] == 3 and len(d) <= 8 for d in drawings)
    # One path per drawing (none for a drawing that ended at once).
    assert len(root.findall(f"{SVG}path")) == sum(len(d) > 0 for d in drawings) > 0


def test_dataset_drawings_to_png(models, inputs, tmp_path):
    out = tmp_path / "strip.png"
    done = run_cli(
        f"--model={models / 'vae'}",
        f"--data={inputs / 'tiny.npz'}",
        "--index_a=0",
        "--index_b=3",
        "--steps=3",
        "--seed=0",
        "--max_len=6",
        "--png_size=300",
        "--color_by_stroke=hsv",
        f"--out={out}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    img = Image.open(out)
    assert img.format == "PNG" and max(img.size) == 300


BAD = [
    # (arguments, exit: "usage" or a status, words in the message)
    ([], "usage", "--log_root or --model"),
    (["--log_root=M", "--model=M", "--a=A", "--b=B"], "usage", "one of them"),
    (["--log_root=M", "--a=A"], "usage", "both --a and --b"),
    (["--log_root=M", "--a=A", "--b=B", "--data=D"], "usage", "not both"),
    (["--log_root=M", "--data=D", "--index_a=0"], "usage", "--index_b"),
    (["--log_root=M", "--a=A", "--b=B", "--steps=1"], "usage", "--steps=1: must be >= 2"),
    (["--log_root=M", "--a=A", "--b=B", "--out=x.jpg"], "usage", ".svg or .png"),
    (["--log_root=M", "--a=A", "--b=B", "--temperature=0"], "usage", "--temperature=0.0"),
    (["--log_root=M", "--a=A", "--b=A.txt"], 2, "a.txt: expected a .npy or .json stroke-3 file"),
    (["--log_root=M", "--a=A", "--b=EMPTY"], 2, "empty.npy: expected a non-empty stroke-3"),
    (["--log_root=M", "--a=A", "--b=MISSING.npy"], 2, "missing.npy: no such file"),
    (["--log_root=M", "--a=BAD", "--b=B"], 2, "bad.json: not a stroke-3 drawing (Expecting"),
    (["--log_root=M", "--a=RAGGED", "--b=B"], 2, "ragged.json: not a stroke-3 drawing"),
    (["--log_root=M", "--a=A", "--b=GARBAGE"], 2, "garbage.npy: not a stroke-3 drawing (not a .npy file)"),
    (["--log_root=M", "--a=A", "--b=OBJECT"], 2, "object.npy: not a stroke-3 drawing"),
    (["--log_root=M", "--a=A", "--b=TWOCOLS"], 2, "twocols.npy: expected a non-empty stroke-3 array [L, 3]"),
    (["--log_root=M", "--a=NAN", "--b=B"], 2, "nan.json: contains NaN"),
    (["--log_root=M", "--data=D", "--index_a=0", "--index_b=9"], 2, "--index_b=9: the test split has 4"),
    (["--log_root=M", "--data=D", "--split=dev", "--index_a=0", "--index_b=1"], 2, "--split=dev"),
    (["--log_root=U", "--a=A", "--b=B"], 2, "unconditional"),
    (["--log_root=NOWHERE", "--a=A", "--b=B"], 2, "NOWHERE"),
]

SCRIPT = """
import contextlib, io, json, sys
from absl import app
import sketch_rnn.cli.interpolate as cli
results = []
for argv in json.loads(sys.argv[1]):
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["sketch_rnn_interpolate", *argv])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main([])
        except app.UsageError as e:
            code, err = "usage", io.StringIO(str(e))
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def test_bad_input_clear_messages(models, inputs, tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 3), np.float32))
    np.save(tmp_path / "twocols.npy", np.zeros((4, 2), np.float32))
    np.save(tmp_path / "object.npy", np.array([np.zeros((2, 3)), np.zeros((3, 3))], dtype=object),
            allow_pickle=True)
    (tmp_path / "garbage.npy").write_bytes(b"not an array")
    (tmp_path / "bad.json").write_text("[[1, 2, 0],")
    (tmp_path / "ragged.json").write_text("[[1, 2, 0], [3, 4]]")
    (tmp_path / "nan.json").write_text("[[1, 2, 0], [NaN, 4, 1]]")
    names = {
        "M": models / "vae",
        "U": models / "uncond",
        "A": inputs / "a.json",
        "B": inputs / "b.npy",
        "D": inputs / "tiny.npz",
        "EMPTY": tmp_path / "empty.npy",
        "A.txt": tmp_path / "a.txt",
        "NOWHERE": tmp_path / "NOWHERE",
        "MISSING.npy": tmp_path / "missing.npy",
        **{name.split(".")[0].upper(): tmp_path / name for name in
           ("twocols.npy", "object.npy", "garbage.npy", "bad.json", "ragged.json", "nan.json")},
    }

    def fill(arg):
        flag, _, value = arg.partition("=")
        return f"{flag}={names.get(value, value)}" if value else arg

    cases = [
        [fill(a) for a in args] + [f"--out={tmp_path / 'x.svg'}"] * ("--out" not in str(args))
        for args, _, _ in BAD
    ]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(cases)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for (args, code, words), (got_code, message) in zip(BAD, results, strict=True):
        assert got_code == code, (args, got_code, message)
        assert words in message, (args, message)
    assert not (tmp_path / "x.svg").exists()

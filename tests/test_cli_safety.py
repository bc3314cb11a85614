"""Nothing lost, nothing crashes: no command writes over its own input or a model it was not asked
to replace, and bad flags or output paths fail at once with a message naming them.

The refusals that must come before any work are run with a model path that does not exist: had
the command loaded the model first, the message would be about the model, not the flag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn.checkpoint import load_model, save_model, weights_equal
from sketch_rnn.files import OutputPathError, atomic_path, check_output_path
from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN

TINY = dict(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, max_seq_len=12)
DRAWING = {"word": "cat", "drawing": [[[0, 10, 20], [0, 5, 10]], [[30, 40], [30, 45]]]}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("run") / "model"
    save_model(SketchRNN(HParams(**TINY), scale_factor=3.0), folder)
    return folder


@pytest.fixture
def ndjson(tmp_path) -> Path:
    path = tmp_path / "cats.ndjson"
    path.write_text("\n".join(json.dumps(DRAWING) for _ in range(6)) + "\n")
    return path


@pytest.fixture
def npz(tmp_path) -> Path:
    splits = {}
    for k in ("train", "valid", "test"):
        arr = np.empty(3, dtype=object)
        arr[:] = [np.array([[0, 0, 0], [i + 1, 2, 0], [3, -1, 1]], np.int16) for i in range(3)]
        splits[k] = arr
    path = tmp_path / "tiny.npz"
    np.savez(path, **splits)
    return path


# --- the shared check ------------------------------------------------------------------------


def test_check_output_path_rules(tmp_path):
    src = tmp_path / "in.npz"
    src.write_bytes(b"data")
    (tmp_path / "link.svg").symlink_to(src)
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "model").mkdir()
    cases = [
        (dict(path=tmp_path / "." / "in.npz", inputs=[src]), "would overwrite the input"),
        (dict(path=tmp_path / "link.svg", inputs=[src]), "would overwrite the input"),
        (dict(path=tmp_path / "folder.svg"), "is a folder"),
        (dict(path=f"{tmp_path / 'out'}/", suffixes=(".svg",)), "is a folder"),
        (dict(path=src / "below.svg"), f"{src} is a file, not a folder"),
        (dict(path=src / "deeper" / "below.svg"), f"{src} is a file, not a folder"),
        (dict(path=tmp_path / "x.txt", suffixes=(".svg", ".png")), "expected a .svg or .png file"),
        (dict(path=tmp_path / "model" / "sub", folder=True, protected=[tmp_path / "model"]),
         "which this command reads"),
        (dict(path=src, folder=True), "is a file, not a folder"),
        (dict(path=""), "is empty"),
    ]
    for kw, words in cases:
        with pytest.raises(OutputPathError) as info:
            check_output_path(kw.pop("path"), flag="grid", **kw)
        assert str(info.value).startswith("--grid=") and words in str(info.value), (kw, info.value)
    # Fine: a new file in folders still to be made, and an input that does not exist yet.
    assert check_output_path(tmp_path / "new" / "a.svg", inputs=[tmp_path / "no.svg"],
                             suffixes=(".svg",)) == str(tmp_path / "new" / "a.svg")
    assert src.read_bytes() == b"data"


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path, ".csv") as tmp:
        Path(tmp).write_text("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["r.csv"]


# --- sketch_rnn_data --------------------------------------------------------------------------


def data_cli(*args) -> int:
    from sketch_rnn.cli.data import main

    return main(["sketch_rnn_data", *map(str, args)])


def test_data_show_never_writes_over_its_dataset(npz, tmp_path, capsys):
    before = npz.read_bytes()
    (tmp_path / "alias.svg").symlink_to(npz)
    for out in (npz, tmp_path / "alias.svg"):
        assert data_cli("show", npz, f"--out={out}") == 2
        assert "would overwrite the input" in capsys.readouterr().err
    assert npz.read_bytes() == before and np.load(npz, allow_pickle=True)["train"].shape == (3,)


def test_data_convert_never_writes_over_its_input(ndjson, tmp_path, monkeypatch, capsys):
    before = ndjson.read_bytes()
    monkeypatch.chdir(tmp_path)
    for out in (ndjson, f"./{ndjson.name}"):
        assert data_cli("convert", ndjson.name, f"--out={out}", "--workers=1") == 2
        err = capsys.readouterr().err
        assert "would overwrite the input" in err and f"--out={out}" in err
    assert ndjson.read_bytes() == before


def test_data_convert_refuses_a_dataset_as_input(npz, tmp_path, capsys):
    before = npz.read_bytes()
    assert data_cli("convert", npz, f"--out={tmp_path / 'again.npz'}") == 2
    assert ".npz is already a dataset; convert takes .ndjson, .bin or .svg" in capsys.readouterr().err
    assert npz.read_bytes() == before and not (tmp_path / "again.npz").exists()
    (tmp_path / "notes.txt").write_text("{}")
    assert data_cli("convert", tmp_path / "notes.txt", f"--out={tmp_path / 'n.npz'}") == 2
    assert "unknown input type .txt" in capsys.readouterr().err


def test_data_output_paths_are_checked_before_converting(ndjson, tmp_path, capsys):
    (tmp_path / "taken.npz").mkdir()
    cases = [
        ("convert", tmp_path / "taken.npz", "is a folder"),
        ("convert", ndjson / "below.npz", f"cannot be created: {ndjson} is a file, not a folder"),
        ("convert", tmp_path / "data.svg", "expected a .npz file name"),
        ("show", tmp_path / "grid.png", "expected a .svg file name"),
    ]
    for command, out, words in cases:
        # A missing .npz for show: had the dataset been read first, the error would name it.
        source = ndjson if command == "convert" else tmp_path / "missing.npz"
        assert data_cli(command, source, f"--out={out}", "--workers=1") == 2
        err = capsys.readouterr().err
        assert f"--out={out}: {words}" in err, err
    assert data_cli("convert", ndjson, f"--out={tmp_path / 'new' / 'ok.npz'}", "--workers=1",
                    "--splits=2,2,2", "--noprogress") == 0
    assert (tmp_path / "new" / "ok.npz").is_file()


# --- sketch_rnn_export ------------------------------------------------------------------------


def export_cli(*args) -> int:
    from sketch_rnn.cli.export import main_args

    return main_args([str(a) for a in args])


def test_export_never_touches_the_model_it_reads(model_dir, tmp_path, capsys):
    before = snapshot(model_dir)
    (tmp_path / "alias").symlink_to(model_dir)
    cases = [
        (["--out", model_dir], "would overwrite the input"),
        (["--out", model_dir, "--overwrite"], "would overwrite the input"),
        (["--out", tmp_path / "alias", "--overwrite"], "would overwrite the input"),
        (["--out", model_dir / "tf1"], "which this command reads"),
        (["--out", model_dir / "m.gen.json"], "which this command reads"),
    ]
    for extra, words in cases:
        assert export_cli("--log_root", model_dir, *extra) == 2
        assert words in capsys.readouterr().err, extra
    assert export_cli("--log_root", tmp_path / "alias", "--out", model_dir, "--overwrite") == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert snapshot(model_dir) == before
    load_model(model_dir)


def test_export_needs_overwrite_for_a_folder_holding_a_model(model_dir, tmp_path, capsys):
    other = tmp_path / "other"
    save_model(SketchRNN(HParams(**TINY)), other)
    before = snapshot(other)
    assert export_cli("--log_root", model_dir, "--out", other) == 2
    assert "already holds a model or checkpoint; add --overwrite" in capsys.readouterr().err
    assert snapshot(other) == before
    (other / "notes.txt").write_text("mine")
    assert export_cli("--log_root", model_dir, "--out", other, "--overwrite", "--step=3") == 0
    # The old model's files are gone (no half-old, half-new folder), the user's other files stay.
    assert sorted(os.listdir(other)) == ["checkpoint", "model_config.json", "notes.txt",
                                         "vector-3.data-00000-of-00001", "vector-3.index"]
    assert weights_equal(load_model(model_dir), load_model(other))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_export_folder_names_must_not_look_like_files(model_dir, tmp_path, capsys):
    nowhere = tmp_path / "no_model"
    assert export_cli("--log_root", nowhere, "--out", tmp_path / "base.txt") == 2
    err = capsys.readouterr().err
    assert "base.txt: looks like a file name" in err and "*.gen.json or *.vae.json" in err
    assert "a name without a file suffix, or ending in /" in err
    assert not (tmp_path / "base.txt").exists()
    (tmp_path / "f").write_text("x")
    for out, words in ((tmp_path / "f" / "tf1", "is a file, not a folder"),
                       (tmp_path / "m.json", "must end in .gen.json or .vae.json")):
        assert export_cli("--log_root", nowhere, "--out", out) == 2
        assert words in capsys.readouterr().err
    assert export_cli("--log_root", model_dir, "--out", f"{tmp_path / 'v1.2'}/") == 0
    assert weights_equal(load_model(model_dir), load_model(tmp_path / "v1.2"))


# --- sketch_rnn_eval --------------------------------------------------------------------------


def eval_cli(*args) -> int:
    from sketch_rnn.cli.eval import main_args

    return main_args([str(a) for a in args])


def test_eval_flags_and_outputs_are_checked_first(ndjson, tmp_path, capsys):
    nowhere = tmp_path / "no_model"
    (tmp_path / "r.csv").mkdir()
    before = ndjson.read_bytes()
    cases = [
        (["--batch_size", "0"], "--batch_size=0: must be > 0"),
        (["--scale", "0"], "--scale=0.0: must be a finite number > 0"),
        (["--scale", "inf"], "--scale=inf: must be a finite number > 0"),
        (["--worst", "-1"], "--worst=-1: must be >= 0"),
        (["--csv", tmp_path / "r.csv"], f"--csv={tmp_path / 'r.csv'}: is a folder"),
        (["--csv", ndjson / "r.csv"], f"{ndjson} is a file, not a folder"),
        (["--csv", ndjson], "would overwrite the input"),
        (["--worst_svg", tmp_path / "w.png"], "--worst_svg=" + str(tmp_path / "w.png")),
        (["--csv", tmp_path / "a.csv", "--worst_svg", tmp_path / "a.csv"], "expected a .svg"),
    ]
    for extra, words in cases:
        assert eval_cli("--model", nowhere, "--data", ndjson, *extra) == 2
        assert words in capsys.readouterr().err, extra
    assert eval_cli("--model", nowhere, "--data", tmp_path / "d.txt") == 2
    assert "--data=" in capsys.readouterr().err
    assert ndjson.read_bytes() == before


def test_eval_reports_skipped_ndjson_lines(model_dir, tmp_path, capsys):
    data = tmp_path / "mixed.ndjson"
    data.write_text(json.dumps(DRAWING) + "\n{broken\n\n" + json.dumps({"drawing": []}) + "\n"
                    + json.dumps(DRAWING) + "\n")
    csv = tmp_path / "r.csv"
    assert eval_cli("--model", model_dir, "--data", data, "--csv", csv) == 0
    out, err = capsys.readouterr()
    assert "sketch_rnn_eval: warning:" in err and "skipped 2 bad line(s) of 4" in err
    assert "mixed.ndjson:2" in err and "mixed.ndjson:4" in err and "empty drawing" in err
    assert "sketches" in out and "(2 bad lines skipped)" in out
    assert len(csv.read_text().splitlines()) == 3


# --- sketch_rnn_sample / sketch_rnn_interpolate (absl global flags: one process per tool) ------

SCRIPT = """
import contextlib, io, json, sys
from absl import app
import sketch_rnn.sampling
cli = __import__(sys.argv[1], fromlist=["main"])
def refuse(*a, **k):
    raise ValueError("temperature must be finite and > 0")
results = []
for argv, patch in json.loads(sys.argv[2]):
    if patch:
        sketch_rnn.sampling.sample = refuse
    cli.FLAGS.unparse_flags()
    cli.FLAGS([cli.__name__, *argv])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main([])
        except app.UsageError as e:
            code, err = "usage", io.StringIO(str(e))
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def run_cases(module: str, cases: list) -> list:
    argvs = [[[str(a) for a in args], patch] for args, patch, _, _ in cases]
    done = subprocess.run([sys.executable, "-c", SCRIPT, module, json.dumps(argvs)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for (args, _, code, words), (got, message) in zip(cases, results, strict=True):
        assert got == code and words in message, (args, got, message)
    return results


def test_sample_refuses_bad_temperature_and_paths(model_dir, tmp_path):
    start = tmp_path / "start.npy"
    np.save(start, np.asarray([[3.0, 0.0, 0], [0.0, 3.0, 1]], np.float32))
    before = start.read_bytes()
    (tmp_path / "d.svg").mkdir()
    nowhere = f"--log_root={tmp_path / 'no_model'}"
    out = f"--out={tmp_path / 'x.svg'}"
    cases = [
        ([nowhere, "--temperature=inf", out], False, "usage", "--temperature=inf: must be a finite"),
        ([nowhere, "--temperature=nan", out], False, "usage", "--temperature=nan: must be a finite"),
        ([nowhere, "--factor=0", out], False, "usage", "--factor=0.0: must be > 0"),
        ([nowhere, f"--out={tmp_path / 'd.svg'}"], False, 2, "d.svg: is a folder"),
        ([nowhere, f"--out={start}/x.svg"], False, 2, "start.npy is a file, not a folder"),
        ([nowhere, out, f"--complete={start}", f"--npy_out={start}"], False, 2,
         "would overwrite the input"),
        ([nowhere, out, f"--npy_out={tmp_path / 'x.svg'}"], False, 2, "expected a .npy file name"),
        ([f"--log_root={model_dir}", out, "--num=2"], True, 2,
         "sketch_rnn_sample: error: temperature must be finite and > 0"),
    ]
    results = run_cases("sketch_rnn.cli.sample", cases)
    assert "Traceback" not in results[-1][1] and len(results[-1][1].strip().splitlines()) == 1
    assert start.read_bytes() == before and not (tmp_path / "x.svg").exists()


def test_interpolate_refuses_bad_temperature_and_paths(model_dir, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.npy"
    a.write_text(json.dumps([[3.0, 0.0, 0], [0.0, 3.0, 1]]))
    np.save(b, np.asarray([[0.0, 3.0, 0], [3.0, 0.0, 1]], np.float32))
    before = a.read_bytes(), b.read_bytes()
    (tmp_path / "d.png").mkdir()
    nowhere = f"--log_root={tmp_path / 'no_model'}"
    pair = [f"--a={a}", f"--b={b}"]
    cases = [
        ([nowhere, *pair, "--temperature=inf"], False, "usage", "--temperature=inf: must be a finite"),
        ([nowhere, *pair, "--temperature=-1"], False, "usage", "--temperature=-1.0"),
        ([nowhere, *pair, f"--out={tmp_path / 'd.png'}"], False, 2, "d.png: is a folder"),
        ([nowhere, *pair, f"--out={a}/m.svg"], False, 2, "a.json is a file, not a folder"),
        ([nowhere, *pair, f"--out={tmp_path / 'm.svg'}", f"--npy_out={b}"], False, 2,
         f"--npy_out={b}: would overwrite the input"),
        ([nowhere, *pair, f"--out={tmp_path / 'm.svg'}"], False, 2, "no_model"),
    ]
    run_cases("sketch_rnn.cli.interpolate", cases)
    assert (a.read_bytes(), b.read_bytes()) == before and not (tmp_path / "m.svg").exists()

"""``sketch_rnn_data convert | info | show`` end to end on the shared samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sketch_rnn.cli.data import main
from sketch_rnn.data import load_npz


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    path = shared_dir / "datasets"
    if not (path / "quickdraw_ndjson" / "raw").is_dir():
        pytest.skip(f"shared samples not found under {path}")
    return path


def run(*args: str) -> int:
    return main(["sketch_rnn_data", *map(str, args)])


def test_convert_info_show(samples, tmp_path, capsys):
    out = tmp_path / "mixed.npz"
    raw = samples / "quickdraw_ndjson" / "raw"
    rc = run("convert", raw / "cat.ndjson", raw / "pig.ndjson", samples / "svg" / "feather",
             f"--out={out}", "--splits=0.8,0.1,0.1", "--seed=1", "--workers=2")
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "converted 60, skipped 0" in captured.err and f"wrote {out}" in captured.out
    data = load_npz(out)
    assert sum(len(v) for v in data.values()) == 60
    with np.load(out, allow_pickle=False) as z:
        assert z["class_names"].tolist() == ["cat", "pig", "feather"]

    assert run("info", out) == 0
    info = capsys.readouterr().out
    assert "train: 52 sketches (int16)" in info and "classes (3): cat 21/2/2, pig 17/1/1" in info
    assert "normalising scale factor" in info and "first row (0, 0) in 52/52" in info

    grid = tmp_path / "grid.svg"
    assert run("show", out, "--n", "9", "--out", grid, "--split=valid") == 0
    text = grid.read_text()
    assert text.startswith("<?xml") and text.count("<path") == 1


def test_info_reports_the_reference_scale_factor(repo_dir, capsys):
    path = repo_dir / "datasets" / "aaron_sheep" / "aaron_sheep.npz"
    if not path.exists():
        pytest.skip("bundled aaron_sheep.npz not found")
    assert run("info", path) == 0
    out = capsys.readouterr().out
    assert "train: 7400 sketches" in out and "18.5198" in out and "max_seq_len" in out


def test_convert_options(samples, tmp_path, capsys):
    out = tmp_path / "owl.npz"
    rc = run("convert", samples / "quickdraw_ndjson" / "simplified" / "owl.ndjson",
             f"--out={out}", "--splits=10,5,5", "--batch_size=5", "--min_len=20",
             "--epsilon=1.0", "--labels=no", "--workers=1", "--noprogress")
    assert rc == 0, capsys.readouterr().err
    data = load_npz(out)
    assert [len(data[k]) for k in ("train", "valid", "test")] == [10, 5, 5]
    assert min(len(s) for v in data.values() for s in v) >= 20
    with np.load(out, allow_pickle=True) as z:
        assert "train_labels" not in z.files


def test_failures_leave_no_file_and_say_why(tmp_path, capsys):
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{broken\n" + json.dumps({"drawing": []}) + "\n")
    out = tmp_path / "never.npz"
    assert run("convert", bad, f"--out={out}", "--workers=1") == 1
    err = capsys.readouterr().err
    assert "no usable drawings" in err and "bad.ndjson:1" in err and "bad.ndjson:2" in err
    assert not out.exists()
    not_svg = tmp_path / "x.svg"
    not_svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'><text>hi</text></svg>")
    assert run("convert", not_svg, f"--out={out}") == 1
    assert "nothing drawable" in capsys.readouterr().err and not out.exists()
    assert run("info", tmp_path / "missing.npz") == 1
    assert "not found" in capsys.readouterr().err
    assert run("convert", bad) == 2  # --out missing
    assert run("frobnicate") == 2
    assert run("convert", bad, "--out=x.npz", "--no_such_flag") == 2
    assert run("convert", "--help") == 0
    assert "sketch_rnn_data convert" in capsys.readouterr().out


def test_bad_svgs_among_good_ones_are_listed(samples, tmp_path, capsys):
    folder = tmp_path / "icons"
    folder.mkdir()
    for name in ("star", "heart", "sun"):
        (folder / f"{name}.svg").write_bytes((samples / "svg" / "feather" / f"{name}.svg").read_bytes())
    (folder / "words.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg'><text id='t'>hi</text></svg>")
    (folder / "broken.svg").write_text("<svg><path d='M0 0 L1 1'")
    out = tmp_path / "icons.npz"
    assert run("convert", folder, f"--out={out}", "--splits=1,1,1", "--noprogress") == 0
    err = capsys.readouterr().err
    assert "converted 3, skipped 3" in err
    assert "text ignored: 1 (words.svg#t)" in err and "nothing drawable: 1 (words.svg)" in err
    assert "broken.svg" in err and "not an SVG document" in err
    assert sum(len(v) for v in load_npz(out).values()) == 3


def test_per_class_counts_name_the_short_class(tmp_path):
    from sketch_rnn.datasets.writer import build_dataset

    sketches = [np.array([[0, 0, 0], [1, 1, 1]], np.int16)] * 5
    with pytest.raises(ValueError, match="class 'dog': splits ask for 3"):
        build_dataset(sketches, labels=[0, 0, 0, 1, 1], class_names=["cat", "dog"],
                      splits=(1, 1, 1))


@pytest.mark.parametrize("name, scale, max_len", [
    ("kanji/kanji.rdp100.npz", 20.0838, 80), ("omniglot/omniglot.npz", 53.437, 157)])
def test_dataset_info_on_the_shared_npz_files(samples, name, scale, max_len):
    from sketch_rnn.datasets.inspect import dataset_info

    info = dataset_info(samples / name)
    assert round(info.scale_factor, 4) == pytest.approx(scale, abs=1e-4)
    assert info.max_seq_len == max_len and info.problems == []
    assert all(s.not_ending_in_lift == 0 for s in info.splits.values())

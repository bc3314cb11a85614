"""The README's two set-up commands stay true: CI runs the test one; the main job works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def _readme_commands(repo_dir):
    text = open(os.path.join(repo_dir, "README.md"), encoding="utf-8").read()
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", setup, flags=re.S)


def test_ci_runs_the_readme_test_command(repo_dir):
    commands = _readme_commands(repo_dir)
    assert len(commands) == 2
    ci = open(os.path.join(repo_dir, ".ci", "run"), encoding="utf-8").read()
    assert commands[1].strip() in ci.splitlines()


def test_quickstart_trains_saves_and_draws(repo_dir, tmp_path):
    first = _readme_commands(repo_dir)[0]
    assert "sketch_rnn_quickstart" in first
    log_root = tmp_path / "quickstart"
    run = subprocess.run(
        [sys.executable, "-m", "sketch_rnn.cli.quickstart", "--minutes=0.02", f"--log_root={log_root}",
         "--num=4"], capture_output=True, text=True, timeout=600, cwd=repo_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "sampled sheep" in run.stderr
    svg = ET.parse(log_root / "samples.svg").getroot()
    assert svg.tag.endswith("svg")
    # The shipped pretrained sheep draw first (checkpoints/aaron_sheep).
    pretrained = ET.parse(log_root / "pretrained_samples.svg").getroot()
    paths = pretrained.findall(".//{http://www.w3.org/2000/svg}path")
    assert paths and sum(len(p.get("d")) for p in paths) > 2000  # four sheep, not an empty grid
    from sketch_rnn.checkpoint import load_model

    model = load_model(log_root)
    assert model.config.dec_model == "layer_norm"
    assert abs(model.scale_factor - 18.5198) < 1e-4


def test_test_command_installs_the_pinned_browser_client(repo_dir):
    # tests/test_browser_client.py runs the real @magenta/sketch under Node; `npm ci` installs exactly
    # the committed lockfile (and fails if it disagrees with package.json), so the client is pinned.
    assert "npm ci --prefix tests/js" in _readme_commands(repo_dir)[1]
    js = os.path.join(repo_dir, "tests", "js")
    package = json.load(open(os.path.join(js, "package.json"), encoding="utf-8"))
    lock = json.load(open(os.path.join(js, "package-lock.json"), encoding="utf-8"))
    deps = package["dependencies"]
    assert "@magenta/sketch" in deps
    assert lock["packages"][""]["dependencies"] == deps
    for name, version in deps.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}@{version} is not an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert all(entry.get("integrity") for key, entry in lock["packages"].items() if key)


def test_console_scripts_help_lists_their_flags():
    # A console script's __main__ is pip's launcher, not the tool's module: run the entry points
    # from -c, as the launcher does, so that --help shows the tool's docstring and flags (the
    # README sends users to `sketch_rnn_train --help`).
    tools = {
        "train": ("train a SketchRNN with magenta's flags", "--log_root", "--[no]resume_training"),
        "sample": ("draw sketches from a trained model", "--log_root", "--complete"),
        "interpolate": ("morph one drawing into another", "--index_a", "--method"),
        "quickstart": ("the README's first command", "--minutes", "--pretrained"),
    }
    procs = {
        tool: subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.argv[0] = 'sketch_rnn_{tool}'; "
             f"from sketch_rnn.cli.{tool} import run; run()", "--help"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tool in tools
    }
    for tool, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert "Traceback" not in err, (tool, err[-2000:])  # absl's --help exits 1
        for text in tools[tool]:
            assert text in out + err, (tool, text, out[-2000:])


def test_readme_python_examples_run_as_written(repo_dir, tmp_path):
    # The README's two Python blocks, in order, from a folder holding the bundled data (as a clone
    # does), with the training cut from 2000 steps to 3: what users paste must keep working, and it
    # uses no deprecated name (a DeprecationWarning raised for the README's own code is an error).
    text = open(os.path.join(repo_dir, "README.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2 and "trainer.train(num_steps=2000)" in blocks[0]
    code = "\n".join(blocks).replace("trainer.train(num_steps=2000)", "trainer.train(num_steps=3)")
    os.symlink(os.path.join(repo_dir, "datasets"), tmp_path / "datasets")
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning:__main__", "-c", code],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("sheep.svg", "map.svg"):
        assert ET.parse(tmp_path / name).getroot().tag.endswith("svg")
    assert (tmp_path / "morph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "runs" / "sheep" / "model_config.json").is_file()


def _command_sections(repo_dir) -> dict[str, list[str]]:
    """``### <command>`` heading -> the command lines of its ``sh`` blocks."""
    text = open(os.path.join(repo_dir, "README.md"), encoding="utf-8").read()
    sections = {}
    for head, body in re.findall(r"^### (\S+)\n(.*?)(?=^##)", text + "\n##", flags=re.S | re.M):
        lines = " ".join(re.findall(r"```sh\n(.*?)\n```", body, flags=re.S)).replace("\\\n", " ")
        sections[head] = [line.strip() for line in lines.splitlines() if line.strip()]
    return sections


def test_every_console_script_has_a_readme_section_with_an_example(repo_dir):
    import tomllib

    with open(os.path.join(repo_dir, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    sections = _command_sections(repo_dir)
    for name in scripts:
        assert name in sections, f"README has no '### {name}' section"
        assert any(line.startswith(f"{name} ") for line in sections[name]), f"{name}: no example command"


def test_readme_data_examples_run_as_written(repo_dir, tmp_path, monkeypatch, capsys):
    import shlex

    from sketch_rnn.cli.data import main

    os.symlink(os.path.join(repo_dir, "datasets"), tmp_path / "datasets")
    stroke = [[0, 10, 20, 30], [0, 5, 0, 8]]
    for word in ("cat", "pig"):  # stand-ins for the QuickDraw files the example names
        lines = [json.dumps({"word": word, "recognized": True, "drawing": [stroke, stroke[::-1]]})] * 40
        (tmp_path / f"{word}.ndjson").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    for line in _command_sections(repo_dir)["sketch_rnn_data"]:
        argv = shlex.split(line)
        assert main([*argv, "--noprogress", "--workers=1"] if argv[1] == "convert" else argv) == 0, line
    out, err = capsys.readouterr()
    assert "train: 7400 sketches" in out and "wrote mine.npz" in out and "wrote grid.svg" in out
    # 80 drawings in 5% splits: the convert example warns that valid and test are below one batch.
    assert "convert: warning: valid has 4 sketches, fewer than one batch" in err

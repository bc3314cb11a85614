"""The README's two set-up commands stay true: CI runs the test one; the main job works."""

from __future__ import annotations

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
    from sketch_rnn.checkpoint import load_model

    model = load_model(log_root)
    assert model.hps.dec_model == "layer_norm"
    assert abs(model.scale_factor - 18.5198) < 1e-4

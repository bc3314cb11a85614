"""A newcomer's first minute with the commands: quiet start-up, a quick ``--help`` that shows the
tool's own flags, and the data tools free of TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

TOOLS = ("train", "sample", "interpolate", "quickstart", "eval", "export", "data")

# What TensorFlow, XLA and absl print while starting (glog-style C++ lines included).
NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWEF]\d{4} [\d:.]+ +\d+ "
                   r"\S+\.(cc|h):\d+\]|To enable the following instructions)", re.M)


def _console(tool: str, *args: str) -> list[str]:
    # As pip's launcher runs a console script: the tool's module is imported, not __main__.
    return [sys.executable, "-c", f"import sys; sys.argv[0] = 'sketch_rnn_{tool}'; "
            f"from sketch_rnn.cli.{tool} import run; run()", *args]


def test_data_tools_never_import_tensorflow(repo_dir, tmp_path):
    npz = str(repo_dir / "datasets" / "aaron_sheep" / "aaron_sheep.npz")
    # The tools on absl's global FLAGS share flag names: one of them per process.
    code = f"""
import json, pkgutil, sys
import sketch_rnn.datasets
for m in pkgutil.iter_modules(sketch_rnn.datasets.__path__):
    __import__("sketch_rnn.datasets." + m.name)
for tool in ("data", "eval", "export", "train"):
    __import__("sketch_rnn.cli." + tool)
from sketch_rnn.cli.data import main
assert main(["sketch_rnn_data", "info", {npz!r}]) == 0
assert main(["sketch_rnn_data", "show", {npz!r}, "--n=4", "--out={tmp_path / "grid.svg"}"]) == 0
print(json.dumps([m for m in ("tensorflow", "keras") if m in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=repo_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_help_is_the_docstring_and_the_tools_own_flags():
    procs = {tool: subprocess.Popen(_console(tool, "--help"), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for tool in TOOLS}
    for tool, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and err == "", (tool, err[-2000:])
        assert out.startswith(f"``sketch_rnn_{tool}``:"), (tool, out[:200])
        assert "\nFlags:\n" in out and "--verbosity" in out, tool
        for internal in ("--flagfile", "--undefok", "helpfull", "absl", ">>>"):
            assert internal not in out, (tool, internal)


def test_every_command_reports_bad_flags_alike():
    procs = {tool: subprocess.Popen(_console(tool, "--no_such_flag=1") if tool != "data"
                                    else _console(tool, "info", "--no_such_flag=1"),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tool in TOOLS}
    for tool, proc in procs.items():
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 2, (tool, err[-2000:])
        assert len(err.strip().splitlines()) == 1 and "no_such_flag" in err, (tool, err)
        assert err.startswith(f"sketch_rnn_{tool}"), (tool, err)


def test_data_without_arguments_prints_a_short_usage():
    done = subprocess.run(_console("data"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) < 10 and "--help for more" in lines[-1]
    for command in ("convert", "info", "show"):
        assert any(line.split()[:1] == [command] for line in lines), command


def test_commands_start_quietly(repo_dir, tmp_path):
    sheep = repo_dir / "checkpoints" / "aaron_sheep"
    data = repo_dir / "datasets" / "aaron_sheep" / "aaron_sheep.npz"
    ndjson = tmp_path / "one.ndjson"
    ndjson.write_text(json.dumps({"word": "line", "drawing": [[[0, 10, 20], [0, 5, 0]]]}) + "\n")
    runs = {
        "sample": _console("sample", f"--log_root={sheep}", "--num=2", f"--out={tmp_path / 's.svg'}"),
        "interpolate": _console("interpolate", f"--model={sheep}", f"--data={data}", "--index_a=0",
                                "--index_b=1", "--steps=2", f"--out={tmp_path / 'i.svg'}"),
        "eval": _console("eval", f"--model={sheep}", f"--data={ndjson}"),
        "export": _console("export", f"--log_root={sheep}", f"--out={tmp_path / 'tf1'}"),
        # Fails on its hparams after TensorFlow has started: the start-up is all this one checks.
        "train": _console("train", f"--log_root={tmp_path / 'run'}", "--hparams=no_such_hparam=1"),
        "data": _console("data", "convert", str(ndjson), f"--out={tmp_path / 'd.npz'}", "--splits=1,0,0",
                         "--workers=1", "--noprogress"),
        # --verbosity brings TensorFlow's own lines back.
        "verbose": _console("sample", f"--log_root={sheep}", "--num=1", f"--out={tmp_path / 'v.svg'}",
                            "--verbosity=0"),
    }
    procs = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    cwd=tmp_path) for name, cmd in runs.items()}
    results = {name: (proc.communicate(timeout=600), proc.returncode) for name, proc in procs.items()}
    for name, ((_, err), code) in results.items():
        expected = 2 if name == "train" else 0
        assert code == expected, (name, err[-3000:])
        if name == "verbose":
            assert NOISE.search(err), err[-3000:]
        else:
            assert not NOISE.search(err), (name, err[-3000:])
    assert "no_such_hparam" in results["train"][0][1]


def test_jax_start_up_imports_no_tensorflow_and_is_quiet(repo_dir):
    """On the JAX backend a quiet command's start-up imports no TensorFlow (none need be installed)
    and drops JAX's and XLA's start-up lines as it drops TensorFlow's; other lines pass."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    code = r"""
import importlib.abc, json, logging, os, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, NoTensorFlow())
from sketch_rnn.cli import _common

_common._console = True  # as console_entry sets it
_common.setup_logging()  # INFO on, as in a command
_common.quiet_startup(-1)
_common.import_backend()
import keras

# What jaxlib logs where it finds no TPU, a CPU-only jaxlib on a GPU machine, and the C++ lines of
# a CUDA jaxlib without a GPU.
log = logging.getLogger("jax._src.xla_bridge")
log.info("Unable to initialize backend 'tpu': INTERNAL: Failed to open libtpu.so")
log.warning("An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed. "
            "Falling back to cpu.")
log.warning("CUDA backend failed to initialize: no device.")
with _common._dropping_stderr_lines(_common.STARTUP_NOISE):
    os.write(2, b"E0000 00:00:1700000000.123456   12345 cuda_executor.cc:1228] failed call to cuInit: "
                b"UNKNOWN ERROR (303)\n")
    os.write(2, b"I0000 00:00:1700000000.123456   12345 cudart_stub.cc:31] Could not find cuda drivers "
                b"on your machine, GPU will not be used.\n")
    os.write(2, b"a line of our own\n")
print(json.dumps([keras.backend.backend(), "tensorflow" in sys.modules, "jax" in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=repo_dir, env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["jax", False, True]
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].endswith("WARNING CUDA backend failed to initialize: no device.")
    assert lines[1] == "a line of our own"

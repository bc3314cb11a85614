"""Shared timing / memory helpers for the side-by-side benchmarks (standard library only).

Used in three places, so it must import nothing outside the standard library:
- by the reference scripts in ``bench/reference/`` (run with the magenta venv's Python);
- by ``bench/bench_train.py`` / ``bench/bench_sample.py`` (run with the project's Python), which
  call the reference through :func:`run_reference` and our implementation through
  :func:`run_script` (or in-process with :func:`time_calls` / :func:`peak_rss_gib`).

Protocol: a benchmark script prints exactly one JSON object on one stdout line (the last line that
parses as a JSON object wins; anything else on stdout/stderr is ignored). :func:`run_script` adds
``peak_rss_gib_wait4`` (the child's peak RSS as seen by the kernel through ``wait4``) and
``wall_sec`` (the whole subprocess, start-up included) to the parsed object.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REFERENCE_DIR = BENCH_DIR / "reference"
REF_VENV = Path(os.environ.get("MAGENTA_VENV", BENCH_DIR / ".venv-magenta"))
DEFAULT_DATA_DIR = REPO_ROOT / "datasets" / "aaron_sheep"
OUT_DIR = BENCH_DIR / "out"  # git-ignored

GIB = 1024**3


class BenchError(RuntimeError):
    """A benchmark subprocess failed or printed no JSON result."""


# --------------------------------------------------------------------------- statistics


def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    if not xs:
        raise ValueError("median of no values")
    return float(statistics.median(xs))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


# --------------------------------------------------------------------------- in-process measures


def peak_rss_gib(include_children: bool = False) -> float:
    """Peak resident set size of this process, in GiB (``ru_maxrss``; Linux: KiB, macOS: bytes).

    With ``include_children`` the largest waited-for child's peak is added. Off by default:
    importing TensorFlow forks short-lived helpers (``ctypes.util.find_library`` runs ldconfig /
    gcc) whose ``ru_maxrss`` counts the ~0.5 GiB they inherited at fork, which would be counted
    twice. Report real worker processes with :func:`peak_rss_children_gib` instead.
    """
    rss = _maxrss_bytes(resource.RUSAGE_SELF)
    if include_children:
        rss += _maxrss_bytes(resource.RUSAGE_CHILDREN)
    return rss / GIB


def peak_rss_children_gib() -> float:
    """Peak RSS of the largest terminated, waited-for child of this process, in GiB."""
    return _maxrss_bytes(resource.RUSAGE_CHILDREN) / GIB


def _maxrss_bytes(who: int) -> int:
    unit = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(who).ru_maxrss * unit


def time_calls(fn: Callable[[int], object], steps: int, warmup: int = 0) -> tuple[list[float], list[float]]:
    """Call ``fn(i)`` ``warmup`` then ``steps`` times; return (warm-up times, timed times) in s."""
    warm, timed = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        fn(i)
        dt = time.perf_counter() - t0
        (warm if i < warmup else timed).append(dt)
    return warm, timed


def machine_info() -> dict:
    info = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }
    try:
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def emit(result: dict) -> None:
    """Print the one JSON result line of a benchmark script."""
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False), flush=True)


# --------------------------------------------------------------------------- subprocess runs


def reference_python() -> str:
    """The magenta venv's interpreter (override with SKETCH_RNN_REF_PYTHON)."""
    override = os.environ.get("SKETCH_RNN_REF_PYTHON")
    if override:
        return override
    py = REF_VENV / "bin" / "python"
    if not py.exists():
        raise BenchError(f"reference venv not found at {REF_VENV}: run `bash bench/setup_reference.sh` first")
    return str(py)


def parse_json_line(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise BenchError("no JSON result line on stdout")


def run_script(
    python: str,
    script: str | os.PathLike,
    args: Sequence[str] = (),
    *,
    env: dict | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike | None = None,
    stream_stderr: bool = False,
) -> dict:
    """Run ``python script *args`` in a fresh process; return its JSON result.

    The child's peak RSS is also taken from the kernel (``os.wait4``), so a script that does not
    report memory itself still gets ``peak_rss_gib_wait4``. Raises :class:`BenchError` with the
    tail of stderr on a non-zero exit, a timeout or a missing JSON line.
    """
    cmd = [python, str(script), *map(str, args)]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=str(cwd or REPO_ROOT),
    )
    out_chunks: list[str] = []
    err_chunks: list[str] = []

    def pump(stream, sink, echo):
        for line in stream:
            sink.append(line)
            if echo:
                sys.stderr.write(line)
                sys.stderr.flush()

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, out_chunks, False), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err_chunks, stream_stderr), daemon=True),
    ]
    for t in threads:
        t.start()
    timer = None
    timed_out = threading.Event()
    if timeout:

        def _kill():
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, _kill)
        timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if timer:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stdout, stderr = "".join(out_chunks), "".join(err_chunks)
    tail = "\n".join(stderr.splitlines()[-25:])
    if timed_out.is_set():
        raise BenchError(f"timed out after {timeout} s: {' '.join(cmd)}\n{tail}")
    if proc.returncode != 0:
        raise BenchError(f"exit {proc.returncode}: {' '.join(cmd)}\n{tail}")
    try:
        result = parse_json_line(stdout)
    except BenchError as e:
        raise BenchError(f"{e}: {' '.join(cmd)}\n{tail}") from None
    unit = 1 if sys.platform == "darwin" else 1024
    result["peak_rss_gib_wait4"] = usage.ru_maxrss * unit / GIB
    result["wall_sec"] = wall
    result["command"] = cmd
    return result


def run_reference(script: str, args: Sequence[str] = (), **kwargs) -> dict:
    """Run a script of ``bench/reference/`` (e.g. ``"train_speed.py"``) with the magenta venv."""
    path = Path(script)
    if not path.is_absolute():
        path = REFERENCE_DIR / path
    env = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(kwargs.pop("env", None) or {})
    return run_script(reference_python(), path, args, env=env, **kwargs)


def run_ours_script(script: str | os.PathLike, args: Sequence[str] = (), **kwargs) -> dict:
    """Run one of our benchmark scripts with the current interpreter (the project's)."""
    path = Path(script)
    if not path.is_absolute():
        path = BENCH_DIR / path
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(kwargs.pop("env", None) or {})
    return run_script(sys.executable, path, args, env=env, **kwargs)


# --------------------------------------------------------------------------- reporting


def fmt(x: float | None, spec: str = ".3f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


def save_results(name: str, payload: dict) -> Path:
    """Write ``bench/out/<name>-<timestamp>.json`` (git-ignored) and return its path."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = OUT_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=1))
    return path

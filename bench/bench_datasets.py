"""Dataset conversion speed (issue #4): 70,000 raw QuickDraw drawings -> Sketch-RNN npz.

    python bench/bench_datasets.py [--n 70000] [--workers 1,2] [--rdp_drawings 20] [--no_cli]

1. Builds the input once (cached in ``bench/out/``): the shared raw QuickDraw samples
   (``<shared>/datasets/quickdraw_ndjson/raw``, 255 drawings, ~235 points each) repeated with
   Gaussian jitter (sigma 0.7 px, 3 decimals, fresh ``key_id``) up to ``--n`` lines.
2. RDP on the resampled strokes of the first drawings: the pure-Python ``rdp`` package (the
   definition), ``simplification`` (Rust, if installed) and ours (numpy, level-synchronous):
   time per drawing and how many strokes come out identical to ``rdp``'s.
3. The whole conversion in this process, per worker count: read + parse + Google's
   simplification + stroke-3 (``convert_inputs``), split (``build_dataset``), write
   (``write_npz``).
4. The same through the CLI in a fresh process (``sketch_rnn_data convert``), start-up included.

Prints the figures as a table and one JSON line. Environment: ``SKETCH_RNN_SHARED_DIR``
(default ``<repo>/../shared``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sketch_rnn.datasets.convert import convert_inputs  # noqa: E402
from sketch_rnn.datasets.polylines import PackedDrawings  # noqa: E402
from sketch_rnn.datasets.quickdraw import read_ndjson  # noqa: E402
from sketch_rnn.datasets.simplify import normalize_drawings, rdp_mask, resample  # noqa: E402
from sketch_rnn.datasets.writer import build_dataset, write_npz  # noqa: E402

OUT = REPO / "bench" / "out"


def shared_dir() -> Path:
    return Path(os.environ.get("SKETCH_RNN_SHARED_DIR", REPO.parent / "shared"))


def build_input(n: int, seed: int = 0) -> Path:
    """Jittered copies of the shared raw drawings, ``n`` lines (cached by n and seed)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"quickdraw_raw_{n}_seed{seed}.ndjson"
    if path.exists():
        return path
    base = []
    for f in sorted((shared_dir() / "datasets" / "quickdraw_ndjson" / "raw").glob("*.ndjson")):
        base += [json.loads(line) for line in f.open()]
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        for i in range(n):
            obj = dict(base[i % len(base)])
            strokes = []
            for s in obj["drawing"]:
                xy = np.round(np.asarray(s[:2], dtype=np.float64)
                              + rng.normal(scale=0.7, size=(2, len(s[0]))), 3)
                strokes.append([xy[0].tolist(), xy[1].tolist(), s[2]])
            obj["drawing"] = strokes
            obj["key_id"] = str(5_000_000_000_000_000 + i)
            out.write(json.dumps(obj) + "\n")
    tmp.replace(path)
    return path


def resampled_strokes(path: Path, n_drawings: int) -> tuple[np.ndarray, np.ndarray]:
    records = []
    for r in read_ndjson(path):
        records.append(r)
        if len(records) >= n_drawings:
            break
    batch = normalize_drawings(PackedDrawings.from_drawings([r.strokes for r in records]))
    return resample(batch.points, 1.0, batch.stroke_lengths)


def compare_rdp(path: Path, n_ref: int, n_fast: int) -> dict:
    """Time and exactness of three RDP implementations on 1-px resampled QuickDraw strokes."""
    pts, lengths = resampled_strokes(path, n_fast)
    strokes = np.split(pts, np.cumsum(lengths)[:-1])
    per_drawing = len(strokes) / n_fast
    n_ref_strokes = int(round(per_drawing * n_ref))
    result: dict = {"points_per_drawing_resampled": round(len(pts) / n_fast, 1)}

    t = time.perf_counter()
    mask = rdp_mask(pts, 2.0, lengths)
    ours_s = (time.perf_counter() - t) / n_fast
    ours = [s[m] for s, m in zip(strokes, np.split(mask, np.cumsum(lengths)[:-1]), strict=True)]

    reference = None
    try:
        import rdp as rdp_pkg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            t = time.perf_counter()
            reference = [rdp_pkg.rdp(s, epsilon=2.0) for s in strokes[:n_ref_strokes]]
            ref_s = (time.perf_counter() - t) / max(n_ref_strokes, 1) * per_drawing
        result["rdp_package"] = {"ms_per_drawing": round(1e3 * ref_s, 3), "exact": "definition"}
    except ImportError:
        result["rdp_package"] = "not installed"

    def exact(candidate: list[np.ndarray]) -> str:
        if reference is None:
            return "n/a"
        same = sum(a.shape == b.shape and np.array_equal(a, b)
                   for a, b in zip(candidate, reference, strict=False))
        return f"{same}/{len(reference)} strokes"

    result["numpy_ours"] = {"ms_per_drawing": round(1e3 * ours_s, 3), "exact": exact(ours)}
    try:
        from simplification.cutil import simplify_coords

        t = time.perf_counter()
        simp = [np.asarray(simplify_coords(np.ascontiguousarray(s), 2.0)) for s in strokes]
        simp_s = (time.perf_counter() - t) / n_fast
        result["simplification"] = {"ms_per_drawing": round(1e3 * simp_s, 3),
                                    "exact": exact(simp)}
    except ImportError:
        result["simplification"] = "not installed (pip install simplification)"
    return result


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def convert_in_process(path: Path, workers: int) -> dict:
    out = OUT / f"bench_w{workers}.npz"
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    converted = convert_inputs([path], workers=workers)
    t1 = time.perf_counter()
    data = build_dataset(converted.sketches, splits=(0.9, 0.05, 0.05), seed=0)
    t2 = time.perf_counter()
    write_npz(out, data)
    t3 = time.perf_counter()
    n = len(converted.sketches)
    return {"workers": workers, "drawings": n, "cpu_s": round(cpu_seconds() - cpu0, 2),
            "convert_s": round(t1 - t0, 2),
            "split_s": round(t2 - t1, 2), "write_s": round(t3 - t2, 2),
            "total_s": round(t3 - t0, 2), "drawings_per_s": round(n / (t3 - t0)),
            "npz_mb": round(out.stat().st_size / 1e6, 1),
            "mean_len": round(float(np.mean([len(s) for s in converted.sketches])), 1)}


def convert_cli(path: Path, workers: int) -> dict:
    out = OUT / "bench_cli.npz"
    cmd = [sys.executable, "-m", "sketch_rnn.cli.data", "convert", str(path), f"--out={out}",
           f"--workers={workers}", "--noprogress"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sketch_rnn.cli.data, sketch_rnn.datasets"],
                   cwd=REPO, check=True, capture_output=True)
    startup = time.perf_counter() - t
    return {"workers": workers, "wall_s": round(wall, 2), "import_s": round(startup, 2),
            "command": "python -m sketch_rnn.cli.data convert INPUT --out=OUT "
                       f"--workers={workers}"}


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=70_000, help="drawings in the input")
    p.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    p.add_argument("--rdp_drawings", type=int, default=20,
                   help="drawings for the (slow) rdp package")
    p.add_argument("--fast_drawings", type=int, default=2000,
                   help="drawings for ours and simplification")
    p.add_argument("--no_cli", action="store_true", help="skip the CLI run")
    args = p.parse_args()

    load_before = os.getloadavg()
    t = time.perf_counter()
    path = build_input(args.n)
    build_s = time.perf_counter() - t
    size_mb = path.stat().st_size / 1e6
    print(f"input: {path} ({size_mb:.0f} MB, {args.n} drawings; built/cached in {build_s:.1f} s)")
    rdp_cmp = compare_rdp(path, args.rdp_drawings, args.fast_drawings)
    runs = [convert_in_process(path, int(w)) for w in args.workers.split(",")]
    cli = None if args.no_cli else convert_cli(path, max(int(w) for w in args.workers.split(",")))
    load_after = os.getloadavg()

    print(f"\nmachine: {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after, "
          f"nice {os.nice(0)}")
    print(f"\nRDP (epsilon 2.0) on 1-px resampled strokes, "
          f"{rdp_cmp['points_per_drawing_resampled']} points per drawing:")
    print("| implementation | ms per drawing | same points as `rdp` |\n| --- | ---: | --- |")
    for name in ("rdp_package", "simplification", "numpy_ours"):
        v = rdp_cmp[name]
        if isinstance(v, dict):
            print(f"| {name} | {v['ms_per_drawing']} | {v['exact']} |")
        else:
            print(f"| {name} | {v} | |")
    print("\nWhole conversion (raw ndjson -> npz), in-process:")
    print("| workers | drawings | convert s | split s | write s | total s (wall) | drawings/s "
          "| CPU s (all processes) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        print(f"| {r['workers']} | {r['drawings']} | {r['convert_s']} | {r['split_s']} | "
              f"{r['write_s']} | **{r['total_s']}** | {r['drawings_per_s']} | {r['cpu_s']} |")
    if cli:
        print(f"\nCLI, fresh process: {cli['wall_s']} s wall ({cli['command']}); of which "
              f"about {cli['import_s']} s is Python start-up and package import")
    print(json.dumps({"n": args.n, "input_mb": round(size_mb, 1), "rdp": rdp_cmp, "runs": runs,
                      "cli": cli, "cpus": os.cpu_count(),
                      "loadavg": [round(load_before[0], 2), round(load_after[0], 2)]}))


if __name__ == "__main__":
    main()

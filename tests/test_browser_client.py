"""Proof in a real client: the browser JSON we export runs in @magenta/sketch (the npm package web pages
use), under Node, loaded from a loopback HTTP server through the client's own ``fetch`` path; its
mixture outputs match ours and it draws finished sketches.

Needs ``node`` (skipped without it) and the pinned packages in ``tests/js/node_modules``
(``npm ci --prefix tests/js``; the test never downloads anything itself).
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sketch_rnn.checkpoint import load_model
from sketch_rnn.hparams import HParams
from sketch_rnn.interop.browser import export_browser_model
from sketch_rnn.losses import split_raw
from sketch_rnn.model import SketchRNN

JS_DIR = Path(__file__).resolve().parent / "js"
CLIENT = JS_DIR / "client.mjs"
CLIENT_TIMEOUT_S = 120
# The server stops by itself after this long even if the fixture's teardown never runs.
SERVER_LIFETIME_S = 600
# tfjs's CPU backend computes in float32 like us, with a different summation order.
TOL = 1e-4
# (temperature, softmax temperature or None for the client's default 0.5 + 0.5 * temperature)
PDF_TEMPERATURES = [(1.0, None), (0.25, None), (0.5, 0.3)]
# Sheep from the client's zeroInput() with this seed ends after 80 of its 156 steps (checked once;
# the draw is deterministic since the client's Math.random is replaced by a seeded generator).
SHARED_MODEL, SHARED_SEED = "sheep", 2
# Both browser clients hard-code 20 mixture components.
CLIENT_MIXTURES = 20


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not on PATH: the @magenta/sketch client test needs Node.js 18+")
    if not (JS_DIR / "node_modules" / "@magenta" / "sketch").is_dir():
        pytest.fail(f"the pinned npm packages are not installed in {JS_DIR / 'node_modules'}: run "
                    "`npm ci --prefix tests/js` (the tests never download them)")
    return exe


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """``(base URL, directory)``: a directory served over HTTP on 127.0.0.1 only, ephemeral port."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    deadline = threading.Timer(SERVER_LIFETIME_S, server.shutdown)
    deadline.daemon = True
    deadline.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_client(node: str, url: str, request: dict, tmp_path: Path) -> dict:
    req = tmp_path / "request.json"
    req.write_text(json.dumps(request))
    run = subprocess.run([node, str(CLIENT), url, str(req)], capture_output=True, text=True,
                         timeout=CLIENT_TIMEOUT_S, cwd=JS_DIR)
    assert run.returncode == 0, f"client failed:\n{run.stderr[-3000:]}"
    return json.loads(run.stdout)


def fixed_inputs() -> list[list[float]]:
    """Stroke-5 rows in pixels: both start tokens, pen down / up moves, and an end-of-sketch row."""
    rng = np.random.default_rng(5)
    pens = [[1, 0, 0]] * 4 + [[0, 1, 0]] + [[1, 0, 0]] * 3 + [[0, 1, 0], [0, 0, 1]]
    rows = [[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]]
    for pen in pens:
        dx, dy = rng.normal(0.0, 25.0, 2)
        rows.append([float(dx), float(dy), *map(float, pen)])
    return rows


def our_mixtures(model, rows_px, temperature: float, softmax_temperature: float | None) -> dict:
    """Our decoder from the zero state over pixel rows, with the browser temperature convention."""
    soft = 0.5 + 0.5 * temperature if softmax_temperature is None else softmax_temperature
    rows = np.asarray(rows_px, np.float64)
    # As the client: pixels / (scale_factor / pixel_factor) in double precision, then float32.
    x = rows.copy()
    x[:, :2] /= model.config.scale_factor
    raw, _ = model.decode_sequence(x[None].astype(np.float32), None, model.initial_state(None, 1))
    r = {k: np.asarray(v, np.float64)[0] for k, v in split_raw(raw, model.config.num_mixture).items()}

    def softmax(logits):
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    return dict(
        pi=softmax(r["pi_logits"] / soft), muX=r["mu1"], muY=r["mu2"],
        sigmaX=np.exp(r["log_sigma1"]) * np.sqrt(temperature),
        sigmaY=np.exp(r["log_sigma2"]) * np.sqrt(temperature),
        corr=np.tanh(r["corr_raw"]), pen=softmax(r["pen_logits"] / soft),
    )


def max_deviation(client_steps: list[dict], ours: dict) -> float:
    worst = 0.0
    for key, want in ours.items():
        got = np.array([step[key] for step in client_steps], np.float64)
        assert got.shape == want.shape, key
        # Relative beyond 1: the sigmas and means grow large where a component is far out.
        worst = max(worst, float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))))
    return worst


def check_client(node: str, served: tuple[str, Path], tmp_path: Path, path: Path, seed: int,
                 min_len: int) -> dict:
    """Run the client on ``path`` (inside the served directory) and compare it with our load of the
    same file; returns the client's result."""
    base, root = served
    assert path.parent == root
    model = load_model(path)
    info = json.loads(path.read_text())[0]
    inputs = fixed_inputs()
    max_steps = info["max_seq_len"]
    request = dict(inputs=inputs, pdf_temperatures=PDF_TEMPERATURES,
                   draw=dict(seed=seed, temperature=0.25, max_steps=max_steps))
    out = run_client(node, f"{base}/{path.name}", request, tmp_path)

    assert out["info"] == info
    assert out["scaleFactor"] == pytest.approx(model.config.scale_factor, rel=1e-12)
    assert out["numUnits"] == model.config.dec_rnn_size
    deviations = []
    for block, (tau, soft) in zip(out["mixtures"], PDF_TEMPERATURES, strict=True):
        assert len(block["steps"]) == len(inputs)
        deviations.append(max_deviation(block["steps"], our_mixtures(model, inputs, tau, soft)))
    assert max(deviations) < TOL, deviations

    # The client's drawing: a finished, well-formed stroke-5 sketch in pixels.
    strokes = np.array(out["drawing"]["strokes"], np.float64)
    assert strokes.ndim == 2 and strokes.shape[1] == 5
    assert min_len <= len(strokes) <= max_steps
    assert np.isfinite(strokes).all()
    np.testing.assert_array_equal(strokes[:, 2:].sum(1), 1.0)  # one pen state per row
    assert set(np.unique(strokes[:, 2:])) <= {0.0, 1.0}
    assert strokes[-1, 4] == 1.0, "the drawing did not end with end-of-sketch"
    assert not strokes[:-1, 4].any()
    # Every distribution the client sampled from is ours along its own trajectory.
    fed = [out["zeroInput"], *strokes[:-1].tolist()]
    drawn = max_deviation(out["drawing"]["pdfs"], our_mixtures(model, fed, 0.25, None))
    assert drawn < TOL, drawn
    out["max_deviation"] = max([*deviations, drawn])
    return out


def test_exported_random_model_runs_in_magenta_sketch(node, served, tmp_path):
    hps = HParams(dec_model="lstm", dec_rnn_size=32, num_mixture=CLIENT_MIXTURES, max_seq_len=40,
                  conditional=False, use_recurrent_dropout=False, data_set=("random.npz",))
    model = SketchRNN(hps, scale_factor=15.0)
    rng = np.random.default_rng(7)
    # Weights well away from zero so every output (logits, sigmas, correlations) varies.
    for v in model.weights:
        v.assign(rng.normal(0.0, 0.6, v.shape).astype(np.float32))
    # A low end-of-sketch logit so that the drawing runs for several steps (11 with this seed).
    model.output_b.assign(np.concatenate([model.output_b.numpy()[:2], [-3.0], model.output_b.numpy()[3:]]))
    path = Path(export_browser_model(model, served[1] / "random.gen.json"))
    out = check_client(node, served, tmp_path, path, seed=3, min_len=5)
    assert out["info"]["name"] == "random"
    assert out["scaleFactor"] == pytest.approx(15.0)


def test_shared_google_model_runs_in_magenta_sketch(node, served, tmp_path, shared_dir):
    src = shared_dir / "pretrained" / "sketch_rnn_js" / f"{SHARED_MODEL}.gen.json"
    if not src.is_file():
        pytest.skip(f"shared browser model not found at {src}")
    path = served[1] / src.name
    shutil.copyfile(src, path)
    check_client(node, served, tmp_path, path, seed=SHARED_SEED, min_len=20)

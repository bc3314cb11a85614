"""Evaluation: reference likelihoods of the shared browser models, loss forms, data files."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from sketch_rnn import losses
from sketch_rnn.evaluation import evaluate, evaluate_drawings, evaluate_model, load_drawings
from sketch_rnn.hparams import HParams
from sketch_rnn.interop.browser import load_browser_model
from sketch_rnn.model import SketchRNN
from sketch_rnn.runtime import RuntimeOptions

# pretrained/SOURCES.md: mean per-step NLL in pixel units, start [0,0,0,0,0] and [0,0,1,0,0].
REFERENCE_NLL = {
    "cat": (7.9442, 7.9962),
    "pig": (7.2996, 7.4444),
    "rabbit": (7.8176, 7.8344),
    "face": (7.5299, 7.5523),
    "sheep": (7.4901, 7.5247),
    "bird": (8.0326, 8.2417),
}


@pytest.fixture(scope="module")
def pretrained(shared_dir: Path) -> tuple[Path, Path]:
    js = shared_dir / "pretrained" / "sketch_rnn_js"
    data = shared_dir / "datasets" / "quickdraw_ndjson" / "simplified"
    if not (js.is_dir() and data.is_dir()):
        pytest.skip("shared browser models or simplified ndjson drawings not found")
    return js, data


@pytest.mark.parametrize("name", sorted(REFERENCE_NLL))
def test_reference_likelihoods(pretrained, name):
    js, data = pretrained
    model = load_browser_model(js / f"{name}.gen.json")
    result = evaluate(model, data / f"{name}.ndjson")
    zeros, tf_token = REFERENCE_NLL[name]
    assert result.n == 25
    assert result.start_token == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert abs(result.mean_nll_pixels - zeros) < 1e-3
    drawings, _ = load_drawings(data / f"{name}.ndjson")
    other = evaluate_drawings(model, drawings, start_token=(0, 0, 1, 0, 0))
    assert abs(other.mean_nll_pixels - tf_token) < 1e-3
    # Model units differ by exactly 2 log s per offset term.
    s = model.config.scale_factor
    np.testing.assert_allclose(result.nll_pixels - result.nll,
                               2 * math.log(s) * result.n_rows / (result.n_rows + 1), rtol=1e-12)
    assert result.kl == 0.0 and result.r_loss_masked < result.r_loss


def test_ndjson_drawings_are_offsets_from_the_first_point(pretrained):
    """Simplified QuickDraw ndjson -> stroke-3: the points of all strokes in order as offsets (the
    first one 0), pen lifted on each stroke's last point."""
    _, data = pretrained
    path = data / "owl.ndjson"
    drawings, names = load_drawings(path)
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(drawings) == len(lines) == 25 and names[0].startswith("owl.ndjson:1")
    for d, line in zip(drawings, lines, strict=True):
        points = np.concatenate([np.array(stroke[:2], np.float64).T for stroke in line["drawing"]])
        ends = np.cumsum([len(stroke[0]) for stroke in line["drawing"]]) - 1
        np.testing.assert_array_equal(d[:, :2], np.diff(points, axis=0, prepend=points[:1]))
        np.testing.assert_array_equal(np.flatnonzero(d[:, 2]), ends)


def _tiny(conditional: bool) -> SketchRNN:
    hps = HParams(enc_rnn_size=6, dec_rnn_size=8, z_size=3, num_mixture=2, max_seq_len=12,
                  conditional=conditional, use_recurrent_dropout=False)
    keras.utils.set_random_seed(0)
    return SketchRNN(hps, scale_factor=4.0)


def _drawings(rng, n=5):
    out = []
    for _ in range(n):
        k = int(rng.integers(3, 11))
        d = np.zeros([k, 3], np.float32)
        d[:, :2] = rng.normal(0, 4.0, [k, 2]).round()
        d[rng.random(k) < 0.3, 2] = 1
        d[-1, 2] = 1
        out.append(d)
    return out


@pytest.mark.parametrize("conditional", [False, True])
def test_losses_match_the_training_losses(conditional):
    """L_R in both pen forms and L_KL equal sketch_rnn.losses on the reference's padded batch."""
    model = _tiny(conditional)
    drawings = _drawings(np.random.default_rng(1))
    res = evaluate_drawings(model, drawings)
    assert res.scale == 4.0 and res.n_max == 12
    x = np.zeros([len(drawings), 13, 5], np.float32)
    x[:, 0] = [0, 0, 1, 0, 0]
    x[:, 1:, 4] = 1
    for i, d in enumerate(drawings):
        x[i, 1 : len(d) + 1] = np.c_[d[:, :2] / 4.0, 1 - d[:, 2], d[:, 2], np.zeros(len(d))]
    seq = np.array([len(d) for d in drawings])
    out = model(x, seq, eps=np.zeros([len(drawings), 3], np.float32) if conditional else None)
    for mask_pen, got in ((False, res.r_loss), (True, res.r_loss_masked)):
        want = losses.reconstruction_loss(out["raw"], x[:, 1:], 2, mask_pen=mask_pen)
        assert got == pytest.approx(float(want), abs=1e-5)
    if conditional:
        assert res.kl == pytest.approx(float(losses.kl_loss(out["mu"], out["presig"])), abs=1e-6)
        assert res.cost == pytest.approx(res.r_loss + 0.5 * max(res.kl, 0.2))
    else:
        assert res.kl == 0 and res.cost == res.r_loss
    # Per-sketch NLL from the same outputs, by hand: the exact (epsilon-free) definition.
    p = {k: np.asarray(v, np.float64) for k, v in losses.mixture_params(out["raw"], 2).items()}
    i, n = 0, len(drawings[0])
    total = 0.0
    for t in range(n + 1):
        y = x[i, t + 1]
        total -= math.log(p["pen"][i, t, int(np.argmax(y[2:]))])
        if t < n:
            s1, s2, r = p["sigma1"][i, t], p["sigma2"][i, t], p["corr"][i, t]
            u1, u2 = (y[0] - p["mu1"][i, t]) / s1, (y[1] - p["mu2"][i, t]) / s2
            z = u1**2 + u2**2 - 2 * r * u1 * u2
            dens = np.exp(-z / (2 * (1 - r**2))) / (2 * math.pi * s1 * s2 * np.sqrt(1 - r**2))
            total -= math.log(float(np.sum(p["pi"][i, t] * dens)))
    assert res.nll[0] == pytest.approx(total / (n + 1), abs=1e-5)
    assert res.nll_pixels[0] == pytest.approx(res.nll[0] + 2 * math.log(4.0) * n / (n + 1), abs=1e-9)
    # Batching does not change anything.
    small = evaluate_drawings(model, drawings, batch_size=2)
    np.testing.assert_allclose(small.nll, res.nll, atol=1e-5)
    assert list(res.worst(2)) == list(np.argsort(-res.nll_pixels)[:2])


def test_long_drawings_extend_n_max():
    model = _tiny(False)
    drawings = _drawings(np.random.default_rng(2), 2) + [np.tile([[1.0, 0.0, 0.0]], (15, 1))]
    res = evaluate_drawings(model, drawings)
    assert res.n_max == 15 and np.isfinite(res.nll).all()


def test_bad_inputs(tmp_path):
    model = _tiny(False)
    with pytest.raises(ValueError, match="no drawings"):
        evaluate_drawings(model, [])
    with pytest.raises(ValueError, match="drawing 1"):
        evaluate_drawings(model, [np.zeros([3, 3]), np.zeros([3, 2])])
    with pytest.raises(ValueError, match="expected an .npz"):
        load_drawings(tmp_path / "x.txt")


def test_npz_split_and_csv(tmp_path):
    model = _tiny(True)
    rng = np.random.default_rng(3)
    path = tmp_path / "tiny.npz"
    splits = {}
    for k in ("train", "valid", "test"):
        arr = np.empty(4, dtype=object)
        arr[:] = [d.astype(np.int16) for d in _drawings(rng, 4)]
        splits[k] = arr
    np.savez(path, **splits)
    res = evaluate(model, path, split="valid")
    with pytest.warns(DeprecationWarning, match="use sketch_rnn.evaluate"):
        assert evaluate_model(model, path, split="valid").n == 4
    assert res.n == 4 and np.isfinite(res.nll).all()
    csv = tmp_path / "out.csv"
    res.write_csv(csv)
    lines = csv.read_text().splitlines()
    assert len(lines) == res.n + 1 and lines[0].startswith("index,name,rows,nll")
    with pytest.raises(ValueError, match="no split 'nope'"):
        evaluate(model, path, split="nope")
    assert "L_R (masked pen)" in res.format_table()


def test_cli(tmp_path, pretrained, capsys):
    from sketch_rnn.cli.eval import main_args

    js, data = pretrained
    csv, svg = tmp_path / "r.csv", tmp_path / "worst.svg"
    rc = main_args(["--model", str(js / "face.gen.json"), "--data", str(data / "face.ndjson"),
                    "--csv", str(csv), "--worst", "3", "--worst_svg", str(svg)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "NLL per step, pixel units" in out and "7.529" in out
    assert len(csv.read_text().splitlines()) == 26
    assert svg.read_text().count("<path") >= 3
    assert main_args(["--model", str(tmp_path / "none.gen.json"), "--data", str(data / "face.ndjson")]) == 2
    assert "no such model" in capsys.readouterr().err


def test_cli_names_start_tokens_splits_and_dtype(tmp_path, pretrained, capsys):
    from sketch_rnn.cli.eval import main_args
    from sketch_rnn.evaluation import load_drawings

    js, data = pretrained
    model = str(js / "face.gen.json")
    drawings, _ = load_drawings(str(data / "face.ndjson"), "test")
    splits = {}
    for key, part in (("train", drawings[:10]), ("valid", drawings[10:18]), ("test", drawings[18:])):
        splits[key] = np.empty(len(part), dtype=object)
        splits[key][:] = [d.astype(np.int16) for d in part]
    np.savez(tmp_path / "face.npz", **splits)

    def table(*flags):
        assert main_args(["--model", model, "--data", str(tmp_path / "face.npz"), *flags]) == 0
        return capsys.readouterr().out

    # The old value names the same token as the new one; zeros is the browser model's own.
    assert table("--start_token=tf") == table("--start_token=reference").replace("reference", "tf")
    assert table("--start_token=zeros") == table()
    every = table("--split=all")
    assert "[all]" in every and "sketches" in every and f" {len(drawings)}" in every
    assert f" {len(drawings) - 18}\n" in table() or f" {len(drawings) - 18} " in table()
    f64 = table("--split=all", "--dtype=float64")
    pick = [line for line in every.splitlines() if "NLL per step, pixel units" in line]
    pick64 = [line for line in f64.splitlines() if "NLL per step, pixel units" in line]
    assert float(pick[0].split()[-1]) == pytest.approx(float(pick64[0].split()[-1]), rel=1e-4)
    assert main_args(["--model", model, "--data", str(tmp_path / "face.npz"), "--dtype=float16"]) == 2
    assert "--dtype" in capsys.readouterr().err


def test_legacy_vae_squashes_z_only_in_the_initial_state(monkeypatch):
    # sketch-rnn-js (VAE files < v6): initial state from tanh(z), every decoder step reads raw z.
    hps = HParams(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, max_seq_len=20)
    model = SketchRNN(hps.model_config(z_tanh=True))
    seen = {}
    dec = model.decode_sequence

    def decode_sequence(x, z, state, **kw):
        seen["z"], seen["state"] = np.asarray(z, np.float64), np.asarray(state, np.float64)
        return dec(x, z, state, **kw)

    monkeypatch.setattr(model, "decode_sequence", decode_sequence)
    drawing = np.array([[3.0, 1.0, 0], [2.0, -4.0, 0], [-1.0, 2.0, 1]], np.float32)
    evaluate_drawings(model, [drawing], scale=1.0, sample_z=True, seed=1)  # z of order 1
    w, b = (np.asarray(v, np.float64) for v in (model.init_w, model.init_b))
    assert np.abs(seen["z"]).max() > 0.5
    np.testing.assert_allclose(seen["state"], np.tanh(np.tanh(seen["z"]) @ w + b), atol=1e-6)
    assert not np.allclose(seen["state"], np.tanh(seen["z"] @ w + b), atol=1e-4)


def _mixed_lengths(rng) -> list[np.ndarray]:
    # Short, middling, one at max_seq_len and one past it (N_max grows), in no order.
    out = _drawings(rng, 9)
    for k in (12, 17):
        d = np.zeros([k, 3], np.float32)
        d[:, :2] = rng.normal(0, 4.0, [k, 2]).round()
        d[::4, 2] = d[-1, 2] = 1
        out.insert(3, d)
    return out


@pytest.mark.parametrize("conditional", [False, True])
def test_compiled_batches_equal_eager_per_drawing(conditional):
    """The compiled forward pass over fixed-shape batches (padded batch, rounded-up length) gives
    each drawing the values of the eager model run on it alone, to float32 rounding."""
    model = _tiny(conditional)
    drawings = _mixed_lengths(np.random.default_rng(4))
    compiled = evaluate_drawings(model, drawings, batch_size=4, runtime=RuntimeOptions(eval_jit=True))
    eager = evaluate_drawings(model, drawings, batch_size=1, runtime=RuntimeOptions(eval_jit=False))
    assert compiled.n_max == eager.n_max == 17
    for field in ("nll", "nll_pixels", "nll_offset", "nll_pen", "r_loss_sketch", "r_loss_masked_sketch",
                  "kl_sketch"):
        np.testing.assert_allclose(getattr(compiled, field), getattr(eager, field), rtol=1e-5, atol=1e-7,
                                   err_msg=field)
    # Few drawings run eagerly unless asked; the same drawings again reuse the compiled code.
    assert not RuntimeOptions().eval_uses_jit(len(drawings)) and RuntimeOptions().eval_uses_jit(32)
    sampled = [evaluate_drawings(model, drawings, batch_size=4, sample_z=True, seed=3,
                                 runtime=RuntimeOptions(eval_jit=jit)) for jit in (True, False)]
    np.testing.assert_allclose(sampled[0].nll, sampled[1].nll, rtol=1e-5, atol=1e-7)


RESULT_FIELDS = ("nll", "nll_pixels", "nll_offset", "nll_pen", "r_loss_sketch", "r_loss_masked_sketch",
                 "kl_sketch")


def _fixed_weight_results() -> dict[str, list[float]]:
    """Every per-sketch value of a conditional model whose weights come from numpy (the same on every
    backend), compiled and eager, from z = mu and from z = mu + sigma eps (numpy's eps), float32 and
    float64; by name ``"<run>.<field>"``."""
    model = _tiny(True)
    rng = np.random.default_rng(11)
    for v in sorted(model.weights, key=lambda v: v.path):
        v.assign(rng.normal(0.0, 0.4, tuple(v.shape)).astype(np.float32))
    drawings = _mixed_lengths(np.random.default_rng(4))
    runs = {
        "compiled": dict(batch_size=4, runtime=RuntimeOptions(eval_jit=True)),
        "eager": dict(runtime=RuntimeOptions(eval_jit=False)),
        "sampled": dict(batch_size=4, sample_z=True, seed=3, runtime=RuntimeOptions(eval_jit=True)),
        "float64": dict(dtype="float64", runtime=RuntimeOptions(eval_jit=True)),
    }
    out = {}
    for run, kw in runs.items():
        res = evaluate_drawings(model, drawings, **kw)
        out.update({f"{run}.{field}": getattr(res, field).tolist() for field in RESULT_FIELDS})
    return out


def test_backends_agree(repo_dir):
    """This backend's values equal the other backend's (TensorFlow's or JAX's, run in a subprocess
    where it is installed) to float32 rounding: the evaluation is deterministic given the weights."""
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    if importlib.util.find_spec(other) is None:
        pytest.skip(f"{other} is not installed: nothing to compare with")
    code = ("import json, sys; sys.path.insert(0, 'tests'); from test_evaluate import _fixed_weight_results; "
            "print(json.dumps(_fixed_weight_results()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=repo_dir, env={**os.environ, "KERAS_BACKEND": other})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = _fixed_weight_results()
    assert sorted(ours) == sorted(theirs)
    for key, values in ours.items():
        np.testing.assert_allclose(values, theirs[key], rtol=1e-6, atol=1e-7, err_msg=key)
    # Not trivially equal: the runs differ from each other.
    assert not np.allclose(ours["sampled.nll"], ours["compiled.nll"], rtol=1e-3)


def _nll_by_hand(model, drawing: np.ndarray, scale: float) -> float:
    """The module docstring's per-step NLL of one drawing in float64 from the float32 network's
    outputs, the targets the exact offsets / scale."""
    n = len(drawing)
    y = np.zeros([n + 1, 5])
    y[:n, :2] = drawing[:, :2] / scale
    y[:n, 2], y[:n, 3], y[n, 4] = 1 - drawing[:, 2], drawing[:, 2], 1
    x = np.concatenate([[model.config.start_token], y]).astype(np.float32)[None]
    raw = np.asarray(model(x, np.array([n]))["raw"], np.float64)[0]  # (unconditional)
    # [pen logits | pi | mu_x | mu_y | log sigma_x | log sigma_y | raw rho], M = 2, all in float64
    pen = np.exp(raw[:, :3]) / np.exp(raw[:, :3]).sum(-1, keepdims=True)
    pi = np.exp(raw[:, 3:5]) / np.exp(raw[:, 3:5]).sum(-1, keepdims=True)
    mu1, mu2, ls1, ls2, r = (raw[:, 5 + 2 * j : 7 + 2 * j] for j in range(5))
    r = np.tanh(r)
    total = 0.0
    for t in range(n + 1):
        total -= math.log(pen[t, int(np.argmax(y[t, 2:]))])
        if t < n:
            u1, u2 = (y[t, 0] - mu1[t]) / np.exp(ls1[t]), (y[t, 1] - mu2[t]) / np.exp(ls2[t])
            log_dens = (-(u1**2 + u2**2 - 2 * r[t] * u1 * u2) / (2 * (1 - r[t] ** 2)) - math.log(2 * math.pi)
                        - ls1[t] - ls2[t] - 0.5 * np.log(1 - r[t] ** 2))
            top = log_dens.max()
            total -= top + math.log(float(np.sum(pi[t] * np.exp(log_dens - top))))
    return total / (n + 1)


def test_float64_targets():
    model = _tiny(False)
    normal = _drawings(np.random.default_rng(5))
    f32, f64 = (evaluate_drawings(model, normal, dtype=dt) for dt in ("float32", "float64"))
    np.testing.assert_allclose(f64.nll, f32.nll, rtol=1e-4)
    np.testing.assert_allclose(f64.r_loss_sketch, f32.r_loss_sketch, rtol=1e-4)
    # An outlier scoring in the thousands per step: 1000 / 3 is not a float32, and the float32
    # target's rounding (~1e-5) moves the NLL by ~1e-3; the float64 targets give the exact value.
    outlier = np.array([[1000.0, -1000.0, 0], [2.0, 1.0, 1]])
    want = _nll_by_hand(model, outlier, 3.0)
    got = {dt: float(evaluate_drawings(model, [outlier], scale=3.0, dtype=dt).nll[0])
           for dt in ("float32", "float64")}
    assert want > 1000
    assert got["float64"] == pytest.approx(want, rel=1e-12)
    assert abs(got["float32"] - want) > 1e-4
    with pytest.raises(ValueError, match="dtype='float16'"):
        evaluate_drawings(model, normal, dtype="float16")


def test_start_tokens_by_name():
    from sketch_rnn.strokes import BROWSER_START_TOKEN, START_TOKEN, start_token_named

    model = _tiny(False)
    drawings = _drawings(np.random.default_rng(6), 3)
    by_value = evaluate_drawings(model, drawings, start_token=(0, 0, 0, 0, 0))
    for name, token in (("zeros", BROWSER_START_TOKEN), ("browser", BROWSER_START_TOKEN),
                        ("reference", START_TOKEN), ("tf", START_TOKEN), ("model", START_TOKEN)):
        assert start_token_named(name) == token if name != "model" else True
        res = evaluate_drawings(model, drawings, start_token=name)
        assert res.start_token == token
        if token == BROWSER_START_TOKEN:
            np.testing.assert_array_equal(res.nll, by_value.nll)
    with pytest.raises(ValueError, match="start token 'ones'.*'reference', 'zeros'"):
        evaluate_drawings(model, drawings, start_token="ones")


def test_split_all(tmp_path, pretrained):
    rng = np.random.default_rng(7)
    path = tmp_path / "tiny.npz"
    splits = {}
    for k, n in (("train", 3), ("valid", 2), ("test", 1)):
        arr = np.empty(n, dtype=object)
        arr[:] = [d.astype(np.int16) for d in _drawings(rng, n)]
        splits[k] = arr
    np.savez(path, **splits)
    drawings, names = load_drawings(path, "all")
    assert names == ["train[0]", "train[1]", "train[2]", "valid[0]", "valid[1]", "test[0]"]
    for d, want in zip(drawings, [*splits["train"], *splits["valid"], *splits["test"]], strict=True):
        np.testing.assert_array_equal(d, want)
    assert evaluate(_tiny(False), path, split="all").n == 6
    # An ndjson file has no splits: every line, for "all" as for the default.
    _, data = pretrained
    assert load_drawings(data / "owl.ndjson", "all")[1] == load_drawings(data / "owl.ndjson")[1]
    with pytest.raises(ValueError, match="no split 'nope'.*has none"):
        load_drawings(data / "owl.ndjson", "nope")

"""Browser JSON models (sketch-rnn-js / @magenta/sketch): import of the shared files, export, round
trips, and malformed files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from sketch_rnn.checkpoint import load_model, save_model
from sketch_rnn.evaluation import evaluate_drawings, load_drawings
from sketch_rnn.hparams import HParams
from sketch_rnn.interop.browser import (
    QUANTIZATION_STEP,
    _model_arrays,
    browser_initial_state,
    export_browser_model,
    load_browser_model,
    quantize,
)
from sketch_rnn.model import SketchRNN
from sketch_rnn.sampling import sample, sample_strokes5

NAMES = ["bird", "cat", "catbus", "elephantpig", "face", "pig", "rabbit", "sheep"]
# The small test models have 2 mixture components, which the browser clients cannot run (they
# hard-code 20); the exporter's warning about it is checked once, in its own test.
pytestmark = pytest.mark.filterwarnings("ignore:num_mixture=2:UserWarning")


@pytest.fixture(scope="module")
def js_dir(shared_dir: Path) -> Path:
    path = shared_dir / "pretrained" / "sketch_rnn_js"
    if not path.is_dir():
        pytest.skip(f"shared browser models not found at {path}")
    return path


@pytest.mark.parametrize("name", NAMES)
def test_shared_model_loads(js_dir, name):
    path = js_dir / f"{name}.gen.json"
    doc = json.loads(path.read_text())
    info = doc[0]
    model = load_model(path)  # through the generic loader's dispatch
    c = model.config
    assert (c.dec_model, c.dec_rnn_size, c.num_mixture, c.conditional) == ("lstm", 512, 20, False)
    assert c.max_seq_len == info["max_seq_len"]
    assert c.start_token == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert c.temperature_convention == "browser"
    assert c.scale_factor == pytest.approx(info["scale_factor"] / 2.0)
    assert c.pixel_factor == 2.0 and c.z_tanh is False and c.name == info["name"]
    # Every array dequantised exactly as the format says, in the file's order.
    for var, blob, shape in zip(_model_arrays(model), doc[2], doc[1], strict=True):
        q = np.frombuffer(base64.b64decode(blob), "<i2").reshape(shape)
        np.testing.assert_allclose(np.asarray(var), q * 10.0 / 32767, atol=1e-6)


def test_shared_models_draw_finished_sketches(js_dir):
    # All eight files share one architecture: their weights go in turn into one model so that the
    # compiled sampling loop is traced once.
    host = load_browser_model(js_dir / f"{NAMES[0]}.gen.json")
    max_len = 400
    for name in NAMES:
        model = load_browser_model(js_dir / f"{name}.gen.json")
        for dst, src in zip(host.weights, model.weights, strict=True):
            dst.assign(src)
        res = sample_strokes5(host, 2, temperature=0.25, convention=model.config.temperature_convention,
                              start_token=model.config.start_token, seed=3, max_len=max_len)
        for rows, length in zip(res.strokes5, res.lengths, strict=True):
            assert 10 < length < max_len, f"{name}: drawing did not finish"
            assert rows[length - 1, 4] == 1.0, name  # ends with end-of-sketch
            assert np.isfinite(rows[:length]).all(), name


def test_pixel_factor(js_dir):
    model = load_browser_model(js_dir / "cat.gen.json", pixel_factor=1.0)
    assert model.config.scale_factor == pytest.approx(82.2)


@pytest.mark.parametrize("pixel_factor", [2.0, 1.0])
def test_google_model_survives_save_model(js_dir, shared_dir, tmp_path, pixel_factor):
    """A Google-trained browser model saved as our model folder and loaded again is the same model:
    its config (browser conventions included), weights bit for bit, likelihoods of real QuickDraw
    drawings and seeded samples."""
    model = load_browser_model(js_dir / "cat.gen.json", pixel_factor=pixel_factor)
    save_model(model, tmp_path / "cat")
    back = load_model(tmp_path / "cat")
    assert back.config == model.config
    assert back.config.start_token == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert back.config.temperature_convention == "browser"
    for a, b in zip(model.weights, back.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    data = shared_dir / "datasets" / "quickdraw_ndjson" / "simplified" / "cat.ndjson"
    drawings, _ = load_drawings(data)
    ours, theirs = evaluate_drawings(model, drawings), evaluate_drawings(back, drawings)
    assert ours.scale == theirs.scale == pytest.approx(82.2 / pixel_factor)
    np.testing.assert_array_equal(ours.nll_pixels, theirs.nll_pixels)
    np.testing.assert_array_equal(ours.r_loss_sketch, theirs.r_loss_sketch)
    for a, b in zip(sample(model, 3, temperature=0.3, seed=5), sample(back, 3, temperature=0.3, seed=5),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # ... and it exports to the same browser file it came from.
    if pixel_factor == 2.0:
        out = export_browser_model(back, tmp_path / "cat.gen.json")
        assert json.loads(Path(out).read_text()) == json.loads((js_dir / "cat.gen.json").read_text())


def test_export_reproduces_shared_file(js_dir, tmp_path):
    src = js_dir / "rabbit.gen.json"
    model = load_browser_model(src)
    out = export_browser_model(model, tmp_path / "rabbit.gen.json")
    assert json.loads(Path(out).read_text()) == json.loads(src.read_text())


def _small(conditional: bool, dec="lstm", enc="lstm") -> SketchRNN:
    hps = HParams(enc_rnn_size=6, dec_rnn_size=8, z_size=3, num_mixture=2, max_seq_len=20,
                  conditional=conditional, dec_model=dec, enc_model=enc)
    model = SketchRNN(hps, scale_factor=12.5)
    rng = np.random.default_rng(0)
    for v in model.weights:
        v.assign(rng.normal(0, 2.0, v.shape).astype(np.float32))
    model.output_b.assign(np.concatenate([[12.0, -11.0], rng.normal(0, 1, model.output_b.shape[0] - 2)])
                          .astype(np.float32))  # two saturating values
    return model


@pytest.mark.parametrize("mode", ["gen", "vae"])
def test_round_trip_within_quantisation_step(tmp_path, mode):
    model = _small(conditional=mode == "vae")
    path = export_browser_model(model, tmp_path / f"m.{mode}.json")
    info, shapes, blobs = json.loads(Path(path).read_text())
    assert info == {"mode": 2 if mode == "gen" else 0, "version": 6, "max_seq_len": 20, "name": "aaron_sheep",
                    "scale_factor": 25.0}
    assert len(blobs) == (5 if mode == "gen" else 17)
    back = load_browser_model(path)
    assert back.config.conditional == (mode == "vae")
    assert back.config.scale_factor == pytest.approx(12.5)
    for a, b in zip(_model_arrays(model), _model_arrays(back), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        expect = np.clip(a, -10, 10)
        assert np.max(np.abs(expect - b)) <= QUANTIZATION_STEP / 2 + 1e-6
    # The weights travel as little-endian int16 of round(clip(w/10) * 32767).
    first = np.frombuffer(base64.b64decode(blobs[0]), "<i2")
    np.testing.assert_array_equal(first, quantize(np.asarray(_model_arrays(model)[0])).ravel())
    # Re-exporting the import gives the same file.
    again = export_browser_model(back, tmp_path / f"again.{mode}.json")
    assert Path(again).read_text() == Path(path).read_text()


def test_vae_round_trip_forward(tmp_path):
    model = _small(conditional=True)
    for v in model.weights:  # inside the format's +-10 range
        v.assign(np.clip(v, -9.0, 9.0))
    back = load_browser_model(export_browser_model(model, tmp_path / "m.vae.json"))
    x = np.zeros([2, 6, 5], np.float32)
    x[:, 1:, :2] = np.random.default_rng(1).normal(0, 0.5, [2, 5, 2])
    x[:, 1:, 2] = 1
    a = model(x, np.array([5, 3]), eps=np.zeros([2, 3], np.float32))
    b = back(x, np.array([5, 3]), eps=np.zeros([2, 3], np.float32))
    np.testing.assert_allclose(a["mu"], b["mu"], atol=5e-3)
    np.testing.assert_allclose(a["raw"], b["raw"], atol=5e-2)


def test_legacy_vae_version_sets_z_tanh(tmp_path):
    path = export_browser_model(_small(conditional=True), tmp_path / "old.vae.json")
    doc = json.loads(Path(path).read_text())
    doc[0]["version"] = 5
    Path(path).write_text(json.dumps(doc))
    model = load_browser_model(path)
    assert model.config.z_tanh is True
    # ... and exporting keeps the legacy version so other clients apply tanh too.
    again = json.loads(Path(export_browser_model(model, tmp_path / "again.vae.json")).read_text())
    assert again[0]["version"] == 5


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("version", [5, 6])
def test_browser_initial_state_and_legacy_tanh(tmp_path, version):
    # sketch-rnn-js: a version < 6 VAE starts the decoder from tanh(W tanh(z) + b) but every step
    # still reads the raw z; checked here against a plain numpy LSTM step.
    path = export_browser_model(_small(conditional=True), tmp_path / "m.vae.json")
    doc = json.loads(Path(path).read_text())
    doc[0]["version"] = version
    Path(path).write_text(json.dumps(doc))
    model = load_browser_model(path)
    z = np.random.default_rng(3).normal(0, 1.5, [2, 3]).astype(np.float64)
    w = lambda v: np.asarray(v, np.float64)  # noqa: E731
    z_init = np.tanh(z) if version < 6 else z
    want = np.tanh(z_init @ w(model.init_w) + w(model.init_b))
    state = browser_initial_state(model, z)
    np.testing.assert_allclose(state, want, atol=1e-5)
    np.testing.assert_allclose(browser_initial_state(model, z[0]), want[:1], atol=1e-5)

    res = sample_strokes5(model, z=z.astype(np.float32), initial_state=state, greedy=True, max_len=3)
    dec, d = model.decoder, model.config.dec_rnn_size
    c, h = want[:, :d], want[:, d:]  # TF LSTMCell state order (c, h), as the JS splits it
    x = np.concatenate([np.zeros([2, 5]), z], axis=1)  # start token (0,0,0,0,0) and the raw z
    i, j, f, o = np.split(x @ w(dec.W_xh) + h @ w(dec.W_hh) + w(dec.bias), 4, axis=1)
    h1 = np.tanh(c * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)) * _sigmoid(o)
    np.testing.assert_allclose(res.raw[:, 0], h1 @ w(model.output_w) + w(model.output_b), atol=1e-4)


def test_browser_initial_state_needs_a_vae():
    with pytest.raises(ValueError, match="conditional"):
        browser_initial_state(_small(conditional=False), np.zeros(3))


def test_export_warns_when_the_clients_cannot_run_it(tmp_path):
    with pytest.warns(UserWarning, match="hard-code 20 mixture components"):
        export_browser_model(_small(conditional=False), tmp_path / "m.gen.json")


def test_export_refuses_non_lstm_and_wrong_mode(tmp_path):
    with pytest.raises(ValueError, match="only implement plain LSTM"):
        export_browser_model(_small(False, dec="layer_norm"), tmp_path / "x.gen.json")
    with pytest.raises(ValueError, match="only implement plain LSTM"):
        export_browser_model(_small(True, enc="layer_norm"), tmp_path / "x.vae.json")
    with pytest.raises(ValueError, match="conditional"):
        export_browser_model(_small(True), tmp_path / "x.gen.json")
    with pytest.raises(ValueError, match="unconditional"):
        export_browser_model(_small(False), tmp_path / "x.vae.json")


def _good_doc(tmp_path) -> list:
    path = export_browser_model(_small(conditional=False), tmp_path / "good.gen.json")
    return json.loads(Path(path).read_text())


def _b64(values, dtype="<i2") -> str:
    return base64.b64encode(np.asarray(values, dtype).tobytes()).decode()


@pytest.mark.parametrize("case, message", [
    ("not_json", "not JSON"),
    ("dict", "expected a JSON array"),
    ("two", "a list of 2"),
    ("info_list", "info"),
    ("no_scale", "scale_factor"),
    ("bad_scale", "scale_factor"),
    ("blob_count", "has 5 weight arrays, this file has 4"),
    ("count_mismatch", "5 shapes but 4 weight blobs"),
    ("shape", "inconsistent shapes"),
    ("mixture", "14 columns"),
    ("base64", "not valid base64"),
    ("bytes", "decodes to"),
    ("vae_count", "VAE"),
    ("nan", "non-standard JSON"),
])
def test_malformed_files(tmp_path, case, message):
    doc = _good_doc(tmp_path)
    text = None
    if case == "not_json":
        text = "import os; os.system('echo pwned')"
    elif case == "dict":
        text = json.dumps({"info": doc[0]})
    elif case == "two":
        doc = doc[:2]
    elif case == "info_list":
        doc[0] = [1, 2]
    elif case == "no_scale":
        del doc[0]["scale_factor"]
    elif case == "bad_scale":
        doc[0]["scale_factor"] = -3
    elif case == "blob_count":
        doc[1], doc[2] = doc[1][:4], doc[2][:4]
    elif case == "count_mismatch":
        doc[2] = doc[2][:4]
    elif case == "shape":
        doc[1][3] = [8, 33]
    elif case == "mixture":
        doc[1][0], doc[1][1] = [8, 14], [14]
    elif case == "base64":
        doc[2][1] = "!!!not base64!!!"
    elif case == "bytes":
        doc[2][1] = _b64(np.zeros(14))
    elif case == "vae_count":
        doc[0]["mode"] = 0
    elif case == "nan":
        text = json.dumps(doc).replace('"scale_factor":', '"scale_factor": NaN, "x":', 1)
    path = tmp_path / "bad.gen.json"
    path.write_text(text if text is not None else json.dumps(doc))
    with pytest.raises(ValueError, match=message) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bin.gen.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="bin.gen.json.*UTF-8"):
        load_browser_model(path)

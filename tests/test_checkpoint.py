"""Saving and loading: our checkpoints round-trip; magenta TF1 folders load; bad files fail clearly."""

from __future__ import annotations

import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest

from sketch_rnn.checkpoint import (
    TrainingState,
    load_model,
    save_model,
    weight_layout,
    weights_equal,
    write_checkpoint,
)
from sketch_rnn.config import ModelConfig
from sketch_rnn.hparams import HParams
from sketch_rnn.interop.tf1 import load_tf1_checkpoint, resolve_prefix, tf1_names
from sketch_rnn.losses import reconstruction_loss
from sketch_rnn.model import SketchRNN
from sketch_rnn.sampling import sample
from sketch_rnn.tf_checkpoint import CheckpointReader
from sketch_rnn.train import build_optimizer

SMALL = dict(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, max_seq_len=30)


def _x(batch=2, n=30):
    rng = np.random.default_rng(0)
    x = np.zeros([batch, n + 1, 5], np.float32)
    x[:, 0] = [0, 0, 1, 0, 0]
    x[:, 1:, 4] = 1
    x[:, 1:11, :2] = rng.normal(size=(batch, 10, 2))
    x[:, 1:11, 4] = 0
    x[:, 1:11, 2] = 1
    return x, np.full([batch], 10, np.int32)


@pytest.mark.parametrize("cell", ["lstm", "layer_norm", "hyper"])
@pytest.mark.parametrize("conditional", [True, False])
def test_round_trip_identical(tmp_path, cell, conditional):
    hps = HParams(**SMALL, enc_model=cell, dec_model=cell, conditional=conditional)
    model = SketchRNN(hps, scale_factor=18.5)
    save_model(model, tmp_path, step=12)
    loaded = load_model(tmp_path)
    assert loaded.config == model.config == hps.model_config(scale_factor=18.5)
    assert loaded.scale_factor == 18.5
    # model_config.json keeps magenta's hparams of the model (what magenta's tools read).
    assert HParams.load(tmp_path).model_config(scale_factor=18.5) == model.config
    assert weights_equal(model, loaded)
    if cell != "hyper":  # identical weights already settle it; hyper's eager run is slow
        x, n = _x()
        eps = np.zeros([2, 4], np.float32)
        a, b = model(x, n, eps=eps), loaded(x, n, eps=eps)
        np.testing.assert_array_equal(*(keras.ops.convert_to_numpy(o["raw"]) for o in (a, b)))
    # A specific prefix works too.
    assert weights_equal(model, load_model(tmp_path / "ckpt-12"))


def test_checkpoint_that_does_not_match_its_config(tmp_path):
    save_model(SketchRNN(HParams(**SMALL)), tmp_path)
    meta = json.loads((tmp_path / "sketch_rnn.json").read_text())
    meta["model"]["dec_rnn_size"] = 32
    (tmp_path / "sketch_rnn.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"does not match its model config.*decoder/W_hh"):
        load_model(tmp_path)
    meta["model"]["dec_rnn_size"], meta["model"]["dec_model"] = 16, "layer_norm"
    (tmp_path / "sketch_rnn.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match its model config"):
        load_model(tmp_path)
    meta["model"]["dec_model"] = "gru"
    (tmp_path / "sketch_rnn.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="sketch_rnn.json: bad model config.*dec_model='gru'"):
        load_model(tmp_path)


def test_config_travels_with_the_weights(tmp_path):
    """Every field of the model config (conventions included) comes back from the folder alone."""
    config = ModelConfig(**{k: v for k, v in SMALL.items()}, dec_model="layer_norm", enc_model="hyper",
                         hyper_num_units=6, hyper_embedding_size=3, scale_factor=7.25,
                         start_token=(0, 0, 0, 0, 0), temperature_convention="browser", z_tanh=True,
                         pixel_factor=1.0, name="owl", gmm_loss="reference", use_output_dropout=True)
    model = SketchRNN(config)
    save_model(model, tmp_path)
    assert load_model(tmp_path).config == config
    # An architecture override keeps the conventions.
    hps = HParams(**SMALL, dec_model="layer_norm", enc_model="hyper")
    assert load_model(tmp_path, hps=hps).config == config.replace(gmm_loss="stable", use_output_dropout=False)


def test_format_1_folders_still_load(tmp_path):
    """Folders written before the config travelled with the weights: the architecture in
    model_config.json, the scale factor in sketch_rnn.json."""
    model = SketchRNN(HParams(**SMALL, dec_model="layer_norm"), scale_factor=3.5)
    save_model(model, tmp_path)
    (tmp_path / "sketch_rnn.json").write_text(json.dumps({"format_version": 1, "scale_factor": 3.5}))
    loaded = load_model(tmp_path)
    assert loaded.config == model.config and weights_equal(model, loaded)
    (tmp_path / "sketch_rnn.json").write_text(json.dumps({"format_version": 9}))
    with pytest.raises(ValueError, match="unsupported format"):
        load_model(tmp_path)


@pytest.mark.parametrize("cell", ["lstm", "hyper"])
def test_weights_files_are_keras_own_format(tmp_path, cell):
    """``ckpt-N.weights.h5`` has the layout Keras' ``save_weights`` writes, and Keras reads it."""
    config = ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2, enc_model=cell,
                         dec_model=cell, hyper_num_units=8)
    model = SketchRNN(config)
    prefix = save_model(model, tmp_path / "ours")
    model.save_weights(str(tmp_path / "keras.weights.h5"))

    def layout(path):
        with h5py.File(path, "r") as f:
            items = []
            f.visititems(lambda name, obj: items.append(
                (name, obj.shape if isinstance(obj, h5py.Dataset) else dict(obj.attrs))))
            return items

    assert layout(prefix + ".weights.h5") == layout(tmp_path / "keras.weights.h5")
    assert sorted(weight_layout(model)) == sorted(
        n for n, shape in layout(prefix + ".weights.h5") if isinstance(shape, tuple))
    other = SketchRNN(config)
    other.load_weights(prefix + ".weights.h5")
    assert weights_equal(model, other)


FORMAT2 = os.path.join(os.path.dirname(__file__), "data", "format2_model")


def test_format_2_folders_still_load(tmp_path):
    """Folders whose weights are TensorFlow object checkpoints (``tests/data/make_format2_model.py``)
    load on every backend, and a resume state of that format is read: weights, Adam's slots and
    step, best validation cost and data RNG."""
    model = load_model(FORMAT2)
    reader = CheckpointReader(os.path.join(FORMAT2, "ckpt-3"))
    weights = {name: var for name, var in
               ((n, v) for _, (n, v) in weight_layout(model).items())}
    assert len(weights) == len(model.weights)
    for name, var in weights.items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(var),
                                      reader.get(f"model/{name}/.ATTRIBUTES/VARIABLE_VALUE"))
    # Saved again, it is a folder of today's format with the same model.
    save_model(model, tmp_path / "again")
    assert sorted(f for f in os.listdir(tmp_path / "again") if f.startswith("ckpt-")) == ["ckpt-1.weights.h5"]
    assert weights_equal(load_model(tmp_path / "again"), model)

    fresh = SketchRNN(model.config)
    optimizer = build_optimizer(HParams.load(FORMAT2).train_config())
    optimizer.build(fresh.trainable_variables)
    got = {}
    TrainingState(fresh, optimizer, dict, got.update).read(os.path.join(FORMAT2, "resume", "ckpt-3"))
    assert got == {"best_valid_cost": 1.25,
                   "data_rng": {"bit_generator": "PCG64", "note": "a data RNG state"}}
    assert weights_equal(fresh, model)
    resume = CheckpointReader(os.path.join(FORMAT2, "resume", "ckpt-3"))
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 3
    for i, var in enumerate(optimizer.variables[1:], start=1):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(var),
                                      resume.get(f"optimizer/_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"))


def test_a_training_state_round_trips(tmp_path):
    model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    optimizer = build_optimizer(HParams().train_config())
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    for v in optimizer.variables:
        v.assign(rng.integers(1, 9, size=v.shape).astype(v.dtype))
    state = TrainingState(model, optimizer, lambda: {"a": [1, 2]}, None)
    prefix = write_checkpoint(state, tmp_path, 5, keep=2)
    other = SketchRNN(model.config)
    other_opt = build_optimizer(HParams().train_config())
    other_opt.build(other.trainable_variables)
    got = {}
    TrainingState(other, other_opt, dict, got.update).read(prefix)
    assert got == {"a": [1, 2]} and weights_equal(model, other)
    for a, b in zip(optimizer.variables, other_opt.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    # A state of another optimizer size is a mismatch, named, not damage.
    small = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=8, z_size=4, num_mixture=2))
    small_opt = build_optimizer(HParams().train_config())
    small_opt.build(small.trainable_variables)
    with pytest.raises(ValueError, match="shape"):
        TrainingState(small, small_opt, dict, got.update).read(prefix)


def test_bad_paths_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a sketch_rnn model folder"):
        load_model(tmp_path / "empty")
    folder = tmp_path / "nockpt"
    save_model(SketchRNN(HParams(**SMALL)), folder)
    for f in os.listdir(folder):
        if f.startswith("ckpt") or f == "checkpoint":
            os.remove(folder / f)
    with pytest.raises(FileNotFoundError, match="no checkpoint files"):
        load_model(folder)
    (folder / "sketch_rnn.json").write_text("{not json")
    with pytest.raises(ValueError, match="sketch_rnn.json: not valid JSON"):
        load_model(folder)


@pytest.fixture(scope="module")
def parity_cases(parity_dir):
    return sorted(d for d in os.listdir(parity_dir)
                  if os.path.exists(os.path.join(parity_dir, d, "expected.npz")))


def test_tf1_folders_load_through_load_model(parity_dir, parity_cases):
    for case in parity_cases:
        folder = os.path.join(parity_dir, case)
        model = load_model(folder)
        expected = json.load(open(os.path.join(folder, "expected.json")))
        assert model.config == HParams().replace(**expected["hparams"]).model_config()
        reader = CheckpointReader(resolve_prefix(folder))
        for var, names in tf1_names(model):
            if isinstance(names, str):
                np.testing.assert_array_equal(np.asarray(var), reader.get(names))


def test_tf1_model_survives_save_model(parity_dir, parity_cases, tmp_path):
    """A magenta checkpoint saved as our folder and loaded again: same config, weights, likelihoods
    and seeded samples."""
    x, n = _x(batch=2, n=12)
    for case in parity_cases:
        model = load_model(os.path.join(parity_dir, case))
        save_model(model, tmp_path / case)
        back = load_model(tmp_path / case)
        assert back.config == model.config and weights_equal(model, back)
        eps = np.zeros([2, model.config.z_size], np.float32)
        a, b = model(x, n, eps=eps), back(x, n, eps=eps)
        np.testing.assert_array_equal(a["raw"], b["raw"])
        nll = [float(reconstruction_loss(o["raw"], x[:, 1:], model.config.num_mixture)) for o in (a, b)]
        assert nll[0] == nll[1]
        if case == parity_cases[0]:  # (compiling the sampler for every case would take a minute)
            drawn = [sample(m, 2, seed=1, max_len=12) for m in (model, back)]
            for d1, d2 in zip(*drawn, strict=True):
                np.testing.assert_array_equal(d1, d2)


def test_tf1_missing_tensor_and_wrong_config(parity_dir, tmp_path):
    src = os.path.join(parity_dir, "lstm_vae")
    if not os.path.isdir(src):
        pytest.skip("lstm_vae parity case not present")
    dst = tmp_path / "lstm_vae"
    shutil.copytree(src, dst)
    config = json.loads((dst / "model_config.json").read_text())
    config["z_size"] = 16
    (dst / "model_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"does not match its model config.*ENC_RNN_mu"):
        load_tf1_checkpoint(dst)
    config["z_size"], config["dec_model"] = 8, "layer_norm"
    (dst / "model_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing tensors.*LayerNormLSTMCell"):
        load_tf1_checkpoint(dst)
    os.remove(dst / "model_config.json")
    with pytest.raises(FileNotFoundError, match="no model_config.json"):
        load_tf1_checkpoint(dst)


def test_real_magenta_index_files_match_our_names(shared_dir, tmp_path):
    """The index files of two real magenta checkpoints name exactly the tensors we map."""
    root = os.path.join(shared_dir, "pretrained", "tf1_checkpoint_index")
    folders = sorted(os.listdir(root))
    assert folders
    for name in folders:
        folder = os.path.join(root, name)
        hps = HParams.load(folder)
        model = SketchRNN(hps)
        shapes = CheckpointReader(resolve_prefix(folder)).shapes()
        trainable = {n for n in shapes if n.startswith("vector_rnn/")
                     and "Adam" not in n and n.split("/")[-1] not in
                     ("global_step", "Variable", "Variable_1", "beta1_power", "beta2_power")}
        ours = set()
        for var, names in tf1_names(model):
            for n in [names] if isinstance(names, str) else names:
                ours.add(n)
                assert list(shapes[n]) == list(var.shape if isinstance(names, str) else var.shape[1:])
        assert ours == trainable, name
        # Weights are not shipped with these index files: loading says so.
        with pytest.raises(FileNotFoundError, match="no .data-"):
            load_model(folder)

"""TF1 export: a magenta-named checkpoint folder that the TF1 loader reads back bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn.checkpoint import load_model, save_model, weights_equal
from sketch_rnn.hparams import HParams
from sketch_rnn.interop.tf1 import export_tf1_checkpoint, load_tf1_checkpoint, tf1_names
from sketch_rnn.model import SketchRNN


def _model(dec: str, enc: str = "lstm", conditional: bool = True) -> SketchRNN:
    hps = HParams(enc_rnn_size=6, dec_rnn_size=8, z_size=3, num_mixture=2, max_seq_len=20,
                  dec_model=dec, enc_model=enc, conditional=conditional, gmm_loss="reference")
    model = SketchRNN(hps, scale_factor=3.0, initialize=False)  # every weight is assigned below
    rng = np.random.default_rng(0)
    for v in model.weights:
        v.assign(rng.normal(0, 1, v.shape).astype(np.float32))
    return model


@pytest.mark.parametrize("dec, enc, conditional", [
    ("lstm", "lstm", True), ("lstm", "lstm", False), ("layer_norm", "layer_norm", True),
    ("hyper", "lstm", True),
])
def test_round_trip_identical(tmp_path, dec, enc, conditional):
    model = _model(dec, enc, conditional)
    prefix = export_tf1_checkpoint(model, tmp_path / "tf1", step=1500)
    assert prefix == str(tmp_path / "tf1" / "vector-1500")
    assert tf.train.latest_checkpoint(str(tmp_path / "tf1")) == prefix
    back = load_tf1_checkpoint(tmp_path / "tf1")
    assert weights_equal(model, back)
    # magenta's hparams carry neither our loss-form option nor the scale factor.
    assert back.config == model.config.replace(gmm_loss="stable", scale_factor=None)
    names = dict(tf.train.list_variables(prefix))
    expected = {n for _, ns in tf1_names(model) for n in ([ns] if isinstance(ns, str) else ns)}
    assert expected <= set(names)
    assert names["vector_rnn/global_step"] == []
    config = json.loads((tmp_path / "tf1" / "model_config.json").read_text())
    assert "gmm_loss" not in config and "pad_to" not in config
    assert config["dec_model"] == dec and config["conditional"] is conditional
    # The generic loader recognises the folder too.
    assert weights_equal(model, load_model(tmp_path / "tf1"))


def test_names_match_real_magenta_index(tmp_path, shared_dir: Path):
    index_dir = shared_dir / "pretrained" / "tf1_checkpoint_index" / "speedboat_vae_lstm"
    if not index_dir.is_dir():
        pytest.skip("real magenta index files not found")
    real = {n: s for n, s in tf.train.list_variables(str(index_dir / "vector-126000"))
            if "Adam" not in n and "_power" not in n and not n.startswith("vector_rnn_1/")}
    hps = HParams.load(index_dir / "model_config.json").replace(enc_rnn_size=4, dec_rnn_size=8, z_size=3)
    prefix = export_tf1_checkpoint(SketchRNN(hps), tmp_path / "tf1")
    ours = dict(tf.train.list_variables(prefix))
    assert set(ours) == set(real)


def test_cli_exports(tmp_path, capsys):
    from sketch_rnn.cli.export import main_args

    model = _model("lstm", conditional=False)
    save_model(model, tmp_path / "ours")
    assert main_args(["--log_root", str(tmp_path / "ours"), "--out", str(tmp_path / "tf1")]) == 0
    assert weights_equal(model, load_tf1_checkpoint(tmp_path / "tf1"))
    out = tmp_path / "m.gen.json"
    assert main_args([f"--log_root={tmp_path / 'ours'}", f"--out={out}"]) == 0
    assert load_model(out).config.scale_factor == pytest.approx(3.0)
    assert main_args(["--log_root", str(tmp_path / "ours"), "--out", str(tmp_path / "m.vae.json")]) == 2
    assert "unconditional" in capsys.readouterr().err

"""Configuration objects: round trips through JSON, one set of rules for every construction path, and
magenta's hparams filling them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sketch_rnn.config import DataConfig, ModelConfig, TrainConfig
from sketch_rnn.hparams import HParams


@pytest.mark.parametrize("config", [
    ModelConfig(),
    ModelConfig(dec_model="hyper", enc_model="layer_norm", conditional=False, scale_factor=18.5,
                start_token=(0, 0, 0, 0, 0), temperature_convention="browser", z_tanh=True, pixel_factor=1.0,
                name="cat", gmm_loss="reference", hyper_num_units=64, hyper_embedding_size=8),
    DataConfig(data_set=("a.npz", "b.npz"), pad_to="batch", batch_size=7),
    TrainConfig(kl_weight=0.25, num_steps=0),
])
def test_get_config_from_config_round_trip_through_json(config):
    again = type(config).from_config(json.loads(json.dumps(config.get_config())))
    assert again == config
    assert dataclasses.asdict(again) == dataclasses.asdict(config)


@pytest.mark.parametrize("cls, changes, match", [
    (ModelConfig, {"dec_model": "gru"}, "dec_model='gru': must be one of lstm, layer_norm, hyper"),
    (ModelConfig, {"z_size": 0}, "z_size=0: must be > 0"),
    (ModelConfig, {"recurrent_dropout_prob": 0.0}, "recurrent_dropout_prob=0.0: a keep probability"),
    (ModelConfig, {"scale_factor": -2.0}, "scale_factor=-2.0: must be a positive number"),
    (ModelConfig, {"scale_factor": float("nan")}, "scale_factor=nan: expected float"),
    (ModelConfig, {"start_token": (0, 0, 1)}, "start_token=.*5 numbers"),
    (ModelConfig, {"temperature_convention": "js"}, "temperature_convention='js'"),
    (ModelConfig, {"conditional": "maybe"}, "conditional='maybe': expected bool"),
    (DataConfig, {"data_set": ()}, "data_set: at least one"),
    (DataConfig, {"augment_stroke_prob": 1.0}, r"augment_stroke_prob=1.0: must be in \[0, 1\)"),
    (TrainConfig, {"decay_rate": 0}, r"decay_rate=0.0: must be in \(0, 1\]"),
    (TrainConfig, {"num_steps": -1}, "num_steps=-1: must be >= 0"),
])
def test_every_path_checks_the_same_rules(cls, changes, match):
    with pytest.raises(ValueError, match=match):
        cls(**changes)
    with pytest.raises(ValueError, match=match):
        cls().replace(**changes)
    with pytest.raises(ValueError, match=match):
        cls.from_config(changes)
    hparam = next(iter(changes))
    if hparam in HParams.__dataclass_fields__:  # magenta's parser reports the same rule, as an hparam
        with pytest.raises(ValueError, match="hparam " + match):
            HParams(**changes)


def test_unknown_fields_are_errors():
    with pytest.raises(ValueError, match="ModelConfig: unknown field.*zz_size"):
        ModelConfig.from_config({"zz_size": 3})
    with pytest.raises(ValueError, match="TrainConfig: unknown field.*batch"):
        TrainConfig().replace(batch=3)


def test_hparams_fill_the_three_configs():
    hps = HParams().parse("dec_model=layer_norm,z_size=64,data_set=[cat.npz,owl.npz],kl_weight=0.8,"
                          "batch_size=50,recurrent_dropout_prob=0.7,pad_to=batch")
    model, data, train = hps.model_config(scale_factor=3.0), hps.data_config(), hps.train_config()
    assert (model.dec_model, model.z_size, model.recurrent_dropout_prob) == ("layer_norm", 64, 0.7)
    assert model.scale_factor == 3.0 and model.name == "cat"  # magenta's hparams name the data
    assert (data.data_set, data.batch_size, data.pad_to) == (("cat.npz", "owl.npz"), 50, "batch")
    assert train.kl_weight == 0.8
    # ... and back: every hparam is in exactly one config (max_seq_len in two, the same value).
    assert HParams.from_configs(model, data, train) == hps
    assert HParams.from_configs(ModelConfig(name="owl")).data_set == ("owl.npz",)


def test_every_hparam_has_a_home():
    homes = [set(f.name for f in dataclasses.fields(c)) for c in (ModelConfig, DataConfig, TrainConfig)]
    for name in HParams.__dataclass_fields__:
        assert name == "is_training" or any(name in h for h in homes), name

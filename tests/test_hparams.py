"""Hyper-parameters: magenta's defaults, its string syntax, validation and every config-file variant."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from sketch_rnn.hparams import CONFIG_FILE, HParams, get_default_hparams

# magenta model.py:get_default_hparams (REFERENCE.md section 1.1), every field.
MAGENTA_DEFAULTS = {
    "data_set": ["aaron_sheep.npz"],
    "num_steps": 10_000_000,
    "save_every": 500,
    "max_seq_len": 250,
    "dec_rnn_size": 512,
    "dec_model": "lstm",
    "enc_rnn_size": 256,
    "enc_model": "lstm",
    "z_size": 128,
    "kl_weight": 0.5,
    "kl_weight_start": 0.01,
    "kl_tolerance": 0.2,
    "batch_size": 100,
    "grad_clip": 1.0,
    "num_mixture": 20,
    "learning_rate": 0.001,
    "decay_rate": 0.9999,
    "kl_decay_rate": 0.99995,
    "min_learning_rate": 0.00001,
    "use_recurrent_dropout": True,
    "recurrent_dropout_prob": 0.90,
    "use_input_dropout": False,
    "input_dropout_prob": 0.90,
    "use_output_dropout": False,
    "output_dropout_prob": 0.90,
    "random_scale_factor": 0.15,
    "augment_stroke_prob": 0.10,
    "conditional": True,
    "is_training": True,
}
# The two documented options that are not magenta's, at their reference-compatible defaults.
EXTRA_DEFAULTS = {"gmm_loss": "stable", "pad_to": "max"}


# -- defaults ---------------------------------------------------------------------------------


def test_defaults_equal_magenta_table():
    values = get_default_hparams().values()
    assert set(values) == set(MAGENTA_DEFAULTS) | set(EXTRA_DEFAULTS)
    for name, expected in {**MAGENTA_DEFAULTS, **EXTRA_DEFAULTS}.items():
        got = values[name]
        assert got == expected, name
        assert type(got) is type(expected), (name, type(got))


def test_default_attributes_and_types():
    hps = HParams()
    assert hps.data_set == ("aaron_sheep.npz",)
    assert isinstance(hps.data_set, tuple)
    assert hps == get_default_hparams()
    assert hps.min_learning_rate == 1e-5
    assert hps.recurrent_dropout_prob == 0.9
    with pytest.raises(dataclasses.FrozenInstanceError):
        hps.z_size = 3  # type: ignore[misc]


# -- magenta's string syntax, JSON strings and dicts ------------------------------------------


def test_parse_magenta_string():
    hps = HParams().parse("dec_model=layer_norm,z_size=64,conditional=0,learning_rate=1e-4")
    assert hps.dec_model == "layer_norm"
    assert hps.z_size == 64 and type(hps.z_size) is int
    assert hps.conditional is False
    assert hps.learning_rate == 1e-4 and type(hps.learning_rate) is float
    # Untouched values keep their defaults and the original is unchanged (frozen, copy returned).
    assert hps.enc_model == "lstm" and hps.batch_size == 100
    assert HParams().z_size == 128


def test_parse_readme_big_data_example():
    hps = HParams().parse(
        "dec_model=hyper,dec_rnn_size=2048,enc_model=layer_norm,enc_rnn_size=512,use_recurrent_dropout=0"
    )
    assert (hps.dec_model, hps.dec_rnn_size, hps.enc_model, hps.enc_rnn_size) == (
        "hyper", 2048, "layer_norm", 512)
    assert hps.use_recurrent_dropout is False


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("data_set=[a.npz,b.npz]", ("a.npz", "b.npz")),
        ("data_set=[a.npz, b.npz, c.npz]", ("a.npz", "b.npz", "c.npz")),
        ("data_set=['a.npz','b.npz']", ("a.npz", "b.npz")),
        ("data_set=cat.npz", ("cat.npz",)),
        ("data_set=[cat.npz]", ("cat.npz",)),
    ],
)
def test_parse_data_set_lists(spec, expected):
    assert HParams().parse(spec).data_set == expected


def test_parse_list_followed_by_more_values():
    hps = HParams().parse("data_set=[a.npz,b.npz],z_size=32,dec_model=hyper")
    assert hps.data_set == ("a.npz", "b.npz")
    assert hps.z_size == 32 and hps.dec_model == "hyper"


@pytest.mark.parametrize(
    "text, expected",
    [("0", False), ("1", True), ("true", True), ("false", False), ("True", True), ("False", False)],
)
def test_parse_booleans(text, expected):
    hps = HParams().parse(f"conditional={text},use_input_dropout={text}")
    assert hps.conditional is expected
    assert hps.use_input_dropout is expected


def test_parse_whitespace_and_empty():
    assert HParams().parse(" z_size = 16 , dec_model = hyper ").z_size == 16
    assert HParams().parse("") == HParams()
    assert HParams().parse("   ") == HParams()
    assert HParams().parse(None) == HParams()


def test_parse_json_string():
    hps = HParams().parse('{"z_size": 16, "data_set": ["x.npz", "y.npz"], "conditional": false}')
    assert hps.z_size == 16
    assert hps.data_set == ("x.npz", "y.npz")
    assert hps.conditional is False


def test_parse_dict_with_magenta_types():
    hps = HParams().override({"z_size": 16.0, "conditional": 0, "is_training": 1, "kl_weight": 1})
    assert hps.z_size == 16 and type(hps.z_size) is int
    assert hps.conditional is False and hps.is_training is True
    assert hps.kl_weight == 1.0 and type(hps.kl_weight) is float


def test_replace():
    hps = HParams().replace(batch_size=10, num_mixture=3)
    assert (hps.batch_size, hps.num_mixture) == (10, 3)
    with pytest.raises(ValueError, match="nonsense"):
        HParams().replace(nonsense=1)


# -- errors name the field --------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, field",
    [
        ("z_sise=3", "z_sise"),
        ({"enc_rnn_sze": 3}, "enc_rnn_sze"),
        ('{"not_a_field": 1}', "not_a_field"),
        ("z_size=-1", "z_size"),
        ("dec_rnn_size=0", "dec_rnn_size"),
        ("enc_rnn_size=-256", "enc_rnn_size"),
        ("batch_size=0", "batch_size"),
        ("num_mixture=0", "num_mixture"),
        ("max_seq_len=-5", "max_seq_len"),
        ("dec_model=gru", "dec_model"),
        ("enc_model=LSTM", "enc_model"),
        ("recurrent_dropout_prob=0", "recurrent_dropout_prob"),
        ("input_dropout_prob=0.0", "input_dropout_prob"),
        ("output_dropout_prob=1.5", "output_dropout_prob"),
        ("z_size=1.5", "z_size"),
        ("batch_size=ten", "batch_size"),
        ("conditional=maybe", "conditional"),
        ("conditional=2", "conditional"),
        ("learning_rate=abc", "learning_rate"),
        ("learning_rate=nan", "learning_rate"),
        ("learning_rate=0", "learning_rate"),
        ("augment_stroke_prob=1.0", "augment_stroke_prob"),
        ("decay_rate=0", "decay_rate"),
        ("gmm_loss=exact", "gmm_loss"),
        ("pad_to=longest", "pad_to"),
        ({"z_size": True}, "z_size"),
        ({"kl_weight": False}, "kl_weight"),
        ({"dec_model": 3}, "dec_model"),
        ({"data_set": [1, 2]}, "data_set"),
    ],
)
def test_bad_values_raise_value_error_naming_field(spec, field):
    with pytest.raises(ValueError, match=field):
        HParams().parse(spec)


def test_constructor_validates_too():
    with pytest.raises(ValueError, match="z_size"):
        HParams(z_size=0)
    with pytest.raises(ValueError, match="data_set"):
        HParams(data_set=())


@pytest.mark.parametrize(
    "spec",
    ["z_size", "=3", "z_size=3,z_size=4", "data_set=[a.npz", "data_set=[a.npz]x,z_size=3"],
)
def test_malformed_strings_raise(spec):
    with pytest.raises(ValueError):
        HParams().parse(spec)


def test_bad_json_string_raises():
    with pytest.raises(ValueError, match="JSON"):
        HParams().parse('{"z_size": 16,')


# -- files ------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    hps = HParams().parse(
        "data_set=[a.npz,b.npz],dec_model=hyper,enc_model=layer_norm,z_size=32,conditional=0,"
        "kl_weight=0.25,gmm_loss=reference,pad_to=batch,max_seq_len=133"
    )
    hps.save(tmp_path)  # a folder: writes model_config.json inside
    path = tmp_path / CONFIG_FILE
    assert path.is_file()
    raw = json.loads(path.read_text())
    assert raw["data_set"] == ["a.npz", "b.npz"]
    assert raw["conditional"] is False and raw["z_size"] == 32
    assert HParams.load(tmp_path) == hps
    assert HParams.load(path) == hps
    # Saving to an explicit file name also works, and overwrites atomically (no temp files left).
    other = tmp_path / "sub" / "cfg.json"
    hps.replace(z_size=8).save(other)
    hps.save(other)
    assert HParams.load(other) == hps
    assert sorted(p.name for p in other.parent.iterdir()) == ["cfg.json"]


def test_load_magenta_zip_style_zero_one_booleans(tmp_path):
    # The released sketch_rnn.zip configs write booleans as 0/1 integers.
    values = dict(MAGENTA_DEFAULTS, conditional=0, is_training=0, use_recurrent_dropout=1,
                  use_input_dropout=0, use_output_dropout=0, dec_model="layer_norm",
                  enc_model="layer_norm", max_seq_len=250, num_steps=30000)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(values))
    hps = HParams.load(tmp_path)
    assert hps.conditional is False and hps.is_training is False
    assert hps.use_recurrent_dropout is True and hps.use_output_dropout is False
    assert hps.dec_model == "layer_norm" and hps.num_steps == 30000
    assert hps.data_set == ("aaron_sheep.npz",)


def test_load_partial_dict_keeps_defaults(tmp_path):
    (tmp_path / CONFIG_FILE).write_text('{"z_size": 64}')
    hps = HParams.load(tmp_path)
    assert hps == HParams(z_size=64)


def test_load_list_of_key_names_gives_defaults(tmp_path, caplog):
    # magenta's py3 writer: json.dump(list(hps.values())) -> the key names only.
    (tmp_path / CONFIG_FILE).write_text(json.dumps(list(MAGENTA_DEFAULTS)))
    with caplog.at_level(logging.WARNING):
        hps = HParams.load(tmp_path)
    assert hps == HParams()
    assert "without values" in caplog.text


def test_load_list_with_unknown_names_raises(tmp_path):
    path = tmp_path / CONFIG_FILE
    path.write_text(json.dumps(["z_size", "bogus_name"]))
    with pytest.raises(ValueError, match="bogus_name"):
        HParams.load(path)


def test_load_parity_configs(parity_cases):
    cases = parity_cases
    for case in cases:
        raw = json.loads((case / CONFIG_FILE).read_text())
        hps = HParams.load(case)
        values = hps.values()
        for name, value in raw.items():
            assert values[name] == value, (case.name, name)
        assert hps.gmm_loss == "stable" and hps.pad_to == "max"
    # The shared cases, where present (a parity folder may hold others, or fewer).
    by_name = {c.name: HParams.load(c) for c in cases}
    if "lstm_vae" in by_name:
        assert by_name["lstm_vae"].conditional is True
        assert (by_name["lstm_vae"].enc_rnn_size, by_name["lstm_vae"].dec_rnn_size) == (16, 32)
    if "lstm_uncond" in by_name:
        assert by_name["lstm_uncond"].conditional is False
    if "hyper_vae" in by_name:
        assert by_name["hyper_vae"].dec_model == "hyper"
    if "layer_norm_vae" in by_name:
        assert by_name["layer_norm_vae"].enc_model == "layer_norm"


def test_load_pretrained_index_configs(shared_dir):
    folder = shared_dir / "pretrained" / "tf1_checkpoint_index"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    uncond = HParams.load(folder / "speedboat_uncond_lstm1024")
    assert uncond.conditional is False and uncond.dec_rnn_size == 1024
    assert uncond.data_set == ("speedboat.npz",) and uncond.max_seq_len == 125
    vae = HParams.load(folder / "speedboat_vae_lstm" / CONFIG_FILE)
    assert vae.conditional is True and vae.num_steps == 126000


@pytest.mark.parametrize(
    "content", ["{not json", "", '{"z_size": 16,', "\x00\x01binary"]
)
def test_load_malformed_json_names_file(tmp_path, content):
    path = tmp_path / "broken_config.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="broken_config.json"):
        HParams.load(path)


def test_load_non_utf8_names_file(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"data_set": ["\xff.npz"]}')
    with pytest.raises(ValueError, match="latin.json"):
        HParams.load(path)


def test_load_wrong_json_type_names_file(tmp_path):
    path = tmp_path / "number.json"
    path.write_text("42")
    with pytest.raises(ValueError, match="number.json"):
        HParams.load(path)


def test_load_bad_value_names_file_and_field(tmp_path):
    path = tmp_path / "bad_value.json"
    path.write_text('{"dec_model": "gru"}')
    with pytest.raises(ValueError, match="bad_value.json.*dec_model"):
        HParams.load(path)
    path.write_text('{"zz_size": 4}')
    with pytest.raises(ValueError, match="bad_value.json.*zz_size"):
        HParams.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_config.json"):
        HParams.load(tmp_path)

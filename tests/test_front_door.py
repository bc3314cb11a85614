"""The package's front door: a dozen names at the top, the rest in namespaces, old names deprecated,
a quick import that pulls in no TensorFlow, and no name that means two things."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sketch_rnn

FRONT = ["HParams", "ModelConfig", "SketchRNN", "Trainer", "complete", "decode", "encode", "evaluate",
         "get_default_hparams", "load_dataset", "load_model", "sample", "save_model"]


def test_the_top_level_is_what_a_user_starts_from():
    assert sorted(sketch_rnn.__all__) == sorted(FRONT)
    from sketch_rnn import checkpoint, config, evaluation, model, sampling, train

    assert sketch_rnn.SketchRNN is model.SketchRNN and sketch_rnn.ModelConfig is config.ModelConfig
    assert sketch_rnn.sample is sampling.sample and sketch_rnn.encode is sampling.encode
    assert sketch_rnn.load_model is checkpoint.load_model and sketch_rnn.Trainer is train.Trainer
    assert sketch_rnn.evaluate is evaluation.evaluate


@pytest.mark.parametrize("name", ["latent", "draw", "strokes", "datasets", "interop", "fast", "runtime"])
def test_namespaces_load_on_first_use(name):
    module = getattr(sketch_rnn, name)
    assert module.__name__ == f"sketch_rnn.{name}"


@pytest.mark.parametrize("name, module", [
    ("grid_svg", "draw"), ("strip_svg", "draw"), ("SVG", "draw"), ("morph", "latent"), ("pca", "latent"),
    ("slerp", "strokes"), ("to_stroke5", "strokes"), ("DataLoader", "data"), ("kl_loss", "losses"),
    ("learning_rate", "schedules"), ("evaluate_drawings", "evaluation"), ("configure_cpu_threads", "fast"),
])
def test_old_top_level_names_still_work_with_a_warning(name, module):
    warning = f"sketch_rnn.{name} is deprecated.*sketch_rnn.{module}.{name}"
    with pytest.warns(DeprecationWarning, match=warning):
        value = getattr(sketch_rnn, name)
    assert value is getattr(getattr(sketch_rnn, module), name)


def test_unknown_names_fail_clearly():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        sketch_rnn.nonsense  # noqa: B018


def test_old_model_attributes_still_work_with_a_warning():
    config = sketch_rnn.ModelConfig(enc_rnn_size=4, dec_rnn_size=8, z_size=2, num_mixture=1)
    model = sketch_rnn.SketchRNN(config)
    with pytest.warns(DeprecationWarning, match="model.config"):
        hps = model.hps
    assert hps.model_config(name=model.config.name) == model.config
    with pytest.warns(DeprecationWarning, match="model.config.start_token"):
        assert model.start_token == (0.0, 0.0, 1.0, 0.0, 0.0)


def test_no_name_means_two_things():
    # The model's own encoder and decoder methods are not named like the drawing-level functions
    # (Keras' own Model.evaluate, for compiled Keras training loops, is inherited as it is).
    for name in ("encode", "decode", "sample", "complete"):
        assert not hasattr(sketch_rnn.SketchRNN, name), name
    from sketch_rnn import train

    assert not hasattr(train, "evaluate")  # the trainer's split evaluation is evaluate_split


def test_import_is_quick_and_imports_no_tensorflow():
    code = ("import sys, sketch_rnn, sketch_rnn.strokes, sketch_rnn.config, sketch_rnn.hparams, "
            "sketch_rnn.data; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

"""Writes ``tests/data/format2_model``: a small model folder as sketch_rnn wrote them before its
weights moved to ``.weights.h5`` (format 2: TensorFlow object checkpoints), with a resume state, so
that the tests prove such folders still load and resume, on every backend. Needs TensorFlow; run
from the repository root: ``python tests/data/make_format2_model.py``."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import tensorflow as tf

from sketch_rnn.checkpoint import write_meta
from sketch_rnn.config import ModelConfig
from sketch_rnn.hparams import HParams
from sketch_rnn.model import SketchRNN
from sketch_rnn.train import build_optimizer

FOLDER = os.path.join("tests", "data", "format2_model")


class _Json(tf.train.experimental.PythonState):
    def __init__(self, value):
        self.value = value

    def serialize(self):
        return json.dumps(self.value)

    def deserialize(self, string_value):
        self.value = json.loads(string_value)


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    shutil.rmtree(FOLDER, ignore_errors=True)
    config = ModelConfig(enc_model="layer_norm", dec_model="layer_norm", enc_rnn_size=8, dec_rnn_size=16,
                         z_size=4, num_mixture=2, scale_factor=18.5, name="tiny")
    model = SketchRNN(config)
    hps = HParams.from_configs(config)
    write_meta(FOLDER, model, hps)
    meta_path = os.path.join(FOLDER, "sketch_rnn.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["format_version"] = 2
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    optimizer = build_optimizer(hps.train_config())
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(1)
    for v in optimizer.variables[1:]:  # slots that differ from a fresh optimizer's
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    optimizer.iterations.assign(3)
    best = tf.train.Checkpoint(model=model).write(os.path.join(FOLDER, "ckpt-3"))
    state = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                best_valid_cost=tf.Variable(1.25, dtype=tf.float64),
                                data_rng=_Json({"bit_generator": "PCG64", "note": "a data RNG state"}),
                                noise_rng=tf.random.Generator.from_seed(5))
    resumed = state.write(os.path.join(FOLDER, "resume", "ckpt-3"))
    for folder, prefix in ((FOLDER, best), (os.path.join(FOLDER, "resume"), resumed)):
        with open(os.path.join(folder, "checkpoint"), "w") as f:
            f.write(f'model_checkpoint_path: "{os.path.basename(prefix)}"\n'
                    f'all_model_checkpoint_paths: "{os.path.basename(prefix)}"\n')


if __name__ == "__main__":
    main()

"""``sketch_rnn_train``: train a SketchRNN with magenta's flags.

    sketch_rnn_train --data_dir=DIR --log_root=DIR \\
        --hparams="enc_model=layer_norm,dec_model=layer_norm,z_size=64" [--resume_training]

``--hparams`` takes magenta's ``a=1,b=x`` syntax or a JSON object; ``--config=model_config.json``
starts from a saved config (``--hparams`` then overrides it). When resuming without either, the
config saved in ``--log_root`` is used. A ``--log_root`` that already holds a run is refused unless
``--resume_training`` (continue it) or ``--overwrite`` (delete its checkpoints and start again).
"""

from __future__ import annotations

import logging
import os
import sys

from absl import flags

from sketch_rnn.cli._common import DEFAULT_DATA_DIR, import_backend, run_absl_app
from sketch_rnn.hparams import CONFIG_FILE, HParams

FLAGS = flags.FLAGS

flags.DEFINE_string("data_dir", DEFAULT_DATA_DIR,
                    "Folder holding the .npz file(s) named by the data_set hparam.")
flags.DEFINE_string("log_root", "/tmp/sketch_rnn/models/default",
                    "Folder for checkpoints, model_config.json and TensorBoard logs.")
flags.DEFINE_boolean("resume_training", False, "Continue from the checkpoint in log_root.")
flags.DEFINE_boolean("overwrite", False, "Start afresh in a log_root that holds a run, deleting its "
                     "checkpoints (without it such a log_root is refused).")
flags.DEFINE_string("hparams", "", "Hparam overrides: 'name=value,...' or a JSON object.")
flags.DEFINE_string("config", None, "A model_config.json to start from (magenta or ours).")
flags.DEFINE_integer("seed", None, "Seed for weight init, data order and augmentation.")
flags.DEFINE_float("max_minutes", None, "Stop (after saving) after this many minutes.")
flags.DEFINE_boolean("jit_compile", False, "XLA-compile the training step.")
flags.DEFINE_boolean("progress", None, "Live progress line (default: when stderr is a terminal).")


def resolve_hparams(hparams: str, config: str | None, resume: bool, log_root: str) -> HParams:
    """The run's hparams: defaults, else ``config`` (or log_root's on resume), then overrides."""
    if config:
        hps = HParams.load(config)
    elif resume and os.path.exists(os.path.join(log_root, CONFIG_FILE)):
        hps = HParams.load(os.path.join(log_root, CONFIG_FILE))
    else:
        hps = HParams()
    return hps.override(hparams)


def main(argv) -> int:
    del argv
    import_backend()
    from sketch_rnn.fast import configure_cpu_threads  # imports TensorFlow: keep --help fast
    from sketch_rnn.train import Trainer

    configure_cpu_threads()

    try:
        hps = resolve_hparams(FLAGS.hparams, FLAGS.config, FLAGS.resume_training, FLAGS.log_root)
    except (ValueError, FileNotFoundError) as e:
        print(f"sketch_rnn_train: {e}", file=sys.stderr)
        return 2
    logging.getLogger("sketch_rnn").info("hparams: %s", hps.values())
    max_seconds = None if FLAGS.max_minutes is None else 60.0 * FLAGS.max_minutes
    try:
        trainer = Trainer(hps, FLAGS.data_dir, FLAGS.log_root, resume=FLAGS.resume_training,
                          overwrite=FLAGS.overwrite, seed=FLAGS.seed, progress=FLAGS.progress,
                          jit_compile=FLAGS.jit_compile, max_seconds=max_seconds)
    except (ValueError, OSError) as e:  # FileExistsError: a run is there already
        print(f"sketch_rnn_train: {e}", file=sys.stderr)
        return 2
    summary = trainer.train()
    print(f"done at step {summary.step}; best valid cost {summary.best_valid_cost:.4f}; "
          f"checkpoints in {FLAGS.log_root}")
    return 0


def run():
    """Console-script entry point."""
    run_absl_app(main, __name__)


if __name__ == "__main__":
    run()

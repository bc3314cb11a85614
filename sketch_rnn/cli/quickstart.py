"""``sketch_rnn_quickstart``: the README's first command.

First draws a grid of sheep with the pretrained model shipped in ``checkpoints/aaron_sheep`` (good
sheep at once), then trains a small layer-norm SketchRNN of its own on the bundled aaron_sheep data
for a few minutes on the CPU (with a live progress line), saves its checkpoint under
``checkpoints/quickstart`` and writes a grid of the sheep it learnt to draw. Running it again
continues the same run.
"""

from __future__ import annotations

import os
import sys

from absl import flags

from sketch_rnn.cli._common import DEFAULT_DATA_DIR, PRETRAINED_SHEEP_DIR, import_backend, run_absl_app

FLAGS = flags.FLAGS

# layer_norm cells suit small datasets (REFERENCE.md); sizes chosen to learn visibly in minutes.
QUICKSTART_HPARAMS = ("enc_model=layer_norm,dec_model=layer_norm,enc_rnn_size=128,dec_rnn_size=256,"
                      "z_size=32,batch_size=50,save_every=100,num_mixture=20")

flags.DEFINE_float("minutes", 3.0, "Training time budget in minutes.")
flags.DEFINE_string("log_root", "checkpoints/quickstart", "Where the checkpoint goes.")
flags.DEFINE_string("data_dir", DEFAULT_DATA_DIR, "Folder holding aaron_sheep.npz.")
flags.DEFINE_string("out", None, "SVG grid of samples (default: LOG_ROOT/samples.svg).")
flags.DEFINE_integer("num", 16, "Number of sheep to draw.")
flags.DEFINE_float("temperature", 0.4, "Sampling temperature (reference convention).")
flags.DEFINE_integer("seed", 0, "Seed for training and sampling.")
flags.DEFINE_string("pretrained", PRETRAINED_SHEEP_DIR,
                    "Pretrained model to draw with first ('' to skip); its grid goes to "
                    "LOG_ROOT/pretrained_samples.svg.")


def main(argv) -> int:
    del argv
    import_backend()
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.draw import grid_svg, save_svg
    from sketch_rnn.fast import configure_cpu_threads
    from sketch_rnn.hparams import HParams
    from sketch_rnn.sampling import sample
    from sketch_rnn.train import Trainer

    configure_cpu_threads()
    if FLAGS.pretrained and os.path.isdir(FLAGS.pretrained):
        pretrained = load_model(FLAGS.pretrained)
        drawings = sample(pretrained, FLAGS.num, temperature=FLAGS.temperature, seed=FLAGS.seed)
        out = os.path.join(FLAGS.log_root, "pretrained_samples.svg")
        save_svg(grid_svg(drawings, factor=0.2), out)
        print(f"{len(drawings)} sheep drawn by the pretrained model {FLAGS.pretrained} in {out}; "
              f"now training a model of your own for {FLAGS.minutes:g} minutes", file=sys.stderr)
    elif FLAGS.pretrained:
        print(f"no pretrained model at {FLAGS.pretrained}: skipping its drawings", file=sys.stderr)
    hps = HParams().override(QUICKSTART_HPARAMS)
    trainer = Trainer(hps, FLAGS.data_dir, FLAGS.log_root, resume=True, seed=FLAGS.seed,
                      progress=True, max_seconds=60.0 * FLAGS.minutes)
    summary = trainer.train()
    drawings = sample(trainer.model, FLAGS.num, temperature=FLAGS.temperature, seed=FLAGS.seed)
    out = FLAGS.out or os.path.join(FLAGS.log_root, "samples.svg")
    save_svg(grid_svg(drawings, factor=0.2), out)
    print(f"trained to step {summary.step} (best valid cost {summary.best_valid_cost:.4f}); "
          f"checkpoint in {FLAGS.log_root}; {len(drawings)} sampled sheep in {out}", file=sys.stderr)
    return 0


def run():
    """Console-script entry point."""
    run_absl_app(main, __name__)


if __name__ == "__main__":
    run()

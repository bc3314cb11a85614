"""sketch_rnn: SketchRNN (Ha & Eck 2017) for TensorFlow 2 / Keras 3, faithful to magenta's reference.

Train a VAE over pen strokes, sample and complete drawings, encode and interpolate in latent space.

Example:
    >>> import sketch_rnn
    >>> hps = sketch_rnn.get_default_hparams().parse("enc_rnn_size=16,dec_rnn_size=32,z_size=8")
    >>> model = sketch_rnn.SketchRNN(hps)
    >>> drawings = sketch_rnn.sample(model, n=2, temperature=0.5, seed=0, max_len=30)
    >>> len(drawings)
    2

Layers, lowest first: ``hparams`` and ``strokes`` (pure numpy) -> ``data`` -> ``cells``, ``model``,
``losses``, ``schedules`` -> ``train``, ``sample``, ``checkpoint`` -> ``draw``; interop with other
formats lives in ``sketch_rnn.interop`` and dataset building in ``sketch_rnn.datasets``.
"""

from sketch_rnn.checkpoint import load_model, save_model
from sketch_rnn.data import DataLoader, load_dataset, load_npz
from sketch_rnn.draw import SVG, draw_png, draw_svg, grid_svg, save_svg, scatter_svg, show, strip_svg
from sketch_rnn.evaluation import evaluate_drawings
from sketch_rnn.evaluation import evaluate_model as evaluate
from sketch_rnn.hparams import HParams, get_default_hparams
from sketch_rnn.latent import analogy, eigen_sketches, interpolate, morph, pca, project
from sketch_rnn.losses import kl_loss, mixture_params, reconstruction_loss
from sketch_rnn.model import SketchRNN
from sketch_rnn.sample import complete, decode, encode, sample
from sketch_rnn.schedules import kl_weight, learning_rate
from sketch_rnn.strokes import (
    augment_strokes,
    lerp,
    pad_batch,
    random_scale,
    slerp,
    to_stroke3,
    to_stroke5,
)
from sketch_rnn.train import Trainer, configure_cpu_threads

__version__ = "0.1.0"

__all__ = [
    "DataLoader", "HParams", "SketchRNN", "Trainer", "augment_strokes", "complete", "configure_cpu_threads",
    "decode", "draw_svg",
    "encode", "evaluate", "evaluate_drawings", "get_default_hparams", "grid_svg", "kl_loss",
    "kl_weight", "learning_rate", "lerp", "load_dataset", "load_model", "load_npz",
    "mixture_params", "pad_batch", "random_scale", "reconstruction_loss", "sample", "save_model",
    "save_svg", "slerp", "to_stroke3", "to_stroke5",
    # latent space (sketch_rnn.latent) and rendering (sketch_rnn.draw)
    "SVG", "analogy", "draw_png", "eigen_sketches", "interpolate", "morph", "pca", "project",
    "scatter_svg", "show", "strip_svg",
]

"""Browser JSON models (sketch-rnn-js / @magenta/sketch ``*.gen.json`` and ``*.vae.json``), both ways.

A file is a JSON array ``[info, shapes, weights]``: ``info`` holds ``mode`` (2 or ``"gen"`` for a
decoder-only model, anything else for a VAE), ``version`` (6; older VAE files apply ``tanh`` to
``z``), ``max_seq_len``, ``name`` and ``scale_factor`` (pixels per model unit times the pixel
factor); ``shapes`` lists the variables' shapes in TF1 ``trainable_variables()`` order; ``weights``
holds one base64 string per variable: little-endian int16, value ``= int16 * 10 / 32767``.

* gen, 5 arrays: ``output_w [D,3+6M], output_b, W_xh [5,4D], W_hh [D,4D], bias [4D]``.
* vae, 17 arrays: encoder fw ``W_xh, W_hh, bias``, encoder bw ``W_xh, W_hh, bias``, ``mu_w, mu_b``,
  ``presig_w, presig_b``, ``init_w [Z,2D], init_b`` then the 5 decoder arrays as in gen, with
  ``W_xh [5+Z,4D]``.

Only plain LSTM cells exist in this format (TF1 gate order i, j, f, o, forget bias +1 at run time,
exactly our :class:`~sketch_rnn.cells.LSTMCell`), so the arrays map one to one onto the model.

A loaded model's :class:`~sketch_rnn.config.ModelConfig` holds the browser conventions (the sampler,
the evaluator and ``save_model`` read them there): ``start_token = (0, 0, 0, 0, 0)``
(sketch-rnn-js's ``zero_input``; TF models use ``(0, 0, 1, 0, 0)``), ``scale_factor`` = the file's
``scale_factor / pixel_factor`` (pixels per model unit), ``pixel_factor``,
``temperature_convention = "browser"``, ``name``, ``max_seq_len`` and ``z_tanh`` (True for VAE
files older than version 6). sketch-rnn-js applies that legacy ``tanh`` in one place only,
``get_init_state_from_latent_vector``: the decoder's initial state is ``tanh(tanh(z) @ init_w +
init_b)`` while every decoder step still reads the raw ``z`` (its ``update(x, state, z)`` and its
demos pass the code untouched; its own ``decode()`` ignores the version). The model's
``initial_state`` does the same; :func:`browser_initial_state` gives that state as numpy.

Both browser clients hard-code 20 mixture components (``NMIXTURE`` / ``N_mixture``) and
@magenta/sketch reads decoder-only files only; the exporter warns about a model they cannot run.

Loading parses JSON only (never executes anything from the file) and checks every part: any problem
raises one ``ValueError`` naming the file and what is wrong.

Example:
    >>> model = load_browser_model("../shared/pretrained/sketch_rnn_js/cat.gen.json")  # doctest: +SKIP
    >>> model.config.start_token, model.config.temperature_convention  # doctest: +SKIP
    ((0.0, 0.0, 0.0, 0.0, 0.0), 'browser')
    >>> export_browser_model(model, "cat_copy.gen.json", mode="gen")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import warnings

import numpy as np

from sketch_rnn.config import ModelConfig
from sketch_rnn.files import atomic_write_text
from sketch_rnn.strokes import BROWSER_START_TOKEN

DEFAULT_PIXEL_FACTOR = 2.0
FORMAT_VERSION = 6
WEIGHT_RANGE = 10.0
INT16_MAX = 32767
GEN_MODES = (2, "gen")
GEN_BLOBS = 5
VAE_BLOBS = 17
MAX_FILE_BYTES = 1 << 30
# sketch-rnn-js and @magenta/sketch both split the output layer assuming this many components.
CLIENT_NUM_MIXTURE = 20


def quantize(w) -> np.ndarray:
    """The exporter's int16 code of a weight array: ``round(clip(w / 10, -1, 1) * 32767)``."""
    w = np.asarray(w, np.float64)
    return np.round(np.clip(w / WEIGHT_RANGE, -1.0, 1.0) * INT16_MAX).astype("<i2")


def dequantize(q) -> np.ndarray:
    """``int16 * 10 / 32767`` as float32 (what both browser loaders compute)."""
    return (np.asarray(q, np.float64) * (WEIGHT_RANGE / INT16_MAX)).astype(np.float32)


QUANTIZATION_STEP = WEIGHT_RANGE / INT16_MAX


def _is_gen(mode) -> bool:
    return any(mode == m and type(mode) is type(m) for m in GEN_MODES)


# -- reading -----------------------------------------------------------------------------------


def read_browser_file(path: str | os.PathLike) -> tuple[dict, list[list[int]], list[np.ndarray]]:
    """Parse and check a browser model file; returns ``(info, shapes, float32 arrays)``.

    Raises ``ValueError`` naming the file for anything that is not a well-formed model.
    """
    path = os.fspath(path)

    def fail(problem: str):
        raise ValueError(f"{path}: not a valid browser (sketch-rnn-js) model: {problem}")

    if os.path.getsize(path) > MAX_FILE_BYTES:
        fail(f"file too large ({os.path.getsize(path)} bytes)")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        doc = json.loads(text, parse_constant=lambda c: fail(f"non-standard JSON constant {c}"))
    except UnicodeDecodeError as e:
        fail(f"not UTF-8 text ({e})")
    except json.JSONDecodeError as e:
        fail(f"not JSON ({e})")
    if not isinstance(doc, list) or len(doc) != 3:
        what = f"a list of {len(doc)}" if isinstance(doc, list) else type(doc).__name__
        fail(f"expected a JSON array [info, shapes, weights], got {what}")
    info, shapes, blobs = doc
    if not isinstance(info, dict):
        fail(f"element 0 (info) must be an object, got {type(info).__name__}")
    for key in ("mode", "scale_factor", "max_seq_len"):
        if key not in info:
            fail(f"info has no {key!r}")
    sf = info["scale_factor"]
    if isinstance(sf, bool) or not isinstance(sf, int | float) or not math.isfinite(sf) or sf <= 0:
        fail(f"info scale_factor={sf!r} must be a positive number")
    msl = info["max_seq_len"]
    if isinstance(msl, bool) or not isinstance(msl, int) or msl <= 0:
        fail(f"info max_seq_len={msl!r} must be a positive integer")
    version = info.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int | float):
        fail(f"info version={version!r} must be a number")
    if not isinstance(shapes, list) or not all(
        isinstance(s, list) and 1 <= len(s) <= 2
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in s)
        for s in shapes
    ):
        fail("element 1 (shapes) must be a list of shapes (lists of 1 or 2 positive integers)")
    if not isinstance(blobs, list) or not all(isinstance(b, str) for b in blobs):
        fail("element 2 (weights) must be a list of base64 strings")
    if len(shapes) != len(blobs):
        fail(f"{len(shapes)} shapes but {len(blobs)} weight blobs")
    want = GEN_BLOBS if _is_gen(info["mode"]) else VAE_BLOBS
    kind = "decoder-only (mode 2/'gen')" if want == GEN_BLOBS else f"VAE (mode {info['mode']!r})"
    if len(blobs) != want:
        fail(f"a {kind} model has {want} weight arrays, this file has {len(blobs)}")
    problem = _shape_problem([tuple(s) for s in shapes], want == VAE_BLOBS)
    if problem:
        fail(f"inconsistent shapes {shapes}: {problem}")
    arrays = []
    for i, (shape, blob) in enumerate(zip(shapes, blobs, strict=True)):
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError) as e:
            fail(f"weight blob {i} is not valid base64 ({e})")
        n = int(np.prod(shape))
        if len(raw) != 2 * n:
            fail(f"weight blob {i} decodes to {len(raw)} bytes, shape {shape} needs {2 * n} (int16)")
        arrays.append(dequantize(np.frombuffer(raw, "<i2").reshape(shape)))
    return info, [list(s) for s in shapes], arrays


def _shape_problem(shapes: list[tuple[int, ...]], vae: bool) -> str | None:
    dec = shapes[-5:]
    if len(dec[0]) != 2:
        return "output_w must be 2-D"
    d, n_out = dec[0]
    if n_out < 9 or (n_out - 3) % 6:
        return f"output_w has {n_out} columns; expected 3 + 6 * num_mixture"
    z = 0
    if vae:
        e = shapes[1][0] if len(shapes[1]) == 2 else -1
        z = shapes[6][1] if len(shapes[6]) == 2 else -1
        want_enc = [(5, 4 * e), (e, 4 * e), (4 * e,)] * 2 + [(2 * e, z), (z,), (2 * e, z), (z,),
                                                             (z, 2 * d), (2 * d,)]
        for i, (got, want) in enumerate(zip(shapes[:12], want_enc, strict=True)):
            if got != want:
                return f"array {i} has shape {list(got)}, expected {list(want)}"
    want_dec = [(d, n_out), (n_out,), (5 + z, 4 * d), (d, 4 * d), (4 * d,)]
    off = len(shapes) - 5
    for i, (got, want) in enumerate(zip(dec, want_dec, strict=True)):
        if got != want:
            return f"array {off + i} has shape {list(got)}, expected {list(want)}"
    return None


def _model_arrays(model) -> list:
    """The model's variables in the browser file order."""
    out = []
    if model.config.conditional:
        for cell in (model.enc_fw, model.enc_bw):
            out += [cell.W_xh, cell.W_hh, cell.bias]
        out += [model.mu_w, model.mu_b, model.presig_w, model.presig_b, model.init_w, model.init_b]
    dec = model.decoder
    return out + [model.output_w, model.output_b, dec.W_xh, dec.W_hh, dec.bias]


def load_browser_model(path: str | os.PathLike, pixel_factor: float = DEFAULT_PIXEL_FACTOR):
    """Load a ``*.gen.json`` (unconditional LSTM decoder) or ``*.vae.json`` (LSTM VAE) model.

    ``pixel_factor`` is sketch-rnn-js's (2.0 for p5.js, 1.0 for paper.js): one model unit is
    ``scale_factor / pixel_factor`` pixels, the model's ``config.scale_factor``. See the module
    docstring for the other conventions.
    """
    from sketch_rnn.model import SketchRNN

    path = os.fspath(path)
    info, shapes, arrays = read_browser_file(path)
    model = SketchRNN(browser_config(info, shapes, path, pixel_factor), initialize=False)
    for var, arr in zip(_model_arrays(model), arrays, strict=True):
        var.assign(arr)
    return model


def browser_config(info: dict, shapes: list[list[int]], path: str = "",
                   pixel_factor: float = DEFAULT_PIXEL_FACTOR) -> ModelConfig:
    """The :class:`~sketch_rnn.config.ModelConfig` of a browser file (its checked ``info`` and
    ``shapes``): an lstm decoder (and encoder for a VAE), and the browser conventions."""
    vae = len(shapes) == VAE_BLOBS
    d, n_out = shapes[-5]
    kw = dict(dec_model="lstm", dec_rnn_size=d, num_mixture=(n_out - 3) // 6,
              max_seq_len=int(info["max_seq_len"]), conditional=vae, use_recurrent_dropout=False)
    if vae:
        kw.update(enc_model="lstm", enc_rnn_size=shapes[1][0], z_size=shapes[6][1])
    version = info.get("version", FORMAT_VERSION)
    return ModelConfig(**kw, scale_factor=float(info["scale_factor"]) / float(pixel_factor),
                       pixel_factor=float(pixel_factor), start_token=BROWSER_START_TOKEN,
                       temperature_convention="browser", z_tanh=bool(vae and version < FORMAT_VERSION),
                       name=str(info.get("name", "")) or os.path.basename(os.fspath(path)).split(".")[0])


def browser_initial_state(model, z) -> np.ndarray:
    """The decoder's flat initial state ``[n, state_size]`` for latent codes ``z`` as sketch-rnn-js
    computes it (the model's ``initial_state``): ``tanh(W tanh(z) + b)`` for a legacy VAE
    (``config.z_tanh``), else ``tanh(W z + b)``.

    The decoder steps themselves read the raw ``z`` either way, so pass both on:
    ``sample_strokes5(model, z=z, initial_state=browser_initial_state(model, z))``.
    """
    config = model.config
    if not config.conditional:
        raise ValueError("browser_initial_state needs a conditional (VAE) model; a decoder-only model "
                         "starts from zeros")
    z = np.asarray(z, np.float32)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != config.z_size:
        raise ValueError(f"z has shape {z.shape}: expected [n, {config.z_size}] or [{config.z_size}]")
    return np.asarray(model.initial_state(z, len(z)))


# -- writing -----------------------------------------------------------------------------------


def browser_json(model, mode: str = "gen", name: str | None = None,
                 scale_factor: float | None = None, max_seq_len: int | None = None) -> list:
    """The ``[info, shapes, weights]`` document for ``model`` (see :func:`export_browser_model`)."""
    if mode not in ("gen", "vae"):
        raise ValueError(f"mode={mode!r}: expected 'gen' or 'vae'")
    config = model.config
    cells = [("dec_model", config.dec_model)]
    if mode == "vae":
        cells.append(("enc_model", config.enc_model))
    for key, value in cells:
        if value != "lstm":
            raise ValueError(f"cannot export a {key}={value!r} model to the browser format: sketch-rnn-js "
                             "and @magenta/sketch only implement plain LSTM cells (dec_model=lstm"
                             + (", enc_model=lstm" if mode == "vae" else "") + ")")
    if mode == "gen" and config.conditional:
        raise ValueError("mode='gen' needs an unconditional (decoder-only) model; this one is conditional "
                         "(its decoder reads z): export it with mode='vae'")
    if mode == "vae" and not config.conditional:
        raise ValueError("mode='vae' needs a conditional model; this one is unconditional: use mode='gen'")
    if config.num_mixture != CLIENT_NUM_MIXTURE:
        # Still a valid file (our loader reads any size), so only a warning: another client may cope.
        warnings.warn(f"num_mixture={config.num_mixture}: sketch-rnn-js and @magenta/sketch hard-code "
                      f"{CLIENT_NUM_MIXTURE} mixture components and cannot run this file", UserWarning,
                      stacklevel=3)
    if scale_factor is None:
        if config.scale_factor is None:
            raise ValueError("the model has no scale factor: pass scale_factor= (pixels per model unit x 2)")
        # One model unit is `scale_factor` data units (pixels for QuickDraw data); the browser clients
        # divide their canvas pixels by the file's scale_factor / pixel_factor.
        scale_factor = config.scale_factor * config.pixel_factor
    info = {
        "mode": 2 if mode == "gen" else 0,
        "version": 5 if (mode == "vae" and config.z_tanh) else FORMAT_VERSION,
        "max_seq_len": int(max_seq_len if max_seq_len is not None else config.max_seq_len),
        "name": name if name is not None else (config.name or "sketch_rnn"),
        "scale_factor": float(scale_factor),
    }
    arrays = [np.asarray(v, np.float32) for v in _model_arrays(model)]
    shapes = [list(a.shape) for a in arrays]
    blobs = [base64.b64encode(quantize(a).tobytes()).decode("ascii") for a in arrays]
    return [info, shapes, blobs]


def export_browser_model(model, path: str | os.PathLike, mode: str | None = None, *,
                         name: str | None = None, scale_factor: float | None = None,
                         max_seq_len: int | None = None) -> str:
    """Write ``model`` as a browser model file; returns the path.

    Args:
        model: an lstm :class:`SketchRNN` (``dec_model=lstm``, and ``enc_model=lstm`` for vae).
        path: the output file (by convention ``<name>.gen.json`` or ``<name>.vae.json``).
        mode: ``"gen"`` (unconditional model, 5 arrays) or ``"vae"`` (conditional, 17 arrays);
            default: from the file name, else from ``config.conditional``.
        name, scale_factor, max_seq_len: the info fields; by default the model's own (for a model
            trained here ``scale_factor = 2 x`` its data normalising factor, so sketch-rnn-js's
            default pixel factor 2 maps its pixels back to data units).

    Weights are clipped to +-10 and rounded to int16 (step ``10 / 32767``).

    Example: a decoder-only model and back; :func:`load_browser_model` sets the browser conventions.
        >>> import tempfile
        >>> from sketch_rnn.model import SketchRNN
        >>> gen = SketchRNN(ModelConfig(dec_rnn_size=16, conditional=False, scale_factor=18.5))
        >>> path = export_browser_model(gen, os.path.join(tempfile.mkdtemp(), "toy.gen.json"))
        >>> back = load_browser_model(path)
        >>> back.config.start_token, back.config.temperature_convention, back.config.scale_factor
        ((0.0, 0.0, 0.0, 0.0, 0.0), 'browser', 18.5)
        >>> bool(max(np.abs(a - b).max() for a, b in zip(gen.get_weights(), back.get_weights())) <= 5 / 32767)
        True
    """
    path = os.fspath(path)
    if mode is None:
        base = os.path.basename(path)
        mode = "vae" if base.endswith(".vae.json") else "gen" if base.endswith(".gen.json") else (
            "vae" if model.config.conditional else "gen")
    doc = browser_json(model, mode, name=name, scale_factor=scale_factor, max_seq_len=max_seq_len)
    atomic_write_text(path, json.dumps(doc, separators=(",", ":")))
    return path


def is_browser_file(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(".json") and os.path.isfile(path)

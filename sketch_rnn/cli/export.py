"""``sketch_rnn_export``: write a trained model for other clients.

    sketch_rnn_export --log_root=DIR --out=model.gen.json   # browser, decoder only (unconditional lstm)
    sketch_rnn_export --log_root=DIR --out=model.vae.json   # browser, VAE (conditional lstm/lstm)
    sketch_rnn_export --log_root=DIR --out=FOLDER           # magenta TF1 checkpoint folder

``--log_root`` is anything :func:`sketch_rnn.checkpoint.load_model` reads. Browser files take
``--name`` and ``--scale_factor`` (default: twice the model's data normalising factor, matching
sketch-rnn-js's pixel factor 2).

Rules, checked before the model is loaded: ``--out`` is a ``*.gen.json`` / ``*.vae.json`` file, or
a TF1 folder: a name without a file suffix, an existing folder, or any name ending in ``/``
(``--out=v1.2/``); it is never the model being read, nor inside its folder. A folder that already
holds a model or checkpoint (``checkpoint``, ``sketch_rnn.json``, ``model_config.json``, ``*.h5``,
``*.index``) is only written with ``--overwrite``, which replaces those files (others stay).
Outputs are written atomically: a browser file through a temporary file, a TF1 folder beside its
place and moved in when complete, so a failure leaves the old output as it was.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import sys
import tempfile

from absl import flags

from sketch_rnn.cli._common import console_entry, define_verbosity, import_backend, parse_tool_flags

__all__ = ["FLAGS", "check_args", "main_args", "run"]

PROG = "sketch_rnn_export"
BROWSER_SUFFIXES = (".gen.json", ".vae.json")

# Its own FlagValues, not absl's global FLAGS: this module can be imported next to the other
# CLIs without flag-name clashes.
FLAGS = flags.FlagValues()
_f = {"flag_values": FLAGS}
flags.DEFINE_string("log_root", None, "the model to export (required)", **_f)
flags.DEFINE_string("out", None, "*.gen.json, *.vae.json, or a folder for a TF1 checkpoint (a name "
                    "without a file suffix, or ending in /) (required)", **_f)
flags.DEFINE_string("name", None, "browser info name (default: from the data set)", **_f)
flags.DEFINE_float("scale_factor", None, "browser info scale_factor", **_f)
flags.DEFINE_integer("step", 0, "TF1 checkpoint step (vector-STEP)", **_f)
flags.DEFINE_boolean("overwrite", False, "replace the model files of an --out folder that already "
                     "holds a model (never the one being read)", **_f)
define_verbosity(FLAGS)


def _model_files(folder: str) -> list[str]:
    """The files of ``folder`` that make it a model or checkpoint folder (ours, TF or magenta)."""
    names = ("checkpoint", "sketch_rnn.json", "model_config.json")
    found = [os.path.join(folder, n) for n in names if os.path.lexists(os.path.join(folder, n))]
    for pattern in ("*.weights.h5", "*.state.h5", "*.index", "*.data-?????-of-?????"):
        found += glob.glob(os.path.join(glob.escape(folder), pattern))
    return sorted(found)


def _model_folder(log_root: str) -> str | None:
    """The folder whose files ``load_model(log_root)`` reads (None for a single browser file)."""
    if os.path.isdir(log_root):
        return log_root
    from sketch_rnn.checkpoint import checkpoint_file

    if checkpoint_file(log_root):  # a checkpoint prefix inside a folder
        return os.path.dirname(log_root) or "."
    return None


def check_args(args: flags.FlagValues) -> str:
    """Refuse bad flags and unsafe outputs before any work; returns ``"browser"`` or ``"tf1"``.

    Raises ``ValueError`` naming the flag.
    """
    from sketch_rnn.files import check_output_path

    missing = [f"--{name}" for name in ("log_root", "out") if not args[name].value]
    if missing:
        raise ValueError(f"the following flags are required: {', '.join(missing)}")
    out = args.out
    if args.step < 0:
        raise ValueError(f"--step={args.step}: must be >= 0")
    if args.scale_factor is not None and not (math.isfinite(args.scale_factor) and args.scale_factor > 0):
        raise ValueError(f"--scale_factor={args.scale_factor}: must be a finite number > 0")
    guard = dict(inputs=[args.log_root], protected=[_model_folder(args.log_root)])
    if out.lower().endswith(BROWSER_SUFFIXES):
        check_output_path(out, suffixes=BROWSER_SUFFIXES, **guard)
        return "browser"
    forms = ("give a browser file (*.gen.json or *.vae.json) or a TF1 checkpoint folder (a name "
             "without a file suffix, or ending in /)")
    if out.lower().endswith(".json"):
        raise ValueError(f"--out={out}: a browser model file must end in .gen.json or .vae.json")
    if not os.path.isdir(out) and not out.endswith(("/", os.sep)) and os.path.splitext(out)[1]:
        raise ValueError(f"--out={out}: looks like a file name; {forms}")
    check_output_path(out, folder=True, **guard)
    if os.path.isdir(out) and _model_files(out) and not args.overwrite:
        raise ValueError(f"--out={out}: already holds a model or checkpoint; "
                         "add --overwrite to replace it, or choose another folder")
    return "tf1"


def _publish_folder(tmp: str, out: str) -> None:
    """Move a finished export folder ``tmp`` to ``out``: a rename when ``out`` is new or empty,
    else the old model files replaced by the new ones (``checkpoint`` last, so the pointer never
    names files that are not there yet)."""
    out = out.rstrip("/" + os.sep) or out
    if not os.path.isdir(out) or not os.listdir(out):
        if os.path.isdir(out):
            os.rmdir(out)
        os.replace(tmp, out)
        return
    new = sorted(os.listdir(tmp), key=lambda n: (n == "checkpoint", n))
    for old in _model_files(out):
        if os.path.basename(old) not in new:
            os.remove(old)
    for name in new:
        os.replace(os.path.join(tmp, name), os.path.join(out, name))
    os.rmdir(tmp)


def main_args(argv: list[str] | None = None) -> int:
    """Run the command on ``argv`` (program name excluded; default ``sys.argv[1:]``); returns the
    exit status (0 written, 2 refused or failed)."""
    parsed = parse_tool_flags(PROG, __doc__, FLAGS, sys.argv[1:] if argv is None else argv)
    if isinstance(parsed, int):
        return parsed
    args = FLAGS
    try:
        kind = check_args(args)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    import_backend()
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.files import atomic_path
    from sketch_rnn.hparams import CONFIG_FILE, HParams
    from sketch_rnn.interop.browser import export_browser_model
    from sketch_rnn.interop.tf1 import export_tf1_checkpoint

    out = args.out
    try:
        model = load_model(args.log_root)
        if kind == "browser":
            mode = "vae" if out.lower().endswith(".vae.json") else "gen"
            # Through a synced temporary file: a crash leaves neither half a file nor a stray one.
            with atomic_path(out, suffix=f".{mode}.json") as tmp:
                export_browser_model(model, tmp, mode, name=args.name, scale_factor=args.scale_factor)
        else:
            # The model folder's data and training settings go into magenta's model_config.json too.
            config_file = os.path.join(args.log_root, CONFIG_FILE)
            hps = HParams.load(config_file) if os.path.isfile(config_file) else None
            parent = os.path.dirname(os.path.abspath(out.rstrip("/" + os.sep) or out))
            os.makedirs(parent, exist_ok=True)
            tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-export-")
            # mkdtemp's folder is private (0700); the published one gets a plain mkdir's mode.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)
            try:
                prefix = export_tf1_checkpoint(model, tmp, step=args.step, hps=hps)
                _publish_folder(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            out = os.path.join(out, os.path.basename(prefix))
    except (ValueError, OSError) as e:
        print(f"sketch_rnn_export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def run() -> None:
    """Console-script entry point."""
    console_entry(main_args)


if __name__ == "__main__":
    run()

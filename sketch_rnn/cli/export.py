"""``sketch_rnn_export``: write a trained model for other clients.

    sketch_rnn_export --log_root=DIR --out=model.gen.json   # browser, decoder only (unconditional lstm)
    sketch_rnn_export --log_root=DIR --out=model.vae.json   # browser, VAE (conditional lstm/lstm)
    sketch_rnn_export --log_root=DIR --out=FOLDER           # magenta TF1 checkpoint folder

``--log_root`` is anything :func:`sketch_rnn.checkpoint.load_model` reads. Browser files take
``--name`` and ``--scale_factor`` (default: twice the model's data normalising factor, matching
sketch-rnn-js's pixel factor 2).
"""

from __future__ import annotations

import argparse
import os
import sys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sketch_rnn_export", description=__doc__.split("\n")[0])
    p.add_argument("--log_root", required=True, help="the model to export")
    p.add_argument("--out", required=True, help="*.gen.json, *.vae.json or a folder for a TF1 checkpoint")
    p.add_argument("--name", help="browser info name (default: from the data set)")
    p.add_argument("--scale_factor", type=float, help="browser info scale_factor")
    p.add_argument("--step", type=int, default=0, help="TF1 checkpoint step (vector-STEP)")
    return p


def main_args(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from sketch_rnn.checkpoint import load_model
    from sketch_rnn.hparams import CONFIG_FILE, HParams
    from sketch_rnn.interop.browser import export_browser_model
    from sketch_rnn.interop.tf1 import export_tf1_checkpoint

    try:
        model = load_model(args.log_root)
        out = args.out
        if out.endswith(".gen.json") or out.endswith(".vae.json"):
            mode = "vae" if out.endswith(".vae.json") else "gen"
            export_browser_model(model, out, mode, name=args.name, scale_factor=args.scale_factor)
        elif out.endswith(".json"):
            raise ValueError(f"{out}: a browser model file must end in .gen.json or .vae.json")
        else:
            # The model folder's data and training settings go into magenta's model_config.json too.
            config_file = os.path.join(args.log_root, CONFIG_FILE)
            hps = HParams.load(config_file) if os.path.isfile(config_file) else None
            out = export_tf1_checkpoint(model, out, step=args.step, hps=hps)
    except (ValueError, FileNotFoundError) as e:
        print(f"sketch_rnn_export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def run():
    """Console-script entry point."""
    sys.exit(main_args())


if __name__ == "__main__":
    run()

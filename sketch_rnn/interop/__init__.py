"""Interop with other SketchRNN formats (magenta TF1 checkpoints, ...). Nothing here is imported by
the core modules; these modules import the core."""

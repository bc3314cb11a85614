"""The notebooks in notebooks/ run top to bottom in a real Jupyter kernel (nbclient) and show SVG pictures.

They run on a tiny randomly initialised conditional layer-norm model saved by the test (the pretrained
model need not exist) in fast mode (``SKETCH_RNN_NB_FAST=1``: fewer sketches, same code), with
``notebooks/`` as the working directory so the default data path ``../datasets/aaron_sheep`` is used.
The executed copies are written to a temporary folder; the committed notebooks are not touched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
AARON_SHEEP_SCALE = 18.519826889038086  # the bundled data's scale factor (REFERENCE.md 1.2)
NOTEBOOKS = ("sketch_rnn.ipynb", "latent_space.ipynb")
MIN_PICTURES = {"sketch_rnn.ipynb": 6, "latent_space.ipynb": 5}
CELL_TIMEOUT = 180  # seconds; a cell of the fast run takes a few on a busy 2-core machine


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A small conditional layer-norm model with random weights, saved with ``save_model``."""
    from sketch_rnn import HParams, SketchRNN, save_model

    hps = HParams(enc_model="layer_norm", dec_model="layer_norm", enc_rnn_size=16, dec_rnn_size=32,
                  z_size=8, num_mixture=3, max_seq_len=250)
    model = SketchRNN(hps, scale_factor=AARON_SHEEP_SCALE)
    # The default initialisation makes every code nearly 0 (mu's weights are N(0, 0.001^2)); spread
    # the weights so that codes differ and the maps and PCA have something to show.
    rng = np.random.default_rng(0)
    for v in model.weights:
        v.assign(rng.normal(0.0, 0.3, tuple(v.shape)).astype(np.float32))
    folder = tmp_path_factory.mktemp("tiny_model")
    save_model(model, folder)
    return folder


@pytest.fixture(scope="module")
def executed(tiny_model, tmp_path_factory) -> dict:
    """Both notebooks, executed side by side (each in its own kernel; most of a run is importing
    TensorFlow and compiling, which two cores do in parallel). Maps a name to the executed notebook,
    or to the exception its run raised."""
    out = tmp_path_factory.mktemp("executed")

    async def run(name):
        nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
        try:
            await client.async_execute()  # raises CellExecutionError at the first failing cell
        finally:
            nbformat.write(nb, out / name)  # kept for inspection when it fails
        return nb

    async def run_all():
        return await asyncio.gather(*(run(name) for name in NOTEBOOKS), return_exceptions=True)

    with pytest.MonkeyPatch.context() as mp:  # the kernels inherit this environment
        mp.setenv("SKETCH_RNN_MODEL", str(tiny_model))
        mp.delenv("SKETCH_RNN_DATA", raising=False)  # the default, ../datasets/aaron_sheep
        mp.setenv("SKETCH_RNN_NB_FAST", "1")
        mp.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        committed = {name: (NOTEBOOK_DIR / name).read_bytes() for name in NOTEBOOKS}
        results = asyncio.run(run_all())
    assert {name: (NOTEBOOK_DIR / name).read_bytes() for name in NOTEBOOKS} == committed
    return dict(zip(NOTEBOOKS, results, strict=True))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_draws(name, executed):
    nb = executed[name]
    if isinstance(nb, BaseException):
        raise nb
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a code cell did not run"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    svgs = [o.data["image/svg+xml"] for o in outputs
            if o.output_type in ("display_data", "execute_result") and "image/svg+xml" in o.get("data", {})]
    # Every drawing section shows at least one picture.
    assert len(svgs) >= MIN_PICTURES[name]
    assert all("<svg" in s and "<path" in s for s in svgs)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_reads_the_default_paths(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    setup = nb.cells[1].source
    assert 'os.environ.get("SKETCH_RNN_MODEL", "../checkpoints/aaron_sheep")' in setup
    assert 'os.environ.get("SKETCH_RNN_DATA", "../datasets/aaron_sheep")' in setup
    # Committed outputs must not show where the notebook was executed.
    outputs = str([c.get("outputs", []) for c in nb.cells])
    for local in {str(NOTEBOOK_DIR.parent), str(Path.home())} - {"/"}:
        assert local not in outputs

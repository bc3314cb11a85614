"""Shared pytest fixtures: where the repository and the shared reference data live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parent.parent

#: The test files that run again on every other Keras backend (``KERAS_BACKEND=jax python -m
#: pytest``): whatever computes with the model. The rest test code that no backend changes (data,
#: strokes, drawing, command-line flags) or TensorFlow's own plug-ins, and run on TensorFlow only.
ALL_BACKENDS = {
    "test_backends", "test_checkpoint", "test_complete", "test_crash_safety", "test_evaluate",
    "test_latent", "test_notebooks", "test_parity", "test_sample", "test_sampling_backends",
    "test_train",
}


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    import keras

    if keras.backend.backend() != "tensorflow" and collection_path.suffix == ".py" \
            and collection_path.name.startswith("test_") and collection_path.stem not in ALL_BACKENDS:
        return True
    return None


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    """The repository root."""
    return REPO_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``$SKETCH_RNN_SHARED_DIR``, else ``<repo>/../shared`` (reference data, parity fixtures)."""
    return Path(os.environ.get("SKETCH_RNN_SHARED_DIR", REPO_DIR.parent / "shared"))


@pytest.fixture(scope="session")
def parity_dir(shared_dir: Path) -> Path:
    """``$SKETCH_RNN_PARITY_DIR``, else ``<shared>/parity``; skips when it is absent."""
    path = Path(os.environ.get("SKETCH_RNN_PARITY_DIR", shared_dir / "parity"))
    if not path.is_dir():
        pytest.skip(f"parity fixtures not found at {path}")
    return path


@pytest.fixture(scope="session")
def aaron_sheep_path(repo_dir: Path) -> Path:
    """The bundled ``datasets/aaron_sheep/aaron_sheep.npz``."""
    return repo_dir / "datasets" / "aaron_sheep" / "aaron_sheep.npz"


@pytest.fixture(scope="session")
def parity_cases(parity_dir: Path) -> list[Path]:
    """The case folders of ``parity_dir`` (each with ``expected.npz`` and ``model_config.json``);
    any number from one; skips when there is none."""
    cases = sorted(p for p in parity_dir.iterdir()
                   if (p / "expected.npz").is_file() and (p / "model_config.json").is_file())
    if not cases:
        pytest.skip(f"no parity case folders in {parity_dir}")
    return cases


def parity_data_dir(case: Path, shared_dir: Path) -> Path:
    """The folder holding the data set files named by ``case``'s ``model_config.json``
    (``data_set``): the first of ``<repo>/datasets/*``, ``<shared>/datasets/*`` that has them all."""
    import json

    names = json.loads((case / "model_config.json").read_text())["data_set"]
    names = [names] if isinstance(names, str) else list(names)
    for root in (REPO_DIR / "datasets", shared_dir / "datasets"):
        for folder in sorted(p for p in root.glob("*") if p.is_dir()):
            if all((folder / n).is_file() for n in names):
                return folder
    pytest.skip(f"{case.name}: data set {names} not found")

"""Shared pytest fixtures: where the repository and the shared reference data live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parent.parent


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

"""The pretrained sheep shipped in checkpoints/aaron_sheep: loads, fits in the repository, has learnt."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sketch_rnn.checkpoint import load_model
from sketch_rnn.evaluation import evaluate
from sketch_rnn.sampling import sample

# Test-split figures recorded in checkpoints/README.md (z = mu, pen loss masked, reference units).
RECORDED_R_LOSS_MASKED = -0.097464
RECORDED_KL = 0.203449


@pytest.fixture(scope="module")
def sheep_model(repo_dir):
    return load_model(repo_dir / "checkpoints" / "aaron_sheep")


def test_small_enough_for_the_repository(repo_dir):
    folder = repo_dir / "checkpoints" / "aaron_sheep"
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files)
    assert size <= 10 * 2**20


def test_config_and_scale(sheep_model):
    c = sheep_model.config
    assert (c.enc_model, c.dec_model, c.conditional) == ("layer_norm", "layer_norm", True)
    assert sheep_model.scale_factor == pytest.approx(18.5198, abs=1e-4)


def test_test_split_losses_match_the_readme(sheep_model, aaron_sheep_path):
    # The whole test split, deterministic (z = mu): the figures in the README are these weights'; a
    # random model scores about 2.
    drawings_result = evaluate(sheep_model, aaron_sheep_path, split="test")
    assert drawings_result.n == 300
    assert drawings_result.r_loss_masked == pytest.approx(RECORDED_R_LOSS_MASKED, abs=5e-4)
    assert drawings_result.kl == pytest.approx(RECORDED_KL, abs=5e-4)


def test_draws_sheep(sheep_model):
    max_len = sheep_model.config.max_seq_len
    drawings = sample(sheep_model, 8, temperature=0.4, seed=0)
    assert len(drawings) == 8
    for d in drawings:
        assert d.ndim == 2 and d.shape[1] == 3 and 5 <= len(d) <= max_len and np.isfinite(d).all()
    # Some sheep still run to max_seq_len without ending (checkpoints/README.md: 28 of 32 end at this
    # temperature), but those that end do so with the pen lifted, and most of them end.
    finished = [d for d in drawings if len(d) < max_len]
    assert len(finished) >= 5
    assert all(d[-1, 2] == 1 for d in finished)

"""Fixtures for the models tests: real face crops, a seed checkpoint with the original's exact
keys (random weights: the real ones are unobtainable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_fixtures import clip_of_crops, random_seed_state_dict, sequence_network

from deepfake_detector.models.checkpoints import HeadConfig, ModelConfig, save_checkpoint


@pytest.fixture(scope="session")
def crops_112() -> list[np.ndarray]:
    return clip_of_crops(112, 6)


@pytest.fixture(scope="session")
def seed_state() -> dict[str, torch.Tensor]:
    return random_seed_state_dict()


@pytest.fixture(scope="session")
def seed_checkpoint(tmp_path_factory: pytest.TempPathFactory, seed_state) -> Path:
    """Saved like the original project saved its checkpoints: ``torch.save(model.state_dict())``."""
    path = tmp_path_factory.mktemp("seed") / "model_87_acc_20_frames_final_data.pt"
    torch.save(seed_state, path)
    return path


@pytest.fixture(scope="session")
def sequence_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder in our format (model.safetensors + config.json)."""
    config = ModelConfig(
        name="test-sequence",
        head=HeadConfig(hidden=64),
        temperature=1.5,
        calibrated=True,
        threshold=0.6,
        trained=False,
        training={"purpose": "tests"},
    )
    return save_checkpoint(sequence_network(), config, tmp_path_factory.mktemp("models") / "seq")

"""Model names and paths resolve to the right kind of model, or to a message naming the choices."""

from __future__ import annotations

import re

import pytest
import torch

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import WEIGHTS_NAME, state_dict_sha256
from deepfake_detector.models.registry import (
    UNTRAINED_NAME,
    WEIGHTS_DIR,
    _untrained_network,
    available_models,
    resolve_model,
    shipped_models,
)


@pytest.mark.skipif(
    (WEIGHTS_DIR / "default.json").is_file(), reason="trained default weights ship now"
)
def test_default_is_the_untrained_sequence_model_until_weights_ship():
    assert available_models() == ["default", *shipped_models(), UNTRAINED_NAME]
    resolved = resolve_model("default")
    config = resolved.config
    assert config.name == UNTRAINED_NAME and config.trained is False
    assert config.architecture == "sequence" and config.backbone == "resnext50_32x4d"
    assert re.fullmatch(r"[0-9a-f]{64}", resolved.sha256)


def test_untrained_weights_are_deterministic_and_leave_global_rng_alone():
    torch.manual_seed(7)
    before = torch.rand(3)
    torch.manual_seed(7)
    first = _untrained_network().state_dict()
    assert torch.equal(torch.rand(3), before)  # the fixed-seed init did not consume global RNG
    second = _untrained_network().state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert resolve_model(UNTRAINED_NAME).sha256 == state_dict_sha256(first)


def test_paths_resolve_by_kind(seed_checkpoint, sequence_folder):
    seed = resolve_model(str(seed_checkpoint))
    assert seed.config.architecture == "seed-resnext50-lstm"
    assert seed.config.name == seed_checkpoint.stem
    assert seed.config.channel_order == "BGR"
    folder = resolve_model(str(sequence_folder))
    by_file = resolve_model(str(sequence_folder / WEIGHTS_NAME))
    assert folder.config == by_file.config and folder.sha256 == by_file.sha256
    assert folder.config.name == "test-sequence"


def test_unknown_models_name_the_known_ones(tmp_path):
    with pytest.raises(ModelError, match=f"not one of: default, {UNTRAINED_NAME}"):
        resolve_model("resnext-best")
    odd = tmp_path / "weights.h5"
    odd.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"cannot tell what kind of model .*\.pt/\.pth"):
        resolve_model(str(odd))
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "missing.pt"))

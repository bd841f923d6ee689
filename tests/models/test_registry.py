"""Model names and paths resolve to the right kind of model, or to a message naming the choices."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors import safe_open

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import WEIGHTS_NAME, state_dict_sha256
from deepfake_detector.models.registry import (
    UNTRAINED_NAME,
    WEIGHTS_DIR,
    _untrained_network,
    available_models,
    default_model_name,
    resolve_model,
    shipped_models,
)


def test_default_is_the_shipped_trained_model():
    assert (WEIGHTS_DIR / "default.json").is_file()
    name = default_model_name()
    assert name in shipped_models() and name != UNTRAINED_NAME
    assert available_models() == ["default", *shipped_models(), UNTRAINED_NAME]
    resolved = resolve_model("default")
    config = resolved.config
    assert config.name == name and config.trained is True and config.calibrated is True
    assert config.architecture == "sequence" and 0.0 < config.temperature < 10.0
    assert re.fullmatch(r"[0-9a-f]{64}", resolved.sha256)
    assert resolve_model(name).sha256 == resolved.sha256


@pytest.mark.parametrize("name", shipped_models())
def test_shipped_models_are_small_half_precision_and_documented(name):
    folder = WEIGHTS_DIR / name
    weights = folder / WEIGHTS_NAME
    assert weights.stat().st_size <= 60 * 2**20
    with safe_open(str(weights), framework="pt") as handle:
        dtypes = {handle.get_slice(k).get_dtype() for k in handle.keys()}  # noqa: SIM118 (not iterable)
    assert dtypes <= {"F16", "I64"}, dtypes  # I64: BatchNorm step counters
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    for section in (
        "## Architecture",
        "## Training data",
        "## Recipe",
        "## Evaluation on",
        "## Known limits",
        "## Reproduce",
    ):
        assert section in card, section
    assert "deepfake-detector train " in card and "deepfake-detector evaluate " in card
    network = resolve_model(name).load_network()
    assert any(p.abs().sum() > 0 for p in network.parameters())


def test_the_untrained_seed_architecture_stays_selectable():
    config = resolve_model(UNTRAINED_NAME).config
    assert config.trained is False and config.backbone == "resnext50_32x4d"


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
    known = ", ".join(["default", *shipped_models(), UNTRAINED_NAME])
    with pytest.raises(ModelError, match=f"not one of: {re.escape(known)}"):
        resolve_model("resnext-best")
    odd = tmp_path / "weights.h5"
    odd.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"cannot tell what kind of model .*\.pt/\.pth"):
        resolve_model(str(odd))
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "missing.pt"))

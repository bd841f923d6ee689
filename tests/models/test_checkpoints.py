"""Our checkpoint format: safetensors + config.json, strict, hashed, with clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from model_fixtures import sequence_network

from deepfake_detector.errors import ModelError
from deepfake_detector.faces.crop import CropSpec
from deepfake_detector.models import load_classifier
from deepfake_detector.models.checkpoints import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    HeadConfig,
    ModelConfig,
    file_sha256,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from deepfake_detector.models.runtime import preprocess


def _outputs(network: torch.nn.Module, crops: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
    x = torch.from_numpy(preprocess(crops, ModelConfig(name="x")))[None]
    with torch.inference_mode():
        return network(x)


def test_round_trip_is_exact(sequence_folder: Path, crops_112):
    loaded = load_checkpoint(sequence_folder)
    original = sequence_network()
    for key, value in original.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[key], value), key
    assert loaded.config.name == "test-sequence"
    assert loaded.config.head == HeadConfig(hidden=64)
    assert loaded.config.temperature == 1.5 and loaded.config.threshold == 0.6
    assert loaded.config.crop == CropSpec(size=112, margin=0.25, align=True)
    assert loaded.config.training == {"purpose": "tests"}
    for a, b in zip(
        _outputs(loaded.network, crops_112), _outputs(original, crops_112), strict=True
    ):
        assert torch.equal(a, b)
    # The config on disk is plain, readable JSON with every field spelled out.
    data = json.loads((sequence_folder / CONFIG_NAME).read_text())
    assert data["format_version"] == 1 and data["architecture"] == "sequence"
    assert data["channel_order"] == "RGB" and data["mean"] == [0.485, 0.456, 0.406]


def test_half_precision_weights_load_as_fp32(tmp_path, sequence_folder, crops_112):
    config = read_config(sequence_folder / CONFIG_NAME)
    half = save_checkpoint(sequence_network(), config, tmp_path / "half", dtype=torch.float16)
    full_size = (sequence_folder / WEIGHTS_NAME).stat().st_size
    assert (half / WEIGHTS_NAME).stat().st_size < 0.55 * full_size
    loaded = load_checkpoint(half / WEIGHTS_NAME)  # a .safetensors path with config.json beside
    assert all(v.dtype == torch.float32 for v in loaded.network.parameters())
    clip16, frames16 = _outputs(loaded.network, crops_112)
    clip32, frames32 = _outputs(sequence_network(), crops_112)
    torch.testing.assert_close(frames16, frames32, atol=2e-2, rtol=0)
    torch.testing.assert_close(clip16, clip32, atol=2e-2, rtol=0)


def test_sha256_is_streamed_stable_and_reported(sequence_folder):
    weights = sequence_folder / WEIGHTS_NAME
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert file_sha256(weights) == expected
    assert file_sha256(weights) == expected  # the cached answer
    assert load_checkpoint(sequence_folder).sha256 == expected
    classifier = load_classifier(str(sequence_folder), device="cpu", backend="torch")
    assert classifier.info.sha256 == expected
    assert classifier.info.to_dict()["sha256"] == expected
    assert classifier.info.threshold == 0.6 and classifier.info.calibrated is True


def test_same_weights_give_the_same_bytes(tmp_path, sequence_folder):
    """Reproducible files, so a sha256 identifies weights (safetensors writes multi-key metadata
    in random order; we keep one key)."""
    config = read_config(sequence_folder / CONFIG_NAME)
    again = save_checkpoint(sequence_network(), config, tmp_path / "again")
    assert file_sha256(again / WEIGHTS_NAME) == file_sha256(sequence_folder / WEIGHTS_NAME)
    assert (again / CONFIG_NAME).read_bytes() == (sequence_folder / CONFIG_NAME).read_bytes()


def test_sha256_follows_a_changed_file(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    first = file_sha256(path)
    path.write_bytes(b"two, longer")
    assert file_sha256(path) != first


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (bytes(range(256)) * 16, "not a readable safetensors")],
    ids=["empty", "random-bytes"],
)
def test_bad_weight_files(tmp_path, sequence_folder, content, message):
    folder = _copy(sequence_folder, tmp_path)
    (folder / WEIGHTS_NAME).write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_checkpoint(folder)


def test_missing_files(tmp_path, sequence_folder):
    folder = _copy(sequence_folder, tmp_path)
    (folder / CONFIG_NAME).unlink()
    with pytest.raises(ModelError, match=r"config\.json not found"):
        load_checkpoint(folder)
    with pytest.raises(ModelError, match=r"config\.json not found"):
        load_checkpoint(folder / WEIGHTS_NAME)
    (folder / WEIGHTS_NAME).unlink()
    with pytest.raises(ModelError, match=r"no model\.safetensors"):
        load_checkpoint(folder)


def test_weights_that_do_not_fit_the_config(tmp_path, sequence_folder):
    folder = _copy(sequence_folder, tmp_path)
    data = json.loads((folder / CONFIG_NAME).read_text())
    data["head"]["hidden"] = 128
    (folder / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="wrong shape"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour_order": "RGB"}, "unknown keys in model config: colour_order"),
        ({"channel_order": "YUV"}, "channel_order must be RGB or BGR"),
        ({"architecture": "transformer"}, "architecture 'transformer'"),
        ({"backbone": "resnet9000"}, "unknown backbone 'resnet9000'"),
        ({"format_version": 99}, "upgrade deepfake-detector"),
        ({"crop": {"size": 224, "margin": 0.2, "align": True}}, "must equal input_size"),
        ({"temperature": 0}, "temperature must be > 0"),
        ({"detail_scale": 0}, "detail_scale must be within"),
        ({"detail_scale": 1.5}, "detail_scale must be within"),
        ({"detail_scale": 0.01}, "keep at least 8 px"),
    ],
)
def test_bad_configs_are_refused_clearly(tmp_path, sequence_folder, change, message):
    folder = _copy(sequence_folder, tmp_path)
    data = json.loads((folder / CONFIG_NAME).read_text()) | change
    (folder / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(ModelError, match=message):
        load_checkpoint(folder)


def test_config_that_is_not_json(tmp_path, sequence_folder):
    folder = _copy(sequence_folder, tmp_path)
    (folder / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ModelError, match="cannot read model config"):
        load_checkpoint(folder)


def test_config_round_trips_through_dict():
    config = ModelConfig(name="x", channel_order="BGR", max_frames=7, training={"a": [1, 2]})
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert replace(config, threshold=0.7).threshold == 0.7


def test_detail_scale_scores_the_crop_through_a_smaller_one(crops_112):
    """With ``detail_scale`` the network sees the crop shrunk to that fraction of its input size
    and enlarged back, whatever size the crop came in: the finest detail is gone, the face not."""
    import cv2

    plain = ModelConfig(name="x")
    floor = replace(plain, detail_scale=0.5)
    assert ModelConfig.from_dict(floor.to_dict()) == floor
    crop = crops_112[0]
    small = cv2.resize(crop, (56, 56), interpolation=cv2.INTER_AREA)
    expected = preprocess([cv2.resize(small, (112, 112), interpolation=cv2.INTER_LINEAR)], plain)
    np.testing.assert_array_equal(preprocess([crop], floor), expected)
    larger = cv2.resize(crop, (300, 300), interpolation=cv2.INTER_LINEAR)
    assert preprocess([larger], floor).shape == (1, 3, 112, 112)
    noise = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    assert preprocess([noise], floor).std() < 0.6 * preprocess([noise], plain).std()
    channel_means = [preprocess([crop], c).mean(axis=(0, 2, 3)) for c in (floor, plain)]
    np.testing.assert_allclose(*channel_means, atol=0.02)

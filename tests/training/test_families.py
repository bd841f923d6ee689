"""The fake-family contract: every registered family, built through the one registry, turns a
track of real crops into as many fakes, deterministically, without touching its input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detector.training.families import FakeFamily, available_families, build_families
from deepfake_detector.training.generator_traces import save_autoencoder, train_autoencoder

import video_factory

SIZE = 96


def _track() -> list[np.ndarray]:
    """Three frames of the astronaut's face, each with its own sensor noise."""
    x1, y1, x2, y2 = video_factory.ASTRONAUT_FACE
    cx, cy, half = (x1 + x2) // 2, (y1 + y2) // 2, round(max(x2 - x1, y2 - y1) * 0.7)
    face = video_factory.astronaut()[cy - half : cy + half, cx - half : cx + half]
    face = cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float64)
    rng = np.random.default_rng(0)
    noisy = [face + rng.normal(0.0, 1.0, face.shape) for _ in range(3)]
    return [np.clip(np.rint(f), 0, 255).astype(np.uint8) for f in noisy]


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FakeFamily]:
    track = _track()
    model = train_autoencoder(track, steps=5, size=32, seed=0, batch_size=2)
    path = Path(tmp_path_factory.mktemp("ae")) / "ae.safetensors"
    save_autoencoder(model, path)
    return build_families(available_families(), autoencoder=str(path))


@pytest.mark.parametrize("name", available_families())
def test_every_family_keeps_the_contract(name: str, families: dict[str, FakeFamily]) -> None:
    track = _track()
    before = [crop.copy() for crop in track]
    landmarks: list[np.ndarray | None] = [None] * len(track)
    fakes = families[name](track, landmarks, np.random.default_rng(7))
    again = families[name](track, landmarks, np.random.default_rng(7))
    assert len(fakes) == len(track)
    for fake, crop in zip(fakes, track, strict=True):
        assert fake.shape == crop.shape and fake.dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(fakes, again, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(track, before, strict=True))
    assert any(not np.array_equal(f, c) for f, c in zip(fakes, track, strict=True))
    # Other landmarks (the detector's five points) are accepted too.
    points = np.array([[34, 40], [62, 40], [48, 54], [37, 66], [59, 66]], np.float64)
    assert len(families[name](track, [points] * len(track), np.random.default_rng(1))) == 3
    with pytest.raises(ValueError):
        families[name](track, landmarks[:1], np.random.default_rng(0))

"""Smoothed faces: flatter chroma and smoother skin inside the face, nothing else changed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepfake_detector.training.smooth_face import SmoothFace, SmoothFaceConfig, smooth_face

import video_factory

SIZE = 160


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    x1, y1, x2, y2 = video_factory.ASTRONAUT_FACE
    cx, cy, half = (x1 + x2) // 2, (y1 + y2) // 2, round(max(x2 - x1, y2 - y1) * 0.7)
    crop = video_factory.astronaut()[cy - half : cy + half, cx - half : cx + half]
    crop = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float64)
    noisy = crop + np.random.default_rng(0).normal(0.0, 2.0, crop.shape)  # sensor noise
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _inside(mask: np.ndarray) -> np.ndarray:
    return mask > 0.99 * mask.max()  # the core, at whatever blend ratio was drawn


def test_inner_face_gets_flatter_chroma_and_less_fine_detail(face: np.ndarray) -> None:
    fake, mask = smooth_face(face, None, np.random.default_rng(3))
    inside = _inside(mask)
    assert inside.sum() > 0.08 * SIZE * SIZE
    lab_real = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_fake = cv2.cvtColor(fake, cv2.COLOR_RGB2LAB).astype(np.float32)
    for channel in (1, 2):  # a, b: less spread around the face's own mean colour
        real, fake_ = lab_real[..., channel][inside], lab_fake[..., channel][inside]
        assert fake_.std() < 0.95 * real.std()
        assert abs(fake_.mean() - real.mean()) < 1.5

    def fine(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return float(np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3))[inside].mean())

    assert fine(fake) < 0.85 * fine(face)
    # No colour seam: the mean brightness inside stays where it was.
    assert abs(lab_fake[..., 0][inside].mean() - lab_real[..., 0][inside].mean()) < 2.0


def test_outside_the_mask_is_untouched(face: np.ndarray) -> None:
    fake, mask = smooth_face(face, None, np.random.default_rng(5))
    outside = mask == 0
    assert outside.any() and np.array_equal(fake[outside], face[outside])


def test_one_draw_per_track_and_seeded(face: np.ndarray) -> None:
    family = SmoothFace()
    fakes = family([face] * 4, [None] * 4, np.random.default_rng(1))
    assert all(np.array_equal(f, fakes[0]) for f in fakes)  # consistent over time
    other = family([face] * 4, [None] * 4, np.random.default_rng(2))
    assert not np.array_equal(other[0], fakes[0])


def test_bad_settings_and_inputs_are_refused(face: np.ndarray) -> None:
    with pytest.raises(ValueError, match="chroma_gain"):
        SmoothFaceConfig(chroma_gain=(0.9, 0.5))
    with pytest.raises(ValueError, match="at most 1"):
        SmoothFaceConfig(luma_mix=(0.5, 1.5))
    with pytest.raises(ValueError, match="square"):
        smooth_face(face[:, :100], None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="RGB uint8"):
        smooth_face(face.astype(np.float32), None, np.random.default_rng(0))
    with pytest.raises(ValueError):
        SmoothFace()([], [], np.random.default_rng(0))

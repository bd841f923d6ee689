"""Self-blended fakes made from real portraits, and the ``synth-examples`` grid."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detector.faces import CropSpec, FaceDetector, create_detector, crop_face, crop_matrix
from deepfake_detector.training.selfblend import (
    SelfBlendConfig,
    SelfBlender,
    face_mask,
    self_blend,
)
from deepfake_detector.training.synth_command import main as synth_main

import video_factory

SIZE = 224
FULL = SelfBlendConfig(blend_ratios=(1.0,))


@pytest.fixture(scope="module")
def mtcnn() -> FaceDetector:
    return create_detector("mtcnn")


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def face(request: pytest.FixtureRequest, mtcnn: FaceDetector) -> tuple[np.ndarray, np.ndarray]:
    """A real face crop and its 5 landmarks in crop pixels."""
    image = getattr(video_factory, request.param)()
    (detection,) = mtcnn.detect(image)
    spec = CropSpec(SIZE, margin=0.25, align=True)
    matrix = crop_matrix(detection, spec)
    landmarks = np.asarray(detection.landmarks) @ matrix[:, :2].T + matrix[:, 2]
    return crop_face(image, detection, spec), landmarks


def _at(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.array([mask[round(y), round(x)] for x, y in points])


def test_same_seed_same_bytes_other_seed_differs(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    a = self_blend(crop, landmarks, np.random.default_rng(7))
    b = self_blend(crop, landmarks, np.random.default_rng(7))
    c = self_blend(crop, landmarks, np.random.default_rng(8))
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert a[0].tobytes() != c[0].tobytes() and a[1].tobytes() != c[1].tobytes()
    blender = SelfBlender()
    d = blender(crop, landmarks, np.random.default_rng(7))
    assert d[0].tobytes() == a[0].tobytes()


def test_shapes_dtypes_and_input_untouched(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    before = crop.copy()
    fake, mask = self_blend(crop, landmarks, np.random.default_rng(0))
    assert fake.shape == (SIZE, SIZE, 3) and fake.dtype == np.uint8
    assert mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
    assert np.array_equal(crop, before)


@pytest.mark.parametrize("seed", range(6))
def test_mask_is_soft_face_shaped_and_zero_in_corners(
    face: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    _, landmarks = face
    mask = face_mask(landmarks, SIZE, np.random.default_rng(seed), FULL)
    assert mask.dtype == np.float32 and mask.shape == (SIZE, SIZE)
    assert mask.min() >= 0.0 and mask.max() == pytest.approx(1.0)
    assert np.any((mask > 0.05) & (mask < 0.95)), "boundary should be soft"
    assert np.all(_at(mask, landmarks) > 0.5), "eyes, nose and mouth are blended"
    corner = SIZE // 10
    for block in (mask[:corner, :corner], mask[:corner, -corner:], mask[-corner:, :corner]):
        assert block.max() < 1e-3
    assert mask[-corner:, -corner:].max() < 1e-3
    # Face-sized: more than the eye-mouth box, far less than the whole crop.
    assert 0.08 < (mask > 0.5).mean() < 0.6


def test_blend_ratio_scales_the_mask_and_defaults_use_the_sbi_ratios(
    face: tuple[np.ndarray, np.ndarray],
) -> None:
    _, landmarks = face
    half = face_mask(
        landmarks, SIZE, np.random.default_rng(1), SelfBlendConfig(blend_ratios=(0.5,))
    )
    assert half.max() == pytest.approx(0.5)
    peaks = {
        round(float(face_mask(landmarks, SIZE, np.random.default_rng(s)).max()), 4)
        for s in range(40)
    }
    assert peaks <= {0.25, 0.5, 0.75, 1.0} and len(peaks) >= 3


@pytest.mark.parametrize("seed", range(4))
def test_fake_differs_inside_mask_and_equals_real_outside(
    face: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    crop, landmarks = face
    fake, mask = self_blend(crop, landmarks, np.random.default_rng(seed), FULL)
    diff = np.abs(fake.astype(np.int16) - crop.astype(np.int16)).max(axis=2)
    inside = mask > 0.9
    assert diff[inside].mean() > 2.0
    assert (diff[inside] > 2).mean() > 0.3
    outside = mask == 0.0
    assert outside.mean() > 0.3
    assert diff[outside].max() <= 1


def test_default_config_fakes_also_differ(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    for seed in range(10):
        fake, mask = self_blend(crop, landmarks, np.random.default_rng(seed))
        diff = np.abs(fake.astype(np.int16) - crop.astype(np.int16)).max(axis=2)
        assert diff[mask >= 0.99 * mask.max()].mean() > 0.5
        assert diff[mask == 0.0].max() <= 1


def test_no_landmarks_gives_a_centred_face_ellipse(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    fake, mask = self_blend(crop, None, np.random.default_rng(3), FULL)
    assert fake.shape == crop.shape and mask.shape == (SIZE, SIZE)
    ys, xs = np.nonzero(mask > 0.5)
    assert abs(xs.mean() - SIZE / 2) < 0.1 * SIZE
    assert abs(ys.mean() - 0.55 * SIZE) < 0.1 * SIZE
    # The real detected face's features fall inside the assumed one.
    assert np.all(_at(mask, landmarks) > 0.5)
    assert mask[: SIZE // 10, : SIZE // 10].max() < 1e-3


def test_other_crop_sizes_and_bad_inputs() -> None:
    rng = np.random.default_rng(0)
    small = np.full((64, 64, 3), 128, np.uint8)
    fake, mask = self_blend(small, None, rng)
    assert fake.shape == (64, 64, 3) and 0.0 < mask.max() <= 1.0
    with pytest.raises(ValueError):
        self_blend(np.zeros((64, 80, 3), np.uint8), None, rng)
    with pytest.raises(ValueError):
        self_blend(small.astype(np.float32), None, rng)
    with pytest.raises(ValueError):
        face_mask(np.zeros((4, 2)), 64, rng)
    with pytest.raises(ValueError):
        SelfBlendConfig(blend_ratios=(0.0,))


def test_synth_examples_writes_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photo = tmp_path / "hopper.png"
    cv2.imwrite(str(photo), cv2.cvtColor(video_factory.grace_hopper(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "sub" / "grid.png"
    args = [str(photo), "--out", str(out), "--count", "3", "--size", "96", "--seed", "5"]
    assert synth_main(args) == 0
    grid = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert grid is not None and grid.shape == (4 * 96, 3 * 96, 3)
    first = grid.tobytes()
    assert synth_main(args) == 0
    assert cv2.imread(str(out)).tobytes() == first
    # Row 1 is the real crop, repeated; row 2 the fakes, which differ between columns.
    real, fakes = grid[:96], grid[96:192]
    assert np.array_equal(real[:, :96], real[:, 96:192])
    assert not np.array_equal(fakes[:, :96], fakes[:, 96:192])
    assert "wrote" in capsys.readouterr().out


def test_synth_examples_defaults_to_the_astronaut(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert synth_main(["--out", str(out), "--count", "2", "--size", "64"]) == 0
    assert cv2.imread(str(out)).shape == (256, 128, 3)


def test_synth_examples_without_a_face_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cup = tmp_path / "cup.png"
    cv2.imwrite(str(cup), video_factory.face_free())
    out = tmp_path / "grid.png"
    assert synth_main([str(cup), "--out", str(out)]) == 2
    assert "no face" in capsys.readouterr().err
    assert not out.exists()
    assert synth_main([str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err

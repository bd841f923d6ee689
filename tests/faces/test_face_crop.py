"""Face crops: shape and type, what the margin adds, edge replication at the frame border, the
tight crop the seed model expects, and eye-level alignment on a rotated real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepfake_detector.faces import CropSpec, FaceDetection, FaceDetector, crop_face
from deepfake_detector.faces.crop import crop_matrix, eye_angle

import video_factory as vf


def box_face(x1: float, y1: float, x2: float, y2: float) -> FaceDetection:
    return FaceDetection((x1, y1, x2, y2), 0.99)


@pytest.mark.parametrize(
    "spec", [CropSpec(), CropSpec(112, 0.0, False), CropSpec(380, 0.4, True), CropSpec(64, 0.1)]
)
@pytest.mark.parametrize(
    "box", [(179, 60, 268, 173), (-40, -30, 60, 90), (450, 400, 600, 620), (700, 700, 800, 800)]
)
def test_crop_is_square_rgb_uint8_of_the_spec_size(
    spec: CropSpec, box: tuple[float, float, float, float]
) -> None:
    """Including boxes partly or wholly outside the 512x512 photo."""
    crop = crop_face(vf.astronaut(), box_face(*box), spec)
    assert crop.shape == (spec.size, spec.size, 3)
    assert crop.dtype == np.uint8
    assert crop.flags["C_CONTIGUOUS"]


def test_tight_crop_of_a_square_box_is_the_box_resized() -> None:
    """margin=0, align=False: what the seed model saw (a tight box resized to the input size)."""
    photo = vf.astronaut()
    x1, y1, side = 179, 60, 100
    expected = cv2.resize(photo[y1 : y1 + side, x1 : x1 + side], (224, 224))
    crop = crop_face(photo, box_face(x1, y1, x1 + side, y1 + side), CropSpec(224, 0.0, False))
    diff = np.abs(crop.astype(int) - expected.astype(int))
    # cv2.resize clamps at the slice's edge where the warp sees the real neighbouring pixels:
    # they differ only in the outermost output pixel.
    assert diff[1:-1, 1:-1].max() <= 4  # warpAffine interpolates in 1/32 pixel steps
    assert diff.mean() < 0.6


def test_large_face_is_shrunk_without_aliasing() -> None:
    """A 400 px region cut to 112 px is area-averaged like ``cv2.resize(INTER_AREA)``: a one-pixel
    checkerboard becomes flat grey, where a bilinear warp alone would alias it into a pattern."""
    board = (np.indices((1000, 1000)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = np.dstack([board] * 3)
    face = box_face(300, 100, 700, 500)
    crop = crop_face(image, face, CropSpec(112, 0.0, False)).astype(int)
    assert abs(crop.mean() - 127.5) < 2 and crop.std() < 3
    aliased = cv2.warpAffine(image, crop_matrix(face, CropSpec(112, 0.0, False)), (112, 112))
    assert aliased.std() > 10
    photo = cv2.resize(vf.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    region = photo[100:500, 300:700]
    area = cv2.resize(region, (112, 112), interpolation=cv2.INTER_AREA).astype(int)
    crop = crop_face(photo, face, CropSpec(112, 0.0, False)).astype(int)
    assert np.abs(crop - area)[1:-1, 1:-1].mean() < 1.5


def test_margin_adds_context_around_the_same_face() -> None:
    """With margin m the tight crop is the central 1/(1+2m) of the crop."""
    photo = vf.astronaut()
    face = box_face(179, 60, 279, 160)
    tight = crop_face(photo, face, CropSpec(200, 0.0, False))
    wide = crop_face(photo, face, CropSpec(300, 0.25, False))
    diff = np.abs(wide[50:250, 50:250].astype(int) - tight.astype(int))
    assert diff.mean() < 1.0
    # A non-square box is squared on its longer side: the face is not stretched.
    tall = crop_face(photo, box_face(204, 60, 254, 160), CropSpec(200, 0.0, False))
    assert np.abs(tall.astype(int) - tight.astype(int)).mean() < 1.0


def test_outside_the_frame_the_edge_pixels_are_replicated() -> None:
    photo = vf.astronaut()
    # 100 px box half outside the left edge: crop column u shows frame column u - 50.
    crop = crop_face(photo, box_face(-50, 100, 50, 200), CropSpec(100, 0.0, False))
    edge = photo[100:200, 0]
    for u in range(50):
        np.testing.assert_array_equal(crop[:, u], edge)
    np.testing.assert_array_equal(crop[:, 50:], photo[100:200, 0:50])
    # Past the bottom-right corner every pixel outside repeats the corner's row and column.
    corner = crop_face(photo, box_face(462, 462, 562, 562), CropSpec(100, 0.0, False))
    np.testing.assert_array_equal(corner[50:, 50:], np.broadcast_to(photo[511, 511], (50, 50, 3)))
    np.testing.assert_array_equal(corner[:50, 50:], np.repeat(photo[462:512, 511:512], 50, axis=1))


def test_crop_matrix_puts_the_box_centre_at_the_crop_centre() -> None:
    face = FaceDetection(
        (100.0, 50.0, 180.0, 150.0),
        0.99,
        np.array([[120, 90], [160, 80], [140, 110], [125, 130], [155, 125]], float),
    )
    for spec in [CropSpec(224, 0.25, True), CropSpec(112, 0.0, False)]:
        m = crop_matrix(face, spec)
        centre = m[:, :2] @ np.array([140.0 - 0.5, 100.0 - 0.5]) + m[:, 2]
        np.testing.assert_allclose(centre, [spec.size / 2 - 0.5] * 2, atol=1e-9)


def test_without_landmarks_align_changes_nothing() -> None:
    photo = vf.astronaut()
    face = box_face(179, 60, 268, 173)
    aligned = crop_face(photo, face, CropSpec(160, 0.2, True))
    plain = crop_face(photo, face, CropSpec(160, 0.2, False))
    np.testing.assert_array_equal(aligned, plain)


@pytest.mark.parametrize("degrees", [-20, 20])
def test_alignment_levels_the_eyes_of_a_tilted_face(mtcnn: FaceDetector, degrees: int) -> None:
    photo = vf.astronaut()
    turn = cv2.getRotationMatrix2D((223.0, 116.0), degrees, 1.0)
    tilted = cv2.warpAffine(photo, turn, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    (face,) = mtcnn.detect(tilted)
    assert face.landmarks is not None
    assert abs(eye_angle(face.landmarks)) > 12

    spec = CropSpec(224, 0.25, True)
    m = crop_matrix(face, spec)
    moved = face.landmarks @ m[:, :2].T + m[:, 2]
    assert abs(eye_angle(moved)) < 1e-6
    assert np.all((moved > 0) & (moved < spec.size))
    # Found again in the aligned crop, the eyes are level to within the detector's own error,
    # while in the unaligned crop they keep the tilt.
    (again,) = mtcnn.detect(crop_face(tilted, face, spec))
    assert abs(eye_angle(again.landmarks)) < 4
    (unaligned,) = mtcnn.detect(crop_face(tilted, face, CropSpec(224, 0.25, False)))
    assert abs(eye_angle(unaligned.landmarks)) > 12


def test_eye_angle_sign() -> None:
    level = np.array([[0, 0], [10, 0], [5, 5], [2, 8], [8, 8]], float)
    assert eye_angle(level) == 0
    right_eye_lower = level.copy()
    right_eye_lower[1] = [10, 10]
    assert eye_angle(right_eye_lower) == pytest.approx(45)

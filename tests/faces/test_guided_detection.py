"""Guided detection on rendered frames with the real MTCNN: whole searches every k samples, the
same faces in between, a whole search whenever a followed face is not found again, new faces
found at the next whole search, and no guided search where it would not pay."""

from __future__ import annotations

import numpy as np
import pytest

from deepfake_detector.faces import FaceDetection, FaceDetector
from deepfake_detector.faces.guided import GuidedDetection
from deepfake_detector.faces.tracking import box_iou

import video_factory as vf


class _Counting:
    """A real detector, with a log of which search each call made (``full`` or ``near``)."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self.name = detector.name
        self.calls: list[str] = []

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        self.calls.append("full")
        return self.detector.detect(image)

    def detect_in(
        self, image: np.ndarray, region: tuple[int, int, int, int], min_face_px: float
    ) -> list[FaceDetection]:
        self.calls.append("near")
        return self.detector.detect_in(image, region, min_face_px)

    def search_cost(
        self, shape: tuple[int, ...], region: tuple[int, int, int, int], min_face_px: float
    ) -> float:
        return self.detector.search_cost(shape, region, min_face_px)


SIZE, K = (1280, 720), 2.0


def _frame(t: float, layers: vf.Layers | None = None) -> np.ndarray:
    return vf.render_scene(SIZE, vf.scaled_layers(layers or vf.two_faces_layers(), K), t)


def _same_faces(a: list[FaceDetection], b: list[FaceDetection]) -> bool:
    return len(a) == len(b) and all(max(box_iou(x.box, y.box) for y in b) > 0.8 for x in a)


def test_whole_search_every_k_samples_and_the_same_faces_between(mtcnn: FaceDetector) -> None:
    spy = _Counting(mtcnn)
    guided = GuidedDetection(spy, full_every=4)
    times = [0.25 * i for i in range(10)]
    for t in times:
        found = guided(_frame(t), t)
        assert _same_faces(found, mtcnn.detect(_frame(t))), t
    assert spy.calls == ["full", "near", "near", "near"] * 2 + ["full", "near"]
    assert (guided.full_searches, guided.guided_searches) == (3, 7)


def test_full_every_1_searches_every_sample_whole(mtcnn: FaceDetector) -> None:
    spy = _Counting(mtcnn)
    guided = GuidedDetection(spy, full_every=1)
    for t in (0.0, 0.3, 0.6):
        guided(_frame(t), t)
    assert spy.calls == ["full"] * 3


def test_a_face_gone_from_its_region_makes_that_sample_a_whole_search(
    mtcnn: FaceDetector,
) -> None:
    spy = _Counting(mtcnn)
    guided = GuidedDetection(spy, full_every=8)
    assert len(guided(_frame(0.0), 0.0)) == 2
    astronaut_only = vf.two_faces_layers()[:1]
    found = guided(_frame(0.25, astronaut_only), 0.25)
    assert len(found) == 1
    assert spy.calls == ["full", "near", "full"]
    # The next sample follows the one face left, near it.
    assert len(guided(_frame(0.5, astronaut_only), 0.5)) == 1
    assert spy.calls[-1] == "near"


def test_a_face_missed_once_is_still_looked_for(mtcnn: FaceDetector) -> None:
    """Grace Hopper is gone from one sample (as when the detector misses a face) and back in the
    next: that next sample's guided search still covers where she was two samples before."""
    spy = _Counting(mtcnn)
    guided = GuidedDetection(spy, full_every=8)
    astronaut_only = vf.two_faces_layers()[:1]
    counts = [
        len(guided(_frame(0.0), 0.0)),
        len(guided(_frame(0.25, astronaut_only), 0.25)),
        len(guided(_frame(0.5), 0.5)),
    ]
    assert counts == [2, 1, 2]
    assert spy.calls == ["full", "near", "full", "near"]


def test_a_new_face_is_found_at_the_next_whole_search(mtcnn: FaceDetector) -> None:
    guided = GuidedDetection(mtcnn, full_every=4)
    astronaut_only = vf.two_faces_layers()[:1]
    counts = [len(guided(_frame(0.0, astronaut_only), 0.0))]
    # Grace Hopper comes in on the right, far from where the astronaut is followed.
    counts += [len(guided(_frame(0.25 * i), 0.25 * i)) for i in range(1, 6)]
    assert counts == [1, 1, 1, 1, 2, 2]
    assert guided.full_searches == 2


def test_no_guided_search_where_it_would_not_pay(mtcnn: FaceDetector) -> None:
    """At 640x360 these faces are small: searching near them would skip little of the pyramid
    across most of the frame, so every sample is searched whole."""
    spy = _Counting(mtcnn)
    guided = GuidedDetection(spy, full_every=4)
    for t in (0.0, 0.25, 0.5):
        frame = vf.render_scene((640, 360), vf.two_faces_layers(), t)
        assert len(guided(frame, t)) == 2
    assert spy.calls == ["full"] * 3


def test_full_every_must_be_at_least_1(mtcnn: FaceDetector) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GuidedDetection(mtcnn, full_every=0)

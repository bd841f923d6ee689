"""The face half of the pipeline on its own, as the training crop cache uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepfake_detector.analysis.extraction import FaceExtractor, StageClock
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.faces import CropSpec


def test_people_come_with_crops_and_landmarks_in_crop_coordinates(two_faces_video: Path) -> None:
    spec = CropSpec(size=160, margin=0.25, align=True)
    extractor = FaceExtractor(AnalysisSettings(frames=6), spec)
    clock = StageClock()
    extracted = extractor.extract(extractor.open(two_faces_video), clock=clock)
    assert len(extracted.frames) == 6
    assert len(extracted.people) == 2
    for person in extracted.people:
        assert len(person.crops) == len(person.frames) == len(person.detections) >= 5
        assert all(c.shape == (160, 160, 3) and c.dtype == np.uint8 for c in person.crops)
        for pts in person.crop_landmarks(spec):
            assert pts is not None and pts.shape == (5, 2)
            left_eye, right_eye, nose, mouth_left, mouth_right = pts
            # Aligned crops: eyes level, features inside the crop, eyes above the mouth.
            assert abs(left_eye[1] - right_eye[1]) < 3
            assert np.all((pts > 0) & (pts < 160))
            assert left_eye[1] < nose[1] < (mouth_left[1] + mouth_right[1]) / 2
    assert {"decode", "detect", "crop", "track"} <= set(clock.seconds)


def test_no_face_gives_no_people(no_face_video: Path) -> None:
    extractor = FaceExtractor(AnalysisSettings(frames=3), CropSpec(size=112))
    extracted = extractor.extract(extractor.open(no_face_video))
    assert len(extracted.frames) == 3
    assert extracted.people == []

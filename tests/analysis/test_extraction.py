"""The face half of the pipeline on its own, as the training crop cache uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_detector.analysis.extraction import FaceExtractor, StageClock
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.faces import CropSpec
from deepfake_detector.faces.guided import GuidedDetection
from deepfake_detector.faces.tracking import box_iou

import video_factory as vf


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


def test_guided_search_gives_the_faces_whole_searches_give(
    tmp_path: Path, guided_searches: list[GuidedDetection]
) -> None:
    """DFD_FULL_DETECT_EVERY=4 on a 720p video of two people: most samples are searched only
    near the faces followed, and the people, their frames and their faces are those that
    searching every sample whole gives."""
    video = vf.scene_video(
        tmp_path / "two-720p.mp4", vf.scaled_layers(vf.two_faces_layers(), 2.0), size=(1280, 720)
    )
    spec = CropSpec(size=160, margin=0.25, align=True)
    results = {}
    for every in (1, 4):
        extractor = FaceExtractor(AnalysisSettings(frames=12, full_detect_every=every), spec)
        results[every] = extractor.extract(extractor.open(video))
    whole, guided = guided_searches
    assert (whole.full_searches, whole.guided_searches) == (12, 0)
    assert (guided.full_searches, guided.guided_searches) == (3, 9)
    assert len(results[1].people) == len(results[4].people) == 2
    for a, b in zip(results[1].people, results[4].people, strict=True):
        assert [f.sample_index for f in a.frames] == [f.sample_index for f in b.frames]
        for da, db in zip(a.detections, b.detections, strict=True):
            # MTCNN's boxes move a little with the scales searched; the landmarks that align
            # the crops stay within a twentieth of the face.
            assert box_iou(da.box, db.box) > 0.8
            size = da.box[2] - da.box[0]
            assert np.abs(da.landmarks - db.landmarks).max() < 0.05 * size


def test_the_decode_device_setting_reaches_the_decoder(
    two_faces_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DFD_DECODE_DEVICE`` is passed down to the video decoder, and the faces are those a
    decode on the CPU gives (``cuda`` is NVDEC on a machine with a GPU, the CPU elsewhere)."""
    from deepfake_detector.media import reader

    monkeypatch.setattr(reader, "_cuda_unusable", set())
    real_hwaccel = reader._hwaccel
    asked: list[str] = []  # per file opened: the device the decoder was asked for
    monkeypatch.setattr(reader, "_hwaccel", lambda d: asked.append(d) or real_hwaccel(d))
    spec = CropSpec(size=112)
    found, opened = {}, {}
    for device in ("cpu", "cuda"):
        extractor = FaceExtractor(AnalysisSettings(frames=4, decode_device=device), spec)
        source = extractor.open(two_faces_video)
        asked.clear()
        found[device] = extractor.extract(source)
        opened[device] = list(asked)
    assert opened["cpu"] and set(opened["cpu"]) == {"cpu"}
    assert opened["cuda"] and set(opened["cuda"]) == {"cuda"}
    cpu, cuda = found["cpu"].people, found["cuda"].people
    assert len(cpu) == len(cuda) == 2
    for a, b in zip(cpu, cuda, strict=True):
        assert [f.sample_index for f in a.frames] == [f.sample_index for f in b.frames]
        assert all(
            box_iou(da.box, db.box) > 0.9 for da, db in zip(a.detections, b.detections, strict=True)
        )

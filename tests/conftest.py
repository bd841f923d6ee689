"""Shared fixtures: real-photo test videos, generated once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfake_detector.models.classifier import clear_classifier_cache

import video_factory


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Exported ONNX files and backend timings go to a session tmp dir (made once, shared by all
    tests and the processes they start), never to the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("dfd-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("DFD_CACHE_DIR", str(cache))
    yield cache
    mp.undo()
    clear_classifier_cache()


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def panning_video(video_dir: Path) -> Path:
    return video_factory.panning_face(video_dir / "panning.mp4")


@pytest.fixture(scope="session")
def zooming_video(video_dir: Path) -> Path:
    return video_factory.zooming_face(video_dir / "zooming.mp4")


@pytest.fixture(scope="session")
def two_faces_video(video_dir: Path) -> Path:
    return video_factory.two_faces(video_dir / "two_faces.mp4")


@pytest.fixture(scope="session")
def no_face_video(video_dir: Path) -> Path:
    return video_factory.no_face(video_dir / "no_face.mp4")


@pytest.fixture(scope="session")
def rotated_video(video_dir: Path) -> Path:
    """The panning face, stored sideways with 90-degree display rotation metadata."""
    import numpy as np

    src = video_dir / "panning_for_rotation.mp4"
    video_factory.panning_face(src, duration_s=2.0)
    import av

    with av.open(str(src)) as c:
        frames = [np.rot90(f.to_ndarray(format="rgb24"), k=-1).copy() for f in c.decode(video=0)]
    # Stored rotated a quarter turn clockwise; the metadata says "turn it back" (90 CCW).
    return video_factory.write_video(video_dir / "rotated.mp4", frames, fps=25, rotation=90)


@pytest.fixture
def guided_searches(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``GuidedDetection`` the face extractor makes during the test, in order (the real
    class, recorded), to see how each video's samples were searched."""
    from deepfake_detector.analysis import extraction
    from deepfake_detector.faces.guided import GuidedDetection

    made: list[object] = []

    class Recorded(GuidedDetection):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(extraction, "GuidedDetection", Recorded)
    return made

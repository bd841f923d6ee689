"""The detector benchmark: a detector spec with another frame size, and the matching of its
faces against the reference's, on the test suite's real-photo scenes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_detectors  # noqa: E402  (lives in benchmarks/, put on the path above)


def test_smaller_frames_find_the_scene_faces_and_compare_face_by_face() -> None:
    frames = bench_detectors.fixture_frames()
    reference, _ = bench_detectors.run_detector("mtcnn", frames)
    smaller, times = bench_detectors.run_detector("mtcnn@480", frames)
    assert len(times) == len(frames) and all(t > 0 for t in times)
    # Two faces in each of three scene sizes, the astronaut, nothing in the face-free scene.
    assert [len(f) for f in reference] == [2, 2, 2, 1, 0]
    assert bench_detectors.compare(reference, smaller) == {"matched": 7, "missed": 0, "extra": 0}
    # Nothing found against everything: every reference face is missed.
    empty = [[] for _ in frames]
    assert bench_detectors.compare(reference, empty) == {"matched": 0, "missed": 7, "extra": 0}
    assert bench_detectors.compare(empty, reference) == {"matched": 0, "missed": 0, "extra": 7}


@pytest.mark.parametrize("runtime", ["torch-cpu", "onnxruntime"])
def test_mtcnn_networks_through_another_runtime_find_the_same_faces(runtime: str) -> None:
    frames = bench_detectors.fixture_frames()
    reference, _ = bench_detectors.run_detector("mtcnn", frames)
    ported, times = bench_detectors.run_detector(f"mtcnn#{runtime}", frames)
    assert len(times) == len(frames)
    assert bench_detectors.compare(reference, ported) == {"matched": 7, "missed": 0, "extra": 0}

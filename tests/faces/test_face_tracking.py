"""Tracking: detections from real frames of the fixture videos and scenes linked into one track
per person, plus the rules (gaps, spurious detections, numbering) on hand-made detections."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from deepfake_detector.faces import FaceDetection, FaceDetector, build_tracks
from deepfake_detector.faces.tracking import _min_cost_assignment, box_iou

import video_factory as vf


def face(x: float, y: float, size: float = 60.0, score: float = 0.99) -> FaceDetection:
    """A detection whose box has its top-left corner at (x, y)."""
    return FaceDetection((x, y, x + size, y + size * 1.2), score)


def test_two_people_side_by_side_give_two_stable_tracks(
    mtcnn: FaceDetector, two_faces_video: Path
) -> None:
    frames, times = vf.decode_frames(two_faces_video, 16)
    detections = [mtcnn.detect(frame) for frame in frames]
    assert all(len(found) == 2 for found in detections)
    tracks = build_tracks(detections, times)
    assert [t.track_id for t in tracks] == [0, 1]
    left, right = tracks
    assert [f.sample_index for f in left.faces] == list(range(16))
    assert [f.sample_index for f in right.faces] == list(range(16))
    assert [f.time_s for f in left.faces] == times
    # Id 0 is the astronaut on the left in every frame, id 1 Grace Hopper on the right.
    assert all(
        a.detection.box[2] < g.detection.box[0]
        for a, g in zip(left.faces, right.faces, strict=True)
    )
    layers = vf.two_faces_layers()
    for tracked in left.faces:
        expected = vf.placed_box(vf.ASTRONAUT_FACE, layers[0][1](tracked.time_s))
        assert box_iou(tracked.detection.box, expected) > 0.6
    # The tracks hold the detector's own objects (the pipeline finds crops by identity).
    assert left.faces[3].detection is min(detections[3], key=lambda d: d.box[0])


def test_panning_face_is_one_track(mtcnn: FaceDetector, panning_video: Path) -> None:
    frames, times = vf.decode_frames(panning_video, 8)
    detections = [mtcnn.detect(frame) for frame in frames]
    tracks = build_tracks(detections, times)
    assert len(tracks) == 1
    assert len(tracks[0].faces) == sum(len(found) for found in detections) >= 7


def test_fast_pan_between_distant_samples_is_one_track(mtcnn: FaceDetector) -> None:
    """Samples 2 s apart while the face crosses the frame: consecutive boxes do not overlap at
    all, so IoU alone would make four tracks."""
    times = [0.0, 2.0, 4.0, 6.0]
    layers = [(vf.astronaut(), lambda t: vf.Placement(-120 + 60 * t, -20, 0.7))]
    detections = [mtcnn.detect(vf.render_scene((640, 360), layers, t)) for t in times]
    assert [len(found) for found in detections] == [1, 1, 1, 1]
    boxes = [found[0].box for found in detections]
    assert all(box_iou(a, b) == 0 for a, b in itertools.pairwise(boxes))
    tracks = build_tracks(detections, times)
    assert len(tracks) == 1 and len(tracks[0].faces) == 4


def test_a_track_continues_over_a_missed_frame(mtcnn: FaceDetector) -> None:
    times = [i * 0.5 for i in range(8)]
    detections = [
        mtcnn.detect(vf.render_scene((640, 360), vf.two_faces_layers(), t)) for t in times
    ]
    # The right-hand face is missed in frame 3, both faces in frame 5.
    detections[3] = [min(detections[3], key=lambda d: d.box[0])]
    detections[5] = []
    tracks = build_tracks(detections, times)
    assert len(tracks) == 2
    assert [f.sample_index for f in tracks[0].faces] == [0, 1, 2, 3, 4, 6, 7]
    assert [f.sample_index for f in tracks[1].faces] == [0, 1, 2, 4, 6, 7]


def test_spurious_single_detections_are_dropped() -> None:
    times = [float(i) for i in range(20)]
    detections = [[face(100 + 2 * i, 100)] for i in range(20)]
    detections[7].append(face(500, 50, size=40))
    detections[12].append(face(400, 250, size=30))
    tracks = build_tracks(detections, times)
    assert len(tracks) == 1 and len(tracks[0].faces) == 20


def test_when_every_track_is_short_the_longest_seen_twice_is_kept() -> None:
    times = [float(i) for i in range(20)]
    detections: list[list[FaceDetection]] = [[] for _ in range(20)]
    detections[4] = [face(550, 100, score=0.999)]
    detections[10] = [face(100, 100)]
    detections[11] = [face(104, 102)]
    tracks = build_tracks(detections, times)
    assert len(tracks) == 1
    assert [f.sample_index for f in tracks[0].faces] == [10, 11]
    # One isolated detection among many frames is taken for a false detection.
    lone: list[list[FaceDetection]] = [[] for _ in range(20)]
    lone[4] = [face(300, 100)]
    assert build_tracks(lone, times) == []
    # With few frames a single sighting is already enough.
    assert len(build_tracks([[face(300, 100)], [], []], [0.0, 1.0, 2.0])) == 1


def test_ids_follow_first_appearance_then_left_to_right() -> None:
    times = [0.0, 1.0, 2.0, 3.0]
    right, left, middle = (
        (lambda: face(500, 100)),
        (lambda: face(50, 100)),
        (lambda: face(250, 100)),
    )
    detections = [[right()], [right(), middle(), left()], [left(), right(), middle()], [right()]]
    tracks = build_tracks(detections, times, min_track_fraction=0)
    firsts = [t.faces[0] for t in tracks]
    assert [f.sample_index for f in firsts] == [0, 1, 1]
    assert [f.detection.box[0] for f in firsts] == [500, 50, 250]
    assert [t.track_id for t in tracks] == [0, 1, 2]


def test_a_track_does_not_jump_to_a_far_or_much_larger_face() -> None:
    times = [0.0, 0.5, 1.0]
    # A small face, then only a big face elsewhere, then the small face again.
    detections = [[face(100, 100, size=40)], [face(300, 80, size=150)], [face(102, 100, size=40)]]
    tracks = build_tracks(detections, times, min_track_fraction=0)
    assert len(tracks) == 2
    assert [f.sample_index for f in tracks[0].faces] == [0, 2]
    # Two faces of the same size far apart within half a second are two people, too.
    detections = [[face(100, 100)], [face(400, 100)], [face(102, 100)]]
    assert len(build_tracks(detections, times, min_track_fraction=0)) == 2


def test_faces_crossing_paths_keep_their_tracks() -> None:
    """Two faces walking past each other: the predicted positions (constant velocity) keep each
    track on its own face after they cross."""
    times = [i * 0.2 for i in range(10)]
    detections = [[face(100 + 30 * i, 100), face(400 - 30 * i, 110)] for i in range(10)]
    tracks = build_tracks(detections, times)
    assert len(tracks) == 2
    xs = [[f.detection.box[0] for f in t.faces] for t in tracks]
    assert xs[0] == [100 + 30 * i for i in range(10)]
    assert xs[1] == [400 - 30 * i for i in range(10)]


def test_no_detections_and_bad_input() -> None:
    assert build_tracks([], []) == []
    assert build_tracks([[], [], []], [0.0, 1.0, 2.0]) == []
    with pytest.raises(ValueError, match="times"):
        build_tracks([[face(0, 0)]], [0.0, 1.0])


def test_min_cost_assignment_is_exact() -> None:
    rng = np.random.default_rng(7)
    for n, m in [(1, 1), (2, 3), (3, 2), (4, 4), (5, 3), (3, 6)]:
        for _ in range(20):
            cost = rng.uniform(0, 10, (n, m))
            cost[rng.uniform(size=(n, m)) < 0.3] = 1e6
            pairs = _min_cost_assignment(cost)
            assert len(pairs) == min(n, m)
            assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
            total = sum(cost[r, c] for r, c in pairs)
            if n <= m:
                best = min(
                    sum(cost[r, c] for r, c in enumerate(cols))
                    for cols in itertools.permutations(range(m), n)
                )
            else:
                best = min(
                    sum(cost[r, c] for c, r in enumerate(rows))
                    for rows in itertools.permutations(range(n), m)
                )
            assert total == pytest.approx(best)

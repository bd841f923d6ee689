"""Link per-frame detections into tracks: one track per person across the sampled frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepfake_detector.faces.detector import FaceDetection


@dataclass(frozen=True)
class TrackedFace:
    sample_index: int
    time_s: float
    detection: FaceDetection


@dataclass
class FaceTrack:
    track_id: int
    faces: list[TrackedFace] = field(default_factory=list)


def build_tracks(
    detections: list[list[FaceDetection]],
    times: list[float],
    *,
    min_iou: float = 0.3,
    min_track_fraction: float = 0.15,
) -> list[FaceTrack]:
    """Group detections (``detections[i]`` are the faces of sample ``i`` at ``times[i]``) into
    tracks, at most one face per track per frame. Tracks present in fewer than
    ``min_track_fraction`` of the frames are dropped; tracks are numbered from 0 in order of
    first appearance, then left to right."""
    raise NotImplementedError

"""Link per-frame detections into tracks: one track per person across the sampled frames.

Sampled frames can be seconds apart, so a moving face may not overlap its previous box at all and
IoU alone would split it. A detection may continue a track when either

* its box overlaps the track's last box by at least ``min_iou``, or
* its centre lies within ``max_shift(dt)`` face sizes of where the track was last seen, or of
  where the track's last two sightings say it should be now (constant velocity), **and** its size
  is within a factor ``MAX_SIZE_RATIO`` of the track's last face.

``max_shift(dt) = min(_SHIFT_BASE + _SHIFT_PER_SECOND * dt, _SHIFT_MAX)``, with ``dt`` the time
since the track was last seen: the longer a face has been unseen the further it may have gone.
Among admissible pairs, each frame's assignment is exact (Hungarian): the most tracks continued,
then the least total cost, where

    cost = centre shift / face size + (1 - IoU) + |log(size ratio)|

(all three dimensionless). Tracks may skip frames where their face was missed and continue later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from deepfake_detector.faces.detector import FaceDetection

_SHIFT_BASE = 1.0
"""Face sizes a face may move between two samples however close in time (detector jitter,
fast motion between consecutive frames)."""
_SHIFT_PER_SECOND = 1.5
"""Further face sizes per second between samples: a talking head moves far less, a person
walking across the frame about this much."""
_SHIFT_MAX = 5.0
"""However long a face was unseen, it is not linked to a face further than this."""
MAX_SIZE_RATIO = 2.0
"""Faces whose sizes (square root of box area) differ more than this are different people,
unless their boxes overlap by ``min_iou`` (a fast zoom)."""
_BLOCKED = 1e6
"""Cost of a pair that fails the gates; exceeds any sum of admissible costs."""


@dataclass(frozen=True)
class TrackedFace:
    sample_index: int
    """Position of the frame in the ``detections`` list given to :func:`build_tracks`."""
    time_s: float
    detection: FaceDetection


@dataclass
class FaceTrack:
    track_id: int
    faces: list[TrackedFace] = field(default_factory=list)
    """In frame order, at most one per frame."""


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
    first appearance, then left to right.

    If every track is that short, the longest one (ties: the higher mean score) is kept all the
    same provided it was seen in at least two frames: a face glimpsed briefly is still worth a
    verdict, while one isolated detection among many frames is most likely a false detection.
    """
    if len(detections) != len(times):
        raise ValueError(f"{len(detections)} frames of detections but {len(times)} times")
    tracks: list[list[TrackedFace]] = []
    for index, (faces, t) in enumerate(zip(detections, times, strict=True)):
        if not faces:
            continue
        cost = np.array(
            [[_link_cost(track, face, t, min_iou) for face in faces] for track in tracks]
        )
        linked: set[int] = set()
        if tracks:
            for row, col in _min_cost_assignment(cost):
                if cost[row, col] < _BLOCKED:
                    tracks[row].append(TrackedFace(index, float(t), faces[col]))
                    linked.add(col)
        # New faces start tracks left to right, so ids of simultaneous newcomers read that way.
        new = sorted(
            (i for i in range(len(faces)) if i not in linked), key=lambda i: faces[i].box[0]
        )
        tracks.extend([TrackedFace(index, float(t), faces[i])] for i in new)

    needed = max(1, math.ceil(min_track_fraction * len(detections) - 1e-9))
    kept = [track for track in tracks if len(track) >= needed]
    if not kept and tracks:
        longest = max(tracks, key=lambda tr: (len(tr), np.mean([f.detection.score for f in tr])))
        if len(longest) >= 2:
            kept = [longest]
    kept.sort(key=lambda tr: (tr[0].sample_index, tr[0].detection.box[0] + tr[0].detection.box[2]))
    return [FaceTrack(track_id, faces) for track_id, faces in enumerate(kept)]


def _link_cost(track: list[TrackedFace], face: FaceDetection, t: float, min_iou: float) -> float:
    """Cost of continuing ``track`` with ``face`` at time ``t``, or ``_BLOCKED``."""
    last = track[-1]
    box = last.detection.box
    overlap = box_iou(box, face.box)
    last_size, size = face_size(box), face_size(face.box)
    scale = 0.5 * (last_size + size)
    centre = _centre(face.box)
    shift = float(np.hypot(*(centre - _centre(box)))) / scale
    if len(track) >= 2 and last.time_s > track[-2].time_s:
        before = track[-2]
        velocity = (_centre(box) - _centre(before.detection.box)) / (last.time_s - before.time_s)
        predicted = _centre(box) + velocity * (t - last.time_s)
        shift = min(shift, float(np.hypot(*(centre - predicted))) / scale)
    ratio = max(last_size, size) / min(last_size, size)
    if overlap < min_iou and (shift > max_shift(t - last.time_s) or ratio > MAX_SIZE_RATIO):
        return _BLOCKED
    return shift + (1.0 - overlap) + math.log(ratio)


def max_shift(dt: float) -> float:
    """How far, in face sizes, a face last seen ``dt`` seconds ago may have gone and still
    continue its track (without overlapping its last box)."""
    return min(_SHIFT_BASE + _SHIFT_PER_SECOND * max(0.0, dt), _SHIFT_MAX)


def _centre(box: tuple[float, float, float, float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def face_size(box: tuple[float, float, float, float]) -> float:
    """A box's size as tracking measures it: the square root of its area."""
    return math.sqrt(max(box[2] - box[0], 1e-6) * max(box[3] - box[1], 1e-6))


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 when they do not touch)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _min_cost_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Rows matched to columns, each at most once, minimising the total cost (Hungarian method,
    O(n²m); the matrices here are a few tracks by a few faces)."""
    transposed = cost.shape[0] > cost.shape[1]
    c = cost.T if transposed else cost
    n, m = c.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    match = np.zeros(m + 1, dtype=int)  # match[j] = row (1-based) assigned to column j, 0 = none
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        match[0], j0 = i, 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0, delta, j1 = match[j0], np.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    reduced = c[i0 - 1, j - 1] - u[i0] - v[j]
                    if reduced < minv[j]:
                        minv[j], way[j] = reduced, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    pairs = [(int(match[j]) - 1, j - 1) for j in range(1, m + 1) if match[j]]
    return [(b, a) for a, b in pairs] if transposed else pairs

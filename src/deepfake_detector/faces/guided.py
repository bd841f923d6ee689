"""Face detection across a video's samples that searches the whole frame only every few samples.

A full-frame detection looks for faces of every size everywhere; most of its cost is the
smallest scales. Between two samples a face stays about where and how large it was, so in the
samples between full searches only the region where tracking could still link each face seen
in the last few samples (``tracking.max_shift`` of the time elapsed, in face sizes) is searched,
and only for faces no smaller than tracking's size gate allows (``tracking.MAX_SIZE_RATIO``).
A face of the previous sample not found there makes that sample a full search, so a guided
sample never reports fewer faces than the sample before; what it can miss is a *new* face
appearing elsewhere, which the next full search, at most ``full_every - 1`` samples later,
finds.

Measured in docs/speed.md (``DFD_FULL_DETECT_EVERY``).
"""

from __future__ import annotations

import math

import numpy as np

from deepfake_detector.faces.detector import FaceDetection, FaceDetector
from deepfake_detector.faces.tracking import MAX_SIZE_RATIO, face_size, max_shift

_MAX_GUIDED_COST = 0.5
"""A guided search estimated to cost more than this fraction of a whole one is not tried (small
or spread-out faces): when it misses a face, the whole search follows and both are paid."""


class GuidedDetection:
    """Faces of a video's sampled frames, in order: call once per sample with its time.

    ``full_every``: 1 searches every frame whole (the detector alone); ``k`` searches samples
    0, k, 2k, ... whole and the others only near the faces seen in the last ``k`` samples (a
    face the detector missed once is still looked for), falling back to a whole search when a
    face of the previous sample is not found again. One instance per video;
    ``full_searches`` and ``guided_searches`` count the searches of each kind.
    """

    def __init__(self, detector: FaceDetector, full_every: int) -> None:
        if full_every < 1:
            raise ValueError(f"full_every must be at least 1, got {full_every}")
        self.detector = detector
        self.full_every = int(full_every)
        self.full_searches = 0
        self.guided_searches = 0
        self._recent: list[tuple[float, list[FaceDetection]]] = []
        """(time, faces) of the last ``full_every`` samples, oldest first."""
        self._since_full = 0

    def __call__(self, image: np.ndarray, time_s: float) -> list[FaceDetection]:
        found: list[FaceDetection] | None = None
        if self._recent and self._recent[-1][1] and self._since_full + 1 < self.full_every:
            found = self._search_near(image, time_s)
        if found is None:
            found = self.detector.detect(image)
            self.full_searches += 1
            self._since_full = 0
        else:
            self.guided_searches += 1
            self._since_full += 1
        self._recent = [*self._recent, (time_s, found)][-self.full_every :]
        return found

    def _search_near(self, image: np.ndarray, time_s: float) -> list[FaceDetection] | None:
        """The faces in the region where the recent samples' faces could be now, or ``None``
        when a whole search is needed: fewer faces found there than the previous sample had,
        or a search there not much cheaper than a whole one."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = math.inf, math.inf, -math.inf, -math.inf
        smallest = math.inf
        for seen_at, faces in self._recent:
            reach = max_shift(time_s - seen_at)
            for face in faces:
                size = face_size(face.box)
                # Room for the centre to move ``reach`` sizes and for a face up to
                # MAX_SIZE_RATIO times larger around it.
                half = (reach + 0.5 * MAX_SIZE_RATIO) * size
                cx, cy = 0.5 * (face.box[0] + face.box[2]), 0.5 * (face.box[1] + face.box[3])
                x1, y1 = min(x1, cx - half), min(y1, cy - half)
                x2, y2 = max(x2, cx + half), max(y2, cy + half)
                smallest = min(smallest, size / MAX_SIZE_RATIO)
        region = (
            max(0, math.floor(x1)),
            max(0, math.floor(y1)),
            min(w, math.ceil(x2)),
            min(h, math.ceil(y2)),
        )
        if self.detector.search_cost(image.shape, region, smallest) > _MAX_GUIDED_COST:
            return None
        found = self.detector.detect_in(image, region, smallest)
        return found if len(found) >= len(self._recent[-1][1]) else None

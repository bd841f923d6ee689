"""Square face crops with a margin, rotated upright by the eyes when landmarks exist.

A crop is one affine warp of the frame (rotation, scale and translation together, so the frame is
resampled once), centred on the detection box, of side ``longer box side * (1 + 2 * margin)``.
Outside the frame the edge pixels are replicated: a face at the border still gives a full crop.
When a crop shrinks the face more than twofold, the region it covers is first reduced with
``INTER_AREA``, since a bilinear warp alone would alias (and aliasing is exactly the kind of
high-frequency artefact a deepfake classifier must not learn from).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from deepfake_detector.faces.detector import FaceDetection


@dataclass(frozen=True)
class CropSpec:
    """How a model wants its faces cut out. Stored in each model's config."""

    size: int = 224
    """Output side in pixels."""
    margin: float = 0.25
    """Extra context on each side, as a fraction of the box's longer side (0 = tight box)."""
    align: bool = True
    """Rotate so the eyes are level when landmarks exist."""


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle in degrees of the line from the left to the right eye (image coordinates, y down):
    0 when the eyes are level, positive when the right eye is lower."""
    left, right = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def crop_matrix(detection: FaceDetection, spec: CropSpec) -> np.ndarray:
    """``(2, 3)`` affine matrix taking frame pixel coordinates to crop pixel coordinates.

    Rotating the frame about the eye midpoint and then cutting a square around the box centre's
    new position is the same as rotating about the box centre, which is what this does. Box
    coordinates are continuous (pixel ``i`` spans ``[i, i + 1)``), so with ``margin=0`` and
    ``align=False`` a square box gives exactly ``cv2.resize`` of the box's pixels.
    """
    x1, y1, x2, y2 = detection.box
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + 2.0 * spec.margin)
    k = spec.size / side
    angle = 0.0
    if spec.align and detection.landmarks is not None:
        angle = math.radians(eye_angle(np.asarray(detection.landmarks, dtype=np.float64)))
    cos, sin = k * math.cos(angle), k * math.sin(angle)
    # Rotating by -angle levels the eyes: [x', y'] = k * R(-angle) @ ([x, y] + 0.5 - centre).
    rotation = np.array([[cos, sin], [-sin, cos]])
    centre = np.array([(x1 + x2) / 2.0, (y1 + y2) / 2.0])
    offset = -rotation @ (centre - 0.5) + (spec.size / 2.0 - 0.5)
    return np.hstack([rotation, offset[:, None]])


def crop_face(image: np.ndarray, detection: FaceDetection, spec: CropSpec) -> np.ndarray:
    """RGB ``uint8`` crop of shape ``(spec.size, spec.size, 3)``; regions outside the frame are
    filled by edge replication, never a failure."""
    matrix = crop_matrix(detection, spec)
    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    source, matrix = _shrunk_source(np.ascontiguousarray(image), matrix, spec.size, scale)
    return cv2.warpAffine(
        source,
        matrix,
        (spec.size, spec.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _shrunk_source(
    image: np.ndarray, matrix: np.ndarray, size: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The frame region the crop samples, area-averaged down to about the crop's resolution when
    the crop shrinks it more than twofold, and the matrix adjusted to it."""
    if scale >= 0.5:
        return image, matrix
    h, w = image.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    footprint = corners @ inverse.T
    x0 = int(np.clip(math.floor(footprint[:, 0].min()) - 2, 0, w - 1))
    y0 = int(np.clip(math.floor(footprint[:, 1].min()) - 2, 0, h - 1))
    x1 = int(np.clip(math.ceil(footprint[:, 0].max()) + 2, x0 + 1, w))
    y1 = int(np.clip(math.ceil(footprint[:, 1].max()) + 2, y0 + 1, h))
    region = image[y0:y1, x0:x1]
    rw, rh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
    fx, fy = rw / (x1 - x0), rh / (y1 - y0)
    # Small pixel (u, v) has centre at region pixel ((u + 0.5) / fx - 0.5, (v + 0.5) / fy - 0.5).
    to_region = np.array([[1 / fx, 0, 0.5 / fx - 0.5 + x0], [0, 1 / fy, 0.5 / fy - 0.5 + y0]])
    adjusted = matrix[:, :2] @ to_region[:, :2]
    offset = matrix[:, :2] @ to_region[:, 2] + matrix[:, 2]
    return small, np.hstack([adjusted, offset[:, None]])

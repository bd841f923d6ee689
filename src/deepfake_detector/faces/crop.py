"""Square face crops with a margin, rotated upright by the eyes when landmarks exist."""

from __future__ import annotations

from dataclasses import dataclass

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


def crop_face(image: np.ndarray, detection: FaceDetection, spec: CropSpec) -> np.ndarray:
    """RGB ``uint8`` crop of shape ``(spec.size, spec.size, 3)``; regions outside the frame are
    filled by edge replication, never a failure."""
    raise NotImplementedError

"""The face detector contract and the registry that names detectors.

Adding a detector is one new module with a class implementing ``FaceDetector`` plus one
``register_detector`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class FaceDetection:
    """A face in one frame, in that frame's pixel coordinates (original resolution)."""

    box: tuple[float, float, float, float]
    """``(x1, y1, x2, y2)``."""
    score: float
    landmarks: np.ndarray | None = None
    """``(5, 2)`` float array: left eye, right eye, nose, left mouth corner, right mouth corner
    (left/right as seen in the image), or ``None`` when the detector gives none."""


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB ``uint8`` image ``(H, W, 3)``, boxes in that image's coordinates."""
        ...


_REGISTRY: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str, factory: Callable[..., FaceDetector]) -> None:
    _REGISTRY[name] = factory


def available_detectors() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create_detector(
    name: str = "mtcnn", *, max_side: int = 640, min_score: float = 0.9, min_face_px: int = 24
) -> FaceDetector:
    """Build a registered detector; it downscales frames to ``max_side`` and maps boxes back."""
    raise NotImplementedError


def _load_builtin() -> None:
    raise NotImplementedError

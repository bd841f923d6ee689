"""OpenCV's Viola-Jones Haar cascade for frontal faces, shipped inside opencv-python-headless 4.x.

A fallback and a second implementation of the detector contract: no landmarks (so crops are not
aligned) and no confidence (every detection scores 1.0, so ``min_score`` has no effect). It
missed one face and found one false face on the photos in ENVIRONMENT.md, where MTCNN was exact.
OpenCV 5 dropped the cascades: this needs ``opencv-python-headless<5``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deepfake_detector.errors import DetectorError
from deepfake_detector.faces.detector import FaceDetection, ScaledFaceDetector, register_detector

_CASCADE = "haarcascade_frontalface_default.xml"
_MIN_WINDOW = 24  # the cascade's training window


class HaarDetector(ScaledFaceDetector):
    """Frontal faces by Haar cascade; boxes only."""

    name = "haar"
    native_min_face = float(_MIN_WINDOW)

    def __init__(
        self,
        *,
        max_side: int = 640,
        min_score: float = 0.9,
        min_face_px: int = 24,
        retry_max_side: int | None = None,
        min_neighbors: int = 5,
    ) -> None:
        super().__init__(
            max_side=max_side,
            min_score=min_score,
            min_face_px=min_face_px,
            retry_max_side=retry_max_side,
        )
        data = getattr(cv2, "data", None)
        path = Path(data.haarcascades) / _CASCADE if data is not None else None
        if path is None or not path.is_file():
            raise DetectorError(
                "OpenCV's Haar cascades are missing (opencv-python-headless 5 dropped them)."
            )
        self._cascade = cv2.CascadeClassifier(str(path))
        self.min_neighbors = int(min_neighbors)

    def detect_native(self, image: np.ndarray, min_face: float) -> list[FaceDetection]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        window = max(_MIN_WINDOW, round(min_face))
        rects = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(window, window)
        )
        return [
            FaceDetection((float(x), float(y), float(x + w), float(y + h)), 1.0)
            for x, y, w, h in np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        ]


register_detector("haar", HaarDetector)

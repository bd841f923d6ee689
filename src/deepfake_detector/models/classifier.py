"""The one object the pipeline talks to: a loaded model + backend that scores a clip of face crops.

Loaded once per process (``load_classifier`` caches by resolved model, device, backend and
precision). The backends live in ``runtime.py``; this module holds only the contract.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from deepfake_detector.faces.crop import CropSpec

PROBABILITY_MAX_ECE = 0.10
"""Largest held-out real-world ECE at which a score is still presented as a probability."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str
    """sha256 of the weights file (for a model built in process: of its safetensors bytes)."""
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
    band: tuple[float, float] = (0.5, 0.5)
    """Borderline band ``[low, high)``: scores inside it are ``UNCERTAIN``."""
    ece: float | None = None
    """Calibration error measured on held-out real-world data, ``None`` if never measured."""
    summary: str = ""
    """One line of measured accuracy (from the model card)."""
    temperature: float = 1.0
    """The calibration temperature (``p = sigmoid(logit / temperature)``)."""

    @property
    def score_is_probability(self) -> bool:
        """Whether the score may be worded as a chance: only when calibration was measured on
        held-out real-world data and found good (ECE at most ``PROBABILITY_MAX_ECE``)."""
        return self.calibrated and self.ece is not None and self.ece <= PROBABILITY_MAX_ECE

    def band_of(self, probability: float) -> str:
        """``REAL``, ``UNCERTAIN`` or ``FAKE`` for a calibrated probability."""
        low, high = self.band
        if low <= probability < high:
            return "UNCERTAIN"
        return "FAKE" if probability >= self.threshold else "REAL"

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
            "band": list(self.band),
            "ece": self.ece,
            "score_is_probability": self.score_is_probability,
            "summary": self.summary,
            "temperature": self.temperature,
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


_CACHE: dict[tuple[object, ...], Classifier] = {}
_CACHE_LOCK = threading.Lock()


def load_classifier(
    model: str = "default", device: str = "auto", backend: str = "auto", precision: str = "fp32"
) -> Classifier:
    """Resolve ``model`` (registry name, seed ``.pt``, ``.safetensors`` or model folder) and load it
    once per process. Raises ``ModelError`` with a user-facing message on any failure.

    ``backend``: ``auto`` | ``torch`` | ``onnxruntime`` | ``openvino``; ``auto`` is PyTorch on a
    GPU and otherwise whichever of the three was measured fastest for this model on this CPU
    (measured on the first load on a machine, then remembered: ``models/backend_choice.py``).
    ``precision``: ``fp32`` (default, exact) | ``bf16`` (torch, openvino) | ``fp16`` (torch on
    CUDA). The cache key is (resolved model, device, backend, precision), with ``auto`` resolved
    first, so ``load_classifier()`` and an explicit request for the backend it chose share one
    instance."""
    from deepfake_detector.models.registry import model_key, resolve_model
    from deepfake_detector.models.runtime import create_classifier, resolve_backend, resolve_device

    with _CACHE_LOCK:
        resolved = None
        built = None
        alias = None
        if backend in ("auto", "", None):
            alias = (model_key(model), device, "auto", precision)
            if alias in _CACHE:
                return _CACHE[alias]
            resolved = resolve_model(model)
            backend, built = resolve_backend(resolved, device, "auto", precision)
        if backend == "torch":
            device = str(resolve_device(device))
        elif device in ("auto", "", None):
            device = "cpu"
        key = (model_key(model), device, backend, precision)
        cached = _CACHE.get(key)
        if cached is None:
            cached = built or create_classifier(
                resolved or resolve_model(model), device, backend, precision
            )
            _CACHE[key] = cached
        if alias is not None:
            _CACHE[alias] = cached
        return cached


def clear_classifier_cache() -> None:
    """Forget loaded classifiers (tests; a server reloading its models)."""
    with _CACHE_LOCK:
        _CACHE.clear()

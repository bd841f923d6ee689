"""All tunable settings in one place, read from the environment (``DFD_*``) with sane defaults.

Library callers pass an ``AnalysisSettings`` explicitly; the CLI and the service build one from the
environment with :func:`settings_from_env` and then apply their own flags on top.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

ENV_PREFIX = "DFD_"


@dataclass(frozen=True)
class AnalysisSettings:
    """How one video is analysed. Model-specific preprocessing (crop size, margin, colour order)
    belongs to the model's own config, not here, so training and serving cannot drift apart."""

    frames: int = 32
    """Frames sampled evenly across the whole video (ignored when ``frames_per_second`` is set)."""
    frames_per_second: float | None = None
    """Alternative to ``frames``: sample this many frames per second of video."""
    max_frames: int = 256
    """Upper bound on sampled frames whatever the rate asks for (memory and time stay bounded)."""
    detector: str = "mtcnn"
    """Registered face detector name."""
    detect_max_side: int = 640
    """Frames are downscaled so their longer side is at most this before detection."""
    detect_min_score: float = 0.9
    """Detections below this confidence are dropped."""
    min_face_px: int = 24
    """Faces smaller than this (shorter side, in original frame pixels) are ignored."""
    track_iou: float = 0.3
    """Minimum overlap for a detection to continue a track."""
    min_track_fraction: float = 0.15
    """Tracks seen in fewer than this fraction of sampled frames are dropped as spurious."""
    model: str = "default"
    """Registered model name, or a path (seed ``.pt``, ``.safetensors`` or a model folder)."""
    device: str = "auto"
    """``auto`` | ``cpu`` | ``cuda``."""
    backend: str = "auto"
    """``auto`` | ``torch`` | ``onnxruntime`` | ``openvino``."""
    max_pixels: int = 8192 * 8192
    """Videos whose declared frame area exceeds this are refused before decoding."""


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float) or current is None:
        return float(value) if value.strip() else None
    return value


def settings_from_env(environ: dict[str, str] | None = None) -> AnalysisSettings:
    """Build settings from ``DFD_<FIELD>`` variables, e.g. ``DFD_FRAMES=48``."""
    env = os.environ if environ is None else environ
    base = AnalysisSettings()
    overrides: dict[str, Any] = {}
    for f in fields(AnalysisSettings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            overrides[f.name] = _coerce(raw, getattr(base, f.name))
    return replace(base, **overrides)

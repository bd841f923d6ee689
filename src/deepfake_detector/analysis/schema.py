"""The versioned result of analysing one video or photo: what the CLI prints, the API returns
and the web page renders. ``docs/result-schema.md`` documents every field; bump
``SCHEMA_VERSION`` on any change that is not a pure addition."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "1.4"


class Verdict(StrEnum):
    REAL = "REAL"
    FAKE = "FAKE"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


@dataclass(frozen=True)
class FaceObservation:
    """One person's face in one sampled frame."""

    sample_index: int
    time_s: float
    box: tuple[float, float, float, float]
    """``(x1, y1, x2, y2)`` in displayed (upright) frame pixels."""
    detection_score: float
    score: float
    """The model's fake probability for this crop alone (0..1)."""
    crop: str | None = None
    """Crop image path relative to the evidence folder, when evidence is written."""


@dataclass(frozen=True)
class FaceResult:
    """One track: the same person followed across the sampled frames."""

    track_id: int
    verdict: Verdict
    fake_probability: float
    frames: list[FaceObservation]
    band: str | None = None
    """``REAL`` | ``UNCERTAIN`` | ``FAKE``: the verdict with the model's borderline band."""
    members: dict[str, float | None] = field(default_factory=dict)
    """Each scorer's own probability for this person (``texture``, and ``landmarks`` when the
    model has that member; ``None`` where a member abstained); ``fake_probability`` combines
    them."""


@dataclass(frozen=True)
class SampledFrameInfo:
    sample_index: int
    time_s: float
    faces: int
    image: str | None = None
    """Frame image path relative to the evidence folder, when evidence is written."""


@dataclass
class AnalysisResult:
    path: str
    verdict: Verdict
    fake_probability: float | None = None
    threshold: float | None = None
    reason: str | None = None
    """Why the verdict is INCONCLUSIVE (or a note on it); ``None`` otherwise."""
    faces: list[FaceResult] = field(default_factory=list)
    frames_analyzed: int = 0
    sampled_frames: list[SampledFrameInfo] = field(default_factory=list)
    video: dict[str, Any] | None = None
    """What the file is (probed): the same object as ``media``, kept for schema 1.0-1.3
    readers, photos included."""
    model: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    band: str | None = None
    """``REAL`` | ``UNCERTAIN`` | ``FAKE`` (schema 1.1): ``UNCERTAIN`` when the probability lies
    in the model's borderline band, where it is right too rarely to call; ``None`` without a
    score (INCONCLUSIVE, ERROR). ``verdict`` still says on which side of the threshold it is."""
    settings: dict[str, Any] | None = None
    """(schema 1.3) The analysis settings the result was made with (frames, detector, model as
    asked, device, backend as asked…), so that a result says how to reproduce it."""
    media: dict[str, Any] | None = None
    """(schema 1.4) What the file is: ``kind`` (``"video"`` or ``"image"``), its upright size,
    codec, container, duration (0 for a photo)... A photo is analysed as a one-frame clip."""
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (rounded floats, enums as strings, no NaN)."""
        return _clean(asdict(self))


def _clean(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value

"""Pick frame times spread across the whole video and decode just those frames."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from deepfake_detector.media.probe import VideoInfo


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame: upright (rotation applied), RGB, ``uint8`` of shape ``(H, W, 3)``."""

    sample_index: int
    """Position in the requested sample list (0-based)."""
    time_s: float
    """Presentation time of the decoded frame, in seconds from the start of the stream."""
    image: np.ndarray


def sample_times(
    info: VideoInfo,
    count: int = 32,
    per_second: float | None = None,
    max_frames: int = 256,
) -> list[float]:
    """Evenly spaced target times covering the whole video (never "the first N frames").

    With ``per_second`` the count is ``ceil(duration * per_second)``; either way at most
    ``max_frames`` and at most the number of frames the video has.
    """
    raise NotImplementedError


def iter_sampled_frames(
    path: str, info: VideoInfo, times: list[float]
) -> Iterator[SampledFrame]:
    """Yield the frame shown at each target time, in time order, in bounded memory.

    Chooses per video between decoding straight through and skipping to keyframes, by the
    number of packets each would decode. Raises ``MediaError`` if no frame can be decoded.
    """
    raise NotImplementedError

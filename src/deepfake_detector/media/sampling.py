"""Pick frame times spread across the whole video and decode just those frames."""

from __future__ import annotations

import math
from collections.abc import Iterator

from deepfake_detector.media.decoder import decode_samples
from deepfake_detector.media.frames import SampledFrame
from deepfake_detector.media.probe import VideoInfo

__all__ = ["SampledFrame", "iter_sampled_frames", "sample_spacing", "sample_times"]


def sample_times(
    info: VideoInfo,
    count: int = 32,
    per_second: float | None = None,
    max_frames: int = 256,
) -> list[float]:
    """Evenly spaced target times covering the whole video (never "the first N frames").

    The video is cut into equal segments and the centre of each is taken, so the samples reach
    from near the start to near the end whatever the length.

    With ``per_second`` the count is ``ceil(duration * per_second)``; either way at most
    ``max_frames`` and at most the number of frames the video has, and at least one.
    """
    if count < 1 or max_frames < 1:
        raise ValueError("count and max_frames must be at least 1")
    if per_second is not None and not per_second > 0:
        raise ValueError("per_second must be positive")
    duration = max(0.0, info.duration_s)
    n = math.ceil(duration * per_second) if per_second is not None else count
    available = info.frame_count or max(1, round(duration * info.fps))
    n = max(1, min(n, max_frames, available))
    return [duration * (i + 0.5) / n for i in range(n)]


def iter_sampled_frames(
    path: str,
    info: VideoInfo,
    times: list[float],
    snap: float = 0.0,
    max_decode_pixels: float = 0.0,
    device: str = "cpu",
    **measurement: bool,
) -> Iterator[SampledFrame]:
    """Yield the frame shown at each target time, in time order, in bounded memory.

    "Shown at ``t``" is the last frame whose presentation time is at or before ``t`` (seconds
    from the stream start); a time past the end gives the last frame, one before the start the
    first. Chooses per video between decoding straight through and skipping to keyframes, by the
    number of frames each would decode (see :mod:`deepfake_detector.media.plan`). Samples whose
    frame lies in damaged or missing data are left out. Raises ``MediaError`` if no frame can be
    decoded.

    With ``snap`` (0–0.5) each sample may instead be any frame within that fraction of the
    spacing between samples of its time, the cheapest to decode (a keyframe when one is in
    reach); its ``time_s`` says which frame it is. ``max_decode_pixels``, ``device`` and
    ``measurement`` (the decoder's options for measurements, such as ``drain``): see
    :func:`~deepfake_detector.media.decoder.decode_samples`.
    """
    if not 0.0 <= snap <= 0.5:
        raise ValueError("snap must be between 0 and 0.5")
    return decode_samples(
        path,
        info,
        times,
        tolerance_s=snap * sample_spacing(info, times),
        max_decode_pixels=max_decode_pixels,
        device=device,
        **measurement,
    )


def sample_spacing(info: VideoInfo, times: list[float]) -> float:
    """Seconds between neighbouring samples (the whole duration for a single one)."""
    return max(0.0, info.duration_s) / max(1, len(times))

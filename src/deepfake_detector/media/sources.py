"""One way in for every input kind: a media source says what the file is and yields its sampled
frames. Videos and photos differ only here, in how frames are obtained; faces, crops, scores and
the result are the same code for both (a photo is a one-frame clip).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from deepfake_detector.media.frames import SampledFrame
from deepfake_detector.media.image import load_image, read_image, sniff_image
from deepfake_detector.media.probe import VideoInfo, probe
from deepfake_detector.media.sampling import iter_sampled_frames, sample_times

DEFAULT_MAX_PIXELS = 8192 * 8192


class MediaSource(ABC):
    """A probed input file: ``info`` describes it, ``frames`` decodes the samples."""

    def __init__(self, path: str | Path, info: VideoInfo, max_pixels: int) -> None:
        self.path = Path(path)
        self.info = info
        self.max_pixels = max_pixels

    @property
    def kind(self) -> str:
        return self.info.kind

    @abstractmethod
    def sample_times(
        self, count: int, per_second: float | None = None, max_frames: int = 256
    ) -> list[float]:
        """The times (seconds) to look at."""

    @abstractmethod
    def frames(
        self,
        times: list[float],
        *,
        snap: float = 0.0,
        max_decode_pixels: float = 0.0,
        device: str = "cpu",
    ) -> Iterator[SampledFrame]:
        """The frames shown at ``times``, upright RGB, in time order, in bounded memory;
        ``device`` decodes a video there (``AnalysisSettings.decode_device``)."""


class VideoSource(MediaSource):
    def sample_times(
        self, count: int, per_second: float | None = None, max_frames: int = 256
    ) -> list[float]:
        return sample_times(self.info, count=count, per_second=per_second, max_frames=max_frames)

    def frames(
        self,
        times: list[float],
        *,
        snap: float = 0.0,
        max_decode_pixels: float = 0.0,
        device: str = "cpu",
    ) -> Iterator[SampledFrame]:
        return iter_sampled_frames(
            str(self.path), self.info, times, snap, max_decode_pixels, device
        )


class ImageSource(MediaSource):
    """A photo: one frame at time 0, whatever the settings ask. ``pixels``: the photo already
    decoded by :func:`open_media` (decoded again from the file otherwise)."""

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        max_pixels: int,
        pixels: np.ndarray | None = None,
    ) -> None:
        super().__init__(path, info, max_pixels)
        self._pixels = pixels

    def sample_times(
        self, count: int, per_second: float | None = None, max_frames: int = 256
    ) -> list[float]:
        return [0.0]

    def frames(
        self,
        times: list[float],
        *,
        snap: float = 0.0,
        max_decode_pixels: float = 0.0,
        device: str = "cpu",
    ) -> Iterator[SampledFrame]:
        # At full size: a photo is one picture, and its faces may be small.
        pixels, self._pixels = self._pixels, None  # yielded once: not kept after
        if pixels is None:
            pixels = read_image(self.path, max_pixels=self.max_pixels)
        yield SampledFrame(0, 0.0, pixels)


def probe_media(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """What ``path`` holds, judged by its content: a photo of an accepted format, else a video.
    Raises ``MediaError`` (``FrameSizeError`` for one too large) with a user-facing message."""
    return open_media(path, max_pixels=max_pixels).info


def open_media(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaSource:
    """Probe ``path`` and return its source (see :func:`probe_media`). A photo is decoded here,
    once, to prove it whole; its source keeps the pixels for :meth:`MediaSource.frames`."""
    if sniff_image(path) is not None:
        info, pixels = load_image(path, max_pixels=max_pixels)
        return ImageSource(path, info, max_pixels, pixels)
    return VideoSource(path, probe(str(path), max_pixels=max_pixels), max_pixels)

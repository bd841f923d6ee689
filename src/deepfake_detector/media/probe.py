"""Read what a video file declares (duration, rate, size, rotation, codec) without decoding it all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a video before sampling it.

    ``width``/``height`` are the *displayed* size, i.e. after applying ``rotation``.
    """

    duration_s: float
    fps: float
    """Average frame rate (frames / duration); for variable-rate video, see ``variable_frame_rate``."""
    width: int
    height: int
    rotation: int
    """Clockwise degrees (0, 90, 180, 270) the frames must be turned to display upright."""
    codec: str
    frame_count: int | None
    """Declared frame count when the container states one, else ``None``."""
    variable_frame_rate: bool
    container: str

    def to_dict(self) -> dict[str, object]:
        return {
            "duration_s": round(self.duration_s, 3),
            "fps": round(self.fps, 3),
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "codec": self.codec,
            "frame_count": self.frame_count,
            "variable_frame_rate": self.variable_frame_rate,
            "container": self.container,
        }


def probe(path: str, max_pixels: int = 8192 * 8192) -> VideoInfo:
    """Describe the first video stream of ``path``.

    Raises ``MediaError`` with a user-facing message for anything that is not a decodable video:
    missing file, zero bytes, not a media container, audio only, absurd declared dimensions
    (``width * height > max_pixels``), no decodable frame.
    """
    raise NotImplementedError

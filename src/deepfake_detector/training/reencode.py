"""Re-encoding with PyAV, for training augmentation and for the codec-invariance check.

A detector that reads codec traces instead of faces scores the same clip differently as H.264,
HEVC, VP9 or AV1. Two uses of the same encoders fight that:

- :func:`roundtrip_frames` pushes a training clip's crops through a real encoder and decoder
  in memory (both classes alike), so every source's own codec traces are overwritten at random;
- :func:`transcode_video` writes a whole video in another codec at a given quality, so
  ``deepfake-detector evaluate --codec-check`` can measure how far a clip's score moves.

The encoders are the ones bundled in PyAV's wheels (libx264, libx265, libvpx-vp9, libsvtav1),
so nothing outside the Python environment is needed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class CodecSetting:
    """One encoder at one quality; ``name`` is how reports label it (``hevc-crf28``)."""

    name: str
    codec: str
    container: str
    options: tuple[tuple[str, str], ...]
    pix_fmt: str = "yuv420p"


CODEC_CHECK_SETTINGS: tuple[CodecSetting, ...] = (
    CodecSetting("h264-crf20", "libx264", "mp4", (("crf", "20"), ("preset", "veryfast"))),
    CodecSetting("h264-crf32", "libx264", "mp4", (("crf", "32"), ("preset", "veryfast"))),
    CodecSetting(
        "hevc-crf24",
        "libx265",
        "mp4",
        (("crf", "24"), ("preset", "veryfast"), ("x265-params", "log-level=none")),
    ),
    CodecSetting(
        "hevc-crf34",
        "libx265",
        "mp4",
        (("crf", "34"), ("preset", "veryfast"), ("x265-params", "log-level=none")),
    ),
    CodecSetting(
        "vp9-crf30",
        "libvpx-vp9",
        "webm",
        (("crf", "30"), ("b", "0"), ("deadline", "realtime"), ("cpu-used", "8")),
    ),
    CodecSetting(
        "vp9-crf45",
        "libvpx-vp9",
        "webm",
        (("crf", "45"), ("b", "0"), ("deadline", "realtime"), ("cpu-used", "8")),
    ),
    CodecSetting("av1-crf30", "libsvtav1", "mp4", (("crf", "30"), ("preset", "10"))),
    CodecSetting("av1-crf45", "libsvtav1", "mp4", (("crf", "45"), ("preset", "10"))),
)
"""H.264, HEVC, VP9 and AV1, each at a good and a poor quality."""


def roundtrip_frames(
    frames: Sequence[np.ndarray], crf: int, preset: str = "veryfast"
) -> list[np.ndarray]:
    """RGB uint8 frames (same even-or-odd size) → the same frames after H.264 at ``crf``.

    Odd sizes are padded by one pixel for 4:2:0 and cropped back, so any crop size works."""
    h, w = frames[0].shape[:2]
    ph, pw = h + (h % 2), w + (w % 2)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": preset, "tune": "zerolatency"}
        for frame in frames:
            padded = np.pad(frame, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buffer.seek(0)
    decoded: list[np.ndarray] = []
    with av.open(buffer, "r", format="matroska") as src:
        for frame in src.decode(video=0):
            decoded.append(np.ascontiguousarray(frame.to_ndarray(format="rgb24")[:h, :w]))
    if len(decoded) != len(frames):
        raise RuntimeError(f"H.264 round trip returned {len(decoded)} of {len(frames)} frames")
    return decoded


def transcode_video(
    source: str | Path, target: str | Path, setting: CodecSetting, max_seconds: float = 10.0
) -> Path:
    """Re-encode the first ``max_seconds`` of a video's first video stream with ``setting``
    (no audio), keeping its size and frame times; the file is written to a temporary name and
    moved into place, so a failed encode never leaves half a file."""
    target = Path(target)
    tmp = target.with_name(target.name + ".part")
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only, not its banner per encode
    with av.open(str(source)) as src:
        in_stream = src.streams.video[0]
        rate = in_stream.average_rate or Fraction(25)
        with av.open(str(tmp), "w", format=setting.container) as out:
            stream = out.add_stream(setting.codec, rate=rate)
            stream.width = in_stream.codec_context.width - in_stream.codec_context.width % 2
            stream.height = in_stream.codec_context.height - in_stream.codec_context.height % 2
            stream.pix_fmt = setting.pix_fmt
            stream.options = dict(setting.options)
            for frame in src.decode(in_stream):
                if frame.time is not None and frame.time > max_seconds:
                    break
                image = frame.to_ndarray(format="rgb24")[: stream.height, : stream.width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    tmp.replace(target)
    return target

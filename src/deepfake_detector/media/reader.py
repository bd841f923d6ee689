"""Open a file as a video with PyAV and pick its picture stream.

Every FFmpeg failure is turned into a :class:`MediaError` whose message a user can act on; the
original exception stays chained for logs, but no path or traceback is put in the message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np
from av.codec.hwaccel import HWAccel
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from deepfake_detector.errors import MediaError
from deepfake_detector.media import cuda_context

log = logging.getLogger(__name__)

FORMATS_HINT = (
    "Use a video such as MP4, MOV, MKV, WebM or AVI, or a photo in JPEG, PNG, WebP or HEIC."
)

# FFmpeg opens a plain text file as ANSI art (the "tty" demuxer): that is never a video to analyse.
_TEXT_FORMATS = frozenset({"tty"})
# A stream flagged like this is cover art or a still, not footage.
_NOT_FOOTAGE = Disposition.attached_pic | Disposition.still_image


def check_file(path: str | Path) -> Path:
    """Fail early, with a plain message, on paths FFmpeg would reject with a cryptic one."""
    p = Path(path)
    try:
        # Path.exists() raises for some errors, e.g. a name longer than the file system allows.
        if not p.exists():
            raise MediaError("The file does not exist.")
        if p.is_dir():
            raise MediaError("Expected a video file but got a folder.")
        size = p.stat().st_size
    except OSError as exc:
        reason = f" ({exc.strerror.lower()})" if exc.strerror else ""
        raise MediaError(f"The video file cannot be read{reason}.") from exc
    if size == 0:
        raise MediaError("The video file is empty (0 bytes).")
    if not os.access(p, os.R_OK):
        raise MediaError("The video file cannot be read (permission denied).")
    return p


def _looks_like_mp4(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[4:8] in {b"ftyp", b"mdat", b"moov", b"wide", b"free"}


def _unreadable(path: Path) -> MediaError:
    if _looks_like_mp4(path):
        # The MP4/MOV index ("moov" box) usually sits at the end: cut files lose it first.
        return MediaError(
            "The MP4/MOV file is incomplete or damaged: its index is missing, which usually "
            "means the upload or the recording was cut short. Please provide the complete file."
        )
    return MediaError(f"The file is not a video that can be read, or it is damaged. {FORMATS_HINT}")


@contextmanager
def open_video(
    path: str | Path, device: str = "cpu"
) -> Iterator[tuple[InputContainer, VideoStream]]:
    """Open ``path`` and yield the container and its first real video stream; always closes.

    ``device``: ``cpu``, or ``cuda`` / ``cuda:N`` to decode with NVDEC (frames stay on the GPU
    until :func:`to_upright_rgb` copies one, with the CPU's pixels). Where the CUDA device cannot
    be opened the file is opened for the CPU instead, and the device is not tried again in this
    process (one warning in the log).
    """
    p = check_file(path)
    hwaccel = _hwaccel(device)
    try:
        if hwaccel is not None:
            cuda_context.make_primary_current(_cuda_index(device))
        container = _open(p, hwaccel)
    except (av.FFmpegError, OSError, ValueError, UnicodeError) as exc:
        if hwaccel is None:
            raise _unreadable(p) from exc
        try:  # the device or the file: opening it for the CPU tells which
            container = _open(p, None)
        except (av.FFmpegError, OSError, ValueError, UnicodeError) as cpu_exc:
            raise _unreadable(p) from cpu_exc
        _cuda_unusable.add(device)
        log.warning("Decoding on the CPU: FFmpeg could not open CUDA device %s (%s)", device, exc)
    try:
        stream = video_stream(container)
        yield container, stream
    finally:
        container.close()


_cuda_unusable: set[str] = set()
"""CUDA devices that could not be opened for decoding in this process: not tried again."""


def decoding_on(device: str) -> str:
    """Where this process decodes when ``device`` is asked for: ``device`` itself, or ``cpu``
    once that CUDA device has failed to open here."""
    return "cpu" if device in _cuda_unusable else device


def _hwaccel(device: str) -> HWAccel | None:
    """FFmpeg's CUDA decoding on ``device`` (``cuda`` or ``cuda:N``); None for the CPU."""
    if device == "cpu" or device in _cuda_unusable:
        return None
    # Codecs NVDEC cannot decode (ProRes, some profiles) go to FFmpeg's software decoder.
    # Frames stay on the GPU until one is converted to RGB (to_upright_rgb): most decoded frames
    # only lead up to a sample and never cross to system memory. FFmpeg decodes in the context
    # current in this thread, the device's primary context (open_video makes it current; why:
    # media/cuda_context.py).
    return HWAccel(
        "cuda",
        device=str(_cuda_index(device)),
        allow_software_fallback=True,
        is_hw_owned=True,
        options={"primary_ctx": "0", "current_ctx": "1"},
    )


def _cuda_index(device: str) -> int:
    """The GPU number in ``cuda`` (0) or ``cuda:N`` (validated by ``AnalysisSettings``)."""
    return int(device.partition(":")[2] or 0)


def _open(path: Path, hwaccel: HWAccel | None) -> InputContainer:
    return av.open(str(path), mode="r", metadata_errors="replace", hwaccel=hwaccel)


def video_stream(container: InputContainer) -> VideoStream:
    """The stream to analyse: the first video stream that is footage (not cover art)."""
    fmt = container.format.name
    if fmt == "image2" or fmt.endswith("_pipe"):
        # A picture in a format the photo reader does not take (JPEG 2000, TGA, PPM...).
        raise MediaError(f"This is a still image in a format not read here. {FORMATS_HINT}")
    if fmt in _TEXT_FORMATS:
        raise MediaError(f"This is a text file, not a video. {FORMATS_HINT}")
    for stream in container.streams.video:
        if not (stream.disposition & _NOT_FOOTAGE):
            return stream
    if container.streams.audio:
        raise MediaError("The file contains only audio: there is no video track to analyse.")
    raise MediaError(f"The file has no video track. {FORMATS_HINT}")


def rotation_cw(frame: VideoFrame) -> int:
    """Clockwise degrees (0/90/180/270) to turn ``frame`` so it displays upright.

    FFmpeg's display matrix (``VideoFrame.rotation``) states how far the *display* turns the picture
    counter-clockwise; turning the stored picture that much counter-clockwise is the same as
    turning it ``-rotation`` clockwise. Angles between quarter turns round to the nearest one.
    """
    ccw = frame.rotation or 0
    return (-round(ccw / 90) * 90) % 360


_CV2_ROTATE = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def to_upright_rgb(frame: VideoFrame, rotation: int) -> np.ndarray:
    """RGB ``uint8`` ``(H, W, 3)`` array of ``frame``, turned ``rotation`` degrees clockwise.
    A frame still on the GPU (NVDEC, ``DFD_DECODE_DEVICE``) is copied to system memory here."""
    stored = frame.sw_format or frame.format  # sw_format: the pixels of a frame on the GPU
    if stored.name == "nv12":
        # What NVDEC hands back for 8-bit video. swscale converts NV12 to RGB with other chroma
        # handling than YUV420P (many levels apart at colour edges); splitting the planes first
        # is exact, so a frame decoded on the GPU gives the CPU's RGB. (P010, for 10-bit
        # video, already converts as its planar form.)
        frame = frame.reformat(format="yuv420p")
    image = frame.to_ndarray(format="rgb24")
    if rotation in _CV2_ROTATE:
        image = cv2.rotate(image, _CV2_ROTATE[rotation])
    return np.ascontiguousarray(image)

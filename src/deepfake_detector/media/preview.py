"""A copy of a video that every browser plays: H.264 + AAC in an MP4 with its index first.

Many uploads use formats that browsers do not play (MPEG-4 Part 2 from cameras, MPEG-2, HEVC,
ProRes, Motion JPEG, WMV; AVI or Matroska files). :func:`needs_preview` decides from the probed
container and codecs; :func:`make_preview` writes the copy.

The copy keeps the source's timing: each frame is shown at the same time, counted from the
video stream's first frame, as in the analysis's result (``time_s``), so the face boxes the page
draws from the result stay on the faces. It is upright (the pixels turned, no rotation flag,
like the result's boxes), with square pixels, at most ``max_side`` pixels on its longer side.
It is written to a temporary file in the target's folder and renamed when complete, so a
half-written copy is never seen under the target's name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from deepfake_detector.errors import MediaError
from deepfake_detector.media.probe import VideoInfo, probe
from deepfake_detector.media.reader import open_video

log = logging.getLogger(__name__)

BROWSER_VIDEO = frozenset({"h264", "vp8", "vp9", "av1"})
"""Video codecs every current browser plays (HEVC is left out: Debian's Chromium, Firefox on
Linux and many others lack it)."""
BROWSER_AUDIO = frozenset({"aac", "opus", "vorbis", "mp3"})
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
"""FFmpeg's name for MP4 and QuickTime (one demuxer; uploads of either are served as MP4)."""
BROWSER_CONTAINERS = frozenset({MP4, "mp4", "mov", "webm", "ogg"})
MATROSKA = "matroska,webm"
"""FFmpeg's name for Matroska and WebM (one demuxer): a WebM only with WebM's codecs."""
WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
WEBM_AUDIO = frozenset({"opus", "vorbis"})
H264_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})
"""Browsers decode 8-bit 4:2:0 H.264 only (not High 10 or 4:4:4)."""

# Decoder names that are not the codec's name (PyAV reports the decoder it opened).
_ALIASES = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx-vp9": "vp9", "libvpx": "vp8"}
_HW_SUFFIXES = ("_cuvid", "_qsv", "_v4l2m2m", "_mediacodec", "_vaapi")

CODEC_NAMES = {
    "h264": "H.264",
    "hevc": "HEVC/H.265",
    "mpeg4": "MPEG-4 Part 2",
    "msmpeg4v1": "Microsoft MPEG-4 v1",
    "msmpeg4v2": "Microsoft MPEG-4 v2",
    "msmpeg4v3": "Microsoft MPEG-4 v3",
    "mpeg1video": "MPEG-1",
    "mpeg2video": "MPEG-2",
    "h263": "H.263",
    "flv1": "Sorenson Spark (FLV)",
    "prores": "Apple ProRes",
    "mjpeg": "Motion JPEG",
    "wmv1": "Windows Media Video 7",
    "wmv2": "Windows Media Video 8",
    "wmv3": "Windows Media Video 9",
    "vc1": "VC-1",
    "dvvideo": "DV",
    "theora": "Theora",
    "rawvideo": "uncompressed video",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
}
CONTAINER_NAMES = {
    MP4: "MP4/QuickTime",
    "mp4": "MP4",
    "mov": "QuickTime",
    MATROSKA: "Matroska/WebM",
    "matroska": "Matroska",
    "webm": "WebM",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS",
    "flv": "FLV",
    "asf": "ASF (WMV)",
    "ogg": "Ogg",
}

AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
_TIME_BASE = Fraction(1, 90000)
"""The copy's video time base: every common frame rate's interval is a whole number of ticks."""
_MAX_BAD_PACKETS = 100
_MOOV_BYTES_PER_FRAME = 24
"""Roughly what the MP4 index costs per frame (counted against ``max_bytes``)."""

CutReason = Literal["size", "duration", "time"]


def canonical_codec(name: str | None) -> str:
    """The codec's own name for a decoder's name (``libdav1d`` → ``av1``)."""
    name = (name or "").lower()
    for suffix in _HW_SUFFIXES:
        name = name.removesuffix(suffix)
    return _ALIASES.get(name, name)


@dataclass(frozen=True)
class PlaybackFormat:
    """What a browser needs to know to play a file: container, codecs, pixel format."""

    container: str
    video_codec: str
    audio_codec: str | None = None
    """``None``: no audio track, or not known (a :class:`VideoInfo` does not say)."""
    pixel_format: str | None = None

    @classmethod
    def from_info(cls, info: VideoInfo) -> PlaybackFormat:
        return cls(info.container, canonical_codec(info.codec))

    def describe(self) -> str:
        """For people, e.g. ``MPEG-4 Part 2 video (mpeg4) in AVI``."""
        codec = canonical_codec(self.video_codec)
        name = CODEC_NAMES.get(codec, codec or "unknown")
        video = f"{name} video" + (f" ({codec})" if name.lower() != codec.lower() else "")
        audio = ""
        if self.audio_codec is not None:
            sound = canonical_codec(self.audio_codec)
            audio = ", PCM audio" if sound.startswith("pcm_") else f", {sound} audio"
        container = CONTAINER_NAMES.get(self.container, self.container or "an unknown container")
        return f"{video}{audio} in {container}"

    def problem(self) -> str | None:
        """Why browsers cannot play it, or ``None`` when they can."""
        video = canonical_codec(self.video_codec)
        audio = canonical_codec(self.audio_codec) if self.audio_codec is not None else None
        if video not in BROWSER_VIDEO:
            return f"browsers do not play {CODEC_NAMES.get(video, video)} video"
        if self.container == MATROSKA:
            if video not in WEBM_VIDEO or (audio is not None and audio not in WEBM_AUDIO):
                return "browsers play Matroska files only as WebM (VP8, VP9 or AV1; Opus, Vorbis)"
        elif self.container not in BROWSER_CONTAINERS:
            name = CONTAINER_NAMES.get(self.container, self.container)
            return f"browsers do not play {name} files"
        if video == "h264" and self.pixel_format and self.pixel_format not in H264_PIXEL_FORMATS:
            return f"browsers play 8-bit 4:2:0 H.264 only, not {self.pixel_format}"
        if audio is not None and audio not in BROWSER_AUDIO:
            return f"browsers do not play its {audio} audio"
        return None


def playback_format(path: str | os.PathLike[str]) -> PlaybackFormat:
    """Read a file's container and codecs (no decoding). Raises ``MediaError`` for anything that
    is not a video."""
    with open_video(path) as (container, stream):
        audio = next(iter(container.streams.audio), None)
        context = stream.codec_context
        return PlaybackFormat(
            container=container.format.name,
            video_codec=_codec_name(stream),
            audio_codec=_codec_name(audio) if audio is not None else None,
            pixel_format=(context.pix_fmt if context is not None else None) or None,
        )


def _codec_name(stream: VideoStream | AudioStream) -> str:
    context = stream.codec_context
    if context is None:  # no decoder for it in this FFmpeg
        return "unknown"
    return canonical_codec(context.codec.canonical_name or context.name)


def needs_preview(info: PlaybackFormat | VideoInfo) -> bool:
    """Whether browsers cannot play the file as it is, so that a playable copy is needed.

    A :class:`VideoInfo` (from :func:`~deepfake_detector.media.probe`) tells the container and
    the video codec only; a :class:`PlaybackFormat` (:func:`playback_format`) adds the audio
    codec and pixel format."""
    if isinstance(info, VideoInfo):
        if getattr(info, "kind", "video") != "video":  # a photo: shown as an image
            return False
        info = PlaybackFormat.from_info(info)
    return info.problem() is not None


@dataclass(frozen=True)
class PreviewLimits:
    """The bounds of the copies a service makes (see :func:`make_preview`)."""

    max_side: int = 720
    max_bytes: int = 100_000_000
    max_duration_s: float | None = None
    budget_s: float | None = 300.0


@dataclass(frozen=True)
class Preview:
    """A playable copy that was written."""

    path: Path
    width: int
    height: int
    frames: int
    covers_s: float
    """Seconds of the source the copy shows, from its first frame."""
    source_duration_s: float
    audio: bool
    cut: CutReason | None
    """Why the copy stops before the source's end: ``size`` (``max_bytes``), ``duration``
    (``max_duration_s``), ``time`` (``budget_s``); ``None`` when it is whole."""
    seconds: float
    """Time it took to make."""
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "covers_s": round(self.covers_s, 3),
            "source_duration_s": round(self.source_duration_s, 3),
            "audio": self.audio,
            "cut": self.cut,
            "seconds": round(self.seconds, 3),
            "size_bytes": self.size_bytes,
        }


def preview_size(
    width: int, height: int, max_side: int, pixel_aspect: float = 1.0
) -> tuple[int, int]:
    """The copy's size for an upright frame of ``width`` × ``height`` stored pixels of
    ``pixel_aspect`` (width/height of one pixel): square pixels, the same picture shape, even
    sides, the longer one at most ``max_side`` (never enlarged)."""
    if width < 1 or height < 1 or max_side < 2:
        raise ValueError(f"bad size {width}x{height} (max side {max_side})")
    shown_w = width * (pixel_aspect if pixel_aspect > 0 else 1.0)
    scale = min(1.0, max_side / max(shown_w, height))

    def even(side: float) -> int:
        n = max(2, 2 * round(side / 2))
        return n if n <= max_side else n - 2

    return even(shown_w * scale), even(height * scale)


def h264_encoder() -> str:
    """The H.264 encoder this PyAV build has (``libx264`` in the wheels)."""
    for name in ("libx264", "libopenh264"):
        if name in av.codecs_available:
            return name
    raise MediaError("This installation's FFmpeg has no H.264 encoder to make a playable copy.")


def make_preview(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    max_side: int = 720,
    max_bytes: int = 100_000_000,
    max_duration_s: float | None = None,
    budget_s: float | None = None,
    crf: int = 26,
    max_bitrate: int = 2_000_000,
    info: VideoInfo | None = None,
) -> Preview:
    """Write an H.264 + AAC MP4 copy of ``src`` to ``dst`` (moov box first, so browsers start
    playing before it is all downloaded), keeping each frame's time.

    Bounds: the longer side at most ``max_side`` pixels; quality ``crf`` with at most
    ``max_bitrate`` bits per second; the copy stops (``Preview.cut`` says why) before ``max_bytes``
    bytes, after ``max_duration_s`` seconds of video, or once making it has taken ``budget_s``
    seconds. ``info``: the probed source (probed here when not given).

    Raises ``MediaError`` when the source cannot be read or nothing of it decoded; ``dst`` is
    then untouched and no temporary file is left.
    """
    if max_side < 16:
        raise ValueError("max_side must be at least 16")
    started = time.monotonic()
    src, dst = Path(src), Path(dst)
    if info is None:
        info = probe(str(src))
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}-", suffix=".part", dir=dst.parent)
    os.close(fd)
    partial = Path(name)
    try:
        with open_video(src) as (source, stream):
            job = _Transcode(
                source,
                stream,
                info,
                partial,
                max_side=max_side,
                crf=crf,
                max_bitrate=max_bitrate,
                max_bytes=max_bytes,
                max_duration_s=max_duration_s,
                budget_s=budget_s,
                started=started,
            )
            try:
                job.run()
            except av.FFmpegError as exc:  # its text may name the file: not repeated
                reason = exc.strerror or type(exc).__name__
                raise MediaError(f"The playable copy could not be made ({reason}).") from exc
        os.replace(partial, dst)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    made = Preview(
        path=dst,
        width=job.width,
        height=job.height,
        frames=job.frames,
        covers_s=job.covers_s,
        source_duration_s=info.duration_s,
        audio=job.audio_frames > 0,
        cut=job.cut,
        seconds=time.monotonic() - started,
        size_bytes=dst.stat().st_size,
    )
    log.info(
        "playable copy %dx%d, %d frames, %.1f s%s in %.1f s",
        made.width, made.height, made.frames, made.covers_s,
        f" (cut: {made.cut})" if made.cut else "", made.seconds,
    )  # fmt: skip
    return made


class _Transcode:
    """One pass over the source's packets: video and audio decoded, re-timed from the video
    stream's start, encoded and muxed as they come (memory stays flat)."""

    def __init__(
        self,
        source: InputContainer,
        stream: VideoStream,
        info: VideoInfo,
        target: Path,
        *,
        max_side: int,
        crf: int,
        max_bitrate: int,
        max_bytes: int,
        max_duration_s: float | None,
        budget_s: float | None,
        started: float,
    ) -> None:
        self.source = source
        self.stream = stream
        self.info = info
        self.target = target
        self.max_bytes = max_bytes
        self.max_duration_s = max_duration_s
        self.deadline = started + budget_s if budget_s else None
        self.audio_in = next((a for a in source.streams.audio if a.codec_context is not None), None)
        self.tb = stream.time_base or Fraction(1, 90000)
        # Times count from the stream's start as the analysis counts them (media.decoder), so
        # the copy's frame at t is the result's frame at time_s == t.
        self.start: int = stream.start_time if stream.start_time is not None else 0
        self.fps = info.fps if info.fps > 0 else 25.0
        self.rotation = info.rotation
        context = stream.codec_context
        sar = context.sample_aspect_ratio if context is not None else None
        aspect = float(sar) if sar else 1.0
        if self.rotation in (90, 270):  # the stored width is shown as the height
            aspect = 1.0 / aspect
        self.width, self.height = preview_size(info.width, info.height, max_side, aspect)
        if self.rotation in (90, 270):  # scaled before turning: the stored frame's shape
            self.scaled = (self.height, self.width)
        else:
            self.scaled = (self.width, self.height)
        self.crf = crf
        self.max_bitrate = max_bitrate
        self.frames = 0
        self.audio_frames = 0
        self.covers_s = 0.0
        self.cut: CutReason | None = None
        self.cut_at: float | None = None
        self.written = 0
        self.video_packets = 0
        self._last_out: int | None = None
        self._last_pts: int | None = None
        self._counted = 0
        self._audio_next: int | None = None

    def run(self) -> None:
        options = {"movflags": "+faststart"}
        with av.open(str(self.target), "w", format="mp4", options=options) as out:
            video_out = self._video_stream(out)
            audio_out = self._audio_stream(out) if self.audio_in is not None else None
            for frame in self._decoded():
                if isinstance(frame, VideoFrame):
                    self._video(out, video_out, frame)
                elif audio_out is not None and isinstance(frame, AudioFrame):
                    self._audio(out, audio_out, frame)
                if self.cut is not None and self.cut_at is None:
                    self.cut_at = self.covers_s
                if self.cut_at is not None and self._audio_done():
                    break
            if not self.frames:
                raise MediaError(
                    "No picture in the video could be decoded: no playable copy was made."
                )
            self._mux(out, video_out.encode(None))
            if audio_out is not None and self.audio_frames:
                self._mux(out, audio_out.encode(None))

    def _video_stream(self, out: OutputContainer) -> Any:
        encoder = h264_encoder()
        rate = Fraction(self.fps).limit_denominator(1001)
        options = {"g": str(max(1, round(2 * self.fps)))}  # a keyframe every 2 s: quick seeking
        if encoder == "libx264":
            options |= {
                "preset": "veryfast",
                "crf": str(self.crf),
                "maxrate": str(self.max_bitrate),
                "bufsize": str(2 * self.max_bitrate),
                "profile": "high",
            }
        else:
            options |= {"b": str(self.max_bitrate)}
        video = out.add_stream(encoder, rate=rate, options=options)
        video.width, video.height = self.width, self.height
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = _TIME_BASE
        video.time_base = _TIME_BASE
        return video

    def _audio_stream(self, out: OutputContainer) -> Any:
        assert self.audio_in is not None
        context = self.audio_in.codec_context
        rate = context.sample_rate if context.sample_rate in AAC_RATES else 48000
        audio = out.add_stream("aac", rate=rate)
        mono = context.channels == 1 if context.channels else False
        audio.layout = "mono" if mono else "stereo"
        audio.bit_rate = 96_000 if mono else 128_000
        return audio

    def _decoded(self) -> Iterator[VideoFrame | AudioFrame]:
        """Frames of the video and audio streams in file order; damaged packets are skipped
        (up to a point), a read error ends the data."""
        streams = [self.stream] + ([self.audio_in] if self.audio_in is not None else [])
        self.stream.thread_type = "AUTO"
        bad = 0
        packets = self.source.demux(*streams)
        while True:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.cut = self.cut or "time"  # also when packets decode to nothing for long
                break
            try:
                packet: Packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                log.info("reading stopped early: %s", exc)
                break
            try:
                frames = packet.decode()
            except av.FFmpegError:
                if packet.stream is self.stream:
                    bad += 1
                    if bad >= _MAX_BAD_PACKETS:
                        break
                continue
            if packet.stream is self.stream:
                bad = 0
            yield from frames  # type: ignore[misc]
        for stream in streams:  # flush what the decoders hold
            with contextlib.suppress(av.FFmpegError):
                yield from stream.codec_context.decode(None)  # type: ignore[misc]

    def _seconds(self, frame: VideoFrame) -> float:
        """When the frame is shown, from the stream's first frame (as the analysis counts)."""
        if self.info.synthetic_timing:  # unusable timestamps: frame k at k / fps
            t = self._counted / self.fps
            self._counted += 1
            return t
        pts = frame.pts
        if pts is None:  # no timestamps (raw H.264): display order at the nominal rate
            tick = max(1, round(1 / (self.fps * self.tb)))
            pts = (self._last_pts + tick) if self._last_pts is not None else self.start
        self._last_pts = pts
        return float((pts - self.start) * self.tb)

    def _video(self, out: OutputContainer, video_out: Any, frame: VideoFrame) -> None:
        if self.cut is not None:
            return
        t = self._seconds(frame)
        if self.max_duration_s is not None and t >= self.max_duration_s:
            self.cut = "duration"
            return
        ticks = round(t / _TIME_BASE)
        if ticks < 0 or (self._last_out is not None and ticks <= self._last_out):
            return  # before the first frame, or a repeated timestamp: not shown
        picture = self._upright(frame)
        picture.pts = ticks
        picture.time_base = _TIME_BASE
        self._mux(out, video_out.encode(picture))
        self._last_out = ticks
        self.frames += 1
        self.covers_s = min(
            max(self.info.duration_s, t), t + 1 / self.fps
        )  # to the end of this frame
        if self.written + self._still_to_come() > self.max_bytes:
            self.cut = "size"
        elif self.deadline is not None and time.monotonic() > self.deadline:
            self.cut = "time"

    def _upright(self, frame: VideoFrame) -> VideoFrame:
        w, h = self.scaled
        if not self.rotation:
            return frame.reformat(w, h, "yuv420p", interpolation="AREA")
        image = frame.reformat(w, h, "rgb24", interpolation="AREA").to_ndarray()
        turn = {
            90: cv2.ROTATE_90_CLOCKWISE,
            180: cv2.ROTATE_180,
            270: cv2.ROTATE_90_COUNTERCLOCKWISE,
        }
        image = np.ascontiguousarray(cv2.rotate(image, turn[self.rotation]))
        return VideoFrame.from_ndarray(image, format="rgb24")

    def _audio(self, out: OutputContainer, audio_out: Any, frame: AudioFrame) -> None:
        assert self.audio_in is not None
        rate = frame.sample_rate or self.audio_in.codec_context.sample_rate
        if not rate:
            return
        if frame.pts is not None and frame.time_base is not None:
            t = float(frame.pts * frame.time_base - self.start * self.tb)
        elif self._audio_next is not None:
            t = self._audio_next / rate
        else:
            t = 0.0
        if t < 0:
            return  # before the video's first frame (the copy starts there)
        limit = self.cut_at if self.cut_at is not None else self.max_duration_s
        if limit is not None and t >= limit:
            return
        start = round(t * rate)
        if self._audio_next is not None and start < self._audio_next:
            start = self._audio_next  # overlapping timestamps: keep the samples in order
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        self._audio_next = start + frame.samples
        self._mux(out, audio_out.encode(frame))
        self.audio_frames += 1

    def _audio_done(self) -> bool:
        """After a cut: whether the audio has reached the cut (or there is none to wait for)."""
        if self.audio_in is None or self._audio_next is None or self.cut_at is None:
            return True
        rate = self.audio_in.codec_context.sample_rate or 48000
        return self._audio_next / rate >= self.cut_at

    def _still_to_come(self) -> int:
        """Bytes the file may still grow by if the copy stopped now: the frames the encoder
        holds (its look-ahead), which its rate control keeps within the buffer plus the rate
        for their time, and the index."""
        held = max(0, self.frames - self.video_packets)
        bits = 2 * self.max_bitrate + held / self.fps * self.max_bitrate
        return round(bits / 8) + _MOOV_BYTES_PER_FRAME * self.frames + 4096

    def _mux(self, out: OutputContainer, packets: list[Packet]) -> None:
        for packet in packets:
            self.written += packet.size
            if packet.stream.type == "video":
                self.video_packets += 1
        out.mux(packets)

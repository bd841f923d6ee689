"""Read what a video declares (duration, rate, size, rotation, codec) without decoding it all."""

from __future__ import annotations

import contextlib
import itertools
import logging
import statistics
from dataclasses import dataclass
from typing import Literal

import av
from av.container import InputContainer
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from deepfake_detector.errors import MediaError
from deepfake_detector.media.reader import open_video, rotation_cw
from deepfake_detector.media.timeline import PacketScan, scan_packets

log = logging.getLogger(__name__)

DurationSource = Literal["stream", "packets", "container", "frame_count"]

# Give up looking for a first picture after this many packets (a real stream shows one far sooner).
_FIRST_FRAME_MAX_PACKETS = 600
# Frame intervals that differ from the typical one by more than this fraction mean variable rate.
_VFR_TOLERANCE = 0.1
_FALLBACK_FPS = 25.0
# Frame timestamps read from an index to judge the rate (a minute at 60 fps is 3,600).
_MAX_STAMPS = 20_000
# Frame rates believed when timestamps are unusable and a rate must be taken from declarations.
_PLAUSIBLE_FPS = (1.0, 1000.0)


class FrameSizeError(MediaError):
    """The frames are larger than accepted (``width * height > max_pixels``), as declared by the
    container or codec (refused before decoding) or as the first frame decodes."""

    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(
            f"The video's frames are {width}x{height} pixels, more than the {max_pixels:,} "
            "pixels per frame accepted. Please provide a smaller video."
        )
        self.width = width
        self.height = height
        self.max_pixels = max_pixels


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a video before sampling it.

    ``width``/``height`` are the *displayed* size, i.e. after applying ``rotation``.
    """

    duration_s: float
    """Seconds from the first frame to the end of the last: the video stream's own duration, or
    the span of its frames when that is longer or nothing declares one."""
    fps: float
    """Average frame rate (frames / duration); see also ``variable_frame_rate``."""
    width: int
    height: int
    rotation: int
    """Clockwise degrees (0, 90, 180, 270) the *stored* frames must be turned to display upright.

    This is the convention of the classic ``rotate`` tag (a phone's portrait clip says 90).
    FFmpeg's display matrix, and ``av.VideoFrame.rotation``, state the same turn as a
    counter-clockwise angle: ``rotation == (-frame.rotation) % 360``. Frames that
    :func:`~deepfake_detector.media.iter_sampled_frames` yields are already turned.
    """
    codec: str
    frame_count: int | None
    """Frame count the container declares (MP4/MOV, AVI), else the number of frame packets when
    probing had to read them (Matroska, MPEG-TS...), else ``None``."""
    variable_frame_rate: bool
    container: str
    """FFmpeg's demuxer name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"`` or ``"matroska,webm"``."""
    duration_source: DurationSource = "stream"
    """Where ``duration_s`` comes from: ``"stream"``, the video stream's declared duration;
    ``"packets"``, the span of its frames' timestamps (from the index or one pass over all the
    packets); ``"container"``, the file's declared duration (from the stream's first frame), used
    when the pass over the packets stopped at its limit before the end and the stream declares no
    duration, as the span seen would be too short; ``"frame_count"``, frames over the nominal
    rate, when no timestamp or declaration tells (raw H.264, or timestamps that are unusable)."""
    synthetic_timing: bool = False
    """The frames' own timestamps are unusable (all or most of them equal, which a broken muxer
    writes): frame ``k`` is taken to be shown at ``k / fps``, and the sampler finds frames by
    counting them from the start instead of by their timestamps."""
    kind: Literal["video", "image"] = "video"
    """``"image"`` for a photo (:mod:`deepfake_detector.media.image`): one frame at time 0,
    ``duration_s`` and ``fps`` 0, ``container`` Pillow's format name (``"JPEG"``...)."""

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
            "duration_source": self.duration_source,
            "synthetic_timing": self.synthetic_timing,
            "kind": self.kind,
        }


def probe(path: str, max_pixels: int = 8192 * 8192) -> VideoInfo:
    """Describe the first video stream of ``path``.

    Decodes the first frame only: it proves the stream is decodable and carries the rotation.
    Frame timing comes from the container's index, or, for containers that index keyframes only
    or nothing (Matroska, MPEG-TS...), from one pass over the packets without decoding them.

    Raises ``MediaError`` with a user-facing message for anything that is not a decodable video:
    missing file, zero bytes, not a media container, audio only, no decodable frame; its subclass
    ``FrameSizeError`` for absurd dimensions (``width * height > max_pixels``), checked on the
    declared size before anything is decoded and again on the first frame.
    """
    with open_video(path) as (container, stream):
        if stream.codec_context is None:
            raise MediaError("The video uses a codec that cannot be decoded here.")
        _check_size(stream.codec_context.width, stream.codec_context.height, max_pixels)
        declared = stream.frames if stream.frames and stream.frames > 0 else None
        scan: PacketScan | None = None
        if declared and len(stream.index_entries) >= 0.9 * declared:
            first = _first_frame(container, stream)  # the index has the timing
        else:
            first, scan = _first_frame_and_scan(container, stream)
        _check_size(first.width, first.height, max_pixels)
        rotation = rotation_cw(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        timing = _timing(container, stream, declared, scan)
        return VideoInfo(
            duration_s=timing.duration_s,
            fps=timing.fps,
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
            frame_count=timing.frame_count,
            variable_frame_rate=timing.variable,
            container=container.format.name,
            duration_source=timing.source,
            synthetic_timing=timing.synthetic,
        )


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width > 0 and height > 0 and width * height > max_pixels:
        raise FrameSizeError(width, height, max_pixels)


_UNDECODABLE = (
    "No picture in the video could be decoded: the file is damaged, truncated or uses an "
    "unsupported codec."
)


def _decode_one(packet: Packet) -> VideoFrame | None:
    try:
        frames = packet.decode()
    except av.FFmpegError:
        return None
    return next((f for f in frames if isinstance(f, VideoFrame)), None)


def _first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame:
    """Decode the first picture, tolerating a few damaged packets before it."""
    try:
        for n, packet in enumerate(container.demux(stream), start=1):
            frame = _decode_one(packet)
            if frame is not None:
                return frame
            if n >= _FIRST_FRAME_MAX_PACKETS:
                break
    except av.FFmpegError as exc:
        log.info("demuxing stopped before a first frame: %s", exc)
    raise MediaError(_UNDECODABLE)


def _first_frame_and_scan(
    container: InputContainer, stream: VideoStream
) -> tuple[VideoFrame, PacketScan]:
    """One pass over the packets: decode until the first picture, only read the rest."""
    found: list[VideoFrame] = []
    tries = [0]

    def visit(packet: Packet) -> None:
        if not found and tries[0] < _FIRST_FRAME_MAX_PACKETS:
            tries[0] += 1
            frame = _decode_one(packet)
            if frame is not None:
                found.append(frame)

    scan = scan_packets(container, stream, visit=visit)
    if not found:
        # The decoder may hold the picture until it is flushed (e.g. a one-frame file).
        with contextlib.suppress(av.FFmpegError):
            found.extend(f for f in stream.codec_context.decode(None) if isinstance(f, VideoFrame))
    if not found:
        raise MediaError(_UNDECODABLE)
    return found[0], scan


@dataclass(frozen=True)
class _Timing:
    duration_s: float
    """Seconds from the first frame to the end of the last (see ``VideoInfo.duration_s``)."""
    fps: float
    frame_count: int | None
    variable: bool
    source: DurationSource
    synthetic: bool = False


def _timing(
    container: InputContainer,
    stream: VideoStream,
    declared: int | None,
    scan: PacketScan | None,
) -> _Timing:
    """Duration, rate, frame count and rate variability, from the best source available."""
    tb = stream.time_base
    counted = scan.count if scan is not None and scan.complete else None
    if scan is None:
        # MP4/MOV and AVI index every frame, by decode time: evenly spaced iff the rate is.
        entries = stream.index_entries
        stamps = [entries[i].timestamp for i in range(min(len(entries), _MAX_STAMPS))]
        first_pts = stream.start_time if stream.start_time is not None else stamps[0]
        last_pts = _last_pts(container, stream)
    else:
        stamps = list(scan.frame_pts)
        first_pts = stamps[0] if stamps else None
        last_pts = stamps[-1] if stamps else None
    if _unusable(stamps):
        return _synthetic_timing(stream, declared or counted or (scan.count if scan else None))
    deltas = _deltas(stamps)
    interval = statistics.median(deltas) if deltas else None
    span = None
    if first_pts is not None and last_pts is not None and last_pts > first_pts and tb:
        # First to last frame plus one typical interval (the last frame's display time).
        span = float((last_pts - first_pts + (interval or 0)) * tb)

    frames = declared or counted
    source: DurationSource
    if scan is not None and scan.at_limit:
        # The pass stopped at its packet limit: its span is only a lower bound, never the
        # duration (a 60-minute 120 fps Matroska file would pass for a 7-minute one). (A pass
        # stopped by damage keeps the span of what can be read: that is what can be sampled.)
        duration, source = _declared_duration(container, stream, span)
        if source == "packets":
            # Nothing declares a duration (e.g. a live WebM): read on to the last packet.
            more, last = _count_rest(container, stream)
            frames = declared or scan.count + more
            if last is not None and first_pts is not None and last > first_pts and tb:
                duration = float((last - first_pts + (interval or 0)) * tb)
    else:
        # The video stream's own duration or its frames' span, whichever is longer (an MP4 with
        # variable rate and B-frames can declare less than its frames cover); a container's
        # duration comes last: it may cover a longer audio track, or (Matroska) count from zero
        # rather than from the first frame.
        own = _stream_duration(stream) or 0.0
        if own and own >= (span or 0.0):
            duration, source = own, "stream"
        elif span:
            duration, source = span, "packets"
        else:
            duration, source = _container_duration(container) or 0.0, "container"
    # Average rate, as FFmpeg computes it for MP4: frames over duration.
    rate = frames / duration if frames and duration else (_declared_fps(stream) or _FALLBACK_FPS)
    if not duration:
        duration, source = (frames or 1) / rate, "frame_count"
    return _Timing(
        duration_s=float(duration),
        fps=float(rate),
        frame_count=frames,
        variable=_is_variable(stamps, interval) if len(stamps) > 2 else _rates_differ(stream),
        source=source,
    )


def _unusable(stamps: list[int]) -> bool:
    """Whether frame timestamps are useless for timing: fewer distinct values than half the frames
    (all equal, say). A valid stream has one per frame; a glitch or two does not count."""
    return len(stamps) >= 2 and 2 * len(set(stamps)) < len(stamps)


def _synthetic_timing(stream: VideoStream, frames: int | None) -> _Timing:
    """Timing for frames whose timestamps are unusable: evenly spaced by their order, at the
    stream's declared duration when that gives a plausible rate, else at its nominal rate."""
    frames = frames or 1
    own = _stream_duration(stream)
    lo, hi = _PLAUSIBLE_FPS
    source: DurationSource
    if own and lo <= frames / own <= hi:
        duration, rate, source = own, frames / own, "stream"
    else:
        rate = _declared_fps(stream, trust_average=False) or _FALLBACK_FPS
        duration, source = frames / rate, "frame_count"
    log.info("frame timestamps are unusable (all or mostly equal): frames taken at %.3f fps", rate)
    return _Timing(
        duration_s=float(duration),
        fps=float(rate),
        frame_count=frames,
        variable=False,
        source=source,
        synthetic=True,
    )


def _declared_duration(
    container: InputContainer, stream: VideoStream, span: float | None
) -> tuple[float, DurationSource]:
    """For a stream not read to its end: what the stream declares, else the container (from the
    stream's first frame to the container's end), never less than the span seen."""
    seen = span or 0.0
    own = _stream_duration(stream)
    if own:
        return (own, "stream") if own >= seen else (seen, "packets")
    whole = _container_duration_after_start(container, stream)
    if whole and whole >= seen:
        return whole, "container"
    return seen, "packets"


def _count_rest(container: InputContainer, stream: VideoStream) -> tuple[int, int | None]:
    """Frame packets from the current position to the end and their latest timestamp, read
    without decoding or keeping them."""
    count, last = 0, None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            count += 1
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None and (last is None or ts > last):
                last = ts
    except av.FFmpegError as exc:
        log.info("packet count stopped early: %s", exc)
    return count, last


def _last_pts(container: InputContainer, stream: VideoStream) -> int | None:
    """Latest presentation time among the packets of the last GOP (an index lists decode times,
    which can trail them), read without decoding."""
    entries = stream.index_entries
    last_key = entries.search_timestamp(entries[len(entries) - 1].timestamp, backward=True)
    if last_key < 0:
        return None
    try:
        container.seek(entries[last_key].timestamp, stream=stream, backward=True)
        stamps = [p.pts for p in container.demux(stream) if p.pts is not None]
    except av.FFmpegError:
        return None
    return max(stamps, default=None)


def _declared_fps(stream: VideoStream, *, trust_average: bool = True) -> float | None:
    """The first plausible rate the stream declares. ``trust_average=False`` when the timestamps
    are unusable: FFmpeg computes the average rate from them, so its guess comes first."""
    rates = (stream.average_rate, stream.guessed_rate, stream.base_rate)
    if not trust_average:
        rates = (stream.guessed_rate, stream.base_rate, stream.average_rate)
    lo, hi = _PLAUSIBLE_FPS
    for rate in rates:
        if rate is not None and lo <= float(rate) <= hi:
            return float(rate)
    return None


def _stream_duration(stream: VideoStream) -> float | None:
    tb = stream.time_base
    if stream.duration and stream.duration > 0 and tb:
        return float(stream.duration * tb)
    return None


def _container_duration(container: InputContainer) -> float | None:
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    return None


def _container_duration_after_start(container: InputContainer, stream: VideoStream) -> float | None:
    """Seconds from the stream's first frame to the end of the container."""
    whole = _container_duration(container)
    if whole is None:
        return None
    offset = 0.0
    if stream.start_time is not None and stream.time_base:
        begin = container.start_time / av.time_base if container.start_time else 0.0
        offset = max(0.0, float(stream.start_time * stream.time_base) - begin)
    return whole - offset if whole > offset else None


def _deltas(stamps: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(stamps) if b != a]


def _is_variable(stamps: list[int], interval: float | None) -> bool:
    """Whether frame intervals vary: more than 10 % away from the typical one (one tick of
    rounding excepted), at least twice and for at least 1 % of them (a single glitch or dropped
    frame does not make a variable-rate video)."""
    if interval is None or len(stamps) < 3:
        return False
    slack = max(_VFR_TOLERANCE * interval, 1.0)
    deltas = _deltas(stamps)
    odd = sum(1 for d in deltas if abs(d - interval) > slack)
    return odd >= max(2, 0.01 * len(deltas))


def _rates_differ(stream: VideoStream) -> bool:
    """Without timestamps to compare: FFmpeg's average rate departs from the stream's base rate
    for variable-rate streams."""
    avg, base = stream.average_rate, stream.guessed_rate
    if avg and base and avg > 0 and base > 0:
        return abs(float(avg) - float(base)) / float(base) > _VFR_TOLERANCE / 2
    return False

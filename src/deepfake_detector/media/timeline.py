"""Where a stream's frames and keyframes sit, learnt before decoding anything.

The sampler plans its decoding from this: which keyframe precedes each target, and how many
frames lie between two points. Sources, cheapest first:

* the container's own index (``stream.index_entries``): MP4/MOV and AVI list every frame, Matroska
  and WebM cues list keyframes, FLV lists keyframes from its metadata;
* a demux-only pass over the packets (no decoding; about 15-50 ms for a 60 s 1080p file), for
  containers without an index (MPEG-TS, raw H.264 with timestamps...);
* nothing: then keyframes are unknown and the sampler decodes straight through.

All positions are presentation timestamps (pts) in ``stream.time_base`` ticks.
"""

from __future__ import annotations

import bisect
import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import av
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

log = logging.getLogger(__name__)

# Containers whose index FFmpeg seeks by exactly. Others (MPEG-TS, MPEG-PS...) seek by bisecting
# the file and may land on a later keyframe, so their keyframes are found by a demux pass.
INDEXED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "flv"})

# A demux pass reads at most this many packets (about 28 minutes at 30 fps); longer streams without
# an index are decoded straight through rather than scanned twice.
MAX_SCAN_PACKETS = 50_000


class Timeline(Protocol):
    """What the planner needs to know about where frames are."""

    source: str
    """``"index"``, ``"cues"`` (keyframes only), ``"scan"`` or ``"none"``."""
    complete: bool
    """Whether every frame is listed (``frames_between`` is then a count, not an estimate)."""
    seekable: bool
    """Whether FFmpeg seeks exactly in this container (by its index); otherwise keyframes are
    reached by reading packets without decoding them."""

    def keyframe_at_or_before(self, pts: int) -> int | None:
        """(Estimated) pts of the last keyframe at or before ``pts``; ``None`` if unknown."""
        ...

    def frames_between(self, a: int, b: int) -> int:
        """How many frames have a pts in ``(a, b]`` (an estimate where the index is partial)."""
        ...


@dataclass
class UnknownTimeline:
    """No index and no scan: nothing to plan with."""

    ticks_per_frame: float
    source: str = "none"
    complete: bool = False
    seekable: bool = False

    def keyframe_at_or_before(self, pts: int) -> int | None:
        return None

    def frames_between(self, a: int, b: int) -> int:
        return max(0, round((b - a) / self.ticks_per_frame))


class _IndexTimeline:
    """Backed by FFmpeg's per-stream index, searched in C without copying it into Python.

    MP4/MOV index entries carry *decode* timestamps: with B-frames a keyframe is decoded before
    it is shown, so its pts = dts + the reorder delay. The delay is learnt from the first keyframe,
    whose pts is the stream's start time.
    """

    def __init__(self, stream: VideoStream, start_pts: int, full: bool, ticks_per_frame: float):
        self._entries = stream.index_entries
        first = self._entries[0].timestamp
        self._delay = max(0, start_pts - first)
        self._full = full
        self._ticks_per_frame = ticks_per_frame
        self.source = "index" if full else "cues"
        self.complete = full
        self.seekable = True

    def keyframe_at_or_before(self, pts: int) -> int | None:
        i = self._entries.search_timestamp(pts - self._delay, backward=True)
        if i < 0:
            return None
        return self._entries[i].timestamp + self._delay

    def frames_between(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        if not self._full:
            return max(0, round((b - a) / self._ticks_per_frame))
        ia = self._entries.search_timestamp(a - self._delay, backward=True, any_frame=True)
        ib = self._entries.search_timestamp(b - self._delay, backward=True, any_frame=True)
        return max(0, ib - ia)


class ScanTimeline:
    """Built from every packet's pts, read by a demux-only pass."""

    source = "scan"
    complete = True
    seekable = False

    def __init__(self, frame_pts: array, key_pts: array):
        self._frames = frame_pts
        self._keys = key_pts

    def keyframe_at_or_before(self, pts: int) -> int | None:
        i = bisect.bisect_right(self._keys, pts)
        return self._keys[i - 1] if i > 0 else None

    def frames_between(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        return bisect.bisect_right(self._frames, b) - bisect.bisect_right(self._frames, a)


def read_timeline(
    container: InputContainer,
    stream: VideoStream,
    start_pts: int,
    ticks_per_frame: float,
    expected_frames: int,
    allow_scan: bool = True,
) -> tuple[Timeline, bool]:
    """Learn the stream's keyframes from its index, or from one demux pass when it has none.

    Returns the timeline and whether the container is still positioned at the start of the
    stream. When it is not (after a demux pass: seeking back to the start is not exact in
    containers without an index), the caller must reopen the file; the timeline is then one that
    does not refer to the container.
    """
    if container.format.name in INDEXED_FORMATS:
        entries = stream.index_entries
        # Matroska reads its cues lazily, on the first seek; these containers seek exactly.
        if len(entries) < 2 and not _rewind(container, stream, start_pts):
            return UnknownTimeline(ticks_per_frame), False
        n = len(entries)
        if n >= 2 or (n == 1 and expected_frames <= 1):
            has_keys = entries.search_timestamp(entries[n - 1].timestamp, backward=True) >= 0
            if has_keys:
                full = n >= 0.5 * expected_frames
                return _IndexTimeline(stream, start_pts, full, ticks_per_frame), True
    if not allow_scan:
        return UnknownTimeline(ticks_per_frame), True
    scan = scan_packets(container, stream)
    if scan.complete and len(scan.key_pts) > 0:
        return ScanTimeline(scan.frame_pts, scan.key_pts), False
    return UnknownTimeline(ticks_per_frame), False


@dataclass
class PacketScan:
    """What a demux-only pass learnt. Timestamps are sorted; empty when packets carry none."""

    frame_pts: array = field(default_factory=lambda: array("q"))
    key_pts: array = field(default_factory=lambda: array("q"))
    count: int = 0
    """Frame packets seen."""
    complete: bool = True
    """False when the pass stopped at ``limit`` packets or at unreadable data."""


def scan_packets(
    container: InputContainer,
    stream: VideoStream,
    limit: int = MAX_SCAN_PACKETS,
    visit: Callable[[Packet], object] | None = None,
) -> PacketScan:
    """Read the packets from the current position without decoding them (``visit`` may look at
    each one, e.g. to decode the first)."""
    scan = PacketScan()
    frames: list[int] = []
    keys: list[int] = []
    stamped = True
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if visit is not None:
                visit(packet)
            scan.count += 1
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                stamped = False
            elif stamped:
                frames.append(ts)
                if packet.is_keyframe:
                    keys.append(ts)
            if scan.count >= limit:
                scan.complete = False
                break
    except av.FFmpegError as exc:
        log.info("packet scan stopped early: %s", exc)
        scan.complete = False
    if stamped:
        scan.frame_pts = array("q", sorted(frames))
        scan.key_pts = array("q", sorted(keys))
    return scan


def _rewind(container: InputContainer, stream: VideoStream, start_pts: int) -> bool:
    try:
        container.seek(start_pts, stream=stream, backward=True)
    except av.FFmpegError as exc:
        log.info("cannot seek: %s", exc)
        return False
    return True

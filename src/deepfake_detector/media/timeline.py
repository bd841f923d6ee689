"""Where a stream's frames and keyframes sit, learnt before decoding anything.

The sampler plans its decoding from this: which keyframe precedes each target, and how many
frames lie between two points. Sources, cheapest first:

* the container's own index (``stream.index_entries``): MP4/MOV and AVI list every frame, Matroska
  and WebM cues list keyframes, FLV lists keyframes from its metadata;
* a demux-only pass over the packets (no decoding; about 15-50 ms for a 60 s 1080p file), for
  containers without an index (MPEG-TS, raw H.264 with timestamps...); a pass that stops at
  ``MAX_SCAN_PACKETS`` still gives the keyframes it saw, and where FFmpeg seeks by timestamp
  (Matroska without cues...) the rest of the stream is reached by seeking;
* nothing: then keyframes are unknown and the sampler decodes straight through.

All positions are presentation timestamps (pts) in ``stream.time_base`` ticks.
"""

from __future__ import annotations

import bisect
import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import av
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

if TYPE_CHECKING:
    from av.index import IndexEntries

log = logging.getLogger(__name__)

# Containers whose index FFmpeg seeks by exactly. Others (MPEG-TS, MPEG-PS...) seek by bisecting
# the file and may land on a later keyframe, so their keyframes are found by a demux pass.
INDEXED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "flv"})

# A demux pass reads at most this many packets (about 28 minutes at 30 fps, 7 at 120 fps). Past it,
# a stream in a container FFmpeg seeks by timestamp is reached by seeking, estimating keyframes
# from those seen (PartialScanTimeline); in others it is decoded straight through rather than
# scanned twice. Read at call time, so tests may lower it.
MAX_SCAN_PACKETS = 50_000


class Timeline(Protocol):
    """What the planner needs to know about where frames are."""

    source: str
    """``"index"``, ``"cues"`` (keyframes only), ``"scan"``, ``"partial-scan"`` or ``"none"``."""
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

    A partial index may stop well before the end: Matroska without cues (a live or browser-made
    WebM) lists only the keyframes FFmpeg has read so far. Past its last keyframe by more than
    the typical keyframe interval (and up to ``horizon``, the stream's last frame: a target past
    the end wants the last frame, not a seek), a keyframe is assumed one interval before the
    target, so that the planner seeks by timestamp (FFmpeg then reads on to the real keyframe
    without decoding) rather than decoding the whole rest of the stream.
    """

    def __init__(
        self,
        stream: VideoStream,
        start_pts: int,
        full: bool,
        ticks_per_frame: float,
        horizon: int | None = None,
    ):
        self._entries = stream.index_entries
        self._horizon = horizon
        first = self._entries[0].timestamp
        self._delay = max(0, start_pts - first)
        self._full = full
        self._ticks_per_frame = ticks_per_frame
        self._gop = None if full else _keyframe_interval(self._entries)
        self.source = "index" if full else "cues"
        self.complete = full
        self.seekable = True

    def keyframe_at_or_before(self, pts: int) -> int | None:
        entries = self._entries
        i = entries.search_timestamp(pts - self._delay, backward=True)
        if i < 0:
            return None
        key = entries[i].timestamp + self._delay
        if i < len(entries) - 1:  # within what the index lists
            return key
        return _assumed_keyframe(pts, key, key, self._gop, self._horizon)

    def frames_between(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        if not self._full:
            return max(0, round((b - a) / self._ticks_per_frame))
        ia = self._entries.search_timestamp(a - self._delay, backward=True, any_frame=True)
        ib = self._entries.search_timestamp(b - self._delay, backward=True, any_frame=True)
        return max(0, ib - ia)


def _assumed_keyframe(
    pts: int, known: int | None, listed_until: int, gop: float | None, horizon: int | None
) -> int | None:
    """The keyframe to plan with for ``pts`` in a partial timeline: ``known`` (the last listed
    keyframe at or before it) while ``pts`` is within what is listed (up to ``listed_until``) or
    past the stream's last frame (``horizon``); beyond the listing, one typical keyframe interval
    (``gop``) before ``pts`` if that is later, so the planner seeks by timestamp there instead of
    decoding everything from ``known``."""
    if known is None or gop is None or pts <= listed_until:
        return known
    if horizon is not None and pts > horizon:
        return known
    return max(known, pts - round(gop))


def _keyframe_interval(entries: IndexEntries, limit: int = 10_000) -> float | None:
    """Typical ticks between the keyframes of (the first ``limit``) index entries; ``None`` with
    fewer than two."""
    first = last = None
    keys = 0
    for i in range(min(len(entries), limit)):
        entry = entries[i]
        if entry.is_keyframe:
            keys += 1
            first = entry.timestamp if first is None else first
            last = entry.timestamp
    if keys < 2 or first is None or last is None or last <= first:
        return None
    return (last - first) / (keys - 1)


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


class PartialScanTimeline:
    """A demux pass that stopped at its packet limit, in a container FFmpeg seeks by timestamp.

    Up to where the pass stopped, keyframes and frames are known exactly. Beyond it (up to
    ``horizon``, the stream's last frame), a keyframe is assumed within one typical keyframe
    interval (as seen in the pass) before any time, so the planner seeks to far targets by
    timestamp (FFmpeg then finds the real keyframe) instead of decoding everything in between.
    A pass that saw a single keyframe means a keyframe interval longer than the pass: no keyframe
    is assumed, and the planner decodes on.
    """

    source = "partial-scan"
    complete = False
    seekable = True

    def __init__(
        self, frame_pts: array, key_pts: array, ticks_per_frame: float, horizon: int | None = None
    ):
        if not frame_pts or not key_pts:
            raise ValueError("a partial scan needs frames and a keyframe")
        self._frames = frame_pts
        self._keys = key_pts
        self._end = frame_pts[-1]
        self._ticks_per_frame = ticks_per_frame
        self._horizon = horizon
        n = len(key_pts)
        self._gop = (key_pts[-1] - key_pts[0]) / (n - 1) if n >= 2 else None

    def keyframe_at_or_before(self, pts: int) -> int | None:
        i = bisect.bisect_right(self._keys, pts)
        known = self._keys[i - 1] if i > 0 else None
        return _assumed_keyframe(pts, known, self._end, self._gop, self._horizon)

    def frames_between(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        known = bisect.bisect_right(self._frames, min(b, self._end)) - bisect.bisect_right(
            self._frames, a
        )
        beyond = round((b - max(a, self._end)) / self._ticks_per_frame) if b > self._end else 0
        return max(0, known) + beyond


def read_timeline(
    container: InputContainer,
    stream: VideoStream,
    start_pts: int,
    ticks_per_frame: float,
    expected_frames: int,
    allow_scan: bool = True,
    horizon: int | None = None,
) -> tuple[Timeline, bool]:
    """Learn the stream's keyframes from its index, or from one demux pass when it has none.

    ``horizon`` (pts of the stream's last frame, as probed) bounds where keyframes past a partial
    index or scan may be estimated.

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
                return _IndexTimeline(stream, start_pts, full, ticks_per_frame, horizon), True
    if not allow_scan:
        return UnknownTimeline(ticks_per_frame), True
    scan = scan_packets(container, stream)
    if scan.complete and len(scan.key_pts) > 0:
        return ScanTimeline(scan.frame_pts, scan.key_pts), False
    if scan.at_limit and len(scan.key_pts) > 0 and container.format.name in INDEXED_FORMATS:
        timeline = PartialScanTimeline(scan.frame_pts, scan.key_pts, ticks_per_frame, horizon)
        return timeline, False
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
    at_limit: bool = False
    """True when the pass stopped at ``limit`` packets: the stream goes on after them (the
    container is left right after the last packet read)."""


def scan_packets(
    container: InputContainer,
    stream: VideoStream,
    limit: int | None = None,
    visit: Callable[[Packet], object] | None = None,
) -> PacketScan:
    """Read the packets from the current position without decoding them (``visit`` may look at
    each one, e.g. to decode the first), at most ``limit`` (default ``MAX_SCAN_PACKETS``)."""
    if limit is None:
        limit = MAX_SCAN_PACKETS
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
                scan.at_limit = True
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

"""Decode exactly the frames shown at a list of times, following a plan, in bounded memory.

Only a few decoded pictures are held at any moment (the candidate for the current target, the
frame after it, what the decoder buffers), and only the pictures that are kept are converted to
RGB, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
from av.container import InputContainer
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from deepfake_detector.errors import MediaError
from deepfake_detector.hostinfo import core_share
from deepfake_detector.media.frames import SampledFrame
from deepfake_detector.media.plan import (
    SEEK_COST_FRAMES,
    SEEK_COST_FRAMES_FRAME_THREADS,
    Run,
    Strategy,
    Target,
    plan_runs,
    relax_targets,
)
from deepfake_detector.media.probe import VideoInfo
from deepfake_detector.media.reader import open_video, to_upright_rgb
from deepfake_detector.media.timeline import Timeline, UnknownTimeline, read_timeline

log = logging.getLogger(__name__)

Decoded = tuple[VideoFrame, int]
"""A decoded frame and its pts (synthesised when the stream has none)."""
Frames = Generator[Decoded, None, None]

# Consecutive packets that fail to decode before the rest of the stream is given up as damaged.
_MAX_BAD_PACKETS = 100
# Frames closer than this to the next target are decoded unless a frame shown after them (and
# not after the target) is seen (see _Runner._set_skipping); covers a dropped frame or two in a
# constant-rate stream.
_SKIP_MARGIN_FRAMES = 3
# How many of the packets decoded last have their pts remembered (``_Runner._set_skipping``):
# H.264's and HEVC's limit on reordering. Forgetting older ones only makes fewer frames
# droppable, never a wrong frame shown.
_REORDER_DEPTH = 16
# Packets read ahead (not decoded) at most to decide whether a packet is needed or its frame
# shown; where that does not decide it (timestamps far apart from decode to display), the
# packet is decoded, as without reading ahead. Bounds the memory the read-ahead holds.
_MAX_LOOKAHEAD = 64
# Seeks that land after their target are retried from an earlier keyframe this many times, then
# from the start of the stream.
_MAX_SEEK_RETRIES = 3


@dataclass
class DecodeStats:
    """What one call actually did; for tests and benchmarks."""

    strategy: str = ""
    timeline: str = ""
    planned_frames: int = 0
    runs: int = 0
    seeks: int = 0
    seek_retries: int = 0
    decoded_frames: int = 0
    sent_packets: int = 0
    """Packets given to the decoder (each is decoded, unless ``skip_frame`` drops it)."""
    nonref_skippable: int = 0
    """Packets sent with ``skip_frame = NONREF``: dropped if no frame refers to theirs."""
    skipped_packets: int = 0
    drained_runs: int = 0
    """Runs ended by draining the decoder once every frame they need was fed (see
    ``_Runner._decode``), rather than by decoding on until a later frame came out."""
    bad_packets: int = 0
    dropped_samples: int = 0


def decode_samples(
    path: str,
    info: VideoInfo,
    times: list[float],
    *,
    strategy: Strategy = "auto",
    frame_threads: bool = False,
    seek_cost: float | None = None,
    tolerance_s: float = 0.0,
    skip_nonref: bool = True,
    drain: bool = True,
    stats: DecodeStats | None = None,
    max_decode_pixels: float = 0.0,
    device: str = "cpu",
) -> Iterator[SampledFrame]:
    """Yield the frame shown at each of ``times`` (seconds from the stream start), in time order.

    ``strategy``, ``frame_threads``, ``seek_cost``, ``skip_nonref`` and ``drain`` exist for
    measurements; the defaults are what the product uses.
    With ``tolerance_s`` each sample may be any frame within that many seconds of its time,
    whichever is cheapest to decode (a keyframe when one is in reach; see
    :func:`~deepfake_detector.media.plan.relax_targets`); ``time_s`` still tells which frame it is.
    Samples whose frame lies in undecodable data (a truncated or damaged file) are left out;
    ``MediaError`` is raised only if no frame at all can be decoded.
    With ``max_decode_pixels``, ``MediaError`` is raised before decoding anything when the plan
    (from the keyframe index) would decode more pixels than that: huge frames with keyframes
    minutes apart cost minutes of CPU for a few samples.
    ``device``: where FFmpeg decodes (see :func:`~deepfake_detector.media.reader.open_video`).
    """
    stats = stats if stats is not None else DecodeStats()
    if not times:
        return
    if seek_cost is None:
        seek_cost = SEEK_COST_FRAMES_FRAME_THREADS if frame_threads else SEEK_COST_FRAMES
    stats.strategy = strategy
    produced = 0
    with open_video(path, device) as (container, stream):
        setup = _Setup(stream, info, times, frame_threads, tolerance_s, skip_nonref)
        setup.drain = drain and not setup.synthetic
        setup.max_decode_pixels = max_decode_pixels
        timeline: Timeline
        if setup.synthetic:
            # Timestamps are unusable: an index or a scan would place every frame at one time.
            # Frames are counted from the start instead (see _Runner._with_pts).
            timeline, positioned = UnknownTimeline(setup.ticks_per_frame), True
        else:
            # Straight decoding ignores keyframes but still uses the index to tell a target past
            # the end from one in data that is missing (a cut file): it reads the index, never
            # scans.
            timeline, positioned = read_timeline(
                container,
                stream,
                setup.start,
                setup.ticks_per_frame,
                setup.expected_frames,
                allow_scan=strategy != "straight",
                horizon=setup.last_frame_pts,
            )
        if positioned:
            samples = _execute(container, stream, setup, timeline, strategy, seek_cost, stats)
            for sample in samples:
                produced += 1
                yield sample
    if not positioned:
        # Reading the timeline moved through the file and it cannot seek back exactly (MPEG-TS,
        # raw H.264): start afresh.
        with open_video(path, device) as (container, stream):
            samples = _execute(container, stream, setup, timeline, strategy, seek_cost, stats)
            for sample in samples:
                produced += 1
                yield sample
    if produced == 0:
        raise MediaError(
            "No picture in the video could be decoded: the file is damaged or truncated."
        )
    if stats.dropped_samples:
        log.warning(
            "%d of %d sampled frames could not be decoded (damaged or truncated video)",
            stats.dropped_samples, len(times),
        )  # fmt: skip


class _Setup:
    """What a decode needs to know about the request, in stream ticks."""

    def __init__(
        self,
        stream: VideoStream,
        info: VideoInfo,
        times: list[float],
        frame_threads: bool,
        tolerance_s: float,
        skip_nonref: bool,
    ):
        tb = stream.time_base
        self.frame_threads = frame_threads
        self.tolerance = _ticks(tolerance_s, tb)
        self.frame_pixels = max(1, info.width * info.height)
        self.max_decode_pixels = 0.0
        """0: no limit (see ``decode_samples``)."""
        self.drain = False
        """Whether a run that a seek follows may end by draining the decoder (``_Runner``)."""
        self.start: int = stream.start_time if stream.start_time is not None else 0
        fps = info.fps if info.fps > 0 else 25.0
        self.ticks_per_frame = max(1.0, float(1 / (fps * tb)))
        self.expected_frames = info.frame_count or max(1, round(info.duration_s * fps))
        self.rotation = info.rotation
        # Frames that no other frame refers to (most B-frames) need not be decoded on the way to
        # a target, as long as they are far enough before it that a decoded frame is certainly
        # shown at the target: true for a constant rate, not for a variable one.
        # Nor when frames are counted (unusable timestamps): a dropped frame would not be counted.
        self.synthetic = info.synthetic_timing
        self.skip_nonref = skip_nonref and not info.variable_frame_rate and not self.synthetic
        self.skip_margin = _SKIP_MARGIN_FRAMES * self.ticks_per_frame
        # A target past the end wants the last frame: skip nothing near the end either.
        self.last_frame_pts = self.start + _ticks(info.duration_s, tb) - self.ticks_per_frame
        self.targets = sorted(
            (Target(self.start + _ticks(t, tb), i) for i, t in enumerate(times)),
            key=lambda t: (t.pts, t.sample_index),
        )


def _execute(
    container: InputContainer,
    stream: VideoStream,
    setup: _Setup,
    timeline: Timeline,
    strategy: Strategy,
    seek_cost: float,
    stats: DecodeStats,
) -> Iterator[SampledFrame]:
    if setup.frame_threads:
        # Not by default: on the 2-core machines it was no faster for single-slice streams and
        # twice as slow for multi-slice ones (FFmpeg then drops slice threading), doubled the
        # cost of a seek and added 40-50 MB (benchmarks/bench_decode.py). PyAV's default is slice
        # threading with one thread per core.
        stream.thread_type = "AUTO"
    if core_share():  # one of several job processes: FFmpeg would start a thread per core
        stream.thread_count = core_share()
    targets = setup.targets
    if setup.tolerance > 0:
        targets = relax_targets(targets, timeline, setup.tolerance)
    plan = plan_runs(targets, timeline, setup.start, strategy, seek_cost)
    stats.timeline = timeline.source
    stats.planned_frames, stats.runs, stats.seeks = plan.frames, len(plan.runs), plan.seeks
    if setup.max_decode_pixels and plan.frames * setup.frame_pixels > setup.max_decode_pixels:
        raise MediaError(
            f"Sampling this video would mean decoding about {plan.frames} frames of "
            f"{setup.frame_pixels / 1e6:.1f} megapixels each (its keyframes are too far apart "
            "for its frame size), more than is decoded for one video "
            f"({setup.max_decode_pixels / 1e6:g} megapixels). Re-encode it smaller or with a "
            "keyframe every few seconds."
        )
    log.debug(
        "sampling %d frames: %d runs, %d seeks, ~%d frames decoded (timeline: %s)",
        len(setup.targets), len(plan.runs), plan.seeks, plan.frames, timeline.source,
    )  # fmt: skip
    runner = _Runner(container, stream, setup, timeline, stats)
    for i, run in enumerate(plan.runs):
        # Draining leaves the decoder unusable until it is flushed, which a seek does: so only
        # where the next run seeks (always, where the container seeks exactly) or none follows.
        last = i + 1 == len(plan.runs)
        drain = setup.drain and (
            last or (timeline.seekable and plan.runs[i + 1].seek_pts is not None)
        )
        yield from runner.run(run, drain)


class _Runner:
    """Carries out runs on one open container."""

    def __init__(
        self,
        container: InputContainer,
        stream: VideoStream,
        setup: _Setup,
        timeline: Timeline,
        stats: DecodeStats,
    ):
        self._container = container
        self._stream = stream
        self._rotation = setup.rotation
        self._tb = stream.time_base
        self._start = setup.start
        self._tpf = setup.ticks_per_frame
        self._timeline = timeline
        self._stats = stats
        self._last_pts: int | None = None
        self._packets: _Lookahead | None = None
        self._cut_short = False
        self._fed: int | None = None
        """Latest timestamp of a packet given to the decoder."""
        self._carry: Decoded | None = None
        """The frame that ended the previous run (decoded, not yet used)."""
        self._want: int | None = None
        """pts of the next target to serve, read when packets are sent to the decoder."""
        self._synthetic = setup.synthetic
        self._counted = 0
        """Frames decoded since the start (timestamps synthesised from it when unusable)."""
        self._skip_nonref = setup.skip_nonref
        self._skip_margin = setup.skip_margin
        self._skip_before_end = setup.last_frame_pts - setup.skip_margin
        self._skipping = False
        self._decoded_pts: collections.deque[int] = collections.deque(maxlen=_REORDER_DEPTH)
        """pts of the last packets decoded since the decoder was last flushed."""
        self._drain_at: int | None = None
        """pts of the run's last target while the run may end by draining (see ``_decode``)."""
        self._drain_exact = False
        """Whether every target of the run is at ``_drain_at``."""
        self._drained = False
        """Whether the current run ended by draining (every frame shown up to its last target
        decoded)."""

    def run(self, run: Run, drain: bool = False) -> Iterator[SampledFrame]:
        targets = run.targets
        self._drain_at = targets[-1].pts if drain else None
        self._drain_exact = targets[0].pts == targets[-1].pts
        self._drained = False
        bad_before = self._stats.bad_packets
        frames = self._frames_for(run)
        try:
            prev: Decoded | None = None
            j = 0
            self._want = targets[0].pts
            for frame, pts in frames:
                while j < len(targets) and targets[j].pts < pts:
                    # ``prev`` is None only for targets before the stream's first frame.
                    yield self._sample(prev or (frame, pts), targets[j])
                    j += 1
                    self._want = targets[j].pts if j < len(targets) else None
                prev = (frame, pts)
                if j == len(targets):
                    # Seen to be past the last target, this frame may be the next run's first.
                    self._carry = prev
                    return
            if self._drained and prev is not None and self._stats.bad_packets == bad_before:
                # Every frame shown up to the last target was decoded: ``prev`` is the one.
                for target in targets[j:]:
                    yield self._sample(prev, target)
                return
            # The data ended: what is left lies after the last decodable frame.
            for target in targets[j:]:
                if prev is None or self._undecodable(prev[1], target.pts):
                    self._stats.dropped_samples += 1
                else:
                    yield self._sample(prev, target)
        finally:
            self._want = None
            self._drain_at = None
            frames.close()

    def _frames_for(self, run: Run) -> Frames:
        if run.seek_pts is None:  # only ever the first run
            return self._decode(self._current_packets())
        if self._timeline.seekable:
            return self._seek_for(run)
        return self._skip_to(run)

    def _current_packets(self) -> _Lookahead:
        if self._packets is None:
            # One per position in the file, so that packets read ahead (not decoded) by a run
            # that stopped are still there for a run that decodes on.
            self._packets = _Lookahead(self._demux())
        return self._packets

    def _demux(self) -> Iterator[Packet]:
        """The stream's packets from the current position; unreadable data ends them."""
        self._cut_short = False
        demux = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                log.info("demuxing stopped: %s", exc)
                self._cut_short = True
                return
            yield packet

    def _skip_to(self, run: Run) -> Frames:
        """Reach the run's keyframe by reading packets without decoding them: for containers
        without an index, where FFmpeg's seeking is approximate (MPEG-TS lands on a later
        keyframe)."""
        packets = self._current_packets()
        if self._fed is not None and run.key_pts is not None and self._fed >= run.key_pts:
            # The decoder already has that keyframe (it reads ahead): decode on, starting with
            # the frame that ended the previous run.
            carried, self._carry = self._carry, None
            frames = self._decode(packets)
            return _prepend(carried, frames) if carried is not None else frames
        self._carry = None
        key = run.key_pts if run.key_pts is not None else run.targets[0].pts
        for packet in packets:
            ts = _packet_ts(packet)
            if packet.is_keyframe and ts is not None and ts >= key:
                self._stream.codec_context.flush_buffers()
                self._decoded_pts.clear()
                self._last_pts = None
                packets.push_front(packet)
                return self._decode(packets)
            self._stats.skipped_packets += 1
        return _nothing()

    def _seek_for(self, run: Run) -> Frames:
        """Seek for ``run`` and return its frames, making sure the first one is not later than
        the first target (an index can be approximate: decode versus presentation time)."""
        assert run.seek_pts is not None
        seek_to = run.seek_pts
        first_target = run.targets[0].pts
        for attempt in range(_MAX_SEEK_RETRIES + 2):
            if not self._seek(seek_to):
                if seek_to == self._start:
                    break
                seek_to = self._start
                continue
            frames = self._decode(self._current_packets())
            head = next(frames, None)
            if head is None:
                return frames
            if head[1] <= first_target or seek_to <= self._start:
                return _prepend(head, frames)
            frames.close()
            self._stats.seek_retries += 1
            earlier = min(seek_to, head[1]) - max(1, round(self._tpf))
            seek_to = earlier if attempt < _MAX_SEEK_RETRIES else self._start
        return _nothing()

    def _seek(self, pts: int) -> bool:
        self._packets = None
        self._carry = None
        self._last_pts = None
        self._fed = None
        self._decoded_pts.clear()
        self._drained = False  # seeking flushes the decoder (PyAV's seek does)
        try:
            self._container.seek(pts, stream=self._stream, backward=True)
        except av.FFmpegError as exc:
            log.info("seek failed: %s", exc)
            return False
        return True

    def _decode(self, packets: _Lookahead) -> Frames:
        """Decoded frames with their pts; damaged packets are skipped.

        Where the run may (``_drain_at``), it stops feeding packets as soon as every frame it
        needs has been fed, and drains the decoder: a decoder holds frames back to put them in
        display order, so otherwise a few more frames (after a keyframe, its P-frame) are
        decoded only to push the wanted one out. See ``_needed`` for when that is. Where every
        target of the run is at one time, the packet with exactly that pts is the last one
        needed (a keyframe a sample snapped to); with earlier targets it is not enough, as
        frames shown before it may be decoded after it.
        """
        bad = 0
        fed = False
        for packet in packets:
            until = self._drain_at
            if fed and until is not None and not _needed(packet, packets, until):
                yield from self._drained_frames()
                return
            fed = True
            ts = _packet_ts(packet)
            if ts is not None:
                self._fed = ts if self._fed is None else max(self._fed, ts)
            if self._skip_nonref:
                self._set_skipping(packet, packets)
            self._stats.sent_packets += 1
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                self._stats.bad_packets += 1
                bad += 1
                if bad >= _MAX_BAD_PACKETS:
                    break
                continue
            bad = 0
            if packet.pts is not None:
                self._decoded_pts.append(packet.pts)
            yield from self._with_pts(decoded)
            if until is not None and self._drain_exact and packet.pts == until:
                yield from self._drained_frames()
                return
        else:
            if not self._cut_short:
                return  # the end-of-stream packet has drained the decoder
        yield from self._with_pts(self._drain())

    def _set_skipping(self, packet: Packet, packets: _Lookahead) -> None:
        """Let the decoder drop ``packet``'s frame if nothing refers to it and it is not the
        frame shown at the next target: well before it, or seen not to be, as a frame shown
        later (up to the target) was just decoded or is in the next packets. Applies per packet,
        also with frame threading."""
        want = self._want
        skip = (
            packet.pts is not None
            and want is not None
            and packet.pts < want
            and packet.pts < self._skip_before_end
            and (
                packet.pts < want - self._skip_margin
                or any(packet.pts < pts <= want for pts in self._decoded_pts)
                or _shown_later(packet, packets, want)
            )
        )
        if skip != self._skipping:
            self._stream.codec_context.skip_frame = "NONREF" if skip else "DEFAULT"
            self._skipping = skip
        if skip:
            self._stats.nonref_skippable += 1

    def _drained_frames(self) -> Frames:
        self._stats.drained_runs += 1
        self._drained = True
        yield from self._with_pts(self._drain())

    def _drain(self) -> list[object]:
        try:
            return list(self._stream.codec_context.decode(None))
        except av.FFmpegError:
            return []

    def _with_pts(self, frames: Iterable[object]) -> Frames:
        for frame in frames:
            if not isinstance(frame, VideoFrame):
                continue
            self._stats.decoded_frames += 1
            pts = frame.pts
            if self._synthetic:
                # Unusable timestamps: frame k is shown at k frame intervals (never seeks, so
                # the count runs from the stream's first frame).
                pts = self._start + round(self._counted * self._tpf)
                self._counted += 1
            elif pts is None:
                # No timestamps (raw H.264): frames come out in display order at the nominal rate.
                last = self._last_pts
                pts = self._start if last is None else last + round(self._tpf)
            self._last_pts = pts
            yield frame, pts

    def _undecodable(self, last_pts: int, target_pts: int) -> bool:
        """Whether the frame for ``target_pts`` exists but could not be decoded (as opposed to the
        target lying past the end, where the last frame is the one shown)."""
        timeline = self._timeline
        if timeline.complete and timeline.frames_between(last_pts, target_pts) > 0:
            return True
        key = timeline.keyframe_at_or_before(target_pts)
        if key is not None and key > last_pts:
            return True
        return self._stats.bad_packets > 0 and target_pts - last_pts > 2 * self._tpf

    def _sample(self, chosen: Decoded, target: Target) -> SampledFrame:
        # Converted per sample, even when two samples share a frame: each gets its own array.
        frame, pts = chosen
        return SampledFrame(
            sample_index=target.sample_index,
            time_s=float((pts - self._start) * self._tb),
            image=to_upright_rgb(frame, self._rotation),
        )


class _Lookahead:
    """Packets in decode order, with a look at those still to come (read, not decoded)."""

    def __init__(self, packets: Iterator[Packet]):
        self._packets = packets
        self._read: collections.deque[Packet] = collections.deque()

    def __iter__(self) -> _Lookahead:
        return self

    def __next__(self) -> Packet:
        return self._read.popleft() if self._read else next(self._packets)

    def push_front(self, packet: Packet) -> None:
        """Make ``packet`` the next one again (read, then found to be the one to start at)."""
        self._read.appendleft(packet)

    def ahead(self) -> Iterator[Packet]:
        """The packets after the current one, read as far as the caller goes."""
        i = 0
        while True:
            if i == len(self._read):
                packet = next(self._packets, None)
                if packet is None:
                    return
                self._read.append(packet)
            yield self._read[i]
            i += 1


def _needed(packet: Packet, packets: _Lookahead, until: int) -> bool:
    """Whether ``packet`` must be decoded for the frames shown up to ``until``: it holds one of
    them, or a packet decoded after it does (and may refer to it). Decode timestamps only grow
    and no frame is shown before it is decoded (pts >= dts), so from the first packet whose dts
    is past ``until`` on, none holds such a frame: only the packets up to there are read.
    Without timestamps, every packet is needed."""
    for p in itertools.chain([packet], itertools.islice(packets.ahead(), _MAX_LOOKAHEAD)):
        if p.dts is None or p.pts is None:
            return True
        if p.dts > until:
            return False
        if p.pts <= until:
            return True
    return True  # the data (or the read-ahead) ends first: decode on, as without draining


def _shown_later(packet: Packet, packets: _Lookahead, want: int) -> bool:
    """Whether a packet after ``packet`` holds a frame shown after ``packet``'s and no later
    than ``want``: then ``packet``'s frame is not the one shown at ``want``. Reads on only to
    the first packet whose dts is past ``want`` (see :func:`_needed`)."""
    for p in itertools.islice(packets.ahead(), _MAX_LOOKAHEAD):
        if p.dts is None or p.pts is None or p.dts > want:
            return False
        if packet.pts < p.pts <= want:
            return True
    return False


def _ticks(t: float, tb: Fraction) -> int:
    """``t`` seconds in whole ticks, rounded down (a frame starting after ``t`` is not shown at
    ``t``), with a thousandth of a tick of slack for the float error in e.g. ``0.04 * 25``."""
    return math.floor(t / tb + 1e-3)


def _packet_ts(packet: Packet) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


def _nothing() -> Frames:
    yield from ()


def _prepend(head: Decoded, rest: Frames) -> Frames:
    try:
        yield head
        yield from rest
    finally:
        rest.close()

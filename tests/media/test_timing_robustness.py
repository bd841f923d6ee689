"""Durations past the packet-scan limit, unusable timestamps, absurd frame sizes.

The long files are made cheap: small frames at 120 fps, and the scan limit
(``timeline.MAX_SCAN_PACKETS``) lowered so that a few hundred packets stand for 50,000. The
realistic case (12 minutes at 120 fps, the real limit) runs in the robustness corpus
(tests/robustness), through the CLI and the upload API.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from pathlib import Path

import pytest

from deepfake_detector.media import iter_sampled_frames, probe, sample_times, timeline
from deepfake_detector.media.decoder import DecodeStats, decode_samples
from deepfake_detector.media.plan import Target, plan_runs
from deepfake_detector.media.probe import FrameSizeError, _unusable
from deepfake_detector.media.timeline import PartialScanTimeline
from robustness.corpus import equal_pts_mkv, long_mkv, y4m_header, zero_stts_mp4

import video_factory

RATE = 120
LONG_FRAMES = 1200  # 10 s at 120 fps
CAP = 300  # packets a scan reads in these tests: 2.5 s worth


@pytest.fixture
def small_scan_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline, "MAX_SCAN_PACKETS", CAP)


def _shown(path: Path, times: list[float], **kwargs: object) -> list[int]:
    info = probe(str(path))
    samples = list(decode_samples(str(path), info, times, **kwargs))  # type: ignore[arg-type]
    assert [s.sample_index for s in samples] == list(range(len(times)))
    return [video_factory.read_index(s.image) for s in samples]


def _frame_at(t: float) -> int:
    """The frame shown at ``t`` in a 120 fps Matroska file (millisecond timestamps)."""
    return max(i for i in range(LONG_FRAMES) if round(i * 1000 / RATE) <= round(t * 1000))


def test_scan_cut_short_takes_the_container_duration(tmp_path: Path, small_scan_cap: None) -> None:
    """One keyframe, 1,200 frames, a scan that stops after 300: the span of those 300 (2.5 s)
    used to be taken as the duration, and the last 7.5 s were never sampled."""
    path = long_mkv(tmp_path / "long.mkv", LONG_FRAMES, size=(64, 64), numbered=True)
    info = probe(str(path))
    assert info.duration_s == pytest.approx(10.0)
    assert info.duration_source == "container"
    assert info.frame_count is None  # not counted: the scan did not see them all
    assert info.fps == pytest.approx(RATE)
    assert not info.variable_frame_rate and not info.synthetic_timing
    assert info.to_dict()["duration_source"] == "container"

    times = sample_times(info, count=8)
    assert times[-1] > 9.0
    stats = DecodeStats()
    shown = _shown(path, times, stats=stats)
    assert shown == [_frame_at(t) for t in times]
    assert stats.timeline == "partial-scan" and stats.seeks == 0  # one GOP: decoded straight


def test_live_webm_without_duration_is_read_to_its_end_and_sampled_by_seeking(
    tmp_path: Path, small_scan_cap: None
) -> None:
    """No cues and no duration (as a browser's MediaRecorder writes): the probe reads on to the
    last packet; the sampler seeks by timestamp past the keyframes FFmpeg has indexed so far."""
    path = long_mkv(
        tmp_path / "live.mkv",
        LONG_FRAMES,
        size=(64, 64),
        gop=24,
        numbered=True,
        container_options={"live": "1"},
    )
    info = probe(str(path))
    assert info.duration_s == pytest.approx(10.0)
    assert info.duration_source == "packets"
    assert info.frame_count == LONG_FRAMES

    times = sample_times(info, count=8)
    stats = DecodeStats()
    shown = _shown(path, times, stats=stats)
    assert shown == [_frame_at(t) for t in times]
    assert stats.seeks >= 4, "far targets are reached by seeking"
    assert stats.decoded_frames < LONG_FRAMES / 4


def test_partial_scan_timeline_estimates_keyframes_past_the_scan() -> None:
    # 1,000 frames scanned, a keyframe every 50; the stream goes on to frame 5,000.
    frames = array("q", range(1000))
    keys = array("q", range(0, 1000, 50))
    partial = PartialScanTimeline(frames, keys, 1.0, horizon=4999)
    assert partial.keyframe_at_or_before(120) == 100  # seen
    assert partial.keyframe_at_or_before(3000) == 2950  # estimated: one interval before
    assert partial.keyframe_at_or_before(9000) == 950  # past the end: the last one seen
    assert partial.frames_between(900, 1100) == 200  # 901..999 seen, 1000..1100 estimated
    targets = [Target(t, i) for i, t in enumerate((500, 2000, 3500, 4900))]
    plan = plan_runs(targets, partial, 0)
    assert plan.seeks == 4
    # A single keyframe seen: the GOP is longer than the scan; nothing to seek to.
    single = PartialScanTimeline(frames, array("q", [0]), 1.0, horizon=4999)
    assert single.keyframe_at_or_before(3000) == 0
    assert plan_runs(targets, single, 0).seeks == 0


@pytest.mark.parametrize(
    ("build", "name", "source"),
    [(equal_pts_mkv, "equal.mkv", "frame_count"), (zero_stts_mp4, "equal.mp4", "stream")],
)
def test_equal_timestamps_are_taken_as_evenly_spaced_frames(
    tmp_path: Path, build: Callable[[Path], Path], name: str, source: str
) -> None:
    """Every frame at time 0 (a broken muxer): used to raise StatisticsError ("internal
    error"); now the frames are taken in order, at the declared rate (the MP4's track duration
    says 0.8 s; the Matroska file declares only its rate)."""
    path = build(tmp_path / name)
    info = probe(str(path))
    assert info.synthetic_timing
    assert info.frame_count == 20
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(0.8)
    assert info.duration_source == source
    assert not info.variable_frame_rate

    times = sample_times(info, count=8)
    samples = list(iter_sampled_frames(str(path), info, times))
    shown = [video_factory.read_index(s.image) for s in samples]
    assert shown == [int(t * 25) for t in times]
    assert [s.time_s for s in samples] == pytest.approx([i / 25 for i in shown])


def test_timestamps_are_unusable_when_most_are_equal() -> None:
    assert _unusable([0] * 20)
    assert _unusable([0] * 18 + [40, 80])
    assert not _unusable([0, 40, 40, 80, 120])  # a duplicate or two is a glitch, not broken
    assert not _unusable([0])
    assert not _unusable([])


def test_absurd_declared_size_says_how_large(tmp_path: Path) -> None:
    path = y4m_header(tmp_path / "huge.y4m", 12000, 12000)
    with pytest.raises(FrameSizeError) as caught:
        probe(str(path))
    assert (caught.value.width, caught.value.height) == (12000, 12000)
    assert "12000x12000" in str(caught.value)

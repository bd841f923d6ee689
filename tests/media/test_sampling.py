"""Sampling: target times spread over the whole video, and the exact frame shown at each.

Frame accuracy is checked on clips whose frames draw their own index, in containers and codecs
that seek differently, under every decoding strategy.
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path

import av
import numpy as np
import pytest
from media_clips import BFRAMES, FPS, INDEXED_FRAMES, NO_BFRAMES

from deepfake_detector.media import SampledFrame, iter_sampled_frames, probe, sample_times
from deepfake_detector.media.decoder import DecodeStats, decode_samples
from deepfake_detector.media.plan import Strategy, Target, plan_runs
from deepfake_detector.media.probe import VideoInfo
from deepfake_detector.media.timeline import ScanTimeline

import video_factory


def _info(duration_s: float, fps: float = 25.0, frame_count: int | None = None) -> VideoInfo:
    return VideoInfo(duration_s, fps, 64, 64, 0, "h264", frame_count, False, "mp4")


def _shown_at(t: float, frame_times: list[float]) -> int:
    """Index of the frame displayed at ``t``: the last one starting at or before it (the first
    one before the start, the last one after the end)."""
    shown = 0
    for i, ft in enumerate(frame_times):
        if ft <= t + 1e-9:
            shown = i
    return shown


def _check_samples(
    samples: list[SampledFrame], times: list[float], frame_times: list[float]
) -> None:
    assert sorted(s.sample_index for s in samples) == list(range(len(times)))
    assert [s.time_s for s in samples] == sorted(s.time_s for s in samples), "not in time order"
    for s in samples:
        want = _shown_at(times[s.sample_index], frame_times)
        assert s.image.dtype == np.uint8 and s.image.shape == (64, 64, 3)
        got = video_factory.read_index(s.image)
        assert got == want, f"t={times[s.sample_index]:.4f}: got frame {got}, want {want}"
        assert s.time_s == pytest.approx(frame_times[want], abs=1e-3)


# --- sample_times ---------------------------------------------------------------------------


def test_sample_times_cover_the_whole_video_evenly() -> None:
    times = sample_times(_info(60.0, frame_count=1500), count=32)
    assert len(times) == 32
    assert times[0] == pytest.approx(60 / 64)  # centre of the first of 32 segments
    assert times[-1] == pytest.approx(60 - 60 / 64)
    gaps = np.diff(times)
    assert np.allclose(gaps, 60 / 32)


def test_sample_times_never_exceed_max_frames_or_frame_count() -> None:
    assert len(sample_times(_info(60.0), count=500, max_frames=100)) == 100
    assert len(sample_times(_info(2.0, frame_count=7), count=32)) == 7
    assert len(sample_times(_info(2.0, fps=10.0), count=32)) == 20  # no count: duration * fps


def test_sample_times_per_second() -> None:
    times = sample_times(_info(10.0), per_second=2.5)
    assert len(times) == 25
    assert len(sample_times(_info(1000.0), per_second=2.0, max_frames=256)) == 256


def test_sample_times_at_least_one() -> None:
    assert sample_times(_info(0.04, frame_count=1), count=32) == [pytest.approx(0.02)]
    assert len(sample_times(_info(0.0), per_second=1.0)) == 1


def test_sample_times_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        sample_times(_info(1.0), count=0)
    with pytest.raises(ValueError):
        sample_times(_info(1.0), per_second=0)
    with pytest.raises(ValueError):
        sample_times(_info(1.0), max_frames=0)


def test_one_sample_per_frame_hits_every_frame(indexed_clips: dict[str, Path]) -> None:
    path = str(indexed_clips["mp4-bframes"])
    info = probe(path)
    times = sample_times(info, count=1000, max_frames=1000)
    assert len(times) == INDEXED_FRAMES
    got = [video_factory.read_index(s.image) for s in iter_sampled_frames(path, info, times)]
    assert got == list(range(INDEXED_FRAMES))


# --- frame accuracy -------------------------------------------------------------------------

# Exact frame times, times between frames, one tick before a frame, before the start, past the
# end, a duplicate, and not in order.
ACCURACY_TIMES = [
    3.0,
    0.0,
    0.02,
    1.0,
    1.0,
    1.0 - 1e-4,
    2.48,
    2.5,
    4.44,
    4.45,
    5.96,
    5.99,
    -1.0,
    100.0,
    0.52,
    3.7,
]


@pytest.mark.parametrize("frame_threads", [False, True], ids=["slice-threads", "frame-threads"])
@pytest.mark.parametrize("strategy", ["auto", "straight", "seek"])
@pytest.mark.parametrize(
    "clip", ["mp4-bframes", "mp4", "mkv-bframes", "ts-bframes", "webm-vp9", "avi-mjpeg"]
)
def test_frame_accurate(
    indexed_clips: dict[str, Path], clip: str, strategy: Strategy, frame_threads: bool
) -> None:
    path = str(indexed_clips[clip])
    info = probe(path)
    stats = DecodeStats()
    samples = list(
        decode_samples(
            path, info, ACCURACY_TIMES, strategy=strategy, frame_threads=frame_threads, stats=stats
        )
    )
    _check_samples(samples, ACCURACY_TIMES, [i / FPS for i in range(INDEXED_FRAMES)])
    assert stats.dropped_samples == 0
    if strategy != "straight" and clip != "avi-mjpeg":
        assert stats.seeks > 0  # the plan did skip GOPs


def test_sparse_targets_decode_fewer_frames_than_straight(indexed_clips: dict[str, Path]) -> None:
    path = str(indexed_clips["mp4-bframes"])
    info = probe(path)
    times = [1.1, 3.3, 5.5]
    counts = {}
    strategies: tuple[Strategy, ...] = ("auto", "straight")
    for strategy in strategies:
        stats = DecodeStats()
        frames = decode_samples(
            path, info, times, strategy=strategy, skip_nonref=False, stats=stats
        )
        _check_samples(list(frames), times, [i / FPS for i in range(INDEXED_FRAMES)])
        counts[strategy] = stats.decoded_frames
    assert counts["straight"] >= 138
    assert counts["auto"] <= counts["straight"] / 2


def test_skipping_unreferenced_frames_changes_no_sample(indexed_clips: dict[str, Path]) -> None:
    """B-frames that no frame refers to are dropped on the way to a target, never at it."""
    path = str(indexed_clips["mp4-bframes"])
    info = probe(path)
    times = [i * 0.53 for i in range(12)]  # every 13.25 frames: all phases of the B-frame groups
    runs = {}
    for skip in (False, True):
        stats = DecodeStats()
        frames = decode_samples(
            path, info, times, strategy="straight", skip_nonref=skip, stats=stats
        )
        samples = list(frames)
        _check_samples(samples, times, [i / FPS for i in range(INDEXED_FRAMES)])
        runs[skip] = stats
    assert runs[True].nonref_skippable > 0
    assert runs[True].decoded_frames < runs[False].decoded_frames


@pytest.mark.parametrize("frame_threads", [False, True], ids=["slice-threads", "frame-threads"])
@pytest.mark.parametrize("clip", ["mp4-bframes", "mkv-bframes", "ts-bframes"])
@pytest.mark.parametrize("step", [0.13, 0.21, 0.25, 0.29])
def test_skipping_frames_just_before_a_target_changes_no_sample(
    indexed_clips: dict[str, Path], clip: str, step: float, frame_threads: bool
) -> None:
    """Near a target, an unreferenced frame is dropped only where a frame shown after it (and
    not after the target) was just decoded or comes next: targets 3 to 7 frames apart, on and
    between frames, every phase of the B-frame groups."""
    path = str(indexed_clips[clip])
    info = probe(path)
    times = [0.02 + i * step for i in range(int(5.9 / step))]
    runs = {}
    for skip in (False, True):
        stats = DecodeStats()
        frames = decode_samples(
            path, info, times, strategy="straight", skip_nonref=skip,
            frame_threads=frame_threads, stats=stats,
        )  # fmt: skip
        _check_samples(list(frames), times, [i / FPS for i in range(INDEXED_FRAMES)])
        runs[skip] = stats
    assert runs[True].decoded_frames <= runs[False].decoded_frames
    if not frame_threads:  # frame threads hold frames longer: the next target is known later
        assert runs[True].decoded_frames < runs[False].decoded_frames


def test_dense_targets_decode_straight_through(indexed_clips: dict[str, Path]) -> None:
    path = str(indexed_clips["mp4-bframes"])
    info = probe(path)
    stats = DecodeStats()
    times = sample_times(info, count=75)
    assert len(list(decode_samples(path, info, times, stats=stats))) == 75
    assert stats.seeks == 0
    assert stats.decoded_frames <= INDEXED_FRAMES


def test_variable_frame_rate_samples_are_the_frames_shown(media_dir: Path) -> None:
    frame_times = [0.0, 0.04, 0.08, 0.5, 0.55, 1.3, 1.34, 1.38, 2.5, 2.6, 2.64, 4.0]
    for ext in ("mp4", "mkv"):
        path = video_factory.indexed_video(
            media_dir / f"vfr_samples.{ext}", len(frame_times), times=frame_times, options=BFRAMES
        )
        info = probe(str(path))
        times = [*sample_times(info, count=16), 0.3, 0.5, 1.0, 2.55, 3.99, 4.0]
        samples = list(iter_sampled_frames(str(path), info, times))
        _check_samples(samples, times, frame_times)


def test_stream_not_starting_at_zero(media_dir: Path) -> None:
    """Times count from the stream's first frame, wherever its timestamps start."""
    frame_times = [i / FPS for i in range(50)]
    for name, offset, options in [
        ("late.mp4", 1.0, {}),
        ("late.mkv", 1.0, {}),
        ("negative.ts", -0.4, {"avoid_negative_ts": "disabled"}),
    ]:
        path = video_factory.indexed_video(
            media_dir / name,
            50,
            times=[offset + t for t in frame_times],
            options=BFRAMES,
            container_options=options,
        )
        info = probe(str(path))
        assert info.duration_s == pytest.approx(2.0, abs=0.05)
        times = [0.0, 0.5, 1.0, 1.97]
        samples = list(iter_sampled_frames(str(path), info, times))
        _check_samples(samples, times, frame_times)


def test_stream_without_timestamps(media_dir: Path) -> None:
    """Raw H.264 has no timestamps: frames are timed by their order at the nominal rate."""
    path = video_factory.indexed_video(
        media_dir / "raw.h264", 30, options=NO_BFRAMES, container_format="h264"
    )
    info = probe(str(path))
    assert info.frame_count == 30
    assert info.duration_s == pytest.approx(30 / FPS)
    times = sample_times(info, count=5)
    samples = list(iter_sampled_frames(str(path), info, times))
    _check_samples(samples, times, [i / FPS for i in range(30)])


# --- rotation ------------------------------------------------------------------------------


@pytest.mark.parametrize("display_ccw", [90, 180, 270])
def test_rotated_frames_come_out_upright(media_dir: Path, display_ccw: int) -> None:
    # Store each frame turned clockwise by the angle the display matrix turns it back by.
    frames = [np.rot90(video_factory.index_frame(i), k=-display_ccw // 90) for i in range(10)]
    path = video_factory.write_video(
        media_dir / f"rot{display_ccw}.mp4", frames, rotation=display_ccw, pix_fmt="yuv444p"
    )
    info = probe(str(path))
    assert info.rotation == (-display_ccw) % 360
    times = [0.0, 0.2, 0.39]
    samples = list(iter_sampled_frames(str(path), info, times))
    assert [video_factory.read_index(s.image) for s in samples] == [0, 5, 9]
    assert all(s.image.flags["C_CONTIGUOUS"] for s in samples)


def test_rotated_fixture_matches_the_unrotated_clip(rotated_video: Path, media_dir: Path) -> None:
    original = video_factory.panning_face(media_dir / "panning_2s.mp4", duration_s=2.0)
    times = [0.3, 1.0, 1.7]
    info = probe(str(rotated_video))
    upright = [s.image for s in iter_sampled_frames(str(rotated_video), info, times)]
    reference = [s.image for s in iter_sampled_frames(str(original), probe(str(original)), times)]
    for got, want in zip(upright, reference, strict=True):
        assert got.shape == want.shape == (360, 640, 3)
        diff = np.abs(got.astype(int) - want.astype(int)).mean()
        wrong_way = np.abs(np.rot90(got, 2).astype(int) - want.astype(int)).mean()
        assert diff < 6, diff
        assert wrong_way > 4 * diff


# --- the public iterator ------------------------------------------------------------------------


def test_samples_span_the_fixture_video(panning_video: Path) -> None:
    info = probe(str(panning_video))
    times = sample_times(info, count=32)
    samples = list(iter_sampled_frames(str(panning_video), info, times))
    assert len(samples) == 32
    assert samples[0].time_s < 0.1
    assert samples[-1].time_s > info.duration_s - 0.1
    assert all(s.image.shape == (360, 640, 3) and s.image.dtype == np.uint8 for s in samples)
    assert np.allclose(np.diff([s.time_s for s in samples]), info.duration_s / 32, atol=0.041)


def test_duplicate_targets_get_their_own_arrays(indexed_clips: dict[str, Path]) -> None:
    path = str(indexed_clips["mp4"])
    info = probe(path)
    a, b = iter_sampled_frames(path, info, [1.0, 1.0])
    assert (a.sample_index, b.sample_index) == (0, 1)
    assert a.time_s == b.time_s == pytest.approx(1.0)
    a.image[:] = 0
    assert video_factory.read_index(b.image) == 25


def test_no_times_no_frames(indexed_clips: dict[str, Path]) -> None:
    path = str(indexed_clips["mp4"])
    assert list(iter_sampled_frames(path, probe(path), [])) == []


# --- the planner on its own --------------------------------------------------------------


def _timeline(frames: int, gop: int) -> ScanTimeline:
    return ScanTimeline(array("q", range(frames)), array("q", range(0, frames, gop)))


def _targets(*pts: int) -> list[Target]:
    return [Target(p, i) for i, p in enumerate(pts)]


def test_plan_serves_targets_in_one_gop_with_one_decode() -> None:
    plan = plan_runs(_targets(102, 105, 109), _timeline(1000, 50), 0, seek_cost=5)
    assert len(plan.runs) == 1
    assert plan.runs[0].seek_pts == 102 and plan.runs[0].key_pts == 100


def test_plan_seeks_only_when_skipping_pays() -> None:
    # Keyframes every 10 frames, seek worth 5 frames. Target 3 then 12: only frames 4..9 lie
    # before keyframe 10 (6 > 5): seek. Target 12 then 21: frames 13..19 (7): seek.
    plan = plan_runs(_targets(3, 12, 21), _timeline(100, 10), 0, seek_cost=5)
    assert [r.seek_pts for r in plan.runs] == [None, 12, 21]
    # With seeks worth 8 frames, decoding on is cheaper.
    plan = plan_runs(_targets(3, 12, 21), _timeline(100, 10), 0, seek_cost=8)
    assert [r.seek_pts for r in plan.runs] == [None]
    assert plan.frames <= 23


def test_plan_straight_never_seeks_and_seek_always_does() -> None:
    targets = _targets(*range(5, 1000, 100))
    assert plan_runs(targets, _timeline(1000, 10), 0, "straight").seeks == 0
    assert plan_runs(targets, _timeline(1000, 10), 0, "seek").seeks == 10
    auto = plan_runs(targets, _timeline(1000, 10), 0, "auto")
    assert auto.frames < 0.1 * plan_runs(targets, _timeline(1000, 10), 0, "straight").frames


def test_plan_with_unknown_keyframes_decodes_straight() -> None:
    from deepfake_detector.media.timeline import UnknownTimeline

    plan = plan_runs(_targets(5, 500, 900), UnknownTimeline(1.0), 0)
    assert plan.seeks == 0 and len(plan.runs) == 1


def test_sample_count_math() -> None:
    # ceil, not round: 2.1 s at 1/s is 3 samples.
    assert len(sample_times(_info(2.1), per_second=1.0)) == math.ceil(2.1)


def test_tolerance_trades_exact_times_for_cheap_frames(indexed_clips: dict[str, Path]) -> None:
    """With a tolerance each sample is the cheapest frame near its time, labelled with its own
    time; keyframes (at most 12 frames, 0.48 s, apart) are always within 0.25 s."""
    path = str(indexed_clips["mp4-bframes"])
    info = probe(path)
    with av.open(path) as container:
        stream = container.streams.video[0]
        keyframes = {
            round(p.pts * stream.time_base * FPS) for p in container.demux(stream) if p.is_keyframe
        }
    times = [0.7, 1.9, 3.1, 4.3, 5.5]
    exact, near = DecodeStats(), DecodeStats()
    assert len(list(decode_samples(path, info, times, stats=exact))) == 5
    samples = list(decode_samples(path, info, times, tolerance_s=0.25, stats=near))
    assert [s.sample_index for s in samples] == [0, 1, 2, 3, 4]
    for s in samples:
        assert abs(s.time_s - times[s.sample_index]) <= 0.25
        shown = video_factory.read_index(s.image)
        assert shown == round(s.time_s * FPS) and shown in keyframes
    assert near.decoded_frames < exact.decoded_frames / 2


def test_snapped_samples_are_keyframes_within_reach_and_cheaper(
    indexed_clips: dict[str, Path],
) -> None:
    """``snap`` lets each sample move by a fraction of the spacing to a keyframe in reach: the
    samples stay distinct, in order and near their times, and far fewer frames are decoded."""
    path = str(indexed_clips["mp4"])  # a keyframe every 12 frames (0.48 s)
    info = probe(path)
    times = sample_times(info, count=8)  # 0.75 s apart
    reach = 0.45 * 0.75
    exact = list(iter_sampled_frames(path, info, times))
    snapped = list(iter_sampled_frames(path, info, times, snap=0.45))
    assert [f.sample_index for f in snapped] == list(range(8))
    shown = [round(f.time_s * FPS) for f in snapped]
    assert shown == sorted(set(shown)), "distinct frames, in order"
    for frame, target in zip(snapped, times, strict=True):
        assert abs(frame.time_s - target) <= reach + 1 / FPS
        keyframes_in_reach = [
            k for k in range(0, INDEXED_FRAMES, 12) if abs(k / FPS - target) <= reach
        ]
        if keyframes_in_reach:
            assert round(frame.time_s * FPS) % 12 == 0, (target, frame.time_s)
    assert [f.time_s for f in exact] != [f.time_s for f in snapped]

    counts = {}
    for tolerance in (0.0, reach):
        stats = DecodeStats()
        list(decode_samples(path, info, times, tolerance_s=tolerance, stats=stats))
        counts[tolerance] = stats.decoded_frames
    assert counts[reach] <= counts[0.0] / 2, counts


# Target sets for draining: B-frames alone, which need a later frame decoded before them
# (B-frame pyramid: frame 4 before frames 1-3), exact frame times in one GOP whose later frame
# is decoded first, times between frames, keyframes, targets sharing a frame, the last frame and
# past the end.
DRAIN_TIMES = [
    [0.04],
    [0.08],
    [0.12],
    [1.04, 2.52],
    [2.6, 3.4],
    [0.04, 0.16],
    [0.04, 0.08, 0.12, 0.16],
    [0.5, 1.0, 1.5, 2.0, 2.5],
    [0.47, 0.49, 1.93, 1.95, 4.31],
    [0.48, 0.96, 1.44, 2.88, 5.76],
    [0.96, 0.96, 3.84, 3.85],
    [5.96, 100.0],
    [1.0, 5.99],
]


@pytest.mark.parametrize("frame_threads", [False, True], ids=["slice-threads", "frame-threads"])
@pytest.mark.parametrize(
    "clip", ["mp4-bframes", "mp4", "mkv-bframes", "ts-bframes", "webm-vp9", "avi-mjpeg"]
)
def test_draining_at_the_end_of_a_run_changes_no_sample(
    indexed_clips: dict[str, Path], clip: str, frame_threads: bool
) -> None:
    """A run that ends by draining the decoder gives the very frames that decoding on does."""
    path = str(indexed_clips[clip])
    info = probe(path)
    drained = saved = 0
    for times in DRAIN_TIMES:
        for strategy in ("auto", "seek"):
            got = {}
            for drain in (False, True):
                stats = DecodeStats()
                samples = list(
                    decode_samples(
                        path,
                        info,
                        times,
                        strategy=strategy,
                        frame_threads=frame_threads,
                        drain=drain,
                        stats=stats,
                    )
                )
                _check_samples(samples, times, [i / FPS for i in range(INDEXED_FRAMES)])
                got[drain] = stats
            assert got[True].dropped_samples == 0
            assert got[True].decoded_frames <= got[False].decoded_frames
            assert got[True].sent_packets <= got[False].sent_packets
            assert got[False].drained_runs == 0
            drained += got[True].drained_runs
            saved += got[False].sent_packets - got[True].sent_packets
    # MPEG-TS cannot seek exactly: only its last run may drain, as the others are followed by
    # reading on, not by a seek.
    assert drained > 0 and saved > 0


def test_a_sample_snapped_to_a_keyframe_decodes_that_frame_only(
    indexed_clips: dict[str, Path],
) -> None:
    """The decoder holds frames back to reorder them: without draining, a keyframe comes out
    only after the frames decoded after it (here at least its P-frame)."""
    path = str(indexed_clips["mp4-bframes"])  # a keyframe about every 12 frames
    info = probe(path)
    with av.open(path) as container:
        stream = container.streams.video[0]
        keyframes = sorted(
            round(p.pts * stream.time_base * FPS) for p in container.demux(stream) if p.is_keyframe
        )
    times = [k / FPS for k in keyframes[1::2]]  # every other keyframe: one seek each
    assert len(times) >= 5
    counts = {}
    for drain in (False, True):
        stats = DecodeStats()
        samples = list(decode_samples(path, info, times, drain=drain, stats=stats))
        _check_samples(samples, times, [i / FPS for i in range(INDEXED_FRAMES)])
        counts[drain] = stats.decoded_frames
        assert stats.drained_runs == (len(times) if drain else 0)
    assert counts[True] == len(times)
    assert counts[False] >= 2 * len(times)


def test_snap_is_a_setting_checked_for_its_range(indexed_clips: dict[str, Path]) -> None:
    from deepfake_detector.config import AnalysisSettings, SettingsError, settings_from_env

    assert settings_from_env({"DFD_SAMPLE_SNAP": "0.4"}).sample_snap == 0.4
    for bad in (-0.1, 0.6):
        with pytest.raises(SettingsError, match="DFD_SAMPLE_SNAP"):
            AnalysisSettings(sample_snap=bad)
        with pytest.raises(ValueError, match=r"between 0 and 0\.5"):
            iter_sampled_frames(
                str(indexed_clips["mp4"]), probe(str(indexed_clips["mp4"])), [1.0], bad
            )


def test_sampling_that_would_decode_too_much_is_refused_before_decoding(
    indexed_clips: dict[str, Path],
) -> None:
    from deepfake_detector.errors import MediaError

    path = str(indexed_clips["mp4"])  # 64x64, a keyframe every 12 frames
    info = probe(path)
    times = sample_times(info, count=8)
    stats = DecodeStats()
    assert len(list(decode_samples(path, info, times, stats=stats))) == 8
    planned = stats.planned_frames * 64 * 64
    assert len(list(decode_samples(path, info, times, max_decode_pixels=planned))) == 8
    refused = DecodeStats()
    with pytest.raises(MediaError, match=r"decoding about \d+ frames of 0\.0 megapixels") as exc:
        list(decode_samples(path, info, times, max_decode_pixels=planned - 1, stats=refused))
    assert "keyframe every few seconds" in str(exc.value)
    assert refused.decoded_frames == 0, "refused from the plan, before decoding"


def test_the_cli_reports_a_video_too_costly_to_sample(
    indexed_clips: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from deepfake_detector import cli

    monkeypatch.setenv("DFD_MAX_DECODE_MEGAPIXELS", "0.001")
    code = cli.main(["scan", str(indexed_clips["mp4"]), "--format", "json", "--quiet"])
    result = json.loads(capsys.readouterr().out)
    assert code == 2 and result["verdict"] == "ERROR"
    assert "Re-encode it smaller or with a keyframe every few seconds" in result["error"]


def test_reading_ahead_is_bounded_and_then_decodes() -> None:
    """Timestamps far apart from decode to display (here dts = pts - 1000 frames) would mean
    reading far ahead to decide: the read-ahead stops at its bound and the packet is decoded,
    as without reading ahead."""
    from types import SimpleNamespace

    from deepfake_detector.media import decoder

    stream = (SimpleNamespace(pts=i + 1000, dts=i) for i in range(5000))
    packets = decoder._Lookahead(stream)  # type: ignore[arg-type]
    first = next(packets)
    assert decoder._needed(first, packets, until=500)  # undecided within the bound
    assert len(packets._read) == decoder._MAX_LOOKAHEAD
    assert next(packets).pts == 1001  # nothing read ahead is lost

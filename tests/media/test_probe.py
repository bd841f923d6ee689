"""Probing: what a video declares, read correctly for the shapes videos come in."""

from __future__ import annotations

from pathlib import Path

import pytest
from media_clips import BFRAMES, INDEXED_FRAMES

from deepfake_detector.media import VideoInfo, probe

import video_factory


def test_probe_fixture_clip(panning_video: Path) -> None:
    info = probe(str(panning_video))
    assert info == VideoInfo(
        duration_s=4.0,
        fps=25.0,
        width=640,
        height=360,
        rotation=0,
        codec="h264",
        frame_count=100,
        variable_frame_rate=False,
        container="mov,mp4,m4a,3gp,3g2,mj2",
    )
    assert info.to_dict()["duration_s"] == 4.0


@pytest.mark.parametrize(
    "fixture", ["zooming_video", "two_faces_video", "no_face_video", "rotated_video"]
)
def test_probe_other_fixtures(fixture: str, request: pytest.FixtureRequest) -> None:
    info = probe(str(request.getfixturevalue(fixture)))
    assert (info.width, info.height) == (640, 360)  # displayed size, rotation applied
    assert info.fps == 25.0
    assert info.frame_count == round(info.duration_s * 25)
    assert not info.variable_frame_rate


def test_probe_rotated_fixture(rotated_video: Path) -> None:
    info = probe(str(rotated_video))
    # Stored 360x640 and turned a quarter clockwise; the display matrix turns it back 90 degrees
    # counter-clockwise, i.e. 270 clockwise.
    assert info.rotation == 270
    assert (info.width, info.height) == (640, 360)
    assert info.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize("clip", ["mp4-bframes", "mkv-bframes", "ts-bframes", "webm-vp9"])
def test_probe_containers(indexed_clips: dict[str, Path], clip: str) -> None:
    info = probe(str(indexed_clips[clip]))
    assert info.duration_s == pytest.approx(INDEXED_FRAMES / 25, abs=0.05)
    assert info.fps == pytest.approx(25.0, rel=0.01)
    assert info.frame_count == INDEXED_FRAMES  # declared (mp4) or counted (the others)
    assert (info.width, info.height, info.rotation) == (64, 64, 0)
    assert not info.variable_frame_rate


@pytest.mark.parametrize("ext", ["mp4", "mkv", "ts"])
def test_probe_variable_frame_rate(media_dir: Path, ext: str) -> None:
    times = [0.0, 0.04, 0.08, 0.5, 0.55, 1.3, 1.34, 1.38, 2.5, 2.6, 2.64, 4.0]
    path = video_factory.indexed_video(
        media_dir / f"vfr_probe.{ext}",
        len(times),
        times=times,
        options=BFRAMES,
        container_format="mpegts" if ext == "ts" else None,
    )
    info = probe(str(path))
    assert info.variable_frame_rate
    assert info.frame_count == len(times)
    assert info.duration_s == pytest.approx(4.04, abs=0.05)
    assert info.fps == pytest.approx(len(times) / info.duration_s, rel=0.05)


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_probe_ntsc_rate_is_constant(media_dir: Path, ext: str) -> None:
    path = video_factory.indexed_video(media_dir / f"ntsc.{ext}", 60, fps=30000 / 1001)
    info = probe(str(path))
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert not info.variable_frame_rate


def test_probe_counts_frames_without_timestamps(media_dir: Path) -> None:
    path = video_factory.indexed_video(
        media_dir / "probe_raw.h264", 20, container_format="h264", options={"preset": "ultrafast"}
    )
    info = probe(str(path))
    assert info.container == "h264"
    assert info.frame_count == 20
    assert info.duration_s == pytest.approx(0.8)


def test_probe_grayscale(media_dir: Path) -> None:
    frames = [video_factory.index_frame(i) for i in range(5)]
    path = video_factory.encode_video(media_dir / "gray.mkv", frames, codec="ffv1", pix_fmt="gray")
    info = probe(str(path))
    assert (info.codec, info.width, info.height) == ("ffv1", 64, 64)

"""The browser-playable copy: which uploads need one (decided on real clips, probed), and the
copy of real MPEG-4 Part 2 clips made with PyAV, decoded again with PyAV to check its codec,
size, frame times, sound and orientation."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from deepfake_detector.errors import MediaError
from deepfake_detector.media.preview import (
    PlaybackFormat,
    make_preview,
    needs_preview,
    playback_format,
    preview_size,
)
from deepfake_detector.media.probe import probe
from deepfake_detector.media.reader import to_upright_rgb

import video_factory

SMALL = (96, 64)
"""Frames big enough for :func:`video_factory.index_frame`'s 4x4 cells of 16 pixels."""


def indexed(n: int, size: tuple[int, int] = SMALL) -> list[np.ndarray]:
    return [video_factory.index_frame(i, size) for i in range(n)]


def _clip(
    name: str, codec: str, fmt: str | None = None, **kwargs: object
) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        return video_factory.encode_video(
            folder / name, indexed(12), codec=codec, container_format=fmt, **kwargs
        )

    return make


def _with_sound(name: str, codec: str, audio: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        return video_factory.with_sound(folder / name, indexed(12), codec=codec, audio_codec=audio)

    return make


# (what, clip, browsers play it as it is)
CLIPS = [
    ("H.264 in MP4", _clip("h264.mp4", "libx264"), True),
    ("H.264 + AAC in MP4", _with_sound("h264_aac.mp4", "libx264", "aac"), True),
    ("VP9 in WebM", _clip("vp9.webm", "libvpx-vp9", options={"deadline": "realtime"}), True),
    ("MPEG-4 Part 2 in AVI", _clip("mpeg4.avi", "mpeg4"), False),
    ("MPEG-4 Part 2 + AAC in MP4", _with_sound("mpeg4_aac.mp4", "mpeg4", "aac"), False),
    ("MPEG-2 in MPEG-TS", _clip("mpeg2.ts", "mpeg2video", "mpegts"), False),
    ("HEVC in MP4", _clip("hevc.mp4", "libx265", options={"preset": "ultrafast"}), False),
    ("Motion JPEG in AVI", _clip("mjpeg.avi", "mjpeg", pix_fmt="yuvj420p"), False),
    ("H.264 in Matroska", _clip("h264.mkv", "libx264"), False),
    ("WMV 8 in ASF", _clip("wmv2.wmv", "wmv2", "asf"), False),
]


@pytest.mark.parametrize(("what", "make", "plays"), CLIPS, ids=[c[0] for c in CLIPS])
def test_which_uploads_need_a_playable_copy(
    tmp_path: Path, what: str, make: Callable[[Path], Path], plays: bool
) -> None:
    clip = make(tmp_path)
    info = probe(str(clip))
    found = playback_format(clip)
    assert needs_preview(info) is not plays, (what, info.codec, info.container)
    assert needs_preview(found) is not plays, found
    assert (found.problem() is None) is plays
    if not plays:
        assert "browsers" in str(found.problem())


def test_sound_and_pixel_format_count_too(tmp_path: Path) -> None:
    """H.264 in MP4 plays, but not with PCM sound (a camera's QuickTime file) or in 4:4:4:
    only the full format (not the probe's video codec alone) tells."""
    pcm = video_factory.with_sound(
        tmp_path / "pcm.mov", indexed(12), codec="libx264", audio_codec="pcm_s16le"
    )
    full = video_factory.encode_video(
        tmp_path / "444.mp4", indexed(12), pix_fmt="yuv444p", options={"preset": "ultrafast"}
    )
    for clip, problem in ((pcm, "pcm_s16le audio"), (full, "yuv444p")):
        assert not needs_preview(probe(str(clip)))  # the container and video codec are fine
        found = playback_format(clip)
        assert needs_preview(found) and problem in str(found.problem()), found
    assert playback_format(pcm).describe() == "H.264 video (h264), PCM audio in MP4/QuickTime"


def test_the_format_in_words() -> None:
    assert PlaybackFormat("avi", "mpeg4").describe() == "MPEG-4 Part 2 video (mpeg4) in AVI"
    assert PlaybackFormat("matroska,webm", "libdav1d", "opus").problem() is None
    assert PlaybackFormat("weird", "something").describe() == "something video in weird"


def test_the_copy_keeps_the_shape_with_even_sides() -> None:
    assert preview_size(640, 360, 720) == (640, 360)  # never enlarged
    assert preview_size(1920, 1080, 720) == (720, 404)
    assert preview_size(1080, 1920, 720) == (404, 720)
    assert preview_size(101, 51, 720) == (100, 52)
    assert preview_size(720, 576, 720, pixel_aspect=16 / 15) == (720, 540)  # PAL 4:3, square
    assert preview_size(4000, 3000, 721) == (720, 540)
    with pytest.raises(ValueError):
        preview_size(0, 10, 720)


def _frames(path: Path, *, copy: bool = False) -> list[tuple[float, np.ndarray, int]]:
    """Every decoded picture: its time, the picture turned upright, and the rotation its flag
    asked for. A source's times count from its video stream's start, as the analysis counts
    them (``time_s``); a copy's are its timestamps as they are, as a browser's ``currentTime``
    shows them (from 0, whatever the first frame's time)."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = 0 if copy else (stream.start_time or 0)
        for frame in container.decode(stream):
            rotation = (-round((frame.rotation or 0) / 90) * 90) % 360
            t = float((frame.pts - start) * stream.time_base)
            out.append((t, to_upright_rgb(frame, rotation), rotation))
    return out


def _sound(path: Path, *, copy: bool = False) -> tuple[str, float, float | None]:
    """The audio codec, the sound's end and when the tone starts, in seconds on the same time
    line as :func:`_frames`."""
    with av.open(str(path)) as container:
        video_start = 0 if copy else (container.streams.video[0].start_time or 0)
        video_tb = container.streams.video[0].time_base
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        onset, end = None, 0.0
        for frame in container.decode(stream):
            data = frame.to_ndarray().astype(np.float64)
            if data.dtype.kind != "f" or np.abs(data).max() > 2:
                data /= 32768.0
            t = float(frame.time) - float(video_start * video_tb)
            if onset is None and video_factory.tone_level(data) > 0.1:
                onset = t
            end = t + frame.samples / frame.sample_rate
    return codec, end, onset


def _moov_first(path: Path) -> bool:
    """Whether the MP4's index (moov) comes before its media data (mdat)."""
    data = path.read_bytes()
    position, order = 0, []
    while position + 8 <= len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        order.append(data[position + 4 : position + 8])
        if size < 8:
            break
        position += size
    return order.index(b"moov") < order.index(b"mdat")


@pytest.mark.parametrize(
    ("name", "audio", "options"),
    [
        ("camera.avi", "pcm_s16le", {"bf": "2"}),  # B-frames, packed as DivX/Xvid cameras do
        ("phone.mp4", "aac", {}),
        ("old.avi", "libmp3lame", {}),
    ],
)
def test_a_copy_of_mpeg4_part2_keeps_every_frame_time_and_the_sound(
    tmp_path: Path, name: str, audio: str, options: dict[str, str]
) -> None:
    fps = 25
    source = video_factory.with_sound(
        tmp_path / name, indexed(60), fps=fps, audio_codec=audio, options=options, tone_from_s=1.0
    )
    info = probe(str(source))
    assert info.codec == "mpeg4" and needs_preview(playback_format(source))
    copy = make_preview(source, tmp_path / "preview.mp4", max_side=720)
    assert copy.path == tmp_path / "preview.mp4" and copy.cut is None and copy.audio
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    found = playback_format(copy.path)
    assert found.video_codec == "h264" and found.audio_codec == "aac"
    assert found.pixel_format == "yuv420p" and not needs_preview(found)
    assert _moov_first(copy.path), "faststart: the index comes first"

    before, after = _frames(source), _frames(copy.path, copy=True)
    assert len(after) == len(before) == copy.frames
    for (t0, f0, _), (t1, f1, turned) in zip(before, after, strict=True):
        assert abs(t1 - t0) < 1 / fps, (t0, t1)  # the same time, to the tick
        assert abs(t1 - t0) < 1e-3
        assert f1.shape == f0.shape  # 96x64 is below max_side: its own size
        assert video_factory.read_index(f1) == video_factory.read_index(f0)
        assert turned == 0
    with av.open(str(copy.path)) as container:
        rate = container.streams.video[0].guessed_rate  # the frame rate, kept
        assert rate is not None and abs(float(rate) - fps) < 0.01

    codec, length, onset = _sound(copy.path, copy=True)
    _, source_length, source_onset = _sound(source)
    assert codec == "aac"
    assert onset is not None and source_onset is not None
    assert abs(onset - source_onset) < 0.03, (onset, source_onset)  # in sync with the picture
    assert abs(length - source_length) < 0.1


def test_a_large_frame_is_scaled_to_even_sides_within_max_side(tmp_path: Path) -> None:
    source = video_factory.two_faces(tmp_path / "faces.avi", duration_s=1.0, codec="mpeg4")
    copy = make_preview(source, tmp_path / "small.mp4", max_side=250)
    assert (copy.width, copy.height) == (250, 140)
    frames = _frames(copy.path, copy=True)
    for _, image, _ in frames:
        h, w = image.shape[:2]
        assert (w, h) == (250, 140) and w % 2 == 0 and h % 2 == 0
    assert len(frames) == 25


def test_a_rotated_clip_becomes_upright_without_a_rotation_flag(tmp_path: Path) -> None:
    """Boxes in the result are in upright pixels: the copy's pixels are turned, no flag."""
    frames = [
        video_factory.render_scene((96, 64), video_factory.panning_layers(), t / 25)
        for t in range(20)
    ]
    source = video_factory.write_video(tmp_path / "phone.mp4", frames, codec="mpeg4", rotation=90)
    info = probe(str(source))
    assert info.rotation == 270 and (info.width, info.height) == (64, 96)
    copy = make_preview(source, tmp_path / "upright.mp4")
    assert (copy.width, copy.height) == (64, 96)
    assert probe(str(copy.path)).rotation == 0
    before, after = _frames(source), _frames(copy.path, copy=True)
    for (_, f0, turned0), (_, f1, turned1) in zip(before, after, strict=True):
        assert turned1 == 0 and turned0 == 270
        assert f1.shape == f0.shape == (96, 64, 3)
        assert np.abs(f1.astype(int) - f0.astype(int)).mean() < 12


def test_variable_rate_and_a_late_start_keep_their_times(tmp_path: Path) -> None:
    """Frames at irregular times, the first at 1.5 s in the container: each frame keeps its
    time from the stream's start (what the result's time_s counts)."""
    times = [1.5 + 0.04 * i + (0.03 if i % 4 == 0 else 0.0) for i in range(30)]
    source = video_factory.encode_video(
        tmp_path / "vfr.mkv", indexed(30), codec="mpeg4", times=times
    )
    assert probe(str(source)).variable_frame_rate
    copy = make_preview(source, tmp_path / "vfr.mp4")
    before, after = _frames(source), _frames(copy.path, copy=True)
    assert [round(t, 3) for t, _, _ in after] == [round(t, 3) for t, _, _ in before]
    assert [video_factory.read_index(image) for _, image, _ in after] == list(range(30))


def test_a_copy_too_large_stops_with_its_reason(tmp_path: Path) -> None:
    source = video_factory.with_sound(
        tmp_path / "long.avi",
        (
            video_factory.render_scene((320, 240), video_factory.two_faces_layers(), i / 25)
            for i in range(150)
        ),
        audio_codec="pcm_s16le",
    )
    whole = make_preview(source, tmp_path / "whole.mp4", max_bitrate=400_000)
    limit = whole.size_bytes // 2
    cut = make_preview(source, tmp_path / "cut.mp4", max_bytes=limit, max_bitrate=400_000)
    assert whole.cut is None and cut.cut == "size"
    assert cut.size_bytes <= limit
    assert 0 < cut.covers_s < whole.covers_s == pytest.approx(6.0, abs=0.05)
    last = _frames(cut.path, copy=True)[-1][0]
    assert last < cut.covers_s <= last + 0.05
    _, length, _ = _sound(cut.path, copy=True)
    assert length < cut.covers_s + 0.1, "the sound stops with the picture"

    short = make_preview(source, tmp_path / "short.mp4", max_duration_s=2.0)
    assert short.cut == "duration" and short.frames == 50
    assert short.covers_s == pytest.approx(2.0)


def test_bad_sources_leave_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "preview.mp4"
    target.write_bytes(b"the previous copy")
    text = tmp_path / "notes.avi"
    text.write_text("not a video at all\n" * 20)
    sound = video_factory.audio_only(tmp_path / "sound.m4a")
    cut = tmp_path / "cut.avi"
    whole = video_factory.encode_video(tmp_path / "whole.avi", indexed(25), codec="mpeg4")
    cut.write_bytes(whole.read_bytes()[:400])  # the header and hardly a frame
    for bad in (text, sound, cut, tmp_path / "missing.avi"):
        with pytest.raises(MediaError) as caught:
            make_preview(bad, target)
        assert str(tmp_path) not in str(caught.value)
        assert target.read_bytes() == b"the previous copy", "the target is never half-written"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["cut.avi", "notes.avi", "preview.mp4", "sound.m4a", "whole.avi"]
    with pytest.raises(FileNotFoundError):
        make_preview(whole, tmp_path / "no such folder" / "preview.mp4")


def test_the_copy_is_timed_on_the_source_rate(tmp_path: Path) -> None:
    """An NTSC rate (30000/1001) keeps its exact frame interval in the copy's time base."""
    source = video_factory.encode_video(
        tmp_path / "ntsc.avi", indexed(30), fps=Fraction(30000, 1001), codec="mpeg4"
    )
    copy = make_preview(source, tmp_path / "ntsc.mp4")
    times = [t for t, _, _ in _frames(copy.path, copy=True)]
    steps = np.diff(times)
    assert np.allclose(steps, 1001 / 30000, atol=1e-4)

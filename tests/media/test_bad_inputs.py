"""Inputs that are not (clean) videos: each gets a clear MediaError, or works as well as it can."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from media_clips import NO_BFRAMES

from deepfake_detector.errors import MediaError
from deepfake_detector.media import iter_sampled_frames, probe, probe_media, sample_times
from deepfake_detector.media.decoder import DecodeStats, decode_samples
from deepfake_detector.media.plan import Strategy

import video_factory


def _probe_error(path: Path, **kwargs: int) -> str:
    with pytest.raises(MediaError) as caught:
        probe(str(path), **kwargs)
    message = str(caught.value)
    assert str(path.parent) not in message, "messages must not reveal paths"
    assert "Errno" not in message and "Traceback" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in _probe_error(tmp_path / "nothing.mp4")


def test_folder(tmp_path: Path) -> None:
    (tmp_path / "folder.mp4").mkdir()
    assert "folder" in _probe_error(tmp_path / "folder.mp4")


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    assert "empty" in _probe_error(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.mp4"
    path.write_bytes(np.random.default_rng(7).bytes(64_000))
    assert "not a video" in _probe_error(path)


def test_text_file(tmp_path: Path) -> None:
    # FFmpeg would show a .txt file as ANSI art, a 640x400 "video".
    path = tmp_path / "notes.txt"
    path.write_text("minutes of the meeting\n" * 100)
    assert "text file, not a video" in _probe_error(path)


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_still_image(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"photo.{ext}"
    cv2.imwrite(str(path), cv2.cvtColor(video_factory.astronaut(), cv2.COLOR_RGB2BGR))
    # The video reader refuses a picture; the media source reads it as the photo it is.
    assert "This is a still image" in _probe_error(path)
    assert probe_media(path).kind == "image"


@pytest.mark.parametrize(("codec", "ext"), [("aac", "m4a"), ("mp2", "mp2")])
def test_audio_only(tmp_path: Path, codec: str, ext: str) -> None:
    path = video_factory.audio_only(tmp_path / f"voice.{ext}", codec)
    assert "only audio" in _probe_error(path)


def test_mp4_cut_before_its_index(tmp_path: Path) -> None:
    """A plain MP4 keeps its index (moov) at the end: half a file has none."""
    full = video_factory.indexed_video(tmp_path / "full.mp4", 50, options=NO_BFRAMES)
    data = full.read_bytes()
    assert data.rfind(b"moov") > data.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert "incomplete" in _probe_error(cut)
    with pytest.raises(MediaError):
        list(iter_sampled_frames(str(cut), probe(str(full)), [0.5]))


def _faststart(path: Path, n: int) -> Path:
    return video_factory.indexed_video(
        path, n, options=NO_BFRAMES, container_options={"movflags": "faststart"}
    )


def test_mp4_cut_after_its_index_yields_what_decodes(tmp_path: Path) -> None:
    full = _faststart(tmp_path / "fast.mp4", 100)
    data = full.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / "fast_cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(str(cut))
    assert info.frame_count == 100  # the index still promises every frame
    times = sample_times(info, count=10)
    strategies: tuple[Strategy, ...] = ("auto", "straight", "seek")
    for strategy in strategies:
        stats = DecodeStats()
        samples = list(decode_samples(str(cut), info, times, strategy=strategy, stats=stats))
        assert 1 <= len(samples) < 10
        assert stats.dropped_samples == 10 - len(samples)
        for s in samples:  # what is yielded is right, not a stale frame standing in
            assert video_factory.read_index(s.image) == int(times[s.sample_index] * 25)


def test_no_decodable_picture(tmp_path: Path) -> None:
    path = _faststart(tmp_path / "blank.mp4", 30)
    data = bytearray(path.read_bytes())
    start = data.find(b"mdat") + 4
    data[start:] = bytes(len(data) - start)  # every coded frame zeroed
    path.write_bytes(bytes(data))
    assert "No picture" in _probe_error(path)


def test_damage_mid_stream_yields_the_rest(tmp_path: Path) -> None:
    path = _faststart(tmp_path / "damaged.mp4", 100)
    data = bytearray(path.read_bytes())
    middle = (data.find(b"mdat") + len(data)) // 2  # inside the GOP of frames 36..47
    data[middle : middle + 200] = np.random.default_rng(3).bytes(200)
    path.write_bytes(bytes(data))
    info = probe(str(path))
    times = sample_times(info, count=10)  # frames 5, 15, ..., 95
    strategies: tuple[Strategy, ...] = ("auto", "straight")
    for strategy in strategies:
        stats = DecodeStats()
        samples = list(decode_samples(str(path), info, times, strategy=strategy, stats=stats))
        assert len(samples) == 10
        assert stats.bad_packets > 0
        shown = [video_factory.read_index(s.image) for s in samples]
        # Outside the damaged GOP every frame is intact.
        assert shown[:3] == [5, 15, 25] and shown[5:] == [55, 65, 75, 85, 95]


def test_absurd_declared_size_is_refused_before_decoding(tmp_path: Path) -> None:
    # A YUV4MPEG2 header claiming 12000x12000 frames (216 MB each) over a few bytes of data.
    path = tmp_path / "huge.y4m"
    path.write_bytes(b"YUV4MPEG2 W12000 H12000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(1000))
    message = _probe_error(path)
    assert "12000x12000" in message and "smaller video" in message


def test_max_pixels_applies_to_any_video(panning_video: Path) -> None:
    assert "640x360" in _probe_error(panning_video, max_pixels=320 * 240)
    assert probe(str(panning_video), max_pixels=640 * 360).width == 640


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [("tiny.mkv", "ffv1", "yuv444p"), ("tiny.mp4", "libx264", "yuv444p")],
)
def test_one_pixel_video_is_just_a_video(
    tmp_path: Path, name: str, codec: str, pix_fmt: str
) -> None:
    frames = [np.full((1, 1, 3), 40 * i, np.uint8) for i in range(5)]
    path = video_factory.encode_video(tmp_path / name, frames, codec=codec, pix_fmt=pix_fmt)
    info = probe(str(path))
    assert (info.width, info.height, info.frame_count) == (1, 1, 5)
    samples = list(iter_sampled_frames(str(path), info, sample_times(info)))
    assert len(samples) == 5
    assert all(s.image.shape == (1, 1, 3) and s.image.dtype == np.uint8 for s in samples)


def test_single_frame_video(tmp_path: Path) -> None:
    path = video_factory.indexed_video(tmp_path / "one.mp4", 1, options=NO_BFRAMES)
    info = probe(str(path))
    assert info.frame_count == 1
    times = sample_times(info, count=32)
    assert len(times) == 1
    (sample,) = iter_sampled_frames(str(path), info, times)
    assert sample.time_s == 0.0 and video_factory.read_index(sample.image) == 0


@pytest.mark.parametrize(
    ("name", "codec"), [("gray.mkv", "ffv1"), ("gray.mp4", "libx264"), ("gray.avi", "rawvideo")]
)
def test_grayscale_video_decodes_to_rgb(tmp_path: Path, name: str, codec: str) -> None:
    frames = [video_factory.index_frame(i) for i in range(10)]
    path = video_factory.encode_video(tmp_path / name, frames, codec=codec, pix_fmt="gray")
    info = probe(str(path))
    samples = list(iter_sampled_frames(str(path), info, [0.0, 0.2]))
    assert [video_factory.read_index(s.image) for s in samples] == [0, 5]
    for s in samples:
        assert s.image.shape == (64, 64, 3)
        spread = np.ptp(s.image.astype(int), axis=2)
        assert spread.max() <= 2, "grey stays grey in RGB"


def test_file_gone_after_probing(tmp_path: Path) -> None:
    path = video_factory.indexed_video(tmp_path / "gone.mp4", 10, options=NO_BFRAMES)
    info = probe(str(path))
    path.unlink()
    with pytest.raises(MediaError, match="does not exist"):
        list(iter_sampled_frames(str(path), info, [0.1]))


def test_name_longer_than_the_file_system_allows(tmp_path: Path) -> None:
    # Path.exists() raises ENAMETOOLONG instead of answering False.
    message = _probe_error(tmp_path / ("n" * 296 + ".mp4"))
    assert "cannot be read (file name too long)" in message

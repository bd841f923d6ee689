"""Photos through the media source: recognised by content, upright, whole, and refused clearly
when broken. Real files written with Pillow (and pillow-heif for HEIC), read back with them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import photo_factory
from deepfake_detector.errors import MediaError
from deepfake_detector.media import open_media, probe_media
from deepfake_detector.media.image import ImageSizeError, read_image
from deepfake_detector.media.sources import ImageSource, VideoSource

import video_factory

FORMATS = [
    ("photo.jpg", "JPEG", "jpeg", {"quality": 95}),
    ("photo.png", "PNG", "png", {}),
    ("photo.webp", "WEBP", "webp", {"quality": 95}),
    ("photo.heic", "HEIF", "hevc", {"quality": 95}),
    ("photo.bmp", "BMP", "bmp", {}),
    ("photo.tiff", "TIFF", "tiff", {}),
]


@pytest.mark.parametrize(("name", "fmt", "codec", "options"), FORMATS)
def test_every_photo_format_reads_as_one_upright_frame(
    tmp_path: Path, name: str, fmt: str, codec: str, options: dict
) -> None:
    path = photo_factory.write_photo(tmp_path / name, fmt=fmt, **options)
    source = open_media(path)
    assert isinstance(source, ImageSource)
    info = source.info
    assert (info.kind, info.container, info.codec) == ("image", fmt, codec)
    assert (info.width, info.height, info.frame_count, info.duration_s) == (512, 512, 1, 0.0)
    assert source.sample_times(count=32) == [0.0]
    frames = list(source.frames([0.0]))
    assert len(frames) == 1 and frames[0].time_s == 0.0
    image = frames[0].image
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    # Lossy formats differ a little from the source; a different picture would differ a lot.
    error = np.abs(image.astype(int) - video_factory.astronaut().astype(int)).mean()
    assert error < 6, (fmt, error)


def test_a_video_is_still_a_video(panning_video: Path) -> None:
    source = open_media(panning_video)
    assert isinstance(source, VideoSource)
    assert source.info.kind == "video"
    assert len(source.sample_times(count=8)) == 8


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    portrait = video_factory.grace_hopper()  # 512 wide, 600 high: a turn shows in the size
    path = photo_factory.write_photo(tmp_path / "turned.jpg", portrait, orientation=orientation)
    info = probe_media(path)
    assert (info.width, info.height) == (512, 600)
    assert info.rotation == {3: 180, 6: 90, 8: 270}[orientation]
    upright = read_image(path)
    assert upright.shape == portrait.shape
    assert np.abs(upright.astype(int) - portrait.astype(int)).mean() < 6


def test_transparency_is_shown_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:, :32] = (255, 0, 0, 255)  # opaque red on the left, fully transparent on the right
    path = photo_factory.write_photo(tmp_path / "alpha.png", rgba)
    image = read_image(path)
    assert tuple(image[10, 10]) == (255, 0, 0)
    assert tuple(image[10, 50]) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    image = read_image(path)
    assert image[0, 0, 0] == 0 and image[0, -1, 0] == 255 and 100 < image[0, 32, 0] < 155


def test_a_truncated_jpeg_is_refused_as_damaged(tmp_path: Path) -> None:
    path = photo_factory.truncated_jpeg(tmp_path / "cut.jpg")
    with pytest.raises(MediaError, match="damaged or truncated"):
        probe_media(path)


def test_a_one_pixel_photo_is_refused_as_too_small(tmp_path: Path) -> None:
    path = photo_factory.write_photo(tmp_path / "dot.png", np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(MediaError, match="1x1 pixels, too small to show a face"):
        probe_media(path)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [(20000, 20000, "400,000,000 pixels"), (9000, 9000, "9000x9000 pixels")],
)
def test_a_huge_declared_size_is_refused_before_decoding(
    tmp_path: Path, width: int, height: int, message: str
) -> None:
    path = photo_factory.png_header_only(tmp_path / "bomb.png", width, height)
    started = time.perf_counter()
    with pytest.raises(ImageSizeError, match=message) as caught:
        probe_media(path)
    assert time.perf_counter() - started < 1.0  # nothing was decoded
    assert "more than the 67,108,864 pixels accepted" in str(caught.value)


def test_a_jpeg_with_data_appended_is_read_as_the_jpeg(tmp_path: Path) -> None:
    path = photo_factory.jpeg_with_payload(tmp_path / "polyglot.jpg")
    info = probe_media(path)
    assert (info.kind, info.container, info.width) == ("image", "JPEG", 512)


def test_html_with_a_picture_inside_is_not_media(tmp_path: Path) -> None:
    path = photo_factory.html_then_png(tmp_path / "page.png")
    with pytest.raises(MediaError) as caught:
        probe_media(path)
    assert not isinstance(caught.value, ImageSizeError)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        probe_media(tmp_path / "nothing.jpg")

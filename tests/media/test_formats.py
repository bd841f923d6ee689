"""The one table of media formats, and that every list of accepted files comes from it."""

from __future__ import annotations

from pathlib import Path

from deepfake_detector.cli import expand_inputs
from deepfake_detector.media import formats
from deepfake_detector.service.web import ACCEPTED_TYPES
from deepfake_detector.training.datasets import _common


def test_a_suffix_names_one_kind_only() -> None:
    assert formats.VIDEO_SUFFIXES.isdisjoint(formats.IMAGE_SUFFIXES)
    assert all(s.startswith(".") and s == s.lower() for s in formats.MEDIA_SUFFIXES)
    assert {".jpg", ".jpeg", ".png", ".webp", ".heic"} <= formats.IMAGE_SUFFIXES
    assert {".mp4", ".mov", ".webm", ".mkv", ".avi"} <= formats.VIDEO_SUFFIXES


def test_suffix_checks_ignore_case_and_folders() -> None:
    assert formats.is_image_path("a/B.JPG") and formats.is_video_path(Path("x.MP4"))
    assert not formats.is_media_path("folder.jpg/notes") and not formats.is_media_path("README")


def test_stored_formats() -> None:
    mp4 = formats.stored_format("video", "mov,mp4,m4a,3gp,3g2,mj2", "h264")
    assert (mp4.extension, mp4.mime) == ("mp4", "video/mp4")
    webm = formats.stored_format("video", "matroska,webm", "vp9")
    assert (webm.extension, webm.mime) == ("webm", "video/webm")
    mkv = formats.stored_format("video", "matroska,webm", "h264")
    assert (mkv.extension, mkv.mime) == ("mkv", "video/x-matroska")
    heic = formats.stored_format("image", "HEIF")
    assert (heic.extension, heic.mime) == ("heic", "image/heic")
    unknown = formats.stored_format("video", "something-new")
    assert unknown.mime == "application/octet-stream"


def test_the_upload_form_the_cli_and_the_datasets_use_the_table(tmp_path: Path) -> None:
    offered = set(ACCEPTED_TYPES.split(","))
    assert offered >= formats.MEDIA_SUFFIXES and {"video/*", "image/*"} <= offered
    assert _common.VIDEO_EXTENSIONS == formats.VIDEO_SUFFIXES
    assert _common.IMAGE_EXTENSIONS == formats.IMAGE_SUFFIXES
    for name in ("clip.mp4", "photo.JPG", "scan.heic", "notes.txt", "sub/face.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = {p.relative_to(tmp_path).as_posix() for p in expand_inputs([str(tmp_path)])}
    assert found == {"clip.mp4", "photo.JPG", "scan.heic", "sub/face.webp"}

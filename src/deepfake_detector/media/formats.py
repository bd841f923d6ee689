"""The one table of the media the project reads: file suffixes, what the content is recognised
as, and the MIME type a stored copy is served with.

Every list of accepted files derives from it (the CLI's folder walk, dataset layouts, the crop
cache, the upload form and the stored copy's name), so they cannot disagree. What a file *is* is
always decided from its content (:func:`deepfake_detector.media.sources.open_media`); suffixes
only choose which files of a folder to look at and what the upload form offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["video", "image"]


@dataclass(frozen=True)
class MediaFormat:
    kind: MediaKind
    name: str
    """What the content is recognised as: FFmpeg's demuxer name for videos, Pillow's format name
    for images."""
    extension: str
    """The suffix (without the dot) a stored copy gets."""
    mime: str
    """The type a stored copy is served with (and the upload form accepts)."""
    suffixes: tuple[str, ...]
    """File name suffixes (lower case, with the dot) that usually hold this format."""


FORMATS: tuple[MediaFormat, ...] = (
    # Videos, by FFmpeg demuxer. MP4 and QuickTime share a demuxer; both are served as MP4.
    MediaFormat("video", "mov,mp4,m4a,3gp,3g2,mj2", "mp4", "video/mp4", (".mp4", ".m4v", ".mov")),
    MediaFormat("video", "mp4", "mp4", "video/mp4", ()),
    MediaFormat("video", "mov", "mov", "video/quicktime", ()),
    MediaFormat("video", "3gp", "3gp", "video/3gpp", (".3gp", ".3g2")),
    MediaFormat("video", "matroska,webm", "mkv", "video/x-matroska", (".mkv",)),
    MediaFormat("video", "webm", "webm", "video/webm", (".webm",)),
    MediaFormat("video", "matroska", "mkv", "video/x-matroska", ()),
    MediaFormat("video", "avi", "avi", "video/x-msvideo", (".avi",)),
    MediaFormat("video", "mpegts", "ts", "video/mp2t", (".ts", ".mts", ".m2ts")),
    MediaFormat("video", "mpeg", "mpg", "video/mpeg", (".mpg", ".mpeg")),
    MediaFormat("video", "asf", "wmv", "video/x-ms-wmv", (".wmv",)),
    MediaFormat("video", "flv", "flv", "video/x-flv", (".flv",)),
    MediaFormat("video", "ogg", "ogv", "video/ogg", (".ogv",)),
    # Photos, by Pillow format (HEIF through pillow-heif's opener).
    MediaFormat("image", "JPEG", "jpg", "image/jpeg", (".jpg", ".jpeg", ".jfif")),
    MediaFormat("image", "PNG", "png", "image/png", (".png",)),
    MediaFormat("image", "WEBP", "webp", "image/webp", (".webp",)),
    MediaFormat("image", "HEIF", "heic", "image/heic", (".heic", ".heif")),
    MediaFormat("image", "BMP", "bmp", "image/bmp", (".bmp",)),
    MediaFormat("image", "TIFF", "tif", "image/tiff", (".tif", ".tiff")),
)

_BY_NAME = {(f.kind, f.name): f for f in FORMATS}
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1"})
_UNKNOWN = MediaFormat("video", "", "bin", "application/octet-stream", ())

VIDEO_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "video" for s in f.suffixes)
IMAGE_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "image" for s in f.suffixes)
MEDIA_SUFFIXES = VIDEO_SUFFIXES | IMAGE_SUFFIXES
IMAGE_FORMAT_NAMES = tuple(f.name for f in FORMATS if f.kind == "image")
"""Pillow format names of the photos read: anything else is tried as a video."""


def is_video_path(path: object) -> bool:
    return _suffix(path) in VIDEO_SUFFIXES


def is_image_path(path: object) -> bool:
    return _suffix(path) in IMAGE_SUFFIXES


def is_media_path(path: object) -> bool:
    return _suffix(path) in MEDIA_SUFFIXES


def stored_format(kind: MediaKind, name: str, codec: str = "") -> MediaFormat:
    """The format a probed file is stored and served as (``name``: its demuxer or Pillow
    format). A Matroska file whose video is VP8/VP9/AV1 is served as WebM, which browsers
    play; an unknown container as ``application/octet-stream``."""
    if kind == "video" and name == "matroska,webm" and codec.lower() in _WEBM_CODECS:
        return _BY_NAME[("video", "webm")]
    return _BY_NAME.get((kind, name), _UNKNOWN)


def accept_attribute() -> str:
    """The upload form's ``accept`` list: every MIME type and suffix in the table."""
    mimes = sorted({f.mime for f in FORMATS})
    suffixes = sorted(MEDIA_SUFFIXES)
    return ",".join(["video/*", "image/*", *mimes, *suffixes])


def _suffix(path: object) -> str:
    text = str(path)
    dot = text.rfind(".")
    return text[dot:].lower() if dot > max(text.rfind("/"), text.rfind("\\")) else ""

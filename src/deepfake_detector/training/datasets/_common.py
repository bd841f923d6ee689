"""Helpers shared by the layout readers: the error type, media extensions, path handling."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from deepfake_detector.errors import DetectorError
from deepfake_detector.media.formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES

# The project's one table of media suffixes (re-exported under the names the layouts use).
VIDEO_EXTENSIONS = VIDEO_SUFFIXES
IMAGE_EXTENSIONS = IMAGE_SUFFIXES


class DatasetError(DetectorError):
    """A dataset root could not be indexed (unknown layout, malformed metadata, bad option)."""


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def media_kind(path: str | Path) -> str | None:
    """``video`` / ``face`` by extension, ``None`` for anything that is not media."""
    if is_video(path):
        return "video"
    if is_image(path):
        return "face"
    return None


def rel(path: Path, root: Path) -> str:
    """POSIX path relative to the root, so an index is portable between machines."""
    return path.relative_to(root).as_posix()


def walk_files(root: Path) -> Iterator[Path]:
    """Every file under root in a stable (sorted) order, so indexes are reproducible."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def media_files(folder: Path) -> list[Path]:
    """Video files directly in a folder, sorted (missing folder → empty list)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_video(p))

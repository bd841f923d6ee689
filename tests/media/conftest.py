"""Clips for the media tests, encoded once per session with PyAV (small, to keep tests fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from media_clips import BFRAMES, INDEXED_FRAMES, NO_BFRAMES

import video_factory


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def indexed_clips(media_dir: Path) -> dict[str, Path]:
    """The same 150 self-numbered frames in containers and codecs with different seeking."""
    n = INDEXED_FRAMES
    d = media_dir
    return {
        "mp4-bframes": video_factory.indexed_video(d / "idx_b.mp4", n, options=BFRAMES),
        "mp4": video_factory.indexed_video(d / "idx.mp4", n, options=NO_BFRAMES),
        "mkv-bframes": video_factory.indexed_video(d / "idx_b.mkv", n, options=BFRAMES),
        "ts-bframes": video_factory.indexed_video(
            d / "idx_b.ts", n, options=BFRAMES, container_format="mpegts"
        ),
        "webm-vp9": video_factory.indexed_video(
            d / "idx.webm", n, codec="libvpx-vp9", options={"g": "12", "deadline": "realtime"}
        ),
        "avi-mjpeg": video_factory.indexed_video(
            d / "idx.avi", n, codec="mjpeg", pix_fmt="yuvj420p", options={"q:v": "2"}
        ),
    }

"""Memory stays flat with video length: frames are decoded one after another, never all held."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import video_factory

SRC = Path(__file__).resolve().parents[2] / "src"

# Run in a fresh process so that its peak RSS belongs to this one decode. (VmHWM, not ru_maxrss:
# a child process keeps the peak of the parent it was forked from in ru_maxrss.)
CHILD = """
import pathlib, sys
from deepfake_detector.media import iter_sampled_frames, probe, sample_times
path = sys.argv[1]
info = probe(path)
n = sum(1 for _ in iter_sampled_frames(path, info, sample_times(info, count=8)))
assert n == 8, n
status = pathlib.Path("/proc/self/status").read_text()
print(next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:")) // 1024)
"""


def _moving_noise(n: int) -> Iterator[np.ndarray]:
    texture = np.random.default_rng(0).integers(0, 256, (240, 640, 3), dtype=np.uint8)
    for i in range(n):
        yield np.ascontiguousarray(texture[:, 4 * i % 320 : 4 * i % 320 + 320])


def _peak_rss_mb(path: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_peak_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    # x264's default keyframe interval (250 frames = 10 s): sampling decodes nearly every frame.
    short = video_factory.encode_video(
        tmp_path / "short.mp4", _moving_noise(100), options={"preset": "ultrafast"}
    )
    long = video_factory.encode_video(
        tmp_path / "long.mp4", _moving_noise(1000), options={"preset": "ultrafast"}
    )
    short_mb, long_mb = _peak_rss_mb(short), _peak_rss_mb(long)
    # 1,000 decoded 320x240 frames held would be 115 MB (YUV) or 230 MB (RGB).
    assert long_mb - short_mb < 25, (short_mb, long_mb)

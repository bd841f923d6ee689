"""``bench_nvdec.py`` decodes on the CPU everywhere and reports the CUDA way's figures or, on a
machine without a GPU, why it could not run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_nvdec  # noqa: E402  (lives in benchmarks/, put on the path above)
import clipgen  # noqa: E402


def test_both_ways_are_reported(tmp_path: Path) -> None:
    clip = clipgen.ensure_clip(clipgen.SMOKE, tmp_path / "cache")
    out = tmp_path / "nvdec.json"
    assert bench_nvdec.main([str(clip), "--frames", "10", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["cpu"]["frames"] == 10 and report["cpu"]["codec"] == "h264"
    assert report["cpu"]["frames_per_s"] > 0
    cuda = report["cuda"]
    if "error" in cuda:  # no usable GPU: FFmpeg refused the device, said in one line
        assert "\n" not in cuda["error"] and "cuda_over_cpu_frames_per_s" not in report
    else:
        assert cuda["frames"] == 10 and cuda["max_pixel_difference"] >= 0
    sampled = report["sampled"]
    assert sampled["cuda"]["samples"] == sampled["cpu"]["samples"] > 0
    if "error" in cuda:  # the pipeline's way fell back to the CPU: the very same frames
        assert sampled["cuda"]["decoded_on"] == "cpu"
        assert sampled["cuda"]["max_pixel_difference"] == 0
    else:
        assert sampled["cuda"]["decoded_on"] == "cuda"  # H.264 decodes bit-exact on NVDEC
        assert sampled["cuda"]["max_pixel_difference"] == 0

"""The decoding benchmark's decoder-option measurement, on a real H.264 clip made from a photo."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCHMARKS), str(TESTS)]

import bench_decode  # noqa: E402  (lives in benchmarks/, put on the path above)

import video_factory as vf  # noqa: E402


def test_decoder_options_report_the_cost_and_the_pixels_skipping_the_loop_filter_moves(
    tmp_path: Path,
) -> None:
    # A panning face at a middling quality, a keyframe every 6 frames: deblocking has edges to
    # smooth, so skipping it must change some pixels.
    clip = vf.encode_video(
        tmp_path / "pan.mp4",
        (vf.render_scene((320, 240), vf.panning_layers(1.0), i / 25) for i in range(25)),
        options={"g": "6", "crf": "35"},
    )
    report = bench_decode.decoder_option_cost(clip, frames=8, repeats=1)
    # Fewer keyframes (0, 6, 12, 18, 24) than asked for: each is timed over what it decoded.
    assert report["keyframes"]["frames"] == 5 and report["all_frames"]["frames"] == 8
    for kind in ("keyframes", "all_frames"):
        row = report[kind]
        assert row["ms_per_frame"] > 0 and row["ms_per_frame_skip_loop_filter"] > 0
        assert row["ratio"] > 0
        assert row["max_level_change"] > 0 and row["mean_abs_level_change"] > 0
    assert report["lowres_1_frame_size"] == "320x240"  # H.264 has no reduced-size decoding

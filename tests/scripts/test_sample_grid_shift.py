"""scripts/sample_grid_shift.py: the same number of samples, each moved within its segment, and
a real command run with the shifted grid."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deepfake_detector.media import sample_times, sources
from deepfake_detector.media.probe import VideoInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import sample_grid_shift  # lives in scripts/, put on the path above


def _info(duration_s: float, fps: float = 25.0) -> VideoInfo:
    return VideoInfo(
        duration_s=duration_s,
        fps=fps,
        width=640,
        height=360,
        rotation=0,
        codec="h264",
        frame_count=round(duration_s * fps),
        variable_frame_rate=False,
        container="mov,mp4,m4a,3gp,3g2,mj2",
    )


@pytest.mark.parametrize(
    ("phase", "want"),
    [
        (0.5, [1.25, 3.75, 6.25, 8.75]),
        (0.0, [0.0, 2.5, 5.0, 7.5]),
        (0.25, [0.625, 3.125, 5.625, 8.125]),
    ],
)
def test_each_sample_moves_within_its_segment(phase: float, want: list[float]) -> None:
    info = _info(10.0)
    assert sample_grid_shift.shifted(phase)(info, count=4) == pytest.approx(want)
    assert sample_times(info, count=4) == pytest.approx([1.25, 3.75, 6.25, 8.75])


def test_times_stay_inside_the_video_and_bad_phases_are_refused() -> None:
    times = sample_grid_shift.shifted(0.99)(_info(2.0), count=2)
    assert len(times) == 2 and all(0.0 <= t <= 2.0 for t in times)
    for phase in (-0.1, 1.0):
        with pytest.raises(ValueError, match="phase"):
            sample_grid_shift.shifted(phase)
    with pytest.raises(SystemExit):
        sample_grid_shift.main(["--phase", "1.5", "scan", "x.mp4"])


def _sampled_times(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[float]:
    assert sample_grid_shift.main(argv) in (0, 1, 3)
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    return [f["time_s"] for f in json.loads(line)["sampled_frames"]]


def test_scan_looks_at_other_frames_with_a_shifted_grid(
    two_faces_video: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frame-exact (no snapping to keyframes); the script's patch is undone after the test
    (monkeypatch restores the original)."""
    monkeypatch.setenv("DFD_SAMPLE_SNAP", "0")
    monkeypatch.setattr(sources, "sample_times", sources.sample_times)
    scan = ["scan", str(two_faces_video), "--format", "json", "--frames", "4"]
    centred = _sampled_times(capsys, ["--phase", "0.5", *scan])
    early = _sampled_times(capsys, ["--phase", "0.0", *scan])
    assert len(centred) == len(early) == 4
    spacing = centred[1] - centred[0]
    assert spacing > 0.5
    # Half a segment earlier, to within one frame (a sample is the frame shown at its time).
    for a, b in zip(early, centred, strict=True):
        assert b - a == pytest.approx(spacing / 2, abs=0.05)

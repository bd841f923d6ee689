"""``AnalysisSettings.frame_exact``: the serving shortcuts off, everything else kept."""

from __future__ import annotations

from deepfake_detector.config import AnalysisSettings


def test_frame_exact_turns_off_snapping_and_guided_search_only() -> None:
    served = AnalysisSettings(frames=12, sample_snap=0.25, full_detect_every=4, detector="haar")
    assert not served.is_frame_exact
    exact = served.frame_exact()
    assert (exact.sample_snap, exact.full_detect_every) == (0.0, 1) and exact.is_frame_exact
    assert (exact.frames, exact.detector) == (12, "haar")
    assert exact.frame_exact() == exact

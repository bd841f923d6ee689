"""The landmark-dynamics scorer: motion statistics of five face points over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_detector.models.landmark_dynamics import (
    FEATURE_NAMES,
    MAX_INTERVAL_S,
    LandmarkScorer,
    dynamics_features,
    fit_landmark_scorer,
)

BASE = np.array([[50, 60], [110, 60], [80, 90], [58, 120], [102, 120]], np.float64)


def talking(rng: np.random.Generator, n: int = 24, motion: float = 1.0) -> np.ndarray:
    """A face whose mouth opens and head turns by ``motion`` (0: a still photo)."""
    t = np.arange(n)
    points = np.repeat(BASE[None], n, axis=0)
    points[:, 3:, 0] += motion * 4 * np.sin(t * 1.3)[:, None] * np.array([-1, 1])
    points[:, :, 0] += motion * 3 * np.sin(t * 0.4)[:, None] + rng.normal(0, 0.3, (n, 5))
    return points


def test_features_and_abstaining() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(24) * 0.4
    moving = dynamics_features(talking(rng), times)
    still = dynamics_features(talking(rng, motion=0.0), times)
    assert moving is not None and still is not None and len(moving) == len(FEATURE_NAMES)
    assert moving[0] > still[0]  # the mouth width varies more when talking
    # Invariant to scale (crop size): the same motion at twice the size gives the same features.
    scaled = dynamics_features(talking(np.random.default_rng(0)) * 2, times)
    again = dynamics_features(talking(np.random.default_rng(0)), times)
    assert scaled == pytest.approx(again, rel=1e-6, abs=1e-9)
    # Abstains: too few frames with landmarks, or frames too far apart to see motion.
    gaps = talking(rng)
    gaps[3:] = np.nan
    assert dynamics_features(gaps, times) is None
    assert dynamics_features(talking(rng), np.arange(24) * (MAX_INTERVAL_S + 0.5)) is None


def test_fit_score_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    times = np.arange(24) * 0.4
    x = [dynamics_features(talking(rng, motion=m), times) for m in [1.0] * 20 + [0.2] * 20]
    y = np.r_[np.zeros(20), np.ones(20)]  # here the stiff faces are the "fakes"
    scorer = fit_landmark_scorer(np.asarray(x), y)
    real = scorer.score(talking(rng, motion=1.0), times)
    fake = scorer.score(talking(rng, motion=0.2), times)
    assert real is not None and fake is not None and fake > 0.5 > real
    scorer.save(tmp_path / "landmarks.json")
    loaded = LandmarkScorer.load(tmp_path / "landmarks.json")
    assert loaded == scorer
    (tmp_path / "other.json").write_text('{"kind": "something-else"}')
    with pytest.raises(ValueError, match="landmark-dynamics"):
        LandmarkScorer.load(tmp_path / "other.json")

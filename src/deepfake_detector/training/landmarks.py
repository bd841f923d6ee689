"""Fit the landmark-dynamics scorer (``models/landmark_dynamics.py``) on a crop cache's tracks.

The crop cache already holds, for every crop, the detector's five landmarks in crop coordinates
and the frame's time: exactly what the scorer reads at serving time, so training needs no new
extraction. Only video tracks are used (a still has no motion), reals against labelled fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepfake_detector.models.landmark_dynamics import (
    LandmarkScorer,
    dynamics_features,
    fit_landmark_scorer,
)
from deepfake_detector.training.crop_cache import CacheEntry
from deepfake_detector.training.data import Track


def track_points(root: Path, entry: CacheEntry, track: Track) -> tuple[np.ndarray, np.ndarray]:
    """One cached track's five landmarks ``(T, 5, 2)`` in crop pixels (NaN where the detector
    gave none) and its frames' times ``(T,)``, in time order."""
    with np.load(root / entry.file) as z:
        frames = list(track.frames)
        return z["landmarks"][frames].astype(np.float64), z["time_s"][frames].astype(np.float64)


def track_features(
    root: Path, entry: CacheEntry, track: Track, window_s: float | None = None
) -> np.ndarray | None:
    """The motion statistics of one cached track (``None`` when the scorer would abstain);
    with ``window_s``, of its first ``window_s`` seconds only."""
    if entry.item.kind != "video":
        return None
    points, times = track_points(root, entry, track)
    if window_s is not None and len(times):
        keep = times < times.min() + window_s
        points, times = points[keep], times[keep]
    return dynamics_features(points, times)


def fit_on_tracks(
    root: Path,
    entries: Sequence[CacheEntry],
    tracks: Sequence[Track],
    regularisation: float = 1.0,
    window_s: float | None = None,
) -> LandmarkScorer | None:
    """Fit on the video tracks among ``tracks`` (labels from their entries; ``regularisation``
    is the logistic regression's C; ``window_s`` as in ``track_features``); ``None`` when the
    tracks do not hold both classes."""
    features, labels = [], []
    for track in tracks:
        entry = entries[track.entry]
        f = track_features(root, entry, track, window_s)
        if f is not None:
            features.append(f)
            labels.append(int(entry.label != 0))
    if len(set(labels)) < 2:
        return None
    return fit_landmark_scorer(np.asarray(features), np.asarray(labels), regularisation)

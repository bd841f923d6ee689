"""scripts/landmark_cues.py: the FaceMesh and identity statistics of a track (the extraction
needs mediapipe / dlib, which are not dependencies; the statistics are plain NumPy)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import landmark_cues  # lives in scripts/, put on the path above


def _track(frames: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A face-like mesh (eyes level, face wider than the eyes) that moves a little per frame."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.7, (478, 3))
    base[33, :2], base[263, :2] = (0.35, 0.4), (0.65, 0.4)  # outer eye corners
    base[133, :2], base[362, :2] = (0.45, 0.4), (0.55, 0.4)  # inner eye corners
    base[234, :2], base[454, :2] = (0.2, 0.5), (0.8, 0.5)  # face edges
    base[10, :2], base[152, :2] = (0.5, 0.1), (0.5, 0.9)  # forehead, chin
    mesh = base[None] + rng.normal(0, 0.002, (frames, 478, 3))
    return mesh, np.arange(frames) * 0.4


def test_mesh_statistics_are_free_of_scale_and_place() -> None:
    mesh, times = _track()
    found = landmark_cues.mesh_features(mesh, times)
    assert found is not None and np.all(np.isfinite(found))
    moved = mesh.copy()
    moved[..., :2] = moved[..., :2] * 2.0 + 0.3
    assert np.allclose(landmark_cues.mesh_features(moved, times), found)


def test_a_blink_shows_in_the_eye_statistics() -> None:
    mesh, times = _track()
    open_eyes = landmark_cues.mesh_features(mesh, times)
    blink = mesh.copy()
    for upper, lower in ((160, 144), (158, 153), (385, 380), (387, 373)):
        middle = (blink[5, upper] + blink[5, lower]) / 2
        blink[5, upper] = blink[5, lower] = middle  # both eyelids meet in frame 5
    closed = landmark_cues.mesh_features(blink, times)
    names = list(landmark_cues.mesh_signals(mesh[:1]))
    ear_std = 4 * names.index("ear_l")
    depth = 4 * len(names)
    assert closed[ear_std] > 5 * open_eyes[ear_std]
    assert closed[depth] < 0.05 < open_eyes[depth]
    assert closed[depth + 1] > 0.9  # the two eyes moved together


def test_tracks_too_short_or_too_sparse_abstain() -> None:
    mesh, times = _track(frames=8)
    assert landmark_cues.mesh_features(mesh[:5], times[:5]) is None
    assert landmark_cues.mesh_features(mesh, times * 5) is None  # 2 s between samples
    mesh[:3] = np.nan  # frames where FaceMesh found nothing
    assert landmark_cues.mesh_features(mesh, times) is None


def test_identity_dispersion_grows_with_a_frame_of_another_face() -> None:
    rng = np.random.default_rng(1)
    person = rng.normal(0, 0.1, 128)
    steady = person + rng.normal(0, 0.01, (10, 128))
    leaking = steady.copy()
    leaking[4] = rng.normal(0, 0.1, 128)  # one frame shows someone else
    times = np.arange(10) * 0.3
    a = landmark_cues.identity_features(steady, times)
    b = landmark_cues.identity_features(leaking, times)
    assert a is not None and b is not None
    assert b[1] > 2 * a[1] and b[2] > a[2]
    assert np.allclose(landmark_cues.identity_features(np.tile(person, (10, 1)), times), 0.0)


def test_a_cell_reports_the_fakes_own_originals_where_there_are_any() -> None:
    labels = np.asarray([1, 1, 0, 0, 0, 0])
    scores = np.asarray([0.9, 0.4, 0.5, 0.3, 0.1, np.nan])  # the last one abstained
    own = np.asarray([True, True, True, True, False, False])
    assert landmark_cues.auc(labels, scores) == 5 / 6
    assert landmark_cues._cell(labels, scores, own) == "0.833 (own originals 0.750)"
    assert landmark_cues._cell(labels, scores, labels == 1) == "0.833"
    assert landmark_cues.auc(labels[:2], scores[:2]) is None


def test_jitter_shift_grows_with_the_jitter_and_abstains_with_the_scorer() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(12) * 0.4
    face = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float64)
    points = face[None] + rng.normal(0, 0.2, (12, 5, 2))

    def rates(p: np.ndarray, times: np.ndarray) -> np.ndarray | None:
        if len(p) < 6:
            return None
        return np.asarray([np.abs(np.diff(p, axis=0)).mean()])

    def scorer(f: np.ndarray) -> float:
        return float(4.0 * f[0] - 2.0)

    small = landmark_cues.jitter_shift(scorer, rates, points, t, 0.1, np.random.default_rng(1))
    large = landmark_cues.jitter_shift(scorer, rates, points, t, 2.0, np.random.default_rng(1))
    assert small is not None and large is not None
    assert 0.0 < small < large <= 1.0
    assert landmark_cues.jitter_shift(scorer, rates, points[:4], t[:4], 1.0, rng) is None

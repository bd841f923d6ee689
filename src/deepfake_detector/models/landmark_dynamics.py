"""A second cue beside texture: how a face's landmarks move over time.

Generated talking heads are driven by audio or a motion prior, and their mouth, head pose and
face shape move differently from a real speaker's (published landmark-only lip models separate
them across generators). This scorer reads only the five points the face detector already gives
for every sampled frame (eyes, nose tip, mouth corners, in aligned-crop coordinates, so scale
and roll are normalised away), turns a person's sequence into a few motion statistics, and
scores them with a logistic regression: small, fast, and blind to pixels, codecs and watermarks.

It abstains (``None``) when a track has too few frames with landmarks or when the frames are too
far apart for motion to mean anything (a long video sampled sparsely); a combined score then
falls back to the texture model alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MIN_FRAMES = 6
"""Fewest frames with all five landmarks for a track to be scored."""
MAX_INTERVAL_S = 1.0
"""Largest median gap between sampled frames at which motion statistics still mean something."""
SIGNALS = ("mouth_width", "face_height", "yaw", "roll", "scale")
STATISTICS = ("std", "mean_abs_rate", "std_rate", "p90_abs_rate")
FEATURE_NAMES = tuple(f"{s}.{k}" for s in SIGNALS for k in STATISTICS)


def shape_signals(points: np.ndarray) -> list[np.ndarray]:
    """Per-frame shape signals from ``(T, 5, 2)`` points (left eye, right eye, nose, left and
    right mouth corner), normalised by the inter-ocular distance."""
    left_eye, right_eye, nose, mouth_l, mouth_r = (points[:, k] for k in range(5))
    iod = np.linalg.norm(right_eye - left_eye, axis=1)
    iod = np.where(iod > 1e-6, iod, 1e-6)
    eyes = (left_eye + right_eye) / 2
    mouth = (mouth_l + mouth_r) / 2
    return [
        np.linalg.norm(mouth_r - mouth_l, axis=1) / iod,
        np.linalg.norm(mouth - eyes, axis=1) / iod,
        (nose[:, 0] - eyes[:, 0]) / iod,
        np.arctan2(right_eye[:, 1] - left_eye[:, 1], right_eye[:, 0] - left_eye[:, 0]),
        iod / np.median(iod),
    ]


def usable_sequence(values: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A track's rows without NaN, in time order, and the time steps between them; ``None``
    where a scorer abstains: fewer than ``MIN_FRAMES`` rows, or a median step over
    ``MAX_INTERVAL_S``. ``values``: ``(T, ...)``; ``times``: ``(T,)`` seconds."""
    values = np.asarray(values, np.float64)
    times = np.asarray(times, np.float64)
    keep = np.all(np.isfinite(values.reshape(len(values), -1)), axis=1)
    values, times = values[keep], times[keep]
    if len(values) < MIN_FRAMES:
        return None
    order = np.argsort(times, kind="stable")
    values, times = values[order], times[order]
    dt = np.diff(times)
    if not np.any(dt > 0) or float(np.median(dt[dt > 0])) > MAX_INTERVAL_S:
        return None
    return values, np.where(dt > 0, dt, float(np.median(dt[dt > 0])))


def motion_statistics(signal: np.ndarray, dt: np.ndarray) -> list[float]:
    """``STATISTICS`` of one per-frame signal: its spread and how fast it changes."""
    rate = np.diff(signal) / dt
    return [
        float(np.std(signal)),
        float(np.mean(np.abs(rate))),
        float(np.std(rate)),
        float(np.percentile(np.abs(rate), 90)),
    ]


def dynamics_features(points: np.ndarray, times: np.ndarray) -> np.ndarray | None:
    """``len(FEATURE_NAMES)`` motion statistics of one person, or ``None`` (too few frames with
    landmarks, or frames too far apart). ``points``: ``(T, 5, 2)`` with NaN rows where the
    detector gave none; ``times``: ``(T,)`` seconds."""
    usable = usable_sequence(points, times)
    if usable is None:
        return None
    points, dt = usable
    out = []
    for signal in shape_signals(points):
        out += motion_statistics(signal, dt)
    return np.asarray(out, np.float64)


@dataclass(frozen=True)
class LandmarkScorer:
    """Standardised features → logistic regression → fake probability."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    features: tuple[str, ...] = FEATURE_NAMES

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError("landmark scorer: mean, scale and coef need one value per feature")
        if tuple(self.features) != FEATURE_NAMES:
            raise ValueError("landmark scorer: made for other features than this program computes")

    def logit(self, features: np.ndarray) -> float:
        z = (np.asarray(features, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(z @ np.asarray(self.coef) + self.intercept)

    def score(self, points: np.ndarray, times: np.ndarray) -> float | None:
        """Fake probability of one person's landmark sequence, or ``None`` (abstains)."""
        features = dynamics_features(points, times)
        if features is None:
            return None
        return float(1.0 / (1.0 + np.exp(-self.logit(features))))

    def save(self, path: str | Path) -> None:
        data = asdict(self) | {"kind": "landmark-dynamics", "format_version": 1}
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LandmarkScorer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "landmark scorer") -> LandmarkScorer:
        data = dict(data)
        if data.pop("kind", None) != "landmark-dynamics" or data.pop("format_version", 0) != 1:
            raise ValueError(f"{source}: not a landmark-dynamics scorer (format 1)")
        return cls(
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            coef=tuple(data["coef"]),
            intercept=float(data["intercept"]),
            features=tuple(data["features"]),
        )


def fit_standardised_logistic(
    features: np.ndarray, labels: np.ndarray, regularisation: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(mean, scale, coef, intercept)`` of a logistic regression on ``(N, F)`` features
    standardised by their mean and scale, with 0/1 labels (classes weighted equally);
    ``regularisation`` is its C. The logit of ``f`` is ``((f - mean) / scale) @ coef +
    intercept``."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, np.float64)
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    model = LogisticRegression(C=regularisation, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, np.asarray(labels))
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def fit_landmark_scorer(
    features: np.ndarray, labels: np.ndarray, regularisation: float = 1.0
) -> LandmarkScorer:
    """Fit the scorer on ``(N, F)`` features and 0/1 labels (classes weighted equally)."""
    mean, scale, coef, intercept = fit_standardised_logistic(features, labels, regularisation)
    return LandmarkScorer(
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        coef=tuple(coef.tolist()),
        intercept=intercept,
    )

"""The texture model and the landmark-dynamics scorer as one score per person.

A model folder may hold ``landmarks.json`` beside ``model.safetensors``: a fitted
:class:`~deepfake_detector.models.landmark_dynamics.LandmarkScorer` and the logistic regression
that combines it with the texture model (fitted on leave-one-generator-out scores, see
``training/logo.py``). With it, a person's fake probability is

    sigmoid(a * z_texture + b * z_landmarks + c * abstained + d)

where ``z_texture = temperature * logit(p_texture)`` is the texture model's raw clip logit, and
``z_landmarks`` is 0 with ``abstained = 1`` when the landmark scorer abstains (too few frames,
or frames too far apart). Without the file, the texture model's probability is the score.
Both members' own probabilities are reported beside the combined one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_detector.models.landmark_dynamics import LandmarkScorer, dynamics_features

MEMBERS_NAME = "landmarks.json"
TEXTURE, LANDMARKS = "texture", "landmarks"


@dataclass(frozen=True)
class Combination:
    """Coefficients of the combining logistic regression (on raw logits)."""

    texture_logit: float
    landmark_logit: float
    landmark_abstained: float
    bias: float


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@dataclass(frozen=True)
class LandmarkMember:
    """The landmark scorer of a model folder and how it is combined with the texture model.

    ``sample_frames``: how many frames the scorer's training tracks were sampled from across
    each clip (the crop cache's ``frames``). Its rate features divide by the step between
    frames, so a person seen on a denser grid is scored on that many of the video's samples,
    evenly spread, as it was trained (``scripts/sampling_confound.py serve`` measures why)."""

    scorer: LandmarkScorer
    combination: Combination
    sample_frames: int | None = None

    def on_training_grid(self, sample_indices: Sequence[int], samples: int) -> np.ndarray:
        """Which of a person's frames (their ``sample_indices`` among the video's ``samples``
        evenly spread samples) lie on a grid of ``sample_frames`` evenly spread samples: all
        of them when the video was not sampled more densely than that."""
        indices = np.asarray(sample_indices, np.int64)
        if not self.sample_frames or samples <= self.sample_frames:
            return np.ones(len(indices), bool)
        grid = np.unique(np.round(np.linspace(0, samples - 1, self.sample_frames)).astype(int))
        return np.isin(indices, grid)

    def combine(
        self,
        texture_probability: float,
        temperature: float,
        points: Sequence[np.ndarray | None],
        times: Sequence[float],
        sample_indices: Sequence[int] | None = None,
        samples: int = 0,
    ) -> tuple[float, dict[str, float | None]]:
        """``(combined probability, {member: its own probability or None})`` of one person;
        ``points`` are the crops' five landmarks (None where the detector gave none), at
        ``times``; ``sample_indices`` place them among the video's ``samples`` sampled frames
        (see ``sample_frames``; without them every frame is used)."""
        array = np.full((len(points), 5, 2), np.nan)
        for k, p in enumerate(points):
            if p is not None:
                array[k] = p
        at = np.asarray(times, np.float64)
        if sample_indices is not None:
            keep = self.on_training_grid(sample_indices, samples)
            array, at = array[keep], at[keep]
        features = dynamics_features(array, at)
        z_landmarks = None if features is None else self.scorer.logit(features)
        c = self.combination
        z = c.texture_logit * temperature * _logit(texture_probability) + c.bias
        z += c.landmark_abstained if z_landmarks is None else c.landmark_logit * z_landmarks
        members = {
            TEXTURE: texture_probability,
            LANDMARKS: None if z_landmarks is None else _sigmoid(z_landmarks),
        }
        return _sigmoid(z), members

    def save(self, path: str | Path) -> None:
        self.scorer.save(path)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["combination"] = self.combination.__dict__
        if self.sample_frames:
            data["sample_frames"] = self.sample_frames
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LandmarkMember:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        try:
            combination = Combination(**data.pop("combination"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: no valid combination ({exc})") from None
        sample_frames = data.pop("sample_frames", None)
        if sample_frames is not None and (not isinstance(sample_frames, int) or sample_frames < 2):
            raise ValueError(f"{path}: sample_frames must be an integer of at least 2")
        return cls(LandmarkScorer.from_dict(data, source=str(path)), combination, sample_frames)


def member_path(model: str) -> Path | None:
    """The ``landmarks.json`` of the model ``model`` resolves to, if it has one."""
    from deepfake_detector.models.registry import resolve_model

    origin = Path(resolve_model(model).origin)
    folder = origin.parent if origin.suffix == ".safetensors" else origin
    path = folder / MEMBERS_NAME
    return path if path.is_file() else None


def load_member(model: str) -> LandmarkMember | None:
    """The landmark member of a model, or ``None`` when it has none. A broken file is an error
    (``ModelError``), never silently ignored: the scores would change without a word."""
    from deepfake_detector.errors import ModelError

    path = member_path(model)
    if path is None:
        return None
    try:
        return LandmarkMember.load(path)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read the landmark scorer {path}: {exc}") from None

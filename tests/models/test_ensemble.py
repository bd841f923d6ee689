"""A model folder with a landmark member: both scorers run on every person, the combined score
follows the stored combination, and the result reports each member's own probability."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deepfake_detector.analysis import Analyzer
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.errors import ModelError
from deepfake_detector.models.ensemble import (
    MEMBERS_NAME,
    Combination,
    LandmarkMember,
    load_member,
)
from deepfake_detector.models.landmark_dynamics import FEATURE_NAMES, LandmarkScorer
from deepfake_detector.models.registry import WEIGHTS_DIR, default_model_name, resolve_model
from deepfake_detector.service.settings_key import settings_key

N = len(FEATURE_NAMES)
SCORER = LandmarkScorer(mean=(0.0,) * N, scale=(1.0,) * N, coef=(0.5,) * N, intercept=-1.0)


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    source = WEIGHTS_DIR / default_model_name()
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(source / name, folder / name)
    return folder


def test_landmark_member_is_combined_and_reported(model_copy: Path, panning_video: Path) -> None:
    settings = AnalysisSettings(model=str(model_copy), frames=8)
    alone = Analyzer(settings).analyze(panning_video)
    assert alone.model["members"] == ["texture"]
    assert alone.faces[0].members == {"texture": alone.faces[0].fake_probability}
    key_alone = settings_key(settings)

    t = resolve_model(str(model_copy)).config.temperature
    # texture coefficient 1/T: the combined logit is the calibrated texture logit plus 2.
    member = LandmarkMember(SCORER, Combination(1.0 / t, 0.0, 0.0, 2.0))
    member.save(model_copy / MEMBERS_NAME)
    assert load_member(str(model_copy)) == member
    both = Analyzer(settings).analyze(panning_video)
    assert both.model["members"] == ["texture", "landmarks"]
    face = both.faces[0]
    p_texture = face.members["texture"]
    assert p_texture == pytest.approx(alone.faces[0].fake_probability, abs=1e-6)
    logit = np.log(p_texture / (1 - p_texture))
    assert face.fake_probability == pytest.approx(1 / (1 + np.exp(-(logit + 2.0))), abs=1e-6)
    assert face.members["landmarks"] is None or 0 <= face.members["landmarks"] <= 1
    assert both.to_dict()["faces"][0]["members"]["texture"] == pytest.approx(p_texture, abs=1e-6)
    # A second scorer changes the results: the de-duplication key changes with it.
    assert settings_key(settings) != key_alone

    (model_copy / MEMBERS_NAME).write_text("{not json")
    with pytest.raises(ModelError, match="landmark scorer"):
        Analyzer(settings)


def _moving_points(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    base = np.array([[20, 24], [44, 24], [32, 34], [24, 46], [40, 46]], np.float64)
    return [base + rng.normal(0, 0.5, base.shape) for _ in range(n)]


def test_member_scores_a_denser_sampling_on_its_training_grid(tmp_path: Path) -> None:
    """A member trained on 24 samples per clip scores a person sampled 32 times on the 24 of
    those samples that lie on its grid: the same as given only those frames, not all 32."""
    rng = np.random.default_rng(0)
    points = _moving_points(32, rng)
    times = np.arange(32) * 10 / 32
    member = LandmarkMember(SCORER, Combination(1.0, 1.0, 0.0, 0.0), sample_frames=24)
    keep = member.on_training_grid(range(32), 32)
    assert keep.sum() == 24 and keep[0] and keep[-1]
    on_grid = member.combine(0.3, 1.0, points, times, range(32), 32)
    subset = [p for p, k in zip(points, keep, strict=True) if k]
    assert on_grid == member.combine(0.3, 1.0, subset, times[keep])
    assert on_grid != member.combine(0.3, 1.0, points, times)
    # Sampled no more densely than it was trained on: every frame is used.
    assert member.on_training_grid(range(20), 20).all()
    assert member.on_training_grid([3, 7], 20).all()
    # Stored with the member; a bad value is refused on load.
    member.save(tmp_path / MEMBERS_NAME)
    assert LandmarkMember.load(tmp_path / MEMBERS_NAME) == member
    bad = (tmp_path / MEMBERS_NAME).read_text().replace('"sample_frames": 24', '"sample_frames": 1')
    (tmp_path / MEMBERS_NAME).write_text(bad)
    with pytest.raises(ValueError, match="sample_frames"):
        LandmarkMember.load(tmp_path / MEMBERS_NAME)


def test_pipeline_places_each_frame_on_the_members_grid(
    model_copy: Path, panning_video: Path
) -> None:
    """The analysis tells the member where each of a person's frames lies among the video's
    samples: on a grid of 2 the member has too few frames and abstains; without a grid it
    scores the same 16 frames."""
    settings = AnalysisSettings(model=str(model_copy), frames=16)
    for sample_frames, abstains in ((None, False), (2, True)):
        member = LandmarkMember(SCORER, Combination(1.0, 1.0, -1.0, 0.0), sample_frames)
        member.save(model_copy / MEMBERS_NAME)
        face = Analyzer(settings).analyze(panning_video).faces[0]
        assert (face.members["landmarks"] is None) is abstains

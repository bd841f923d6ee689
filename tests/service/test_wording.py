"""Verdict words: the borderline band is "uncertain" in a neutral tone, and a score is called a
chance only for a model whose real-world calibration was measured and is good."""

from __future__ import annotations

from deepfake_detector.faces.crop import CropSpec
from deepfake_detector.models.classifier import ModelInfo
from deepfake_detector.service import wording


def _result(p: float, *, band: list[float] | None, is_probability: bool) -> dict:
    model = {"band": band, "score_is_probability": is_probability, "calibrated": True}
    face = {"fake_probability": p, "frames": []}
    return {
        "verdict": "FAKE" if p >= 0.5 else "REAL",
        "fake_probability": p,
        "threshold": 0.5,
        "model": model,
        "faces": [face],
    }


def test_inside_the_band_is_uncertain_and_neutral() -> None:
    v = wording.describe(_result(0.55, band=[0.3, 0.7], is_probability=True), "done", None)
    assert v.tone == "uncertain" and v.headline == "Uncertain, leaning manipulated"
    assert "too often wrong to call either way" in v.explanation
    assert "30 %" in v.explanation and "70 %" in v.explanation
    clear = wording.describe(_result(0.8, band=[0.3, 0.7], is_probability=True), "done", None)
    assert clear.tone == "fake" and clear.headline == "Likely manipulated"
    low = wording.describe(_result(0.05, band=[0.3, 0.7], is_probability=True), "done", None)
    assert low.tone == "real" and low.headline == "Very likely authentic"


def test_score_is_a_chance_only_when_calibration_was_measured_good() -> None:
    good = wording.describe(_result(0.9, band=None, is_probability=True), "done", None)
    assert "chance that the face" in good.explanation
    poor = wording.describe(_result(0.9, band=None, is_probability=False), "done", None)
    assert "fake score of 90 %" in poor.explanation and "chance" not in poor.headline
    assert wording.describe_face(0.9, 0.5, {"score_is_probability": False}).explanation == (
        "90 % fake score"
    )
    notes = wording.caveats(_result(0.9, band=None, is_probability=False))
    assert any("not calibrated well enough" in n for n in notes)


def test_model_info_bands() -> None:
    info = ModelInfo(
        "m",
        "0" * 64,
        "sequence",
        "b",
        CropSpec(160, 0.25, True),
        0.5,
        True,
        True,
        band=(0.35, 0.65),
        ece=0.12,
    )
    assert [info.band_of(p) for p in (0.1, 0.35, 0.5, 0.64, 0.65, 0.9)] == [
        "REAL",
        "UNCERTAIN",
        "UNCERTAIN",
        "UNCERTAIN",
        "FAKE",
        "FAKE",
    ]
    assert not info.score_is_probability  # ECE 0.12 > 0.10
    good = ModelInfo(
        "m", "0" * 64, "sequence", "b", CropSpec(160, 0.25, True), 0.5, True, True, ece=0.05
    )
    assert good.score_is_probability and good.band_of(0.5) == "FAKE"
    assert good.to_dict()["score_is_probability"] is True

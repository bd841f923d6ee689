"""Verdicts in words a non-expert understands, from the calibrated probability and threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    tone: str
    """``fake`` | ``real`` | ``unknown`` | ``error`` (a CSS class)."""
    headline: str
    explanation: str


def percent(p: float | None) -> str:
    """A probability as people say it, never a false 0 % or 100 %."""
    if p is None:
        return "–"
    value = 100.0 * p
    if value < 1:
        return "less than 1 %"
    if value > 99:
        return "more than 99 %"
    return f"{value:.0f} %"


_CLEAR_MARGIN = 0.15
"""Without a band from validation, probabilities closer than this to the threshold are called
borderline, not likely."""


def _band(p: float, threshold: float, band: Any) -> tuple[float, float]:
    """The model's borderline band ``[low, high)``, or ``threshold ± _CLEAR_MARGIN`` if it has
    none (results of schema 1.0, models without a measured band)."""
    if isinstance(band, list | tuple) and len(band) == 2 and band[0] < band[1]:
        return float(band[0]), float(band[1])
    return threshold - _CLEAR_MARGIN, threshold + _CLEAR_MARGIN


def _headline(p: float, threshold: float, band: Any = None) -> str:
    """How sure, in words: "very likely" near 0 or 1, "uncertain" inside the borderline band."""
    side = "manipulated" if p >= threshold else "authentic"
    low, high = _band(p, threshold, band)
    if low <= p < high:
        return f"Uncertain, leaning {side}"
    if p >= 0.9 or p <= 0.1:
        return f"Very likely {side}"
    return f"Likely {side}"


def _tone(p: float, threshold: float, band: Any) -> str:
    low, high = _band(p, threshold, band)
    if low <= p < high:
        return "uncertain"
    return "fake" if p >= threshold else "real"


def score_words(model: dict[str, Any] | None) -> str:
    """What the number is: "chance of manipulation" only for a model whose calibration was
    measured on held-out real-world data and found good; a "fake score" otherwise."""
    if model and model.get("score_is_probability"):
        return "chance of manipulation"
    return "fake score"


def describe_face(p: float, threshold: float, model: dict[str, Any] | None = None) -> Verdict:
    """One person's verdict in a short line."""
    band = (model or {}).get("band")
    return Verdict(
        _tone(p, threshold, band),
        _headline(p, threshold, band),
        f"{percent(p)} {score_words(model)}",
    )


def describe(result: dict[str, Any] | None, status: str, error: str | None) -> Verdict:
    """The whole video's verdict: a headline and one or two plain sentences."""
    if status in ("queued", "running") or result is None:
        if status == "failed":
            return Verdict("error", "The analysis failed", error or "No result was produced.")
        return Verdict("unknown", "Analysing…", "The verdict appears here when the analysis ends.")
    verdict = result.get("verdict")
    if verdict == "ERROR":
        return Verdict(
            "error", "This video could not be analysed", result.get("error") or error or ""
        )
    if verdict == "INCONCLUSIVE":
        reason = result.get("reason") or "There was nothing the model could judge."
        return Verdict("unknown", "No verdict", reason)
    p = float(result.get("fake_probability") or 0.0)
    threshold = float(result.get("threshold") or 0.5)
    model = result.get("model") or {}
    band = model.get("band")
    people = len(result.get("faces") or [])
    who = "the face" if people == 1 else f"at least one of the {people} people"
    tone, headline = _tone(p, threshold, band), _headline(p, threshold, band)
    if model.get("score_is_probability"):
        measure = (
            f"puts the chance that {who} in this video was digitally manipulated at {percent(p)}"
        )
    else:
        measure = (
            f"gives {who} in this video a fake score of {percent(p)} (a score, not a measured "
            "chance: its calibration on real-world videos is not good enough to read it as one)"
        )
    if tone == "uncertain":
        low, high = _band(p, threshold, band)
        text = (
            f"The detector {measure}. Scores between {percent(low)} and {percent(high)} are "
            "where it is too often wrong to call either way, so it does not: treat this video "
            "as unresolved and check it by other means."
        )
        return Verdict("uncertain", headline, text)
    if tone == "fake":
        text = f"The detector {measure}. It calls a video manipulated from {percent(threshold)}."
        return Verdict("fake", headline, text)
    text = (
        f"The detector {measure}, below the {percent(threshold)} at which it would call it "
        "manipulated."
    )
    return Verdict("real", headline, text)


def caveats(result: dict[str, Any] | None) -> list[str]:
    """Warnings a reader must see next to the verdict."""
    if not result:
        return []
    notes = []
    model = result.get("model") or {}
    if model.get("trained") is False:
        notes.append(
            "The model in use has untrained (random) weights: its scores mean nothing. "
            "Install a trained model before relying on any verdict."
        )
    elif model and not model.get("score_is_probability"):
        notes.append(
            "This model's scores are not calibrated well enough on real-world videos to be read "
            "as chances: compare them with the threshold and the uncertain band, not as odds."
        )
    if result.get("verdict") in ("REAL", "FAKE"):
        notes.append(
            "A statistical estimate, not proof: new manipulation methods can go undetected, and "
            "heavy compression or unusual lighting can look suspicious."
        )
    return notes

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
"""Probabilities closer than this to the threshold are called borderline, not likely."""


def _headline(p: float, threshold: float) -> str:
    """How sure, in words: "very likely" near 0 or 1, "borderline" close to the threshold."""
    side = "manipulated" if p >= threshold else "authentic"
    if p >= 0.9 or p <= 0.1:
        return f"Very likely {side}"
    if abs(p - threshold) >= _CLEAR_MARGIN:
        return f"Likely {side}"
    return f"Borderline, leaning {side}"


def describe_face(p: float, threshold: float) -> Verdict:
    """One person's verdict in a short line."""
    tone = "fake" if p >= threshold else "real"
    return Verdict(tone, _headline(p, threshold), f"{percent(p)} fake")


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
    people = len(result.get("faces") or [])
    who = "the face" if people == 1 else f"at least one of the {people} people"
    if verdict == "FAKE":
        headline = _headline(p, threshold)
        text = (
            f"The detector puts the chance that {who} in this video was digitally manipulated "
            f"at {percent(p)}. It calls a video manipulated from {percent(threshold)}."
        )
        return Verdict("fake", headline, text)
    headline = _headline(p, threshold)
    subject = "the face" if people == 1 else "any of the faces"
    text = (
        f"The detector puts the chance that {subject} in this video was digitally manipulated "
        f"at only {percent(p)}, below the {percent(threshold)} at which it would call it "
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
    elif model and model.get("calibrated") is False:
        notes.append(
            "This model's probabilities are not calibrated: read them as scores, not as exact "
            "chances."
        )
    if result.get("verdict") in ("REAL", "FAKE"):
        notes.append(
            "A statistical estimate, not proof: new manipulation methods can go undetected, and "
            "heavy compression or unusual lighting can look suspicious."
        )
    return notes

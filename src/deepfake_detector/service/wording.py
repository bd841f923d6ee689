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


def seconds_text(value: float | None) -> str:
    """A duration or a time in the video as people read it: ``4.2 s``, ``3 min 05 s``."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def when_text(iso_text: str | None) -> str:
    """An RFC 3339 UTC moment to the minute: ``2026-12-03 06:57 UTC``."""
    return "–" if not iso_text else iso_text[:16].replace("T", " ") + " UTC"


def media_noun(result: dict[str, Any] | None) -> str:
    """``"photo"`` or ``"video"``: what the analysed file was, for the sentences about it."""
    media = (result or {}).get("media") or (result or {}).get("video") or {}
    return "photo" if media.get("kind") == "image" else "video"


def describe(result: dict[str, Any] | None, status: str, error: str | None) -> Verdict:
    """The whole file's verdict: a headline and one or two plain sentences."""
    if status in ("queued", "running") or result is None:
        if status == "failed":
            return Verdict("error", "The analysis failed", error or "No result was produced.")
        return Verdict("unknown", "Analysing…", "The verdict appears here when the analysis ends.")
    verdict = result.get("verdict")
    if verdict == "ERROR":
        return Verdict(
            "error",
            f"This {media_noun(result) if result.get('media') else 'file'} could not be analysed",
            result.get("error") or error or "",
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
    noun = media_noun(result)
    if model.get("score_is_probability"):
        measure = (
            f"puts the chance that {who} in this {noun} was digitally manipulated at {percent(p)}"
        )
    else:
        measure = (
            f"gives {who} in this {noun} a fake score of {percent(p)} (a score, not a measured "
            "chance: its calibration on real-world videos is not good enough to read it as one)"
        )
    if tone == "uncertain":
        low, high = _band(p, threshold, band)
        text = (
            f"The detector {measure}. Scores between {percent(low)} and {percent(high)} are "
            f"where it is too often wrong to call either way, so it does not: treat this {noun} "
            "as unresolved and check it by other means."
        )
        return Verdict("uncertain", headline, text)
    if tone == "fake":
        text = f"The detector {measure}. It calls a {noun} manipulated from {percent(threshold)}."
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
    if result.get("verdict") in ("REAL", "FAKE") and media_noun(result) == "photo":
        notes.append(
            "A photo is a single frame: the model, made for video, scores one crop per face and "
            "cannot use how a face moves, so its score on a photo rests on less evidence than on "
            "a video."
        )
    if result.get("verdict") in ("REAL", "FAKE"):
        notes.append(
            "A statistical estimate, not proof: new manipulation methods can go undetected, and "
            "heavy compression or unusual lighting can look suspicious."
        )
    return notes


HEATMAP_CAVEAT = (
    "It shows where the network looked, not where a manipulation is: on real and fake faces "
    "alike it can light up hair, edges or the background."
)
"""Beside every heatmap (the page and the PDF report)."""


def score_parts(person: dict[str, Any]) -> str:
    """How a person's score is formed, from a person card (``web.people_cards``): the range and
    mean of the single frames' scores, then why the person's score is not their mean."""
    scores = person.get("frame_scores")
    if not scores:
        return ""
    if person.get("seen") == 1:
        text = f"Scored from one crop: alone, it scored {percent(scores['mean'])}"
        if person.get("texture") is not None:
            text += f"; read as a clip by the sequence model, {percent(person['texture'])}"
        if person.get("landmarks") is None and person.get("has_landmarks"):
            text += "; the landmark scorer needs a moving face and had none to read"
        return text + "."
    text = (
        f"Single frames scored {percent(scores['low'])}–{percent(scores['high'])} "
        f"(mean {percent(scores['mean'])})."
    )
    if person.get("texture") is None:
        return text
    text += (
        " The person's score is not their mean: the sequence model read all "
        f"{person['seen']} crops in order ({percent(person['texture'])})"
    )
    if person.get("landmarks") is not None:
        text += (
            f", and the landmark scorer how the face moved ({percent(person['landmarks'])}); "
            "the two are combined"
        )
    elif person.get("has_landmarks"):
        text += "; the landmark scorer abstained (too few or too sparse frames)"
    return text + "."


def chart_note(model: dict[str, Any] | None) -> str:
    """Beside the score-over-time chart when the model has a landmark member: the points are
    single frames' texture scores, which the person's score need not match."""
    if "landmarks" not in ((model or {}).get("members") or []):
        return ""
    return (
        "These are the texture model's scores of single frames; a person's score above also "
        "weighs how their face moves over all frames (landmark dynamics), so it can differ from "
        "every point here."
    )

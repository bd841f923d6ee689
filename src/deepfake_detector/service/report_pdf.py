"""The PDF report of a finished analysis: a document a person can send on, print or file.

It is made from the same self-describing report as the JSON download (``api.report_json``: the
result, named by its upload, plus the file, the analysis id, the times and the release), so the
two cannot disagree, and it is worded like the page: the verdict, the caveats and the person
cards come from ``wording`` and ``web.people_cards``. Contents: the verdict with the overall
score and band, one card per person, the score over time (not for a single sampled frame, e.g.
a photo), a strip of each person's face crops (with their heatmaps when drawn), how it was
analysed with a summary of the model's card, and the file's facts.

fpdf2 writes the PDF (pure Python); matplotlib draws the chart (Agg, into memory). Text is set
in DejaVu Sans, which matplotlib ships, so file names in Latin, Greek or Cyrillic scripts print
as they are; characters it lacks (Chinese, Japanese, emoji…) fall back to matplotlib's Last
Resort font, printed as boxes naming their Unicode block but kept as searchable, copyable text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.errors import FPDFException
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from deepfake_detector.service import wording
from deepfake_detector.service.web import people_cards

Evidence = Callable[[str], bytes | None]
"""Reads an evidence image by its path relative to the analysis's evidence folder (as the
result names it: ``crops/face0_0003.jpg``): its JPEG bytes, or None when it is not there."""

MAX_CROPS = 8
"""Face crops shown per person, spread over their appearances."""
FINISHED = ("done", "failed")

INTENDED_USE = (
    "Screening videos and photos for signs of face manipulation: a signal to check by other "
    "means, not proof. The shipped weights are for non-commercial research use only."
)
NO_CARD_LICENCE = "Not recorded: this model is not one shipped with the program."

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONTS = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("sans", "I"): "DejaVuSans-Oblique.ttf",
}
_FALLBACK = "LastResortHE-Regular.ttf"

_INK = (17, 24, 39)
_MUTED = (107, 114, 128)
_RULE = (209, 213, 219)
_TONES = {  # strong, soft: the page's colours (static/css/app.css)
    "fake": ((185, 28, 28), (254, 226, 226)),
    "real": ((21, 128, 61), (220, 252, 231)),
    "uncertain": ((55, 65, 81), (243, 244, 246)),
    "unknown": ((146, 64, 14), (254, 243, 199)),
    "error": ((185, 28, 28), (254, 226, 226)),
}
_GAUGE_HEIGHT = 24.0
"""mm the overall score's bar takes in the verdict box, with its labels."""
_SERIES = ("#2563eb", "#d97706", "#7c3aed", "#0d9488", "#db2777", "#4b5563")


def render_pdf(
    report: Mapping[str, Any],
    evidence: Evidence,
    *,
    status: str = "done",
    error: str | None = None,
    heatmaps: Mapping[str, str] | None = None,
    hidden_heatmaps: frozenset[str] = frozenset(),
) -> bytes:
    """The PDF of a finished analysis (``status`` done or failed) from its report as
    ``api.report_json`` builds it. ``evidence`` reads the crops; ``heatmaps`` maps a crop's
    path to its heatmap's (the analysis's ``heatmaps``); ``hidden_heatmaps``: the crops whose
    heatmap pointed away from the face (labelled "no clear region", as on the page); ``error``
    is why a failed analysis failed when it has no result. Raises ``ValueError`` for an
    analysis still queued or running."""
    if status not in FINISHED:
        raise ValueError(f"the analysis is {status}: a report is made once it has finished")
    about = dict(report.get("report") or {})
    result = dict(report) if "verdict" in report else None
    doc = _Document(about, fallback=_needs_fallback(report, error))
    doc.title_block(report)
    doc.verdict_block(wording.describe(result, status, error), result)
    if result is not None:
        people = people_cards(result)
        doc.people_block(people, evidence, wording.media_noun(result))
        if _has_time_line(result, people):
            doc.chart_block(result, people)
        doc.crops_block(people, evidence, dict(heatmaps or {}), hidden_heatmaps)
        doc.method_block(result, about)
    doc.file_block(report, about)
    return bytes(doc.output())


def _has_time_line(result: Mapping[str, Any], people: list[dict[str, Any]]) -> bool:
    """A chart needs people and more than one sampled frame: never for a photo."""
    media = result.get("media") or result.get("video") or {}
    frames = result.get("sampled_frames") or []
    return bool(people) and media.get("kind") != "image" and len(frames) > 1


def _needs_fallback(report: Mapping[str, Any], error: str | None) -> bool:
    """Whether any text of the report has a character DejaVu Sans lacks (file names mostly)."""
    covered = _covered()
    return any(
        ord(ch) not in covered and not ch.isspace()
        for text in _strings([report, error])
        for ch in text
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@lru_cache(maxsize=1)
def _covered() -> frozenset[int]:
    """The code points every DejaVu style used here has a glyph for."""
    from fontTools.ttLib import TTFont

    sets = []
    for name in _FONTS.values():
        with TTFont(_FONT_DIR / name, lazy=True) as font:
            sets.append(set(font.getBestCmap()))
    return frozenset(set.intersection(*sets))


def _media_words(result: Mapping[str, Any]) -> str:
    media = result.get("media") or result.get("video") or {}
    if not media:
        return "–"
    size = f"{media.get('width')}×{media.get('height')}"
    codec = media.get("codec") or "?"
    if media.get("kind") == "image":
        return f"photo, {size}, {codec}"
    fps = media.get("fps")
    rate = f", {fps:g} frames/s" if isinstance(fps, int | float) and fps else ""
    return f"video, {size}, {wording.seconds_text(media.get('duration_s'))}, {codec}{rate}"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _Document(FPDF):
    """A4 pages with the analysis named in every footer, and the blocks of the report."""

    def __init__(self, about: Mapping[str, Any], *, fallback: bool) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.about = about
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        for (family, style), name in _FONTS.items():
            self.add_font(family, style, str(_FONT_DIR / name))
        if fallback and (_FONT_DIR / _FALLBACK).is_file():  # about 2 s: only when needed
            self.add_font("fallback", "", str(_FONT_DIR / _FALLBACK))
            self.set_fallback_fonts(["fallback"], exact_match=False)
        name = (about.get("file") or {}).get("name") or "analysis"
        self.set_title(f"Deepfake analysis report: {name}")
        self.set_subject("Verdict, evidence and method of one analysis")
        self.set_creator(f"deepfake-detector {about.get('app_version', '')}".strip())
        self.set_author("deepfake-detector")
        made = _parse_time(about.get("finished_at"))
        if made is not None:  # the same analysis gives the same document
            self.set_creation_date(made)
        self.set_text_color(*_INK)
        self.add_page()

    # -- page furniture --------------------------------------------------------------------------

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("sans", size=7.5)
        self.set_text_color(*_MUTED)
        analysis = self.about.get("analysis_id") or "–"
        self.cell(
            0,
            5,
            f"Deepfake detector · analysis {analysis} · page {self.page_no()}/{{nb}}",
            align="C",
        )
        self.set_text_color(*_INK)

    def _room(self, height: float) -> None:
        """A new page unless ``height`` mm still fit on this one."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def _text_height(self, width: float, line: float, text: str) -> float:
        return float(self.multi_cell(width, line, text, dry_run=True, output="HEIGHT"))

    def _paragraph(
        self, text: str, size: float = 9.5, style: str = "", colour: tuple[int, int, int] = _INK
    ) -> None:
        if not text:
            return
        self.set_font("sans", style, size)
        self.set_text_color(*colour)
        self.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*_INK)

    def _heading(self, text: str, room: float = 22) -> None:
        """A section title, on a new page unless ``room`` mm fit below it."""
        self._room(room)
        self.ln(4)
        self.set_font("sans", "B", 12.5)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*_RULE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2.5)

    def _facts(self, rows: list[tuple[str, str]]) -> None:
        """Two columns, label and value; values wrap (long names and hashes too)."""
        self.set_font("sans", size=9)
        self.set_fill_color(255, 255, 255)  # the table takes the current fill for its cells
        with self.table(
            col_widths=(38, self.epw - 38),
            first_row_as_headings=False,
            borders_layout="NONE",
            text_align=("LEFT", "LEFT"),
            line_height=4.6,
            padding=(0.6, 1, 0.6, 0),
            cell_fill_mode="NONE",
            v_align="TOP",
        ) as table:
            for label, value in rows:
                row = table.row()
                self.set_text_color(*_MUTED)
                row.cell(label)
                self.set_text_color(*_INK)
                row.cell(value or "–")
        self.set_text_color(*_INK)

    def _bullets(self, items: list[str], size: float = 9) -> None:
        self.set_font("sans", size=size)
        for item in items:
            self.set_x(self.l_margin)
            self.cell(4, size * 0.5, "•")
            self.multi_cell(0, size * 0.5, item, align="L", new_x="LMARGIN", new_y="NEXT")
            self.ln(0.8)

    def _image(self, data: bytes | None, x: float, y: float, size: float, alt: str) -> bool:
        if not data:
            return False
        try:
            self.image(io.BytesIO(data), x=x, y=y, w=size, h=size, alt_text=alt)
        except (OSError, ValueError, FPDFException):  # not an image we can read: left out
            return False
        return True

    # -- blocks ----------------------------------------------------------------------------------

    def title_block(self, report: Mapping[str, Any]) -> None:
        name = (self.about.get("file") or {}).get("name") or str(report.get("path") or "")
        self.set_font("sans", "B", 8.5)
        self.set_text_color(*_MUTED)
        self.cell(0, 5, "DEEPFAKE ANALYSIS REPORT", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*_INK)
        self.set_font("sans", "B", 17)
        self.multi_cell(0, 8, name, align="L", new_x="LMARGIN", new_y="NEXT", wrapmode="CHAR")
        self.set_font("sans", size=9)
        self.set_text_color(*_MUTED)
        finished = wording.when_text(self.about.get("finished_at"))
        self.multi_cell(
            0,
            4.8,
            f"Analysis {self.about.get('analysis_id', '–')} · uploaded "
            f"{wording.when_text(self.about.get('created_at'))} · finished {finished}",
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        self.set_text_color(*_INK)
        self.ln(3)

    def verdict_block(self, verdict: wording.Verdict, result: Mapping[str, Any] | None) -> None:
        strong, soft = _TONES.get(verdict.tone, _TONES["unknown"])
        notes = wording.caveats(result)
        inner = self.epw - 10
        self.set_font("sans", "B", 15)
        height = 5 + 4 + self._text_height(inner, 7, verdict.headline)
        self.set_font("sans", size=10)
        height += 2 + self._text_height(inner, 5, verdict.explanation)
        p = (result or {}).get("fake_probability")
        if p is not None:
            height += _GAUGE_HEIGHT
        self.set_font("sans", size=8.8)
        for note in notes:
            height += 3 + self._text_height(inner - 4, 4.4, note)
        height += 5
        self._room(height)
        top = self.get_y()
        self.set_fill_color(*soft)
        self.rect(self.l_margin, top, self.epw, height, style="F")
        self.set_fill_color(*strong)
        self.rect(self.l_margin, top, 1.6, height, style="F")
        left = self.l_margin + 6
        self.set_xy(left, top + 4)
        self.set_font("sans", "B", 8)
        self.set_text_color(*_MUTED)
        self.cell(0, 5, "VERDICT", new_x="LEFT", new_y="NEXT")
        self.set_font("sans", "B", 15)
        self.set_text_color(*strong)
        self.multi_cell(inner, 7, verdict.headline, align="L", new_x="LEFT", new_y="NEXT")
        self.set_text_color(*_INK)
        self.ln(2)
        self.set_x(left)
        self.set_font("sans", size=10)
        self.multi_cell(inner, 5, verdict.explanation, align="L", new_x="LEFT", new_y="NEXT")
        if p is not None and result is not None:
            gauge_top = self.get_y()
            self._gauge(left, gauge_top + 3, inner, result)
            self.set_xy(left, gauge_top + _GAUGE_HEIGHT)
        for note in notes:
            self.ln(3)
            self.set_x(left)
            self._caveat(note, inner)
        self.set_xy(self.l_margin, top + height + 2)

    def _caveat(self, note: str, width: float) -> None:
        x, y = self.get_x(), self.get_y()
        self.set_font("sans", size=8.8)
        h = self._text_height(width - 4, 4.4, note)
        self.set_fill_color(*_TONES["unknown"][1])
        self.rect(x, y - 0.8, width, h + 1.6, style="F")
        self.set_xy(x + 2, y)
        self.multi_cell(width - 4, 4.4, note, align="L", new_x="LEFT", new_y="NEXT")
        self.set_x(x)

    def _gauge(self, x: float, y: float, width: float, result: Mapping[str, Any]) -> None:
        """The overall score on a 0–100 % bar, with the threshold and the uncertain band."""
        model = result.get("model") or {}
        p = float(result["fake_probability"])
        threshold = float(result.get("threshold") or model.get("threshold") or 0.5)
        band = model.get("band")
        self.set_font("sans", "B", 10)
        words = wording.score_words(model)
        label = f"{wording.percent(p)} {words}"
        if result.get("band"):
            label += f" · band {result['band']}"
        self.set_xy(x, y)
        self.cell(width, 5, label)
        bar_y, bar_h, bar_w = y + 7, 4.0, min(width, 130)
        self.set_fill_color(255, 255, 255)
        self.set_draw_color(*_RULE)
        self.rect(x, bar_y, bar_w, bar_h, style="DF")
        if isinstance(band, list | tuple) and len(band) == 2 and band[0] < band[1]:
            self.set_fill_color(*_RULE)
            self.rect(x + bar_w * band[0], bar_y, bar_w * (band[1] - band[0]), bar_h, style="F")
        self.set_draw_color(*_MUTED)
        self.set_dash_pattern(dash=0.8, gap=0.6)
        self.line(x + bar_w * threshold, bar_y - 1, x + bar_w * threshold, bar_y + bar_h + 1)
        self.set_dash_pattern()
        strong = _TONES["fake" if p >= threshold else "real"][0]
        self.set_fill_color(*strong)
        self.rect(x + bar_w * p - 0.7, bar_y - 1.2, 1.4, bar_h + 2.4, style="F")
        self.set_font("sans", size=7.5)
        self.set_text_color(*_MUTED)
        self.set_xy(x, bar_y + bar_h + 1)
        self.cell(bar_w / 2, 4, "authentic")
        self.cell(bar_w / 2, 4, "manipulated", align="R")
        detail = f"threshold {wording.percent(threshold)} (dashed)"
        if isinstance(band, list | tuple) and len(band) == 2 and band[0] < band[1]:
            detail += f"; uncertain band {wording.percent(band[0])}–{wording.percent(band[1])}"
            detail += " (shaded)"
        self.set_xy(x, bar_y + bar_h + 5)
        self.cell(width, 4, detail)
        self.set_text_color(*_INK)

    def people_block(self, people: list[dict[str, Any]], evidence: Evidence, noun: str) -> None:
        if not people:
            return
        self._heading(f"People in the {noun}")
        portrait = 24.0
        text_x = self.l_margin + portrait + 9
        inner = self.epw - portrait - 12
        for person in people:
            strong, soft = _TONES.get(person["verdict"].tone, _TONES["unknown"])
            lines = self._card_lines(person, photo=noun == "photo")
            height = 4.0
            for text, size, style, _colour in lines:
                self.set_font("sans", style, size)
                height += self._text_height(inner, size * 0.5, text) + 1
            height = max(height + 2, portrait + 6)
            self._room(height + 3)
            top = self.get_y()
            self.set_fill_color(*soft)
            self.rect(self.l_margin, top, self.epw, height, style="F")
            self.set_fill_color(*strong)
            self.rect(self.l_margin, top, 1.6, height, style="F")
            crop = person.get("portrait")
            alt = f"Face of person {person['number']}"
            if not (
                crop and self._image(evidence(crop), self.l_margin + 4, top + 3, portrait, alt)
            ):
                self.set_draw_color(*_RULE)
                self.rect(self.l_margin + 4, top + 3, portrait, portrait)
            self.set_xy(text_x, top + 3)
            for text, size, style, colour in lines:
                self.set_font("sans", style, size)
                self.set_text_color(*(strong if colour == "tone" else colour))
                self.multi_cell(inner, size * 0.5, text, align="L", new_x="LEFT", new_y="NEXT")
                self.set_xy(text_x, self.get_y() + 1)
            self.set_text_color(*_INK)
            self.set_xy(self.l_margin, top + height + 3)

    @staticmethod
    def _card_lines(person: Mapping[str, Any], *, photo: bool) -> list[tuple[str, float, str, Any]]:
        seen = person["seen"]
        when = (
            f"Seen in {seen} sampled frame{'s' if seen != 1 else ''}, "
            f"{wording.seconds_text(person['first_s'])}–{wording.seconds_text(person['last_s'])}"
        )
        lines = [
            (f"Person {person['number']}", 11, "B", _INK),
            (person["verdict"].headline, 10, "B", "tone"),
            (person["verdict"].explanation, 9.5, "", _INK),
            (when if not photo else "", 8.5, "", _MUTED),  # a photo is one frame
            (person.get("score_parts") or "", 8.5, "", _MUTED),
        ]
        return [line for line in lines if line[0]]

    def chart_block(self, result: Mapping[str, Any], people: list[dict[str, Any]]) -> None:
        model = result.get("model") or {}
        png = _score_chart(result, people)
        height = self.epw * 0.36
        self._heading(f"{wording.score_words(model).capitalize()} over time", height + 30)
        self.image(
            io.BytesIO(png),
            x=self.l_margin,
            y=self.get_y(),
            w=self.epw,
            h=height,
            alt_text="Score of each person over the video's time line",
        )
        self.set_y(self.get_y() + height + 1)
        caption = (
            "One line per person; the dashed line is the threshold above which a face is called "
            "manipulated"
        )
        band = model.get("band")
        if isinstance(band, list | tuple) and len(band) == 2 and band[0] < band[1]:
            caption += ", the shaded band the uncertain band"
        note = wording.chart_note(model)
        self._paragraph(caption + "." + (f" {note}" if note else ""), 8.5, colour=_MUTED)

    def crops_block(
        self,
        people: list[dict[str, Any]],
        evidence: Evidence,
        heatmaps: dict[str, str],
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        if not people:
            return
        self._heading("Face crops the model saw")
        size, gap = 20.0, 2.4
        shown_heatmaps = missing = no_region = 0
        for person in people:
            crops = _spread(person["crops"], MAX_CROPS)
            with_heat = [heatmaps.get(obs["crop"]) for obs in crops]
            rows = 2 if any(with_heat) or any(obs["crop"] in hidden for obs in crops) else 1
            self._room(8 + rows * (size + 6))
            self.set_font("sans", "B", 9.5)
            total = len(person["crops"])
            title = f"Person {person['number']}"
            if total > len(crops):
                title += f": {len(crops)} of {total} crops, spread over their appearances"
            self.cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
            if not crops:
                self._paragraph("No crop of this person was kept.", 8.5, colour=_MUTED)
                continue
            top = self.get_y()
            for n, obs in enumerate(crops):
                x = self.l_margin + n * (size + gap)
                alt = f"Person {person['number']} at {wording.seconds_text(obs['time_s'])}"
                if not self._image(evidence(obs["crop"]), x, top, size, alt):
                    missing += 1
                    self.set_draw_color(*_RULE)
                    self.rect(x, top, size, size)
                self.set_font("sans", size=6.5)
                self.set_text_color(*_MUTED)
                self.set_xy(x, top + size + 0.5)
                at, score = wording.seconds_text(obs["time_s"]), wording.percent(obs.get("score"))
                label = f"{at} · {score}"
                self.cell(size, 3.5, label, align="C")
                self.set_text_color(*_INK)
                heat = with_heat[n]
                if heat and self._image(
                    evidence(heat), x, top + size + 5, size, alt + " (heatmap)"
                ):
                    shown_heatmaps += 1
                elif obs["crop"] in hidden:
                    no_region += 1
                    self.set_font("sans", size=6.5)
                    self.set_text_color(*_MUTED)
                    self.set_xy(x, top + size + 5 + size / 2 - 3.5)
                    self.multi_cell(size, 3.5, "no clear region", align="C")
                    self.set_text_color(*_INK)
            self.set_xy(self.l_margin, top + rows * (size + 5) + 3)
        if missing:
            self._paragraph(
                f"{missing} crop{'s are' if missing != 1 else ' is'} no longer stored (the "
                "evidence files were removed); the scores above still stand.",
                8.5,
                colour=_MUTED,
            )
        if shown_heatmaps or no_region:
            text = (
                "Under each crop, its heatmap: which parts of the crop drove its score (red: most)."
            )
            if no_region:
                text += (
                    f" {no_region} heatmap{'s' if no_region != 1 else ''} pointed mostly away "
                    "from the face and "
                    f'{"are" if no_region != 1 else "is"} not shown ("no clear region").'
                )
            self._paragraph(text, 8.5, colour=_MUTED)
            self.ln(1.5)
            self._caveat(wording.HEATMAP_CAVEAT, self.epw)

    def method_block(self, result: Mapping[str, Any], about: Mapping[str, Any]) -> None:
        model = result.get("model") or {}
        self._heading("How this was analysed")
        threshold = result.get("threshold")
        if threshold is None:
            threshold = model.get("threshold")
        rows = [("Model", str(model.get("name") or "–"))]
        if model:
            rows.append(("Weights sha256", str(model.get("sha256") or "–")))
            rows.append(("Architecture", f"{model.get('architecture')} ({model.get('backbone')})"))
            rows.append(("Runtime", f"{model.get('backend')} on {model.get('device')}"))
            rows.append(("Threshold", wording.percent(threshold)))
            calibrated = "yes" if model.get("calibrated") else "no"
            if model.get("ece") is not None:
                calibrated += (
                    f" (calibration error {float(model['ece']):.2f} on held-out real-world videos)"
                )
            rows.append(("Calibrated", calibrated))
            band = model.get("band")
            if isinstance(band, list | tuple) and len(band) == 2 and band[0] < band[1]:
                rows.append(
                    ("Uncertain band", f"{wording.percent(band[0])}–{wording.percent(band[1])}")
                )
            if model.get("summary"):
                rows.append(("Measured accuracy", str(model["summary"])))
        rows.append(("Media", _media_words(result)))
        rows.append(("Frames analysed", str(result.get("frames_analyzed", "–"))))
        settings = result.get("settings") or {}
        if settings:
            rows.append(
                ("Settings", ", ".join(f"{k} {v}" for k, v in settings.items() if v is not None))
            )
        total = (result.get("timings") or {}).get("total")
        if total is not None:
            rows.append(("Analysis time", f"{float(total):.2f} s"))
        rows.append(("Result schema", str(result.get("schema_version", "–"))))
        self._facts(rows)
        self._model_card(model, about)

    def _model_card(self, model: Mapping[str, Any], about: Mapping[str, Any]) -> None:
        name = str(model.get("name") or "")
        card = _card_summary(name) if name else None
        self._room(40)
        self.ln(3)
        self.set_font("sans", "B", 10.5)
        self.cell(0, 6, "The model's card, in short", new_x="LMARGIN", new_y="NEXT")
        page = str(about.get("url") or "")
        rows = [("Intended use", INTENDED_USE)]
        if card is None:
            rows.append(("Licence of the weights", NO_CARD_LICENCE))
            self._facts(rows)
            return
        rows.append(("Licence of the weights", card["licence"]))
        if card["sha256"] and card["sha256"] != model.get("sha256"):
            rows.append(
                (
                    "Note",
                    f"The card is of the weights shipped now (sha256 {card['sha256'][:16]}…), not "
                    "of those that made this analysis.",
                )
            )
        if "/analyses/" in page:
            rows.append(("Full card", page.rsplit("/analyses/", 1)[0] + f"/models/{name}/card"))
        self._facts(rows)
        if card["limits"]:
            self.ln(1.5)
            self.set_font("sans", "B", 9)
            self.cell(0, 5, "Known limits", new_x="LMARGIN", new_y="NEXT")
            self._bullets(card["limits"], 8.5)

    def file_block(self, report: Mapping[str, Any], about: Mapping[str, Any]) -> None:
        file = about.get("file") or {}
        self._heading("The file and this report")
        size = file.get("size_bytes")
        rows = [
            ("File name", str(file.get("name") or report.get("path") or "–")),
            ("sha256", str(file.get("sha256") or "–")),
            ("Size", f"{size / 1_000_000:.1f} MB ({size:,} bytes)" if size else "–"),
            ("Type", str(file.get("content_type") or "–")),
            ("Analysis id", str(about.get("analysis_id") or "–")),
            ("Uploaded", wording.when_text(about.get("created_at"))),
            ("Started", wording.when_text(about.get("started_at"))),
            ("Finished", wording.when_text(about.get("finished_at"))),
            ("Application", f"deepfake-detector {about.get('app_version') or '–'}"),
            ("Web page", str(about.get("url") or "–")),
        ]
        self._facts(rows)
        self.ln(2)
        self._paragraph(
            "The same facts, with every score, are in the analysis's JSON report.",
            8.5,
            colour=_MUTED,
        )


def _spread(items: list[dict[str, Any]], most: int) -> list[dict[str, Any]]:
    """At most ``most`` items, evenly spread from the first to the last."""
    if len(items) <= most:
        return list(items)
    last = len(items) - 1
    return [items[round(i * last / (most - 1))] for i in range(most)]


def _score_chart(result: Mapping[str, Any], people: list[dict[str, Any]]) -> bytes:
    """Each person's single-frame scores over the time line, as a PNG (matplotlib's object API
    with the Agg canvas: no pyplot state, safe in a web server's threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    model = result.get("model") or {}
    threshold = float(result.get("threshold") or model.get("threshold") or 0.5)
    figure = Figure(figsize=(7.2, 2.6), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    band = model.get("band")
    if isinstance(band, list | tuple) and len(band) == 2 and band[0] < band[1]:
        axes.axhspan(band[0], band[1], color="#e5e7eb", zorder=0)
    axes.axhline(threshold, color="#6b7280", linestyle="--", linewidth=1, zorder=1)
    for n, person in enumerate(people):
        frames = [f for f in result["faces"][n]["frames"] if f.get("score") is not None]
        axes.plot(
            [f["time_s"] for f in frames],
            [f["score"] for f in frames],
            marker="o",
            markersize=3,
            linewidth=1.4,
            color=_SERIES[n % len(_SERIES)],
            label=f"Person {person['number']}",
            zorder=2,
        )
    axes.set_ylim(0, 1)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.set_xlabel("time in the video (s)", fontsize=8)
    axes.set_ylabel(wording.score_words(model), fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(axis="y", color="#f3f4f6")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if people:
        axes.legend(fontsize=7, frameon=False, loc="upper left", ncols=min(len(people), 6))
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


@lru_cache(maxsize=8)
def _card_summary(name: str) -> dict[str, Any] | None:
    """What the PDF says of a shipped model's card (the one ``/models/<name>/card`` serves):
    the licence its training data binds the weights to, its known limits, and the sha256 of the
    weights it describes. None for a model that is not shipped with the program."""
    from deepfake_detector.models.checkpoints import file_sha256
    from deepfake_detector.models.registry import WEIGHTS_DIR, shipped_models

    if name not in shipped_models():
        return None
    folder = WEIGHTS_DIR / name
    try:
        text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    except OSError:
        return None
    flat = " ".join(text.split())
    found = re.search(r"Use of this model is bound by [^.]*\.", flat)
    licence = found.group(0) if found else "See the model card."
    weights = folder / "model.safetensors"
    return {
        "licence": licence.replace("`", ""),
        "limits": _section_bullets(text, "Known limits"),
        "sha256": file_sha256(weights) if weights.is_file() else None,
    }


def _section_bullets(markdown: str, title: str) -> list[str]:
    """The ``- `` items of a Markdown section, each on one line, without code marks."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if not match:
        return []
    items: list[str] = []
    for line in match.group(1).splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
    return [item.replace("`", "") for item in items]

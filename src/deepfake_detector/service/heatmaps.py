"""Heatmap overlays for the face crops (what drove the score), made after ``analyze`` as an extra
evidence step, so the core result stays unchanged.

The maps themselves come from ``deepfake_detector.models.explain.heatmaps`` (Grad-CAM through
the torch network, borrowed for other backends): one ``(T, S, S)`` array in [0, 1] per person's
clip of crops. This module checks each map and turns those that point at the face into coloured
overlays next to the crops (``heatmaps/<crop name>``). Where no explainer is available (another
backend, or the module missing), no heatmaps are made and the page says so.

The check (:func:`check_region`) measures how much of the map lies on the face region of its
crop and whether anything in it stands out at all. A map that fails it gets no overlay and is
recorded as "no clear region" (the page shows that crop plain, with that label): a map lighting
up a lamp or a corner of the background says nothing a viewer should read into.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detector.analysis.evidence import read_rgb, write_jpeg
from deepfake_detector.faces.crop import CropSpec

log = logging.getLogger(__name__)

_ALPHA = 0.45


def _explainer() -> Any | None:
    """The explain function, or ``None`` when this installation has none."""
    try:
        from deepfake_detector.models import explain
    except ImportError:
        return None
    return getattr(explain, "heatmaps", None)


def available() -> bool:
    """Whether this installation can draw heatmaps at all."""
    return _explainer() is not None


CHUNK = 4
"""Crops explained per Grad-CAM pass: the unit of work between two looks at the time budget
(crops are explained by their own frame logit, so chunks give the same maps as one pass)."""


FOREHEAD = 0.15
"""The face region reaches this fraction of the detection box's height above the box: MTCNN's
boxes of the test faces start at the brows or a little above, and their hairline is about a
tenth of the box's height higher (read off the crops with the box drawn)."""
MIN_FACE_FRACTION = 0.6
"""A map is shown when at least this share of its mass above its median lies on the face.

Chosen on real maps (``python scripts/heatmap_regions.py --model default --model
selfblend-efficientnet-lite0-cpu``: the test videos of ``tests/video_factory.py`` at 16 frames,
and two scenes with a lamp beside Grace Hopper's head or over the edge of her face). The default
model's maps of the test faces sit on the brows, forehead and hairline: 45 of its 48 non-empty
maps reach 0.6, 47 reach 0.5, medians 0.69–0.73 per person. On the lamp scenes it often lights
the lamp or the hat beside it: 5 of 32 maps reach 0.6, 19 reach 0.5. The self-blend model's maps
often sit on a flag, the background or a corner (medians 0.10–0.13 for three of its persons) and
reach 0.6 mostly where they cover the face (23 of its 62 non-empty maps). A region covers about
0.4 of the crop, so 0.5 would still show maps barely better than spread evenly; 0.6 hides most of
the lamp maps at the cost of 3 of 48 face maps."""
FLAT_MEDIAN = 0.5
"""A map whose median reaches this fraction of its peak is flat: nothing in it stands out.
Real non-empty maps are far from it (median at most 0.18 of the peak, over every map of the
measurement above), so in practice the flat ones are the empty maps (all zero: nothing in the
crop pushed the score towards FAKE), e.g. every crop of the astronaut in the two-faces test
video with the default model."""


def face_region(shape: tuple[int, int], box: Sequence[float] | None, spec: CropSpec) -> np.ndarray:
    """Where the face lies in a crop cut with ``spec`` around the detection ``box`` (frame
    pixels, as the result records it): a boolean mask of ``shape`` (any resolution, the crop's
    or the map's), True on the face.

    The region is the detection box as the crop maps it, plus the forehead: the crop is centred
    on the box and its side is the box's longer side times ``1 + 2 * margin`` (``crop_matrix``),
    so the box is a centred rectangle of known size whatever the frame. MTCNN boxes a face from
    about the brows to the chin, so the region reaches ``FOREHEAD`` box heights higher, to the
    hairline of the test faces. Alignment turns the crop by the eyes' angle; the
    region ignores that turn (a few degrees for upright faces).

    Why not the hull of the crop's five landmarks: they span the eyes, the nose and the mouth
    only, so the hull would need an arbitrary stretch to reach forehead and jaw, which the
    detector's box already estimates; and the result keeps each crop's box, not its landmarks,
    so the box works for every analysis, old ones and detectors without landmarks included.
    ``box`` ``None`` (no box known) takes the box as square."""
    rows, cols = shape
    if box is None:
        width = height = 1.0
    else:
        x1, y1, x2, y2 = (float(v) for v in box)
        width, height = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    side = max(width, height, 1e-6) * (1.0 + 2.0 * spec.margin)
    half_w, half_h = width / side / 2.0, height / side / 2.0  # fractions of the crop's side
    top = 0.5 - half_h - FOREHEAD * 2.0 * half_h
    ys = (np.arange(rows) + 0.5) / rows
    xs = (np.arange(cols) + 0.5) / cols
    return ((ys >= top) & (ys <= 0.5 + half_h))[:, None] & (np.abs(xs - 0.5) <= half_w)[None, :]


@dataclass(frozen=True)
class RegionCheck:
    """Whether a crop's map points at its face (:func:`check_region`)."""

    face_fraction: float | None
    """Share of the map's mass above its median that lies on the face region (3 decimals);
    ``None`` when the map has no such mass (empty or constant)."""
    flat: bool
    """Nothing stands out: the map is empty (nothing in the crop pushed the score towards
    FAKE) or its median reaches ``FLAT_MEDIAN`` of its peak."""

    @property
    def shown(self) -> bool:
        """Whether the heatmap is shown (else: "no clear region")."""
        return (
            not self.flat
            and self.face_fraction is not None
            and self.face_fraction >= MIN_FACE_FRACTION
        )

    def to_dict(self) -> dict[str, Any]:
        """As stored with the analysis (``heatmap_checks``) and shown by the API."""
        return {"face_fraction": self.face_fraction, "flat": self.flat, "shown": self.shown}


def check_region(heat: np.ndarray, box: Sequence[float] | None, spec: CropSpec) -> RegionCheck:
    """Check one crop's map (``(H, W)``, non-negative, any scale) against its face region.

    The rule: show the map only when it is not flat and at least ``MIN_FACE_FRACTION`` of its
    mass above its median lies on :func:`face_region`. Taking the mass above the median leaves
    out the map's floor, which would otherwise pull every fraction towards the region's share of
    the crop (about 0.4 with the shipped models' margin of 0.25).
    """
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64)).clip(min=0.0)
    peak = float(heat.max()) if heat.size else 0.0
    if peak <= 0.0:
        return RegionCheck(None, True)
    median = float(np.median(heat))
    excess = (heat - median).clip(min=0.0)
    total = float(excess.sum())
    if total <= 0.0:
        return RegionCheck(None, True)
    inside = float(excess[face_region(heat.shape, box, spec)].sum())
    return RegionCheck(round(inside / total, 3), median >= FLAT_MEDIAN * peak)


@dataclass
class Drawn:
    """What :func:`render` made."""

    overlays: dict[str, str] = field(default_factory=dict)
    """``{crop path: heatmap path}`` for the maps shown (the analysis's ``heatmaps``)."""
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``{crop path: RegionCheck.to_dict()}`` for every crop explained, shown or not."""


def render(
    analyzer: Any,
    result: dict[str, Any],
    evidence_dir: Path,
    budget_s: float | None = None,
) -> Drawn:
    """Explain every face crop, write an overlay for each map that points at the face, and
    record the check of every map (paths relative to the evidence folder).

    With ``budget_s``, start a chunk only if it should end within that many seconds
    (:func:`next_chunk_fits`; the first is always drawn), so heatmaps cost no more than the
    analysis: people take turns chunk by chunk, in the order the page shows their crops, so each
    gets its first heatmaps before anyone gets more."""
    drawn = Drawn()
    explain_clip = _explainer()
    if explain_clip is None:
        log.info("no heatmap explainer available; skipping heatmaps")
        return drawn
    started = time.perf_counter()
    spec: CropSpec = analyzer.classifier.info.crop
    queues, boxes = [], {}
    for face in result.get("faces") or []:
        names = [f["crop"] for f in face["frames"] if f.get("crop")]
        boxes.update({f["crop"]: f.get("box") for f in face["frames"] if f.get("crop")})
        queues.append([names[i : i + CHUNK] for i in range(0, len(names), CHUNK)])
    total = sum(len(chunk) for chunks in queues for chunk in chunks)
    (evidence_dir / "heatmaps").mkdir(parents=True, exist_ok=True)
    chunks_done = 0
    for turn in range(max((len(q) for q in queues), default=0)):
        for chunks in queues:
            if turn >= len(chunks):
                continue
            spent = time.perf_counter() - started
            if not next_chunk_fits(spent, chunks_done, budget_s):
                log.info(
                    "heatmaps stopped at their time budget: %d of %d crops",
                    len(drawn.checks),
                    total,
                )
                return drawn
            names = chunks[turn]
            chunks_done += 1
            crops = [read_rgb(evidence_dir / name) for name in names]
            maps = np.asarray(explain_clip(analyzer.classifier, crops), dtype=np.float32)
            if maps.ndim != 3 or len(maps) != len(crops):
                raise ValueError(f"explainer returned shape {maps.shape} for {len(crops)} crops")
            for name, crop, heat in zip(names, crops, maps, strict=True):
                check = check_region(heat, boxes.get(name), spec)
                drawn.checks[name] = check.to_dict()
                if check.shown:
                    target = f"heatmaps/{Path(name).name}"
                    write_jpeg(evidence_dir / target, overlay(crop, heat))
                    drawn.overlays[name] = target
    return drawn


def next_chunk_fits(spent_s: float, chunks_done: int, budget_s: float | None) -> bool:
    """Whether one more chunk, taking as long as the chunks so far did on average, ends within
    ``budget_s`` seconds (``None``: no budget). The first chunk always runs: a person's first
    heatmaps are worth their cost. Stopping only once the budget is spent let a 20-person clip's
    heatmaps overrun it by a chunk (9.7 s after an 8.8 s analysis)."""
    if budget_s is None or chunks_done == 0:
        return True
    return spent_s + spent_s / chunks_done <= budget_s


def overlay(crop: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Blend a [0, 1] map (any size) over an RGB crop with a blue→red colour scale."""
    h, w = crop.shape[:2]
    heat = np.nan_to_num(np.clip(heat, 0.0, 1.0))
    resized = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap((resized * 255).astype(np.uint8), cv2.COLORMAP_JET)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(crop, 1.0 - _ALPHA, coloured, _ALPHA, 0.0)

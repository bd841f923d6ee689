"""Heatmap overlays for the face crops (what drove the score), made after ``analyze`` as an extra
evidence step, so the core result stays unchanged.

The maps themselves come from ``deepfake_detector.models.explain.heatmaps`` (Grad-CAM through
the torch network, borrowed for other backends): one ``(T, S, S)`` array in [0, 1] per person's
clip of crops. This module only turns
them into coloured overlays next to the crops (``heatmaps/<crop name>``). Where no explainer is
available (another backend, or the module missing), no heatmaps are made and the page says so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detector.analysis.evidence import read_rgb, write_jpeg

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


def render(
    analyzer: Any,
    result: dict[str, Any],
    evidence_dir: Path,
    budget_s: float | None = None,
) -> dict[str, str]:
    """Write one overlay per face crop; returns ``{crop path: heatmap path}`` (relative paths).

    With ``budget_s``, stop starting new chunks once that many seconds are spent (after the
    first, which is always drawn), so heatmaps cost about as much as the analysis at most:
    people take turns chunk by chunk, in the order the page shows their crops, so each gets its
    first heatmaps before anyone gets more."""
    explain_clip = _explainer()
    if explain_clip is None:
        log.info("no heatmap explainer available; skipping heatmaps")
        return {}
    started = time.perf_counter()
    queues = []
    for face in result.get("faces") or []:
        names = [f["crop"] for f in face["frames"] if f.get("crop")]
        queues.append([names[i : i + CHUNK] for i in range(0, len(names), CHUNK)])
    total = sum(len(chunk) for chunks in queues for chunk in chunks)
    made: dict[str, str] = {}
    (evidence_dir / "heatmaps").mkdir(parents=True, exist_ok=True)
    for turn in range(max((len(q) for q in queues), default=0)):
        for chunks in queues:
            if turn >= len(chunks):
                continue
            spent = time.perf_counter() - started
            if made and budget_s is not None and spent >= budget_s:  # the first chunk always
                log.info("heatmaps stopped at their time budget: %d of %d crops", len(made), total)
                return made
            names = chunks[turn]
            crops = [read_rgb(evidence_dir / name) for name in names]
            maps = np.asarray(explain_clip(analyzer.classifier, crops), dtype=np.float32)
            if maps.ndim != 3 or len(maps) != len(crops):
                raise ValueError(f"explainer returned shape {maps.shape} for {len(crops)} crops")
            for name, crop, heat in zip(names, crops, maps, strict=True):
                target = f"heatmaps/{Path(name).name}"
                write_jpeg(evidence_dir / target, overlay(crop, heat))
                made[name] = target
    return made


def overlay(crop: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Blend a [0, 1] map (any size) over an RGB crop with a blue→red colour scale."""
    h, w = crop.shape[:2]
    heat = np.nan_to_num(np.clip(heat, 0.0, 1.0))
    resized = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap((resized * 255).astype(np.uint8), cv2.COLORMAP_JET)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(crop, 1.0 - _ALPHA, coloured, _ALPHA, 0.0)

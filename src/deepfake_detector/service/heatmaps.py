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


def render(analyzer: Any, result: dict[str, Any], evidence_dir: Path) -> dict[str, str]:
    """Write one overlay per face crop; returns ``{crop path: heatmap path}`` (relative paths)."""
    explain_clip = _explainer()
    if explain_clip is None:
        log.info("no heatmap explainer available; skipping heatmaps")
        return {}
    made: dict[str, str] = {}
    (evidence_dir / "heatmaps").mkdir(parents=True, exist_ok=True)
    for face in result.get("faces") or []:
        names = [f["crop"] for f in face["frames"] if f.get("crop")]
        if not names:
            continue
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

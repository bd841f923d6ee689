"""How the heatmap rule (``service/heatmaps.py``: shown only where the map points at the face)
treats real Grad-CAM maps: the test videos built from photos (tests/video_factory.py), plus two
scenes with a lamp beside the face, one of them over its edge.

Usage: python scripts/heatmap_regions.py [--model NAME ...] [--frames N]

Prints, per model and video, each person's crops, how many heatmaps the rule shows, how many
would be at a face fraction of 0.5, how many maps are flat, the largest median / peak ratio of a
non-empty map, and the face fractions (min / median / max over the non-flat maps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from deepfake_detector.analysis.evidence import read_rgb
from deepfake_detector.analysis.pipeline import Analyzer
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.models.explain import heatmaps
from deepfake_detector.service.heatmaps import check_region

TESTS = Path(__file__).resolve().parents[1] / "tests"


def lamp() -> np.ndarray:
    """A bright lamp shade on a stand, on a dark wall."""
    image = np.full((110, 60, 3), (60, 60, 70), np.uint8)
    cv2.circle(image, (30, 30), 26, (255, 240, 190), -1)
    cv2.rectangle(image, (26, 56), (34, 110), (200, 200, 200), -1)
    return image


def videos(folder: Path) -> dict[str, Path]:
    sys.path.insert(0, str(TESTS))
    import video_factory as vf

    hopper, place = vf.grace_hopper(), vf.Placement
    return {
        "panning": vf.panning_face(folder / "panning.mp4"),
        "zooming": vf.zooming_face(folder / "zooming.mp4"),
        "two_faces": vf.two_faces(folder / "two.mp4"),
        "lamp beside": vf.scene_video(
            folder / "lamp-beside.mp4",
            [
                (hopper, lambda t: place(200, -40, 0.6)),
                (lamp(), lambda t: place(405 + 3 * t, 0, 1)),
            ],
        ),
        "lamp over edge": vf.scene_video(
            folder / "lamp-edge.mp4",
            [(hopper, lambda t: place(200, -40, 0.6)), (lamp(), lambda t: place(250, 60, 1))],
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model name (repeat); default: default")
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = videos(folder)
        for model in args.model or ["default"]:
            analyzer = Analyzer(AnalysisSettings(frames=args.frames, model=model))
            spec = analyzer.classifier.info.crop
            print(f"## {model} (crop {spec.size} px, margin {spec.margin})")
            print(
                "video            person  crops  shown  at0.5  flat  median/peak  "
                "face fraction min/median/max"
            )
            for name, path in clips.items():
                evidence = folder / f"{model}-{name}"
                result = analyzer.analyze(path, evidence_dir=evidence).to_dict()
                for face in result["faces"]:
                    frames = [f for f in face["frames"] if f.get("crop")]
                    crops = [read_rgb(evidence / f["crop"]) for f in frames]
                    maps = heatmaps(analyzer.classifier, crops)
                    checks = [
                        check_region(m, f["box"], spec) for m, f in zip(maps, frames, strict=True)
                    ]
                    fractions = [c.face_fraction for c in checks if not c.flat]
                    ratios = [float(np.median(m) / m.max()) for m in maps if m.max() > 0]
                    ratio = f"{max(ratios):.2f}" if ratios else "-"
                    spread = (
                        "/".join(f"{q:.2f}" for q in np.quantile(fractions, [0, 0.5, 1]))
                        if fractions
                        else "-"
                    )
                    print(
                        f"{name:16s} {face['track_id']:6d} {len(checks):6d} "
                        f"{sum(c.shown for c in checks):6d} "
                        f"{sum(f is not None and f >= 0.5 for f in fractions):6d} "
                        f"{sum(c.flat for c in checks):5d}  {ratio:>11s}  {spread}"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

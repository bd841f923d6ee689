"""Does a face swap's face change more between adjacent frames than its own original's? A probe.

The models here see frames about 0.4 s apart, so they cannot see what a frame-by-frame
generator leaves between *adjacent* frames. DeepFaceLive regenerates the face in every frame
with no temporal constraint. Hypothesis, written 2026-12-05 before the first run: between two
adjacent frames, a swap's inner face changes more in fine detail, relative to the ring around
the face (hair, background, neck: untouched by the swap, same motion and encoder), than its own
original's does; a cue worth building would put the swap above its original in at least 36 of
the 48 matched pairs (75 %), which differ only in the manipulation (same motion, same encoding).

Per clip, ``--anchors`` times evenly over the clip; at each, the frame shown there and the next
one are decoded frame-exact (the project's decoder), the largest face of the first is found by
the project's MTCNN, and both frames are cut with that one detection (224 px, margin 0.25,
eyes levelled), so the crops share their geometry. The second crop is shifted onto the first
(head motion, sub-pixel: ``track_labels.shift_onto``), and the difference of the two is
measured:

- ``fine_in_over_out``: its fine detail (minus a Gaussian blur of sigma 1.5) inside the face
  ellipse over that in the ring outside it;
- ``fine_in_over_texture``: its fine detail inside over the first crop's own fine detail there
  (change relative to how much texture there is to change);
- ``level_in_minus_out``: |mean change of brightness inside - outside| (a per-frame colour or
  brightness flicker of the pasted face), in grey levels;
- ``ab_in_minus_out``: the same for the Lab a/b colour (distance of the mean change vectors).

Per clip, the median over its anchors. Reported per statistic: in how many matched pairs the
swap is higher than its own original, the AUC of swaps against their originals, and the AUC of
swaps and of each talking-head generator against all real videos in the index.

    PYTHONPATH=src .venv/bin/python scripts/probe_flicker.py train.jsonl --root ../shared/data \
        --json docs/models/probe-flicker.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from deepfake_detector.faces.crop import CropSpec, crop_face, crop_matrix
from deepfake_detector.faces.detector import create_detector
from deepfake_detector.media.decoder import decode_samples
from deepfake_detector.media.probe import probe
from deepfake_detector.training.metrics import binary_metrics
from deepfake_detector.training.selfblend import FIXED_FACE_MASK, face_mask
from deepfake_detector.training.track_labels import shift_onto

SWAP_FAMILY = "deepfacelive"
STATISTICS = ("fine_in_over_out", "fine_in_over_texture", "level_in_minus_out", "ab_in_minus_out")
_SPEC = CropSpec(size=224, margin=0.25, align=True)


def _regions(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(inside, outside) boolean masks of a crop: the ellipse's full-strength core, and what
    lies beyond its outline dilated by a sixteenth of the crop."""
    mask = face_mask(landmarks, size, np.random.default_rng(0), FIXED_FACE_MASK)
    inside = mask > 0.95
    kernel = np.ones((size // 16, size // 16), np.uint8)
    outside = cv2.dilate((mask > 0.02).astype(np.uint8), kernel) == 0
    return inside, outside


def _fine(image: np.ndarray) -> np.ndarray:
    return image - cv2.GaussianBlur(image, (0, 0), 1.5)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2))) if values.size else float("nan")


def pair_statistics(first: np.ndarray, second: np.ndarray, landmarks: np.ndarray) -> dict:
    """The statistics of two RGB uint8 crops of adjacent frames cut alike; ``landmarks`` are
    the first crop's five points in crop pixels."""
    size = first.shape[0]
    inside, outside = _regions(landmarks, size)
    grey1 = cv2.cvtColor(first, cv2.COLOR_RGB2GRAY).astype(np.float32)
    moved = shift_onto(grey1, second.astype(np.float32))
    grey2 = cv2.cvtColor(moved, cv2.COLOR_RGB2GRAY)
    change = grey2 - grey1
    fine_change = _fine(change)
    fine_in = _rms(fine_change[inside])
    lab1 = cv2.cvtColor(first, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab2 = cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(
        np.float32
    )
    ab = lab2[..., 1:] - lab1[..., 1:]
    return {
        "fine_in_over_out": fine_in / max(_rms(fine_change[outside]), 1e-3),
        "fine_in_over_texture": fine_in / max(_rms(_fine(grey1)[inside]), 1e-3),
        "level_in_minus_out": abs(float(change[inside].mean() - change[outside].mean())),
        "ab_in_minus_out": float(np.linalg.norm(ab[inside].mean(0) - ab[outside].mean(0))),
    }


def clip_statistics(path: str, detector, anchors: int) -> dict[str, float] | None:
    """Median statistics over a clip's anchors, or None where no face was found."""
    info = probe(path)
    step = 1.0 / max(info.fps, 1.0)
    span = max(info.duration_s - 3 * step, step)
    times = []
    for k in range(anchors):
        t = span * (k + 0.5) / anchors
        times += [t, t + step]
    frames = list(decode_samples(path, info, times))
    by_index = {f.sample_index: f for f in frames}
    rows = []
    for k in range(anchors):
        a, b = by_index.get(2 * k), by_index.get(2 * k + 1)
        if a is None or b is None or b.time_s <= a.time_s:
            continue
        faces = [f for f in detector.detect(a.image) if f.landmarks is not None]
        if not faces:
            continue
        face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        first, second = crop_face(a.image, face, _SPEC), crop_face(b.image, face, _SPEC)
        matrix = crop_matrix(face, _SPEC)
        points = np.hstack([face.landmarks, np.ones((5, 1))]) @ matrix.T
        rows.append(pair_statistics(first, second, points))
    if not rows:
        return None
    return {k: float(np.median([r[k] for r in rows])) for k in STATISTICS} | {"anchors": len(rows)}


def _auc(fakes: list[float], reals: list[float]) -> float:
    if not fakes or not reals:
        return float("nan")
    return float(binary_metrics([1] * len(fakes) + [0] * len(reals), fakes + reals)["auc"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", help="index JSONL (deepfake-detector index)")
    parser.add_argument("--root", required=True, help="folder the index's paths are relative to")
    parser.add_argument("--anchors", type=int, default=12)
    parser.add_argument("--only", help="only clips whose path contains this (a quick look)")
    parser.add_argument("--json", help="write per-clip statistics and the summary here")
    args = parser.parse_args(argv)
    detector = create_detector("mtcnn")
    entries = [json.loads(line) for line in Path(args.index).read_text().splitlines() if line]
    if args.only:
        entries = [e for e in entries if args.only in e["path"]]
    clips = []
    for entry in entries:
        if entry["kind"] != "video":
            continue
        stats = clip_statistics(str(Path(args.root) / entry["path"]), detector, args.anchors)
        if stats is None:
            print(f"no face: {entry['path']}", file=sys.stderr)
            continue
        original = entry.get("extra", {}).get("original", "")  # the other half of a swap demo
        clips.append(
            {k: entry[k] for k in ("path", "label", "method", "group")}
            | {"original": original}
            | stats
        )
    reals = [c for c in clips if c["label"] == 0]
    by_path = {c["path"]: c for c in reals}
    swaps = [c for c in clips if c["method"] == SWAP_FAMILY]
    originals = {
        s["path"]: by_path[original] for s in swaps if (original := s["original"]) in by_path
    }
    paired = [s for s in swaps if s["path"] in originals]
    families = defaultdict(list)
    for c in clips:
        if c["label"] == 1 and c["method"] != SWAP_FAMILY:
            families[c["method"]].append(c)
    summary = {}
    print(f"{len(reals)} real videos, {len(swaps)} swaps ({len(paired)} paired)")
    for key in STATISTICS:
        higher = sum(s[key] > originals[s["path"]][key] for s in paired)
        row = {
            "swap_higher_pairs": int(higher),
            "pairs": len(paired),
            "auc_vs_originals": _auc(
                [s[key] for s in paired], [originals[s["path"]][key] for s in paired]
            ),
            "auc_swaps_vs_reals": _auc([s[key] for s in swaps], [r[key] for r in reals]),
            "auc_families_vs_reals": {
                f: _auc([c[key] for c in v], [r[key] for r in reals])
                for f, v in sorted(families.items())
            },
        }
        summary[key] = row
        fams = " ".join(f"{f} {a:.2f}" for f, a in row["auc_families_vs_reals"].items())
        print(
            f"{key}: swap higher in {higher}/{len(paired)} pairs, AUC vs originals "
            f"{row['auc_vs_originals']:.3f}, swaps vs reals {row['auc_swaps_vs_reals']:.3f}; {fams}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "clips": clips}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

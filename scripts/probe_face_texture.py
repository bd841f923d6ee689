"""What differs inside the face between a face swap and its own original? A model-free probe.

Learned models rank DeepFaceLive swaps *below* their own originals, so this measures simple
statistics of the inner face directly on the crop cache, before any training. Per crop, inside
the face ellipse (from the crop's landmarks): fine noise (grey minus its 3x3 median), band
energies (differences of Gaussians), Laplacian variance, HSV means, Lab channel spreads, and
the fine noise inside over that in the ring around the face. Two more compare skin inside a
swap's usual region with skin it may leave alone, placed from the five landmarks: the fine
detail of the cheeks over the forehead's (log ratio) and how far their mean colours lie apart
in Lab a/b (hypothesis, 2026-12-05: a pasted, smoother face lowers the first and raises the
second against its own original). Per clip: the median over its crops. Reported for each
statistic: in how many matched pairs the swap is lower than its own original (the pairs differ
only in the manipulation), the AUC of the statistic's sign that ranks swaps above their
originals, and that same direction's AUC for swaps and for each talking-head generator against
all real videos (where the footage also differs).

    python scripts/probe_face_texture.py cache/train-224
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import cv2
import numpy as np

from deepfake_detector.training.crop_cache import CropCache
from deepfake_detector.training.metrics import binary_metrics
from deepfake_detector.training.selfblend import FIXED_FACE_MASK, default_landmarks, face_mask

SWAP_FAMILY = "deepfacelive"


def _patch(image: np.ndarray, centre: np.ndarray, width: float, height: float) -> np.ndarray:
    """The part of ``image`` in a width x height box around ``centre``, cut to the image."""
    size = image.shape[0]
    x0, x1 = (int(np.clip(round(centre[0] + d), 0, size - 1)) for d in (-width / 2, width / 2))
    y0, y1 = (int(np.clip(round(centre[1] + d), 0, size - 1)) for d in (-height / 2, height / 2))
    return image[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]


def skin_patches(
    fine: np.ndarray, lab: np.ndarray, landmarks: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"forehead" | "cheek_left" | "cheek_right": (fine detail, Lab)}`` patches placed from
    the five landmarks (eyes, nose, mouth corners): the forehead 0.75 eye distances above the
    eyes' midpoint, each cheek between an eye and the mouth corner below it, pushed outwards."""
    left_eye, right_eye, _, mouth_left, mouth_right = np.asarray(landmarks, np.float64)
    eyes = (left_eye + right_eye) / 2
    d = max(float(np.linalg.norm(right_eye - left_eye)), 1.0)
    up = eyes - (mouth_left + mouth_right) / 2
    up /= max(float(np.linalg.norm(up)), 1e-6)
    side = (right_eye - left_eye) / d
    boxes = {
        "forehead": (eyes + 0.75 * d * up, 0.6 * d, 0.3 * d),
        "cheek_left": ((left_eye + mouth_left) / 2 - 0.2 * d * side, 0.3 * d, 0.3 * d),
        "cheek_right": ((right_eye + mouth_right) / 2 + 0.2 * d * side, 0.3 * d, 0.3 * d),
    }
    return {k: (_patch(fine, c, w, h), _patch(lab, c, w, h)) for k, (c, w, h) in boxes.items()}


def face_statistics(crop: np.ndarray, landmarks: np.ndarray | None) -> dict[str, float]:
    """Statistics of the inner face of one RGB uint8 crop."""
    size = crop.shape[0]
    if landmarks is None or not np.isfinite(landmarks).all():
        landmarks = default_landmarks(size)
    mask = face_mask(landmarks, size, np.random.default_rng(0), FIXED_FACE_MASK)
    inner = mask > 0.95
    outer = cv2.dilate((mask > 0.02).astype(np.uint8), np.ones((size // 16, size // 16))) == 0
    grey8 = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    grey = grey8.astype(np.float32)
    noise = grey - cv2.medianBlur(grey8, 3).astype(np.float32)
    out = {"noise": float(np.sqrt((noise[inner] ** 2).mean()))}
    out["noise_in_over_out"] = out["noise"] / max(float(np.sqrt((noise[outer] ** 2).mean())), 1e-3)
    bands = {}
    for sigma in (0.7, 1.5, 3.0):
        band = cv2.GaussianBlur(grey, (0, 0), sigma) - cv2.GaussianBlur(grey, (0, 0), 2 * sigma)
        bands[sigma] = float(np.sqrt((band[inner] ** 2).mean()))
        out[f"band_{sigma}px"] = bands[sigma]
    out["fine_over_coarse"] = bands[0.7] / max(bands[3.0], 1e-3)
    out["laplacian_var"] = float(cv2.Laplacian(grey, cv2.CV_32F)[inner].var())
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).astype(np.float32)
    out["saturation"] = float(hsv[..., 1][inner].mean())
    out["value"] = float(hsv[..., 2][inner].mean())
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    for k, name in enumerate("Lab"):
        out[f"{name}_spread"] = float(lab[..., k][inner].std())
    patches = skin_patches(grey - cv2.GaussianBlur(grey, (0, 0), 1.0), lab, landmarks)
    energy = {k: float(np.sqrt((f**2).mean())) + 1e-3 for k, (f, _) in patches.items()}
    colour = {k: c[..., 1:].reshape(-1, 2).mean(axis=0) for k, (_, c) in patches.items()}
    cheeks = (energy["cheek_left"] + energy["cheek_right"]) / 2
    out["fine_cheeks_over_forehead"] = float(np.log(cheeks / energy["forehead"]))
    cheek_colour = (colour["cheek_left"] + colour["cheek_right"]) / 2
    out["ab_gap_cheeks_forehead"] = float(np.linalg.norm(cheek_colour - colour["forehead"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="crop cache folder (deepfake-detector extract-crops)")
    args = parser.parse_args(argv)
    cache = CropCache(args.cache)
    clips: list[tuple[str, int, str, dict[str, float]]] = []  # (method, label, group, stats)
    for entry in cache.entries():
        if entry.item.kind != "video" or entry.crops == 0:
            continue
        data = cache.load(entry)
        per_crop = [
            face_statistics(crop, points)
            for crop, points in zip(data.crops, data.landmarks, strict=True)
        ]
        stats = {k: float(np.median([s[k] for s in per_crop])) for k in per_crop[0]}
        clips.append((entry.item.method, entry.label, entry.group or entry.path, stats))
    reals = [c for c in clips if c[1] == 0]
    swaps = [c for c in clips if c[0] == SWAP_FAMILY]
    originals = {c[2]: c for c in reals}
    paired = [s for s in swaps if s[2] in originals]
    paired_reals = [originals[g] for g in sorted({s[2] for s in paired})]
    generators: dict[str, list] = defaultdict(list)
    for c in clips:
        if c[1] == 1 and c[0] != SWAP_FAMILY:
            generators[c[0]].append(c)
    names = sorted(generators)
    print(
        f"{len(reals)} real videos; {len(swaps)} swaps, {len(paired)} with their original "
        f"({len(paired_reals)} originals); talking heads: "
        + ", ".join(f"{n} {len(generators[n])}" for n in names)
    )

    def auc(fakes: list, against: list, key: str, sign: float) -> float:
        labels = [1] * len(fakes) + [0] * len(against)
        return binary_metrics(labels, [sign * c[3][key] for c in fakes + against])["auc"]

    columns = ["statistic", "swap lower than its original", "sign", "AUC vs originals"]
    print("| " + " | ".join([*columns, "AUC vs all reals", *names]) + " |")
    print("|---" * (5 + len(names)) + "|")
    for key in clips[0][3]:
        lower = sum(s[3][key] < originals[s[2]][3][key] for s in paired)
        sign = -1.0 if lower * 2 >= len(paired) else 1.0
        cells = [
            key,
            f"{lower} of {len(paired)}",
            "lower" if sign < 0 else "higher",
            f"{auc(paired, paired_reals, key, sign):.3f}",
            f"{auc(swaps, reals, key, sign):.3f}",
        ] + [f"{auc(generators[n], reals, key, sign):.3f}" for n in names]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

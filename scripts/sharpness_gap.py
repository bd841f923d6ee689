"""How much sharper the labelled fakes' face crops are than the reals', before and after the
training's sharpness matching (``augment.match_sharpness_p``).

python scripts/sharpness_gap.py cache/train-224 [--size 160]

One middle crop per video of the crop cache, resized to the network's input size as training
does. Prints the median crop sharpness (log variance of the Laplacian) per group and the AUC of
sharpness alone at telling fakes from reals (0.5: no cue), before and after every fake is blurred
to the sharpness its rank maps to among the reals (what training does with p = 1).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np
from sklearn.metrics import roc_auc_score

from deepfake_detector.training.crop_cache import CacheError, CropCache
from deepfake_detector.training.data import (
    blur_to_sharpness,
    crop_sharpness,
    matched_sharpness,
    resize_crop,
)


def group_of(path: str, label: int, method: str) -> str:
    if label == 0:
        return "real: face-swap originals" if "faceswap_pairs" in path else "real: other videos"
    return f"fake: {method}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="crop cache folder (deepfake-detector extract-crops)")
    parser.add_argument("--size", type=int, default=160, help="network input size (px)")
    args = parser.parse_args(argv)
    try:
        cache = CropCache(args.cache)
    except CacheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    crops, labels, groups = [], [], []
    for entry in cache.entries():
        if entry.item.kind != "video" or not entry.crops:
            continue
        stored = cache.load(entry).crops
        crops.append(resize_crop(stored[len(stored) // 2], args.size))
        labels.append(entry.label)
        groups.append(group_of(entry.path, entry.label, entry.item.method))
    if not crops:
        print(f"error: no video crops in {args.cache}", file=sys.stderr)
        return 2
    y = np.asarray(labels)
    before = np.asarray([crop_sharpness(c) for c in crops])
    reals, fakes = before[y == 0], before[y == 1]
    after = before.copy()
    for k in np.flatnonzero(y == 1):
        target = matched_sharpness(before[k], fakes, reals)
        after[k] = crop_sharpness(blur_to_sharpness([crops[k]], target)[0])
    by_group: dict[str, list[int]] = defaultdict(list)
    for k, g in enumerate(groups):
        by_group[g].append(k)
    print("| group | videos | median sharpness | after matching |")
    print("|---|---|---|---|")
    for g in sorted(by_group):
        k = by_group[g]
        print(f"| {g} | {len(k)} | {np.median(before[k]):.2f} | {np.median(after[k]):.2f} |")
    print(
        f"\nSharpness alone, fakes against reals: AUC {roc_auc_score(y, before):.3f} before "
        f"matching, {roc_auc_score(y, after):.3f} after."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shortcut probe: can file metadata alone tell the validation classes apart?

Generated talking heads are often 256 or 512 px squares at 25 fps from their own encoder; face
swap demos are narrow halves; real clips come from a few collections with their own settings. A
classifier that only sees resolution, frame rate, bitrate, codec and duration, split exactly as a
training run splits (identity-disjoint, the held-out generator families never trained on), shows
how much of a detector's score such a shortcut *could* explain. It should be near chance; where
it is not, the detector must be kept from seeing those cues (face crops only, resized to one
size, re-encoded and rescaled at random for both classes) and the report must say so.

The metadata come from the index's ``extra`` (``datasets/manifest.py``) and, for the codec, from
probing each file with PyAV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

from deepfake_detector.errors import DetectorError
from deepfake_detector.training.config import TrainConfig
from deepfake_detector.training.crop_cache import CacheEntry, CropCache
from deepfake_detector.training.data import crop_sharpness, family_of, resize_crop, split_cache
from deepfake_detector.training.metrics import binary_metrics

NUMERIC = ("width", "height", "fps", "duration_s", "bitrate")


def codec_of(path: Path) -> str:
    """The first video stream's codec name, or ``unknown`` when the file cannot be probed."""
    from deepfake_detector.media.probe import probe

    try:
        return probe(str(path)).codec
    except (DetectorError, OSError):
        return "unknown"


def metadata_row(entry: CacheEntry, codec: str) -> dict[str, Any]:
    """Numeric metadata of one video item (NaN where the manifest gives none)."""
    extra = entry.item.extra if isinstance(entry.item.extra, dict) else {}
    row: dict[str, Any] = {k: float(extra.get(k, np.nan)) for k in NUMERIC if k != "bitrate"}
    duration, size = extra.get("duration_s"), extra.get("bytes")
    row["bitrate"] = float(size) * 8 / float(duration) if size and duration else np.nan
    row["codec"] = codec
    return row


def feature_matrix(rows: Sequence[dict[str, Any]], codecs: Sequence[str]) -> np.ndarray:
    """Numeric columns (NaN → -1) plus one-hot codec columns in ``codecs`` order."""
    numeric = np.array([[r[k] for k in NUMERIC] for r in rows], np.float64)
    numeric = np.where(np.isfinite(numeric), numeric, -1.0)
    onehot = np.array([[float(r["codec"] == c) for c in codecs] for r in rows], np.float64)
    return np.hstack([numeric, onehot]) if len(codecs) else numeric


def probe_fold(
    cache: CropCache,
    config: TrainConfig,
    codec: dict[str, str],
) -> dict[str, Any]:
    """Train the metadata classifier on the run's training videos and score its validation
    videos (held-out families against held-out reals). Images carry no video metadata and are
    left out on both sides."""
    split = split_cache(cache, config)

    def videos(tracks: Sequence[Any]) -> list[CacheEntry]:
        seen: dict[str, CacheEntry] = {}
        for t in tracks:
            e = split.entries[t.entry]
            if e.item.kind == "video":
                seen.setdefault(e.path, e)
        return list(seen.values())

    train = videos(split.train + split.train_fake)
    held = set(config.holdout_families)
    val = [
        e
        for e in videos(split.val + split.val_fake)
        if e.label == 0 or not held or family_of(e) in held
    ]
    if len({e.label for e in train}) < 2 or len({e.label for e in val}) < 2:
        return {"holdout": sorted(held), "auc": None, "n_train": len(train), "n_val": len(val)}
    codecs = sorted({codec[e.path] for e in train})
    x_train = feature_matrix([metadata_row(e, codec[e.path]) for e in train], codecs)
    x_val = feature_matrix([metadata_row(e, codec[e.path]) for e in val], codecs)
    y_train = np.array([e.label for e in train])
    y_val = np.array([e.label for e in val])
    model = GradientBoostingClassifier(random_state=config.seed, max_depth=2, n_estimators=100)
    return _fit_and_score(model, x_train, y_train, x_val, y_val, held)


def _fit_and_score(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    held: set[str],
) -> dict[str, Any]:
    """Fit a probe on the training side, score the validation side, report it as one row."""
    model.fit(x_train, y_train)
    m = binary_metrics(y_val.tolist(), model.predict_proba(x_val)[:, 1].tolist())
    return {
        "holdout": sorted(held),
        "auc": m["auc"],
        "balanced_accuracy": m["balanced_accuracy"],
        "n_train": len(y_train),
        "n_val_real": int((y_val == 0).sum()),
        "n_val_fake": int((y_val == 1).sum()),
    }


def track_sharpness(root: Path, entry: CacheEntry, frames: Sequence[int], size: int) -> float:
    """Median :func:`~deepfake_detector.training.data.crop_sharpness` of a track's crops at
    ``size`` px: how much fine detail survives, which a low-resolution source lacks."""
    with np.load(root / entry.file) as z:
        crops = z["crops"][list(frames)]
    return float(np.median([crop_sharpness(resize_crop(crop, size)) for crop in crops]))


def sharpness_fold(cache: CropCache, config: TrainConfig) -> dict[str, Any]:
    """The same split as :func:`probe_fold`, one feature: crop sharpness at the training input
    size (the CNN's input, not the file's metadata). Sharpness is never learned from the
    validation side: a one-feature logistic regression is fitted on the training tracks."""
    from sklearn.linear_model import LogisticRegression

    split = split_cache(cache, config)
    held = set(config.holdout_families)

    def rows(tracks: Sequence[Any], validation: bool) -> tuple[np.ndarray, np.ndarray]:
        x, y = [], []
        for t in tracks:
            e = split.entries[t.entry]
            if e.item.kind != "video":
                continue
            if validation and e.label != 0 and held and family_of(e) not in held:
                continue
            x.append(track_sharpness(cache.root, e, t.frames, config.input_size))
            y.append(int(e.label != 0))
        return np.asarray(x)[:, None], np.asarray(y)

    x_train, y_train = rows(split.train + split.train_fake, False)
    x_val, y_val = rows(split.val + split.val_fake, True)
    if len(set(y_train.tolist())) < 2 or len(set(y_val.tolist())) < 2:
        return {"holdout": sorted(held), "auc": None}
    return _fit_and_score(
        LogisticRegression(class_weight="balanced"), x_train, y_train, x_val, y_val, held
    )


def shortcut_probe(
    config: TrainConfig, folds: Sequence[Sequence[str]], root: str | Path
) -> list[dict[str, Any]]:
    """One probe per fold (``[]`` = the run's own split, nothing held out)."""
    cache = CropCache(config.cache)
    root = Path(root)
    codec = {
        e.path: codec_of(root / e.path)
        for e in cache.entries()
        if e.item.kind == "video" and not e.error and e.crops > 0
    }
    return [
        probe_fold(cache, replace(config, holdout_families=list(fold)), codec)
        | {"sharpness": sharpness_fold(cache, replace(config, holdout_families=list(fold)))}
        for fold in folds
    ]


def _auc(result: dict[str, Any] | None) -> str:
    return "n/a" if not result or result.get("auc") is None else f"{result['auc']:.3f}"


def probe_markdown(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| held out | train videos | val reals | val fakes | metadata-only AUC | balanced acc. |"
        " crop-sharpness-only AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        auc = "n/a" if r.get("auc") is None else f"{r['auc']:.3f}"
        bacc = r.get("balanced_accuracy")
        lines.append(
            f"| {'+'.join(r['holdout']) or 'nothing (own split)'} | {r['n_train']} |"
            f" {r.get('n_val_real', '')} | {r.get('n_val_fake', '')} | {auc} |"
            f" {'n/a' if bacc is None else f'{bacc:.3f}'} | {_auc(r.get('sharpness'))} |"
        )
    return "\n".join(lines) + "\n"

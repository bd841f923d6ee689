"""DFDC: ``dfdc_train_part_N/metadata.json`` plus an optional labelled test set (``labels.csv``).

A fake's group is its original's name, so a fake and the real video it was made from always share
a split. Test labels (``filename,label`` with 1 = fake) mark their videos as split ``test``.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from deepfake_detector.training.datasets._common import (
    DatasetError,
    is_video,
    rel,
    walk_files,
)
from deepfake_detector.training.index import FAKE, REAL, IndexItem

log = logging.getLogger(__name__)

PART_PREFIX = "dfdc_train_part_"
LABELS = "labels.csv"


def _parts(root: Path) -> list[Path]:
    """Part folders, numerically sorted; a root that is itself one part counts as one."""
    if (root / "metadata.json").is_file():
        return [root]
    parts = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PART_PREFIX)]

    def number(p: Path) -> tuple[int, str]:
        suffix = p.name[len(PART_PREFIX) :]
        return (int(suffix) if suffix.isdigit() else 1 << 30, p.name)

    return sorted((p for p in parts if (p / "metadata.json").is_file()), key=number)


def _labels_files(root: Path) -> list[Path]:
    candidates = [root / LABELS, *(p / LABELS for p in sorted(root.iterdir()) if p.is_dir())]
    return [p for p in candidates if p.is_file()]


def detect(root: Path) -> bool:
    return root.is_dir() and bool(_parts(root) or _labels_files(root))


def _read_part(part: Path, root: Path) -> list[IndexItem]:
    meta_path = part / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetError(f"{meta_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{meta_path}: expected an object keyed by file name")
    items = []
    for name, entry in sorted(meta.items()):
        label_text = str(entry.get("label", "")).upper()
        if label_text not in ("REAL", "FAKE"):
            raise DatasetError(f"{meta_path}: {name} has label {entry.get('label')!r}")
        original = entry.get("original") or None
        label = FAKE if label_text == "FAKE" else REAL
        group = Path(original if label == FAKE and original else name).stem
        extra = {"part": part.name}
        if original:
            extra["original"] = original
        items.append(
            IndexItem(
                path=rel(part / name, root) if part != root else name,
                label=label,
                source="dfdc",
                method="real" if label == REAL else "",
                group=group,
                split=str(entry.get("split") or ""),
                extra=extra,
            )
        )
    return items


def _read_labels(labels_path: Path, root: Path, skip: set[Path]) -> list[IndexItem]:
    """Test videos named in labels.csv, found anywhere under root outside the training parts."""
    on_disk: dict[str, Path] = {}
    for path in walk_files(root):
        if is_video(path) and not any(part in path.parents for part in skip):
            on_disk.setdefault(path.name, path)
    items = []
    with labels_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"filename", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{labels_path}: expected columns filename,label")
        missing = 0
        for n, row in enumerate(reader, 2):
            label_text = (row["label"] or "").strip()
            try:
                label = FAKE if float(label_text) >= 0.5 else REAL
            except ValueError as exc:
                raise DatasetError(f"{labels_path}:{n}: label {label_text!r} is not 0/1") from exc
            video = on_disk.get(row["filename"].strip())
            if video is None:
                missing += 1
                continue
            items.append(
                IndexItem(
                    path=rel(video, root),
                    label=label,
                    source="dfdc",
                    method="real" if label == REAL else "",
                    group=video.stem,
                    split="test",
                    extra={"labels": rel(labels_path, root)},
                )
            )
    if missing:
        log.warning("%s: %d listed videos not found under %s", labels_path, missing, root)
    return items


def read(root: Path) -> list[IndexItem]:
    """Index the training parts (their own ``split``) and any labelled test set."""
    parts = _parts(root)
    items = [item for part in parts for item in _read_part(part, root)]
    for labels_path in _labels_files(root):
        items.extend(_read_labels(labels_path, root, skip=set(parts) - {root}))
    if not items:
        raise DatasetError(f"no DFDC metadata.json or labels.csv under {root}")
    return items

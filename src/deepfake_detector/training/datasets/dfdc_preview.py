"""DFDC preview: one ``dataset.json`` keyed by relative path with ``label`` and ``set``.

Paths look like ``original_videos/<id>/<video>.mp4`` and
``method_A/<target id>/<source>/<video>.mp4``; the id folder is the identity, so a fake groups with
the originals of the person it shows.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from deepfake_detector.training.datasets._common import DatasetError
from deepfake_detector.training.index import FAKE, REAL, IndexItem

INDEX = "dataset.json"


def detect(root: Path) -> bool:
    return (root / INDEX).is_file()


def read(root: Path) -> list[IndexItem]:
    """Index every entry of ``dataset.json`` (labels and splits as the file gives them)."""
    path = root / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected an object keyed by relative path")
    items = []
    for key, entry in sorted(data.items()):
        label_text = str(entry.get("label", "")).lower()
        if label_text not in ("real", "fake"):
            raise DatasetError(f"{path}: {key} has label {entry.get('label')!r}")
        label = FAKE if label_text == "fake" else REAL
        parts = PurePosixPath(key).parts
        group = str(
            entry.get("target_id") or (parts[1] if len(parts) >= 3 else PurePosixPath(key).stem)
        )
        items.append(
            IndexItem(
                path=key,
                label=label,
                source="dfdc_preview",
                method="real" if label == REAL else parts[0],
                group=group,
                split=str(entry.get("set") or ""),
                extra={k: v for k, v in entry.items() if k not in ("label", "set")},
            )
        )
    return items

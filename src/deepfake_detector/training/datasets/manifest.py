"""The data folder's own ``MANIFEST.csv``: one row per file with label, category, identity and
the media's resolution, frame rate, duration and size.

What this layout adds over the plain CSV reader is what leave-one-generator-out validation needs:

- ``method`` is the **generator family** of a fake (``deepfacelive``, ``anitalker``, ``edtalk``,
  ``musev``, ...), from the file name's source prefix (``anitalker__…``) and, where one prefix
  holds two generators, the manifest's ``category`` (``linly__Musetalk__…`` is MuseV). Reals get
  ``real``. :func:`generator_family` is the one place that mapping lives.
- ``group`` is the **identity**: a face-swap pair's two halves (``…__LEFT_orig`` /
  ``…__RIGHT_swap``) share their source person's ``dfl_srcgrp:NN`` key, so a split never puts a
  swap on one side and its own original on the other, nor one person on both sides.
- ``extra.original`` names a swap's original half, so evaluation reports matched pairs;
  ``extra.width/height/fps/duration_s/bytes`` feed the metadata shortcut probe.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path, PurePosixPath
from typing import Any

from deepfake_detector.training.datasets._common import DatasetError, media_kind
from deepfake_detector.training.datasets.folders import parse_label
from deepfake_detector.training.index import FAKE, REAL, IndexItem

MANIFEST_NAME = "MANIFEST.csv"
_REQUIRED = {"path", "label", "category", "identity"}
_PAIR_SUFFIX = re.compile(r"__(LEFT_orig|RIGHT_swap)$")
_SOURCE_GROUP = re.compile(r"dfl_srcgrp:(\w+)")
_PREFIX_FAMILY = {"dfl": "deepfacelive"}
"""File-name prefixes whose family name is not the prefix itself."""
_CATEGORY_FAMILY = {"fully_generated_video_musev": "musev"}
"""Categories that name the generator better than the file's prefix (one repo, two tools)."""
_METADATA = ("width", "height", "fps", "duration_s", "bytes")


def detect(root: Path) -> bool:
    path = root / MANIFEST_NAME if root.is_dir() else root
    if path.name != MANIFEST_NAME or not path.is_file():
        return False
    try:
        with path.open(newline="", encoding="utf-8") as f:
            header = {h.strip().lower() for h in next(csv.reader(f), [])}
    except (OSError, UnicodeDecodeError):
        return False
    return header >= _REQUIRED


def generator_family(path: str, label: int, category: str) -> str:
    """``real`` for reals; for fakes the generator family (see the module docstring)."""
    if label == REAL:
        return "real"
    if category in _CATEGORY_FAMILY:
        return _CATEGORY_FAMILY[category]
    name = PurePosixPath(path).name
    prefix = name.split("__", 1)[0] if "__" in name else (category or "unknown")
    if prefix.startswith("ffpp_"):
        return prefix.removeprefix("ffpp_")
    return _PREFIX_FAMILY.get(prefix, prefix)


def _identity_group(path: str, identity: str) -> str:
    source_group = _SOURCE_GROUP.search(identity)
    if source_group:
        return f"dfl_srcgrp:{source_group.group(1)}"
    if identity:
        return identity
    return PurePosixPath(path).stem


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read(root: Path, *, path_prefix: str = "") -> list[IndexItem]:
    """Index the manifest's rows whose path starts with ``path_prefix`` (e.g. ``train_fake/``).

    Paths stay relative to the manifest's folder. Rows whose file is not media are skipped."""
    path = root / MANIFEST_NAME if root.is_dir() else root
    if not detect(path.parent if path.name == MANIFEST_NAME else path):
        raise DatasetError(
            f"{root}: no {MANIFEST_NAME} with columns {', '.join(sorted(_REQUIRED))}"
        )
    rows: list[dict[str, str]] = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), 2):
            media = (row.get("path") or "").strip()
            if not media or not media.startswith(path_prefix) or media_kind(media) is None:
                continue
            try:
                label = parse_label(row.get("label") or "")
            except ValueError as exc:
                raise DatasetError(f"{path}:{n}: {exc}") from exc
            rows.append({**row, "path": media, "_label": str(label)})
    originals = {
        _PAIR_SUFFIX.sub("", PurePosixPath(r["path"]).stem): r["path"]
        for r in rows
        if PurePosixPath(r["path"]).stem.endswith("__LEFT_orig")
    }
    items = []
    for row in rows:
        media, label = row["path"], int(row["_label"])
        category = (row.get("category") or "").strip()
        extra: dict[str, Any] = {
            k: v for k in _METADATA if (v := _number(row.get(k) or "")) is not None
        }
        stem = PurePosixPath(media).stem
        if label == FAKE and stem.endswith("__RIGHT_swap"):
            original = originals.get(_PAIR_SUFFIX.sub("", stem))
            if original:
                extra["original"] = original
        items.append(
            IndexItem(
                path=media,
                label=label,
                kind=media_kind(media) or "video",
                source=category or PurePosixPath(media).parts[0],
                method=generator_family(media, label, category),
                group=_identity_group(media, (row.get("identity") or "").strip()),
                extra=extra,
            )
        )
    if not items:
        raise DatasetError(
            f"{path}: no media rows" + (f" under {path_prefix!r}" if path_prefix else "")
        )
    return items

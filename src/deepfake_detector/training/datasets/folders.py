"""Plain layouts for everything else: ``real/``+``fake/`` folders, or a CSV of ``path,label``.

Folders: each media file's label comes from its nearest ancestor folder named ``real`` or ``fake``
(any case), so ``real/``, ``videos/real/`` and ``images/fake/`` all work; videos become kind
``video`` and images kind ``face`` (already cropped). A file's group is its stem, except that a
FaceForensics++-style name ``<source>__<target>_<donor>`` (digits) and ``<source>__<target>``
both get the group ``<target>``: a fake shares its group with the original it was made from, so
splits keep them together and evaluation can report the matched pairs. CSV: ``path,label`` plus
optional ``source,method,group,split,kind``; ``category`` and ``identity`` (as in
``MANIFEST.csv``) are accepted for ``source`` and ``group``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path, PurePosixPath

from deepfake_detector.training.datasets._common import DatasetError, media_kind, rel, walk_files
from deepfake_detector.training.index import FAKE, REAL, IndexItem

_LABEL_FOLDERS = {"real": REAL, "fake": FAKE}
_LABELS = {"0": REAL, "1": FAKE, "real": REAL, "fake": FAKE}
_ALIASES = {"category": "source", "identity": "group"}
_OPTIONAL = ("source", "method", "group", "split", "kind")
_SEARCH_DEPTH = 3
_FFPP_IDS = re.compile(r"(\d+)(?:_\d+)?")


def _source_for(path: PurePosixPath, root_name: str) -> str:
    """Token before ``__`` in the file name, else the nearest folder that is not real/fake."""
    if "__" in path.name:
        return path.name.split("__", 1)[0]
    for folder in reversed(path.parts[:-1]):
        if folder.lower() not in _LABEL_FOLDERS:
            return folder
    return root_name


def _group_for(path: PurePosixPath) -> str:
    """``519`` for ``ffpp_original__519`` and ``ffpp_Deepfakes__519_515``; else the stem."""
    ids = path.stem.split("__", 1)[1] if "__" in path.stem else ""
    match = _FFPP_IDS.fullmatch(ids)
    return match.group(1) if match else path.stem


def detect_folders(root: Path) -> bool:
    if not root.is_dir():
        return False
    frontier = [root]
    for _ in range(_SEARCH_DEPTH):
        frontier = [p for d in frontier for p in d.iterdir() if p.is_dir()]
        if any(p.name.lower() in _LABEL_FOLDERS for p in frontier):
            return True
    return False


def read_folders(root: Path) -> list[IndexItem]:
    """Index media under real/fake folders; files outside any real/fake folder are ignored."""
    if not root.is_dir():
        raise DatasetError(f"not a folder: {root}")
    items = []
    for file in walk_files(root):
        kind = media_kind(file)
        if kind is None:
            continue
        relative = PurePosixPath(rel(file, root))
        label = next(
            (
                _LABEL_FOLDERS[f.lower()]
                for f in reversed(relative.parts[:-1])
                if f.lower() in _LABEL_FOLDERS
            ),
            None,
        )
        if label is None:
            continue
        items.append(
            IndexItem(
                path=str(relative),
                label=label,
                kind=kind,
                source=_source_for(relative, root.name),
                method="real" if label == REAL else "",
                group=_group_for(relative),
            )
        )
    if not items:
        raise DatasetError(f"no media files under a real/ or fake/ folder in {root}")
    return items


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [h.strip().lower() for h in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError):
        return []


def _csv_file(root: Path) -> Path | None:
    """The CSV itself, or the one CSV in a folder that has path and label columns."""
    if root.is_file():
        return root if root.suffix.lower() == ".csv" else None
    if not root.is_dir():
        return None
    found = [p for p in sorted(root.glob("*.csv")) if {"path", "label"} <= set(_csv_header(p))]
    return found[0] if len(found) == 1 else None


def detect_csv(root: Path) -> bool:
    return _csv_file(root) is not None


def parse_label(text: str) -> int:
    """0/1, real/fake in any case → REAL/FAKE; anything else is an error, never a guess."""
    label = _LABELS.get(text.strip().lower())
    if label is None:
        raise ValueError(f"label {text!r} is not one of 0, 1, real, fake")
    return label


def read_csv(root: Path, *, path_prefix: str = "") -> list[IndexItem]:
    """Index a ``path,label`` CSV; paths stay as written (relative to the CSV's folder).

    ``path_prefix`` keeps only rows whose path starts with it (e.g. ``dev_eval/``), so one
    manifest can describe several collections.
    """
    path = _csv_file(root)
    if path is None:
        raise DatasetError(f"{root}: not a CSV, or a folder without exactly one path,label CSV")
    items = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = {h.strip().lower(): h for h in reader.fieldnames or []}
        if not {"path", "label"} <= set(header):
            raise DatasetError(f"{path}: needs path and label columns, has {sorted(header)}")
        columns = {name: header[name] for name in _OPTIONAL if name in header}
        for alias, name in _ALIASES.items():
            if alias in header and name not in columns:
                columns[name] = header[alias]
        for n, row in enumerate(reader, 2):
            media = (row[header["path"]] or "").strip()
            if not media or not media.startswith(path_prefix):
                continue
            try:
                label = parse_label(row[header["label"]] or "")
            except ValueError as exc:
                raise DatasetError(f"{path}:{n}: {exc}") from exc
            values = {name: (row[col] or "").strip() for name, col in columns.items()}
            posix = PurePosixPath(media)
            items.append(
                IndexItem(
                    path=media,
                    label=label,
                    kind=values.get("kind") or media_kind(media) or "video",
                    source=values.get("source") or _source_for(posix, path.parent.name),
                    method=values.get("method") or ("real" if label == REAL else ""),
                    group=values.get("group") or posix.stem,
                    split=values.get("split", ""),
                )
            )
    if not items:
        raise DatasetError(f"{path}: no rows" + (f" under {path_prefix!r}" if path_prefix else ""))
    return items

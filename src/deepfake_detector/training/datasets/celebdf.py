"""Celeb-DF v2: ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/`` and the official test list.

``List_of_testing_videos.txt`` lines are ``<label> <folder>/<file>.mp4`` where **1 = real and
0 = fake**, the inverse of ours; listed videos are the test split, all others train. A fake
``id0_id1_0000`` is video ``id0_0000`` with id1's face pasted in, so its group is ``id0``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from deepfake_detector.training.datasets._common import DatasetError, media_files, rel
from deepfake_detector.training.index import FAKE, REAL, IndexItem

log = logging.getLogger(__name__)

TEST_LIST = "List_of_testing_videos.txt"
FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}


def detect(root: Path) -> bool:
    return (root / "Celeb-synthesis").is_dir() or (
        (root / "Celeb-real").is_dir() and (root / TEST_LIST).is_file()
    )


def _read_test_list(root: Path) -> dict[str, int]:
    """Relative path → label in OUR convention (the file's 1 = real becomes REAL = 0)."""
    path = root / TEST_LIST
    if not path.is_file():
        return {}
    listed: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetError(
                f"{path}:{n}: expected '<1 real|0 fake> <folder>/<file>', got {line!r}"
            )
        listed[parts[1]] = REAL if parts[0] == "1" else FAKE
    return listed


def read(root: Path) -> list[IndexItem]:
    """Index Celeb-DF v2 with the official test split (everything not listed is train)."""
    listed = _read_test_list(root)
    items: list[IndexItem] = []
    for folder, label in FOLDERS.items():
        for video in media_files(root / folder):
            path = rel(video, root)
            if path in listed and listed[path] != label:
                raise DatasetError(
                    f"{TEST_LIST} labels {path} as {'real' if listed[path] == REAL else 'fake'} "
                    f"but it lies in {folder}/ (Celeb-DF lists 1 = real, 0 = fake)"
                )
            stem = video.stem
            extra: dict[str, str] = {"subset": folder}
            if folder == "YouTube-real":
                group = f"youtube:{stem}"
            elif folder == "Celeb-real":
                group = stem.split("_", 1)[0]
            else:
                ids = stem.split("_")
                if len(ids) < 3:
                    log.warning("skipping %s: not named <target>_<source>_<n>", video)
                    continue
                group = ids[0]
                extra["source_id"] = ids[1]
                extra["original"] = f"Celeb-real/{ids[0]}_{ids[2]}{video.suffix}"
            items.append(
                IndexItem(
                    path=path,
                    label=label,
                    source="celebdf",
                    method="real" if label == REAL else "Celeb-synthesis",
                    group=group,
                    split="test" if path in listed else "train",
                    extra=extra,
                )
            )
    missing = len(set(listed) - {item.path for item in items})
    if missing:
        log.warning("%d videos listed in %s are not on disk", missing, TEST_LIST)
    if not items:
        raise DatasetError(f"no Celeb-DF videos under {root}")
    return items

"""One dataset index format for every dataset layout: a JSON Lines file of ``IndexItem`` records.

Every reader (FaceForensics++, Celeb-DF, DFDC, plain folders, ...) produces these records; training
and evaluation consume only these, so adding a layout never touches them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REAL, FAKE = 0, 1


@dataclass(frozen=True)
class IndexItem:
    path: str
    """Media file, relative to the dataset root (or absolute)."""
    label: int
    """``REAL`` (0) or ``FAKE`` (1), whatever convention the dataset itself uses."""
    kind: str = "video"
    """``video`` (a scene to analyse) or ``face`` (an image that already is a face crop)."""
    source: str = ""
    """Dataset or sub-collection, e.g. ``ffpp``, ``celebdf``, ``dfdc``."""
    method: str = ""
    """Manipulation method for fakes (``Deepfakes``, ``Face2Face``, ...), ``real`` for reals."""
    group: str = ""
    """Identity (or source-video) key: items sharing it must land in the same split."""
    split: str = ""
    """``train`` | ``val`` | ``test`` when the dataset defines it, else empty."""
    extra: dict[str, Any] = field(default_factory=dict)


def write_index(items: Iterable[IndexItem], path: str | os.PathLike[str]) -> int:
    """Write items as JSON Lines atomically; returns how many were written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(asdict(item), ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_index(path: str | os.PathLike[str]) -> Iterator[IndexItem]:
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield IndexItem(**json.loads(line))

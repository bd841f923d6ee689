"""Identity-disjoint splits for datasets that ship none (plain folders, DFD, CSVs)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace

from deepfake_detector.training.index import IndexItem

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


def _unit(group: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x00{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_group(
    items: Iterable[IndexItem],
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
) -> list[IndexItem]:
    """Assign a split to items that have none, keeping every group (identity) in one split.

    The split is a hash of group and seed, not a shuffle: the same group always lands in the same
    split whatever else is in the index, so adding videos never moves an identity across splits.
    Fractions hold over groups, not items, and only approximately for few groups. Items that
    already have a split are returned unchanged; items without a group are grouped by path.
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if not fractions or any(v < 0 for v in fractions.values()) or sum(fractions.values()) <= 0:
        raise ValueError(f"fractions must be non-negative with a positive sum: {fractions}")
    total = sum(fractions.values())
    bounds: list[tuple[float, str]] = []
    acc = 0.0
    for name, value in fractions.items():
        acc += value / total
        bounds.append((acc, name))

    def pick(group: str) -> str:
        u = _unit(group, seed)
        for bound, name in bounds:
            if u < bound:
                return name
        return bounds[-1][1]

    return [
        item if item.split else replace(item, split=pick(item.group or item.path)) for item in items
    ]

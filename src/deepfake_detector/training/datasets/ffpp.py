"""FaceForensics++ (and the DeepFakeDetection / DFD videos shipped in the same tree).

Reals: ``original_sequences/youtube/<compression>/videos/000.mp4``; fakes:
``manipulated_sequences/<Method>/<compression>/videos/<target>_<source>.mp4``. DFD: reals in
``original_sequences/actors`` (``01__scene.mp4``), fakes in
``manipulated_sequences/DeepFakeDetection`` (``01_02__scene__ID.mp4``). The official
``train/val/test.json`` list id pairs; a video belongs to the split of the pair that lists its
id(s). DFD has no official split.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from deepfake_detector.training.datasets._common import DatasetError, media_files, rel
from deepfake_detector.training.index import FAKE, REAL, IndexItem

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DFD_METHOD = "DeepFakeDetection"
_NOT_COMPRESSIONS = {"masks"}


def detect(root: Path) -> bool:
    return (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir()


def _load_splits(root: Path) -> tuple[dict[str, str], dict[frozenset[str], str]]:
    """Per-id and per-pair split maps from the official JSON files (empty when there are none)."""
    by_id: dict[str, str] = {}
    by_pair: dict[frozenset[str], str] = {}
    for split in SPLITS:
        path = next(
            (p for p in (root / f"{split}.json", root / "splits" / f"{split}.json") if p.is_file()),
            None,
        )
        if path is None:
            continue
        try:
            pairs = json.loads(path.read_text(encoding="utf-8"))
            pairs = [(str(a), str(b)) for a, b in pairs]
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{path}: expected a JSON list of [a, b] id pairs ({exc})") from exc
        for a, b in pairs:
            for vid in (a, b):
                if by_id.get(vid, split) != split:
                    raise DatasetError(f"{path}: id {vid} is also listed in {by_id[vid]}.json")
                by_id[vid] = split
            by_pair[frozenset((a, b))] = split
    return by_id, by_pair


def _compression_dirs(parent: Path, compression: str) -> list[Path]:
    if not parent.is_dir():
        return []
    found = sorted(p for p in parent.iterdir() if p.is_dir() and p.name not in _NOT_COMPRESSIONS)
    if compression == "all":
        return found
    return [p for p in found if p.name == compression]


def read(root: Path, *, compression: str = "c23") -> list[IndexItem]:
    """Index one compression level (``raw``/``c23``/``c40``, or ``all``)."""
    by_id, by_pair = _load_splits(root)
    items: list[IndexItem] = []
    originals = root / "original_sequences"
    manipulated = root / "manipulated_sequences"

    for comp_dir in _compression_dirs(originals / "youtube", compression):
        for video in media_files(comp_dir / "videos"):
            vid = video.stem
            items.append(
                IndexItem(
                    path=rel(video, root),
                    label=REAL,
                    source="ffpp",
                    method="real",
                    group=vid,
                    split=by_id.get(vid, ""),
                    extra={"compression": comp_dir.name},
                )
            )

    for comp_dir in _compression_dirs(originals / "actors", compression):
        for video in media_files(comp_dir / "videos"):
            actor, _, scene = video.stem.partition("__")
            items.append(
                IndexItem(
                    path=rel(video, root),
                    label=REAL,
                    source="dfd",
                    method="real",
                    group=actor,
                    extra={"compression": comp_dir.name, "scene": scene},
                )
            )

    methods = sorted(p for p in manipulated.iterdir() if p.is_dir()) if manipulated.is_dir() else []
    for method_dir in methods:
        method = method_dir.name
        for comp_dir in _compression_dirs(method_dir, compression):
            for video in media_files(comp_dir / "videos"):
                if method == DFD_METHOD:
                    ids, _, rest = video.stem.partition("__")
                    target, _, source_id = ids.partition("_")
                    scene = rest.rsplit("__", 1)[0]
                    extra = {"compression": comp_dir.name, "source_id": source_id, "scene": scene}
                    items.append(
                        IndexItem(
                            path=rel(video, root),
                            label=FAKE,
                            source="dfd",
                            method=method,
                            group=target,
                            extra=extra,
                        )
                    )
                    continue
                target, sep, source_id = video.stem.partition("_")
                if not sep:
                    log.warning("skipping %s: not named <target>_<source>", video)
                    continue
                pair_split = by_pair.get(frozenset((target, source_id)), "")
                items.append(
                    IndexItem(
                        path=rel(video, root),
                        label=FAKE,
                        source="ffpp",
                        method=method,
                        group=target,
                        split=pair_split,
                        extra={"compression": comp_dir.name, "source_id": source_id},
                    )
                )

    if not items:
        present = sorted(
            {
                d.name
                for parent in [originals / "youtube", *methods]
                for d in _compression_dirs(parent, "all")
            }
        )
        raise DatasetError(
            f"no FaceForensics++ videos at compression {compression!r} under {root} "
            f"(compressions present: {', '.join(present) or 'none'})"
        )
    return items

"""Face-crop cache: extract every item's face tracks once, with exactly the inference pipeline.

Training must see the faces serving sees, so videos go through ``FaceExtractor`` unchanged (same
detector, tracker, crop and alignment); detection is also by far the slowest step, so it runs once
per item and training reads the stored crops. Layout of ``<cache>``:

- ``cache.json``: ``{"format": 1, "spec": {...}, "frames", "detector", "detect_max_side"}``; a
  resumed run with other settings is refused (``CacheError``) so one cache never mixes crops.
- ``crops/<key>.npz`` per item (``key`` = first 16 hex digits of sha1 of the item's path), written
  atomically: ``crops`` uint8 (K,S,S,3) RGB, ``landmarks`` float32 (K,5,2) in crop pixels (NaN when
  missing), ``track`` int16 (K,), ``time_s`` float32 (K,). K = 0 (no face, unreadable media) is
  still written so a resumed run skips it.
- ``entries.jsonl``: one record per finished item (the ``IndexItem`` fields plus ``file``,
  ``crops``, ``tracks``, ``error``), appended as items finish and deduplicated on resume.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detector.analysis.extraction import FaceExtractor
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.errors import DetectorError
from deepfake_detector.faces import CropSpec
from deepfake_detector.media.formats import is_image_path
from deepfake_detector.training.index import IndexItem

CACHE_FORMAT = 1
_INDEX_FIELDS = tuple(f.name for f in fields(IndexItem))


class CacheError(DetectorError):
    """A cache folder that cannot be used as asked (other settings, missing or broken metadata)."""


@dataclass(frozen=True)
class CachedCrops:
    """The arrays of one item (or one track of it)."""

    crops: np.ndarray
    """uint8 ``(K, S, S, 3)`` RGB."""
    landmarks: np.ndarray
    """float32 ``(K, 5, 2)`` in crop pixels, NaN rows where the detector gave none."""
    track: np.ndarray
    """int16 ``(K,)`` track id (person) of each crop."""
    time_s: np.ndarray
    """float32 ``(K,)`` time of the crop's frame in the video (0 for images)."""
    face_px: np.ndarray | None = None
    """float32 ``(K,)`` longer side of the detected face box in frame pixels (NaN for images);
    ``None`` in caches written before it was recorded. Tells an inset from the main face
    (:mod:`~deepfake_detector.training.track_labels`)."""

    def __len__(self) -> int:
        return int(self.crops.shape[0])


@dataclass(frozen=True)
class CacheEntry:
    """One finished item: its index record and what extraction produced."""

    item: IndexItem
    file: str
    """The ``.npz``, relative to the cache folder."""
    crops: int
    tracks: int
    error: str | None

    @property
    def path(self) -> str:
        return self.item.path

    @property
    def label(self) -> int:
        return self.item.label

    @property
    def split(self) -> str:
        return self.item.split

    @property
    def group(self) -> str:
        return self.item.group


@dataclass
class CacheSummary:
    total: int = 0
    extracted: int = 0
    skipped: int = 0
    """Already in the cache from an earlier run."""
    errors: int = 0
    no_face: int = 0
    """Extracted items (without error) where no face was found."""
    crops: int = 0
    """Crops written by this run."""
    videos: int = 0
    images: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.extracted / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.total} items: {self.extracted} extracted ({self.videos} videos, "
            f"{self.images} images, {self.crops} crops), {self.skipped} already cached, "
            f"{self.no_face} without a face, {self.errors} unreadable; "
            f"{self.seconds:.1f} s ({rate:.2f} items/s)"
        )


def item_key(path: str) -> str:
    """Stable file name of an item: its path's hash, so renaming nothing ever moves a crop file."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]


def cache_settings(spec: CropSpec, settings: AnalysisSettings) -> dict[str, Any]:
    """What ``cache.json`` records: everything that changes the crops a run writes."""
    return {
        "format": CACHE_FORMAT,
        "spec": {"size": spec.size, "margin": spec.margin, "align": spec.align},
        "frames": settings.frames,
        "detector": settings.detector,
        "detect_max_side": settings.detect_max_side,
    }


def is_image_item(item: IndexItem) -> bool:
    return item.kind == "face" or is_image_path(item.path)


# --------------------------------------------------------------------------------- extraction


def extract_to_cache(
    items: list[IndexItem],
    root: Path,
    cache_dir: Path,
    *,
    spec: CropSpec,
    settings: AnalysisSettings,
    workers: int = 1,
    progress: bool = True,
) -> CacheSummary:
    """Extract every item not yet cached; resumable (finished ``.npz`` files are skipped).

    ``workers > 1`` runs a spawn-started process pool, each worker loading its own detector once.
    Unreadable media never stop the run: they are cached with K = 0 and ``error`` set.
    Crops are always cut from the exact, evenly spaced frames, whatever ``settings.sample_snap``
    says: snapping to keyframes saves decoding at serving time, but a training set must be the
    same set of frames every time it is rebuilt (and a cache made before snapping existed stays
    valid to resume). Likewise every frame is searched whole for faces (``full_detect_every``
    1): a guided search saves time at serving, but may find a person entering late.
    """
    settings = settings.frame_exact()
    start = time.perf_counter()
    root, cache_dir = Path(root), Path(cache_dir)
    _prepare(cache_dir, cache_settings(spec, settings))
    done = _rebuild_entries(cache_dir)
    summary = CacheSummary(total=len(items))
    todo: list[tuple[IndexItem, str, str]] = []
    seen: set[str] = set()
    for item in items:
        file = f"crops/{item_key(item.path)}.npz"
        if file in seen:
            summary.total -= 1  # the same path twice in the index: one cache entry
            continue
        seen.add(file)
        if file in done:
            summary.skipped += 1
        else:
            todo.append((item, str(_media_path(root, item.path)), file))

    bar = _progress_bar(len(todo), progress)
    with (cache_dir / "entries.jsonl").open("a", encoding="utf-8") as log:
        for record in _run(todo, cache_dir, spec, settings, workers):
            log.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            log.flush()
            _count(summary, record)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    summary.seconds = time.perf_counter() - start
    if progress:
        print(f"extract-crops: {summary.line()}", file=sys.stderr)
    return summary


def _count(summary: CacheSummary, record: dict[str, Any]) -> None:
    summary.extracted += 1
    summary.crops += record["crops"]
    if record["error"] is not None:
        summary.errors += 1
    elif record["crops"] == 0:
        summary.no_face += 1
    if is_image_item(IndexItem(**{k: record[k] for k in _INDEX_FIELDS})):
        summary.images += 1
    else:
        summary.videos += 1


def _media_path(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled or total == 0 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc="extract-crops", file=sys.stderr)


def _prepare(cache_dir: Path, wanted: dict[str, Any]) -> None:
    """Create the cache, or check that an existing one was made with the same settings."""
    (cache_dir / "crops").mkdir(parents=True, exist_ok=True)
    meta = cache_dir / "cache.json"
    if meta.exists():
        found = _read_meta(cache_dir)
        if found != wanted:
            raise CacheError(
                f"{cache_dir} holds crops made with other settings "
                f"({json.dumps(found, sort_keys=True)}; this run: "
                f"{json.dumps(wanted, sort_keys=True)}); use another --cache folder."
            )
        return
    _write_atomic(meta, (json.dumps(wanted, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _read_meta(cache_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((cache_dir / "cache.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"{cache_dir} is not a crop cache (no cache.json).") from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"{cache_dir}/cache.json cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise CacheError(f"{cache_dir}/cache.json: unsupported cache format.")
    return meta


def _iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of an ``entries.jsonl``; a torn last line (killed run, concurrent append) is
    skipped rather than fatal."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # still being written
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "file" in record:
                yield record


def _rebuild_entries(cache_dir: Path) -> set[str]:
    """Rewrite ``entries.jsonl`` with one record per existing ``.npz``; returns the done files.

    An ``.npz`` without a record (killed between the two writes) is deleted and redone, since only
    the record knows whether K = 0 meant "no face" or "unreadable".
    """
    log = cache_dir / "entries.jsonl"
    records: dict[str, dict[str, Any]] = {}
    for record in _iter_records(log):
        if (cache_dir / record["file"]).exists():
            records[record["file"]] = record
    for npz in (cache_dir / "crops").glob("*.npz"):
        if f"crops/{npz.name}" not in records:
            npz.unlink(missing_ok=True)
    for tmp in (cache_dir / "crops").glob("*.tmp*"):
        tmp.unlink(missing_ok=True)
    text = "".join(
        json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records.values()
    )
    _write_atomic(log, text.encode("utf-8"))
    return set(records)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _run(
    todo: list[tuple[IndexItem, str, str]],
    cache_dir: Path,
    spec: CropSpec,
    settings: AnalysisSettings,
    workers: int,
) -> Iterator[dict[str, Any]]:
    """Records of finished items, in completion order."""
    if not todo:
        return
    if workers <= 1:
        _init_worker(settings, spec, 0)
        for item, media, file in todo:
            yield _process(item, media, str(cache_dir / file), file)
        return
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings, spec, 1),
    ) as pool:
        # A bounded number in flight: a million-item index never becomes a million futures.
        pending: set[cf.Future[dict[str, Any]]] = set()
        queue = iter(todo)
        for item, media, file in queue:
            pending.add(pool.submit(_process, item, media, str(cache_dir / file), file))
            if len(pending) >= 4 * workers:
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        for future in cf.as_completed(pending):
            yield future.result()


_EXTRACTOR: FaceExtractor | None = None


def _init_worker(settings: AnalysisSettings, spec: CropSpec, threads: int) -> None:
    """Build this process's extractor once (loading the detector is the expensive part)."""
    global _EXTRACTOR
    if threads > 0:
        cv2.setNumThreads(threads)  # one process per core already; threads would oversubscribe
    if _EXTRACTOR is None or _EXTRACTOR.settings != settings or _EXTRACTOR.crop != spec:
        _EXTRACTOR = FaceExtractor(settings, spec)


def _process(item: IndexItem, media: str, out: str, file: str) -> dict[str, Any]:
    """Extract one item, write its ``.npz`` and return its ``entries.jsonl`` record."""
    assert _EXTRACTOR is not None, "worker not initialised"
    error: str | None = None
    try:
        if is_image_item(item):
            arrays = _extract_image(_EXTRACTOR, media)
        else:
            arrays = _extract_video(_EXTRACTOR, media)
    except Exception as exc:  # one bad file must never stop a long run
        error = str(exc) or type(exc).__name__
        arrays = _empty(_EXTRACTOR.crop.size)
    _save(Path(out), arrays)
    return {
        **asdict(item),
        "file": file,
        "crops": len(arrays),
        "tracks": len(np.unique(arrays.track)),
        "error": error,
    }


def _empty(size: int) -> CachedCrops:
    return CachedCrops(
        np.zeros((0, size, size, 3), np.uint8),
        np.zeros((0, 5, 2), np.float32),
        np.zeros((0,), np.int16),
        np.zeros((0,), np.float32),
        np.zeros((0,), np.float32),
    )


def _landmarks(points: np.ndarray | None) -> np.ndarray:
    if points is None:
        return np.full((5, 2), np.nan, np.float32)
    return np.asarray(points, dtype=np.float32).reshape(5, 2)


def _extract_video(extractor: FaceExtractor, media: str) -> CachedCrops:
    """All tracks of a video, through the inference pipeline unchanged; grouped by track, each
    in time order."""
    path = Path(media)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {media}")
    faces = extractor.extract(extractor.open(path))
    crops: list[np.ndarray] = []
    marks: list[np.ndarray] = []
    track: list[int] = []
    times: list[float] = []
    sides: list[float] = []
    for person in faces.people:
        for frame, crop, lm, detection in zip(
            person.frames,
            person.crops,
            person.crop_landmarks(extractor.crop),
            person.detections,
            strict=True,
        ):
            crops.append(crop)
            marks.append(_landmarks(lm))
            track.append(person.track_id)
            times.append(frame.time_s)
            x1, y1, x2, y2 = detection.box
            sides.append(max(x2 - x1, y2 - y1))
    if not crops:
        return _empty(extractor.crop.size)
    return CachedCrops(
        np.stack(crops).astype(np.uint8, copy=False),
        np.stack(marks).astype(np.float32, copy=False),
        np.asarray(track, np.int16),
        np.asarray(times, np.float32),
        np.asarray(sides, np.float32),
    )


def _extract_image(extractor: FaceExtractor, media: str) -> CachedCrops:
    """The largest face of an image, cut as video faces are (see ``FaceExtractor.face_image``)."""
    bgr = cv2.imread(media, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image: {media}")
    face = extractor.face_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if face is None:
        return _empty(extractor.crop.size)
    return CachedCrops(
        face.crop[None].astype(np.uint8, copy=False),
        _landmarks(face.landmarks)[None],
        np.zeros((1,), np.int16),
        np.zeros((1,), np.float32),
        np.full((1,), np.nan, np.float32),
    )


def _save(path: Path, arrays: CachedCrops) -> None:
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    optional = {} if arrays.face_px is None else {"face_px": arrays.face_px}
    np.savez_compressed(
        tmp,
        crops=arrays.crops,
        landmarks=arrays.landmarks,
        track=arrays.track,
        time_s=arrays.time_s,
        **optional,
    )
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ reading


class CropCache:
    """Read side of a cache folder; safe while an extraction is still appending to it."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.root = Path(cache_dir)
        self.meta = _read_meta(self.root)
        s = self.meta["spec"]
        self.spec = CropSpec(size=int(s["size"]), margin=float(s["margin"]), align=bool(s["align"]))

    def entries(self) -> list[CacheEntry]:
        """Finished items, one per file (the last record wins)."""
        by_file: dict[str, CacheEntry] = {}
        for r in _iter_records(self.root / "entries.jsonl"):
            item = IndexItem(**{k: r[k] for k in _INDEX_FIELDS if k in r})
            by_file[r["file"]] = CacheEntry(
                item, r["file"], int(r["crops"]), int(r["tracks"]), r.get("error")
            )
        return list(by_file.values())

    def load(self, entry: CacheEntry) -> CachedCrops:
        with np.load(self.root / entry.file) as z:
            face_px = z["face_px"] if "face_px" in z.files else None
            return CachedCrops(z["crops"], z["landmarks"], z["track"], z["time_s"], face_px)

    def tracks(self, entry: CacheEntry) -> list[CachedCrops]:
        """One ``CachedCrops`` per track id (ascending), each in time order."""
        data = self.load(entry)
        out: list[CachedCrops] = []
        for tid in np.unique(data.track):
            idx = np.flatnonzero(data.track == tid)
            idx = idx[np.argsort(data.time_s[idx], kind="stable")]
            face_px = None if data.face_px is None else data.face_px[idx]
            out.append(
                CachedCrops(
                    data.crops[idx], data.landmarks[idx], data.track[idx], data.time_s[idx], face_px
                )
            )
        return out

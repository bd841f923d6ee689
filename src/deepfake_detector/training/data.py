"""Training and validation clips from a crop cache of REAL faces, with fakes made on the fly.

One sample is one track (one person) of one cache entry. A clip is up to T of its crops; with
probability ``fake_probability`` it is turned into a fake by one family drawn by weight (label 1),
else it stays real (label 0). Augmentation follows, drawn once per clip and applied to every
frame of reals and fakes alike, then :func:`deepfake_detector.models.runtime.preprocess` — the very
function serving uses, so training and inference normalise identically.

Short tracks and still images are **not** repeated to T frames: the clip keeps its true length,
is zero-padded to T and carries ``length`` (``SequenceClassifier`` packs the sequence and ignores
the padding). Repeating a still T times would teach the temporal head a "frozen video" pattern
that no real input has.

Every sample is a pure function of ``(seed, epoch, index)``: the same config gives the same
clips in the same order, in any number of DataLoader workers, before and after a resume.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from deepfake_detector.models.checkpoints import ModelConfig
from deepfake_detector.models.runtime import preprocess
from deepfake_detector.training.config import AugmentConfig, ConfigError, TrainConfig
from deepfake_detector.training.crop_cache import CacheEntry, CropCache
from deepfake_detector.training.families import FakeMixer, build_families
from deepfake_detector.training.index import REAL
from deepfake_detector.training.reencode import roundtrip_frames
from deepfake_detector.training.track_labels import LeftOut, left_out_tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Track:
    """One person's crops in one cache entry, in time order (indices into the entry's arrays)."""

    entry: int
    track_id: int
    frames: tuple[int, ...]


@dataclass
class SplitTracks:
    """The identity-disjoint split of a cache's tracks: real tracks, and (when the run learns
    from labelled fakes or holds generator families out) the labelled fake tracks."""

    entries: list[CacheEntry]
    train: list[Track]
    val: list[Track]
    counts: dict[str, int]
    train_fake: list[Track] = field(default_factory=list)
    val_fake: list[Track] = field(default_factory=list)
    left_out: list[tuple[str, int, str]] = field(default_factory=list)
    """``(path, track id, reason)`` of the labelled fakes' faces not taken as fake (see
    :mod:`~deepfake_detector.training.track_labels`)."""


def _group_of(entry: CacheEntry) -> str:
    return entry.group or entry.path


def _stable_hash(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def family_of(entry: CacheEntry) -> str:
    """The generator family of a labelled fake (the index's ``method``, else its source)."""
    return entry.item.method or entry.item.source or "unknown"


def tracks_of(cache: CropCache, index: int, entry: CacheEntry) -> list[Track]:
    """The tracks of the cache's ``index``-th entry, by track id, each in time order."""
    with np.load(cache.root / entry.file) as z:
        track, time_s = z["track"], z["time_s"]
    out = []
    for tid in np.unique(track):
        idx = np.flatnonzero(track == tid)
        idx = idx[np.argsort(time_s[idx], kind="stable")]
        out.append(Track(index, int(tid), tuple(int(k) for k in idx)))
    return out


def labelled_tracks(
    cache: CropCache, index: int, entry: CacheEntry, entries_by_path: dict[str, CacheEntry]
) -> tuple[list[Track], list[LeftOut]]:
    """The tracks of the cache's ``index``-th entry that carry its label (all of a real's; a
    labelled fake's but the faces :func:`left_out_tracks` finds, with its ``extra.original``
    looked up in ``entries_by_path``), and those left out."""
    tracks = tracks_of(cache, index, entry)
    if entry.label == REAL or entry.tracks < 2:
        return tracks, []
    original = entries_by_path.get(str(entry.item.extra.get("original", "")))
    found = left_out_tracks(cache.tracks(entry), cache.tracks(original) if original else None)
    skip = {x.track_id for x in found}
    return [t for t in tracks if t.track_id not in skip], found


def split_cache(cache: CropCache, config: TrainConfig) -> SplitTracks:
    """Usable entries → tracks, split by the entries' own ``split`` when any entry has ``val``,
    else by identity ``group``: ``val_fraction`` of the groups (at least one) chosen by a seeded
    hash, so adding data never moves an existing group to the other side.

    Labelled fakes are used when ``real_fakes > 0`` or families are held out. A held-out
    family's fakes, and every item sharing an identity group with one of them (a face swap's own
    original), go to validation whatever the hash says: nothing of them is trained on. Faces of a
    labelled fake that do not show the manipulation (an inset, the unswapped person of a swap)
    are left out of both sides (:mod:`~deepfake_detector.training.track_labels`)."""
    all_entries = cache.entries()
    use_fakes = config.real_fakes > 0 or bool(config.holdout_families)
    usable = [e for e in all_entries if not e.error and e.crops > 0]
    entries = [e for e in usable if e.label == REAL or (use_fakes and e.label != REAL)]
    counts = {
        "entries": len(all_entries),
        "skipped_fake": sum(e.label != REAL for e in all_entries) if not use_fakes else 0,
        "skipped_empty_or_error": sum(bool(e.error) or e.crops == 0 for e in all_entries),
    }
    if not any(e.label == REAL for e in entries):
        raise ConfigError(f"{cache.root}: the cache holds no usable real face crops")
    known = {family_of(e) for e in entries if e.label != REAL}
    unknown = sorted(set(config.holdout_families) - known)
    if unknown:
        raise ConfigError(
            f"holdout_families names {', '.join(unknown)}, which the cache has no fakes of; "
            f"it has: {', '.join(sorted(known)) or 'none'}"
        )
    if config.real_fakes > 0 and not known - set(config.holdout_families):
        raise ConfigError(
            f"{cache.root}: real_fakes > 0 but the cache holds no labelled fakes to train on"
        )
    holdout = set(config.holdout_families)
    held_groups = {_group_of(e) for e in entries if e.label != REAL and family_of(e) in holdout}
    if any(e.split in ("val", "validation") for e in entries):
        is_val = [e.split in ("val", "validation") for e in entries]
        in_train = [e.split not in ("test",) for e in entries]
    else:
        groups = sorted({_group_of(e) for e in entries} - held_groups)
        if len(groups) < 2:
            raise ConfigError(
                f"{cache.root}: one identity group only; validation needs held-out identities"
            )
        n_val = min(len(groups) - 1, max(1, round(config.val_fraction * len(groups))))
        ranked = sorted(groups, key=lambda g: _stable_hash(g, config.validation_seed))
        val_groups = set(ranked[:n_val])
        is_val = [_group_of(e) in val_groups for e in entries]
        in_train = [True] * len(entries)
    is_val = [v or _group_of(e) in held_groups for v, e in zip(is_val, entries, strict=True)]
    train: list[Track] = []
    val: list[Track] = []
    train_fake: list[Track] = []
    val_fake: list[Track] = []
    left_out: list[tuple[str, int, str]] = []
    by_path = {e.path: e for e in usable}
    for i, entry in enumerate(entries):
        fake = entry.label != REAL
        tracks, found = labelled_tracks(cache, i, entry, by_path)
        left_out += [(entry.path, x.track_id, x.reason) for x in found]
        for t in tracks:
            if is_val[i]:
                (val_fake if fake else val).append(t)
            elif in_train[i]:
                (train_fake if fake else train).append(t)
    if not train or not val:
        raise ConfigError(
            f"{cache.root}: the split left {len(train)} training and {len(val)} validation "
            "real tracks; both need at least one"
        )
    # Reals of a held-out family's identities (a swap's own original) are always kept: they
    # are the matched pairs. The others are subsampled to ``val_max_tracks``.
    paired = [t for t in val if _group_of(entries[t.entry]) in held_groups]
    others = [t for t in val if _group_of(entries[t.entry]) not in held_groups]
    if config.val_max_tracks and len(others) > config.val_max_tracks:
        # Equal weight per kind (video / still): thousands of photos must not crowd the real
        # videos out of validation, or held-out video fakes would be compared with stills.
        rng = np.random.default_rng([config.validation_seed, 7])
        p = _balanced_weights([entries[t.entry].item.kind for t in others])
        keep = sorted(rng.choice(len(others), config.val_max_tracks, replace=False, p=p).tolist())
        others = [others[k] for k in keep]
    val = others + paired
    counts |= {
        "real_entries": sum(e.label == REAL for e in entries),
        "fake_entries": sum(e.label != REAL for e in entries),
        "train_entries": len({t.entry for t in train + train_fake}),
        "val_entries": len({t.entry for t in val + val_fake}),
        "train_tracks": len(train),
        "val_tracks": len(val),
        "train_fake_tracks": len(train_fake),
        "val_fake_tracks": len(val_fake),
        "fake_tracks_left_out": len(left_out),
        "train_crops": sum(len(t.frames) for t in train + train_fake),
        "val_crops": sum(len(t.frames) for t in val + val_fake),
    }
    for path, track_id, reason in left_out:
        log.info("not taken as fake (%s): face %d of %s", reason, track_id, path)
    return SplitTracks(entries, train, val, counts, train_fake, val_fake, left_out)


def choose_frames(n: int, t: int, sampling: str, rng: np.random.Generator | None) -> list[int]:
    """Positions (into a track of ``n`` crops) of a clip of ``min(n, t)`` crops, in time order.
    ``spread``: evenly spaced (random phase when ``rng`` is given); ``window``: consecutive."""
    if n <= t:
        return list(range(n))
    if sampling == "window":
        start = 0 if rng is None else int(rng.integers(0, n - t + 1))
        return list(range(start, start + t))
    step = n / t
    phase = 0.5 if rng is None else float(rng.random())
    return [min(n - 1, math.floor((k + phase) * step)) for k in range(t)]


def resize_crop(crop: np.ndarray, size: int) -> np.ndarray:
    """A cached crop at the network input size (area down, linear up)."""
    if crop.shape[0] == size:
        return crop
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def augment_clip(
    crops: list[np.ndarray], rng: np.random.Generator, cfg: AugmentConfig
) -> list[np.ndarray]:
    """One draw of flip / colour jitter / rescale / blur / grey / JPEG or H.264 per clip,
    applied to every frame alike (H.264 to the clip as one video)."""
    flip = rng.random() < cfg.hflip
    jitter = rng.random() < cfg.jitter_p
    b = rng.uniform(-cfg.brightness, cfg.brightness) * 255.0
    c = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    s = 1.0 + rng.uniform(-cfg.saturation, cfg.saturation)
    jpeg = rng.random() < cfg.jpeg_p
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    # Draws for the augmentations added later come after the original ones, so configs that
    # leave them at 0 draw exactly the clips they drew before.
    rescale = cfg.rescale_p > 0 and rng.random() < cfg.rescale_p
    factor = float(rng.uniform(cfg.rescale_min, 1.0))
    blur = cfg.blur_p > 0 and rng.random() < cfg.blur_p
    sigma = float(rng.uniform(*cfg.blur_sigma))
    to_grey = cfg.grayscale_p > 0 and rng.random() < cfg.grayscale_p
    video = cfg.video_p > 0 and rng.random() < cfg.video_p
    crf = int(rng.integers(cfg.video_crf[0], cfg.video_crf[1] + 1))
    mean = float(np.mean([np.mean(x) for x in crops])) if jitter else 0.0
    out = []
    for crop in crops:
        x = crop[:, ::-1] if flip else crop
        if jitter:
            f = x.astype(np.float32)
            grey = f @ np.array([0.299, 0.587, 0.114], np.float32)
            f = grey[..., None] + (f - grey[..., None]) * s
            f = (f - mean) * c + mean + b
            x = np.clip(np.rint(f), 0, 255).astype(np.uint8)
        if rescale:
            x = _rescale(x, factor)
        if blur:
            x = cv2.GaussianBlur(np.ascontiguousarray(x), (0, 0), sigma)
        if to_grey:
            g = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2GRAY)
            x = np.repeat(g[..., None], 3, axis=2)
        if jpeg and not video:
            ok, buf = cv2.imencode(
                ".jpg",
                cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, quality],
            )
            if ok:
                x = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        out.append(np.ascontiguousarray(x))
    if video:
        out = roundtrip_frames(out, crf)
    return out


def crop_sharpness(crop: np.ndarray) -> float:
    """Log variance of the Laplacian of the grey crop: how much fine detail its source kept
    (the statistic of the shortcut probe's crop-sharpness classifier)."""
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    return float(np.log(cv2.Laplacian(grey, cv2.CV_64F).var() + 1e-6))


SHARPNESS_SIGMAS = tuple(round(0.2 + 0.05 * k, 2) for k in range(37))
"""Gaussian blur sigmas (px) tried when a clip is blurred to a target sharpness: fine steps,
where a down-and-up rescale of even 0.95 already loses most fine detail."""


def matched_sharpness(value: float, fakes: np.ndarray, reals: np.ndarray) -> float:
    """Quantile matching: the real sharpness at the rank ``value`` has among the fakes', so
    that fakes blurred to it are distributed like the reals (as far as blurring can go)."""
    rank = float(np.searchsorted(np.sort(fakes), value)) / max(len(fakes), 1)
    return float(np.quantile(reals, min(rank, 1.0)))


def blur_to_sharpness(crops: list[np.ndarray], target: float) -> list[np.ndarray]:
    """The clip blurred by the sigma in :data:`SHARPNESS_SIGMAS` that brings its middle crop's
    :func:`crop_sharpness` closest to ``target``; unchanged when it is already no sharper than
    that (blurring cannot sharpen)."""
    if not crops:
        return crops
    probe = np.ascontiguousarray(crops[len(crops) // 2])
    if crop_sharpness(probe) <= target:
        return crops
    gaps = [
        abs(crop_sharpness(cv2.GaussianBlur(probe, (0, 0), sigma)) - target)
        for sigma in SHARPNESS_SIGMAS
    ]
    sigma = SHARPNESS_SIGMAS[int(np.argmin(gaps))]
    return [cv2.GaussianBlur(np.ascontiguousarray(x), (0, 0), sigma) for x in crops]


def _rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """Down by ``factor`` (area) and back up (linear): a low-resolution source at this size."""
    h, w = image.shape[:2]
    small = (max(8, round(w * factor)), max(8, round(h * factor)))
    down = cv2.resize(np.ascontiguousarray(image), small, interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (w, h), interpolation=cv2.INTER_LINEAR)


class ClipDataset(Dataset):
    """Clips of tracks → ``(frames (T, 3, S, S) float32, length, label, family)``; frames are
    ``(2, T, 3, S, S)`` in training with ``consistency_weight`` (two views of one clip).

    ``family`` is ``-1`` for reals, else the index into ``self.family_names``: first the
    synthesised families, then the generator families of labelled fakes (``fake_tracks``).

    Training mode (``fixed=None``): ``len`` is the number of tracks, any integer ``index`` is
    valid, and the sample depends on ``(seed, epoch, index)``; call :meth:`set_epoch` first. A
    real clip comes from ``index % len`` of the real tracks (or, with ``balance_reals``, a draw
    with equal weight per source); a fake clip is, with chance ``real_fakes``, a labelled fake of
    one generator family drawn with equal weight per family, else a synthesised one.

    Fixed mode (validation): ``fixed`` lists ``(track, family or -1)`` pairs, where ``track``
    indexes real tracks then fake tracks; no augmentation, evenly spaced frames, seeded by
    ``(validation_seed, index)``; ``family_names`` (default: the training families) may name
    families the model is not trained on.
    """

    def __init__(
        self,
        cache: CropCache,
        entries: list[CacheEntry],
        tracks: list[Track],
        config: TrainConfig,
        model_config: ModelConfig,
        fixed: list[tuple[int, int]] | None = None,
        family_names: Sequence[str] | None = None,
        fake_tracks: Sequence[Track] = (),
    ) -> None:
        self.root = cache.root
        self.entries = entries
        self.files = [e.file for e in entries]
        self.tracks = list(tracks)
        self.fake_tracks = list(fake_tracks)
        self.config = config
        self.model_config = model_config
        self.synth_names = (
            config.training_families() if family_names is None else list(family_names)
        )
        self.real_family_names = sorted({family_of(entries[t.entry]) for t in self.fake_tracks})
        self.family_names = self.synth_names + self.real_family_names
        self.families = build_families(self.synth_names, config.autoencoder)
        weights = {n: config.fakes.get(n, 0.0) for n in self.synth_names}
        self.mixer = FakeMixer(weights, self.families) if fixed is None else None
        """Draws the synthesised family of a training clip (``None`` in fixed mode)."""
        self.by_family = [
            [k for k, t in enumerate(self.fake_tracks) if family_of(entries[t.entry]) == name]
            for name in self.real_family_names
        ]
        self.real_p = _balanced_weights([entries[t.entry].item.source for t in self.tracks])
        self.fixed = fixed
        self.two_views = fixed is None and config.consistency_weight > 0
        """Training with ``consistency_weight``: every sample is ``(2, T, 3, S, S)``, one clip
        augmented twice, independently."""
        self.epoch = 0
        matching = fixed is None and config.augment.match_sharpness_p > 0 and self.fake_tracks
        self.real_sharpness = self._sharpness(self.tracks) if matching else np.zeros(0)
        self.fake_sharpness = self._sharpness(self.fake_tracks) if matching else np.zeros(0)
        """Crop sharpness of (a sample of) the real and labelled fake training tracks, one
        middle crop each: the distributions ``augment.match_sharpness_p`` matches."""

    def _sharpness(self, tracks: Sequence[Track], limit: int = 256) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, 2**31 + 2])
        picks = rng.choice(len(tracks), size=min(limit, len(tracks)), replace=False)
        values = []
        for i in sorted(picks.tolist()):
            crops, _ = self._load(tracks[i], [len(tracks[i].frames) // 2])
            values.append(crop_sharpness(crops[0]))
        return np.asarray(values)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draws ``__getitem__`` returns (workers copy this value)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.fixed is not None:
            return len(self.fixed)
        return len(self.tracks) + len(self.fake_tracks)

    def track(self, k: int) -> Track:
        """Track ``k`` of the real tracks followed by the fake tracks."""
        n = len(self.tracks)
        return self.tracks[k] if k < n else self.fake_tracks[k - n]

    def _load(self, track: Track, positions: list[int]) -> tuple[list, list]:
        with np.load(self.root / self.files[track.entry]) as z:
            crops_all, lms_all = z["crops"], z["landmarks"]
        idx = [track.frames[p] for p in positions]
        size = self.model_config.input_size
        crops, landmarks = [], []
        for k in idx:
            crop = crops_all[k]
            scale = size / crop.shape[0]
            crops.append(resize_crop(crop, size))
            lm = lms_all[k].astype(np.float64)
            landmarks.append(None if not np.all(np.isfinite(lm)) else lm * scale)
        return crops, landmarks

    def _draw(self, index: int, rng: np.random.Generator) -> tuple[Track, int, int]:
        """``(track, family, clip length)`` of training sample ``index``."""
        cfg = self.config
        if cfg.balance_reals:
            track = self.tracks[int(rng.choice(len(self.tracks), p=self.real_p))]
        else:
            track = self.tracks[index % len(self.tracks)]
        t = cfg.clip_frames
        if cfg.single_frame_p > 0 and rng.random() < cfg.single_frame_p:
            t = 1
        family = -1
        if rng.random() < cfg.fake_probability:
            labelled = bool(self.by_family) and cfg.real_fakes > 0
            if labelled and rng.random() < cfg.real_fakes:
                k = int(rng.integers(len(self.by_family)))
                track = self.fake_tracks[int(rng.choice(self.by_family[k]))]
                family = len(self.synth_names) + k
            else:
                assert self.mixer is not None  # training mode
                family = self.synth_names.index(self.mixer.names[self.mixer.choose(rng)])
        return track, family, t

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int, int]:
        cfg = self.config
        if self.fixed is not None:
            track_i, family = self.fixed[index]
            track = self.track(track_i)
            rng = np.random.default_rng([cfg.validation_seed, 2**31 + 1, index])
            positions = choose_frames(len(track.frames), cfg.clip_frames, "spread", None)
        else:
            rng = np.random.default_rng([cfg.seed, self.epoch, index])
            track, family, t = self._draw(index, rng)
            positions = choose_frames(len(track.frames), t, cfg.clip_sampling, rng)
        crops, landmarks = self._load(track, positions)
        if 0 <= family < len(self.synth_names):
            crops = self.families[self.synth_names[family]](crops, landmarks, rng)
        if self.fixed is None:
            if (
                family >= len(self.synth_names)
                and len(self.real_sharpness)
                and rng.random() < cfg.augment.match_sharpness_p
            ):
                own = crop_sharpness(crops[len(crops) // 2])
                target = matched_sharpness(own, self.fake_sharpness, self.real_sharpness)
                crops = blur_to_sharpness(crops, target)
            views = [augment_clip(crops, rng, cfg.augment)]
            if self.two_views:  # Its own stream, so the first view is the one-view draw.
                second = np.random.default_rng([cfg.seed, self.epoch, index, 1])
                views.append(augment_clip(crops, second, cfg.augment))
        else:
            views = [crops]
        stacked = np.stack([self._frames(v) for v in views])
        frames = stacked if self.two_views else stacked[0]
        return torch.from_numpy(frames), len(views[0]), int(family >= 0), family

    def _frames(self, crops: list[np.ndarray]) -> np.ndarray:
        """Preprocessed crops, zero-padded to ``clip_frames``."""
        x = preprocess(crops, self.model_config)
        frames = np.zeros((self.config.clip_frames, *x.shape[1:]), np.float32)
        frames[: len(x)] = x
        return frames


def _balanced_weights(sources: Sequence[str]) -> np.ndarray:
    """Sampling weights giving every source the same total weight."""
    if not sources:
        return np.zeros(0)
    _, inverse, counts = np.unique(np.asarray(sources), return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return w / w.sum()


def validation_plan(
    n_tracks: int, n_families: int, fake_families: Sequence[int] = ()
) -> list[tuple[int, int]]:
    """Every real validation track once as a real and once per synthesised family, then every
    labelled fake track once with its own family (``fake_families[k]`` for fake track ``k``)."""
    plan = [(i, f) for i in range(n_tracks) for f in range(-1, n_families)]
    return plan + [(n_tracks + k, f) for k, f in enumerate(fake_families)]


def make_datasets(
    config: TrainConfig, model_config: ModelConfig
) -> tuple[ClipDataset, ClipDataset, dict[str, int]]:
    """``(train, val, counts)`` for a config; the model config fixes size and normalisation."""
    cache = CropCache(config.cache)
    split = split_cache(cache, config)
    train = ClipDataset(
        cache, split.entries, split.train, config, model_config, fake_tracks=split.train_fake
    )
    val_names = config.validation_families()
    val = ClipDataset(
        cache,
        split.entries,
        split.val,
        config,
        model_config,
        fixed=[],
        family_names=val_names,
        fake_tracks=split.val_fake,
    )
    offset = len(val.synth_names)
    own = [
        offset + val.real_family_names.index(family_of(split.entries[t.entry]))
        for t in split.val_fake
    ]
    val.fixed = validation_plan(len(split.val), len(val_names), own)
    return train, val, split.counts


def model_config_for(config: TrainConfig, cache_dir: str | None = None) -> ModelConfig:
    """The ``ModelConfig`` a run trains: the cache's crop geometry at the training input size,
    its ``detail_scale``, ImageNet mean/std in RGB (what every registered backbone expects)."""
    from deepfake_detector.models.checkpoints import HeadConfig

    spec = CropCache(cache_dir or config.cache).spec
    return ModelConfig(
        name=config.name,
        backbone=config.backbone,
        head=HeadConfig(config.hidden, config.bidirectional, config.dropout),
        input_size=config.input_size,
        crop=replace(spec, size=config.input_size),
        max_frames=max(32, config.clip_frames),
        detail_scale=config.detail_scale,
    )

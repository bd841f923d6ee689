"""Would a second texture model help? Each fold's model, another model, and the two summed.

For every leave-one-generator-out fold run under RUNS (``scripts/logo.sh``), scores that run's
validation clips (held-out real identities, the held-out family, the synthesised fakes) with the
fold's own model and with MODEL, which must take the same crops (input size, normalisation).
Prints per fold and family the video AUC of each and of their sum (each logit divided by its
standard deviation over the fold's clips, so neither dominates by scale), and for face swaps
with their originals the AUC against those originals alone. MODEL is usually a model trained
without any real-world fakes (e.g. ``selfblend-efficientnet-lite0-cpu``), so it is held out on
every fold; a model that saw a fold's family would flatter that fold.

    python scripts/logo_second_model.py runs/logo selfblend-efficientnet-lite0-cpu
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import load_checkpoint
from deepfake_detector.models.registry import ResolvedModel, resolve_model
from deepfake_detector.training.logo import FoldScores, fold_dirs, score_fold
from deepfake_detector.training.metrics import binary_metrics

COLUMNS = ("fold model", "second model", "sum")


def score_clips(run: Path, second: ResolvedModel) -> tuple[FoldScores, np.ndarray]:
    """Every validation clip of a fold run (every family's, not only the held-out one's) and
    its scores, one row per column of ``COLUMNS``: the raw clip logits of the fold's model, of
    ``second``, and their sum."""
    mine = load_checkpoint(run / "model").config
    for key in ("input_size", "mean", "std", "channel_order"):
        if getattr(mine, key) != getattr(second.config, key):
            raise ModelError(
                f"{second.origin} takes other crops "
                f"({key} {getattr(second.config, key)}, not {getattr(mine, key)})"
            )
    fold = score_fold(run, also=[second.load_network().float()], every_family=True, landmarks=False)
    a, b = fold.logits, fold.also_logits[0]
    return fold, np.stack([a, b, a / (a.std() or 1.0) + b / (b.std() or 1.0)])


def _auc(labels: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> list[float]:
    return [binary_metrics(labels[keep].tolist(), s[keep].tolist())["auc"] for s in scores]


def fold_rows(fold: FoldScores, scores: np.ndarray) -> list[str]:
    """Markdown rows: per family, its clips against the real videos of the fold (held-out
    families) or against every real clip (synthesised families, which are made from stills too);
    and a held-out swap family against its own originals."""
    name, holdout, labels, families = fold.name, fold.holdout, fold.labels, fold.families
    real = labels == 0
    video = np.array([k == "video" for k in fold.kinds])
    rows = []
    for family in sorted({f for f in families if f}):
        fake = np.array([f == family for f in families])
        held = family in holdout
        others = real & video if held else real
        aucs = _auc(labels, scores, others | fake)
        what = "held out, against real videos" if held else "seen or synthesised, all reals"
        rows.append(f"| {name} | {family} | {what} | {int(fake.sum())} | " + _cells(aucs))
        groups = {g for g, f in zip(fold.groups, fake, strict=True) if f}
        originals = real & np.array([g in groups for g in fold.groups])
        if held and originals.any():
            aucs = _auc(labels, scores, originals | fake)
            rows.append(
                f"| {name} | {family} | against its originals | {int(fake.sum())} | " + _cells(aucs)
            )
    return rows


def _cells(aucs: list[float]) -> str:
    return " | ".join(f"{a:.3f}" for a in aucs) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder holding one run folder per fold")
    parser.add_argument("model", help="the second model: a name or a model folder")
    args = parser.parse_args(argv)
    folds = fold_dirs(args.runs)
    if not folds:
        print(f"error: no finished fold runs under {args.runs}", file=sys.stderr)
        return 2
    try:
        second = resolve_model(args.model)
        tables = []
        for run in folds:
            tables += fold_rows(*score_clips(run, second))
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("| fold | family | clips | n | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|---|" + "---|" * len(COLUMNS))
    print("\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())

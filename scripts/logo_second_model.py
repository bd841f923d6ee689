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
import torch

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import load_checkpoint
from deepfake_detector.models.registry import ResolvedModel, resolve_model
from deepfake_detector.training.config import TrainConfig
from deepfake_detector.training.data import make_datasets
from deepfake_detector.training.logo import fold_dirs
from deepfake_detector.training.metrics import binary_metrics

COLUMNS = ("fold model", "second model", "sum")


@torch.no_grad()
def score_clips(run: Path, second: ResolvedModel) -> dict[str, np.ndarray | list[str]]:
    """Every validation clip of a fold run: label, family ('' for reals), kind, identity group,
    and the raw clip logits of the fold's model and of ``second``."""
    loaded = load_checkpoint(run / "model")
    for key in ("input_size", "mean", "std", "channel_order"):
        mine, theirs = getattr(loaded.config, key), getattr(second.config, key)
        if mine != theirs:
            raise ModelError(f"{second.origin} takes other crops ({key} {theirs}, not {mine})")
    config = TrainConfig.from_dict(loaded.config.training["config"], source=str(run))
    _, val, _ = make_datasets(config, loaded.config)
    networks = [loaded.network.float().eval(), second.load_network().float()]
    rows: dict[str, list] = {k: [] for k in ("label", "family", "kind", "group", "a", "b")}
    for index, (track_i, family) in enumerate(val.fixed or []):
        frames, length, label, _ = val[index]
        logits = [
            float(net(frames[None], torch.tensor([length]))[0].float()[0]) for net in networks
        ]
        entry = val.entries[val.track(track_i).entry]
        rows["label"].append(int(label))
        rows["family"].append(val.family_names[family] if family >= 0 else "")
        rows["kind"].append(entry.item.kind)
        rows["group"].append(entry.group or entry.path)
        rows["a"].append(logits[0])
        rows["b"].append(logits[1])
    out: dict[str, np.ndarray | list[str]] = {k: rows[k] for k in ("family", "kind", "group")}
    out["label"] = np.asarray(rows["label"], np.int64)
    a, b = (np.asarray(rows[k], np.float64) for k in ("a", "b"))
    out["scores"] = np.stack([a, b, a / (a.std() or 1.0) + b / (b.std() or 1.0)])
    return out


def _auc(labels: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> list[float]:
    return [binary_metrics(labels[keep].tolist(), s[keep].tolist())["auc"] for s in scores]


def fold_rows(name: str, holdout: list[str], clips: dict) -> list[str]:
    """Markdown rows: per family, its clips against the real videos of the fold (held-out
    families) or against every real clip (synthesised families, which are made from stills too);
    and a held-out swap family against its own originals."""
    labels, scores, families = clips["label"], clips["scores"], clips["family"]
    real = labels == 0
    video = np.array([k == "video" for k in clips["kind"]])
    rows = []
    for family in sorted({f for f in families if f}):
        fake = np.array([f == family for f in families])
        held = family in holdout
        others = real & video if held else real
        aucs = _auc(labels, scores, others | fake)
        what = "held out, against real videos" if held else "seen or synthesised, all reals"
        rows.append(f"| {name} | {family} | {what} | {int(fake.sum())} | " + _cells(aucs))
        groups = {g for g, f in zip(clips["group"], fake, strict=True) if f}
        originals = real & np.array([g in groups for g in clips["group"]])
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
            config = load_checkpoint(run / "model").config.training["config"]
            holdout = list(config.get("holdout_families") or [])
            tables += fold_rows(run.name, holdout, score_clips(run, second))
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("| fold | family | clips | n | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|---|" + "---|" * len(COLUMNS))
    print("\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())

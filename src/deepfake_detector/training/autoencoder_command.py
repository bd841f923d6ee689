"""``deepfake-detector train-autoencoder CONFIG.yaml``: the trace autoencoder of a training run.

The ``autoencoder`` fake family (AutoGAN, Zhang et al. 2019) reconstructs real crops through a
small autoencoder whose decoder up-samples like a generator. That autoencoder is trained here on
the run's own *training* crops (the validation identities stay unseen), at the run's input size,
and written to the config's ``autoencoder`` path, where ``train`` picks it up.

Exit status: 0 written; 2 bad input (config, cache, existing file without ``--force``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_detector.errors import DetectorError

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_autoencoder_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train-autoencoder`` on the CLI's subparsers (``cli.build_parser`` calls this)."""
    p = subparsers.add_parser(
        "train-autoencoder",
        help="train the trace autoencoder that the 'autoencoder' fake family needs",
        description="Train a small generator-style autoencoder on the training crops of a run "
        "(the config's cache, minus its validation identities) and write it to the config's "
        "`autoencoder` path. Exit status: 0 done, 2 bad input.",
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="training config (YAML)")
    p.add_argument("--steps", type=_positive_int, default=3000, help="optimiser steps (3000)")
    p.add_argument("--patch", type=_positive_int, default=64, help="patch side, multiple of 8")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="patches per step (16)")
    p.add_argument("--max-crops", type=_positive_int, default=2000, help="crops sampled (2000)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument(
        "--holdout",
        action="append",
        metavar="FAMILY",
        help="as `train --holdout`: the identities that a run holding this family out validates "
        "on stay unseen here too (repeatable)",
    )
    p.set_defaults(handler=run_train_autoencoder)
    return p


def training_crops(config: Any, max_crops: int) -> list[np.ndarray]:
    """Up to ``max_crops`` real crops of the run's training tracks, at its input size, chosen
    evenly by a seeded draw (validation identities excluded, as in ``train``)."""
    from deepfake_detector.training.crop_cache import CropCache
    from deepfake_detector.training.data import resize_crop, split_cache

    cache = CropCache(config.cache)
    split = split_cache(cache, config)
    pairs = [(t.entry, k) for t in split.train for k in t.frames]
    rng = np.random.default_rng([config.seed, 11])
    if len(pairs) > max_crops:
        keep = rng.choice(len(pairs), max_crops, replace=False)
        pairs = [pairs[i] for i in sorted(keep.tolist())]
    crops: list[np.ndarray] = []
    by_entry: dict[int, list[int]] = {}
    for entry, k in pairs:
        by_entry.setdefault(entry, []).append(k)
    for entry, ks in by_entry.items():
        with np.load(cache.root / split.entries[entry].file) as z:
            stored = z["crops"]
            crops += [resize_crop(stored[k], config.input_size) for k in ks]
    return crops


def run_train_autoencoder(args: argparse.Namespace) -> int:
    """Load the config, train, write atomically; user errors become one line and exit 2."""
    import torch

    from deepfake_detector.training.config import ConfigError, load_train_config
    from deepfake_detector.training.generator_traces import save_autoencoder, train_autoencoder

    try:
        config = load_train_config(args.config, holdout_families=args.holdout)
        if not config.autoencoder:
            raise ConfigError(f"{args.config}: set `autoencoder: PATH` (where to write it)")
        if args.patch % 8:
            raise ConfigError("--patch must be a multiple of 8")
        target = Path(config.autoencoder)
        if target.exists() and not args.force:
            raise ConfigError(f"{target} exists; pass --force to replace it")
        if config.threads:
            torch.set_num_threads(config.threads)
        started = time.monotonic()
        crops = training_crops(config, args.max_crops)
        history: list[float] = []
        model = train_autoencoder(
            crops,
            steps=args.steps,
            size=min(args.patch, config.input_size - config.input_size % 8),
            seed=config.seed,
            batch_size=args.batch_size,
            history=history,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".autoencoder-", suffix=".tmp")
        os.close(fd)
        try:
            save_autoencoder(model, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    first = float(np.mean(history[:50]))
    last = float(np.mean(history[-50:]))
    print(
        f"trained on {len(crops)} crops, {args.steps} steps in {time.monotonic() - started:.0f}s;"
        f" L1 {first:.4f} -> {last:.4f}; wrote {target}"
    )
    return EXIT_OK

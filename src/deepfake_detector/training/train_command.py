"""``deepfake-detector train CONFIG.yaml``: train a sequence model from a crop cache of real faces.

Exit status: 0 trained (or resumed to the end); 2 bad input (config, cache, device, resume state).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from deepfake_detector.errors import DetectorError

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _int_from(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}")
    return value


def _positive_int(text: str) -> int:
    return _int_from(text, 1)


def _seed(text: str) -> int:
    return _int_from(text, 0)


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on the CLI's subparsers (``cli.build_parser`` calls this)."""
    p = subparsers.add_parser(
        "train",
        help="train a deepfake classifier from a crop cache (reals, labelled and synthetic fakes)",
        description="Train the sequence model described by a YAML config (see configs/). "
        "Writes OUT/log.jsonl, OUT/last.pt (resume state) and OUT/model/ (best model + "
        "MODEL_CARD.md). Exit status: 0 done, 2 bad input.",
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="training config (YAML)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--epochs", type=_positive_int, help="override epochs")
    p.add_argument("--steps", type=_positive_int, help="override steps_per_epoch")
    p.add_argument(
        "--seed", type=_seed, help="override seed (repeat a recipe with other draws and init)"
    )
    p.add_argument(
        "--split-seed",
        type=_seed,
        help="override split_seed: seed the split and validation set apart from --seed, so a "
        "rerun with another --seed is judged on the same held-out faces",
    )
    p.add_argument("--device", help="override device: auto, cpu, cuda or cuda:N")
    p.add_argument("--out", metavar="DIR", help="override the run folder")
    p.add_argument(
        "--holdout",
        action="append",
        metavar="FAMILY",
        help="leave this generator family out of training (repeatable; overrides "
        "holdout_families): its fakes and their identities are only validated on",
    )
    p.add_argument(
        "--init-from",
        metavar="MODEL",
        help="override init_from: start from this trained model's weights (same network) "
        "instead of ImageNet's",
    )
    p.add_argument(
        "--validate",
        metavar="MODEL",
        help="do not train: score this model folder on the config's validation set (JSON)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(handler=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    """Load the config, train, report; user errors become one line and exit status 2."""
    from deepfake_detector.training.config import load_train_config
    from deepfake_detector.training.trainer import train, validate_model

    command = "deepfake-detector " + shlex.join(sys.argv[1:]) if sys.argv[1:] else None
    try:
        config = load_train_config(
            args.config,
            epochs=args.epochs,
            steps_per_epoch=args.steps,
            seed=args.seed,
            split_seed=args.split_seed,
            device=args.device,
            out=args.out,
            holdout_families=args.holdout,
            init_from=args.init_from,
        )
        if args.validate:
            print(json.dumps(validate_model(args.validate, config), indent=1))
            return EXIT_OK
        result = train(config, resume=args.resume, quiet=args.quiet, command=command)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; continue with --resume", file=sys.stderr)
        return 130
    best = "n/a" if result.best_auc is None else f"{result.best_auc:.4f}"
    print(f"best val AUC {best} (epoch {result.best_epoch}); model: {result.model_dir}")
    return EXIT_OK

"""Metadata-only shortcut probe on the splits a training config makes (one row per LOGO fold).

python scripts/shortcut_probe.py configs/realworld-efficientnet-lite0.yaml --root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys

from deepfake_detector.errors import DetectorError
from deepfake_detector.training.config import load_train_config
from deepfake_detector.training.shortcut_probe import probe_markdown, shortcut_probe

FOLDS = ["", "deepfacelive", "anitalker", "cyberhost", "edtalk", "float", "linly musev synctalk"]
"""The folds of scripts/logo.sh, plus the config's own split (nothing held out)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="training config (its cache, seed and val_fraction)")
    parser.add_argument("--root", required=True, help="the dataset root the cache was built from")
    parser.add_argument("--fold", action="append", help="families of one fold, space-separated")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    folds = [f.split() for f in (args.fold or FOLDS)]
    try:
        results = shortcut_probe(load_train_config(args.config), folds, args.root)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    print(probe_markdown(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

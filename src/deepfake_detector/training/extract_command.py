"""``deepfake-detector extract-crops DATA --cache DIR``: fill a face-crop cache for training."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from deepfake_detector.errors import DetectorError

EXIT_OK, EXIT_ERROR = 0, 2
_PROG = "deepfake-detector extract-crops"


def add_extract_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``extract-crops`` subcommand on an ``add_subparsers()`` object."""
    from deepfake_detector.training.datasets import available_layouts

    p = subparsers.add_parser(
        "extract-crops",
        help="extract face tracks once into a crop cache (resumable, parallel)",
        description="Detect, track and crop faces with the inference pipeline and store them in "
        "a cache folder that training reads. Re-running resumes. Exit status: 0 done (unreadable "
        "files are recorded, not fatal), 2 the data or the cache could not be used.",
    )
    p.add_argument("data", metavar="DATA", help="dataset folder, or a .jsonl index")
    p.add_argument("--cache", required=True, metavar="DIR", help="cache folder")
    p.add_argument("--layout", choices=["auto", *available_layouts()], default="auto")
    p.add_argument(
        "--root",
        metavar="DIR",
        help="folder that relative paths of a .jsonl index start from (default: its folder)",
    )
    p.add_argument("--size", type=int, default=224, help="crop side in pixels")
    p.add_argument("--margin", type=float, default=0.25, help="context around the face box")
    p.add_argument("--no-align", action="store_true", help="do not level the eyes")
    p.add_argument("--frames", type=int, default=16, help="frames sampled per video")
    p.add_argument("--workers", type=int, default=2, help="extraction processes")
    p.add_argument(
        "--split-unassigned",
        action="store_true",
        help="give items without an official split an identity-disjoint train/val/test split",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --split-unassigned")
    p.set_defaults(handler=run_extract)
    return p


def run_extract(args: argparse.Namespace) -> int:
    """Handler of ``extract-crops``: index, extract, print the one-line summary."""
    from deepfake_detector.config import settings_from_env
    from deepfake_detector.faces import CropSpec
    from deepfake_detector.training.crop_cache import extract_to_cache
    from deepfake_detector.training.datasets import DatasetError, build_index, split_by_group
    from deepfake_detector.training.index import read_index

    if args.size < 16 or args.frames < 1 or args.workers < 1 or args.margin < 0:
        print(
            f"{_PROG}: needs --size >= 16, --frames, --workers >= 1, --margin >= 0", file=sys.stderr
        )
        return EXIT_ERROR
    data = Path(args.data)
    try:
        if data.suffix == ".jsonl":
            items = list(read_index(data))
            root = Path(args.root) if args.root else data.parent
        else:
            items = build_index(data, args.layout)
            root = Path(args.root) if args.root else data
    except (DatasetError, OSError, ValueError, TypeError) as exc:
        print(f"{_PROG}: cannot index {data}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.split_unassigned:
        items = split_by_group(items, seed=args.seed)
    spec = CropSpec(size=args.size, margin=args.margin, align=not args.no_align)
    settings = dataclasses.replace(settings_from_env(), frames=args.frames)
    try:
        extract_to_cache(
            items,
            root,
            Path(args.cache),
            spec=spec,
            settings=settings,
            workers=args.workers,
            progress=True,  # a bar on a terminal, and the one-line summary on stderr
        )
    except (DetectorError, OSError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK

"""``deepfake-detector index ROOT``: turn a dataset folder into the one JSON Lines index format."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from deepfake_detector.training.index import FAKE, REAL, IndexItem, write_index

EXIT_OK, EXIT_ERROR = 0, 2


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key.replace("-", "_"), value


def add_index_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``index`` subcommand on a ``add_subparsers()`` object."""
    from deepfake_detector.training.datasets import available_layouts

    p = subparsers.add_parser(
        "index",
        help="index a dataset folder (FF++, Celeb-DF, DFDC, real/fake folders, CSV)",
        description="Write a JSON Lines index of a dataset; counts go to stderr. "
        "Exit status: 0 written, 2 the dataset could not be indexed.",
    )
    p.add_argument("root", metavar="ROOT", help="dataset folder (or a path,label CSV)")
    p.add_argument("--layout", choices=["auto", *available_layouts()], default="auto")
    p.add_argument("--out", metavar="FILE", help="write the index here (default: stdout)")
    p.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="layout option, e.g. compression=c40 (ffpp) or path_prefix=dev_eval/ (csv)",
    )
    p.add_argument(
        "--split-unassigned",
        action="store_true",
        help="give items without an official split an identity-disjoint train/val/test split",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --split-unassigned")
    p.set_defaults(handler=run_index)
    return p


def summary_table(items: Sequence[IndexItem]) -> str:
    """Real/fake counts per split, source and method: what to eyeball before training."""
    rows: list[tuple[str, str, int, int]] = []
    for field in ("split", "source", "method"):
        counts: Counter[tuple[str, int]] = Counter(
            (getattr(i, field) or "-", i.label) for i in items
        )
        for value in sorted({v for v, _ in counts}):
            rows.append((field, value, counts[(value, REAL)], counts[(value, FAKE)]))
    rows.append(
        ("all", "", sum(i.label == REAL for i in items), sum(i.label != REAL for i in items))
    )
    width = max([len(f"{f} {v}") for f, v, _, _ in rows] + [10])
    lines = [f"{'':<{width}}  {'real':>7}  {'fake':>7}  {'total':>7}"]
    for f, v, real, fake in rows:
        lines.append(f"{f'{f} {v}'.strip():<{width}}  {real:>7}  {fake:>7}  {real + fake:>7}")
    return "\n".join(lines)


def _write_jsonl(items: Sequence[IndexItem], stream: TextIO) -> None:
    for item in items:
        stream.write(json.dumps(asdict(item), ensure_ascii=False, sort_keys=True) + "\n")


def run_index(args: argparse.Namespace) -> int:
    """Handler of ``index``: build, optionally split, summarise to stderr, write."""
    from deepfake_detector.training.datasets import DatasetError, build_index, split_by_group

    try:
        items = build_index(args.root, args.layout, **dict(args.option))
    except DatasetError as exc:
        print(f"deepfake-detector index: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.split_unassigned:
        items = split_by_group(items, seed=args.seed)
    print(summary_table(items), file=sys.stderr)
    if args.out:
        write_index(items, args.out)
        print(f"wrote {len(items)} items to {args.out}", file=sys.stderr)
    else:
        _write_jsonl(items, sys.stdout)
    return EXIT_OK

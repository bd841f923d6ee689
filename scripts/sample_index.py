"""A reproducible subset of a JSON Lines index for a quick evaluation: one kind of item, outside
some folders, every fake and a seeded sample of the reals, paths made absolute, all in one split.

    deepfake-detector index ../shared/data --layout manifest --out /tmp/all.jsonl
    python scripts/sample_index.py /tmp/all.jsonl --root ../shared/data --exclude dev_eval/ \\
        --reals 80 --seed 0 --out /tmp/subset.jsonl
    deepfake-detector evaluate --data /tmp/subset.jsonl --split val --out DIR
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path, help="JSON Lines index (deepfake-detector index)")
    parser.add_argument("--root", type=Path, required=True, help="folder the paths are under")
    parser.add_argument("--exclude", action="append", default=[], help="path prefix to leave out")
    parser.add_argument("--kind", default="video", help="item kind to keep (video)")
    parser.add_argument("--reals", type=int, help="sample this many reals (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="val", help="split written on every item")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    rows = [json.loads(line) for line in args.index.read_text().splitlines() if line.strip()]
    kept = [
        r
        for r in rows
        if r["kind"] == args.kind and not any(r["path"].startswith(p) for p in args.exclude)
    ]
    fakes = [r for r in kept if r["label"] == 1]
    reals = [r for r in kept if r["label"] == 0]
    random.Random(args.seed).shuffle(reals)
    chosen = fakes + (reals if args.reals is None else reals[: args.reals])
    root = args.root.resolve()
    with open(args.out, "w") as out:
        for row in chosen:
            out.write(json.dumps({**row, "path": str(root / row["path"]), "split": args.split}))
            out.write("\n")
    print(f"{len(fakes)} fake, {len(chosen) - len(fakes)} real → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

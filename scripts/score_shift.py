"""How far one evaluation's scores moved from another's, video by video (the same items scored
twice, e.g. with a sampling setting changed): AUC and log loss of each, and the per-video change.

    DFD_SAMPLE_SNAP=0    deepfake-detector evaluate --data D --split S --out /tmp/exact -q
    DFD_SAMPLE_SNAP=0.45 deepfake-detector evaluate --data D --split S --out /tmp/snap -q
    python scripts/score_shift.py /tmp/exact/report.json /tmp/snap/report.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="report.json of the reference run")
    parser.add_argument("after", type=Path, help="report.json of the changed run")
    parser.add_argument("--kind", default="video", help="item kind to compare (video)")
    args = parser.parse_args(argv)
    reports = [json.loads(path.read_text()) for path in (args.before, args.after)]
    scores = [
        {i["path"]: i["score"] for i in r["items"] if i["kind"] == args.kind and i["scored"]}
        for r in reports
    ]
    labels = {i["path"]: i["label"] for i in reports[0]["items"]}
    common = sorted(scores[0].keys() & scores[1].keys())
    if not common:
        print("no item was scored in both reports", file=sys.stderr)
        return 2
    shifts = [abs(scores[1][p] - scores[0][p]) for p in common]
    metrics = [r["metrics"][args.kind] for r in reports]
    for name, m in zip(("before", "after"), metrics, strict=True):
        print(f"{name:<7} n={m['n']} AUC {m['auc']:.3f}  log loss {m['log_loss']:.3f}")
    print(f"AUC change {metrics[1]['auc'] - metrics[0]['auc']:+.3f}")
    print(
        f"per-{args.kind} |score change| over {len(common)}: mean {statistics.fmean(shifts):.3f}, "
        f"median {statistics.median(shifts):.3f}, max {max(shifts):.3f}; "
        f"verdict flips at 0.5: "
        f"{sum((scores[0][p] >= 0.5) != (scores[1][p] >= 0.5) for p in common)}"
    )
    # A shortcut that moves every real up (or every fake down) costs more than its mean |change|
    # says: the signed mean per class shows a systematic shift.
    for label, name in ((0, "reals"), (1, "fakes")):
        moved = [scores[1][p] - scores[0][p] for p in common if labels.get(p) == label]
        if moved:
            print(f"mean signed change, {name} ({len(moved)}): {statistics.fmean(moved):+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Summarise the fake-family ablation (scripts/family_ablation.sh) as a Markdown table.

Usage: python scripts/ablation_table.py runs/ablation [--json OUT.json]

One row per run (the families it trained on), one column per validation family: the AUC of
held-out real clips against that family's fakes at the run's last epoch, then the mean over the
families (which, with as many fakes of each family, is also the AUC of the reals against all
fakes pooled). Every run sees the same validation clips (same seed, tracks and families).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def last_epoch(log: Path) -> dict | None:
    """The last ``epoch`` record of a training log (with the run's fakes, backbone and total epoch
    time), or None while it has none."""
    record, fakes, backbone, seconds = None, {}, "?", 0.0
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") == "start":
            fakes = entry["config"]["fakes"]
            backbone = entry["config"]["backbone"]
        elif entry.get("event") == "epoch":
            record = entry
            seconds += entry.get("time_s", 0.0)
    if record is not None:
        record = record | {"fakes": fakes, "backbone": backbone, "seconds": seconds}
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder of ablation runs (one subfolder each)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    rows = {}
    for log in sorted(args.runs.glob("*/log.jsonl")):
        record = last_epoch(log)
        if record is not None:
            rows[log.parent.name] = record
    if not rows:
        print(f"no finished epochs under {args.runs}", file=sys.stderr)
        return 1
    families = list(next(iter(rows.values()))["val"]["per_family"])
    columns = ["run", "backbone", "trained on (weights)", "epochs", *families, "mean"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    table = {}
    for name, r in rows.items():
        aucs = [r["val"]["per_family"][f]["auc"] for f in families]
        mean = sum(aucs) / len(aucs)
        fakes = ", ".join(f"{k} {v:g}" for k, v in r["fakes"].items() if v > 0)
        cells = " | ".join(f"{a:.3f}" for a in aucs)
        print(f"| {name} | {r['backbone']} | {fakes} | {r['epoch']} | {cells} | {mean:.3f} |")
        table[name] = {
            "fakes": r["fakes"],
            "backbone": r["backbone"],
            "epochs": r["epoch"],
            "seconds": round(r["seconds"], 1),
            "auc_per_family": dict(zip(families, aucs, strict=True)),
            "auc_mean_over_families": mean,
            "auc_all_fakes": r["val"]["auc"],
            "n_real": r["val"]["per_family"][families[0]]["n_real"],
            "n_fake_per_family": r["val"]["per_family"][families[0]]["n_fake"],
        }
    first = next(iter(table.values()))
    print(
        f"\nValidation: {first['n_real']} real clips of held-out identities and "
        f"{first['n_fake_per_family']} fakes per family made from them."
    )
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

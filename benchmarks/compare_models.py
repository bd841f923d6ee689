"""Serving cost of two models on the same clip, back to back in one run: the time to verdict and
peak RSS of each through ``bench_pipeline.py`` (a subprocess per model), and their ratio.

    PYTHONPATH=src .venv/bin/python benchmarks/compare_models.py \\
        --baseline selfblend-efficientnet-lite0-cpu --candidate realworld-efficientnet-lite0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(model: str, case: str, repeat: int) -> dict:
    """One ``bench_pipeline.py`` run of ``model`` on ``case`` (our pipeline only)."""
    command = [
        sys.executable,
        str(HERE / "bench_pipeline.py"),
        "--cases",
        case,
        "--skip-baseline",
        "--repeat",
        str(repeat),
        "--ours-model",
        model,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _ours(report: dict, case: str) -> dict:
    """Our pipeline's figures for ``case`` in a ``bench_pipeline.py`` report."""
    row = next(c for c in report["cases"] if c["clip"]["name"] == case)
    return row["ours"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="model name or path to compare against")
    parser.add_argument("--candidate", required=True, help="model name or path measured")
    parser.add_argument("--case", default="60s-1080p-g60", help="bench_pipeline case")
    parser.add_argument("--repeat", type=int, default=3, help="runs per model (median)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    reports = {m: run(m, args.case, args.repeat) for m in (args.baseline, args.candidate)}
    base, cand = (_ours(reports[m], args.case) for m in (args.baseline, args.candidate))
    summary = {
        "case": args.case,
        "machine": reports[args.candidate].get("machine"),
        "baseline": {**base, "model_name": args.baseline},
        "candidate": {**cand, "model_name": args.candidate},
        "total_s_ratio_candidate_over_baseline": cand["total_s"] / base["total_s"],
        "no_slower": cand["total_s"] <= base["total_s"] * 1.05,
    }
    text = json.dumps(summary, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the job thread's time goes in one analysis: a cProfile of ``Analyzer.analyze`` on a clip,
the functions that take the most time of their own.

The job thread detects faces, crops and scores; decoding runs in a thread of its own, so time
that thread spends waiting for decoded frames shows as lock waits (``acquire``). Settings come
from the environment (``DFD_*``), as for the CLI. The analyzer is loaded and run once before the
profile, so loading and first-call costs are not in it.

    PYTHONPATH=src .venv/bin/python benchmarks/profile_analysis.py [CLIP] [--runs N] [--top N]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import clipgen  # noqa: E402  (lives beside this file)
from bench_pipeline import emit  # noqa: E402
from deepfake_detector.analysis.pipeline import Analyzer  # noqa: E402
from deepfake_detector.config import settings_from_env  # noqa: E402
from hostinfo import machine_summary  # noqa: E402

DEFAULT_CLIP = "60s-1080p-g60"


def profile(clip: Path, runs: int, top: int) -> dict[str, Any]:
    """``runs`` analyses of ``clip`` under cProfile, after one unprofiled."""
    analyzer = Analyzer(settings_from_env())
    analyzer.analyze(clip)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(runs):
        result = analyzer.analyze(clip)
    profiler.disable()
    wall = time.perf_counter() - started
    # pstats keeps (primitive calls, calls, own time, cumulative time, callers) per function.
    table = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "runs": runs,
        "wall_s_per_run": round(wall / runs, 3),
        "stages_s_last_run": result.timings,
        "top_own_time": [
            {
                "function": pstats.func_std_string(func),
                "calls": calls,
                "own_s_per_run": round(own / runs, 4),
                "cumulative_s_per_run": round(cumulative / runs, 4),
            }
            for func, (_, calls, own, cumulative, _) in rows
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", type=Path, help=f"default: {DEFAULT_CLIP}, generated")
    parser.add_argument("--runs", type=int, default=2, help="profiled analyses (default 2)")
    parser.add_argument("--top", type=int, default=20, help="functions listed (default 20)")
    parser.add_argument("--cache-dir", type=Path, default=HERE / ".cache")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    clip = args.clip or clipgen.ensure_clip(clipgen.CLIPS[DEFAULT_CLIP], args.cache_dir)
    report = {
        "benchmark": "profile_analysis",
        "machine": machine_summary(),
        "clip": str(clip),
        **profile(clip, args.runs, args.top),
    }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

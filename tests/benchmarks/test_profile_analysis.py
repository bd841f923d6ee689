"""``profile_analysis.py`` profiles the job thread of real analyses and lists its costliest
functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import clipgen  # noqa: E402  (lives in benchmarks/, put on the path above)
import profile_analysis  # noqa: E402


def test_the_profile_lists_the_job_thread_s_costliest_functions(tmp_path: Path) -> None:
    clip = clipgen.ensure_clip(clipgen.SMOKE, tmp_path / "cache")
    out = tmp_path / "profile.json"
    assert profile_analysis.main([str(clip), "--runs", "1", "--top", "5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    top = report["top_own_time"]
    assert len(top) == 5 and report["runs"] == 1
    own = [row["own_s_per_run"] for row in top]
    assert own == sorted(own, reverse=True) and own[0] > 0
    assert all(row["cumulative_s_per_run"] >= row["own_s_per_run"] for row in top)
    assert report["stages_s_last_run"]["detect"] > 0  # a real analysis ran: faces were sought

"""The scale-out benchmark runs end to end on its smallest setting and reports what it claims."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_scaleout  # noqa: E402  (lives in benchmarks/, put on the path above)


@pytest.mark.slow
def test_smoke_run_measures_real_worker_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scaleout.json"
    argv = ["--videos", "2", "--frames", "4", "--workers", "1", "--backends", "embedded"]
    assert bench_scaleout.main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())

    (result,) = report["results"]
    assert (result["backend"], result["workers"], result["videos"]) == ("embedded", 1, 2)
    assert result["videos_per_min"] > 0 and result["span_s"] > 0
    assert 0 < result["queue_latency_s"]["median"] <= result["e2e_latency_s"]["median"]
    assert result["worker_cpu_s_per_video"] > 0, "the workers' CPU time was measured"
    assert report["machine"]["cpu_model"]
    printed = capsys.readouterr().out
    assert "videos/min" in printed or "v/min" in printed, printed

"""The load script runs end to end against a real ``serve`` on its smallest setting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import load_test  # noqa: E402  (lives in benchmarks/, put on the path above)


@pytest.mark.slow
def test_smoke_run_counts_every_upload_and_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "load.json"
    argv = ["--modes", "embedded", "--uploads", "5", "--duplicates", "2", "--gets", "8"]
    argv += ["--readers", "2", "--frames", "4", "--clip-s", "1"]
    code = load_test.main([*argv, "--json", str(out)])
    (result,) = json.loads(out.read_text())["results"]

    assert code == 0, result
    assert (result["uploads"], result["distinct_contents"]) == (5, 3)
    assert result["accepted"] == 5 and result["refused"] == {}
    assert result["jobs"] == 3, "repeated content is answered with the same analysis"
    assert (result["lost"], result["duplicated"], result["server_errors_5xx"]) == (0, 0, 0)
    assert sum(result["job_ends"].values()) == 3 and set(result["job_ends"]) <= {"done"}
    assert result["gets"] == 8 and result["gets_by_status"] == {"200": 8}
    assert result["upload_latency_s"]["p50"] > 0 and result["drain_s"] > 0
    assert result["server_alive_after"] and result["tracebacks_in_log"] == 0
    assert "embedded" in capsys.readouterr().out

"""``worker --concurrency N``: the supervisor gives each of its N job processes an equal share
of the cores (or ``--cores``), and each process's thread pools take it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepfake_detector.hostinfo import affinity_cores

RUNNING = re.compile(r"job worker \S+ running \(queue .*, (\d+) cores\)")


def _worker_cores(tmp_path: Path, *flags: str) -> tuple[str, list[int]]:
    """Start ``worker`` with ``flags``; the supervisor's log line and each job process's cores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFD_")}
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "worker", *flags]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--data-dir", str(tmp_path / "data")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(RUNNING.findall(log.read_text())) < 2:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    text = log.read_text()
    supervisor = next(line for line in text.splitlines() if "supervising" in line)
    return supervisor, [int(n) for n in RUNNING.findall(text)]


@pytest.mark.slow
def test_each_job_process_gets_its_share_of_the_cores(tmp_path: Path) -> None:
    share = max(1, affinity_cores() // 2)
    supervisor, cores = _worker_cores(tmp_path, "--concurrency", "2")
    assert f"supervising 2 job workers, {share} cores each" in supervisor
    assert len(cores) >= 2 and set(cores) == {share}  # a restarted child logs again


@pytest.mark.slow
def test_cores_given_are_the_share(tmp_path: Path) -> None:
    supervisor, cores = _worker_cores(tmp_path, "--concurrency", "2", "--cores", "1")
    assert "2 job workers, 1 cores each" in supervisor
    assert len(cores) >= 2 and set(cores) == {1}


def test_a_negative_share_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deepfake_detector.service.cli_serve", "worker", "--cores", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DFD_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "worker: --cores must be 0 (all) or more"

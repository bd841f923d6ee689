"""The supervisor restarts a child that dies and says how it died (a SIGKILL is not "exited
with 0"); stopping it leaves no child behind."""

from __future__ import annotations

import logging
import signal
import sys
import time

import pytest

from deepfake_detector.service.supervisor import Supervisor, describe_exit

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def test_exits_are_described_as_they_happened() -> None:
    assert describe_exit(0) == "exited with 0"
    assert describe_exit(3) == "exited with 3"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "was killed by SIGTERM"


def test_a_killed_child_is_reported_as_killed_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="deepfake_detector.service.supervisor")
    supervisor = Supervisor(SLEEPER, count=2)
    supervisor.start()
    try:
        first = supervisor.processes[0]
        assert first is not None
        first.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while supervisor.processes[0] is first and time.monotonic() < deadline:
            time.sleep(0.1)
        replacement = supervisor.processes[0]
        assert replacement is not first and replacement is not None, "restarted"
        assert replacement.poll() is None
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert said == [f"worker 1 (pid {first.pid}) was killed by SIGKILL; restarting it"]
    finally:
        supervisor.stop(timeout=10)
    assert all(p is not None and p.poll() is not None for p in supervisor.processes)

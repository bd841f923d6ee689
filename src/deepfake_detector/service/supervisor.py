"""Keeps N child processes running (job workers beside gunicorn, or ``worker --concurrency N``):
restarts one that dies, stops them all on the way out, and makes the kernel stop them if the
supervisor itself is killed (so no worker outlives its parent and is counted twice)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    """libc's ``prctl``, looked up once in the parent: the child (between fork and exec, where
    other threads' locks may be held) only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the parent dies (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def describe_exit(returncode: int) -> str:
    """``exited with 3`` or ``was killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with {returncode}"


class Supervisor:
    """``count`` copies of ``command``, each restarted when it dies."""

    def __init__(self, command: Sequence[str], count: int = 1, name: str = "worker") -> None:
        self.command = list(command)
        self.name = name
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * max(1, count)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"{name}-supervisor", daemon=True)

    def _spawn(self, slot: int) -> None:
        process = subprocess.Popen(self.command, env=os.environ.copy(), preexec_fn=die_with_parent)
        self.processes[slot] = process
        log.info("%s %d started (pid %d)", self.name, slot + 1, process.pid)

    def start(self) -> None:
        for slot in range(len(self.processes)):
            self._spawn(slot)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for slot, process in enumerate(self.processes):
                if process is None or process.poll() is None:
                    continue
                log.warning(
                    "%s %d (pid %d) %s; restarting it",
                    self.name,
                    slot + 1,
                    process.pid,
                    describe_exit(process.returncode),
                )
                time.sleep(1.0)
                if not self._stopping.is_set():
                    self._spawn(slot)

    def wait(self) -> None:
        """Block until ``stop`` is called (from a signal handler, say)."""
        while not self._stopping.wait(0.5):
            pass

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT (finish the running job if it is quick), then SIGTERM, then SIGKILL."""
        self._stopping.set()
        alive = [p for p in self.processes if p is not None and p.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in alive:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()

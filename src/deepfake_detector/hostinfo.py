"""What this machine is, for choices that depend on it and for reports: the CPU's model name
and feature flags, and the cores this process may use."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model_and_flags() -> tuple[str | None, list[str]]:
    """The first CPU's model name and feature flags from ``/proc/cpuinfo`` (None and [] where
    it cannot be read, e.g. not on Linux)."""
    model: str | None = None
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model is None:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    return model, flags


def cpu_model() -> str:
    """The CPU's model name, or what ``platform`` knows, or ``unknown-cpu``."""
    return cpu_model_and_flags()[0] or platform.processor() or "unknown-cpu"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count); at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)

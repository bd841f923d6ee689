"""The CPU a benchmark ran on, for its report: figures are only comparable on the same host."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil


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


def machine_summary() -> dict[str, Any]:
    """When and on what a run was made: date, CPU model, AVX-512, cores, memory, load."""
    model, flags = cpu_model_and_flags()
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": model,
        "avx512f": "avx512f" in flags,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }

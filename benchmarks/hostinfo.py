"""The CPU a benchmark ran on, for its report: figures are only comparable on the same host."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import psutil

from deepfake_detector.hostinfo import cpu_model_and_flags, usable_cores


def machine_summary() -> dict[str, Any]:
    """When and on what a run was made: date, CPU model, AVX-512, cores, memory, load."""
    model, flags = cpu_model_and_flags()
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": model,
        "avx512f": "avx512f" in flags,
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable_cores(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }

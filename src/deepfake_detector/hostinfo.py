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


_core_share: int | None = None
"""Set by :func:`share_cores`: the cores this process's thread pools may use."""


def affinity_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count); at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def usable_cores() -> int:
    """Threads a pool of this process should start: its affinity's cores, or its share of them
    once :func:`share_cores` gave it one; at least 1."""
    cores = affinity_cores()
    return min(cores, _core_share) if _core_share else cores


def equal_share(processes: int) -> int:
    """Each of ``processes`` processes' share of this process's cores; at least 1."""
    return max(1, usable_cores() // max(1, processes))


def core_share() -> int | None:
    """The share :func:`share_cores` set, or None (every pool takes the affinity's cores)."""
    return _core_share


def share_cores(cores: int) -> int:
    """Let this process's thread pools use ``cores`` threads (at most its affinity's): OpenCV's
    and PyTorch's now, ONNX Runtime's and FFmpeg's decoders as they are made (they ask
    :func:`usable_cores`). For one of several job processes on a machine: N processes that each
    start a thread per core spend their time fighting over the cores (``worker --concurrency``).
    Returns the share."""
    global _core_share
    import cv2
    import torch

    _core_share = max(1, min(int(cores), affinity_cores()))
    cv2.setNumThreads(_core_share)
    torch.set_num_threads(_core_share)
    return _core_share

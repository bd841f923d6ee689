"""The CPU a benchmark ran on, for its report: figures are only comparable on the same host."""

from __future__ import annotations

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

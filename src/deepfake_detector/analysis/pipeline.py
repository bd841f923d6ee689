"""analyze(): video file → sampled frames → faces → tracks → crops → classifier → verdict.

The one function the CLI, the web worker and evaluation all call, so they cannot preprocess
differently.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deepfake_detector.analysis.schema import AnalysisResult
from deepfake_detector.config import AnalysisSettings

ProgressCallback = Callable[[str, float], None]
"""Called with (stage name, overall fraction done 0..1)."""


class Analyzer:
    """Holds the loaded model and detector so that many videos reuse them (load once per process)."""

    def __init__(self, settings: AnalysisSettings | None = None) -> None:
        raise NotImplementedError

    def analyze(
        self,
        path: str | Path,
        *,
        evidence_dir: str | Path | None = None,
        progress: ProgressCallback | None = None,
    ) -> AnalysisResult:
        """Analyse one video. Never raises for bad input: the result's verdict is ERROR with a
        message. With ``evidence_dir``, sampled frames and face crops are written there as JPEG
        and referenced (relative paths) from the result."""
        raise NotImplementedError


def analyze(
    path: str | Path,
    settings: AnalysisSettings | None = None,
    *,
    evidence_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Convenience wrapper: one video with a process-wide cached ``Analyzer`` for ``settings``."""
    raise NotImplementedError

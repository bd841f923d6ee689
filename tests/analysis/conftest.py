from __future__ import annotations

import pytest

from deepfake_detector.analysis import Analyzer
from deepfake_detector.config import AnalysisSettings


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    """The default model and detector, loaded once for the whole session (as a server would)."""
    return Analyzer(AnalysisSettings(frames=8))

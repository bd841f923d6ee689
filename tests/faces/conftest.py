"""Fixtures for the faces tests: one MTCNN detector for the session (it loads three networks)."""

from __future__ import annotations

import pytest

from deepfake_detector.faces import FaceDetector, create_detector


@pytest.fixture(scope="session")
def mtcnn() -> FaceDetector:
    return create_detector("mtcnn")

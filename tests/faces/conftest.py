"""Fixtures for the faces tests: one detector of each kind for the session (they load networks)."""

from __future__ import annotations

import pytest

from deepfake_detector.faces import FaceDetector, create_detector


@pytest.fixture(scope="session")
def mtcnn() -> FaceDetector:
    return create_detector("mtcnn")


FIVE_POINT_DETECTORS = ("mtcnn", "retinaface")
"""Every registered detector that gives the five landmarks: each must pass the contract tests."""


@pytest.fixture(scope="session", params=FIVE_POINT_DETECTORS)
def five_point(request: pytest.FixtureRequest) -> FaceDetector:
    return create_detector(request.param)

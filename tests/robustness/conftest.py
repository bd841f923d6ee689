"""Fixtures for the bad-input corpus: the corpus itself (each file built on first use, once per
session) and, for the API half, an app of its own with a real SQLite database and a real huey
consumer in a thread (as ``running_app`` in tests/service), so that its storage holds only what
this suite uploads."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import Corpus

from deepfake_detector.service.context import EXTENSION_KEY, ServiceContext
from deepfake_detector.service.worker import start_worker

# The service tests' helpers (make_app, upload, wait_for_job, OpenApiChecker) live beside them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from service_support import OpenApiChecker, RunningApp, make_app


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def robust_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = make_app(tmp_path_factory.mktemp("robust-service"))
    ctx: ServiceContext = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings)
    yield RunningApp(app, ctx, worker)
    worker.stop(graceful=False)


@pytest.fixture(scope="session")
def openapi_checker() -> OpenApiChecker:
    return OpenApiChecker()

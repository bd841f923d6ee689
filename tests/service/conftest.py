"""Fixtures for the web service tests: a real app on a real SQLite database with a real huey
consumer (SqliteHuey, never immediate mode) running the real ``Analyzer``; real servers started
with the ``serve`` command on free ports; the OpenAPI document as the judge of every response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from service_support import OpenApiChecker, RunningApp, Server, make_app, start_server

from deepfake_detector.service.context import EXTENSION_KEY, ServiceContext
from deepfake_detector.service.worker import start_worker
from servers import postgres_server, postgres_url, redis_server  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the API tests, its consumer in a thread of this process (model loaded once)."""
    # Every crop's heatmap, whatever this host's speed (the budget has its own test).
    app = make_app(tmp_path_factory.mktemp("service-data"), heatmaps_budget=0.0)
    ctx: ServiceContext = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings)
    yield RunningApp(app, ctx, worker)
    worker.stop(graceful=False)


@pytest.fixture
def client(running_app: RunningApp) -> FlaskClient:
    return running_app.client()


@pytest.fixture(scope="session")
def openapi() -> OpenApiChecker:
    return OpenApiChecker()


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    """Start ``serve`` processes; each is stopped (with anything it started) after the test."""
    started: list[Server] = []

    def factory(data_dir: Path, *args: str, **kwargs: Any) -> Server:
        server = start_server(data_dir, *args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()

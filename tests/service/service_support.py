"""Helpers for the web service tests (the fixtures in ``conftest.py`` use them): apps with real
SQLite databases and huey queues, real ``serve`` processes on free ports, and the OpenAPI
document as the judge of every response."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from flask import Flask
from flask.testing import FlaskClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.service.app import create_app
from deepfake_detector.service.context import ServiceContext
from deepfake_detector.service.openapi import openapi_document
from deepfake_detector.service.worker import WorkerHandle

FRAMES = 8
"""Frames sampled per video in these tests (the model on CPU takes about 1 s per short clip)."""
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class RunningApp:
    app: Flask
    ctx: ServiceContext
    worker: WorkerHandle

    def client(self) -> FlaskClient:
        return self.app.test_client()


@contextlib.contextmanager
def running_app_of(app: Flask, *, preload: bool = False) -> Iterator[RunningApp]:
    """``app`` with a job worker in this process, stopped (and the backends closed) after."""
    from deepfake_detector.service.context import EXTENSION_KEY
    from deepfake_detector.service.worker import start_worker

    ctx: ServiceContext = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=preload)
    try:
        yield RunningApp(app, ctx, worker)
    finally:
        worker.stop(graceful=False)
        ctx.backends.close()


def make_app(data_dir: Path, **limits: Any) -> Flask:
    settings = ServiceSettings(data_dir=str(data_dir), **limits)
    return create_app(settings, AnalysisSettings(frames=FRAMES))


def wait_for_job(
    client: FlaskClient, analysis_id: str, timeout: float = 120.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll until the job ends; returns the final body and every body seen on the way."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/analyses/{analysis_id}")
        assert response.status_code == 200, response.data
        body = response.get_json()
        seen.append(body)
        if body["status"] in ("done", "failed"):
            return body, seen
        time.sleep(0.1)
    raise AssertionError(f"job {analysis_id} did not finish in {timeout} s: {seen[-1]}")


def wait_for_heatmaps(
    client: FlaskClient, analysis_id: str, timeout: float = 120.0
) -> dict[str, Any]:
    """Poll a finished analysis until its heatmaps (drawn after the verdict) are no longer
    pending; returns the body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/analyses/{analysis_id}").get_json()
        if body["heatmaps_state"] != "pending":
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"heatmaps of {analysis_id} still pending after {timeout} s")


def upload(client: FlaskClient, path: Path, name: str | None = None) -> TestResponse:
    with open(path, "rb") as f:
        return client.post(
            "/api/v1/analyses",
            data={"file": (f, name or path.name)},
            content_type="multipart/form-data",
        )


class OpenApiChecker:
    """Checks a real response against the operation's documented statuses and JSON schema."""

    def __init__(self) -> None:
        self.document = openapi_document()
        resource = Resource(contents=self.document, specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:openapi", resource)

    def schema(self, name: str) -> dict[str, Any]:
        return {"$ref": f"urn:openapi#/components/schemas/{name}"}

    def validate(self, instance: Any, name: str) -> None:
        validator = jsonschema.Draft202012Validator(self.schema(name), registry=self.registry)
        validator.validate(instance)

    def check(self, method: str, template: str, response: TestResponse) -> None:
        operation = self.document["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, not documented: {response.data[:300]!r}"
        )
        documented = operation["responses"][status]
        content = documented.get("content", {})
        if "application/json" in content:
            assert response.mimetype == "application/json", response.mimetype
            schema = content["application/json"]["schema"]
            validator = jsonschema.Draft202012Validator(_with_base(schema), registry=self.registry)
            validator.validate(json.loads(response.data))
        elif not content:
            assert not response.data, "a response documented without content has a body"


def _with_base(schema: dict[str, Any]) -> dict[str, Any]:
    """Make ``#/components/...`` references in an operation's schema resolve in the document."""
    text = json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/')
    return json.loads(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the server, wait for it, then make sure nothing of its session is left."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: children only


def start_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90.0
) -> Server:
    """Run ``serve`` in a child process and wait until its health check shows a live worker."""
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}-serve-{port}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "DFD_DATA_DIR": str(data_dir),
        "DFD_FRAMES": str(FRAMES),
        **(env or {}),
    }
    command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "serve"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            health = server.get_json("/api/v1/health")
            if health["workers"] >= 1:
                return server
        except OSError:
            pass
        time.sleep(0.25)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"serve did not become healthy in {timeout} s:\n{log.read_text()}")

"""Rate limits per token (or per address without one): uploads and requests counted apart,
429 ``too_many_requests`` with ``Retry-After``, health and static files never counted; counts in
Redis shared by several web processes when the queue is Redis, in memory otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import MemoryStorage, RedisStorage
from service_support import FRAMES, OpenApiChecker, free_port

from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.devservers import RedisServer
from deepfake_detector.service import auth
from deepfake_detector.service.app import create_app
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.limits import KEY_PREFIX, limiter_of

import video_factory

ANALYSES = "/api/v1/analyses"
REDIS_DB = 6
"""A Redis database of its own (the backend tests use others)."""


def make(data_dir: Path, **overrides: object) -> Flask:
    settings = ServiceSettings(data_dir=str(data_dir), **overrides)
    return create_app(settings, AnalysisSettings(frames=FRAMES))


def new_token(app: Flask, read_only: bool = False) -> str:
    jobs = app.extensions[EXTENSION_KEY].backends.jobs
    return auth.create_token(jobs, read_only=read_only).secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def post_video(client: FlaskClient, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        return client.post(
            ANALYSES, data={"file": (f, path.name)}, content_type="multipart/form-data", **kwargs
        )


def assert_too_many(response, what: str, who: str, limit: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.data
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    error = response.get_json()["error"]
    assert (error["code"], error["status"]) == ("too_many_requests", 429)
    assert error["message"] == (
        f"Too many {what}: {who} may make at most {limit}. Try again in {retry_after} s."
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return video_factory.no_face(tmp_path_factory.mktemp("limit-clips") / "clip.mp4", 0.4)


def test_the_third_upload_in_a_minute_is_refused(
    tmp_path: Path, clip: Path, openapi: OpenApiChecker
) -> None:
    app = make(tmp_path, rate_limit_uploads="2/minute")
    assert isinstance(limiter_of(app).storage, MemoryStorage)  # the queue is SQLite here
    client = app.test_client()
    first, second = new_token(app), new_token(app)
    for _ in range(2):
        accepted = post_video(client, clip, headers=bearer(first))
        assert accepted.status_code == 202, accepted.data
    refused = post_video(client, clip, headers=bearer(first))
    assert_too_many(refused, "uploads", "this token", "2 per 1 minute")
    openapi.check("POST", ANALYSES, refused)
    # The page's upload counts in the same bucket (refused before its CSRF check even runs).
    page = client.post("/upload", data={}, headers=bearer(first) | {"Accept": "text/html"})
    assert page.status_code == 429 and "Too many uploads" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]

    assert client.get(ANALYSES, headers=bearer(first)).status_code == 200  # reading goes on
    assert post_video(client, clip, headers=bearer(second)).status_code == 202

    # Straight from this machine without a token (the embedded single-user case): not counted.
    for _ in range(4):
        assert post_video(client, clip).status_code == 202


def test_requests_without_a_token_are_counted_by_address(tmp_path: Path, clip: Path) -> None:
    """Behind a proxy that authenticates people itself (``DFD_AUTH=optional``): anonymous
    requests through it are counted by the address they come from (the proxy's)."""
    app = make(tmp_path, auth="optional", rate_limit_uploads="2/minute")
    client = app.test_client()
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(2):
        assert post_video(client, clip, headers=proxied).status_code == 202
    refused = post_video(client, clip, headers=proxied)
    assert_too_many(refused, "uploads", "this address", "2 per 1 minute")
    other = post_video(client, clip, headers=proxied, environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 202
    assert post_video(client, clip).status_code == 202  # straight from this machine


def test_requests_are_limited_except_health_static_and_the_api_document(
    tmp_path: Path, openapi: OpenApiChecker
) -> None:
    app = make(tmp_path, rate_limit_api="3/minute;100/day")
    client = app.test_client()
    secret, other = new_token(app), new_token(app)
    responses = [client.get(ANALYSES, headers=bearer(secret)) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    refused = client.get(ANALYSES, headers=bearer(secret))
    assert_too_many(refused, "requests", "this token", "3 per 1 minute")
    openapi.check("GET", ANALYSES, refused)
    page = client.get("/history", headers=bearer(secret))
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert client.get("/metrics", headers=bearer(secret)).status_code == 429
    for _ in range(5):
        assert client.get("/api/v1/health", headers=bearer(secret)).status_code == 200
        assert client.get("/static/css/app.css", headers=bearer(secret)).status_code == 200
        assert client.get("/api/v1/openapi.json", headers=bearer(secret)).status_code == 200
    assert client.get(ANALYSES, headers=bearer(other)).status_code == 200
    # A bad token is counted against its address before it is refused.
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    for _ in range(3):
        bad = client.get(ANALYSES, headers=bearer("dfd_" + "x" * 43), environ_base=remote)
        assert bad.status_code == 401
    assert client.get(ANALYSES, environ_base=remote).status_code == 429
    assert all(client.get(ANALYSES).status_code == 200 for _ in range(5))  # local, no token


def test_limits_can_be_turned_off_and_bad_ones_are_refused(tmp_path: Path) -> None:
    app = make(tmp_path / "off", rate_limit_api="", rate_limit_uploads="")
    client = app.test_client()
    assert all(client.get(ANALYSES).status_code == 200 for _ in range(30))
    with pytest.raises(ValueError, match="DFD_RATE_LIMIT_UPLOADS='lots' is not a rate limit"):
        make(tmp_path / "bad", rate_limit_uploads="lots")
    with pytest.raises(ValueError, match="DFD_RATE_LIMIT_API="):
        make(tmp_path / "bad2", rate_limit_api="10/fortnight")


def test_redis_counts_are_shared_by_every_web_process(
    tmp_path: Path,
    clip: Path,
    redis_server: RedisServer,
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    data = tmp_path / "data"  # one database, as web processes share one
    one = make(data, queue_url=url, rate_limit_uploads="2/minute")
    two = make(data, queue_url=url, rate_limit_uploads="2/minute")
    assert isinstance(limiter_of(one).storage, RedisStorage)
    secret, other = new_token(one), new_token(one)
    for _ in range(2):
        assert post_video(one.test_client(), clip, headers=bearer(secret)).status_code == 202
    refused = post_video(two.test_client(), clip, headers=bearer(secret))
    assert_too_many(refused, "uploads", "this token", "2 per 1 minute")
    assert post_video(two.test_client(), clip, headers=bearer(other)).status_code == 202
    keys = redis.Redis.from_url(url).keys(f"*{KEY_PREFIX}*")
    assert keys, "the counts are not in Redis"


def test_requests_go_through_when_redis_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The counts cannot be kept: requests are let through (and the error logged), not refused."""
    app = make(tmp_path, queue_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_api="1/minute")
    assert isinstance(limiter_of(app).storage, RedisStorage)
    client = app.test_client()
    secret = new_token(app)
    assert [client.get(ANALYSES, headers=bearer(secret)).status_code for _ in range(3)] == [200] * 3
    assert "Failed to rate limit" in caplog.text

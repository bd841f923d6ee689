"""``Idempotency-Key`` on ``POST /api/v1/analyses``, through the real app on a real SQLite
database (no worker: uploads are only queued, which is all a retry is about): the same key and
request get the first answer and create nothing; another file or other options with a used key
are refused; keys belong to their token, expire, are not used up by a refused upload, and two
requests racing with one key make one analysis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_contract import at_once
from flask import Flask
from flask.testing import FlaskClient
from service_support import OpenApiChecker
from sqlalchemy import func, select

from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.service import auth
from deepfake_detector.service.app import create_app
from deepfake_detector.service.context import EXTENSION_KEY, ServiceContext
from deepfake_detector.service.db import Analysis, IdempotencyKey

import video_factory

ANALYSES = "/api/v1/analyses"
KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three short videos, each with its own bytes."""
    folder = tmp_path_factory.mktemp("clips")
    return [
        video_factory.panning_face(folder / f"clip{n}.mp4", duration_s=1.0 + n / 2)
        for n in range(3)
    ]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    settings = ServiceSettings(
        data_dir=str(tmp_path / "data"),
        allowed_frames_min=4,
        rate_limit_uploads="",
        rate_limit_api="",
    )
    made = create_app(settings, AnalysisSettings(frames=8))
    yield made
    made.extensions[EXTENSION_KEY].backends.close()


def ctx_of(app: Flask) -> ServiceContext:
    return app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def post(
    client: FlaskClient,
    clip: Path,
    key: str | list[str] | None,
    fields: dict[str, Any] | None = None,
    token: str | None = None,
) -> Any:
    headers: list[tuple[str, str]] = []
    for value in [key] if isinstance(key, str) else key or []:
        headers.append((KEY, value))
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    with open(clip, "rb") as f:
        return client.post(
            ANALYSES,
            data={"file": (f, clip.name), **(fields or {})},
            content_type="multipart/form-data",
            headers=headers,
        )


def counts(app: Flask) -> tuple[int, int]:
    """(analyses, idempotency keys) in the database."""
    with ctx_of(app).backends.jobs.sessions() as s:
        analyses = s.scalar(select(func.count()).select_from(Analysis))
        keys = s.scalar(select(func.count()).select_from(IdempotencyKey))
    return int(analyses or 0), int(keys or 0)


def test_the_same_request_again_gets_the_first_answer(
    app: Flask, clips: list[Path], openapi: OpenApiChecker
) -> None:
    client = app.test_client()
    first = post(client, clips[0], "order-1234", {"frames": "10"})
    openapi.check("POST", ANALYSES, first)
    assert first.status_code == 202 and REPLAYED not in first.headers
    pending_before = ctx_of(app).backends.queue.pending_count()
    again = post(client, clips[0], "order-1234", {"frames": "10"})
    openapi.check("POST", ANALYSES, again)
    assert again.status_code == 202
    assert again.headers[REPLAYED] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    body, replayed = first.get_json(), again.get_json()
    assert replayed["id"] == body["id"]
    # The first answer's: not "deduplicated", as a plain second upload would have said.
    assert replayed["deduplicated"] is False
    assert replayed["options"] == {"frames": 10}
    assert counts(app) == (1, 1)
    assert ctx_of(app).backends.queue.pending_count() == pending_before  # nothing queued again
    # Without the key, the same upload is the usual deduplication.
    plain = post(client, clips[0], None, {"frames": "10"}).get_json()
    assert (plain["id"], plain["deduplicated"]) == (body["id"], True)


@pytest.mark.parametrize("change", ["file", "frames", "callback"])
def test_a_used_key_with_another_request_is_refused_and_creates_nothing(
    app: Flask, clips: list[Path], openapi: OpenApiChecker, change: str
) -> None:
    client = app.test_client()
    assert post(client, clips[0], "k-1").status_code == 202
    before = counts(app)
    if change == "file":
        response = post(client, clips[1], "k-1")
    elif change == "frames":
        response = post(client, clips[0], "k-1", {"frames": "9"})
    else:  # refused anyway (no webhook hosts here), but the key speaks first
        response = post(client, clips[0], "k-1", {"callback_url": "https://x.example/"})
    openapi.check("POST", ANALYSES, response)
    if change == "callback":
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_callback_url"
    else:
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert "already used with another file or other options" in error["message"]
    assert counts(app) == before


@pytest.mark.parametrize(
    "key",
    ["", "has space", "x" * 256, "clé", "semi;colon", ["twice", "twice"]],
    ids=["empty", "space", "too-long", "non-ascii", "semicolon", "twice"],
)
def test_malformed_keys_are_refused(
    app: Flask, clips: list[Path], openapi: OpenApiChecker, key: str | list[str]
) -> None:
    response = post(app.test_client(), clips[0], key)
    openapi.check("POST", ANALYSES, response)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_idempotency_key"
    assert "1 to 255 characters" in error["message"]
    assert counts(app) == (0, 0)


def test_the_longest_key_and_a_uuid_are_accepted(app: Flask, clips: list[Path]) -> None:
    client = app.test_client()
    assert post(client, clips[0], "k" * 255).status_code == 202
    key = "0b6f6a0e-3c1d-4c55-9a3e-2f1f2b8e9d10"
    assert post(client, clips[1], key).status_code == 202
    assert counts(app) == (2, 2)


def test_keys_belong_to_their_token(app: Flask, clips: list[Path]) -> None:
    jobs = ctx_of(app).backends.jobs
    alice, bob = auth.create_token(jobs, "alice"), auth.create_token(jobs, "bob")
    client = app.test_client()
    first = post(client, clips[0], "shared", token=alice.secret)
    other = post(client, clips[1], "shared", token=bob.secret)
    mine = post(client, clips[2], "shared")  # anonymous (loopback): a scope of its own
    assert [r.status_code for r in (first, other, mine)] == [202, 202, 202]
    assert len({r.get_json()["id"] for r in (first, other, mine)}) == 3
    assert REPLAYED not in other.headers and REPLAYED not in mine.headers
    assert post(client, clips[1], "shared", token=alice.secret).status_code == 422
    replay = post(client, clips[1], "shared", token=bob.secret)
    assert replay.headers[REPLAYED] == "true"


def test_a_refused_upload_does_not_use_up_its_key(
    app: Flask, clips: list[Path], tmp_path: Path
) -> None:
    client = app.test_client()
    junk = tmp_path / "notes.txt"
    junk.write_text("not a video at all")
    refused = post(client, junk, "retry-me")
    assert refused.status_code == 415
    refused = post(client, clips[0], "retry-me", {"frames": "1"})  # below the range
    assert refused.status_code == 400
    assert counts(app) == (0, 0)
    accepted = post(client, clips[0], "retry-me")
    assert accepted.status_code == 202 and REPLAYED not in accepted.headers


def test_keys_expire(tmp_path: Path, clips: list[Path]) -> None:
    settings = ServiceSettings(data_dir=str(tmp_path / "data"), idempotency_ttl_s=0.5)
    app = create_app(settings, AnalysisSettings(frames=8))
    try:
        client = app.test_client()
        first = post(client, clips[0], "short-lived").get_json()
        assert post(client, clips[1], "short-lived").status_code == 422
        time.sleep(0.7)
        later = post(client, clips[1], "short-lived")
        assert later.status_code == 202 and REPLAYED not in later.headers
        assert later.get_json()["id"] != first["id"]
    finally:
        ctx_of(app).backends.close()


def test_a_key_is_forgotten_with_its_analysis(app: Flask, clips: list[Path]) -> None:
    client = app.test_client()
    first = post(client, clips[0], "gone").get_json()
    assert client.delete(f"{ANALYSES}/{first['id']}").status_code == 204
    assert counts(app) == (0, 0)
    again = post(client, clips[1], "gone")
    assert again.status_code == 202 and REPLAYED not in again.headers


def test_two_requests_racing_with_one_key_make_one_analysis(app: Flask, clips: list[Path]) -> None:
    """Both requests have received the file and are held just before they take the key, so
    both try at once: one takes it, the other waits for its answer and replays it."""
    ctx = ctx_of(app)
    pending_before = ctx.backends.queue.pending_count()
    responses = at_once(
        2,
        lambda: post(app.test_client(), clips[2], "race", {"frames": "12"}),
        ctx.backends.jobs.engine,
        "INSERT INTO idempotency_keys",
    )
    assert [r.status_code for r in responses] == [202, 202]
    bodies = [r.get_json() for r in responses]
    assert bodies[0]["id"] == bodies[1]["id"]
    assert [b["deduplicated"] for b in bodies] == [False, False]
    assert sorted(r.headers.get(REPLAYED, "") for r in responses) == ["", "true"]
    assert counts(app) == (1, 1)
    assert ctx.backends.queue.pending_count() == pending_before + 1


def test_a_key_still_in_hand_is_answered_409_after_a_wait(
    app: Flask, clips: list[Path], openapi: OpenApiChecker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request with the key is still being handled (here: it never finishes)."""
    from deepfake_detector.service import idempotency

    monkeypatch.setattr(idempotency, "WAIT_S", 0.3)
    ctx = ctx_of(app)
    client = app.test_client()
    # The fingerprint the request below will have: take the key for it, as a first request would.
    with open(clips[0], "rb") as f:
        digest = idempotency.content_sha256(f)
    described = {"options": {}, "callback_url": None}
    fingerprint = idempotency.fingerprint(digest, described)
    claim = ctx.backends.jobs.claim_idempotency_key("anonymous", "slow", fingerprint, 60, 60)
    assert claim.state == "new"
    started = time.monotonic()
    response = post(client, clips[0], "slow")
    waited = time.monotonic() - started
    openapi.check("POST", ANALYSES, response)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert response.headers["Retry-After"] == "1"
    assert waited >= 0.3
    assert counts(app) == (0, 1)
    # The first one is refused meanwhile (its key freed): the waiting one goes on by itself.
    finisher = threading.Timer(
        0.2, lambda: ctx.backends.jobs.release_idempotency_key("anonymous", "slow")
    )
    finisher.start()
    monkeypatch.setattr(idempotency, "WAIT_S", 5.0)
    later = post(client, clips[0], "slow")
    finisher.join()
    assert later.status_code == 202 and REPLAYED not in later.headers

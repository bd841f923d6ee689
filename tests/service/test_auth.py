"""API tokens and authentication: tokens stored only as hashes, the two modes (required on a
non-loopback address, optional on loopback) through the Flask test client, the sign-in pages,
read-only tokens, ``created_by``; the ``tokens`` command; and a real ``serve --host 0.0.0.0``
with ``submit --token`` against it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_support import FRAMES, ROOT, OpenApiChecker, Server

from deepfake_detector import cli
from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.service import auth
from deepfake_detector.service.app import create_app
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.jobstore import JobStore

import video_factory

ANALYSES = "/api/v1/analyses"
ANALYSIS = "/api/v1/analyses/{id}"
HEALTH = "/api/v1/health"
MISSING_ID = "0" * 32
REALM = 'Bearer realm="deepfake-detector"'


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make(data_dir: Path, **overrides: object) -> Flask:
    """An app without a job worker (uploads stay queued) and without rate limits."""
    settings = ServiceSettings(
        data_dir=str(data_dir), rate_limit_api="", rate_limit_uploads="", **overrides
    )
    return create_app(settings, AnalysisSettings(frames=FRAMES))


def jobs_of(app: Flask) -> JobStore:
    return app.extensions[EXTENSION_KEY].backends.jobs


def post_video(client: FlaskClient, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        return client.post(
            ANALYSES,
            data={"file": (f, path.name)},
            content_type="multipart/form-data",
            **kwargs,
        )


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@dataclass
class Tokens:
    app: Flask
    rw: auth.NewToken
    ro: auth.NewToken
    revoked: auth.NewToken

    def client(self) -> FlaskClient:
        return self.app.test_client()


def with_tokens(app: Flask) -> Tokens:
    jobs = jobs_of(app)
    revoked = auth.create_token(jobs, "old laptop")
    jobs.revoke_token(revoked.token.id)
    return Tokens(
        app,
        rw=auth.create_token(jobs, "uploader"),
        ro=auth.create_token(jobs, "dashboard", read_only=True),
        revoked=revoked,
    )


@pytest.fixture(scope="module")
def required(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    """Listening on every address: tokens required (whatever DFD_AUTH says)."""
    data = tmp_path_factory.mktemp("auth-required")
    return with_tokens(make(data, host="0.0.0.0", allowed_hosts="*", auth="optional"))


@pytest.fixture(scope="module")
def optional(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    """The default: loopback, tokens optional."""
    return with_tokens(make(tmp_path_factory.mktemp("auth-optional")))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tiny clips with different bytes (uploads are deduplicated by content)."""
    folder = tmp_path_factory.mktemp("auth-clips")
    return [
        video_factory.no_face(folder / f"clip{n}.mp4", duration_s=0.4 + 0.2 * n) for n in range(3)
    ]


# -- tokens ---------------------------------------------------------------------------------------


def test_the_mode_follows_the_listening_address() -> None:
    def mode(host: str, configured: str = "") -> str:
        return auth.auth_mode(ServiceSettings(host=host, auth=configured))

    for loopback in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"):
        assert mode(loopback) == "local", loopback
        assert mode(loopback, "optional") == "optional", loopback
        assert mode(loopback, "Required") == "required", loopback
    for public in ("0.0.0.0", "::", "", "192.168.1.20", "detector.example.org"):
        assert mode(public) == "required", public
        assert mode(public, "optional") == "required", public  # never open on a public address
    with pytest.raises(ValueError, match="DFD_AUTH must be 'required' or 'optional'"):
        mode("127.0.0.1", "off")


def test_tokens_are_random_and_kept_only_as_hashes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    jobs = JobStore.from_url(f"sqlite:///{path}", migrate=True)
    try:
        made = [auth.create_token(jobs, f"t{n}", read_only=n == 1) for n in range(3)]
        secrets = [m.secret for m in made]
        assert len(set(secrets)) == 3
        for m in made:
            assert re.fullmatch(r"dfd_[A-Za-z0-9_-]{43}", m.secret), m.secret
            assert m.token.prefix == m.secret[:12]
            assert m.token.secret_hash == hashlib.sha256(m.secret.encode()).hexdigest()
            assert m.token.created_at is not None and m.token.last_used_at is None
        assert [t.read_only for t in jobs.tokens()] == [False, True, False]

        first, second = made[0], made[1]
        assert auth.verify(jobs, first.secret).id == first.token.id  # type: ignore[union-attr]
        assert auth.verify(jobs, f"  {first.secret} ").id == first.token.id  # type: ignore[union-attr]
        tampered = first.secret[:-1] + ("A" if first.secret[-1] != "A" else "B")
        for wrong in (
            tampered,
            first.token.prefix,
            second.secret[:12] + first.secret[12:],  # one token's prefix, another's secret
            first.secret.replace("dfd_", "xyz_", 1),
            "",
            first.secret + "x" * 300,
        ):
            assert auth.verify(jobs, wrong) is None, wrong

        assert auth.find_token(jobs, first.token.prefix).id == first.token.id  # type: ignore[union-attr]
        assert auth.find_token(jobs, first.token.prefix + "…").id == first.token.id  # type: ignore[union-attr]
        assert auth.find_token(jobs, first.token.id.upper()).id == first.token.id  # type: ignore[union-attr]
        assert auth.find_token(jobs, first.secret).id == first.token.id  # type: ignore[union-attr]
        assert auth.find_token(jobs, "dfd_nope0000") is None
        assert auth.find_token(jobs, "dfd_") is None

        revoked = jobs.revoke_token(first.token.id)
        assert revoked is not None and revoked.revoked_at is not None
        assert auth.verify(jobs, first.secret) is None
        again = jobs.revoke_token(first.token.id)
        assert again is not None and again.revoked_at == revoked.revoked_at  # kept, not renewed
        assert jobs.revoke_token(MISSING_ID) is None

        with pytest.raises(ValueError, match="at most 100 characters"):
            auth.create_token(jobs, "x" * 101)
        assert auth.create_token(jobs, " two\nlines\t").token.name == "two lines"
    finally:
        jobs.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and its WAL
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret[:12].encode() in stored  # only the display prefix is kept in clear


# -- tokens required ------------------------------------------------------------------------------


def test_required_api_refuses_missing_and_invalid_tokens(
    required: Tokens, openapi: OpenApiChecker
) -> None:
    client = required.client()
    missing = client.get(ANALYSES)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == REALM
    assert missing.get_json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in missing.get_json()["error"]["message"]
    openapi.check("GET", ANALYSES, missing)

    for headers in (
        bearer(required.revoked.secret),
        bearer(required.rw.secret[:-2]),
        bearer("dfd_" + "A" * 43),
        {"Authorization": "Bearer"},
        {"Authorization": "bearer " + required.rw.secret[:12]},
    ):
        refused = client.get(ANALYSES, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"] == REALM + ', error="invalid_token"'
        openapi.check("GET", ANALYSES, refused)
    basic = client.get(ANALYSES, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401 and basic.headers["WWW-Authenticate"] == REALM

    for method, path in (("DELETE", ANALYSIS), ("GET", ANALYSIS), ("GET", ANALYSIS + "/report")):
        response = client.open(path.format(id=MISSING_ID), method=method)
        assert response.status_code == 401, (method, path)
        openapi.check(method, path, response)
        found = client.open(
            path.format(id=MISSING_ID), method=method, headers=bearer(required.rw.secret)
        )
        assert found.status_code == 404, (method, path)  # past authentication

    allowed = client.get(ANALYSES, headers=bearer(required.rw.secret))
    assert allowed.status_code == 200
    openapi.check("GET", ANALYSES, allowed)
    used = jobs_of(required.app).token(required.rw.token.id)
    assert used is not None and used.last_used_at is not None
    allowed = client.get(ANALYSES, headers={"Authorization": "bEaReR  " + required.ro.secret})
    assert allowed.status_code == 200


def test_required_open_endpoints(required: Tokens, openapi: OpenApiChecker) -> None:
    client = required.client()
    anonymous = client.get(HEALTH)
    assert anonymous.status_code == 200
    openapi.check("GET", HEALTH, anonymous)
    body = anonymous.get_json()
    assert body["status"] == "ok" and "workers" in body
    assert "jobs" not in body and "url" not in body["queue"]  # no details without a token
    detailed = client.get(HEALTH, headers=bearer(required.ro.secret)).get_json()
    assert set(detailed["jobs"]) == {"queued", "running", "done", "failed"}
    assert detailed["queue"]["url"].startswith("sqlite:///")

    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    # The API's description is public; using it is not.
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200

    metrics = client.get("/metrics")
    assert metrics.status_code == 401 and metrics.headers["WWW-Authenticate"] == REALM
    assert metrics.get_json()["error"]["code"] == "unauthorized"
    scraped = client.get("/metrics", headers=bearer(required.ro.secret))
    assert scraped.status_code == 200 and b"dfd_jobs" in scraped.data


def test_read_only_tokens_read_but_do_not_change(
    required: Tokens, clips: list[Path], openapi: OpenApiChecker
) -> None:
    client = required.client()
    refused = post_video(client, clips[0], headers=bearer(required.ro.secret))
    assert refused.status_code == 403
    assert refused.get_json()["error"] == {
        "code": "forbidden",
        "message": "This is a read-only token: it can read analyses but not upload or delete.",
        "status": 403,
    }
    openapi.check("POST", ANALYSES, refused)

    created = post_video(client, clips[0], headers=bearer(required.rw.secret))
    assert created.status_code == 202, created.data
    openapi.check("POST", ANALYSES, created)
    analysis = created.get_json()
    assert analysis["created_by"] == required.rw.token.id

    read = client.get(ANALYSIS.format(id=analysis["id"]), headers=bearer(required.ro.secret))
    assert read.status_code == 200 and read.get_json()["created_by"] == required.rw.token.id
    openapi.check("GET", ANALYSIS, read)
    listed = client.get(ANALYSES, headers=bearer(required.ro.secret))
    openapi.check("GET", ANALYSES, listed)
    summary = next(i for i in listed.get_json()["items"] if i["id"] == analysis["id"])
    assert summary["created_by"] == required.rw.token.id

    path = ANALYSIS.format(id=analysis["id"])
    not_deleted = client.delete(path, headers=bearer(required.ro.secret))
    assert not_deleted.status_code == 403
    assert not_deleted.get_json()["error"]["code"] == "forbidden"
    openapi.check("DELETE", ANALYSIS, not_deleted)
    deleted = client.delete(path, headers=bearer(required.rw.secret))
    assert deleted.status_code == 204
    openapi.check("DELETE", ANALYSIS, deleted)


def sign_in(client: FlaskClient, secret: str, next_path: str = "/") -> object:
    page = client.get(f"/login?next={next_path}")
    assert page.status_code == 200
    return client.post(
        "/login",
        data={"csrf_token": form_token(page.get_data(as_text=True)), "token": secret},
    )


def test_required_pages_sign_in_and_out(required: Tokens) -> None:
    client = required.client()
    for path, target in (
        ("/", "/login?next=/"),
        ("/history?page=1", "/login?next=/history?page%3D1"),
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == target
    assert client.get(f"/analyses/{MISSING_ID}").status_code == 302
    posted = client.post("/upload", data={})
    assert posted.status_code == 303 and posted.headers["Location"].startswith("/login")
    scripted = client.post("/upload", data={}, headers={"Accept": "application/json"})
    assert scripted.status_code == 401 and scripted.get_json()["error"]["code"] == "unauthorized"

    page = client.get("/login?next=/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="token"' in html and 'type="password"' in html
    assert "needs an API token" in html
    no_csrf = client.post("/login", data={"token": required.rw.secret})
    assert no_csrf.status_code == 403
    wrong = client.post("/login", data={"csrf_token": form_token(html), "token": "dfd_wrong"})
    assert wrong.status_code == 401 and "not valid" in wrong.get_data(as_text=True)
    revoked = client.post(
        "/login", data={"csrf_token": form_token(html), "token": required.revoked.secret}
    )
    assert revoked.status_code == 401
    assert client.get("/history").status_code == 302  # still signed out

    signed = client.post(
        "/login",
        data={"csrf_token": form_token(html), "token": required.rw.secret, "next": "/history"},
    )
    assert signed.status_code == 303 and signed.headers["Location"] == "/history"
    history = client.get("/history")
    assert history.status_code == 200
    assert f"Signed in with the token {required.rw.token.prefix}" in history.get_data(as_text=True)
    assert 'id="nav-account"' in history.get_data(as_text=True), "the header offers signing out"
    # The pages' scripts read the API with the session (polling, images, the video) …
    assert client.get(ANALYSES).status_code == 200
    assert client.get("/metrics").status_code == 200
    # … but an unsafe API request on the strength of the session needs the page's CSRF token.
    token = form_token(client.get("/login").get_data(as_text=True))
    forged = client.delete(ANALYSIS.format(id=MISSING_ID))
    assert forged.status_code == 403 and forged.get_json()["error"]["code"] == "csrf_failed"
    scripted = client.delete(ANALYSIS.format(id=MISSING_ID), headers={"X-CSRF-Token": token})
    assert scripted.status_code == 404

    signed_in = client.get("/login").get_data(as_text=True)
    assert "Sign out" in signed_in and required.rw.token.prefix in signed_in
    assert client.get("/logout").status_code == 302  # a GET never signs out
    assert client.get("/history").status_code == 200
    out = client.post("/logout", data={"csrf_token": form_token(signed_in)})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert client.get("/history").status_code == 302
    assert client.get(ANALYSES).status_code == 401


def test_sign_in_goes_only_to_this_site(required: Tokens) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        client = required.client()
        page = client.get("/login").get_data(as_text=True)
        response = client.post(
            "/login",
            data={"csrf_token": form_token(page), "token": required.ro.secret, "next": target},
        )
        assert response.status_code == 303
        assert response.headers["Location"] == "/", target


def test_a_revoked_token_ends_its_sessions(required: Tokens) -> None:
    jobs = jobs_of(required.app)
    doomed = auth.create_token(jobs, "to be revoked")
    client = required.client()
    assert sign_in(client, doomed.secret).status_code == 303  # type: ignore[attr-defined]
    assert client.get("/history").status_code == 200
    jobs.revoke_token(doomed.token.id)
    assert client.get("/history").status_code == 302
    assert client.get(ANALYSES).status_code == 401
    assert client.get(ANALYSES, headers=bearer(doomed.secret)).status_code == 401


def test_read_only_session_cannot_upload_or_delete(required: Tokens, clips: list[Path]) -> None:
    client = required.client()
    assert sign_in(client, required.ro.secret).status_code == 303  # type: ignore[attr-defined]
    token = form_token(client.get("/").get_data(as_text=True))
    with open(clips[1], "rb") as f:
        refused = client.post(
            "/upload",
            data={"csrf_token": token, "file": (f, "clip.mp4")},
            content_type="multipart/form-data",
        )
    assert refused.status_code == 403
    assert "read-only token" in refused.get_data(as_text=True)
    deleted = client.post(f"/analyses/{MISSING_ID}/delete", data={"csrf_token": token})
    assert deleted.status_code == 403


# -- tokens optional (loopback) -------------------------------------------------------------------


def test_optional_mode_accepts_anonymous_requests_but_checks_tokens(
    optional: Tokens, clips: list[Path], openapi: OpenApiChecker
) -> None:
    client = optional.client()
    assert client.get(ANALYSES).status_code == 200
    history = client.get("/history")
    assert history.status_code == 200
    assert 'id="nav-sign-in"' not in history.get_data(as_text=True), "no clutter for one user"
    assert client.get("/metrics").status_code == 200
    assert "jobs" in client.get(HEALTH).get_json()
    anonymous = post_video(client, clips[0])
    assert anonymous.status_code == 202
    openapi.check("POST", ANALYSES, anonymous)
    assert anonymous.get_json()["created_by"] is None

    for secret in (optional.revoked.secret, optional.rw.secret + "x"):
        refused = client.get(ANALYSES, headers=bearer(secret))
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == REALM + ', error="invalid_token"'
        assert post_video(client, clips[1], headers=bearer(secret)).status_code == 401

    made = post_video(client, clips[1], headers=bearer(optional.rw.secret))
    assert made.status_code == 202 and made.get_json()["created_by"] == optional.rw.token.id
    again = post_video(client, clips[1])  # the same bytes: the same analysis, its creator kept
    assert again.get_json()["deduplicated"] is True
    assert again.get_json()["created_by"] == optional.rw.token.id
    assert post_video(client, clips[2], headers=bearer(optional.ro.secret)).status_code == 403

    web = optional.client()  # signed in on the page: the upload page's uploads are attributed
    assert sign_in(web, optional.rw.secret).status_code == 303  # type: ignore[attr-defined]
    token = form_token(web.get("/").get_data(as_text=True))
    with open(clips[2], "rb") as f:
        uploaded = web.post(
            "/upload",
            data={"csrf_token": token, "file": (f, "clip.mp4")},
            content_type="multipart/form-data",
            headers={"Accept": "application/json"},
        )
    assert uploaded.status_code == 202, uploaded.data
    stored = jobs_of(optional.app).get(uploaded.get_json()["id"])
    assert stored is not None and stored[0].created_by == optional.rw.token.id


def test_by_default_a_token_is_wanted_from_other_machines(optional: Tokens, tmp_path: Path) -> None:
    """An app made reachable from elsewhere anyway (a reverse proxy in front, gunicorn bound by
    hand to another address while DFD_HOST stays at its default) is not left open: only
    requests straight from this machine go without a token."""
    client = optional.client()
    for remote in (
        {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}},
        {"headers": {"X-Forwarded-For": "192.0.2.7"}},
        {"headers": {"Forwarded": "for=192.0.2.7"}},
        {"headers": {"X-Real-IP": "192.0.2.7"}},
    ):
        refused = client.get(ANALYSES, **remote)  # type: ignore[arg-type]
        assert refused.status_code == 401, remote
        assert refused.headers["WWW-Authenticate"] == REALM
        assert client.get("/history", **remote).status_code == 302  # type: ignore[arg-type]
        assert "jobs" not in client.get(HEALTH, **remote).get_json()  # type: ignore[arg-type]
        headers = {**remote.get("headers", {}), **bearer(optional.ro.secret)}
        environ = remote.get("environ_base", {})
        allowed = client.get(ANALYSES, headers=headers, environ_base=environ)
        assert allowed.status_code == 200, remote

    # DFD_AUTH=optional (a proxy in front that authenticates people itself): no one needs one.
    open_app = with_tokens(make(tmp_path, auth="optional"))
    proxied = open_app.client().get(ANALYSES, headers={"X-Forwarded-For": "192.0.2.7"})
    assert proxied.status_code == 200
    checked = open_app.client().get(ANALYSES, headers=bearer(open_app.revoked.secret))
    assert checked.status_code == 401
    page = open_app.client().get("/history").get_data(as_text=True)
    assert 'id="nav-sign-in"' in page, "tokens are in use here: the header offers signing in"


# -- the tokens command ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``DFD_DATA_DIR`` for in-process ``tokens`` commands; the umask they set is put back."""
    for name in list(os.environ):
        if name.startswith("DFD_"):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    monkeypatch.setenv("DFD_DATA_DIR", str(data))
    umask = os.umask(0o022)
    os.umask(umask)
    yield data
    os.umask(umask)


def tokens(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["tokens", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_tokens_command(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = tokens(capsys, "list")
    assert (code, out) == (0, "") and "no tokens yet" in err
    code, out, err = tokens(capsys, "create", "--name", "nightly batch", "--read-only")
    assert code == 0, err
    secret = out.strip()
    assert re.fullmatch(r"dfd_[A-Za-z0-9_-]{43}", secret)
    assert f"created read-only token {secret[:12]}…" in err and "nightly batch" in err
    assert "shown only now" in err
    assert (cli_env / "deepfake-detector.sqlite3").stat().st_mode & 0o077 == 0  # private
    code, out, _ = tokens(capsys, "create")
    other = out.strip()

    code, out, _ = tokens(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "PREFIX",
        "NAME",
        "SCOPE",
        "CREATED",
        "LAST",
        "USED",
        "REVOKED",
        "ID",
    ]
    assert secret not in out and other not in out
    first = lines[1]
    assert first.startswith(f"{secret[:12]}…") and "nightly batch" in first
    assert "read-only" in first and "never" in first and " UTC" in first
    assert "read-write" in lines[2]

    jobs = JobStore.from_url(f"sqlite:///{cli_env / 'deepfake-detector.sqlite3'}")
    try:
        made = auth.verify(jobs, secret)
        assert made is not None and made.name == "nightly batch" and made.read_only
        other_id = auth.verify(jobs, other).id  # type: ignore[union-attr]

        code, out, _ = tokens(capsys, "revoke", f"{secret[:12]}…")
        assert code == 0 and out.strip() == f"revoked token {secret[:12]}… (nightly batch)"
        assert auth.verify(jobs, secret) is None
        code, out, _ = tokens(capsys, "revoke", secret[:12])
        assert code == 0 and "already revoked" in out
        code, out, _ = tokens(capsys, "revoke", other_id)
        assert code == 0 and auth.verify(jobs, other) is None
        code, out, err = tokens(capsys, "revoke", "dfd_nosuchone")
        assert code == 1 and out == "" and "no token with the prefix or id" in err
    finally:
        jobs.close()
    code, out, _ = tokens(capsys, "list")
    assert all(
        re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+[0-9a-f]{32}$", line)
        for line in out.splitlines()[1:]
    )

    code, _, err = tokens(capsys, "create", "--name", "x" * 101)
    assert code == 2 and "at most 100 characters" in err


def test_tokens_command_wants_a_shared_database_migrated(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = cli_env.parent / "shared.sqlite3"
    monkeypatch.setenv("DFD_DATABASE_URL", f"sqlite:///{shared}")
    code, out, err = tokens(capsys, "create")
    assert code == 2 and out == ""
    assert "run `deepfake-detector db upgrade`" in err
    with sqlite3.connect(shared) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    connection.close()


# -- a real server ------------------------------------------------------------------------------


def request_json(url: str, token: str | None = None) -> tuple[int, dict[str, str], dict]:
    headers = bearer(token) if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


@pytest.mark.slow
def test_serve_on_every_address_requires_tokens_and_submit_sends_one(
    tmp_path: Path,
    server_factory: Callable[..., Server],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFD_")}
    env |= {
        "DFD_DATA_DIR": str(data),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    made = subprocess.run(
        [sys.executable, "-m", "deepfake_detector.cli", "tokens", "create", "--name", "submit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()

    server = server_factory(data, "--host", "0.0.0.0", env={"DFD_ALLOWED_HOSTS": "127.0.0.1"})
    assert "serving on http://0.0.0.0:" in server.log.read_text()
    status, headers, body = request_json(server.url + ANALYSES)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert headers["WWW-Authenticate"] == REALM
    status, _, body = request_json(server.url + ANALYSES, secret)
    assert (status, body["total"]) == (200, 0)

    folder = tmp_path / "batch"
    folder.mkdir()
    clip = video_factory.no_face(folder / "clip.mp4", duration_s=1.0)
    out = tmp_path / "results.jsonl"
    common = [str(folder), "--server", server.url, "--output", str(out), "--no-progress"]
    code = cli.main(["submit", *common, "--poll-s", "0.2"])
    _, err = capsys.readouterr()
    assert code == 2 and "refused the token" in err and "DFD_API_TOKEN" in err
    code = cli.main(["submit", *common, "--poll-s", "0.2", "--token", secret])
    _, err = capsys.readouterr()
    assert code == 0, err
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    status, _, analysis = request_json(server.url + f"{ANALYSES}/{record['analysis_id']}", secret)
    assert status == 200 and analysis["status"] == "done"

    jobs = JobStore.from_url(f"sqlite:///{data / 'deepfake-detector.sqlite3'}")
    try:
        (token,) = jobs.tokens()
        assert analysis["created_by"] == token.id and token.last_used_at is not None
    finally:
        jobs.close()

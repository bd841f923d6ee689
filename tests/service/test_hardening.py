"""Hardening of the web service, each checked for real: the Host allow-list (DNS rebinding),
``Allow`` on 405s, hostile evidence paths, no versions in ``Server``, full and read-only disks
(real tmpfs mounts), owner-only files, and the embedded server's cap on connections.

Real ``serve`` processes (embedded and ``--production``) are used where the behaviour belongs
to the process: headers written by the HTTP server itself, the umask, threads per connection.
"""

from __future__ import annotations

import errno
import http.client
import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_support import ROOT, OpenApiChecker, Server, make_app, start_server, upload
from werkzeug.test import EnvironBuilder, run_wsgi_app

from deepfake_detector.config import ServiceSettings
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.db import JobStatus
from deepfake_detector.service.jobstore import Outcome
from deepfake_detector.service.openapi import openapi_document
from deepfake_detector.service.security import HostsNotConfigured, host_allowed
from deepfake_detector.service.uploads import NO_SPACE_MESSAGE, storage_error
from mounts import read_only, small_disk

import video_factory

ANALYSES = "/api/v1/analyses"
ANALYSIS = "/api/v1/analyses/{id}"
EVIDENCE = "/api/v1/analyses/{id}/evidence/{path}"
CAP = 8
"""DFD_MAX_CONNECTIONS of the embedded server these tests start."""
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64 + b"\xff\xd9"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short real video (no face: the quickest analysis)."""
    return video_factory.no_face(tmp_path_factory.mktemp("clips") / "clip.mp4", duration_s=1.0)


def queued(app: Flask, clip: Path) -> str:
    response = upload(app.test_client(), clip)
    assert response.status_code == 202, response.data
    return str(response.get_json()["id"])


# -- 1. Host allow-list -------------------------------------------------------------------------


def test_a_rebinding_host_is_refused_before_anything_else_runs(
    tmp_path: Path, clip: Path, openapi: OpenApiChecker
) -> None:
    app = make_app(tmp_path / "data")
    assert app.before_request_funcs[None][0].__name__ == "check_host", "the first hook"
    client = app.test_client()
    analysis_id = queued(app, clip)
    forged = {"Host": "rebind.example:3000", "Origin": "http://rebind.example:3000"}
    # What a DNS-rebinding page sends: same-origin in the browser's eyes, so without the
    # allow-list the origin check passes and the delete succeeds (204).
    response = client.delete(ANALYSIS.format(id=analysis_id), headers=forged)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_host"
    assert "rebind.example" in response.get_json()["error"]["message"]
    openapi.check("DELETE", ANALYSIS, response)
    assert client.get(ANALYSIS.format(id=analysis_id)).status_code == 200, "not deleted"

    # First of all hooks: no CSRF (403) or origin (403) verdicts, no upload read, no session.
    with open(clip, "rb") as f:
        posted = client.post(
            ANALYSES,
            data={"file": (f, "x.mp4")},
            headers=forged,
            content_type="multipart/form-data",
        )
    assert posted.status_code == 400 and posted.get_json()["error"]["code"] == "bad_host"
    openapi.check("POST", ANALYSES, posted)
    form = client.post("/upload", data={"csrf_token": "x"}, headers=forged)
    assert form.status_code == 400 and "csrf" not in form.get_data(as_text=True).lower()
    page = client.get("/", headers=forged)
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "does not answer to the host name" in page.get_data(as_text=True)
    assert "Set-Cookie" not in page.headers, "a refused host gets no session"
    assert page.headers["X-Frame-Options"] == "DENY", "security headers still on"
    assert client.get("/static/css/app.css", headers=forged).status_code == 400
    assert client.get("/api/v1/health", headers=forged).status_code == 400

    # The same request with the server's own name works.
    own = {"Host": "127.0.0.1:3000", "Origin": "http://127.0.0.1:3000"}
    assert client.delete(ANALYSIS.format(id=analysis_id), headers=own).status_code == 204


def test_loopback_names_are_the_default_and_lists_are_matched_exactly() -> None:
    loopback = ("127.0.0.1", "localhost", "[::1]")
    for good in ("127.0.0.1", "127.0.0.1:3000", "localhost:8080", "LOCALHOST", "[::1]:3000"):
        assert host_allowed(good, loopback), good
    for bad in (
        "rebind.example",
        "localhost.rebind.example",
        "127.0.0.1.nip.io:3000",
        "0.0.0.0:3000",
        "[::2]:3000",
        "",
        "127.0.0.1:3000 evil",
        "127.0.0.1@evil.example",
    ):
        assert not host_allowed(bad, loopback), bad
    listed = ("detector.example.org", ".corp.example", "10.1.2.3:8443")
    assert host_allowed("detector.example.org:443", listed)
    assert host_allowed("corp.example", listed) and host_allowed("a.b.corp.example", listed)
    assert host_allowed("10.1.2.3:8443", listed) and not host_allowed("10.1.2.3:80", listed)
    assert not host_allowed("xcorp.example", listed) and not host_allowed("localhost", listed)
    assert host_allowed("anything.example", ("*",))


def test_configured_hosts_replace_the_default(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", allowed_hosts="detector.example.org, [::1]")
    client = app.test_client()
    assert client.get("/api/v1/health", headers={"Host": "detector.example.org"}).status_code == 200
    assert client.get("/api/v1/health", headers={"Host": "[::1]:3000"}).status_code == 200
    refused = client.get("/api/v1/health", headers={"Host": "127.0.0.1:3000"})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_host"
    anything = make_app(tmp_path / "any", allowed_hosts="*").test_client()
    assert anything.get("/api/v1/health", headers={"Host": "x.example"}).status_code == 200


def test_serve_on_a_public_address_needs_allowed_hosts(tmp_path: Path) -> None:
    with pytest.raises(HostsNotConfigured, match="DFD_ALLOWED_HOSTS"):
        make_app(tmp_path / "data", host="0.0.0.0")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DFD_DATA_DIR": str(tmp_path / "d")}
    env.pop("DFD_ALLOWED_HOSTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "deepfake_detector.service.cli_serve", "serve", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "DFD_ALLOWED_HOSTS must be set when listening on '0.0.0.0'" in done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DFD_AUTH", "bogus", "DFD_AUTH must be 'required' or 'optional'"),
        ("DFD_RATE_LIMIT_API", "lots", "DFD_RATE_LIMIT_API='lots' is not a rate limit list"),
    ],
)
def test_serve_refuses_settings_that_cannot_work_in_one_line(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DFD_DATA_DIR": str(tmp_path / "d")}
    env[variable] = value
    done = subprocess.run(
        [sys.executable, "-m", "deepfake_detector.service.cli_serve", "serve", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists(), "refused before anything was created"


# -- 2. 405 with Allow --------------------------------------------------------------------------


def test_405_answers_say_which_methods_are_allowed(tmp_path: Path) -> None:
    client = make_app(tmp_path / "data").test_client()
    document = openapi_document()
    for template, item in document["paths"].items():
        path = template.replace("{id}", "0" * 32).replace("{path}", "frames/0.jpg")
        documented = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - documented:
            response = client.open(path, method=method)
            assert response.status_code == 405, (method, path)
            assert response.get_json()["error"]["code"] == "method_not_allowed"
            allowed = {m.strip() for m in response.headers["Allow"].split(",")}
            assert documented <= allowed, (method, path, allowed)
            assert not allowed & ({"POST", "PUT", "PATCH", "DELETE"} - documented)
    page = client.put("/history")
    assert page.status_code == 405 and page.mimetype == "text/html"
    assert "GET" in page.headers["Allow"]


# -- 3. Evidence paths --------------------------------------------------------------------------


@pytest.fixture
def with_evidence(tmp_path: Path, clip: Path) -> tuple[FlaskClient, str, Path]:
    """An app whose one analysis has an evidence folder with ``frames/0.jpg``, and JPEG-named
    files outside it that a path escaping the folder would reach."""
    app = make_app(tmp_path / "data")
    analysis_id = queued(app, clip)
    backends = app.extensions[EXTENSION_KEY].backends
    claim = backends.jobs.claim(analysis_id, "test-worker")
    assert claim is not None
    folder = backends.blobs.writable_dir(claim.evidence_prefix)
    (folder / "frames").mkdir()
    (folder / "frames" / "0.jpg").write_bytes(JPEG)
    assert backends.jobs.finish(claim, Outcome(JobStatus.FAILED, error="made by the test"))
    storage = backends.blobs.local_path(claim.video_key).parents[1]
    for outside in (storage / "secret.jpg", storage.parent / "secret.jpg", folder.parent / "x.jpg"):
        outside.write_bytes(JPEG)
    return app.test_client(), analysis_id, folder


def test_hostile_evidence_paths_are_json_404s(
    with_evidence: tuple[FlaskClient, str, Path], openapi: OpenApiChecker
) -> None:
    client, analysis_id, _ = with_evidence
    base = f"/api/v1/analyses/{analysis_id}/evidence/"
    good = client.get(base + "frames/0.jpg")
    assert good.status_code == 200 and good.data == JPEG
    openapi.check("GET", EVIDENCE, good)
    hostile = [
        # NUL bytes
        "%00",
        "frames/%00.jpg",
        "frames/0.jpg%00",
        "frames/0%00.jpg",
        "frames%00/0.jpg",
        # over-long names and paths (NAME_MAX 255, PATH_MAX 4096)
        "a" * 5000 + ".jpg",
        "frames/" + "b" * 300 + ".jpg",
        "x/" * 2100 + "y.jpg",
        # traversal, plain and encoded
        "../x.jpg",
        "../../../secret.jpg",
        "../../../../secret.jpg",
        "frames/../../x.jpg",
        "..%2F..%2F..%2Fsecret.jpg",
        "%2e%2e/%2e%2e/%2e%2e/secret.jpg",
        "%252e%252e%252f%252e%252e%252fsecret.jpg",
        "..%5c..%5c..%5csecret.jpg",
        "frames\\..\\..\\x.jpg",
        "....//....//secret.jpg",
        "/etc/passwd.jpg",
        "%2fetc%2fpasswd.jpg",
        "frames/./0.jpg/..",
        # not a JPEG, or nothing there
        "frames/0.png",
        "frames/",
        "nothing.jpg",
        "%ff%fe.jpg",
    ]
    for path in hostile:
        # "//" is merged by the router with a redirect (308) to the same URL with one "/".
        response = client.get(base + path, follow_redirects=True)
        assert response.status_code == 404, (path[:60], response.status_code, response.data[:200])
        assert response.get_json()["error"]["code"] == "not_found", path[:60]
        openapi.check("GET", EVIDENCE, response)


# -- 4. Server header (real processes) ----------------------------------------------------------


def _request(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    """One request on its own connection, with exactly the headers given (``Host`` included,
    so it can be forged)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Host": parts.netloc, **(headers or {})}
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def _multipart(path: Path) -> tuple[bytes, str]:
    boundary = "dfd-test-boundary"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename={path.name}\r\n"
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), boundary


def _upload_over_http(server: Server, path: Path) -> dict[str, Any]:
    body, boundary = _multipart(path)
    content_type = f"multipart/form-data; boundary={boundary}"
    response, data = _request(server, "POST", ANALYSES, {"Content-Type": content_type}, body)
    assert response.status == 202, data
    return dict(json.loads(data))


def _wait_done(server: Server, analysis_id: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = server.get_json(ANALYSIS.format(id=analysis_id))
        if body["status"] in ("done", "failed"):
            return dict(body)
        time.sleep(0.2)
    raise AssertionError(f"analysis {analysis_id} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """One embedded ``serve`` (with its worker) for the tests below: started from a process
    whose umask lets everyone read, so owner-only files can only come from ``serve`` itself;
    a connection cap of 8 and a 2 s idle timeout, so that they can be seen in a test."""
    data = tmp_path_factory.mktemp("embedded") / "data"
    previous = os.umask(0o022)
    try:
        server = start_server(
            data, env={"DFD_MAX_CONNECTIONS": str(CAP), "DFD_REQUEST_TIMEOUT_S": "2"}
        )
    finally:
        os.umask(previous)
    yield server, data
    server.stop()


def test_the_embedded_server_names_no_versions(embedded: tuple[Server, Path]) -> None:
    server, _ = embedded
    response, _ = _request(server, "GET", "/api/v1/health")
    assert response.status == 200
    assert response.msg.get_all("Server") == ["deepfake-detector"]
    # An answer written by the HTTP server itself, not the app (too many header lines).
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n" + b"X-Pad: 1\r\n" * 101 + b"\r\n")
        answer = raw.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.") and " 431 " in answer.split("\r\n")[0], answer[:200]
    assert "\r\nServer: deepfake-detector\r\n" in answer
    assert "Werkzeug" not in answer and "Python" not in answer


def test_a_forged_host_is_refused_by_a_real_server(
    embedded: tuple[Server, Path], clip: Path
) -> None:
    server, _ = embedded
    created = _upload_over_http(server, clip)
    port = urlsplit(server.url).port
    forged = {"Host": f"rebind.example:{port}", "Origin": f"http://rebind.example:{port}"}
    path = ANALYSIS.format(id=created["id"])
    response, data = _request(server, "DELETE", path, forged)
    assert response.status == 400, data
    assert json.loads(data)["error"]["code"] == "bad_host"
    assert server.get_json(path)["id"] == created["id"], "the analysis still exists"


def test_files_are_readable_by_their_owner_only(embedded: tuple[Server, Path]) -> None:
    server, data = embedded
    clip = video_factory.no_face(data.parent / "private.mp4", duration_s=1.2)
    created = _upload_over_http(server, clip)
    final = _wait_done(server, created["id"])
    assert final["status"] == "done", final
    sha256 = final["file"]["sha256"]
    files = data / "files"
    expected = [
        data / "deepfake-detector.sqlite3",
        data / "queue.sqlite3",
        data / "secret_key",
        files / sha256 / "video.mp4",
        files / "tmp",
        files / sha256 / final["id"],
    ]
    jpegs = list((files / sha256 / final["id"]).rglob("*.jpg"))
    assert jpegs, "the analysis wrote evidence images"
    for path in expected + jpegs[:3]:
        assert path.exists(), path
    for path in [data, *data.rglob("*")]:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:  # a database's transient journal
            continue
        wanted = 0o700 if path.is_dir() else 0o600
        assert mode == wanted, f"{path.relative_to(data.parent)} is {oct(mode)}, not {oct(wanted)}"


def test_the_production_server_names_no_versions_and_checks_hosts(
    tmp_path: Path, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(tmp_path / "data", "--production", "--web-workers", "1")
    response, _ = _request(server, "GET", "/api/v1/health")
    assert response.status == 200
    assert response.msg.get_all("Server") == ["deepfake-detector"]
    port = urlsplit(server.url).port
    refused, data = _request(server, "GET", "/api/v1/health", {"Host": f"rebind.example:{port}"})
    assert refused.status == 400 and json.loads(data)["error"]["code"] == "bad_host"
    assert refused.msg.get_all("Server") == ["deepfake-detector"]


# -- 7. Connections (the embedded server) -------------------------------------------------------


def _health(server: Server, timeout: float) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(server.url + "/api/v1/health", timeout=timeout) as response:
        assert response.status == 200
    return time.monotonic() - started


def test_connections_are_capped_and_silent_ones_time_out(embedded: tuple[Server, Path]) -> None:
    server, _ = embedded
    parts = urlsplit(server.url)
    address = (parts.hostname, parts.port)
    process = psutil.Process(server.process.pid)
    _health(server, 10)
    baseline = process.num_threads()
    idle = []
    try:
        for _ in range(100):
            idle.append(socket.create_connection(address, timeout=10))
        time.sleep(1.0)
        counts = []
        for _ in range(5):
            counts.append(process.num_threads())
            time.sleep(0.1)
        # Unbounded, each of the 100 connections would have a thread of its own.
        assert max(counts) <= baseline + CAP + 3, (baseline, counts)
    finally:
        for connection in idle:
            connection.close()
    assert _health(server, 15) < 10, "closed connections are drained at once"

    # Slow clients that never finish their headers hold every slot: a new request waits in the
    # backlog until they time out (2 s here), then is served; the slow ones are disconnected.
    slow = [socket.create_connection(address, timeout=10) for _ in range(CAP)]
    try:
        for connection in slow:
            connection.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.3)
        waited = _health(server, 20)
        assert 1.0 <= waited < 10, f"waited {waited:.1f} s for a slot"
        for connection in slow:
            assert connection.recv(1024) == b"", "the server closed the silent connection"
    finally:
        for connection in slow:
            connection.close()
    assert max(process.num_threads() for _ in range(3)) <= baseline + CAP + 3


# -- 5. Full and read-only disks (real mounts) --------------------------------------------------


def _post_unsized(app: Flask, payload: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST an upload without Content-Length (as a chunked request arrives), so that nothing
    but the disk itself can refuse it: the WSGI app called directly."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n" + payload + b"\r\n--B--\r\n"
    )
    environ = EnvironBuilder(
        ANALYSES,
        method="POST",
        input_stream=io.BytesIO(body),
        content_type="multipart/form-data; boundary=B",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    chunks, status, headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), dict(headers), json.loads(b"".join(chunks))


def _staged(storage: Path) -> list[Path]:
    return list((storage / "tmp").iterdir())


def test_a_full_disk_refuses_uploads_with_507_and_leaves_nothing(
    tmp_path: Path, clip: Path, openapi: OpenApiChecker
) -> None:
    with small_disk(tmp_path / "disk", size_kb=4096) as disk:
        storage = disk / "files"
        app = make_app(tmp_path / "data", storage_dir=str(storage), min_free_mb=0)
        # Received while the disk fills up: ENOSPC while staging → 507, the .part removed.
        status, _, body = _post_unsized(app, os.urandom(6_000_000))
        assert status == 507, body
        assert body["error"] == {
            "code": "insufficient_storage",
            "message": NO_SPACE_MESSAGE,
            "status": 507,
        }
        assert _staged(storage) == [], "the half-received upload is removed"
        assert os.statvfs(disk).f_bfree * os.statvfs(disk).f_frsize > 3_900_000
        # The disk is usable again at once: a small upload is accepted.
        assert upload(app.test_client(), clip).status_code == 202


def test_too_little_free_space_refuses_an_upload_before_reading_it(
    tmp_path: Path, clip: Path, openapi: OpenApiChecker
) -> None:
    with small_disk(tmp_path / "disk", size_kb=4096) as disk:
        storage = disk / "files"
        # Default DFD_MIN_FREE_MB (500) on a 4 MB disk: refused by the declared length alone.
        app = make_app(tmp_path / "data", storage_dir=str(storage))
        stream = io.BytesIO(b"x" * 1000)
        environ = EnvironBuilder(
            ANALYSES,
            method="POST",
            input_stream=stream,
            content_type="multipart/form-data; boundary=B",
            content_length=1000,
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        ).get_environ()
        chunks, status, _ = run_wsgi_app(app, environ, buffered=True)
        assert status.startswith("507"), status
        assert json.loads(b"".join(chunks))["error"]["code"] == "insufficient_storage"
        assert stream.tell() == 0, "refused before a byte of the body was read"
        response = upload(app.test_client(), clip)
        assert response.status_code == 507
        openapi.check("POST", ANALYSES, response)
        browser = app.test_client()
        form = browser.get("/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token, "the upload page has its CSRF token"
        page = browser.post(
            "/upload",
            data={"csrf_token": token.group(1), "file": (io.BytesIO(clip.read_bytes()), "c.mp4")},
            content_type="multipart/form-data",
        )
        assert page.status_code == 507 and page.mimetype == "text/html"
        assert NO_SPACE_MESSAGE.replace("'", "&#39;") in page.get_data(as_text=True)
        assert _staged(storage) == []
        # Room for the upload but not for the margin after it.
        size = clip.stat().st_size
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        tight = make_app(
            tmp_path / "tight",
            storage_dir=str(storage),
            min_free_mb=(free - size // 2) / 1_000_000,
        )
        assert upload(tight.test_client(), clip).status_code == 507
        roomy = make_app(
            tmp_path / "roomy", storage_dir=str(storage), min_free_mb=(free - 2 * size) / 1e6
        )
        assert upload(roomy.test_client(), clip).status_code == 202


def test_read_only_storage_answers_503_with_retry_after(
    tmp_path: Path, clip: Path, openapi: OpenApiChecker
) -> None:
    with small_disk(tmp_path / "disk", size_kb=8192) as disk:
        storage = disk / "files"
        app = make_app(tmp_path / "data", storage_dir=str(storage), min_free_mb=0)
        read_only(disk)
        try:
            response = upload(app.test_client(), clip)
            assert response.status_code == 503, response.data
            error = response.get_json()["error"]
            assert error["code"] == "storage_unavailable"
            assert "try again later" in error["message"]
            assert int(response.headers["Retry-After"]) > 0
            openapi.check("POST", ANALYSES, response)
        finally:
            read_only(disk, on=False)
        assert _staged(storage) == []
        assert upload(app.test_client(), clip).status_code == 202, "writable again: accepted"


def test_storage_errors_map_to_clear_answers() -> None:
    for code in (errno.ENOSPC, errno.EDQUOT):
        refusal = storage_error(OSError(code, os.strerror(code)))
        assert refusal is not None and (refusal.status, refusal.code) == (
            507,
            "insufficient_storage",
        )
    for code in (errno.EROFS, errno.EACCES, errno.EPERM):
        refusal = storage_error(OSError(code, os.strerror(code)))
        assert refusal is not None and (refusal.status, refusal.code) == (
            503,
            "storage_unavailable",
        )
    assert storage_error(OSError(errno.EIO, "I/O error")) is None


def test_the_new_settings_come_from_the_environment() -> None:
    from deepfake_detector.config import service_settings_from_env

    settings = service_settings_from_env(
        {
            "DFD_ALLOWED_HOSTS": "a.example,b.example",
            "DFD_MIN_FREE_MB": "1.5",
            "DFD_MAX_CONNECTIONS": "8",
            "DFD_REQUEST_TIMEOUT_S": "2.5",
        }
    )
    assert settings.allowed_hosts == "a.example,b.example"
    assert (settings.min_free_mb, settings.max_connections) == (1.5, 8)
    assert settings.request_timeout_s == 2.5
    defaults = ServiceSettings()
    assert (defaults.min_free_mb, defaults.max_connections) == (500.0, 64)
    assert defaults.request_timeout_s == 30.0 and defaults.allowed_hosts == ""

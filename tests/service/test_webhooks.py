"""Webhooks (an upload's ``callback_url``) for real: a real app and worker analysing real
videos, and a real HTTP receiver on 127.0.0.1 (``http.server`` in a thread) that records every
request and answers 500 (or anything) when told. The receiver checks each signature with the
snippet that ``docs/web.md`` gives receivers; the retries' back-off is timed (with short delays
configured); hosts not allowed are refused with a 400 naming the setting."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from service_support import (
    ROOT,
    OpenApiChecker,
    RunningApp,
    free_port,
    running_app_of,
    wait_for_job,
)

from deepfake_detector.config import AnalysisSettings, ServiceSettings, SettingsError
from deepfake_detector.service.app import create_app
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.webhooks import (
    CallbackRefused,
    check_callback_url,
    parse_hosts,
    signature,
)

import video_factory

ANALYSES = "/api/v1/analyses"
SECRET = "whsec-test-0123456789"
BACKOFF_S = 0.3
RETRIES = 3
HOSTS = "http://127.0.0.1,hooks.example.org,hooks.example.net:8443"


def docs_verify() -> Any:
    """The ``verify`` function of the snippet in docs/web.md, run as written there."""
    text = (ROOT / "docs" / "web.md").read_text(encoding="utf-8")
    section = text[text.index("### Webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None, "docs/web.md has no Python snippet under ### Webhooks"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/web.md", "exec"), namespace)
    return namespace["verify"]


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    answered_at: float = 0.0


@dataclass
class Receiver:
    """A webhook receiver: records requests; answers 500 to the first ``fail_first``, then
    ``status``, each after ``delay_s``."""

    fail_first: int = 0
    status: int = 200
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got = Received(time.monotonic(), self.path, dict(self.headers.items()), body)
                with receiver.lock:
                    receiver.requests.append(got)
                    n = len(receiver.requests)
                time.sleep(receiver.delay_s)
                status = 500 if n <= receiver.fail_first else receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                got.answered_at = time.monotonic()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, n: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} webhook requests, not {n}, in {timeout} s")

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def settings(data_dir: Path, **changes: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "webhook_hosts": HOSTS,
        "webhook_secret": SECRET,
        "webhook_retries": RETRIES,
        "webhook_backoff_s": BACKOFF_S,
        "webhook_timeout_s": 8.0,
        "worker_heartbeat_s": 0.5,
        "heatmaps": False,
        **changes,
    }
    return ServiceSettings(**values)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = create_app(
        settings(tmp_path_factory.mktemp("webhooks") / "data"),
        AnalysisSettings(frames=8, backend="torch"),
    )
    with running_app_of(app) as started:
        yield started


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [
        video_factory.panning_face(folder / f"clip{n}.mp4", duration_s=1.0 + n / 4)
        for n in range(6)
    ]


def post(client: FlaskClient, clip: Path, callback_url: str | None = None) -> Any:
    data: dict[str, Any] = {}
    if callback_url is not None:
        data["callback_url"] = callback_url
    with open(clip, "rb") as f:
        data["file"] = (f, clip.name)
        return client.post(ANALYSES, data=data, content_type="multipart/form-data")


def webhooks_when(
    client: FlaskClient, analysis_id: str, states: set[str], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The analysis's webhooks once every one is in ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hooks = client.get(f"{ANALYSES}/{analysis_id}").get_json()["webhooks"]
        if hooks and all(h["state"] in states for h in hooks):
            return list(hooks)
        time.sleep(0.05)
    raise AssertionError(f"webhooks of {analysis_id} not {states} in {timeout} s: {hooks}")


def test_a_finished_analysis_is_posted_signed_and_retried_with_backoff(
    running: RunningApp, receiver: Receiver, clips: list[Path], openapi: OpenApiChecker
) -> None:
    receiver.fail_first = 2
    client = running.client()
    created = post(client, clips[0], receiver.url + "/hooks/dfd?token=abc")
    openapi.check("POST", ANALYSES, created)
    assert created.status_code == 202, created.data
    body = created.get_json()
    assert [h["state"] for h in body["webhooks"]] == ["pending"]
    assert body["webhooks"][0]["url"] == receiver.url + "/hooks/dfd?..."
    final, _ = wait_for_job(client, body["id"])
    assert final["status"] == "done"

    tries = receiver.wait_for(3)
    verify = docs_verify()
    deliveries = set()
    for got in tries:
        assert got.path == "/hooks/dfd?token=abc"
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["X-DFD-Event"] == "analysis.finished"
        assert got.headers["User-Agent"].startswith("deepfake-detector/")
        assert verify(SECRET, got.headers["X-DFD-Signature"], got.body)
        assert not verify("another secret", got.headers["X-DFD-Signature"], got.body)
        assert not verify(SECRET, got.headers["X-DFD-Signature"], got.body + b" ")
        deliveries.add(got.headers["X-DFD-Delivery"])
    assert tries[0].body == tries[1].body == tries[2].body  # the same event, signed anew
    payload = json.loads(tries[0].body)
    assert payload == {
        "event": "analysis.finished",
        "delivery_id": deliveries.pop(),
        "analysis_id": body["id"],
        "status": "done",
        "verdict": final["verdict"],
        "fake_probability": final["fake_probability"],
        "error": None,
        "finished_at": final["finished_at"],
        "links": {
            "self": f"http://localhost{ANALYSES}/{body['id']}",
            "page": f"http://localhost/analyses/{body['id']}",
            "report": f"http://localhost{ANALYSES}/{body['id']}/report",
        },
    }
    assert not deliveries, "every try is the same delivery"
    # Back-off: the first retry waits BACKOFF_S after the failed answer, the second twice that.
    first_wait = tries[1].at - tries[0].answered_at
    second_wait = tries[2].at - tries[1].answered_at
    assert BACKOFF_S - 0.05 <= first_wait < BACKOFF_S + 1.5, first_wait
    assert 2 * BACKOFF_S - 0.05 <= second_wait < 2 * BACKOFF_S + 1.5, second_wait

    (hook,) = webhooks_when(client, body["id"], {"delivered"})
    assert (hook["attempts"], hook["response_status"], hook["error"]) == (3, 200, None)
    assert hook["delivered_at"] is not None
    time.sleep(3 * BACKOFF_S)
    assert len(receiver.requests) == 3, "delivered: nothing more is sent"


def test_unreachable_receivers_are_retried_then_given_up(
    running: RunningApp, clips: list[Path]
) -> None:
    client = running.client()
    closed = f"http://127.0.0.1:{free_port()}/gone"
    created = post(client, clips[1], closed).get_json()
    wait_for_job(client, created["id"])
    started = time.monotonic()
    (hook,) = webhooks_when(client, created["id"], {"failed"})
    assert hook["attempts"] == 1 + RETRIES
    assert hook["response_status"] is None
    assert "ConnectionError" in hook["error"]
    waits = sum(BACKOFF_S * 2**i for i in range(RETRIES))
    assert time.monotonic() - started < waits + 30


def test_a_refusal_by_the_receiver_is_not_retried(
    running: RunningApp, receiver: Receiver, clips: list[Path]
) -> None:
    receiver.status = 410
    client = running.client()
    created = post(client, clips[2], receiver.url + "/").get_json()
    wait_for_job(client, created["id"])
    (hook,) = webhooks_when(client, created["id"], {"failed"})
    assert (hook["attempts"], hook["response_status"]) == (1, 410)
    assert hook["error"] == "the receiver answered 410"
    time.sleep(3 * BACKOFF_S)
    assert len(receiver.requests) == 1


def test_a_failed_analysis_is_posted_too(
    running: RunningApp, receiver: Receiver, clips: list[Path]
) -> None:
    runner = running.worker.runner
    budget = runner.cpu_budget_s
    runner.cpu_budget_s = 1e-9  # the job is stopped at once: it fails
    try:
        client = running.client()
        created = post(client, clips[3], receiver.url + "/failed").get_json()
        final, _ = wait_for_job(client, created["id"])
    finally:
        runner.cpu_budget_s = budget
    assert final["status"] == "failed"
    (got,) = receiver.wait_for(1)
    payload = json.loads(got.body)
    assert (payload["analysis_id"], payload["status"]) == (created["id"], "failed")
    assert (payload["verdict"], payload["fake_probability"]) == (None, None)
    assert payload["error"] == final["error"] and "CPU time" in payload["error"]
    webhooks_when(client, created["id"], {"delivered"})


def test_a_slow_receiver_holds_up_neither_the_job_nor_the_next(
    running: RunningApp, receiver: Receiver, clips: list[Path]
) -> None:
    receiver.delay_s = 6.0
    client = running.client()
    first = post(client, clips[4], receiver.url + "/slow").get_json()
    second = post(client, clips[5]).get_json()
    wait_for_job(client, first["id"])
    (got,) = receiver.wait_for(1)
    wait_for_job(client, second["id"])
    seen_done = time.monotonic()
    assert got.answered_at == 0.0, "both jobs finished while the receiver still held the first"
    assert seen_done < got.at + receiver.delay_s
    webhooks_when(client, first["id"], {"delivered"}, timeout=30)


def test_an_upload_of_a_finished_analysis_gets_its_webhook_too(
    running: RunningApp, receiver: Receiver, clips: list[Path]
) -> None:
    """Deduplicated to an analysis that had ended: the next worker heartbeat sends it."""
    client = running.client()
    first = post(client, clips[2]).get_json()  # analysed in an earlier test, or now
    wait_for_job(client, first["id"])
    again = post(client, clips[2], receiver.url + "/late")
    assert again.status_code == 202
    body = again.get_json()
    assert (body["id"], body["deduplicated"]) == (first["id"], True)
    (got,) = receiver.wait_for(1, timeout=30)
    assert json.loads(got.body)["analysis_id"] == first["id"]
    hooks = webhooks_when(client, first["id"], {"delivered", "failed"})
    assert [h["state"] for h in hooks][-1] == "delivered"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://evil.example.com/hook", "host 'evil.example.com' is not one this server sends"),
        ("https://evil.example.com/hook", f"(DFD_WEBHOOK_HOSTS: {HOSTS.replace(',', ', ')})"),
        ("http://127.0.0.1.evil.example.com/", "is not one this server sends webhooks to"),
        ("http://localhost:8080/", "host 'localhost' is not one"),
        ("http://hooks.example.org/hook", "must use https: plain http to 'hooks.example.org'"),
        ("https://hooks.example.net/", "host 'hooks.example.net' is not one"),  # port 443
        ("https://user:pw@hooks.example.org/", "must not contain a user name or password"),
        ("ftp://hooks.example.org/", "must be an absolute https:// URL"),
        ("hooks.example.org/hook", "must be an absolute https:// URL"),
        ("https://hooks.example.org:99999/", "not a valid URL"),
        ("https://hooks.example.org/a b", "without spaces"),
        ("https://hooks.example.org/#top", "must not have a #fragment"),
        ("https://hooks.example.org/" + "a" * 2048, "at most 2048"),
    ],
)
def test_callback_urls_not_allowed_are_refused(
    running: RunningApp, clips: list[Path], openapi: OpenApiChecker, url: str, says: str
) -> None:
    client = running.client()
    before = client.get(ANALYSES).get_json()["total"]
    response = post(client, clips[0], url)
    openapi.check("POST", ANALYSES, response)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_callback_url"
    assert says in error["message"]
    assert client.get(ANALYSES).get_json()["total"] == before


def test_allowed_callback_urls() -> None:
    service = settings(Path("unused"))
    for url in (
        "https://hooks.example.org/dfd?x=1",
        "https://HOOKS.example.org:443/",
        "http://127.0.0.1:9/anything",
        "https://127.0.0.1/",
        "https://hooks.example.net:8443/in",
    ):
        assert check_callback_url(url, service) == url
    with pytest.raises(CallbackRefused):
        check_callback_url("https://hooks.example.net:8444/in", service)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"webhook_hosts": ""}, "DFD_WEBHOOK_HOSTS, which is empty"),
        ({"webhook_secret": ""}, "DFD_WEBHOOK_SECRET (the key that signs them) is not set"),
    ],
)
def test_a_server_without_webhooks_configured_refuses_callback_urls(
    tmp_path: Path, clips: list[Path], changes: dict[str, str], says: str
) -> None:
    app = create_app(settings(tmp_path / "data", **changes), AnalysisSettings(frames=8))
    try:
        response = post(app.test_client(), clips[0], "https://hooks.example.org/")
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "invalid_callback_url" and says in error["message"]
    finally:
        app.extensions[EXTENSION_KEY].backends.close()


@pytest.mark.parametrize("hosts", ["http://", "a b", "host:99999", "https://x/path", "*"])
def test_malformed_webhook_hosts_stop_the_server_starting(tmp_path: Path, hosts: str) -> None:
    with pytest.raises(SettingsError, match="DFD_WEBHOOK_HOSTS: cannot read"):
        parse_hosts(hosts)
    with pytest.raises(SettingsError, match="DFD_WEBHOOK_HOSTS"):
        create_app(settings(tmp_path / "data", webhook_hosts=hosts), AnalysisSettings(frames=8))


def test_the_documented_check_refuses_old_and_forged_signatures() -> None:
    verify = docs_verify()
    body = b'{"event":"analysis.finished"}'
    now = int(time.time())
    assert verify(SECRET, signature(SECRET, now, body), body)
    assert not verify(SECRET, signature(SECRET, now - 3600, body), body)  # replayed later
    assert not verify(SECRET, f"t={now},v1=" + "0" * 64, body)
    assert not verify(SECRET, "v1=abc", body)
    assert not verify(SECRET, "", body)

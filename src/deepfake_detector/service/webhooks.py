"""Webhooks: an upload's ``callback_url`` is sent a signed JSON POST when its analysis ends.

- **Where to**: only hosts in ``DFD_WEBHOOK_HOSTS`` (``name``, ``name:port``; https only, or
  ``http://name[:port]`` to allow plain http to that host), checked when the upload is received
  and again before each send. Redirects are not followed.
- **Signed**: ``X-DFD-Signature: t=<unix time>,v1=<hex>``, the HMAC-SHA256 with
  ``DFD_WEBHOOK_SECRET`` of ``<t>.`` followed by the body's bytes (a new ``t`` on each try).
- **Retried**: after a connection error, a timeout, 408, 429 or a 5xx, ``DFD_WEBHOOK_RETRIES``
  times, waiting ``DFD_WEBHOOK_BACKOFF_S`` then twice as long each time. Any other answer ends
  it: 2xx ``delivered``, else ``failed``. Each try is recorded on the webhook's row (the
  analysis's ``webhooks`` in the API).
- **Never in the way**: a worker hands finished jobs to a :class:`WebhookSender`, whose own
  threads send; a job's completion and the next job never wait for a receiver. A webhook whose
  sender died (its lease ran out), or added to an analysis that had already ended, is taken up
  by the next worker heartbeat.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from deepfake_detector import __version__
from deepfake_detector.config import ServiceSettings, SettingsError
from deepfake_detector.service.db import Analysis, Webhook, iso

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-DFD-Signature"
EVENT = "analysis.finished"
MAX_URL_CHARS = 2048
RETRY_STATUSES = frozenset({408, 429})
"""Answers tried again besides every 5xx (the receiver asks for it, or timed out)."""
LEASE_MARGIN_S = 60.0
_HOST_RULE = re.compile(
    r"(?:(?P<scheme>https?)://)?(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?",
    re.ASCII | re.IGNORECASE,
)


class CallbackRefused(ValueError):
    """A ``callback_url`` this server will not send to; the message says why, for the client."""


@dataclass(frozen=True)
class HostRule:
    name: str
    """Lower case; an IPv6 address without its brackets."""
    port: int | None
    """``None``: any port."""
    http: bool
    """Plain http allowed (else https only)."""

    def shown(self) -> str:
        name = f"[{self.name}]" if ":" in self.name else self.name
        port = f":{self.port}" if self.port is not None else ""
        return f"{'http://' if self.http else ''}{name}{port}"


def parse_hosts(text: str) -> list[HostRule]:
    """``DFD_WEBHOOK_HOSTS`` as rules; ``SettingsError`` naming the entry it cannot read."""
    rules = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        match = _HOST_RULE.fullmatch(entry)
        port = int(match["port"]) if match and match["port"] else None
        if match is None or (port is not None and not 0 < port < 65536):
            raise SettingsError(
                f"DFD_WEBHOOK_HOSTS: cannot read {entry!r} (use name, name:port or "
                "http://name[:port], comma-separated)"
            )
        name = match["name"].lower().strip("[]")
        rules.append(HostRule(name, port, (match["scheme"] or "").lower() == "http"))
    return rules


def check_callback_url(url: str, service: ServiceSettings) -> str:
    """``url`` if webhooks may be sent to it under ``service``'s settings, else
    ``CallbackRefused`` saying why (naming the setting to change)."""
    rules = parse_hosts(service.webhook_hosts)
    if not rules:
        raise CallbackRefused(
            "This server sends no webhooks: callback_url needs the host to be listed in "
            "DFD_WEBHOOK_HOSTS, which is empty."
        )
    if not service.webhook_secret:
        raise CallbackRefused(
            "This server sends no webhooks: DFD_WEBHOOK_SECRET (the key that signs them) is "
            "not set."
        )
    if len(url) > MAX_URL_CHARS or any(not " " < ch <= "~" for ch in url):
        raise CallbackRefused(
            f"callback_url must be an absolute http(s) URL of at most {MAX_URL_CHARS} "
            "printable ASCII characters, without spaces."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise CallbackRefused("callback_url is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise CallbackRefused("callback_url must be an absolute https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("callback_url must not contain a user name or password.")
    if parts.fragment:
        raise CallbackRefused("callback_url must not have a #fragment.")
    host = parts.hostname.lower()
    effective = port if port is not None else (443 if scheme == "https" else 80)
    matching = [r for r in rules if r.name == host and r.port in (None, effective)]
    allowed = ", ".join(r.shown() for r in rules)
    if not matching:
        raise CallbackRefused(
            f"callback_url's host {host!r} is not one this server sends webhooks to "
            f"(DFD_WEBHOOK_HOSTS: {allowed})."
        )
    if scheme == "http" and not any(r.http for r in matching):
        raise CallbackRefused(
            f"callback_url must use https: plain http to {host!r} is not allowed "
            f"(DFD_WEBHOOK_HOSTS lists it as {matching[0].shown()}; http://{host} would allow "
            "it)."
        )
    return url


def shown_url(url: str) -> str:
    """The URL without its query string (which may carry the receiver's own secret)."""
    parts = urlsplit(url)
    return parts._replace(query="...").geturl() if parts.query else url


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-DFD-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def payload(webhook: Webhook, analysis: Analysis) -> bytes:
    """The JSON body sent for ``webhook`` of the finished ``analysis``."""
    body = {
        "event": EVENT,
        "delivery_id": webhook.id,
        "analysis_id": analysis.id,
        "status": analysis.status,
        "verdict": analysis.verdict,
        "fake_probability": analysis.fake_probability,
        "error": analysis.error,
        "finished_at": iso(analysis.finished_at),
        "links": webhook.links,
    }
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def public_json(webhook: Webhook) -> dict[str, Any]:
    """How a webhook shows in the analysis's API representation."""
    return {
        "id": webhook.id,
        "url": shown_url(webhook.url),
        "state": webhook.state,
        "attempts": webhook.attempts,
        "response_status": webhook.response_status,
        "error": webhook.error,
        "delivered_at": iso(webhook.delivered_at),
    }


@dataclass(frozen=True)
class Attempt:
    """How one try went: ``status`` (the HTTP answer, ``None`` without one) and whether it is
    worth trying again."""

    status: int | None
    error: str | None
    retry: bool

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send_once(url: str, body: bytes, secret: str, delivery_id: str, timeout_s: float) -> Attempt:
    """POST ``body`` to ``url`` once, signed; never raises."""
    import requests

    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"deepfake-detector/{__version__}",
        "X-DFD-Event": EVENT,
        "X-DFD-Delivery": delivery_id,
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    try:
        response = requests.post(
            url, data=body, headers=headers, timeout=(timeout_s, timeout_s), allow_redirects=False
        )
        response.close()
    except requests.RequestException as exc:  # no connection, timeout, broken answer
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:500], retry=True)
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(status, None, retry=False)
    retry = status >= 500 or status in RETRY_STATUSES
    return Attempt(status, f"the receiver answered {status}", retry=retry)


@dataclass
class _Delivery:
    webhook_id: str
    analysis_id: str
    url: str
    body: bytes
    attempts: int


class WebhookSender:
    """Sends the webhooks of one process's finished jobs in its own threads: a scheduler that
    keeps the retries in order of their due time, and a few sending threads."""

    def __init__(
        self,
        jobs: Any,
        service: ServiceSettings,
        *,
        threads: int = 4,
        send: Callable[[str, bytes, str, str, float], Attempt] = send_once,
    ) -> None:
        self.jobs = jobs
        self.service = service
        self._send = send
        self._due: list[tuple[float, int, _Delivery]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._schedule, name="webhooks", daemon=True)
        self._thread.start()

    @property
    def lease_s(self) -> float:
        """Long enough for every try of one webhook: the waits, a timeout per try, a margin."""
        s = self.service
        waits = sum(s.webhook_backoff_s * 2**i for i in range(max(0, s.webhook_retries)))
        return waits + (s.webhook_retries + 1) * 2 * s.webhook_timeout_s + LEASE_MARGIN_S

    def delay(self, attempts: int) -> float:
        """The wait before the next try after ``attempts`` tries."""
        return float(self.service.webhook_backoff_s * 2 ** max(0, attempts - 1))

    # -- taking work --------------------------------------------------------------------------

    def job_finished(self, analysis_id: str) -> None:
        """Send the webhooks of a job that just ended; returns at once (the database is read
        in a sending thread)."""
        self._submit(self.take, analysis_id)

    def take(self, analysis_id: str | None = None) -> int:
        """Take the due webhooks (of one analysis, or any whose sender died or whose analysis
        had ended when they were added) and schedule them now; returns how many."""
        if self._closed:
            return 0
        taken = self.jobs.take_webhooks(self.lease_s, analysis_id)
        for webhook, analysis in taken:
            delivery = _Delivery(
                webhook.id, analysis.id, webhook.url, payload(webhook, analysis), webhook.attempts
            )
            self._schedule_at(time.monotonic(), delivery)
        return len(taken)

    # -- sending ------------------------------------------------------------------------------

    def _submit(self, call: Callable[..., Any], *args: Any) -> None:
        def run() -> None:
            try:
                call(*args)
            except Exception:
                log.exception("webhook work failed")

        with contextlib.suppress(RuntimeError):  # shut down: nothing more is sent
            self._pool.submit(run)

    def _schedule_at(self, when: float, delivery: _Delivery) -> None:
        with self._wake:
            heapq.heappush(self._due, (when, next(self._order), delivery))
            self._wake.notify()

    def _schedule(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._due or self._due[0][0] > time.monotonic()):
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(wait)
                if self._closed:
                    return
                _, _, delivery = heapq.heappop(self._due)
            self._submit(self._attempt, delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        service = self.service
        try:
            check_callback_url(delivery.url, service)
        except CallbackRefused as exc:  # this worker's settings do not allow it (any more)
            self._record(delivery, Attempt(None, f"not sent: {exc}", retry=False))
            return
        delivery.attempts += 1
        result = self._send(
            delivery.url,
            delivery.body,
            service.webhook_secret,
            delivery.webhook_id,
            service.webhook_timeout_s,
        )
        self._record(delivery, result)

    def _record(self, delivery: _Delivery, result: Attempt) -> None:
        retry = result.retry and delivery.attempts <= self.service.webhook_retries
        if result.delivered:
            state = "delivered"
        elif retry:
            state = "delivering"
        else:
            state = "failed"
        self.jobs.webhook_attempted(
            delivery.webhook_id,
            attempts=delivery.attempts,
            state=state,
            response_status=result.status,
            error=result.error,
            lease_s=self.lease_s,
        )
        log.log(
            logging.INFO if state != "failed" else logging.WARNING,
            "webhook %s of analysis %s: try %d, %s (%s)",
            delivery.webhook_id,
            delivery.analysis_id,
            delivery.attempts,
            state if state != "delivering" else "to be retried",
            result.error or result.status,
        )
        if state == "delivering":
            self._schedule_at(time.monotonic() + self.delay(delivery.attempts), delivery)

    def close(self) -> None:
        """Stop sending; retries still waiting are taken over by another worker once their
        lease runs out."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

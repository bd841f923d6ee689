"""Rate limits per API token (or per client address without one), with Flask-Limiter.

- ``DFD_RATE_LIMIT_UPLOADS`` (default ``30/minute;500/day``): uploads, through the API
  (``POST /api/v1/analyses``) and the upload page (``POST /upload``) together.
- ``DFD_RATE_LIMIT_API`` (default ``600/minute``): every request, API calls, pages and
  ``/metrics`` alike, except static files, ``/api/v1/health`` and ``/api/v1/openapi.json``.

Each is a list of ``N/second|minute|hour|day`` separated by ``;``, counted over a moving window;
empty turns it off. Over a limit the answer is 429 ``too_many_requests`` (the documented error
shape, a page for the browser) with ``Retry-After`` in seconds.

Counts are kept in Redis when the job queue is Redis (``DFD_QUEUE_URL=redis://…``), shared by
every web process of every machine; otherwise in each process's memory, so with several web
processes (``serve --production``) each counts on its own and a client may get up to that many
times the limit. If Redis cannot be reached the requests are let through (and logged).

Requests without a token are counted by ``request.remote_addr``: behind a reverse proxy that is
the proxy's address, shared by every anonymous client. Requests that need no token because they
come straight from this machine to a loopback server (the embedded single-user case: a local
``submit`` of a whole archive) are not counted.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, request
from flask_limiter import Limit, Limiter, RateLimitExceeded
from limits import parse_many

from deepfake_detector.config import SettingsError
from deepfake_detector.service import auth
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.responses import error_response
from deepfake_detector.service.uploads import UPLOAD_ENDPOINTS

if TYPE_CHECKING:
    from deepfake_detector.config import ServiceSettings

log = logging.getLogger(__name__)

EXEMPT_ENDPOINTS = frozenset({"static", "api.health", "api.openapi"})
KEY_PREFIX = "dfd-ratelimit"
_EXTENSION = "deepfake_detector.limiter"


def rate_key() -> str:
    """Whose count a request adds to: its token's, else its client address's."""
    token = auth.current_token()
    if token is not None:
        return f"token:{token.id}"
    return f"ip:{request.remote_addr or 'unknown'}"


def storage_uri(queue_url: str) -> str:
    """Redis (the queue's own server, under its own keys) when the queue is Redis, else memory."""
    return queue_url if queue_url.startswith("redis") else "memory://"


def _checked(variable: str, value: str) -> str:
    try:
        parse_many(value) if value.strip() else None
    except ValueError as exc:
        raise SettingsError(
            f"{variable}={value!r} is not a rate limit list such as '30/minute;500/day': {exc}"
        ) from None
    return value.strip()


def check_settings(settings: ServiceSettings) -> None:
    """Raise ``SettingsError`` (naming the variable) for a rate limit that cannot be parsed, so that
    ``serve`` refuses to start with one line instead of failing on its first request."""
    _checked("DFD_RATE_LIMIT_UPLOADS", settings.rate_limit_uploads)
    _checked("DFD_RATE_LIMIT_API", settings.rate_limit_api)


def _local_and_anonymous() -> bool:
    """The embedded single-user case: no token, straight from this machine, where none is
    needed (``serve`` on 127.0.0.1, a local ``submit`` of a whole archive): not counted."""
    return auth.current_token() is None and not auth.needs_token() and auth.is_local_request()


def _not_an_upload() -> bool:
    return request.endpoint not in UPLOAD_ENDPOINTS or _local_and_anonymous()


def _exempt() -> bool:
    return request.endpoint in EXEMPT_ENDPOINTS or _local_and_anonymous()


def init_app(app: Flask) -> Limiter:
    """Count requests from the app's first ``before_request`` hooks on (before authentication
    refuses anything, so bad tokens are counted against their address too)."""
    settings = app.extensions[EXTENSION_KEY].settings
    uploads = _checked("DFD_RATE_LIMIT_UPLOADS", settings.rate_limit_uploads)
    api = _checked("DFD_RATE_LIMIT_API", settings.rate_limit_api)
    limiter = Limiter(
        rate_key,
        default_limits=[
            Limit(uploads, scope="uploads", shared=True, exempt_when=_not_an_upload),
            Limit(api, scope="requests", shared=True, exempt_when=_exempt),
        ],
        storage_uri=storage_uri(settings.resolved_queue_url()),
        strategy="moving-window",
        key_prefix=KEY_PREFIX,
        headers_enabled=False,  # Retry-After is written by the 429 handler below
        swallow_errors=True,  # storage down: let requests through rather than fail them
    )
    limiter.init_app(app)
    app.extensions[_EXTENSION] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        current = limiter.current_limit  # the limit that was hit
        reset_at = current.window.reset_time if current is not None else time.time() + 60
        retry_after = max(1, math.ceil(reset_at - time.time()))
        what = "uploads" if request.endpoint in UPLOAD_ENDPOINTS else "requests"
        who = "this token" if auth.current_token() is not None else "this address"
        response = error_response(
            429,
            "too_many_requests",
            f"Too many {what}: {who} may make at most {exc.limit.limit}. "
            f"Try again in {retry_after} s.",
        )
        response.headers["Retry-After"] = str(retry_after)
        return response

    return limiter


def limiter_of(app: Flask) -> Limiter:
    """The app's limiter (tests reset or inspect it)."""
    return app.extensions[_EXTENSION]  # type: ignore[no-any-return]

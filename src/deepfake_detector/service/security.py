"""Safe defaults for every response and every state-changing request.

- CSRF: pages carry a per-session token (in the signed session cookie); every form POST and
  every script-sent POST/DELETE from our pages must echo it (form field ``csrf_token`` or header
  ``X-CSRF-Token``).
- The REST API authenticates programs by a Bearer token, never by a cookie; only our own pages'
  scripts reach it through the signed-in session, and their unsafe requests must carry the CSRF
  token (``auth.py``). Unsafe API requests that a browser marks as cross-site
  (``Sec-Fetch-Site`` or a foreign ``Origin``) are refused too, so another site cannot make a
  visitor's browser upload or delete.
- Headers: a Content-Security-Policy without inline scripts or styles, ``frame-ancestors
  'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``.
- The secret key is never hard-coded: from the environment, else random and kept in the data
  folder with mode 0600.
- Host allow-list (``DFD_ALLOWED_HOSTS``): a request whose ``Host`` the server does not answer to
  is refused (400 ``bad_host``) before anything else runs. A DNS-rebinding page (its own name
  made to resolve to 127.0.0.1) then reaches nothing, since its requests carry its own name.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, request, session

from deepfake_detector.config import ServiceSettings, SettingsError

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class CSRFError(Exception):
    """A state-changing request came without the page's token."""


# -- Host allow-list ----------------------------------------------------------------------------

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
"""What a server bound to a loopback address answers to by default (with any port)."""

_HOST = re.compile(
    r"(?P<name>[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?", re.ASCII | re.IGNORECASE
)


class BadHost(Exception):
    """The request's ``Host`` is not one this server answers to."""


class HostsNotConfigured(SettingsError):
    """A non-loopback address without ``DFD_ALLOWED_HOSTS``."""


def is_loopback(host: str) -> bool:
    """Whether a listening address (or host name) is only reachable from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: ServiceSettings) -> tuple[str, ...]:
    """The normalised ``DFD_ALLOWED_HOSTS`` entries, or the loopback names by default.

    Raises ``HostsNotConfigured`` when the server listens on a non-loopback address and the
    list is empty: which names reach it (a DNS name, a proxy's) cannot be guessed safely."""
    entries = tuple(_normalise(e) for e in settings.allowed_hosts.split(",") if e.strip())
    if entries:
        return entries
    if is_loopback(settings.host):
        return LOOPBACK_NAMES
    raise HostsNotConfigured(
        f"DFD_ALLOWED_HOSTS must be set when listening on {settings.host!r} (not a loopback "
        "address): the host names clients use to reach this server, comma-separated (e.g. "
        "DFD_ALLOWED_HOSTS=detector.example.org,192.0.2.10), or * to accept any (not "
        "recommended: it allows DNS-rebinding attacks)."
    )


def _normalise(entry: str) -> str:
    entry = entry.strip().lower()
    if entry.count(":") > 1 and not entry.startswith("["):  # a bare IPv6 address
        entry = f"[{entry}]"
    return entry


def _split(host: str) -> tuple[str, str | None] | None:
    match = _HOST.fullmatch(host)
    if match is None:
        return None
    return match["name"].lower().rstrip("."), match["port"]


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether a ``Host`` value (``name``, ``name:port``, ``[v6]:port``) matches an entry:
    ``*``; a name (any port); ``name:port``; ``.example.com`` (it and its subdomains).

    Not Flask's ``TRUSTED_HOSTS`` / Werkzeug's ``host_is_trusted``: they neither match a
    bracketed IPv6 host (``[::1]:3000`` against ``[::1]``, one of the loopback defaults) nor
    take ``name:port`` entries, and they check only when ``request.host`` is first read."""
    if "*" in allowed:
        return True
    parts = _split(host)
    if parts is None:
        return False
    name, port = parts
    for entry in allowed:
        suffix = entry.startswith(".")
        wanted = _split(entry[1:] if suffix else entry)
        if wanted is None:
            continue
        wanted_name, wanted_port = wanted
        if wanted_port is not None and wanted_port != port:
            continue
        if name == wanted_name or (suffix and name.endswith("." + wanted_name)):
            return True
    return False


def init_host_check(app: Flask, allowed: Sequence[str]) -> None:
    """Refuse requests for other host names, as the very first ``before_request`` hook (before
    CSRF, the API's origin check and anything registered later)."""
    allowed = tuple(allowed)

    def check_host() -> None:
        host = request.environ.get("HTTP_HOST")
        if host is None:  # HTTP/1.0 without Host: not a browser, so not a rebinding page
            return
        if not host_allowed(host, allowed):
            shown = host if len(host) <= 100 else host[:100] + "…"
            raise BadHost(
                f"This server does not answer to the host name {shown!r} "
                "(DFD_ALLOWED_HOSTS lists the names it answers to)."
            )

    app.before_request_funcs.setdefault(None, []).insert(0, check_host)


def csrf_token() -> str:
    """This session's token, created on first use (templates call it for forms and meta tags)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def check_csrf() -> None:
    """Raise ``CSRFError`` unless an unsafe request carries this session's token."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise CSRFError("This form has expired or did not come from this site. Reload the page.")


def check_same_origin() -> None:
    """Refuse unsafe requests that a browser says came from another site."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CSRFError("Cross-site requests are not accepted.")
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.host:
            raise CSRFError("Cross-origin requests are not accepted.")
    elif origin == "null":
        raise CSRFError("Requests from an opaque origin are not accepted.")


def set_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response


def load_secret_key(configured: str, data_dir: str | os.PathLike[str]) -> str:
    """The configured key, else one generated once and kept in ``<data_dir>/secret_key``."""
    if configured:
        return configured
    path = Path(data_dir) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(20):  # another process may be writing it right now
            key = path.read_text().strip()
            if len(key) >= 32:
                return key
            time.sleep(0.05)
        raise RuntimeError(f"{path} is too short to be a secret key; delete it") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as out:
        out.write(key)
    return key


def init_security(app: Flask) -> None:
    """Install the header hook and the template helper."""
    app.after_request(set_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="dfd_session",
    )

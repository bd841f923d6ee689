"""Safe defaults for every response and every state-changing request.

- CSRF: pages carry a per-session token (in the signed session cookie); every form POST and
  every script-sent POST/DELETE from our pages must echo it (form field ``csrf_token`` or header
  ``X-CSRF-Token``).
- The REST API uses no cookies, so a forged cross-site request gains nothing from the session;
  still, unsafe API requests that a browser marks as cross-site (``Sec-Fetch-Site`` or a foreign
  ``Origin``) are refused, so another site cannot make a visitor's browser upload or delete.
- Headers: a Content-Security-Policy without inline scripts or styles, ``frame-ancestors
  'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``.
- The secret key is never hard-coded: from the environment, else random and kept in the data
  folder with mode 0600.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, request, session

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

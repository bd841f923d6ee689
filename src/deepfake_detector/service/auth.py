"""API tokens, and who may do what with them.

- **Tokens** (``deepfake-detector tokens create``): ``dfd_`` and 43 URL-safe characters (256 random
  bits). Only their sha256 is stored, with a display prefix (the first 12 characters, ``dfd_`` and
  8 more, unique, used to find the row), a name, a scope (read-write or read-only) and times
  (created, last used, revoked). A presented token is found by its prefix and its hash compared in
  constant time; a revoked token is refused at once, also in a browser session made with it.
- **Modes** (``DFD_AUTH``), in every one of which a token that is sent is checked (a bad or
  revoked one is a 401):

  - ``required``: every request needs a token. Always so when the server listens on a
    non-loopback address, whatever ``DFD_AUTH`` says.
  - unset, on a loopback address (``local``): requests straight from this machine need none;
    requests from another address, or carrying a reverse proxy's forwarding header
    (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``), do. So an app made reachable from
    elsewhere anyway (a proxy in front, gunicorn bound by hand) is not left open.
  - ``optional``, on a loopback address: no request needs one (e.g. behind a proxy that
    authenticates people itself).
- **API**: ``Authorization: Bearer <token>``; missing or invalid → 401 ``unauthorized`` with
  ``WWW-Authenticate: Bearer``. A read-only token can read but not upload or delete (403
  ``forbidden``).
- **Pages**: ``/login`` takes a token in a CSRF-protected form and keeps its id in the signed
  session cookie (``/logout`` forgets it); when a token is required, pages redirect there. The
  pages' own scripts then read the API with that session (polling, images, the video); an unsafe
  API request authenticated by the session (not by a Bearer header) must carry the page's CSRF
  token, like the forms.
- **Open in every mode**: static files, ``/api/v1/health`` (without the job counts and the queue's
  address for a caller without a token that would need one), ``/api/v1/openapi.json`` and the
  sign-in pages. ``/metrics`` is like any other request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from deepfake_detector.config import ServiceSettings, SettingsError
from deepfake_detector.service.context import EXTENSION_KEY, service
from deepfake_detector.service.db import Token, utcnow
from deepfake_detector.service.jobstore import JobStore
from deepfake_detector.service.responses import error_response, wants_json
from deepfake_detector.service.security import (
    CSRF_FIELD,
    UNSAFE_METHODS,
    check_csrf,
    is_loopback,
)

log = logging.getLogger(__name__)

TOKEN_PREFIX = "dfd_"
PREFIX_LENGTH = 12
"""Characters of a token shown in lists and stored in clear: ``dfd_`` and 8 of the secret."""
SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 200
MAX_NAME_LENGTH = 100
AUTH_MODES = ("required", "optional")
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
"""Headers a reverse proxy adds: a request carrying one did not start on this machine."""
SESSION_KEY = "dfd_token_id"
TOUCH_EVERY = timedelta(seconds=60)
"""``last_used_at`` is written at most this often per token (not on every request)."""
OPEN_ENDPOINTS = frozenset(
    {
        "static",
        "api.health",
        "api.openapi",
        "web.api_docs",
        "web.api_docs_asset",
        "auth.login",
        "auth.logout",
    }
)
"""Reachable without a token in every mode (the API's description is public; using it is not)."""
REALM = 'Bearer realm="deepfake-detector"'
_EXTENSION = "deepfake_detector.auth"
_CALLER = "dfd_caller"

bp = Blueprint("auth", __name__)


# -- tokens -------------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    """sha256 (hex) of a whole token: enough for 256 random bits (no salt or slow hash needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    secret: str
    """The token itself: shown once, never stored."""
    token: Token


def clean_name(name: str) -> str:
    """A token's name, single-line, at most 100 characters (raises ``ValueError`` if longer)."""
    cleaned = "".join(ch for ch in " ".join(name.split()) if ch.isprintable())
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ValueError(f"a token's name has at most {MAX_NAME_LENGTH} characters")
    return cleaned


def create_token(jobs: JobStore, name: str = "", read_only: bool = False) -> NewToken:
    """A new random token, stored as its hash; the secret is in the result and nowhere else."""
    name = clean_name(name)
    for _ in range(5):  # a prefix taken already (48 random bits): draw again
        secret = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        try:
            token = jobs.add_token(secret[:PREFIX_LENGTH], hash_secret(secret), name, read_only)
        except IntegrityError:
            continue
        return NewToken(secret, token)
    raise RuntimeError("could not draw a token with an unused prefix")


def verify(jobs: JobStore, presented: str) -> Token | None:
    """The live token ``presented`` is, or ``None`` (malformed, unknown, wrong or revoked)."""
    presented = presented.strip()
    if (
        not presented.startswith(TOKEN_PREFIX)
        or not PREFIX_LENGTH < len(presented) <= MAX_TOKEN_LENGTH
    ):
        return None
    token = jobs.token_by_prefix(presented[:PREFIX_LENGTH])
    digest = hash_secret(presented)
    if token is None:
        hmac.compare_digest(digest, digest)  # about the same time as a wrong secret
        return None
    if not hmac.compare_digest(token.secret_hash, digest) or token.revoked_at is not None:
        return None
    return token


def find_token(jobs: JobStore, ref: str) -> Token | None:
    """The token a person names: its id (32 hex digits), its prefix (as ``tokens list`` shows
    it, with or without the ellipsis) or the whole token."""
    ref = ref.strip().rstrip("…").rstrip(".")
    if ref.startswith(TOKEN_PREFIX):
        return jobs.token_by_prefix(ref[:PREFIX_LENGTH]) if len(ref) >= PREFIX_LENGTH else None
    if len(ref) == 32 and all(c in "0123456789abcdef" for c in ref.lower()):
        return jobs.token(ref.lower())
    return None


# -- the mode -----------------------------------------------------------------------------------


def auth_mode(settings: ServiceSettings) -> str:
    """``required``, ``optional`` or ``local`` (see the module's docstring). Raises
    ``ValueError`` for a ``DFD_AUTH`` other than ``required``, ``optional`` or empty."""
    mode = settings.auth.strip().lower()
    if mode and mode not in AUTH_MODES:
        raise SettingsError(f"DFD_AUTH must be 'required' or 'optional' (or unset), not {mode!r}")
    if mode == "required" or not is_loopback(settings.host):
        return "required"
    return mode or "local"


def auth_required(settings: ServiceSettings) -> bool:
    """Whether every request (but the open ones) needs a token."""
    return auth_mode(settings) == "required"


def is_local_request() -> bool:
    """Whether the request comes straight from this machine: a loopback client address and no
    reverse proxy's forwarding header."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    return is_loopback(request.remote_addr or "")


def needs_token() -> bool:
    """Whether this request must come with a token: always when tokens are required; never
    with ``DFD_AUTH=optional``; by default on loopback, unless it comes straight from this
    machine (so an app that is reachable from elsewhere anyway, through a reverse proxy or
    bound by hand to another address, is not left open)."""
    mode = current_app.extensions[_EXTENSION]
    if mode == "required":
        return True
    return mode == "local" and not is_local_request()


# -- the caller ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who made the current request."""

    token: Token | None = None
    via: str = ""
    """``bearer`` (the Authorization header), ``session`` (signed in on /login) or empty."""
    refused: bool = False
    """A Bearer token was sent and is not valid."""


def caller() -> Caller:
    """The current request's caller, worked out once per request (the rate limiter asks first)."""
    found = g.get(_CALLER)
    if found is None:
        found = _identify()
        setattr(g, _CALLER, found)
    return found  # type: ignore[no-any-return]


def current_token() -> Token | None:
    return caller().token


def current_token_id() -> str | None:
    """The id of the token the current request came with; ``None`` without one (or outside a
    request)."""
    if not has_request_context():
        return None
    token = caller().token
    return None if token is None else token.id


def may_see_details() -> bool:
    """Whether the caller may see operational details in the open health check (job counts,
    the queue's address): with a token, or where no token is needed."""
    return caller().token is not None or not needs_token()


def _identify() -> Caller:
    jobs = service().backends.jobs
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        token = verify(jobs, credentials)
        if token is None:
            return Caller(via="bearer", refused=True)
        _touch(jobs, token)
        return Caller(token, "bearer")
    token_id = session.get(SESSION_KEY)
    if isinstance(token_id, str):
        token = jobs.token(token_id)
        if token is None or token.revoked_at is not None:  # revoked since signing in
            session.pop(SESSION_KEY, None)
            return Caller()
        _touch(jobs, token)
        return Caller(token, "session")
    return Caller()


def _touch(jobs: JobStore, token: Token) -> None:
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    try:
        jobs.touch_token(token.id, now, now - TOUCH_EVERY)
    except Exception:  # a busy database must not refuse the request: it is only a record
        log.exception("could not record the use of token %s", token.prefix)


# -- the check before every request -------------------------------------------------------------


def _unauthorized(message: str, *, invalid: bool) -> Response:
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = REALM + (', error="invalid_token"' if invalid else "")
    return response


def _here() -> str:
    return request.full_path.rstrip("?") if request.method == "GET" else "/"


def _check_request() -> Response | None:
    """Refuse what the caller may not do (see the module's docstring)."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    who = caller()
    if who.refused:
        return _unauthorized(
            "The API token is not valid: unknown, mistyped or revoked.", invalid=True
        )
    if who.token is None:
        if not needs_token():
            return None
        if not wants_json():
            code = 302 if request.method == "GET" else 303
            return redirect(url_for("auth.login", next=_here()), code=code)
        return _unauthorized(
            "An API token is required: send it as 'Authorization: Bearer <token>' (the "
            "server's administrator creates one with `deepfake-detector tokens create`).",
            invalid=False,
        )
    if request.method in UNSAFE_METHODS:
        if who.token.read_only:
            return error_response(
                403,
                "forbidden",
                "This is a read-only token: it can read analyses but not upload or delete.",
            )
        if who.via == "session" and request.blueprint == "api":
            check_csrf()  # the page's scripts send it; a forged request cannot
    return None


# -- sign-in pages ------------------------------------------------------------------------------


@bp.before_request
def _csrf() -> None:
    check_csrf()


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another site's URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.upload_page")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("web.upload_page")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = _safe_next(request.values.get("next"))
    if request.method == "POST":
        token = verify(service().backends.jobs, request.form.get("token", ""))
        if token is None:
            page = render_template(
                "login.html",
                next=target,
                required=needs_token(),
                error="That token is not valid: unknown, mistyped or revoked.",
            )
            return page, 401
        session.pop(CSRF_FIELD, None)  # a new CSRF token for the signed-in session
        session[SESSION_KEY] = token.id
        named = f" ({token.name})" if token.name else ""
        flash(f"Signed in with the token {token.prefix}…{named}.")
        return redirect(target, code=303)
    return render_template(
        "login.html", next=target, required=needs_token(), signed_in=current_token()
    )


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    if request.method == "GET":  # signing out changes state: only the form (POST) does it
        return redirect(url_for("auth.login"))
    session.pop(SESSION_KEY, None)
    session.pop(CSRF_FIELD, None)
    flash("Signed out.")
    return redirect(url_for("auth.login"), code=303)


def init_app(app: Flask) -> None:
    """Check every request (app-level ``before_request``, so before the blueprints' own hooks)
    and add the sign-in pages."""
    settings = app.extensions[EXTENSION_KEY].settings
    if auth_required(settings) and settings.auth.strip().lower() == "optional":
        log.warning(
            "DFD_AUTH=optional is ignored: the server listens on %s, not a loopback address, "
            "so every request needs an API token",
            settings.host,
        )
    app.extensions[_EXTENSION] = auth_mode(settings)
    app.before_request(_check_request)
    app.context_processor(_nav_context)
    app.register_blueprint(bp)


def _nav_context() -> dict[str, Any]:
    """What the pages' header shows: the signed-in token (a link to sign out), else a "Sign in"
    link where tokens are in use (required or optional). Nothing for the embedded single user
    on this machine, who never needs one."""
    if not has_request_context() or request.blueprint == "auth":
        return {"nav_token": None, "nav_sign_in": False}
    token = current_token() if caller().via == "session" else None
    in_use = current_app.extensions[_EXTENSION] != "local" or needs_token()
    return {"nav_token": token, "nav_sign_in": token is None and in_use}

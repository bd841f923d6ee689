"""The Flask application factory: configuration from the environment, blueprints, error pages.

``create_app()`` never starts a job consumer: ``serve`` (or ``worker``) does, so web processes
(e.g. several gunicorn workers) only enqueue and never run the model.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from deepfake_detector.config import (
    AnalysisSettings,
    ServiceSettings,
    service_settings_from_env,
    settings_from_env,
)
from deepfake_detector.service import api, auth, limits, metrics, web
from deepfake_detector.service import options as request_options
from deepfake_detector.service.backends import connect
from deepfake_detector.service.context import EXTENSION_KEY, ServiceContext
from deepfake_detector.service.responses import error_response, json_error, wants_json
from deepfake_detector.service.security import (
    BadHost,
    CSRFError,
    allowed_hosts,
    init_host_check,
    init_security,
    load_secret_key,
)
from deepfake_detector.service.settings_key import settings_key
from deepfake_detector.service.uploads import (
    UPLOAD_ENDPOINTS,
    UploadError,
    check_free_space,
    storage_error,
)

log = logging.getLogger(__name__)

_MULTIPART_SLACK = 1 << 16
"""Room above the file size limit for multipart headers, so the exact limit is checked (with a
clear message) on the file bytes themselves."""


def create_app(
    settings: ServiceSettings | None = None,
    analysis_settings: AnalysisSettings | None = None,
    *,
    migrate: bool = True,
) -> Flask:
    """Build the web application. Settings default to the ``DFD_*`` environment. ``migrate``
    brings the database schema up to date (idempotent; ``serve --production`` does it once
    before its web processes start and passes ``False``)."""
    settings = settings or service_settings_from_env()
    analysis_settings = analysis_settings or settings_from_env()
    hosts = allowed_hosts(settings)  # raises HostsNotConfigured: refuse to start without a list
    request_options.check_settings(settings, analysis_settings)  # upload options, webhook hosts
    app = Flask(__name__)
    init_host_check(app, hosts)  # the first before_request hook: nothing runs for other hosts
    app.config.update(
        SECRET_KEY=load_secret_key(settings.secret_key, settings.data_dir),
        MAX_CONTENT_LENGTH=settings.upload_max_bytes + _MULTIPART_SLACK,
        TEMPLATES_AUTO_RELOAD=settings.environment == "development",
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app.extensions[EXTENSION_KEY] = ServiceContext(
        settings=settings,
        analysis_settings=analysis_settings,
        settings_key=settings_key(analysis_settings),
        backends=connect(settings, migrate=migrate),
    )
    init_security(app)
    limits.init_app(app)  # counts first: requests refused by auth are counted too
    auth.init_app(app)  # tokens, sign-in pages, read-only scope
    web.init_template_helpers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(metrics.bp)
    _register_upload_guards(app)
    _register_error_handlers(app)
    return app


STORAGE_RETRY_AFTER_S = 60
"""``Retry-After`` of a 503 ``storage_unavailable`` answer to an upload."""


def _register_upload_guards(app: Flask) -> None:
    """Refuse an upload at once (507) when its declared size would not fit on the storage
    disk, before its body is read: after the blueprints' own checks (CSRF, origin), so these
    hooks are added to theirs rather than the app's."""
    from deepfake_detector.service.context import service

    def check_space() -> None:
        if request.endpoint not in UPLOAD_ENDPOINTS:
            return
        declared = request.content_length or 0
        if declared > (app.config["MAX_CONTENT_LENGTH"] or declared):
            return  # refused as too large (413) when read: that message is the useful one
        ctx = service()
        check_free_space(ctx.backends, ctx.settings, declared)

    for blueprint in ("api", "web"):
        app.before_request_funcs.setdefault(blueprint, []).append(check_space)

    @app.after_request
    def _retry_after(response: Response) -> Response:
        if response.status_code == 503 and request.endpoint in UPLOAD_ENDPOINTS:
            response.headers.setdefault("Retry-After", str(STORAGE_RETRY_AFTER_S))
        return response


_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "file_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
}


def _register_error_handlers(app: Flask) -> None:
    from deepfake_detector.service.context import service

    @app.errorhandler(BadHost)
    def _bad_host(exc: BadHost) -> Response:
        if wants_json():
            return json_error(400, "bad_host", str(exc))
        # A bare page: no template, no session, nothing of the site for a foreign host name.
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>400 Bad host</title></head><body><h1>Bad host</h1>"
            f"<p>{html.escape(str(exc))}</p></body></html>"
        )
        return Response(page, status=400, mimetype="text/html")

    @app.errorhandler(api.ApiError)
    def _api_error(exc: api.ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(UploadError)
    def _upload_error(exc: UploadError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Response:
        return error_response(403, "csrf_failed", str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Response:
        limit = service().settings.upload_max_mb
        return error_response(
            413, "file_too_large", f"The file is larger than the {limit:g} MB limit."
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        # Keep the exception's own headers (Allow on a 405, Retry-After, WWW-Authenticate…).
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(
            status, _CODES.get(status, "http_error"), exc.description or exc.name, headers
        )

    @app.errorhandler(OSError)
    def _os_error(exc: OSError) -> Response:
        """A full or read-only disk anywhere (e.g. the request parser's temporary files) is
        answered as such (507 / 503), not as a generic 500."""
        mapped = storage_error(exc, anywhere=True)
        if mapped is None:
            return _internal(exc)
        log.error("storage error on %s %s: %s", request.method, request.path, exc)
        return error_response(mapped.status, mapped.code, mapped.message)

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on the server.")

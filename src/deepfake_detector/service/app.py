"""The Flask application factory: configuration from the environment, blueprints, error pages.

``create_app()`` never starts a job consumer: ``serve`` (or ``worker``) does, so web processes
(e.g. several gunicorn workers) only enqueue and never run the model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from deepfake_detector.config import (
    AnalysisSettings,
    ServiceSettings,
    service_settings_from_env,
    settings_from_env,
)
from deepfake_detector.service import api, metrics, web
from deepfake_detector.service.backends import connect
from deepfake_detector.service.context import EXTENSION_KEY, ServiceContext
from deepfake_detector.service.security import CSRFError, init_security, load_secret_key
from deepfake_detector.service.settings_key import settings_key
from deepfake_detector.service.uploads import UploadError

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
    app = Flask(__name__)
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
    web.init_template_helpers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(metrics.bp)
    _register_error_handlers(app)
    return app


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _error(status: int, code: str, message: str) -> Response | tuple[Any, int]:
    if _wants_json():
        return api.error_response(status, code, message)
    return render_template("error.html", status=status, message=message), status


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

    @app.errorhandler(api.ApiError)
    def _api_error(exc: api.ApiError) -> Response | tuple[Any, int]:
        return _error(exc.status, exc.code, exc.message)

    @app.errorhandler(UploadError)
    def _upload_error(exc: UploadError) -> Response | tuple[Any, int]:
        return _error(exc.status, exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Response | tuple[Any, int]:
        return _error(403, "csrf_failed", str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Response | tuple[Any, int]:
        limit = service().settings.upload_max_mb
        return _error(413, "file_too_large", f"The file is larger than the {limit:g} MB limit.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | tuple[Any, int]:
        status = exc.code or 500
        return _error(status, _CODES.get(status, "http_error"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Response | tuple[Any, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal_error", "Something went wrong on the server.")

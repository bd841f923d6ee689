"""REST API ``/api/v1``: create, read, list and delete analyses; health; the OpenAPI document.

Every error is ``{"error": {"code", "message", "status"}}`` (see ``app.py``'s handlers).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from deepfake_detector import __version__
from deepfake_detector.service import auth
from deepfake_detector.service.blobs import BadKey
from deepfake_detector.service.context import ServiceContext, service
from deepfake_detector.service.db import Analysis, JobStatus, Video, iso, utcnow
from deepfake_detector.service.jobstore import (
    HEATMAPS_FAILED,
    HEATMAPS_NONE,
    HEATMAPS_PENDING,
    HEATMAPS_READY,
)
from deepfake_detector.service.openapi import SORT_KEYS, openapi_document
from deepfake_detector.service.queue import redact
from deepfake_detector.service.security import check_same_origin
from deepfake_detector.service.uploads import UploadError, accept_file_field

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    """An error answered as JSON with a stable ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.before_request
def _refuse_cross_site() -> None:
    check_same_origin()


# -- representations ----------------------------------------------------------------------------


def links(analysis: Analysis) -> dict[str, Any]:
    evidence = url_for("api.evidence", analysis_id=analysis.id, path="x")[:-1]
    return {
        "self": url_for("api.get_analysis", analysis_id=analysis.id),
        "page": url_for("web.analysis_page", analysis_id=analysis.id),
        "video": url_for("api.video", analysis_id=analysis.id),
        "report": url_for("api.report", analysis_id=analysis.id),
        "evidence": evidence,
        "thumbnail": evidence + analysis.thumbnail if analysis.thumbnail else None,
    }


def _progress(analysis: Analysis) -> dict[str, Any]:
    return {"stage": analysis.stage, "percent": round(100.0 * (analysis.progress or 0.0), 1)}


def _file(analysis: Analysis, video: Video) -> dict[str, Any]:
    return {
        "name": analysis.original_name,
        "sha256": video.sha256,
        "size_bytes": video.size_bytes,
        "content_type": video.content_type,
    }


def summary_json(analysis: Analysis, video: Video) -> dict[str, Any]:
    return {
        "id": analysis.id,
        "status": analysis.status,
        "progress": _progress(analysis),
        "created_at": iso(analysis.created_at),
        "file": _file(analysis, video),
        "verdict": analysis.verdict,
        "fake_probability": analysis.fake_probability,
        "created_by": analysis.created_by,
        "links": links(analysis),
    }


def analysis_json(analysis: Analysis, video: Video) -> dict[str, Any]:
    """The full representation (the same the web page renders from)."""
    return {
        "id": analysis.id,
        "status": analysis.status,
        "progress": _progress(analysis),
        "created_at": iso(analysis.created_at),
        "started_at": iso(analysis.started_at),
        "finished_at": iso(analysis.finished_at),
        "file": _file(analysis, video),
        "verdict": analysis.verdict,
        "fake_probability": analysis.fake_probability,
        "error": analysis.error,
        "result": analysis.result,
        "heatmaps": dict((analysis.artifacts or {}).get("heatmaps") or {}),
        "heatmaps_state": heatmaps_state(analysis),
        "files_removed_at": (analysis.artifacts or {}).get("files_removed_at"),
        "created_by": analysis.created_by,
        "links": links(analysis),
    }


def report_json(analysis: Analysis, video: Video) -> dict[str, Any]:
    """The downloadable report: the result, named by its upload, plus what it is a report of
    (which file, which analysis, when, by which release), so that it stands on its own."""
    report = dict(analysis.result or {})
    report["path"] = analysis.original_name or report.get("path", "")
    report["report"] = {
        "analysis_id": analysis.id,
        "file": _file(analysis, video),
        "created_at": iso(analysis.created_at),
        "started_at": iso(analysis.started_at),
        "finished_at": iso(analysis.finished_at),
        "app_version": __version__,
        "url": url_for("web.analysis_page", analysis_id=analysis.id, _external=True),
    }
    return report


HEATMAPS_WAIT_S = 600.0
"""A finished analysis's heatmaps still not recorded after this long will not come (the worker
drawing them died): ``heatmaps_state`` says ``failed`` so that pages stop waiting."""


def heatmaps_state(analysis: Analysis) -> str:
    """``pending`` | ``ready`` | ``failed`` | ``none`` (see the OpenAPI description)."""
    artifacts = analysis.artifacts or {}
    if analysis.status != JobStatus.DONE.value or artifacts.get("files_removed_at"):
        return HEATMAPS_NONE
    state = artifacts.get("heatmaps_state")
    if state is None:  # finished before heatmaps were drawn after the verdict
        return HEATMAPS_READY if artifacts.get("heatmaps") else HEATMAPS_NONE
    finished = analysis.finished_at
    waited = (utcnow() - finished).total_seconds() if finished is not None else 0.0
    if state == HEATMAPS_PENDING and waited > HEATMAPS_WAIT_S:
        return HEATMAPS_FAILED
    return str(state)


def _found(ctx: ServiceContext, analysis_id: str) -> tuple[Analysis, Video]:
    found = ctx.backends.jobs.get(analysis_id) if _valid_id(analysis_id) else None
    if found is None:
        raise ApiError(404, "not_found", "No analysis with this id.")
    return found


def _valid_id(analysis_id: str) -> bool:
    return len(analysis_id) == 32 and all(c in "0123456789abcdef" for c in analysis_id)


# -- endpoints ----------------------------------------------------------------------------------


@bp.post("/analyses")
def create_analysis() -> Response:
    ctx = service()
    upload = request.files.get("file")
    try:
        accepted = accept_file_field(upload, ctx)
    except UploadError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    body = analysis_json(accepted.analysis, accepted.video)
    body["deduplicated"] = accepted.deduplicated
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["links"]["self"]
    return response


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer.") from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {lo} and {hi}.")
    return value


def paging_args() -> tuple[int, int, str]:
    """``page``, ``per_page`` and ``sort`` from the query string, validated."""
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", 20, 1, 100)
    sort = request.args.get("sort", "-created_at")
    if sort.lstrip("-") not in SORT_KEYS or sort.count("-") > 1:
        allowed = ", ".join(SORT_KEYS)
        raise ApiError(400, "invalid_parameter", f"sort must be one of {allowed} (- for desc).")
    return page, per_page, sort


LIST_PARAMETERS = (
    "page",
    "per_page",
    "sort",
    "status",
    "verdict",
    "sha256",
    "settings",
    "created_after",
    "q",
)
MAX_QUERY_CHARS = 200
VERDICTS = ("REAL", "FAKE", "INCONCLUSIVE", "ERROR")


def filter_args(ctx: ServiceContext) -> dict[str, Any]:
    """The list's filters from the query string, validated; unknown parameters are refused so
    that a misspelt filter never silently returns everything."""
    unknown = sorted(set(request.args) - set(LIST_PARAMETERS))
    if unknown:
        allowed = ", ".join(LIST_PARAMETERS)
        raise ApiError(
            400, "invalid_parameter", f"Unknown parameter {unknown[0]!r} (allowed: {allowed})."
        )
    filters: dict[str, Any] = {}
    if "status" in request.args:
        try:
            filters["status"] = JobStatus(request.args["status"])
        except ValueError:
            allowed = ", ".join(s.value for s in JobStatus)
            raise ApiError(400, "invalid_parameter", f"status must be one of {allowed}.") from None
    if "verdict" in request.args:
        verdict = request.args["verdict"].upper()
        if verdict not in VERDICTS:
            allowed = ", ".join(VERDICTS)
            raise ApiError(400, "invalid_parameter", f"verdict must be one of {allowed}.")
        filters["verdict"] = verdict
    if "sha256" in request.args:
        digest = request.args["sha256"].lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ApiError(400, "invalid_parameter", "sha256 must be 64 hexadecimal digits.")
        filters["sha256"] = digest
    if "settings" in request.args:
        if request.args["settings"] != "current":
            raise ApiError(400, "invalid_parameter", "settings can only be 'current'.")
        filters["settings_key"] = ctx.settings_key
    if "created_after" in request.args:
        filters["created_after"] = _timestamp_arg("created_after")
    if "q" in request.args:
        text = request.args["q"]
        if not 1 <= len(text) <= MAX_QUERY_CHARS:
            raise ApiError(
                400, "invalid_parameter", f"q must be 1 to {MAX_QUERY_CHARS} characters."
            )
        filters["name_contains"] = text
    return filters


def _timestamp_arg(name: str) -> datetime:
    """An ISO 8601 date or date-time from the query string; without a zone it is UTC."""
    raw = request.args[name].strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} must be an ISO 8601 date or date-time, e.g. 2026-12-01T09:30:00Z.",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@bp.get("/analyses")
def list_analyses() -> Response:
    ctx = service()
    page, per_page, sort = paging_args()
    filters = filter_args(ctx)
    rows, total = ctx.backends.jobs.page(page, per_page, sort, **filters)
    pages = math.ceil(total / per_page) if total else 0
    echoed = {k: v for k, v in request.args.items() if k not in ("page", "per_page", "sort")}

    def link(n: int) -> str:
        return url_for("api.list_analyses", page=n, per_page=per_page, sort=sort, **echoed)

    return jsonify(
        {
            "items": [summary_json(a, v) for a, v in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": pages,
            "sort": sort,
            "links": {
                "self": link(page),
                "next": link(page + 1) if page < pages else None,
                "prev": link(page - 1) if page > 1 else None,
            },
        }
    )


@bp.get("/analyses/<analysis_id>")
def get_analysis(analysis_id: str) -> Response:
    analysis, video = _found(service(), analysis_id)
    return jsonify(analysis_json(analysis, video))


@bp.delete("/analyses/<analysis_id>")
def delete_analysis(analysis_id: str) -> Response:
    ctx = service()
    if not _valid_id(analysis_id) or not delete_job(ctx, analysis_id):
        raise ApiError(404, "not_found", "No analysis with this id.")
    return Response(status=204)


def delete_job(ctx: ServiceContext, analysis_id: str) -> bool:
    """Delete an analysis and the files it leaves unused (the API and the page share this)."""
    prefixes = ctx.backends.jobs.delete(analysis_id)
    if prefixes is None:
        return False
    for prefix in prefixes:
        try:
            ctx.backends.blobs.delete_prefix(prefix)
        except OSError:
            current_app.logger.exception("could not delete %s", prefix)
    return True


@bp.get("/analyses/<analysis_id>/report")
def report(analysis_id: str) -> Response:
    analysis, stored = _found(service(), analysis_id)
    if analysis.result is None:
        raise ApiError(409, "not_ready", "The analysis has no result yet.")
    response = Response(
        json.dumps(report_json(analysis, stored), indent=2, allow_nan=False),
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="deepfake-report-{analysis.id}.json"'
    )
    return response


@bp.get("/analyses/<analysis_id>/video")
def video(analysis_id: str) -> Response:
    ctx = service()
    _, stored = _found(ctx, analysis_id)
    path = ctx.backends.blobs.local_path(stored.key)
    if not path.is_file():
        raise ApiError(404, "not_found", "The video file is missing.")
    return send_file(
        path,
        mimetype=stored.content_type,
        conditional=True,
        etag=stored.sha256,
        max_age=3600,
        download_name=stored.file_name,
    )


@bp.get("/analyses/<analysis_id>/evidence/<path:path>")
def evidence(analysis_id: str, path: str) -> Response:
    ctx = service()
    analysis, _ = _found(ctx, analysis_id)
    if analysis.evidence_prefix is None:
        raise ApiError(404, "not_found", "No such evidence file.")
    try:
        folder = ctx.backends.blobs.local_path(analysis.evidence_prefix)
    except BadKey:
        raise ApiError(404, "not_found", "No such evidence file.") from None
    target = safe_join(str(folder), path)
    if target is None or not target.endswith(".jpg"):
        raise ApiError(404, "not_found", "No such evidence file.")
    try:
        return send_file(target, mimetype="image/jpeg", conditional=True, max_age=3600)
    except (OSError, ValueError, NotFound):  # missing, NUL byte, name too long
        raise ApiError(404, "not_found", "No such evidence file.") from None


@bp.get("/health")
def health() -> Response:
    """Database, queue depth and live workers; 503 when the database or the queue is down."""
    ctx = service()
    backends = ctx.backends
    database, jobs, workers = "ok", {}, 0
    try:
        backends.jobs.ping()
        workers = backends.jobs.live_worker_count(ctx.settings.worker_lease_s)
        jobs = backends.jobs.counts()
    except Exception:
        current_app.logger.exception("health check: database error")
        database = "error"
    try:
        pending: int | None = backends.queue.pending_count()
    except Exception:
        current_app.logger.exception("health check: queue error")
        pending = None
    healthy = database == "ok" and pending is not None
    body = {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "database": database,
        "queue": {
            "backend": backends.queue.backend,
            "url": redact(backends.queue.url),
            "pending": pending,
        },
        "jobs": jobs,
        "workers": workers,
        "limits": {
            "upload_max_bytes": ctx.settings.upload_max_bytes,
            "upload_max_duration_s": ctx.settings.upload_max_duration_s,
            "upload_max_side": ctx.settings.upload_max_side,
        },
    }
    if not auth.may_see_details():  # anonymous while tokens are required: status only
        del body["jobs"]
        body["queue"].pop("url")
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    return response


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())

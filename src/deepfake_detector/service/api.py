"""REST API ``/api/v1``: create, read, list and delete analyses; health; the OpenAPI document.

Every error is ``{"error": {"code", "message", "status"}}`` (see ``app.py``'s handlers).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from deepfake_detector import __version__
from deepfake_detector.service import auth, idempotency, webhooks
from deepfake_detector.service import options as request_options
from deepfake_detector.service.blobs import BadKey
from deepfake_detector.service.context import ServiceContext, service
from deepfake_detector.service.db import Analysis, JobStatus, Video, iso, utcnow
from deepfake_detector.service.jobstore import (
    HEATMAPS_FAILED,
    HEATMAPS_NONE,
    HEATMAPS_PENDING,
    HEATMAPS_READY,
    PREVIEW_FAILED,
    PREVIEW_NONE,
    PREVIEW_PENDING,
    PREVIEW_READY,
)
from deepfake_detector.service.openapi import SORT_KEYS, openapi_document
from deepfake_detector.service.queue import redact
from deepfake_detector.service.responses import error_response
from deepfake_detector.service.security import check_same_origin
from deepfake_detector.service.settings_key import cached_settings_key
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
        "media": url_for("api.media", analysis_id=analysis.id),
        "preview": (
            url_for("api.preview_video", analysis_id=analysis.id)
            if preview_state(analysis) == PREVIEW_READY
            else None
        ),
        "report": url_for("api.report", analysis_id=analysis.id),
        "report_pdf": url_for("api.report_pdf", analysis_id=analysis.id),
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
        "kind": (video.info or {}).get("kind", "video"),
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
        "heatmap_checks": dict((analysis.artifacts or {}).get("heatmap_checks") or {}),
        "heatmaps_state": heatmaps_state(analysis),
        "preview": preview_json(analysis),
        "files_removed_at": (analysis.artifacts or {}).get("files_removed_at"),
        "created_by": analysis.created_by,
        "options": dict(analysis.options or {}),
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


PREVIEW_WAIT_S = 1800.0
"""A playable copy still not recorded this long after the verdict will not come (the worker
making it stopped): its state reads ``failed`` so that pages stop waiting."""


def preview_state(analysis: Analysis) -> str:
    """``pending`` | ``ready`` | ``failed`` | ``none`` (see the OpenAPI description)."""
    artifacts = analysis.artifacts or {}
    if analysis.status != JobStatus.DONE.value or artifacts.get("files_removed_at"):
        return PREVIEW_NONE
    state = (artifacts.get("preview") or {}).get("state") or PREVIEW_NONE
    finished = analysis.finished_at
    waited = (utcnow() - finished).total_seconds() if finished is not None else 0.0
    if state == PREVIEW_PENDING and waited > PREVIEW_WAIT_S:
        return PREVIEW_FAILED
    return str(state)


def preview_json(analysis: Analysis) -> dict[str, Any]:
    """The browser-playable copy: its state, why it is needed, and (once ready) what it covers."""
    record = (analysis.artifacts or {}).get("preview") or {}
    state = preview_state(analysis)
    body: dict[str, Any] = {
        "state": state,
        "format": record.get("format"),
        "reason": record.get("reason"),
    }
    if state == PREVIEW_READY:
        for key in ("width", "height", "covers_s", "source_duration_s", "cut"):
            body[key] = record.get(key)
    return body


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
    """Upload a file with its options (``frames``, ``model``, ``callback_url``; see
    ``service/options.py``), once per ``Idempotency-Key`` (``service/idempotency.py``)."""
    ctx = service()
    key = idempotency.key_from(request.headers)
    chosen = request_options.parse(
        request.form, request.files, request.args, ctx.settings, ctx.analysis_settings
    )
    upload = request.files.get("file")
    settings_key = ctx.settings_key
    if chosen.analysis:
        job_settings = request_options.apply(ctx.analysis_settings, chosen.analysis)
        settings_key = cached_settings_key(job_settings)
    scope = idempotency.scope_of(auth.current_token_id())
    held = False  # this request holds its Idempotency-Key until it answers
    if key is not None and upload is not None and upload.filename:
        digest = idempotency.content_sha256(upload.stream)
        fingerprint = idempotency.fingerprint(digest, chosen.described())
        earlier = _take_idempotency_key(ctx, scope, key, fingerprint)
        if earlier is not None:
            return earlier
        held = True
    try:
        accepted = accept_file_field(
            upload, ctx, settings_key=settings_key, options=chosen.analysis
        )
        if chosen.callback_url is not None:
            ctx.backends.jobs.add_webhook(
                accepted.analysis.id, chosen.callback_url, webhook_links(accepted.analysis)
            )
    except BaseException as exc:
        if held and key is not None:  # refused or broken: the key stays free
            ctx.backends.jobs.release_idempotency_key(scope, key)
        if isinstance(exc, UploadError):
            raise ApiError(exc.status, exc.code, exc.message) from None
        raise
    if held and key is not None:
        ctx.backends.jobs.complete_idempotency_key(
            scope, key, accepted.analysis.id, 202, accepted.deduplicated
        )
    return _upload_answer(ctx, accepted.analysis, accepted.video, accepted.deduplicated, 202)


def _upload_answer(
    ctx: ServiceContext,
    analysis: Analysis,
    stored: Video,
    deduplicated: bool,
    status: int,
    *,
    replayed: bool = False,
) -> Response:
    body = analysis_json(analysis, stored)
    body["webhooks"] = webhooks_json(ctx, analysis.id)
    body["deduplicated"] = deduplicated
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = body["links"]["self"]
    if replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return response


def _take_idempotency_key(
    ctx: ServiceContext, scope: str, key: str, fingerprint: str
) -> Response | None:
    """``None`` when this request now holds ``key``; else the answer: the first request's
    (replayed), 422 when the key was used for another request, 409 when its first request is
    still being handled after a wait."""
    jobs = ctx.backends.jobs
    deadline = time.monotonic() + idempotency.WAIT_S
    while True:
        claim = jobs.claim_idempotency_key(
            scope, key, fingerprint, ctx.settings.idempotency_ttl_s, idempotency.STALE_S
        )
        if claim.state == "new":
            return None
        if claim.state == "mismatch":
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"This {idempotency.HEADER} was already used with another file or other options "
                "(frames, model, callback_url); send a new key with a new request.",
            )
        if claim.state == "replay":
            record = claim.record
            found = jobs.get(record.analysis_id) if record.analysis_id else None
            if found is not None:
                return _upload_answer(
                    ctx,
                    found[0],
                    found[1],
                    bool(record.deduplicated),
                    int(record.status_code or 202),
                    replayed=True,
                )
        if time.monotonic() > deadline:
            return error_response(
                409,
                "idempotency_key_in_use",
                f"A request with this {idempotency.HEADER} is still being handled; try again "
                "in a moment to get its answer.",
                {"Retry-After": str(idempotency.RETRY_AFTER_S)},
            )
        time.sleep(0.1)


def webhook_links(analysis: Analysis) -> dict[str, str]:
    """The absolute links a webhook carries, as the uploading client reached this server."""
    return {
        "self": url_for("api.get_analysis", analysis_id=analysis.id, _external=True),
        "page": url_for("web.analysis_page", analysis_id=analysis.id, _external=True),
        "report": url_for("api.report", analysis_id=analysis.id, _external=True),
    }


def webhooks_json(ctx: ServiceContext, analysis_id: str) -> list[dict[str, Any]]:
    """The analysis's webhooks and how their delivery went (``service/webhooks.py``)."""
    return [webhooks.public_json(w) for w in ctx.backends.jobs.webhooks(analysis_id)]


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
    ctx = service()
    analysis, video = _found(ctx, analysis_id)
    body = analysis_json(analysis, video)
    body["webhooks"] = webhooks_json(ctx, analysis.id)
    return jsonify(body)


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


@bp.get("/analyses/<analysis_id>/report.pdf")
def report_pdf(analysis_id: str) -> Response:
    """The report as a PDF to share: made from ``report_json``, worded like the page. A failed
    analysis gets one saying so; one still queued or running has none yet (409)."""
    # Imported on first use: fpdf2 and matplotlib are slow to import and most processes never
    # draw a PDF; and report_pdf reads the page's person cards from web, which imports this.
    from deepfake_detector.service.report_pdf import render_pdf

    ctx = service()
    analysis, stored = _found(ctx, analysis_id)
    if analysis.status not in (JobStatus.DONE.value, JobStatus.FAILED.value):
        raise ApiError(
            409,
            "not_ready",
            "The analysis has not finished yet: its PDF report can be made once it has.",
        )
    pdf = render_pdf(
        report_json(analysis, stored),
        _evidence_reader(ctx, analysis),
        status=analysis.status,
        error=analysis.error,
        heatmaps=dict((analysis.artifacts or {}).get("heatmaps") or {}),
        hidden_heatmaps=frozenset(
            crop
            for crop, check in ((analysis.artifacts or {}).get("heatmap_checks") or {}).items()
            if not check.get("shown", True)
        ),
    )
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = _attachment(
        analysis.original_name or "", analysis.id, "-report.pdf"
    )
    return response


def _evidence_reader(ctx: ServiceContext, analysis: Analysis) -> Callable[[str], bytes | None]:
    """Reads one of the analysis's evidence JPEGs by its path in the result (None when it is
    missing, removed, or a path outside the analysis's folder), for the PDF report."""
    folder: str | None = None
    if analysis.evidence_prefix is not None:
        try:
            folder = str(ctx.backends.blobs.local_path(analysis.evidence_prefix))
        except BadKey:
            folder = None

    def read(path: str) -> bytes | None:
        target = safe_join(folder, path) if folder is not None else None
        if target is None or not target.endswith(".jpg"):
            return None
        try:
            with open(target, "rb") as f:
                return f.read()
        except (OSError, ValueError):  # missing, removed by retention, NUL byte
            return None

    return read


def _attachment(name: str, analysis_id: str, suffix: str) -> str:
    """``Content-Disposition`` for a download named after the upload (``clip.mp4`` gives
    ``clip-report.pdf``): an ASCII ``filename`` for old clients, the name as it is in
    ``filename*`` (RFC 6266 / 5987)."""
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    stem = stem.strip()[:150] or f"analysis-{analysis_id[:8]}"
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    plain = re.sub(r"[^A-Za-z0-9._()+-]+", "_", plain).strip("._") or f"analysis-{analysis_id[:8]}"
    return (
        f'attachment; filename="{plain}{suffix}"; '
        f"filename*=UTF-8''{quote(stem + suffix, safe='')}"
    )


@bp.get("/analyses/<analysis_id>/media")
def media(analysis_id: str) -> Response:
    """The uploaded file, video or photo, as stored (with Range support for players)."""
    ctx = service()
    _, stored = _found(ctx, analysis_id)
    path = ctx.backends.blobs.local_path(stored.key)
    if not path.is_file():
        raise ApiError(404, "not_found", "The uploaded file is missing.")
    return send_file(
        path,
        mimetype=stored.content_type,
        conditional=True,
        etag=stored.sha256,
        max_age=3600,
        download_name=stored.file_name,
    )


@bp.get("/analyses/<analysis_id>/video")
def video(analysis_id: str) -> Response:
    """``/media`` under its first name, kept for older clients."""
    return media(analysis_id)


@bp.get("/analyses/<analysis_id>/preview")
def preview_video(analysis_id: str) -> Response:
    """The browser-playable copy of an upload browsers cannot play (Range requests)."""
    ctx = service()
    analysis, stored = _found(ctx, analysis_id)
    missing = ApiError(
        404,
        "not_found",
        "This analysis has no playable copy: its upload plays as it is, or the copy is not "
        "ready (see preview.state).",
    )
    record = (analysis.artifacts or {}).get("preview") or {}
    name = record.get("path")
    if preview_state(analysis) != PREVIEW_READY or analysis.evidence_prefix is None or not name:
        raise missing
    try:
        folder = ctx.backends.blobs.local_path(analysis.evidence_prefix)
    except BadKey:
        raise missing from None
    target = safe_join(str(folder), str(name))
    if target is None or not os.path.isfile(target):
        raise missing
    return send_file(
        target,
        mimetype="video/mp4",
        conditional=True,
        etag=f"{stored.sha256[:16]}-{analysis.id}-{analysis.evidence_prefix.rsplit('/', 1)[-1]}",
        max_age=3600,
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

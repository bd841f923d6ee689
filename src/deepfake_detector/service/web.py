"""The pages: upload, the analysis (progress, then verdict and evidence), history.

Pages are rendered on the server (they work without scripts); scripts in ``static/js`` add the
upload progress bar, live progress, the chart, the carousels and the video overlay. Jinja
autoescaping is on for every template, so file names and metadata from uploads are escaped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import BadRequest, NotFound

from deepfake_detector.media.formats import accept_attribute
from deepfake_detector.service import wording
from deepfake_detector.service.api import ApiError, analysis_json, delete_job, paging_args
from deepfake_detector.service.context import service
from deepfake_detector.service.security import check_csrf
from deepfake_detector.service.uploads import UploadError, accept_file_field

bp = Blueprint("web", __name__)

ACCEPTED_TYPES = accept_attribute()
"""The upload form's ``accept`` list, from the one table of formats."""


@bp.before_request
def _csrf() -> None:
    check_csrf()


def init_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["percent"] = wording.percent
    app.jinja_env.filters["seconds"] = wording.seconds_text
    app.jinja_env.filters["megabytes"] = lambda n: f"{(n or 0) / 1_000_000:.1f} MB"
    app.jinja_env.filters["when"] = wording.when_text
    app.jinja_env.globals["heatmap_caveat"] = wording.HEATMAP_CAVEAT
    app.jinja_env.globals["chart_note"] = wording.chart_note


@bp.get("/")
def upload_page() -> str:
    settings = service().settings
    return render_template(
        "upload.html",
        accept=ACCEPTED_TYPES,
        max_bytes=settings.upload_max_bytes,
        max_duration=settings.upload_max_duration_s,
        max_side=settings.upload_max_side,
    )


@bp.post("/upload")
def upload() -> Response | tuple[Any, int]:
    """The upload form's target: JSON for the page's script, a redirect without scripts."""
    ctx = service()
    wants_json = request.accept_mimetypes.best == "application/json"
    upload = request.files.get("file")
    try:
        accepted = accept_file_field(upload, ctx)
    except UploadError as exc:
        if wants_json:
            raise
        settings = ctx.settings
        page = render_template(
            "upload.html",
            accept=ACCEPTED_TYPES,
            max_bytes=settings.upload_max_bytes,
            max_duration=settings.upload_max_duration_s,
            max_side=settings.upload_max_side,
            error=exc.message,
        )
        return page, exc.status
    target = url_for("web.analysis_page", analysis_id=accepted.analysis.id)
    if wants_json:
        response = jsonify(
            {"id": accepted.analysis.id, "url": target, "deduplicated": accepted.deduplicated}
        )
        response.status_code = 202
        return response
    return redirect(target, code=303)


def people_cards(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One card per tracked person, with their own verdict in words (the page and the PDF
    report show the same cards)."""
    if not result:
        return []
    threshold = float(result.get("threshold") or 0.5)
    people = []
    for n, face in enumerate(result.get("faces") or []):
        frames = face["frames"]
        crops = [f for f in frames if f.get("crop")]
        scores = [float(f["score"]) for f in frames if f.get("score") is not None]
        members = face.get("members") or {}
        people.append(
            {
                "number": n + 1,
                "track_id": face["track_id"],
                "verdict": wording.describe_face(
                    float(face["fake_probability"]), threshold, result.get("model")
                ),
                "fake_probability": face["fake_probability"],
                "first_s": frames[0]["time_s"] if frames else None,
                "last_s": frames[-1]["time_s"] if frames else None,
                "seen": len(frames),
                "portrait": crops[len(crops) // 2]["crop"] if crops else None,
                "crops": crops,
                # How the score is formed: not the frames' mean (see the card's note).
                "frame_scores": (
                    {"low": min(scores), "high": max(scores), "mean": sum(scores) / len(scores)}
                    if scores
                    else None
                ),
                "texture": members.get("texture"),
                "landmarks": members.get("landmarks"),
                "has_landmarks": "landmarks" in members,
            }
        )
        people[-1]["score_parts"] = wording.score_parts(people[-1])
    return people


@bp.get("/analyses/<analysis_id>")
def analysis_page(analysis_id: str) -> str:
    ctx = service()
    found = ctx.backends.jobs.get(analysis_id) if len(analysis_id) == 32 else None
    if found is None:
        raise NotFound("No analysis with this id. It may have been deleted.")
    analysis, video = found
    data = analysis_json(analysis, video)
    result = data["result"]
    return render_template(
        "analysis.html",
        a=data,
        result=result,
        verdict=wording.describe(result, data["status"], data["error"]),
        caveats=wording.caveats(result),
        people=people_cards(result),
        photo=data["file"]["kind"] == "image",
        finished=data["status"] in ("done", "failed"),
        timings=sorted(
            ((k, v) for k, v in (result or {}).get("timings", {}).items() if k != "total"),
            key=lambda kv: -kv[1],
        ),
    )


@bp.post("/analyses/<analysis_id>/delete")
def delete(analysis_id: str) -> Response:
    ctx = service()
    if len(analysis_id) != 32 or not delete_job(ctx, analysis_id):
        raise NotFound("No analysis with this id. It may have been deleted already.")
    flash("The analysis, its evidence and (if no other analysis uses it) the video were deleted.")
    return redirect(url_for("web.history"), code=303)


@bp.get("/history")
def history() -> str:
    ctx = service()
    try:
        page, per_page, sort = paging_args()
    except ApiError as exc:
        raise BadRequest(exc.message) from None
    rows, total = ctx.backends.jobs.page(page, per_page, sort)
    pages = max(1, math.ceil(total / per_page))
    items = [analysis_json(a, v) for a, v in rows]
    return render_template(
        "history.html",
        items=items,
        page=page,
        pages=pages,
        per_page=per_page,
        total=total,
        sort=sort,
        describe=wording.describe,
    )


@bp.get("/models/<name>/card")
def model_card(name: str) -> Response:
    """A shipped model's card (Markdown, shown as plain text): how it was trained and measured.
    Only names of models inside the package are served; anything else is a 404."""
    from deepfake_detector.models.registry import WEIGHTS_DIR, shipped_models

    if name not in shipped_models():
        raise NotFound(
            "No model card for this name: only models shipped with the program have one."
        )
    card = WEIGHTS_DIR / name / "MODEL_CARD.md"
    if not card.is_file():
        raise NotFound("This model has no model card.")
    return Response(card.read_text(encoding="utf-8"), mimetype="text/plain")


# The Swagger UI files the docs page loads, from the swagger-ui-py package (Swagger UI 5.25.3,
# Apache-2.0; 5.x reads OpenAPI 3.1 documents, 4.x does not).
SWAGGER_UI_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "LICENSE": "text/plain",
}
SWAGGER_UI_VERSION = "5.25.3"


def _swagger_ui_folder() -> Path:
    from importlib.resources import files

    return Path(str(files("swagger_ui") / "static"))


@bp.get("/api/docs")
def api_docs() -> str:
    """The REST API for people: Swagger UI over the OpenAPI document, from this server only."""
    return render_template("api_docs.html", swagger_ui_version=SWAGGER_UI_VERSION)


@bp.get("/api/docs/assets/<name>")
def api_docs_asset(name: str) -> Response:
    """One of Swagger UI's files (only those the page uses, and its licence)."""
    if name not in SWAGGER_UI_FILES:
        raise NotFound("No such file.")
    return send_file(_swagger_ui_folder() / name, mimetype=SWAGGER_UI_FILES[name], max_age=86400)

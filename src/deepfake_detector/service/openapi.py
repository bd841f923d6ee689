"""The OpenAPI 3.1 description of ``/api/v1``, built here so it cannot drift from the code that
serves it: the tests validate this document and every real response against its schemas.

The analysis result schema is the core one (``analysis/result.schema.json``), embedded as is.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from deepfake_detector import __version__

API_PREFIX = "/api/v1"
SORT_KEYS = ["created_at", "verdict", "fake_probability", "status", "name"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _uploaded_file(operation_id: str, note: str = "") -> dict[str, Any]:
    """The uploaded file's route (``/media``, and ``/video`` kept for older clients)."""
    content = {"video/*": {"schema": {"type": "string"}}, "image/*": {"schema": {"type": "string"}}}
    return {
        "parameters": [_ID_PARAM],
        "get": {
            "operationId": operation_id,
            "summary": "The uploaded video or photo (supports Range requests)",
            "description": note or "Served with the type its content was recognised as.",
            "responses": {
                "200": {"description": "The file.", "content": content},
                "206": {"description": "Part of the file.", "content": content},
                "404": _error("No such analysis."),
            },
        },
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _core_result_schema() -> dict[str, Any]:
    """The result's JSON Schema, as ``components/schemas/AnalysisResult``: its own local
    references (``#/...``) re-rooted there, since inside this document ``#`` is the document."""
    text = resources.files("deepfake_detector.analysis").joinpath("result.schema.json")
    schema = json.loads(text.read_text(encoding="utf-8"))
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    return _rerooted(schema, "#/components/schemas/AnalysisResult/")


def _rerooted(node: Any, root: str) -> Any:
    if isinstance(node, dict):
        return {
            k: root + v[2:] if k == "$ref" and v.startswith("#/") else _rerooted(v, root)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rerooted(v, root) for v in node]
    return node


_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Analysis id (returned by POST).",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}

_VERDICT = {"enum": ["REAL", "FAKE", "INCONCLUSIVE", "ERROR"]}

_IDEMPOTENCY_KEY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Make retrying safe: the same key again from the same caller (API token, or "
    "none), with the same file and options, gets the first answer (the same analysis, header "
    "`Idempotent-Replayed: true`) and creates nothing. Another file or other options with a "
    "used key: 422 `idempotency_key_reused`. While the first request with the key is still "
    "being handled: 409 `idempotency_key_in_use`. Refused uploads do not use up their key. "
    "Keys are kept `DFD_IDEMPOTENCY_TTL_S` (24 h).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:~+/=-]{1,255}$"},
}


def _upload_fields() -> dict[str, Any]:
    """The multipart fields of an upload (``service/options.py``)."""
    return {
        "file": {"type": "string", "format": "binary"},
        "frames": {
            "type": "integer",
            "minimum": 1,
            "description": "Frames to sample evenly across the video instead of the server's "
            "setting. Allowed: `DFD_ALLOWED_FRAMES_MIN` (8) to `DFD_ALLOWED_FRAMES_MAX` (the "
            "server's `max_frames`, 256); others get 400 naming the range.",
        },
        "model": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1000,
            "description": "The model to analyse with: the server's own (`DFD_MODEL`) or one "
            "of `DFD_ALLOWED_MODELS`; others get 400 naming the allowed ones.",
        },
        "callback_url": {
            "type": "string",
            "format": "uri",
            "maxLength": 2048,
            "description": "Webhook: POSTed a signed JSON body (`X-DFD-Signature: "
            "t=<unix>,v1=<HMAC-SHA256 hex>`) when the analysis ends, done or failed. Its host "
            "must be listed in `DFD_WEBHOOK_HOSTS` (https, or http where listed so) and "
            "`DFD_WEBHOOK_SECRET` set; else 400 `invalid_callback_url`.",
        },
    }


def _webhook_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "url", "state", "attempts", "response_status", "error", "delivered_at"],
        "additionalProperties": False,
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^[0-9a-f]{32}$",
                "description": "Sent as `X-DFD-Delivery` and `delivery_id`.",
            },
            "url": {"type": "string", "description": "The callback URL, its query hidden."},
            "state": {
                "enum": ["pending", "delivering", "delivered", "failed"],
                "description": "pending until the analysis ends; delivering (retries "
                "included); delivered (a 2xx answer); failed (another answer, or every retry "
                "spent).",
            },
            "attempts": {"type": "integer", "minimum": 0},
            "response_status": {
                "type": ["integer", "null"],
                "description": "The receiver's HTTP status at the last try; null without one.",
            },
            "error": {"type": ["string", "null"]},
            "delivered_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }


def _schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "description": "Every error has this shape; `code` is stable, `message` is for people.",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "status"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {
                            "type": "string",
                            "examples": [
                                "not_found",
                                "file_too_large",
                                "not_a_video",
                                "unauthorized",
                                "forbidden",
                                "too_many_requests",
                            ],
                        },
                        "message": {"type": "string"},
                        "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    },
                }
            },
        },
        "Progress": {
            "type": "object",
            "required": ["stage", "percent"],
            "additionalProperties": False,
            "properties": {
                "stage": {
                    "type": ["string", "null"],
                    "description": "queued, loading model, probe, frames, classify, analysed, "
                    "finished",
                },
                "percent": {"type": "number", "minimum": 0, "maximum": 100},
            },
        },
        "FileInfo": {
            "type": "object",
            "required": ["name", "sha256", "size_bytes", "content_type"],
            "additionalProperties": False,
            "properties": {
                "name": {
                    "type": "string",
                    "description": "The client's file name, for display only (never a path).",
                },
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "size_bytes": {"type": "integer", "minimum": 1},
                "content_type": {"type": "string"},
                "kind": {
                    "enum": ["video", "image"],
                    "description": "What the upload is, judged by its content: a video or a "
                    "photo (analysed as one frame).",
                },
            },
        },
        "Preview": {
            "type": "object",
            "description": "A copy of the upload that browsers play (H.264 + AAC in MP4, at "
            "most 720 pixels on its longer side by default, each frame at its original time), "
            "made after the verdict for uploads in formats browsers do not play (MPEG-4 Part "
            "2, MPEG-2, HEVC, ProRes, Motion JPEG, AVI or Matroska files...).",
            "required": ["state"],
            "additionalProperties": False,
            "properties": {
                "state": {
                    "enum": ["pending", "ready", "failed", "none"],
                    "description": "pending until the copy is made (poll this analysis), ready "
                    "(links.preview), failed (or not recorded in time), none (the upload plays "
                    "as it is, copies are turned off, or the analysis is not finished).",
                },
                "format": {
                    "type": ["string", "null"],
                    "description": "The upload's format in words, when a copy is needed.",
                },
                "reason": {
                    "type": ["string", "null"],
                    "description": "Why browsers cannot play the upload.",
                },
                "width": {"type": ["integer", "null"]},
                "height": {"type": ["integer", "null"]},
                "covers_s": {
                    "type": ["number", "null"],
                    "description": "Seconds of the video the copy shows, from its start.",
                },
                "source_duration_s": {"type": ["number", "null"]},
                "cut": {
                    "enum": ["size", "duration", "time", None],
                    "description": "Why the copy stops before the end (its size or time "
                    "limit), or null when it is whole.",
                },
            },
        },
        "Links": {
            "type": "object",
            "required": ["self", "page", "video", "report", "evidence"],
            "additionalProperties": False,
            "properties": {
                "self": {"type": "string", "description": "This resource (API)."},
                "page": {"type": "string", "description": "The permanent web page."},
                "video": {
                    "type": "string",
                    "description": "The uploaded file, video or photo (Range requests); kept "
                    "for older clients, the same as media.",
                },
                "media": {
                    "type": "string",
                    "description": "The uploaded file, video or photo (Range requests).",
                },
                "report": {"type": "string", "description": "The JSON report download."},
                "report_pdf": {
                    "type": "string",
                    "description": "The PDF report download (once the analysis has finished).",
                },
                "evidence": {
                    "type": "string",
                    "description": "Prefix for the relative evidence paths in the result "
                    "(frames/, crops/, heatmaps/).",
                },
                "thumbnail": {"type": ["string", "null"]},
                "preview": {
                    "type": ["string", "null"],
                    "description": "The browser-playable copy (H.264 + AAC MP4, Range requests) "
                    "of an upload browsers cannot play, once preview.state is ready; else null.",
                },
            },
        },
        "Analysis": {
            "type": "object",
            "required": [
                "id",
                "status",
                "progress",
                "created_at",
                "started_at",
                "finished_at",
                "file",
                "verdict",
                "fake_probability",
                "error",
                "result",
                "heatmaps",
                "links",
            ],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "status": {"enum": ["queued", "running", "done", "failed"]},
                "progress": _ref("Progress"),
                "created_at": {"type": "string", "format": "date-time"},
                "started_at": {"type": ["string", "null"], "format": "date-time"},
                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                "file": _ref("FileInfo"),
                "verdict": _nullable(_VERDICT),
                "fake_probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "error": {
                    "type": ["string", "null"],
                    "description": "Why the analysis failed (status failed).",
                },
                "result": _nullable(_ref("AnalysisResult")),
                "heatmaps": {
                    "type": "object",
                    "description": "Heatmap overlay per face crop whose map points at the face "
                    "(see heatmap_checks): {crop path: heatmap path}, both relative to "
                    "links.evidence. Empty until heatmaps_state is ready.",
                    "additionalProperties": {"type": "string"},
                },
                "heatmap_checks": {
                    "type": "object",
                    "description": "Per face crop explained, {crop path: check}: whether its "
                    "map points at the face region of the crop (the detection box and the "
                    "forehead above it). shown: false means no clear region (the map is flat, or "
                    "less than 60 % of its mass above its median lies on the face): that crop "
                    "has no entry in heatmaps. Empty for analyses recorded before these checks "
                    "existed, whose heatmaps are all shown.",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["face_fraction", "flat", "shown"],
                        "properties": {
                            "face_fraction": {
                                "type": ["number", "null"],
                                "minimum": 0,
                                "maximum": 1,
                                "description": "Share of the map's mass above its median on "
                                "the face region; null for an empty or constant map.",
                            },
                            "flat": {
                                "type": "boolean",
                                "description": "Nothing stands out (an empty map, or one whose "
                                "median reaches half its peak).",
                            },
                            "shown": {"type": "boolean"},
                        },
                    },
                },
                "heatmaps_state": {
                    "enum": ["pending", "ready", "failed", "none"],
                    "description": "Heatmaps are drawn after the verdict is recorded: pending "
                    "until they are (poll this analysis), ready, failed (or not recorded in "
                    "time), none (no face, no explainer for the model, turned off, or not "
                    "finished).",
                },
                "preview": _ref("Preview"),
                "files_removed_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When retention removed the video and evidence (the result "
                    "is kept); null while they are kept.",
                },
                "created_by": {
                    "type": ["string", "null"],
                    "pattern": "^[0-9a-f]{32}$",
                    "description": "Id of the API token whose request created the analysis (see "
                    "`deepfake-detector tokens list`); null when it was uploaded without one.",
                },
                "options": {
                    "type": "object",
                    "description": "What the upload asked for over the server's analysis "
                    "settings (`frames`, `model`); empty for the server's own. "
                    "`result.settings` shows everything the analysis used.",
                    "additionalProperties": False,
                    "properties": {
                        "frames": {"type": "integer", "minimum": 1},
                        "model": {"type": "string"},
                    },
                },
                "webhooks": {
                    "type": "array",
                    "description": "The `callback_url`s of the uploads of this analysis, and how "
                    "their delivery went.",
                    "items": _webhook_schema(),
                },
                "deduplicated": {
                    "type": "boolean",
                    "description": "Only on POST: true when this content was already analysed "
                    "or queued with the same settings, and that analysis is returned.",
                },
                "links": _ref("Links"),
            },
        },
        "AnalysisSummary": {
            "type": "object",
            "required": [
                "id",
                "status",
                "progress",
                "created_at",
                "file",
                "verdict",
                "fake_probability",
                "links",
            ],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "status": {"enum": ["queued", "running", "done", "failed"]},
                "progress": _ref("Progress"),
                "created_at": {"type": "string", "format": "date-time"},
                "file": _ref("FileInfo"),
                "verdict": _nullable(_VERDICT),
                "fake_probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "created_by": {
                    "type": ["string", "null"],
                    "pattern": "^[0-9a-f]{32}$",
                    "description": "Id of the API token whose request created the analysis (see "
                    "`deepfake-detector tokens list`); null when it was uploaded without one.",
                },
                "links": _ref("Links"),
            },
        },
        "AnalysisPage": {
            "type": "object",
            "required": ["items", "page", "per_page", "total", "pages", "sort", "links"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": _ref("AnalysisSummary")},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
                "total": {"type": "integer", "minimum": 0},
                "pages": {"type": "integer", "minimum": 0},
                "sort": {"type": "string"},
                "links": {
                    "type": "object",
                    "required": ["self", "next", "prev"],
                    "additionalProperties": False,
                    "properties": {
                        "self": {"type": "string"},
                        "next": {"type": ["string", "null"]},
                        "prev": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "version", "database", "queue", "workers"],
            "description": "Open without a token; while tokens are required, an anonymous "
            "caller gets neither `jobs` nor the queue's `url`.",
            "additionalProperties": False,
            "properties": {
                "status": {"enum": ["ok", "degraded"]},
                "version": {"type": "string"},
                "database": {"enum": ["ok", "error"]},
                "queue": {
                    "type": "object",
                    "required": ["backend", "pending"],
                    "additionalProperties": False,
                    "properties": {
                        "backend": {"type": "string"},
                        "url": {"type": "string", "description": "Without its password."},
                        "pending": {"type": ["integer", "null"], "minimum": 0},
                    },
                },
                "jobs": {
                    "type": "object",
                    "description": "Number of analyses per status.",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
                "workers": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Job worker processes whose lease (heartbeat) is current.",
                },
                "limits": {"type": "object"},
            },
        },
        "AnalysisResult": _core_result_schema(),
    }


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return _with_auth(_with_bad_host(_operations()))


def _operations() -> dict[str, Any]:
    p = API_PREFIX
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Deepfake detector API",
            "version": __version__,
            "description": "Upload a video, follow its analysis, read the verdict and evidence. "
            "Analyses run on a job queue: POST returns at once (202) and the analysis is "
            "polled with GET until its status is `done` or `failed`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "paths": {
            f"{p}/analyses": {
                "post": {
                    "operationId": "createAnalysis",
                    "summary": "Upload a video and queue its analysis",
                    "description": "The file is identified by its content: uploading the same "
                    "bytes again returns the existing analysis (`deduplicated: true`). Limits "
                    "(size, duration, resolution) are checked on the probed content.",
                    "parameters": [_IDEMPOTENCY_KEY_PARAM],
                    "requestBody": {
                        "required": True,
                        "description": "The file and, optionally, `frames`, `model` and "
                        "`callback_url` as further form fields (never in the query string); "
                        "any other field is refused (400).",
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "additionalProperties": False,
                                    "properties": _upload_fields(),
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            **_json(_ref("Analysis"), "Accepted: queued, running or done."),
                            "headers": {
                                "Location": {
                                    "description": "The new analysis.",
                                    "schema": {"type": "string"},
                                },
                                "Idempotent-Replayed": {
                                    "description": "`true` when this is the answer to an "
                                    "earlier request with the same `Idempotency-Key`.",
                                    "schema": {"type": "string"},
                                },
                            },
                        },
                        "400": _error(
                            "No file, an empty file, or a malformed request; "
                            "`invalid_parameter`: an unknown field or query parameter, or a "
                            "`frames` or `model` this server does not allow (the message names "
                            "what it allows); `invalid_callback_url`; "
                            "`invalid_idempotency_key`."
                        ),
                        "403": _error("A cross-site browser request."),
                        "409": {
                            **_error(
                                "`idempotency_key_in_use`: the first request with this "
                                "`Idempotency-Key` is still being handled."
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds to wait before trying again.",
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        "413": _error("Larger than the upload size limit."),
                        "415": _error("Not a video that can be read."),
                        "422": _error(
                            "Longer or larger than the configured limits; "
                            "`idempotency_key_reused`: the `Idempotency-Key` was used with "
                            "another file or other options."
                        ),
                        "503": {
                            **_error(
                                "`storage_unavailable`: the server's storage cannot be "
                                "written (read-only, permissions); nothing was stored."
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds to wait before trying again.",
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        "507": _error(
                            "`insufficient_storage`: the server is out of disk space (or the "
                            "upload would leave less than `DFD_MIN_FREE_MB` free); nothing was "
                            "stored."
                        ),
                    },
                },
                "get": {
                    "operationId": "listAnalyses",
                    "summary": "Past analyses, paged",
                    "parameters": [
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1_000_000,
                                "default": 1,
                            },
                        },
                        {
                            "name": "per_page",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 100,
                                "default": 20,
                            },
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "description": "Field, with `-` for descending.",
                            "schema": {
                                "enum": SORT_KEYS + [f"-{k}" for k in SORT_KEYS],
                                "default": "-created_at",
                            },
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"enum": ["queued", "running", "done", "failed"]},
                        },
                        {
                            "name": "verdict",
                            "in": "query",
                            "schema": {"enum": ["REAL", "FAKE", "INCONCLUSIVE", "ERROR"]},
                        },
                        {
                            "name": "sha256",
                            "in": "query",
                            "description": "Only analyses of the file with this content hash.",
                            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                        },
                        {
                            "name": "settings",
                            "in": "query",
                            "description": "`current`: only analyses made with the server's "
                            "current analysis settings and model (what an upload would reuse).",
                            "schema": {"enum": ["current"]},
                        },
                        {
                            "name": "created_after",
                            "in": "query",
                            "description": "Only analyses created after this ISO 8601 date or "
                            "date-time (UTC when it has no zone).",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Only analyses whose uploaded file name contains "
                            "this text, ignoring case.",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("AnalysisPage"), "One page of analyses."),
                        "400": _error(
                            "A bad paging, sorting or filter parameter, or an unknown one."
                        ),
                    },
                },
            },
            f"{p}/analyses/{{id}}": {
                "parameters": [_ID_PARAM],
                "get": {
                    "operationId": "getAnalysis",
                    "summary": "Status, progress and (when done) the result",
                    "responses": {
                        "200": _json(_ref("Analysis"), "The analysis."),
                        "404": _error("No such analysis."),
                    },
                },
                "delete": {
                    "operationId": "deleteAnalysis",
                    "summary": "Delete the analysis, its evidence, and the video if unused",
                    "responses": {
                        "204": {"description": "Deleted."},
                        "403": _error("A cross-site browser request."),
                        "404": _error("No such analysis."),
                    },
                },
            },
            f"{p}/analyses/{{id}}/report": {
                "parameters": [_ID_PARAM],
                "get": {
                    "operationId": "getReport",
                    "summary": "The result as a downloadable JSON report",
                    "description": "The core result schema, with `path` set to the uploaded "
                    "file's name and a `report` object: the analysis id, the file, its times, "
                    "the app version and the page's address.",
                    "responses": {
                        "200": _json(_ref("AnalysisResult"), "The report (attachment)."),
                        "404": _error("No such analysis."),
                        "409": _error("The analysis has no result yet."),
                    },
                },
            },
            f"{p}/analyses/{{id}}/report.pdf": {
                "parameters": [_ID_PARAM],
                "get": {
                    "operationId": "getReportPdf",
                    "summary": "The report as a PDF to share",
                    "description": "Made from the JSON report and worded like the analysis's "
                    "page: the verdict with the overall score and band, one card per person, "
                    "the score over time (not for a single frame), face crops, a summary of the "
                    "model's card, the caveats, and the file's facts. A failed analysis (no "
                    "result, or the verdict ERROR) gets a PDF saying why; `Content-Disposition` "
                    "names it after the upload (`clip.mp4` gives `clip-report.pdf`, with "
                    "`filename*` for names beyond ASCII).",
                    "responses": {
                        "200": {
                            "description": "The PDF (attachment).",
                            "content": {"application/pdf": {"schema": {"type": "string"}}},
                            "headers": {
                                "Content-Disposition": {
                                    "description": "`attachment`, with `filename` and `filename*`.",
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        "404": _error("No such analysis."),
                        "409": _error("`not_ready`: the analysis is still queued or running."),
                    },
                },
            },
            f"{p}/analyses/{{id}}/media": _uploaded_file("getMedia"),
            f"{p}/analyses/{{id}}/video": _uploaded_file(
                "getVideo", "The same as /media, kept for older clients."
            ),
            f"{p}/analyses/{{id}}/preview": {
                "parameters": [_ID_PARAM],
                "get": {
                    "operationId": "getPreview",
                    "summary": "The browser-playable copy of the upload (supports Range requests)",
                    "description": "Only for uploads browsers cannot play, once preview.state "
                    "is ready; each frame is shown at its time in the original.",
                    "responses": {
                        "200": {
                            "description": "The copy (H.264 + AAC in MP4).",
                            "content": {"video/mp4": {"schema": {"type": "string"}}},
                        },
                        "206": {
                            "description": "Part of the copy.",
                            "content": {"video/mp4": {"schema": {"type": "string"}}},
                        },
                        "404": _error("No such analysis, or it has no playable copy."),
                    },
                },
            },
            f"{p}/analyses/{{id}}/evidence/{{path}}": {
                "parameters": [
                    _ID_PARAM,
                    {
                        "name": "path",
                        "in": "path",
                        "required": True,
                        "description": "A relative evidence path from the result.",
                        "schema": {"type": "string"},
                    },
                ],
                "get": {
                    "operationId": "getEvidence",
                    "summary": "A sampled frame, face crop or heatmap (JPEG)",
                    "responses": {
                        "200": {
                            "description": "The image.",
                            "content": {"image/jpeg": {"schema": {"type": "string"}}},
                        },
                        "404": _error("No such analysis or file."),
                    },
                },
            },
            f"{p}/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Database and queue status",
                    "responses": {
                        "200": _json(_ref("Health"), "Healthy."),
                        "503": _json(_ref("Health"), "The database cannot be reached."),
                    },
                },
            },
            f"{p}/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
        },
        "components": {"schemas": _schemas()},
    }


def _with_bad_host(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation may answer 400 ``bad_host`` (a ``Host`` the server does not answer to,
    see ``DFD_ALLOWED_HOSTS``): documented once here rather than on each operation."""
    note = "`bad_host`: the request's Host is not one this server answers to."
    for item in document["paths"].values():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                existing = operation["responses"].get("400")
                if existing is None:
                    operation["responses"]["400"] = _error(note)
                else:
                    existing["description"] += " Or " + note
    return document


OPEN_OPERATIONS = frozenset({"health", "openapi"})
"""Operations that need no token and count against no rate limit (see ``service/auth.py``)."""


def _with_auth(document: dict[str, Any]) -> dict[str, Any]:
    """API tokens and rate limits, documented once here rather than on each operation: the
    bearer scheme; 401 and 429 on every operation but the open ones; 403 for a read-only token
    on the ones that change something."""
    document["components"]["securitySchemes"] = {
        "bearerToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`dfd_…`, from `deepfake-detector tokens create`) as "
            "`Authorization: Bearer <token>`. Required when the server listens on a "
            "non-loopback address or with `DFD_AUTH=required`; otherwise optional, but a token "
            "that is sent is always checked.",
        }
    }
    document["security"] = [{"bearerToken": []}, {}]
    unauthorized = {
        **_error("`unauthorized`: no API token where one is required, or an invalid one."),
        "headers": {
            "WWW-Authenticate": {
                "description": '`Bearer`, with `error="invalid_token"` for a refused token.',
                "schema": {"type": "string"},
            }
        },
    }
    too_many = {
        **_error(
            "`too_many_requests`: over the rate limit of this token (or address, without "
            "one): `DFD_RATE_LIMIT_API`, and `DFD_RATE_LIMIT_UPLOADS` for uploads."
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "string"},
            }
        },
    }
    read_only = "`forbidden`: the token is read-only."
    for item in document["paths"].values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation["responses"]
            if operation["operationId"] in OPEN_OPERATIONS:
                operation["security"] = []
                continue
            responses["401"] = copy.deepcopy(unauthorized)
            responses["429"] = copy.deepcopy(too_many)
            if method != "get":
                existing = responses.get("403")
                if existing is None:
                    responses["403"] = _error(read_only)
                else:
                    existing["description"] += " Or " + read_only
    return document


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may annotate it)."""
    return copy.deepcopy(_document())

"""The service's error answer, in one place: the documented JSON shape for the API and scripts,
the error page for people, chosen by the request."""

from __future__ import annotations

from flask import Response, jsonify, make_response, render_template, request


def wants_json() -> bool:
    """API paths and ``/metrics`` always; elsewhere when the client prefers JSON to HTML."""
    if request.path.startswith("/api/") or request.blueprint == "metrics":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def json_error(status: int, code: str, message: str) -> Response:
    """``{"error": {"code", "message", "status"}}`` with that status."""
    response = jsonify({"error": {"code": code, "message": message, "status": status}})
    response.status_code = status
    return response


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """JSON or the error page, as the request wants, with ``headers`` added."""
    if wants_json():
        response = json_error(status, code, message)
    else:
        response = make_response(render_template("error.html", status=status, message=message))
        response.status_code = status
    response.headers.update(headers or {})
    return response

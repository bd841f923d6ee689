"""The REST API against a real SQLite database, a real huey consumer and the real analysis;
every response is checked against the OpenAPI document the server publishes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from service_support import (
    OpenApiChecker,
    RunningApp,
    make_app,
    upload,
    wait_for_heatmaps,
    wait_for_job,
)

from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.worker import start_worker

import video_factory

ANALYSIS = "/api/v1/analyses/{id}"
ANALYSES = "/api/v1/analyses"


def test_openapi_document_is_valid_openapi(client: FlaskClient, openapi: OpenApiChecker) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)  # raises on any violation of the OpenAPI 3.1 specification
    assert document == openapi.document
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "delete")
    }
    assert ("POST", ANALYSES) in operations and ("DELETE", ANALYSIS) in operations


@pytest.fixture(scope="module")
def analysed(running_app: RunningApp, panning_video: Path) -> dict:
    """The panning face uploaded once and analysed to the end (shared by the tests below)."""
    client = running_app.client()
    response = upload(client, panning_video, name="interview.mp4")
    assert response.status_code == 202, response.data
    at_done, seen = wait_for_job(client, response.get_json()["id"])
    final = wait_for_heatmaps(client, at_done["id"])
    return {"created": response, "at_done": at_done, "final": final, "seen": seen}


def test_upload_is_queued_then_analysed_with_progress(
    analysed: dict, openapi: OpenApiChecker, client: FlaskClient
) -> None:
    created = analysed["created"]
    openapi.check("POST", ANALYSES, created)
    body = created.get_json()
    assert body["status"] in ("queued", "running")
    assert body["deduplicated"] is False
    assert created.headers["Location"] == body["links"]["self"]
    assert body["result"] is None

    seen = analysed["seen"]
    statuses = [b["status"] for b in seen]
    assert statuses[-1] == "done"
    assert "running" in statuses, "progress was never observed while running"
    percents = [b["progress"]["percent"] for b in seen]
    assert percents == sorted(percents), "progress went backwards"
    assert {b["progress"]["stage"] for b in seen} & {"frames", "classify"}

    final = analysed["final"]
    assert final["progress"] == {"stage": "finished", "percent": 100.0}
    assert final["verdict"] in ("REAL", "FAKE")
    result = final["result"]
    assert result["verdict"] == final["verdict"]
    assert len(result["faces"]) == 1
    assert result["frames_analyzed"] == 8
    # The stored name, never the client's: "<sha256>/video.mp4".
    assert result["path"] == f"{final['file']['sha256']}/video.mp4"
    assert final["file"]["name"] == "interview.mp4"
    response = client.get(ANALYSIS.format(id=final["id"]))
    openapi.check("GET", ANALYSIS, response)


def test_the_verdict_is_recorded_before_the_heatmaps_are_drawn(
    analysed: dict, client: FlaskClient, openapi: OpenApiChecker
) -> None:
    at_done, final = analysed["at_done"], analysed["final"]
    assert at_done["verdict"] in ("REAL", "FAKE") and at_done["result"]["faces"]
    assert at_done["heatmaps_state"] == "pending" and at_done["heatmaps"] == {}
    assert at_done["heatmap_checks"] == {}
    assert "heatmaps" not in at_done["result"]["timings"], "the verdict did not wait for them"
    assert final["heatmaps_state"] == "ready" and final["heatmaps"] and final["heatmap_checks"]
    assert (final["verdict"], final["result"]) == (at_done["verdict"], at_done["result"])
    openapi.check("GET", ANALYSIS, client.get(ANALYSIS.format(id=final["id"])))


def test_heatmaps_stop_at_their_time_budget_and_each_person_gets_some_first(
    tmp_path: Path,
) -> None:
    """With a budget far below one Grad-CAM pass, only the first chunk is drawn: the first
    person's first crops. The page says how many of the crops have one."""
    from deepfake_detector.service.heatmaps import CHUNK

    app = make_app(tmp_path / "data", heatmaps_budget=1e-9)
    ctx = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings)
    try:
        client = app.test_client()
        clip = video_factory.two_faces(tmp_path / "two.mp4", duration_s=2.0)
        at_done, _ = wait_for_job(client, upload(client, clip).get_json()["id"])
        final = wait_for_heatmaps(client, at_done["id"])
    finally:
        worker.stop(graceful=False)
    faces = final["result"]["faces"]
    assert len(faces) == 2 and final["heatmaps_state"] == "ready"
    first_crops = [f["crop"] for f in faces[0]["frames"]][:CHUNK]
    assert sorted(final["heatmap_checks"]) == sorted(first_crops)
    shown = {crop for crop, check in final["heatmap_checks"].items() if check["shown"]}
    assert set(final["heatmaps"]) == shown
    page = client.get(final["links"]["page"]).get_data(as_text=True)
    crops = sum(len(face["frames"]) for face in faces)
    assert f'Drawn for <span id="heatmaps-count">{CHUNK}</span> of {crops} crops' in page


def test_evidence_video_and_report_are_served(
    analysed: dict, client: FlaskClient, openapi: OpenApiChecker
) -> None:
    final = analysed["final"]
    base = final["links"]["evidence"]
    result = final["result"]
    crops = [f["crop"] for face in result["faces"] for f in face["frames"]]
    frames = [f["image"] for f in result["sampled_frames"]]
    assert all(crops) and all(frames)
    for relative in [crops[0], frames[0], *final["heatmaps"].values()][:4]:
        image = client.get(base + relative)
        assert image.status_code == 200 and image.mimetype == "image/jpeg"
        assert image.data[:2] == b"\xff\xd8"
    checks = final["heatmap_checks"]
    assert set(checks) == set(crops), "every face crop's map is checked"
    shown = {crop for crop, check in checks.items() if check["shown"]}
    assert shown and set(final["heatmaps"]) == shown, "an overlay where the map is on the face"
    for crop in set(crops) - shown:  # no clear region: no overlay made
        assert client.get(f"{base}heatmaps/{crop.rsplit('/', 1)[-1]}").status_code == 404
    assert final["links"]["thumbnail"].startswith(base)

    for bad in ("../../video.mp4", "crops/../../video.mp4", "nothing.jpg", "crops/x.png"):
        response = client.get(base + bad)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"

    video = client.get(final["links"]["video"], headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.data) == 100
    assert video.mimetype == "video/mp4"

    report = client.get(final["links"]["report"])
    openapi.check("GET", "/api/v1/analyses/{id}/report", report)
    assert "attachment" in report.headers["Content-Disposition"]
    body = json.loads(report.data)
    about = body.pop("report")
    assert body == result | {"path": final["file"]["name"]}  # the result, named by its upload
    assert about["analysis_id"] == final["id"] and about["file"] == final["file"]
    assert about["file"]["sha256"] and about["file"]["size_bytes"] > 0
    for moment in ("created_at", "started_at", "finished_at"):
        assert about[moment] == final[moment] and about[moment].endswith("Z")
    assert about["app_version"] and about["url"].endswith(f"/analyses/{final['id']}")
    assert result["settings"]["frames"] == result["frames_analyzed"]  # schema 1.3
    assert result["schema_version"] == "1.4"


def test_same_file_twice_is_analysed_once(
    analysed: dict, running_app: RunningApp, panning_video: Path, openapi: OpenApiChecker
) -> None:
    client = running_app.client()
    again = upload(client, panning_video, name="a copy with another name.mp4")
    openapi.check("POST", ANALYSES, again)
    body = again.get_json()
    assert body["deduplicated"] is True
    assert body["id"] == analysed["final"]["id"]
    assert body["status"] == "done"
    # On disk: one folder named by the content hash, the video under a server-chosen name.
    root = Path(running_app.ctx.settings.resolved_storage_dir())
    sha = body["file"]["sha256"]
    assert (root / sha / "video.mp4").is_file()
    names = {p.name for p in root.rglob("*") if p.is_file()}
    assert "interview.mp4" not in names and "a copy with another name.mp4" not in names


def test_list_is_paged_and_sorted(
    analysed: dict, running_app: RunningApp, no_face_video: Path, openapi: OpenApiChecker
) -> None:
    client = running_app.client()
    second = upload(client, no_face_video, name="cup.mp4").get_json()
    wait_for_job(client, second["id"])

    first_page = client.get(ANALYSES, query_string={"per_page": 1, "sort": "-created_at"})
    openapi.check("GET", ANALYSES, first_page)
    page = first_page.get_json()
    assert page["total"] >= 2 and page["pages"] == page["total"]
    assert [item["id"] for item in page["items"]] == [second["id"]]
    assert page["links"]["prev"] is None and page["links"]["next"]
    following = client.get(page["links"]["next"]).get_json()
    assert following["page"] == 2 and following["items"][0]["id"] != second["id"]

    ascending = client.get(ANALYSES, query_string={"sort": "created_at"}).get_json()
    ids = [item["id"] for item in ascending["items"]]
    assert ids.index(analysed["final"]["id"]) < ids.index(second["id"])
    by_probability = client.get(ANALYSES, query_string={"sort": "-fake_probability"})
    openapi.check("GET", ANALYSES, by_probability)
    probabilities = [i["fake_probability"] for i in by_probability.get_json()["items"]]
    known = [p for p in probabilities if p is not None]
    assert known == sorted(known, reverse=True)
    assert probabilities[-1] is None  # the face-free video has no probability: listed last

    # Filters: by file name (ignoring case) and by creation time, with the others.
    named = client.get(ANALYSES, query_string={"q": "CUP", "status": "done"})
    openapi.check("GET", ANALYSES, named)
    assert [item["id"] for item in named.get_json()["items"]] == [second["id"]]
    assert "q=CUP" in named.get_json()["links"]["self"]
    created = datetime.fromisoformat(second["created_at"])
    before = (created - timedelta(milliseconds=1)).isoformat()
    later = client.get(ANALYSES, query_string={"created_after": before, "sort": "created_at"})
    openapi.check("GET", ANALYSES, later)
    assert second["id"] in [item["id"] for item in later.get_json()["items"]]
    assert analysed["final"]["id"] not in [item["id"] for item in later.get_json()["items"]]
    just_after = created + timedelta(milliseconds=1)  # shown to the millisecond
    naive = just_after.astimezone(UTC).replace(tzinfo=None).isoformat()  # taken as UTC
    none_after = client.get(ANALYSES, query_string={"created_after": naive, "q": "cup"})
    assert none_after.status_code == 200 and none_after.get_json()["total"] == 0

    for query in (
        {"sort": "size"},
        {"page": 0},
        {"per_page": 1000},
        {"page": "two"},
        {"created_after": "last tuesday"},
        {"q": ""},
        {"q": "x" * 201},
        {"name": "cup"},  # unknown: refused, never silently ignored
    ):
        bad = client.get(ANALYSES, query_string=query)
        openapi.check("GET", ANALYSES, bad)
        assert bad.status_code == 400
        assert bad.get_json()["error"]["code"] == "invalid_parameter"


def test_a_video_without_faces_is_inconclusive_and_can_be_deleted(
    running_app: RunningApp, openapi: OpenApiChecker, tmp_path: Path
) -> None:
    client = running_app.client()
    clip = video_factory.no_face(tmp_path / "empty-room.mp4", duration_s=1.0)
    created = upload(client, clip).get_json()
    final, _ = wait_for_job(client, created["id"])
    assert final["status"] == "done"
    assert final["verdict"] == "INCONCLUSIVE" and final["fake_probability"] is None
    assert "No face" in final["result"]["reason"]

    root = Path(running_app.ctx.settings.resolved_storage_dir())
    folder = root / final["file"]["sha256"]
    assert (folder / final["id"] / "1" / "frames").is_dir(), "evidence of attempt 1"
    response = client.delete(ANALYSIS.format(id=final["id"]))
    openapi.check("DELETE", ANALYSIS, response)
    assert response.status_code == 204
    assert not folder.exists(), "the video and its evidence are removed with the analysis"
    gone = client.get(ANALYSIS.format(id=final["id"]))
    openapi.check("GET", ANALYSIS, gone)
    assert gone.status_code == 404
    again = client.delete(ANALYSIS.format(id=final["id"]))
    openapi.check("DELETE", ANALYSIS, again)
    assert again.status_code == 404


def test_bad_uploads_get_clear_json_errors(
    running_app: RunningApp, panning_video: Path, openapi: OpenApiChecker
) -> None:
    client = running_app.client()
    cases = [
        ({}, 400, "missing_file"),
        ({"file": (io.BytesIO(b""), "empty.mp4")}, 400, "empty_file"),
        ({"file": (io.BytesIO(b"just some text\n" * 50), "notes.mp4")}, 415, "not_a_video"),
        ({"file": (io.BytesIO(b"\x00\x00\x00\x18ftypmp42" + bytes(4000)), "x.mp4")}, 415, None),
        # A real video cut in half: the container is damaged.
        ({"file": (io.BytesIO(panning_video.read_bytes()[:20000]), "cut.mp4")}, 415, None),
    ]
    for data, status, code in cases:
        response = client.post(ANALYSES, data=data, content_type="multipart/form-data")
        openapi.check("POST", ANALYSES, response)
        assert response.status_code == status, (data, response.get_json())
        error = response.get_json()["error"]
        assert error["status"] == status and error["message"]
        if code:
            assert error["code"] == code
    malformed = client.post(
        ANALYSES, data=b"--xyz\r\nbroken", content_type="multipart/form-data; boundary=xyz"
    )
    openapi.check("POST", ANALYSES, malformed)
    assert malformed.status_code == 400


def test_limits_are_checked_on_the_content(
    tmp_path: Path, panning_video: Path, openapi: OpenApiChecker
) -> None:
    """Size, duration and resolution limits, with messages that say what the limit is."""
    size = panning_video.stat().st_size
    checks = [
        ({"upload_max_mb": size / 2 / 1e6}, 413, "file_too_large", "limit"),
        ({"upload_max_duration_s": 2.0}, 422, "video_too_long", "the limit is 2 s"),
        ({"upload_max_side": 320}, 422, "resolution_too_high", "640×360"),
    ]
    for n, (limits, status, code, words) in enumerate(checks):
        client = make_app(tmp_path / f"limits{n}", **limits).test_client()
        # A misleading name and type do not matter: the content is probed.
        with open(panning_video, "rb") as f:
            response = client.post(
                ANALYSES,
                data={"file": (f, "holiday.txt", "text/plain")},
                content_type="multipart/form-data",
            )
        openapi.check("POST", ANALYSES, response)
        error = response.get_json()["error"]
        assert (response.status_code, error["code"]) == (status, code), error
        assert words in error["message"]
        assert not list((tmp_path / f"limits{n}" / "files").glob("*/video.*")), "nothing kept"
        assert not list((tmp_path / f"limits{n}" / "files" / "tmp").iterdir()), "no leftovers"


def test_unknown_things_are_json_404s(client: FlaskClient, openapi: OpenApiChecker) -> None:
    for path in ("/api/v1/analyses/" + "0" * 32, "/api/v1/analyses/not-an-id"):
        response = client.get(path)
        openapi.check("GET", ANALYSIS, response)
        assert response.status_code == 404
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    openapi.validate(response.get_json(), "Error")
    response = client.put("/api/v1/analyses")
    assert response.status_code == 405
    openapi.validate(response.get_json(), "Error")


def test_health(client: FlaskClient, openapi: OpenApiChecker) -> None:
    response = client.get("/api/v1/health")
    openapi.check("GET", "/api/v1/health", response)
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["queue"]["backend"] == "sqlite" and body["workers"] >= 1


def test_cross_site_browser_requests_are_refused(
    client: FlaskClient, openapi: OpenApiChecker
) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = client.post(
            ANALYSES,
            data={"file": (io.BytesIO(b"x"), "x.mp4")},
            content_type="multipart/form-data",
            headers=headers,
        )
        openapi.check("POST", ANALYSES, response)
        assert response.status_code == 403
        response = client.delete(ANALYSIS.format(id="0" * 32), headers=headers)
        openapi.check("DELETE", ANALYSIS, response)
        assert response.status_code == 403
    same_origin = client.post(
        ANALYSES,
        data={"file": (io.BytesIO(b"x"), "x.mp4")},
        content_type="multipart/form-data",
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert same_origin.status_code == 415  # got past the origin check to the content check

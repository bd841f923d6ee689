"""Pages through the Flask test client: CSRF on forms, security headers, escaping, the upload
form without scripts, history, delete. (The browser tests drive the same pages in Chromium.)"""

from __future__ import annotations

import hashlib
import io
import re
from html import unescape
from pathlib import Path

from flask.testing import FlaskClient
from service_support import RunningApp, upload, wait_for_heatmaps, wait_for_job

from deepfake_detector.service.db import Analysis
from deepfake_detector.service.security import CONTENT_SECURITY_POLICY
from deepfake_detector.service.wording import percent

import video_factory


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def test_every_response_has_the_security_headers(client: FlaskClient) -> None:
    for path in ("/", "/history", "/api/v1/health", "/static/css/app.css", "/nope"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_scripts_or_styles(
    running_app: RunningApp, panning_video: Path
) -> None:
    client = running_app.client()
    analysis = upload(client, panning_video).get_json()
    wait_for_job(client, analysis["id"])
    for path in ("/", "/history", analysis["links"]["page"], "/api/docs", "/nope"):
        html = client.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert " style=" not in html and "<style" not in html
        assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_the_api_docs_page_serves_swagger_ui_from_this_server(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'data-spec-url="/api/v1/openapi.json"' in html and "Apache License 2.0" in html
    assert 'href="/api/docs">API</a>' in html  # the navigation's API link opens this page
    sources = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    for name, mimetype in (
        ("swagger-ui.css", "text/css"),
        ("swagger-ui-bundle.js", "text/javascript"),
    ):
        asset = client.get(f"/api/docs/assets/{name}")
        assert asset.status_code == 200 and asset.mimetype == mimetype and len(asset.data) > 10_000
    for name in ("index.css", "swagger-initializer.js", "..%2Fswagger-ui.css"):
        assert client.get(f"/api/docs/assets/{name}").status_code == 404


def test_forms_need_the_csrf_token(running_app: RunningApp, tmp_path: Path) -> None:
    client = running_app.client()
    data = {"file": (io.BytesIO(b"not a video"), "x.mp4")}
    refused = client.post("/upload", data=data, content_type="multipart/form-data")
    assert refused.status_code == 403
    assert "did not come from this site" in refused.get_data(as_text=True)
    token = csrf_token(client)
    wrong = client.post(
        "/upload",
        data={"csrf_token": "x" * 43, "file": (io.BytesIO(b"not a video"), "x.mp4")},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 403
    accepted = client.post(
        "/upload",
        data={"csrf_token": token, "file": (io.BytesIO(b"not a video"), "x.mp4")},
        content_type="multipart/form-data",
    )
    assert accepted.status_code == 415  # past CSRF, stopped by the content check
    page = accepted.get_data(as_text=True)
    assert "not a video that can be read" in page and "<form" in page

    clip = video_factory.no_face(tmp_path / "delete-me.mp4", duration_s=1.0)
    created = upload(client, clip).get_json()
    refused = client.post(f"/analyses/{created['id']}/delete")
    assert refused.status_code == 403
    assert client.get(f"/api/v1/analyses/{created['id']}").status_code == 200
    wait_for_job(client, created["id"])
    deleted = client.post(f"/analyses/{created['id']}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and deleted.headers["Location"].endswith("/history")
    assert client.get(f"/api/v1/analyses/{created['id']}").status_code == 404
    assert "were deleted" in client.get("/history").get_data(as_text=True)


def test_upload_form_works_without_scripts_and_names_are_escaped(
    running_app: RunningApp, tmp_path: Path
) -> None:
    client = running_app.client()
    token = csrf_token(client)
    nasty = "'><img src=x onerror=alert(1)><script>alert(2)<.mp4"  # no "/": kept whole
    clip = video_factory.no_face(tmp_path / "escape.mp4", duration_s=1.2)
    with open(clip, "rb") as f:
        response = client.post(
            "/upload",
            data={"csrf_token": token, "file": (f, nasty)},
            content_type="multipart/form-data",
        )
    assert response.status_code == 303
    page_url = response.headers["Location"]
    analysis_id = page_url.rstrip("/").rsplit("/", 1)[-1]
    wait_for_job(client, analysis_id)
    assert client.get(f"/api/v1/analyses/{analysis_id}").get_json()["file"]["name"] == nasty
    for path in (page_url, "/history"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(2)" not in html and "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;.mp4" in html


def test_result_page_explains_the_verdict(running_app: RunningApp, panning_video: Path) -> None:
    client = running_app.client()
    created = upload(client, panning_video).get_json()
    at_done, _ = wait_for_job(client, created["id"])
    pending = client.get(at_done["links"]["page"]).get_data(as_text=True)
    assert 'id="verdict"' in pending, "the verdict is on the page before the heatmaps"
    final = wait_for_heatmaps(client, created["id"])
    html = client.get(final["links"]["page"]).get_data(as_text=True)
    assert 'id="verdict"' in html
    model = final["result"]["model"]
    if model["score_is_probability"]:
        assert "chance that the face in this video was digitally manipulated" in html
    else:  # calibration on real-world videos not good enough: a score, never a chance
        assert "a fake score of" in html and "chance that" not in html
    if model["summary"]:  # the measured accuracy in one line, with the model card beside it
        assert 'id="model-summary"' in html
        card = client.get(f"/models/{model['name']}/card")
        assert card.status_code == 200 and card.mimetype == "text/plain"
        assert card.get_data(as_text=True).startswith(f"# {model['name']}")
    # The page warns exactly when the model's weights are untrained (its scores mean nothing).
    assert ("untrained" in html) == (final["result"]["model"]["trained"] is False)
    assert html.count('class="card person') == 1
    # How the person's score is formed: the frames' range and mean, and what the score is.
    face = final["result"]["faces"][0]
    scores = [f["score"] for f in face["frames"]]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())  # as a reader sees it
    low, high, mean = map(percent, (min(scores), max(scores), sum(scores) / len(scores)))
    assert f"Single frames scored {low}–{high} (mean {mean})" in text
    assert "The person's score is not their mean" in text
    texture = percent(face["members"]["texture"])
    assert f"read all {len(face['frames'])} crops in order ({texture})" in text
    assert 'id="score-chart"' in html and 'id="overlay"' in html
    assert html.count('data-heatmap="') == len(final["heatmaps"]) > 0
    unclear = [crop for crop, check in final["heatmap_checks"].items() if not check["shown"]]
    assert html.count("data-no-region") == len(unclear)
    assert f"Hide heatmaps ({len(final['heatmaps'])})" in html
    assert "not where a manipulation is" in text  # the heatmaps' caveat
    assert 'id="download-report"' in html and 'id="permalink"' in html


def test_crops_whose_map_is_not_on_the_face_show_no_clear_region(
    running_app: RunningApp, two_faces_video: Path
) -> None:
    """The astronaut's maps in the two-faces video are empty (see tests/service/test_heatmaps.py):
    her crops are shown plain, labelled, and the toggle counts only the real heatmaps. An
    analysis recorded before the checks existed shows every heatmap it has, as it did."""
    client = running_app.client()
    created = upload(client, two_faces_video).get_json()
    wait_for_job(client, created["id"])
    final = wait_for_heatmaps(client, created["id"])
    checks, overlays = final["heatmap_checks"], final["heatmaps"]
    crops = [f["crop"] for face in final["result"]["faces"] for f in face["frames"]]
    assert set(checks) == set(crops)
    unclear = [crop for crop in crops if not checks[crop]["shown"]]
    assert unclear and overlays and set(overlays) == set(crops) - set(unclear)
    html = client.get(final["links"]["page"]).get_data(as_text=True)
    figures = re.findall(r'<figure class="slide crop">(.*?)</figure>', html, re.S)
    assert len(figures) == len(crops)
    for crop, figure in zip(crops, figures, strict=True):
        if crop in unclear:
            assert f'src="{final["links"]["evidence"]}{crop}"' in figure
            assert "data-heatmap=" not in figure and "data-no-region" in figure
            assert '<span class="heatmap-label">no clear region</span>' in figure
        else:
            assert f'data-heatmap="{final["links"]["evidence"]}{overlays[crop]}"' in figure
            assert "no clear region" not in figure
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert f"on {len(unclear)} crops it lights up something else" in text
    assert f"Hide heatmaps ({len(overlays)})" in text
    assert "not where a manipulation is" in text  # the caveat stays

    with running_app.ctx.backends.jobs.session() as s:  # as recorded before the checks
        row = s.get(Analysis, created["id"])
        assert row is not None
        row.artifacts = {k: v for k, v in row.artifacts.items() if k != "heatmap_checks"}
    old = client.get(final["links"]["self"]).get_json()
    assert old["heatmap_checks"] == {} and old["heatmaps"] == overlays
    html = client.get(final["links"]["page"]).get_data(as_text=True)
    assert "data-no-region" not in html and "no clear region</span>" not in html
    assert html.count('data-heatmap="') == len(overlays)
    assert f'Drawn for <span id="heatmaps-count">{len(overlays)}</span>' in html


def test_history_sorts_and_pages(
    running_app: RunningApp, panning_video: Path, no_face_video: Path
) -> None:
    client = running_app.client()
    upload(client, panning_video)
    upload(client, no_face_video)  # two analyses at least, whatever ran before
    html = client.get("/history?per_page=1&sort=-created_at").get_data(as_text=True)
    assert html.count("<tr>") == 2  # header + one row
    assert 'rel="next"' in html and "Page 1 of" in html
    assert 'aria-sort="descending"' in html
    second = client.get("/history?per_page=1&page=2&sort=name").get_data(as_text=True)
    assert 'rel="prev"' in second and 'aria-sort="ascending"' in second
    bad = client.get("/history?sort=bogus")
    assert bad.status_code == 400 and "sort must be one of" in bad.get_data(as_text=True)


def test_model_cards_only_for_shipped_models(client: FlaskClient) -> None:
    for name in ("no-such-model", "..", "default.json"):
        response = client.get(f"/models/{name}/card")
        assert response.status_code == 404


def test_unknown_analysis_page_is_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/analyses/" + "f" * 32)
    assert response.status_code == 404
    assert "No analysis with this id" in response.get_data(as_text=True)
    assert response.mimetype == "text/html"


def test_vendored_chart_library_is_pinned_and_licensed(client: FlaskClient) -> None:
    vendor = Path(__file__).resolve().parents[2] / "src/deepfake_detector/service/static/vendor"
    readme = (vendor / "README.md").read_text()
    script = (vendor / "chartjs/chart.umd.min.js").read_bytes()
    assert hashlib.sha256(script).hexdigest() in readme
    assert script.startswith(b"/*!\n * Chart.js v4.6.1")
    assert "MIT" in (vendor / "chartjs/LICENSE.md").read_text()
    served = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert served.status_code == 200 and served.mimetype == "text/javascript"
    page = client.get("/").get_data(as_text=True) + client.get("/history").get_data(as_text=True)
    assert "http://" not in page.replace("http://localhost", "")  # nothing from elsewhere

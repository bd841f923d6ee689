"""The PDF report of an analysis, through its route on the real app and the real analysis, read
back with poppler: ``pdftotext`` must find what the page says (verdict, person cards, caveats),
the file's name in any script, the analysis id and the model; ``pdftoppm`` must draw every
page. Failed analyses get a PDF saying why; unfinished ones a 409, unknown ones a 404."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from flask.testing import FlaskClient
from service_support import (
    OpenApiChecker,
    RunningApp,
    make_app,
    upload,
    wait_for_heatmaps,
    wait_for_job,
)
from werkzeug.test import TestResponse

import photo_factory
from deepfake_detector.service import auth, wording
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.db import JobStatus
from deepfake_detector.service.jobstore import Outcome
from deepfake_detector.service.report_pdf import MAX_CROPS
from deepfake_detector.service.web import people_cards
from deepfake_detector.service.worker import start_worker

import video_factory

PDF_ROUTE = "/api/v1/analyses/{id}/report.pdf"
NAME = "Überwachung – Интервью 東京 (2).mp4"
"""Latin with diacritics, Cyrillic (both in DejaVu Sans) and CJK (only in the fallback font)."""

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils is not installed (apt-get install poppler-utils)",
)
"""For the tests that read the PDF back; the route's refusals are tested without it."""


def words(text: str) -> str:
    """Text with every run of white space as one space (PDF lines break anywhere)."""
    return " ".join(text.split())


def pdf_text(pdf: bytes, folder: Path) -> str:
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    assert not done.stderr, done.stderr
    return words(done.stdout.decode("utf-8"))


def draw_pages(pdf: bytes, folder: Path) -> list[Path]:
    """Every page drawn at 50 dpi by poppler, without a complaint; the page images."""
    path = folder / "drawn.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True)
    pages = int(next(ln for ln in info.stdout.splitlines() if ln.startswith("Pages:")).split()[1])
    done = subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(path), str(folder / "page")],
        capture_output=True,
        check=True,
        text=True,
    )
    assert not done.stderr, done.stderr
    drawn = sorted(folder.glob("page-*.png"))
    assert len(drawn) == pages >= 1
    assert all(p.stat().st_size > 1000 for p in drawn)
    return drawn


def get_pdf(client: FlaskClient, analysis_id: str, openapi: OpenApiChecker) -> TestResponse:
    """The PDF route's answer, checked against the OpenAPI document."""
    response = client.get(PDF_ROUTE.format(id=analysis_id))
    openapi.check("GET", PDF_ROUTE, response)
    return response


@pytest.fixture(scope="module")
def finished(running_app: RunningApp, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two people, analysed to the end with their heatmaps (bytes of its own: not reused)."""
    clip = video_factory.two_faces(tmp_path_factory.mktemp("pdf") / "clip.mp4", duration_s=2.3)
    client = running_app.client()
    created = upload(client, clip, name=NAME)
    assert created.status_code == 202, created.data
    done, _ = wait_for_job(client, created.get_json()["id"])
    return wait_for_heatmaps(client, done["id"])


@needs_poppler
def test_the_pdf_says_what_the_page_says(
    finished: dict, client: FlaskClient, openapi: OpenApiChecker, tmp_path: Path
) -> None:
    response = get_pdf(client, finished["id"], openapi)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    # Named after the upload: ASCII for old clients, the name itself in filename*.
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Uberwachung_(2)-report.pdf"; ')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert encoded == quote("Überwachung – Интервью 東京 (2)-report.pdf", safe="")
    assert unquote(encoded) == "Überwachung – Интервью 東京 (2)-report.pdf"

    text = pdf_text(response.data, tmp_path)
    result = finished["result"]
    assert NAME in text, "the file name, in every script, as searchable text"
    assert finished["id"] in text and finished["file"]["sha256"] in text
    assert result["model"]["name"] in text and result["model"]["sha256"] in text
    # The verdict, caveats and person cards in the page's own words.
    verdict = wording.describe(result, "done", None)
    assert verdict.headline in text and words(verdict.explanation) in text
    for note in wording.caveats(result):
        assert words(note) in text
    people = people_cards(result)
    assert len(people) == 2
    for person in people:
        assert f"Person {person['number']}" in text
        assert person["verdict"].headline in text and person["verdict"].explanation in text
        assert words(person["score_parts"]) in text
    assert (
        f"{wording.percent(result['fake_probability'])} {wording.score_words(result['model'])}"
        in text
    )
    # The chart, the crops with their heatmaps and the heatmaps' caveat.
    assert "over time" in text
    assert words(wording.chart_note(result["model"])) in text
    assert finished["heatmaps"] and words(wording.HEATMAP_CAVEAT) in text
    # The model card in short: licence, known limits, the card's address.
    assert "non-commercial research" in text and "Known limits" in text
    assert f"/models/{result['model']['name']}/card" in text
    drawn = draw_pages(response.data, tmp_path)
    assert len(drawn) >= 2

    # Every crop (8 frames: no more than MAX_CROPS a person), the heatmaps the page shows
    # (only those pointing at the face) and the chart are in it.
    images = subprocess.run(
        ["pdfimages", "-list", str(tmp_path / "drawn.pdf")], capture_output=True, text=True
    ).stdout.splitlines()[2:]
    crops = [obs["crop"] for person in people for obs in person["crops"]]
    assert all(len(person["crops"]) <= MAX_CROPS for person in people)
    heatmaps = [c for c in crops if c in finished["heatmaps"]]
    assert len(images) >= len(crops) + len(heatmaps) + 1
    # Crops whose heatmap pointed away from the face are labelled, as on the page.
    hidden = [c for c, check in finished["heatmap_checks"].items() if not check["shown"]]
    assert hidden, "the two-faces clip has crops with no clear region (the astronaut's)"
    assert text.count("no clear region") >= 1 + min(len(hidden), MAX_CROPS)

    # The page offers it beside the JSON report.
    page = client.get(finished["links"]["page"]).get_data(as_text=True)
    assert f'id="download-pdf" href="{PDF_ROUTE.format(id=finished["id"])}"' in page
    assert 'id="download-report"' in page


@needs_poppler
def test_a_photo_has_no_time_line(
    running_app: RunningApp, openapi: OpenApiChecker, tmp_path: Path
) -> None:
    """A photo is one sampled frame: cards and crop, no chart, no "seen in N frames"."""
    photo = photo_factory.write_photo(tmp_path / "портрет.png")
    client = running_app.client()
    created = upload(client, photo)
    assert created.status_code == 202, created.data
    final, _ = wait_for_job(client, created.get_json()["id"])
    result = final["result"]
    assert final["status"] == "done" and result["media"]["kind"] == "image"
    response = get_pdf(client, final["id"], openapi)
    assert response.status_code == 200
    ascii_name = f'filename="analysis-{final["id"][:8]}-report.pdf"'  # no Latin letter to keep
    assert ascii_name in response.headers["Content-Disposition"]
    text = pdf_text(response.data, tmp_path)
    assert "портрет.png" in text and "People in the photo" in text
    verdict = wording.describe(result, "done", None)
    assert verdict.headline in text and words(verdict.explanation) in text
    assert "over time" not in text and "sampled frame" not in text
    assert "photo, 512×512" in text
    draw_pages(response.data, tmp_path)


@needs_poppler
def test_no_face_gives_a_pdf_with_the_reason(
    running_app: RunningApp, openapi: OpenApiChecker, tmp_path: Path
) -> None:
    client = running_app.client()
    clip = video_factory.no_face(tmp_path / "empty room.mp4", duration_s=0.9)
    final, _ = wait_for_job(client, upload(client, clip).get_json()["id"])
    assert final["verdict"] == "INCONCLUSIVE"
    response = get_pdf(client, final["id"], openapi)
    assert response.status_code == 200
    assert 'filename="empty_room-report.pdf"' in response.headers["Content-Disposition"]
    text = pdf_text(response.data, tmp_path)
    assert "No verdict" in text and words(final["result"]["reason"]) in text
    assert "People in the" not in text and "over time" not in text
    assert "How this was analysed" in text and final["id"] in text
    draw_pages(response.data, tmp_path)


@needs_poppler
def test_an_unreadable_file_gets_a_pdf_that_says_so(
    tmp_path: Path, openapi: OpenApiChecker
) -> None:
    """The upload was a video when it was checked, but not when the worker read it: the
    analysis fails with the verdict ERROR, and its PDF says so and why."""
    app = make_app(tmp_path / "data")
    ctx = app.extensions[EXTENSION_KEY]
    client = app.test_client()
    clip = video_factory.panning_face(tmp_path / "clip.mp4", duration_s=0.7)
    created = upload(client, clip, name="Доказательство.mp4").get_json()
    found = ctx.backends.jobs.get(created["id"])
    assert found is not None
    ctx.backends.blobs.local_path(found[1].key).write_bytes(b"no longer a video\n" * 100)
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
    try:
        final, _ = wait_for_job(client, created["id"], timeout=90)
    finally:
        worker.stop(graceful=False)
        ctx.backends.close()
    assert final["status"] == "failed" and final["result"]["verdict"] == "ERROR"
    response = get_pdf(client, final["id"], openapi)
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    text = pdf_text(response.data, tmp_path)
    verdict = wording.describe(final["result"], "failed", final["error"])
    assert verdict.tone == "error" and verdict.headline in text
    assert "Доказательство.mp4" in text and final["id"] in text
    assert "People in the" not in text
    draw_pages(response.data, tmp_path)


@needs_poppler
def test_no_pdf_before_the_end_then_a_failed_one_says_why(
    tmp_path: Path, openapi: OpenApiChecker
) -> None:
    """Queued, then running (claimed as a worker claims it): 409. Failed without a result (as
    the runner records a crash): a PDF with the reason."""
    app = make_app(tmp_path / "data")
    jobs = app.extensions[EXTENSION_KEY].backends.jobs
    client = app.test_client()
    clip = video_factory.no_face(tmp_path / "waiting.mp4", duration_s=0.7)
    analysis_id = upload(client, clip).get_json()["id"]
    page = client.get(f"/analyses/{analysis_id}").get_data(as_text=True)
    assert 'id="download-pdf"' not in page, "no PDF link before the analysis ends"

    queued = get_pdf(client, analysis_id, openapi)
    claim = jobs.claim(analysis_id, "a-test-worker")
    assert claim is not None
    running = get_pdf(client, analysis_id, openapi)
    for response in (queued, running):
        assert response.status_code == 409 and response.mimetype == "application/json"
        error = response.get_json()["error"]
        assert error["code"] == "not_ready" and "not finished" in error["message"]

    reason = "internal error (RuntimeError: the worker's GPU fell off the bus)"
    assert jobs.finish(claim, Outcome(JobStatus.FAILED, error=reason))
    response = get_pdf(client, analysis_id, openapi)
    assert response.status_code == 200
    text = pdf_text(response.data, tmp_path)
    assert "The analysis failed" in text and reason in text and "waiting.mp4" in text
    draw_pages(response.data, tmp_path)
    page = client.get(f"/analyses/{analysis_id}").get_data(as_text=True)
    assert 'id="download-pdf"' in page


def test_unknown_analyses_are_404s(client: FlaskClient, openapi: OpenApiChecker) -> None:
    for analysis_id in ("0" * 32, "not-an-id", "A" * 32):
        response = get_pdf(client, analysis_id, openapi)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_the_pdf_needs_a_token_where_the_json_report_does(
    tmp_path: Path, openapi: OpenApiChecker
) -> None:
    app = make_app(tmp_path / "data", auth="required")
    token = auth.create_token(app.extensions[EXTENSION_KEY].backends.jobs, "reader", True)
    client = app.test_client()
    for route in (PDF_ROUTE, "/api/v1/analyses/{id}/report"):
        anonymous = client.get(route.format(id="0" * 32))
        openapi.check("GET", route, anonymous)
        assert anonymous.status_code == 401
        signed = client.get(
            route.format(id="0" * 32), headers={"Authorization": f"Bearer {token.secret}"}
        )
        openapi.check("GET", route, signed)
        assert signed.status_code == 404, "past authentication: a read-only token may read"

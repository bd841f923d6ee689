"""The playable copy in the service: a job on an upload browsers cannot play (MPEG-4 Part 2)
makes one after its verdict, keeps it with the evidence and links it; the API serves it with
Range requests; an H.264 upload gets none. Real app, real worker, real analysis."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from backend_contract import done, new_job, status_of
from flask.testing import FlaskClient
from service_support import OpenApiChecker, RunningApp, upload, wait_for_job

from deepfake_detector.config import ServiceSettings
from deepfake_detector.service.api import PREVIEW_WAIT_S
from deepfake_detector.service.db import Analysis, utcnow
from deepfake_detector.service.jobstore import JobStore
from deepfake_detector.service.worker import preview_limits

import video_factory

ANALYSIS = "/api/v1/analyses/{id}"
PREVIEW = "/api/v1/analyses/{id}/preview"


def wait_for_preview(client: FlaskClient, analysis_id: str, timeout: float = 120.0) -> dict:
    """Poll a finished analysis until its playable copy is no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(ANALYSIS.format(id=analysis_id)).get_json()
        if body["preview"]["state"] != "pending":
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"the playable copy of {analysis_id} still pending after {timeout} s")


def camera_clip(path: Path, seconds: float = 2.0) -> Path:
    """Two faces in MPEG-4 Part 2 with AAC sound in an MP4: what browsers show as a black strip
    with sound."""
    layers = video_factory.two_faces_layers()
    frames = (
        video_factory.render_scene((640, 360), layers, i / 25) for i in range(round(25 * seconds))
    )
    return video_factory.with_sound(path, frames, codec="mpeg4", audio_codec="aac")


@pytest.fixture(scope="module")
def camera_analysis(
    running_app: RunningApp, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    client = running_app.client()
    clip = camera_clip(tmp_path_factory.mktemp("preview") / "camera.mp4")
    at_done, _ = wait_for_job(client, upload(client, clip).get_json()["id"])
    return {"at_done": at_done, "final": wait_for_preview(client, at_done["id"])}


def test_an_mpeg4_part2_upload_gets_a_playable_copy_after_its_verdict(
    camera_analysis: dict[str, Any],
    running_app: RunningApp,
    client: FlaskClient,
    openapi: OpenApiChecker,
) -> None:
    at_done, final = camera_analysis["at_done"], camera_analysis["final"]
    assert at_done["status"] == "done" and at_done["verdict"] in ("REAL", "FAKE")
    assert at_done["preview"]["state"] in ("pending", "ready")
    assert "preview" not in at_done["result"]["timings"], "the verdict did not wait for it"
    assert final["result"] == at_done["result"]
    preview = final["preview"]
    assert preview["state"] == "ready", preview
    assert preview["format"] == "MPEG-4 Part 2 video (mpeg4), aac audio in MP4/QuickTime"
    assert "MPEG-4 Part 2" in preview["reason"]
    assert (preview["width"], preview["height"]) == (640, 360)
    assert preview["cut"] is None and preview["covers_s"] == pytest.approx(2.0, abs=0.05)
    link = final["links"]["preview"]
    assert link == PREVIEW.format(id=final["id"])
    openapi.validate(final["preview"], "Preview")
    openapi.validate(final["links"], "Links")

    # Kept with the attempt's evidence in the blob store.
    analysis, _ = running_app.ctx.backends.jobs.get(final["id"])  # type: ignore[misc]
    stored = running_app.ctx.backends.blobs.local_path(analysis.evidence_prefix) / "preview.mp4"
    assert stored.is_file()
    leftovers = [p.name for p in stored.parent.iterdir() if p.name.endswith(".part")]
    assert leftovers == []

    # Served whole and in ranges, as browsers ask for it.
    whole = client.get(link)
    openapi.check("GET", PREVIEW, whole)
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.data == stored.read_bytes()
    part = client.get(link, headers={"Range": "bytes=0-99"})
    openapi.check("GET", PREVIEW, part)
    assert part.status_code == 206 and len(part.data) == 100
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(whole.data)}"
    again = client.get(link, headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304
    with av.open(io.BytesIO(whole.data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in container.decode(video=0)) == 50

    # The page plays the copy and says what it is.
    page = client.get(final["links"]["page"]).get_data(as_text=True)
    assert f'src="{link}" data-source="preview"' in page
    assert "This is a copy made for" in page
    assert 'id="preview-pending" aria-live="polite" hidden' in page


def test_an_h264_upload_plays_as_it_is(
    client: FlaskClient, openapi: OpenApiChecker, tmp_path: Path
) -> None:
    clip = video_factory.two_faces(tmp_path / "plays.mp4", duration_s=1.2)
    final, _ = wait_for_job(client, upload(client, clip).get_json()["id"])
    body = client.get(ANALYSIS.format(id=final["id"])).get_json()
    assert body["preview"] == {"state": "none", "format": None, "reason": None}
    assert body["links"]["preview"] is None
    openapi.validate(body["preview"], "Preview")
    missing = client.get(PREVIEW.format(id=final["id"]))
    openapi.check("GET", PREVIEW, missing)
    assert (
        missing.status_code == 404 and "no playable copy" in missing.get_json()["error"]["message"]
    )
    assert client.get(PREVIEW.format(id="0" * 32)).status_code == 404
    page = client.get(body["links"]["page"]).get_data(as_text=True)
    assert f'src="{body["links"]["video"]}" data-source="original"' in page
    assert 'id="preview-note" hidden' in page


def test_deleting_the_analysis_removes_its_copy(
    running_app: RunningApp, client: FlaskClient, tmp_path: Path
) -> None:
    clip = camera_clip(tmp_path / "short.mp4", seconds=1.0)
    final, _ = wait_for_job(client, upload(client, clip).get_json()["id"])
    final = wait_for_preview(client, final["id"])
    assert final["preview"]["state"] == "ready"
    analysis, _ = running_app.ctx.backends.jobs.get(final["id"])  # type: ignore[misc]
    stored = running_app.ctx.backends.blobs.local_path(analysis.evidence_prefix) / "preview.mp4"
    assert stored.is_file()

    # While the copy is being made, the page says so instead of showing the player; a copy that
    # never came (its worker stopped) is given up on, and the upload itself is tried.
    jobs = running_app.ctx.backends.jobs
    with jobs.session() as s:
        row = s.get(Analysis, final["id"])
        row.artifacts = {
            **row.artifacts,
            "preview": {**row.artifacts["preview"], "state": "pending"},
        }
    body = client.get(ANALYSIS.format(id=final["id"])).get_json()
    assert body["preview"]["state"] == "pending" and body["links"]["preview"] is None
    assert client.get(PREVIEW.format(id=final["id"])).status_code == 404
    page = client.get(final["links"]["page"]).get_data(as_text=True)
    assert "Preparing a playable copy… Browsers do not play this file's format" in page
    assert 'id="player" hidden' in page and 'data-source="' not in page
    with jobs.session() as s:
        row = s.get(Analysis, final["id"])
        row.finished_at = utcnow() - timedelta(seconds=PREVIEW_WAIT_S + 60)
    body = client.get(ANALYSIS.format(id=final["id"])).get_json()
    assert body["preview"]["state"] == "failed"
    page = client.get(final["links"]["page"]).get_data(as_text=True)
    assert f'src="{body["links"]["video"]}" data-source="original"' in page

    assert client.delete(ANALYSIS.format(id=final["id"])).status_code == 204
    assert not stored.exists()
    assert client.get(PREVIEW.format(id=final["id"])).status_code == 404


def test_the_copy_attaches_once_to_the_attempt_that_finished(tmp_path: Path) -> None:
    store = JobStore.from_url(f"sqlite:///{tmp_path / 'jobs.sqlite3'}", migrate=True)
    try:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        ready = {"state": "ready", "path": "preview.mp4", "width": 640}
        assert not store.attach_preview(claim, ready, 1.0), "not finished yet"
        pending = {"heatmaps": {}, "heatmaps_state": "none", "preview": {"state": "pending"}}
        assert store.finish(claim, done(artifacts=pending))
        assert store.attach_preview(claim, {**ready, "format": "MPEG-4"}, 1.5)
        row = status_of(store, job_id)
        assert row.artifacts["preview"] == {**ready, "format": "MPEG-4"}
        assert row.artifacts["heatmaps_state"] == "none", "the rest is kept"
        assert not store.attach_preview(claim, {"state": "failed"}, 1.0), "only while pending"
        assert store.histograms()[("stage_seconds", "preview")].buckets[-1][1] == 1
        other = new_job(store, "settings-2")
        late = store.claim(other, "w1")
        assert late is not None and store.finish(late, done(artifacts=pending))
        store.delete(other)
        assert not store.attach_preview(late, ready, 1.0), "deleted meanwhile"
    finally:
        store.close()


def test_copies_follow_the_settings() -> None:
    assert preview_limits(ServiceSettings(preview=False)) is None
    limits = preview_limits(ServiceSettings(preview_max_side=480, preview_max_mb=50))
    assert limits is not None
    assert (limits.max_side, limits.max_bytes, limits.budget_s) == (480, 50_000_000, 300.0)
    assert preview_limits(ServiceSettings(preview_budget_s=0)).budget_s is None  # type: ignore[union-attr]

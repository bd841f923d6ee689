"""Photos through the REST API and the worker: accepted by content, analysed as one frame,
served back as what they are; broken photos refused with clear errors, nothing kept."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from service_support import OpenApiChecker, RunningApp, upload, wait_for_heatmaps, wait_for_job

import photo_factory

ANALYSES = "/api/v1/analyses"


@pytest.fixture(scope="module")
def photo_job(running_app: RunningApp, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("photos")
    # HEIF marks a turn in its own container (irot), which libheif applies; EXIF orientation is
    # the JPEG way and is tested there (tests/media/test_photos.py, the browser test).
    path = photo_factory.write_photo(folder / "IMG_0042.HEIC", fmt="HEIF", quality=95)
    client = running_app.client()
    created = upload(client, path)
    assert created.status_code == 202, created.data
    done, _ = wait_for_job(client, created.get_json()["id"])
    return {"created": created, "final": wait_for_heatmaps(client, done["id"]), "path": path}


def test_a_photo_is_analysed_as_one_frame(photo_job: dict, openapi: OpenApiChecker) -> None:
    openapi.check("POST", ANALYSES, photo_job["created"])
    final = photo_job["final"]
    assert final["status"] == "done" and final["verdict"] in ("REAL", "FAKE")
    assert final["file"]["kind"] == "image" and final["file"]["content_type"] == "image/heic"
    assert final["file"]["name"] == "IMG_0042.HEIC"
    result = final["result"]
    assert result["media"]["kind"] == "image" and result["media"]["container"] == "HEIF"
    assert (result["media"]["width"], result["media"]["height"]) == (512, 512)
    assert result["path"].endswith("/image.heic")
    assert result["frames_analyzed"] == 1 and len(result["faces"]) == 1
    assert len(final["heatmaps"]) == 1


def test_the_photo_is_served_back_as_what_it_is(
    photo_job: dict, running_app: RunningApp, openapi: OpenApiChecker
) -> None:
    client = running_app.client()
    links = photo_job["final"]["links"]
    for route in ("media", "video"):  # /video: the first name, kept for older clients
        response = client.get(links[route])
        openapi.check("GET", f"/api/v1/analyses/{{id}}/{route}", response)
        assert response.status_code == 200 and response.mimetype == "image/heic"
        assert response.data == photo_job["path"].read_bytes()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The page shows the upright frame the model saw (browsers do not show HEIC), with boxes.
    frame = photo_job["final"]["result"]["sampled_frames"][0]["image"]
    page = client.get(photo_job["final"]["links"]["page"]).get_data(as_text=True)
    assert f'id="photo" src="{links["evidence"]}{frame}"' in page
    assert "People in the photo" in page and 'id="score-chart"' not in page
    assert "in this photo" in page and "A photo is a single frame" in page


def test_a_polyglot_is_kept_as_the_photo_it_starts_with(
    running_app: RunningApp, tmp_path: Path
) -> None:
    """A JPEG with HTML and a ZIP appended is analysed as the JPEG and only ever served as
    ``image/jpeg`` with ``nosniff``, so a browser never runs what is hidden in it."""
    client = running_app.client()
    path = photo_factory.jpeg_with_payload(tmp_path / "holiday.jpg")
    created = upload(client, path)
    assert created.status_code == 202, created.data
    body = created.get_json()
    assert body["file"]["kind"] == "image" and body["file"]["content_type"] == "image/jpeg"
    served = client.get(body["links"]["media"])
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    wait_for_job(client, body["id"])


def test_bad_photos_get_clear_errors_and_leave_nothing(
    running_app: RunningApp, tmp_path: Path, openapi: OpenApiChecker
) -> None:
    client = running_app.client()
    cases = [
        (photo_factory.truncated_jpeg(tmp_path / "cut.jpg"), 415, "damaged or truncated"),
        (
            photo_factory.write_photo(tmp_path / "dot.png", np.zeros((1, 1, 3), np.uint8)),
            415,
            "too small to show a face",
        ),
        (
            photo_factory.png_header_only(tmp_path / "bomb.png", 20000, 20000),
            422,
            "The photo is 400,000,000 pixels; the limit is",
        ),
        (photo_factory.html_then_png(tmp_path / "page.png"), 415, None),
    ]
    before = client.get(ANALYSES + "?per_page=100").get_json()["total"]
    for path, status, message in cases:
        response = client.post(
            ANALYSES,
            data={"file": (io.BytesIO(path.read_bytes()), path.name)},
            content_type="multipart/form-data",
        )
        openapi.check("POST", ANALYSES, response)
        assert response.status_code == status, (path.name, response.get_json())
        error = response.get_json()["error"]
        assert error["message"] and "Traceback" not in error["message"]
        if message:
            assert message in error["message"], error
    assert client.get(ANALYSES + "?per_page=100").get_json()["total"] == before

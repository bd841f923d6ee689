"""The pages in a real browser (Debian's Chromium through Playwright) against a real server:
``serve --production`` (gunicorn + a separate job worker process) on a free port, the real
analysis on generated face videos. Screenshots go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import ARTIFACTS, Server, start_server

import photo_factory

import video_factory

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = ARTIFACTS / "screenshots"
UPLOAD_LIMIT_MB = 5

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (apt-get install)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("browser") / "data"
    server = start_server(
        data,
        "--production",
        env={
            "DFD_WEB_WORKERS": "1",
            "DFD_UPLOAD_MAX_MB": str(UPLOAD_LIMIT_MB),
            "DFD_HEATMAPS_BUDGET": "0",  # every crop's map drawn: the page accounts for each
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


class PageWatch:
    """A page with its console errors, page errors and CSP violations collected."""

    def __init__(self, browser: object, **context_options: object) -> None:
        options = {"viewport": {"width": 1280, "height": 900}, "accept_downloads": True}
        self.context = browser.new_context(**(options | context_options))  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watch(browser: object) -> Iterator[PageWatch]:
    watch = PageWatch(browser)
    yield watch
    watch.close()
    assert not watch.problems, watch.problems  # includes any "Refused to ..." CSP violation


def shot(page: object, name: str, **kwargs: object) -> None:
    page.screenshot(path=str(SHOTS / name), **kwargs)  # type: ignore[attr-defined]


def test_type_and_size_are_checked_before_sending(server: Server, watch: PageWatch) -> None:
    page = watch.page
    page.goto(server.url + "/")
    page.set_input_files(
        "#file-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}]
    )
    page.wait_for_selector("#file-error:not([hidden])")
    assert "is not a video or photo file" in page.inner_text("#file-error")
    big = {"name": "huge.mp4", "mimeType": "video/mp4", "buffer": bytes(6_000_000)}
    page.set_input_files("#file-input", files=[big])
    page.wait_for_function(
        "() => document.getElementById('file-error').textContent.includes('the limit is')"
    )
    assert "huge.mp4" in page.inner_text("#file-error")
    assert f"{UPLOAD_LIMIT_MB}.0 MB" in page.inner_text("#file-error")
    shot(page, "upload-refused.png")
    assert not [r for r in watch.requests if r.startswith("POST")], "nothing was sent"


def test_upload_watch_the_analysis_and_read_the_result(
    server: Server, watch: PageWatch, two_faces_video: Path
) -> None:
    page, context = watch.page, watch.context
    page.goto(server.url + "/")
    shot(page, "upload.png")

    # Slow the upload down (Chromium's own network throttling) so its progress bar is seen.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    size = two_faces_video.stat().st_size
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": size / 1.5,
        },
    )
    page.set_input_files("#file-input", str(two_faces_video))
    page.wait_for_function(
        "() => { const b = document.getElementById('upload-bar');"
        " return b && !document.getElementById('upload-progress').hidden"
        " && b.value > 0 && b.value < 100; }",
        timeout=15000,
    )
    shot(page, "uploading.png")
    page.wait_for_url("**/analyses/*", timeout=30000)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    # Straight to the job page, which shows the progress live and then the result.
    page.wait_for_selector("#progress-panel", state="visible", timeout=10000)
    page.wait_for_function(
        "() => { const s = document.getElementById('job-stage');"
        " return !s || (s.dataset.stage && s.dataset.stage !== 'queued'); }",
        timeout=60000,
    )
    # The page reloads itself the moment the job ends; a query racing that reload finds its
    # document gone. The progress screenshot is then simply not taken (the job was quicker).
    try:
        if page.query_selector("#progress-panel"):
            shot(page, "progress.png")
    except playwright_api.Error as error:
        assert "navigation" in str(error), error
    page.wait_for_selector("#verdict", timeout=120000)
    headline = page.inner_text("#verdict-headline")
    assert "manipulated" in headline or "authentic" in headline
    verdict = page.inner_text("#verdict")
    # A chance only for a model with good real-world calibration; a fake score otherwise.
    assert (
        "chance that at least one of the 2 people" in verdict
        or "at least one of the 2 people in this video a fake score" in verdict
    )
    assert page.locator(".card.person").count() == 2

    # The chart: one line per person.
    page.wait_for_selector("#score-chart[data-ready='true']")
    assert page.get_attribute("#score-chart", "data-series") == "2"

    # The carousels and the lightbox.
    assert page.locator("#frames .slide img").count() == 8
    assert page.locator("#crops .slide img").count() == 16
    # Heatmaps follow the verdict: the page shows them once they are drawn, without a reload,
    # each crop either with its heatmap or, where the map does not point at the face, plain and
    # labelled "no clear region" (the astronaut's maps are empty: tests/service/test_heatmaps.py).
    page.wait_for_function(
        "() => document.querySelectorAll("
        "'#crops img[data-heatmap], #crops img[data-no-region]').length === 16",
        timeout=120000,
    )
    heated = page.locator("#crops img[data-heatmap]")
    unclear = page.locator("#crops img[data-no-region]")
    shown, hidden = heated.count(), unclear.count()
    assert shown >= 1 and hidden >= 1 and shown + hidden == 16
    assert page.locator("#crops .slide.crop .heatmap-label").count() == hidden
    for n in range(hidden):
        img = unclear.nth(n)
        assert "/crops/" in img.get_attribute("src")
        label = img.locator("xpath=following-sibling::span[@class='heatmap-label']")
        assert label.inner_text() == "no clear region"
    assert page.is_visible("#heatmaps-caveat") and page.is_visible("#heatmaps-unclear")
    assert page.inner_text("#heatmaps-unclear-count") == str(hidden)
    assert page.is_visible("#toggle-heatmaps") and not page.is_visible("#heatmaps-pending")
    assert page.inner_text("#toggle-heatmaps") == f"Hide heatmaps ({shown})"
    first_crop, plain = heated.first, unclear.first
    heat_src, plain_src = first_crop.get_attribute("src"), plain.get_attribute("src")
    assert "/heatmaps/" in heat_src
    page.click("#toggle-heatmaps")
    assert "/crops/" in first_crop.get_attribute("src")
    assert page.inner_text("#toggle-heatmaps") == f"Show heatmaps ({shown})"
    page.click("#toggle-heatmaps")
    assert first_crop.get_attribute("src") == heat_src
    assert plain.get_attribute("src") == plain_src  # the toggle leaves them alone
    page.locator("#frames .slide img").nth(3).click()
    page.wait_for_selector("#lightbox[open]")
    page.wait_for_function(
        "() => document.getElementById('lightbox-image').complete"
        " && document.getElementById('lightbox-image').naturalWidth === 640"
    )
    assert "Frame 4" in page.inner_text("#lightbox-caption")
    page.keyboard.press("ArrowRight")
    assert "Frame 5" in page.inner_text("#lightbox-caption")
    shot(page, "lightbox.png")
    page.keyboard.press("Escape")
    page.wait_for_selector("#lightbox:not([open])", state="attached")

    # The video plays with a box and a live score drawn over each of the two faces.
    page.locator("#playback").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('video').play()")
    page.wait_for_function(
        "() => { const v = document.getElementById('video');"
        " const o = document.getElementById('overlay');"
        " return v.currentTime > 1.0 && !v.paused && o.dataset.boxes === '2'; }",
        timeout=20000,
    )
    painted = page.evaluate(
        "() => { const o = document.getElementById('overlay');"
        " const d = o.getContext('2d').getImageData(0, 0, o.width, o.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert painted > 500, "boxes and labels are drawn on the overlay"
    assert int(page.get_attribute("#overlay", "data-draws")) > 10, "redrawn as the video plays"
    page.locator("#playback").screenshot(path=str(SHOTS / "video-with-boxes.png"))
    page.evaluate("document.getElementById('video').pause()")
    page.evaluate("document.getElementById('video').currentTime = 0.5")
    page.wait_for_function("() => document.getElementById('overlay').dataset.time === '0.500'")
    shot(page, "result.png", full_page=True)

    # The JSON report and the permanent link.
    with page.expect_download() as download:
        page.click("#download-report")
    report = json.loads(Path(download.value.path()).read_text())
    assert report["schema_version"] and len(report["faces"]) == 2
    # The PDF report beside it, named after the upload.
    with page.expect_download() as download:
        page.click("#download-pdf")
    assert download.value.suggested_filename == "two_faces-report.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    permalink = page.input_value("#permalink")
    assert permalink == page.url

    # History: the analysis with its thumbnail; sorting changes the order parameter.
    page.goto(server.url + "/history")
    row = page.locator("#history-table tbody tr").first
    assert "two_faces.mp4" in row.inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('td.thumb img')].every(i => i.naturalWidth > 0)"
    )
    shot(page, "history.png")
    page.click("th >> text=Verdict")
    assert "sort=-verdict" in page.url
    page.goto(permalink)
    assert page.inner_text("#verdict-headline") == headline


def test_drop_a_video_then_delete_it(server: Server, watch: PageWatch, tmp_path: Path) -> None:
    page = watch.page
    clip = video_factory.no_face(tmp_path / "dropped cup.mp4", duration_s=1.0)
    page.goto(server.url + "/")
    payload = base64.b64encode(clip.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
            return transfer;
        }""",
        [payload, clip.name],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#drop-zone", event, {"dataTransfer": transfer})
    page.wait_for_url("**/analyses/*", timeout=30000)
    page.wait_for_selector("#verdict", timeout=120000)
    assert page.inner_text("#verdict-headline") == "No verdict"
    assert "No face was found" in page.inner_text("#verdict")
    assert page.inner_text("h1.file-name") == "dropped cup.mp4"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-form button")
    page.wait_for_url("**/history")
    assert "were deleted" in page.inner_text(".flash")
    assert "dropped cup.mp4" not in page.content()


def test_the_api_docs_page_renders_every_operation(server: Server, watch: PageWatch) -> None:
    """Swagger UI from this server under the Content-Security-Policy: every operation of the
    OpenAPI document listed, nothing fetched from elsewhere, no console error."""
    from deepfake_detector.service.openapi import openapi_document

    operations = sum(
        1
        for item in openapi_document()["paths"].values()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )
    page = watch.page
    page.goto(server.url + "/")
    page.click("nav >> text=API")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.url == server.url + "/api/docs"
    assert page.locator(".swagger-ui .opblock").count() == operations
    page.locator(".opblock-summary", has_text="/api/v1/health").first.click()
    page.wait_for_selector(".opblock.is-open .responses-wrapper")
    shot(page, "api-docs.png")
    elsewhere = [r for r in watch.requests if not r.split(" ", 1)[1].startswith(server.url)]
    assert not elsewhere, elsewhere


def test_a_phone_screen_has_nothing_wider_than_itself(
    server: Server, browser: object, tmp_path: Path
) -> None:
    """At 390 px (a common phone): upload, result and history pages never scroll sideways, the
    history is a list of cards, and the labels over the video stay inside its picture."""
    name = "a_rather_long_file_name_as_phones_give_them_20261203_101500.mp4"
    clip = video_factory.two_faces(tmp_path / name, duration_s=3.0)  # its own bytes: not reused
    watch = PageWatch(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = watch.page
    overflow = "() => document.documentElement.scrollWidth - window.innerWidth"
    try:
        page.goto(server.url + "/")
        assert page.evaluate(overflow) <= 0
        page.set_input_files("input[type=file]", str(clip))
        page.wait_for_url("**/analyses/**")
        page.wait_for_selector("#verdict-headline", timeout=120_000)
        page.wait_for_function(
            "() => (document.querySelector('#player canvas, canvas')?.dataset.boxes || '0') > '0'",
            timeout=30_000,
        )
        assert page.evaluate(overflow) <= 0, "the result page scrolls sideways"
        canvas = page.locator("canvas").first
        width = canvas.evaluate("c => c.getBoundingClientRect().width")
        labels = json.loads(canvas.evaluate("c => c.dataset.labels"))
        assert labels and all(x1 >= 0 and x2 <= width + 0.5 for x1, _, x2, _ in labels), labels
        shot(page, "phone-result.png", full_page=True)

        page.goto(server.url + "/history")
        assert page.evaluate(overflow) <= 0, "the history scrolls sideways"
        card = page.locator("#history-table tbody tr", has_text=name[:20]).first
        box = card.bounding_box()
        assert box is not None and box["width"] <= 390
        name = card.locator(".file-name")
        assert name.bounding_box()["width"] > 200, "the file name has the card's width"
        assert page.locator("#history-table thead th").first.is_hidden()
        shot(page, "phone-history.png")
    finally:
        watch.close()
    assert not watch.problems, watch.problems


def test_upload_a_photo_and_see_its_faces_boxed(
    server: Server, watch: PageWatch, tmp_path: Path
) -> None:
    """A phone photo of two people, stored sideways with an EXIF turn: the page shows it upright
    with both faces boxed and scored, and no time line (a photo is one frame)."""
    scene = video_factory.render_scene(
        (1280, 720),
        [
            (video_factory.astronaut(), lambda t: video_factory.Placement(40, 100, 0.9)),
            (video_factory.grace_hopper(), lambda t: video_factory.Placement(700, 80, 0.9)),
        ],
        0.0,
    )
    path = photo_factory.write_photo(tmp_path / "team photo.jpg", scene, orientation=6, quality=92)
    page = watch.page
    page.goto(server.url + "/")
    page.set_input_files("#file-input", str(path))
    page.wait_for_url("**/analyses/*", timeout=30000)
    page.wait_for_selector("#verdict", timeout=120000)
    assert "in this photo" in page.inner_text("#verdict")
    assert page.locator(".card.person").count() == 2
    assert "1280×720" in page.inner_text(".meta")  # upright, the EXIF turn applied
    page.wait_for_function(
        "() => document.getElementById('overlay').dataset.boxes === '2'", timeout=10000
    )
    photo = page.locator("#photo")
    size = photo.evaluate("i => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]")
    assert size[0] > size[1] and size[2] > 0, size  # landscape, as the EXIF tag says
    canvas = page.locator("#overlay")
    width = canvas.evaluate("c => c.getBoundingClientRect().width")
    labels = json.loads(canvas.evaluate("c => c.dataset.labels"))
    assert len(labels) == 2 and all(x1 >= 0 and x2 <= width + 0.5 for x1, _, x2, _ in labels)
    assert page.locator("#score-chart").count() == 0 and page.locator("#frames").count() == 0
    assert page.locator("#crops .slide img").count() == 2
    shot(page, "photo-result.png", full_page=True)


def _mpeg4_part2_clip(path: Path, seconds: float = 3.0) -> Path:
    """Two faces in MPEG-4 Part 2 with sound: a camera's AVI (PCM) or a phone's MP4 (AAC)."""
    layers = video_factory.two_faces_layers()
    frames = (
        video_factory.render_scene((640, 360), layers, i / 25) for i in range(round(25 * seconds))
    )
    audio = "pcm_s16le" if path.suffix == ".avi" else "aac"
    return video_factory.with_sound(path, frames, codec="mpeg4", audio_codec=audio)


VIDEO_STATE = """() => { const v = document.getElementById('video');
  const o = document.getElementById('overlay'); const r = v.getBoundingClientRect();
  const c = o.getBoundingClientRect();
  return { source: v.dataset.source, width: v.videoWidth, height: v.videoHeight,
    time: v.currentTime, src: v.currentSrc, boxes: Number(o.dataset.boxes || 0),
    rects: JSON.parse(o.dataset.rects || '[]'), video: [r.left, r.top, r.width, r.height],
    overlay: [c.left, c.top, c.width, c.height],
    playback: document.getElementById('analysis').dataset.playback }; }"""


def test_an_mpeg4_part2_upload_plays_its_playable_copy_with_the_boxes(
    server: Server, watch: PageWatch, tmp_path: Path
) -> None:
    """Browsers show MPEG-4 Part 2 as a black strip (with sound): the page plays the copy made
    after the verdict instead, with the face boxes over the faces, inside the picture."""
    clip = _mpeg4_part2_clip(tmp_path / "camera clip.avi")
    page = watch.page
    page.goto(server.url + "/")
    page.set_input_files("#file-input", str(clip))
    page.wait_for_url("**/analyses/*", timeout=30000)
    page.wait_for_selector("#verdict", timeout=120000)
    # While the copy is made the page says so (or it was quicker than the page's reload).
    page.wait_for_function(
        "() => { const v = document.getElementById('video');"
        " return v.dataset.source === 'preview' && v.readyState >= 1 && v.videoWidth > 0; }",
        timeout=120000,
    )
    assert page.is_hidden("#preview-pending") and page.is_hidden("#video-error")
    assert "MPEG-4 Part 2" in page.inner_text("#preview-note")
    page.locator("#playback").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('video').play()")
    page.wait_for_function(
        "() => { const v = document.getElementById('video');"
        " const o = document.getElementById('overlay');"
        " return v.currentTime > 1.0 && !v.paused && Number(o.dataset.boxes) > 0; }",
        timeout=20000,
    )
    state = page.evaluate(VIDEO_STATE)
    assert state["src"].endswith("/preview") and state["playback"] == "preview", state
    assert (state["width"], state["height"]) == (640, 360)
    later = page.evaluate(VIDEO_STATE)
    page.wait_for_function(f"() => document.getElementById('video').currentTime > {later['time']}")
    width, height = state["video"][2:]
    assert state["overlay"] == pytest.approx(state["video"], abs=1), "the overlay covers the video"
    assert state["rects"], state
    for x1, y1, x2, y2 in state["rects"]:
        assert -1 <= x1 < x2 <= width + 1 and -1 <= y1 < y2 <= height + 1, (state["rects"], width)
    page.locator("#playback").screenshot(path=str(SHOTS / "preview-with-boxes.png"))

    # While the copy is being made the page says so, and plays it as soon as it is recorded
    # (the state set back and forth in the server's database, as the worker does).
    analysis_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    database = server.log.parent / "data" / "deepfake-detector.sqlite3"

    def set_preview_state(state: str) -> None:
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            (raw,) = db.execute(
                "SELECT artifacts FROM analyses WHERE id = ?", (analysis_id,)
            ).fetchone()
            artifacts = json.loads(raw)
            artifacts["preview"]["state"] = state
            db.execute(
                "UPDATE analyses SET artifacts = ? WHERE id = ?",
                (json.dumps(artifacts), analysis_id),
            )

    set_preview_state("pending")
    try:
        page.reload()
        page.wait_for_selector("#preview-pending:not([hidden])")
        assert "Preparing a playable copy…" in page.inner_text("#preview-pending")
        assert page.is_hidden("#player") and page.get_attribute("#video", "src") is None
        shot(page, "preview-pending.png")
    finally:
        set_preview_state("ready")
    page.wait_for_function(
        "() => { const v = document.getElementById('video');"
        " return v.dataset.source === 'preview' && v.videoWidth > 0; }",
        timeout=20000,
    )
    assert page.is_hidden("#preview-pending") and page.is_visible("#player")
    assert page.is_visible("#preview-note")

    # A browser that cannot play even the copy (here: the request fails, or it is served the
    # MPEG-4 Part 2 original, which Chromium plays as sound without a picture) gets a clear
    # message instead of a black strip with boxes floating over it.
    page_url = page.url
    original = _mpeg4_part2_clip(tmp_path / "phone clip.mp4", seconds=2.0)
    for how in ("fails", "no picture"):
        other = PageWatch(watch.context.browser)
        try:
            if how == "fails":
                other.page.route("**/preview", lambda route: route.abort())
            else:
                other.page.route(
                    "**/preview",
                    lambda route: route.fulfill(path=str(original), content_type="video/mp4"),
                )
            other.page.goto(page_url)
            other.page.wait_for_selector("#video-error:not([hidden])", timeout=20000)
            message = other.page.inner_text("#video-error")
            assert "Your browser cannot play this file's format" in message
            assert "MPEG-4 Part 2" in message and "the analysis is unaffected" in message
            assert other.page.is_hidden("#player"), "no black strip, no boxes"
            assert other.page.is_hidden("#preview-note")
            assert other.page.evaluate(VIDEO_STATE)["playback"] == "unplayable"
            reason = other.page.get_attribute("#analysis", "data-unplayable")
            assert reason == ("error" if how == "fails" else "no picture")
            if how == "no picture":
                other.page.locator("#playback").screenshot(path=str(SHOTS / "cannot-play.png"))
            refused = [p for p in other.problems if "Refused" in p or "page error" in p]
            assert not refused, refused
        finally:
            other.close()

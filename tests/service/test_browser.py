"""The pages in a real browser (Debian's Chromium through Playwright) against a real server:
``serve --production`` (gunicorn + a separate job worker process) on a free port, the real
analysis on generated face videos. Screenshots go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import ARTIFACTS, Server, start_server

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
            "DFD_HEATMAPS_BUDGET": "0",  # every crop's heatmap: the page must show them all
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
    assert "is not a video file" in page.inner_text("#file-error")
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
    # Heatmaps follow the verdict: the page shows them once they are drawn, without a reload.
    page.wait_for_function(
        "() => document.querySelectorAll('#crops img[data-heatmap]').length === 16",
        timeout=120000,
    )
    assert page.is_visible("#toggle-heatmaps") and not page.is_visible("#heatmaps-pending")
    first_crop = page.locator("#crops .slide img").first
    heat_src = first_crop.get_attribute("src")
    assert "/heatmaps/" in heat_src
    page.click("#toggle-heatmaps")
    assert "/crops/" in first_crop.get_attribute("src")
    page.click("#toggle-heatmaps")
    assert first_crop.get_attribute("src") == heat_src
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

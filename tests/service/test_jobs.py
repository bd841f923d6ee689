"""Jobs survive restarts: queued ones stay in huey's SQLite queue, running ones are found by
their dead worker and queued again; a deleted job stops and leaves nothing behind."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
from service_support import RunningApp, make_app, upload, wait_for_heatmaps, wait_for_job

from deepfake_detector.config import ServiceSettings
from deepfake_detector.service.backends import connect
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.db import Analysis, JobStatus, Video
from deepfake_detector.service.worker import MAX_ATTEMPTS, recover, start_worker

import video_factory


def post_video(url: str, path: Path) -> dict:
    """A multipart upload as any HTTP client would send it."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + "/api/v1/analyses",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        return json.loads(response.read())


def test_queued_jobs_survive_a_restart(tmp_path: Path) -> None:
    """Queued while no worker runs; a new process (new app, queue and worker) picks it up."""
    data = tmp_path / "data"
    clip = video_factory.no_face(tmp_path / "queued.mp4", duration_s=1.0)
    before = make_app(data)
    ctx = before.extensions[EXTENSION_KEY]
    created = upload(before.test_client(), clip).get_json()
    assert created["status"] == "queued"
    assert ctx.backends.queue.pending_ids() == {created["id"]}
    ctx.backends.close()
    del before, ctx

    after = make_app(data)
    ctx = after.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, preload=False)
    try:
        final, _ = wait_for_job(after.test_client(), created["id"], timeout=60)
    finally:
        worker.stop(graceful=False)
    assert final["status"] == "done" and final["verdict"] == "INCONCLUSIVE"


def test_a_running_job_survives_the_server_being_killed(
    tmp_path: Path, server_factory, panning_video: Path
) -> None:
    data = tmp_path / "data"
    server = server_factory(data)
    created = post_video(server.url, panning_video)
    deadline = time.monotonic() + 60
    status = created["status"]
    while status != "running" and time.monotonic() < deadline:
        status = server.get_json(f"/api/v1/analyses/{created['id']}")["status"]
        time.sleep(0.05)
    assert status == "running"
    server.process.kill()  # no chance to clean up: as a power cut or the OOM killer would
    server.process.wait(10)

    backends = connect(ServiceSettings(data_dir=str(data)))
    found = backends.jobs.get(created["id"])
    assert found is not None and found[0].status == JobStatus.RUNNING
    assert not backends.queue.pending_ids(), "huey had already handed the task out"

    restarted = server_factory(data)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = restarted.get_json(f"/api/v1/analyses/{created['id']}")
        if body["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert body["status"] == "done", body
    assert body["verdict"] in ("REAL", "FAKE")
    found = backends.jobs.get(created["id"])
    assert found is not None and found[0].attempts == 2


def test_a_job_that_keeps_killing_its_worker_is_failed(tmp_path: Path) -> None:
    backends = connect(ServiceSettings(data_dir=str(tmp_path)), migrate=True)
    with backends.jobs.session() as s:
        s.add(Video(sha256="a" * 64, size_bytes=1, file_name="video.mp4", content_type="", info={}))
        s.flush()
        for n, attempts in enumerate((1, MAX_ATTEMPTS)):
            s.add(
                Analysis(
                    id=f"{n:032x}",
                    video_sha256="a" * 64,
                    settings_key=str(n),
                    status=JobStatus.RUNNING,
                    worker="a-worker-that-died",
                    attempts=attempts,
                )
            )
    requeued = recover(backends, own_token="me", lease_s=30.0)
    assert requeued == [f"{0:032x}"] and backends.queue.pending_ids() == {f"{0:032x}"}
    retried, given_up = backends.jobs.get(f"{0:032x}"), backends.jobs.get(f"{1:032x}")
    assert retried is not None and retried[0].status == "queued"
    assert given_up is not None and given_up[0].status == "failed"
    assert "interrupted 3 times" in (given_up[0].error or "")


def test_deleting_a_running_job_stops_it_and_leaves_nothing(
    running_app: RunningApp, tmp_path: Path
) -> None:
    client = running_app.client()
    clip = video_factory.panning_face(tmp_path / "delete-while-running.mp4", duration_s=1.6)
    created = upload(client, clip).get_json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/analyses/{created['id']}").get_json()["status"]
        if status != "queued":
            break
        time.sleep(0.02)
    assert client.delete(f"/api/v1/analyses/{created['id']}").status_code == 204
    folder = Path(running_app.ctx.settings.resolved_storage_dir()) / created["file"]["sha256"]
    deadline = time.monotonic() + 60
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists(), "the worker left evidence of a deleted job behind"
    # The worker is still there for the next job.
    follow_up = video_factory.no_face(tmp_path / "next.mp4", duration_s=1.0)
    final, _ = wait_for_job(client, upload(client, follow_up).get_json()["id"])
    assert final["status"] == "done"


def test_killing_the_production_master_leaves_no_worker_behind(
    tmp_path: Path, server_factory
) -> None:
    """SIGKILL of ``serve --production`` (no chance to clean up): its job workers stop too, so a
    restarted server is not served by an orphan that still counts as a live worker."""
    server = server_factory(tmp_path / "data", "--production", "--web-workers", "1")
    master = psutil.Process(server.process.pid)
    workers = [p for p in master.children(recursive=True) if "worker" in " ".join(p.cmdline())]
    assert workers, "serve --production started no job worker"
    server.process.kill()
    server.process.wait(10)
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"job workers outlived their master: {[p.pid for p in alive]}"


def test_a_job_over_its_cpu_budget_is_failed_with_a_reason_and_no_files(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", job_cpu_budget_s=0.01)
    ctx = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
    try:
        clip = video_factory.panning_face(tmp_path / "costly.mp4", duration_s=1.0)
        created = upload(app.test_client(), clip).get_json()
        final, _ = wait_for_job(app.test_client(), created["id"], timeout=60)
    finally:
        worker.stop(graceful=False)
        ctx.backends.close()
    assert final["status"] == "failed" and final["verdict"] is None
    assert "seconds of CPU time" in final["error"]
    evidence = tmp_path / "data" / "files" / created["file"]["sha256"] / created["id"]
    assert not evidence.exists(), "a failed job keeps no partial evidence"


def test_job_threads_run_jobs_at_once_and_score_as_one_job_alone(
    tmp_path: Path, panning_video: Path, zooming_video: Path, two_faces_video: Path
) -> None:
    """``worker --job-threads 3``: three uploads analysed at once by one process sharing one
    batched model; each result is what the plain Analyzer gives for that video."""
    from datetime import datetime

    from deepfake_detector.analysis.pipeline import Analyzer

    # Every crop's heatmap, however slow three jobs at once make this host (the budget has its
    # own test).
    app = make_app(tmp_path / "data", worker_job_threads=3, heatmaps_budget=0.0)
    ctx = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
    videos = [panning_video, zooming_video, two_faces_video]
    try:
        created = [upload(app.test_client(), v).get_json() for v in videos]
        finals = [wait_for_job(app.test_client(), c["id"], timeout=180)[0] for c in created]
        shared = worker.runner.shared_classifier
        assert shared is not None and shared.stats.clips >= 3
        # Heatmaps come from a torch copy of their own, never the shared network.
        drawn = [wait_for_heatmaps(app.test_client(), c["id"]) for c in created]
        for d in drawn:  # every crop checked; an overlay for each map on the face
            crops = {f["crop"] for face in d["result"]["faces"] for f in face["frames"]}
            assert d["heatmaps_state"] == "ready" and set(d["heatmap_checks"]) == crops
            shown = {crop for crop, check in d["heatmap_checks"].items() if check["shown"]}
            assert shown and set(d["heatmaps"]) == shown
    finally:
        worker.stop(graceful=False)
        ctx.backends.close()
    alone = Analyzer(ctx.analysis_settings)
    for video, final in zip(videos, finals, strict=True):
        assert final["status"] == "done", final
        expected = alone.analyze(video)
        assert final["verdict"] == str(expected.verdict)
        assert abs(final["fake_probability"] - expected.fake_probability) < 1e-4
    spans = [
        (datetime.fromisoformat(f["started_at"]), datetime.fromisoformat(f["finished_at"]))
        for f in finals
    ]
    overlapping = [
        (i, j)
        for i in range(len(spans))
        for j in range(i + 1, len(spans))
        if spans[i][0] < spans[j][1] and spans[j][0] < spans[i][1]
    ]
    assert overlapping, f"the jobs ran one after another: {spans}"

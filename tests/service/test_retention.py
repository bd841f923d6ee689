"""Retention removes old uploads and evidence, keeping the results unless told otherwise."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from service_support import ROOT, make_app, upload, wait_for_job
from sqlalchemy import update

from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.db import Analysis, utcnow
from deepfake_detector.service.retention import cleanup
from deepfake_detector.service.worker import start_worker

import video_factory


def age(app_ctx, job_id: str, days: float) -> None:
    """Pretend the job finished ``days`` ago."""
    with app_ctx.backends.jobs.session() as s:
        s.execute(
            update(Analysis)
            .where(Analysis.id == job_id)
            .values(finished_at=utcnow() - timedelta(days=days))
        )


def test_old_files_are_removed_and_results_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data")
    ctx = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
    client = app.test_client()
    try:
        old = video_factory.panning_face(tmp_path / "old.mp4", duration_s=1.0)
        new = video_factory.no_face(tmp_path / "new.mp4", duration_s=1.0)
        old_job, _ = wait_for_job(client, upload(client, old).get_json()["id"])
        new_job, _ = wait_for_job(client, upload(client, new).get_json()["id"])
    finally:
        worker.stop(graceful=False)
    files = tmp_path / "data" / "files"
    old_folder = files / old_job["file"]["sha256"]
    assert (old_folder / "video.mp4").is_file() and (old_folder / old_job["id"]).is_dir()
    age(ctx, old_job["id"], days=40)

    assert cleanup(ctx.backends, 30, dry_run=True).analyses == 1
    assert old_folder.exists(), "a dry run removes nothing"
    report = cleanup(ctx.backends, 30)
    assert (report.analyses, report.videos) == (1, 1)
    assert not old_folder.exists()
    assert (files / new_job["file"]["sha256"] / "video.mp4").is_file(), "recent files kept"
    kept = client.get(f"/api/v1/analyses/{old_job['id']}").get_json()
    assert kept["verdict"] == old_job["verdict"] and kept["result"] == old_job["result"]
    assert kept["files_removed_at"] is not None
    assert client.get(kept["links"]["video"]).status_code == 404
    assert cleanup(ctx.backends, 30).analyses == 0, "done once"
    ctx.backends.close()


def test_cleanup_command_can_remove_results_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = make_app(data)
    ctx = app.extensions[EXTENSION_KEY]
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
    client = app.test_client()
    try:
        clip = video_factory.no_face(tmp_path / "clip.mp4", duration_s=1.0)
        job, _ = wait_for_job(client, upload(client, clip).get_json()["id"])
    finally:
        worker.stop(graceful=False)
    age(ctx, job["id"], days=10)
    ctx.backends.close()
    env = {
        "PYTHONPATH": str(ROOT / "src"),
        "DFD_DATA_DIR": str(data),
        "DFD_RETENTION_KEEP_RESULTS": "false",
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "cleanup"]
    done = subprocess.run(
        [*command, "--days", "7"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "removed the files of 1 analyses and 1 videos" in done.stdout
    assert client.get(f"/api/v1/analyses/{job['id']}").status_code == 404
    assert not (data / "files" / job["file"]["sha256"]).exists()
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "no retention period" in refused.stderr

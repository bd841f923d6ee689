"""OS faults on the worker side: a full disk, read-only storage, a locked database, a web process
killed mid-upload, a worker started on unwritable storage. Every job ends ``done`` or ``failed``
with a reason, nothing is left half-written, and the worker lives on for the next job."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from service_support import ROOT, Server, make_app, upload, wait_for_job

from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.worker import start_worker
from mounts import fill, read_only, small_disk

import video_factory


def test_a_full_disk_fails_the_job_with_a_reason_and_the_worker_goes_on(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_kb=3072) as disk:
        app = make_app(tmp_path / "data", storage_dir=str(disk / "files"), min_free_mb=0)
        ctx = app.extensions[EXTENSION_KEY]
        client = app.test_client()
        first = upload(client, video_factory.panning_face(tmp_path / "a.mp4", 1.0)).get_json()
        fill(disk)
        worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
        try:
            failed, _ = wait_for_job(client, first["id"], timeout=60)
            assert failed["status"] == "failed"
            assert "could not write the analysis's files" in failed["error"]
            assert "No space left on device" in failed["error"]
            for filler in disk.glob("filler-*"):
                filler.unlink()
            clip = video_factory.no_face(tmp_path / "b.mp4", 1.0)
            second, _ = wait_for_job(client, upload(client, clip).get_json()["id"], timeout=60)
            assert second["status"] == "done", "the worker survived the full disk"
        finally:
            worker.stop(graceful=False)
            ctx.backends.close()
        evidence = disk / "files" / first["file"]["sha256"] / first["id"]
        assert not evidence.exists(), "no half-written evidence of the failed job"


def test_read_only_storage_fails_the_job_with_a_reason(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_kb=8192) as disk:
        app = make_app(tmp_path / "data", storage_dir=str(disk / "files"), min_free_mb=0)
        ctx = app.extensions[EXTENSION_KEY]
        client = app.test_client()
        created = upload(client, video_factory.no_face(tmp_path / "a.mp4", 1.0)).get_json()
        read_only(disk)
        worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
        try:
            final, _ = wait_for_job(client, created["id"], timeout=60)
        finally:
            worker.stop(graceful=False)
            ctx.backends.close()
        assert final["status"] == "failed"
        assert "Read-only file system" in final["error"]


def test_a_briefly_locked_database_only_delays_the_job(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data")
    ctx = app.extensions[EXTENSION_KEY]
    client = app.test_client()
    created = upload(client, video_factory.panning_face(tmp_path / "a.mp4", 1.0)).get_json()
    database = tmp_path / "data" / "deepfake-detector.sqlite3"
    locker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(3.0, locker.execute, args=("COMMIT",))
    released.start()
    worker = start_worker(ctx.backends, ctx.analysis_settings, ctx.settings, preload=False)
    try:
        final, _ = wait_for_job(client, created["id"], timeout=90)
    finally:
        released.join()
        locker.close()
        worker.stop(graceful=False)
        ctx.backends.close()
    assert final["status"] == "done", final


_STAGE_FROM_STDIN = """
import sys
from deepfake_detector.service.blobs import LocalBlobStore
LocalBlobStore(sys.argv[1]).stage(sys.stdin.buffer, max_bytes=1 << 30)
"""


def test_an_upload_cut_by_a_crash_leaves_nothing_after_restart(
    tmp_path: Path, server_factory: Callable[..., Server]
) -> None:
    """A process SIGKILLed while it stages an upload leaves its ``.part``; the next ``serve``
    removes it at start (its owner is dead), before answering anything."""
    data = tmp_path / "data"
    staging = data / "files" / "tmp"
    receiver = subprocess.Popen(
        [sys.executable, "-c", _STAGE_FROM_STDIN, str(data / "files")],
        stdin=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert receiver.stdin is not None
    receiver.stdin.write(b"\0" * 3_000_000)  # more to come: the receiver waits for it
    receiver.stdin.flush()
    deadline = time.monotonic() + 60
    while not _parts_of(staging, 1_000_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _parts_of(staging, 1_000_000), "the upload was never being received"
    receiver.kill()
    receiver.wait(10)
    receiver.stdin.close()
    assert list(staging.glob("*.part")), "the crash left a half-received upload"

    server_factory(data)  # a restart sweeps what the dead process was receiving
    assert not list(staging.glob("*.part"))


def _parts_of(staging: Path, size: int) -> list[Path]:
    parts = staging.glob("*.part") if staging.is_dir() else []
    return [part for part in parts if part.stat().st_size >= size]


def test_a_worker_on_unwritable_storage_says_so_and_exits(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_kb=1024) as disk:
        read_only(disk)  # on a read-only disk the data folder cannot even be made
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "DFD_DATA_DIR": str(disk / "data"),
        }
        command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "worker"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "Read-only file system" in done.stderr

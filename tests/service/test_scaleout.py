"""The scaled-out form on real servers: PostgreSQL for jobs, Redis for the queue, one shared
folder for files, and several ``worker`` processes that share nothing else (each its own working
directory and data dir). One is killed with SIGKILL mid-job; the others finish every job exactly
once, and a worker started later joins in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from service_support import FRAMES, ROOT, Server, make_app, upload

from deepfake_detector import cli
from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.devservers import RedisServer
from deepfake_detector.service.app import create_app
from deepfake_detector.service.backends import connect
from deepfake_detector.service.db import JobStatus

import video_factory

LEASE_S = 4.0
HEARTBEAT_S = 0.5
JOBS = 30


def worker_env(database_url: str, queue_url: str, storage: Path, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "DFD_DATABASE_URL": database_url,
        "DFD_QUEUE_URL": queue_url,
        "DFD_STORAGE_DIR": str(storage),
        "DFD_DATA_DIR": str(data_dir),
        "DFD_FRAMES": str(FRAMES),
        "DFD_WORKER_HEARTBEAT_S": str(HEARTBEAT_S),
        "DFD_WORKER_LEASE_S": str(LEASE_S),
        "DFD_LOG_FORMAT": "json",
    }


class WorkerProcess:
    """``deepfake-detector worker`` in its own working directory, logging JSON lines."""

    def __init__(self, name: str, base: Path, env: dict[str, str]) -> None:
        self.home = base / name
        self.home.mkdir()
        self.log = self.home / "worker.log"
        env = {**env, "DFD_DATA_DIR": str(self.home / "data")}
        command = [sys.executable, "-m", "deepfake_detector.service.cli_serve", "worker"]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=self.home, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def records(self) -> list[dict]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def finished_jobs(self) -> list[str]:
        return [r["job_id"] for r in self.records() if r["message"].startswith("finished done")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def make_clips(folder: Path) -> list[Path]:
    """Distinct small videos: a third with a face (slow enough to be caught mid-job)."""
    clips = []
    for i in range(JOBS):
        if i % 3 == 0:
            clips.append(
                video_factory.panning_face(folder / f"face-{i}.mp4", duration_s=1.2 + i / 100)
            )
        else:
            clips.append(video_factory.indexed_video(folder / f"index-{i}.mp4", n=8 + i))
    return clips


@pytest.mark.slow
def test_workers_on_several_machines_finish_every_job_once_despite_a_kill(
    tmp_path: Path,
    postgres_url: str,
    redis_server: RedisServer,
) -> None:
    queue_url = redis_server.url.rsplit("/", 1)[0] + "/3"
    storage = tmp_path / "shared-storage"
    settings = ServiceSettings(
        data_dir=str(tmp_path / "web"),
        database_url=postgres_url,
        queue_url=queue_url,
        storage_dir=str(storage),
        worker_lease_s=LEASE_S,
    )
    web = create_app(settings, AnalysisSettings(frames=FRAMES))  # migrates; runs no jobs
    client = web.test_client()
    clips = make_clips(tmp_path)
    ids = [upload(client, clip).get_json()["id"] for clip in clips]
    assert len(set(ids)) == JOBS

    env = worker_env(postgres_url, queue_url, storage, tmp_path)
    workers = [WorkerProcess(f"machine-{n}", tmp_path, env) for n in (1, 2, 3)]
    backends = connect(settings)
    late: WorkerProcess | None = None
    try:
        victim = workers[0]
        deadline = time.monotonic() + 120
        running = None
        while running is None and time.monotonic() < deadline:
            assert victim.process.poll() is None, victim.log.read_text()
            rows, _ = backends.jobs.page(1, 100, status=JobStatus.RUNNING)
            mine = [a for a, _ in rows if a.worker and f":{victim.process.pid}:" in a.worker]
            running = mine[0].id if mine else None
            time.sleep(0.05)
        assert running is not None, "the first worker never ran a job"
        victim.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.process.wait(10)

        late = WorkerProcess("machine-4", tmp_path, env)
        restarted_within = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            job = backends.jobs.get(running)
            assert job is not None
            if restarted_within is None and job[0].attempts >= 2:
                restarted_within = time.monotonic() - killed_at
            counts = backends.jobs.counts()
            if counts["done"] + counts["failed"] == JOBS:
                break
            time.sleep(0.2)
        counts = backends.jobs.counts()
        assert counts == {"queued": 0, "running": 0, "done": JOBS, "failed": 0}, counts
        assert restarted_within is not None and restarted_within < LEASE_S + 10

        # Exactly once: every job's result was written by one attempt of one worker.
        finishes = Counter(job for w in [*workers, late] for job in w.finished_jobs())
        assert set(finishes) == set(ids) and set(finishes.values()) == {1}, finishes
        assert late.finished_jobs(), "the worker started later took no job"
        killed_job, _ = backends.jobs.get(running) or (None, None)
        assert killed_job is not None and killed_job.attempts == 2
        assert killed_job.evidence_prefix.endswith(f"/{running}/2")
        assert (storage / killed_job.evidence_prefix / "frames").is_dir()
        assert not (storage / killed_job.evidence_prefix).with_name("1").exists()
        assert backends.queue.pending_count() == 0
        # The killed worker's lease was taken back: it is no longer counted as alive.
        assert backends.jobs.live_worker_count(LEASE_S) == 3
    finally:
        for worker in [*workers, *([late] if late else [])]:
            worker.stop()
        backends.close()
        web.extensions["deepfake_detector"].backends.close()


def test_embedded_defaults_still_need_nothing_but_a_folder(tmp_path: Path) -> None:
    """No URL set: SQLite and the SQLite queue in the data dir, migrated on first use."""
    app = make_app(tmp_path / "data")
    backends = app.extensions["deepfake_detector"].backends
    assert backends.queue.backend == "sqlite"
    assert backends.jobs.engine.dialect.name == "sqlite"
    assert (tmp_path / "data" / "deepfake-detector.sqlite3").is_file()
    assert (tmp_path / "data" / "queue.sqlite3").is_file()
    backends.close()


@pytest.mark.slow
def test_submit_a_hundred_videos_through_production_serve_on_redis_and_postgres(
    tmp_path: Path,
    postgres_url: str,
    redis_server: RedisServer,
    server_factory: Callable[..., Server],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    clips = [video_factory.indexed_video(folder / f"clip-{i:03d}.mp4", n=4 + i) for i in range(100)]
    env = {
        "DFD_DATABASE_URL": postgres_url,
        "DFD_QUEUE_URL": redis_server.url.rsplit("/", 1)[0] + "/4",
        "DFD_STORAGE_DIR": str(tmp_path / "storage"),
        "DFD_WORKER_CONCURRENCY": "2",
        "DFD_HEATMAPS": "false",
    }
    server = server_factory(tmp_path / "data", "--production", "--web-workers", "2", env=env)
    output = tmp_path / "results.jsonl"
    arguments = ["submit", str(folder), "--server", server.url, "--output", str(output)]

    code = cli.main([*arguments, "--no-progress", "--poll-s", "0.2", "--parallel", "4"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "100 uploaded" in err
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 100, "every result written once"
    assert {r["path"] for r in records} == {str(c) for c in clips}
    assert len({r["analysis_id"] for r in records}) == 100
    assert {r["verdict"] for r in records} == {"INCONCLUSIVE"}  # no face in these clips
    health = server.get_json("/api/v1/health")
    assert health["jobs"]["done"] == 100 and health["queue"]["backend"] == "redis"
    assert health["workers"] == 2

    before = output.read_bytes()
    code = cli.main([*arguments, "--no-progress", "--poll-s", "0.2"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "0 uploaded" in err and "100 already in" in err
    assert output.read_bytes() == before
    assert server.get_json("/api/v1/analyses")["total"] == 100

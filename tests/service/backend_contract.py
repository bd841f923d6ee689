"""Behaviour every backend must have, written once and run against each backend (the pattern of
huey's ``StorageTests``): ``test_backend_contract.py`` subclasses these mixins, one subclass per
backend, each providing the fixture that builds its backend.

The mixins' names do not start with ``Test``, so pytest collects only the subclasses.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine

from deepfake_detector.service.backends import Backends
from deepfake_detector.service.blobs import BadKey, LocalBlobStore, UploadTooLarge
from deepfake_detector.service.db import Analysis, JobStatus, Worker
from deepfake_detector.service.jobstore import STAGE_BOUNDS, Claim, JobStore, Outcome
from deepfake_detector.service.queue import RECOVERED_PRIORITY, JobQueue
from deepfake_detector.service.worker import recover

T = TypeVar("T")


def sha(name: str) -> str:
    """A video's content hash, made up from a name."""
    return hashlib.sha256(name.encode()).hexdigest()


SHA = sha("the video")
INFO = {"duration_s": 2.5, "width": 640, "height": 480}


def add_video(store: JobStore, sha256: str = SHA) -> None:
    store.add_video(sha256, 1234, "video.mp4", "video/mp4", INFO)


def new_job(
    store: JobStore, key: str = "settings-1", sha256: str = SHA, name: str = "a.mp4"
) -> str:
    """A queued analysis (and its video): its id."""
    add_video(store, sha256)
    analysis, created = store.create_or_reuse(sha256, key, name)
    assert created
    return analysis.id


def status_of(store: JobStore, job_id: str) -> Analysis:
    found = store.get(job_id)
    assert found is not None, f"job {job_id} is gone"
    return found[0]


def done(verdict: str = "FAKE", p: float = 0.9, **kwargs: Any) -> Outcome:
    return Outcome(
        status=JobStatus.DONE,
        result={"verdict": verdict, "fake_probability": p},
        verdict=verdict,
        fake_probability=p,
        **kwargs,
    )


def at_once(n: int, call: Callable[[], T], engine: Engine, write: str) -> list[T]:
    """Run ``call`` in ``n`` threads, each held just before its first statement starting with
    ``write`` until all ``n`` got there: every thread has done its reads and none has written
    yet, so the race is run for real, however the threads happen to be scheduled. (A thread
    that never gets there, e.g. when the implementation serialises the calls, breaks the
    barrier after a few seconds and the others go on.)"""
    at_write = threading.Barrier(n)
    held: set[int] = set()

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        me = threading.get_ident()
        if me in held or not statement.lstrip().upper().startswith(write.upper()):
            return
        held.add(me)  # only the first write of each thread waits
        with contextlib.suppress(threading.BrokenBarrierError):
            at_write.wait(timeout=5)

    event.listen(engine, "before_cursor_execute", hold)
    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(call) for _ in range(n)]
            results = [f.result(timeout=120) for f in futures]
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    assert not at_write.broken, "the calls did not race (one waited for another)"
    return results


def set_last_seen(store: JobStore, token: str, moment: datetime) -> None:
    with store.session() as s:
        changed = s.execute(update(Worker).where(Worker.token == token).values(last_seen=moment))
        assert changed.rowcount == 1


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None
    assert moment.tzinfo is not None, f"{moment!r} is naive"
    assert moment.utcoffset() == timedelta(0)


class JobStoreContract:
    """The job state machine (``JobStore``) on one database engine; subclasses provide
    ``store``: an empty database migrated to head."""

    @pytest.fixture
    def store(self) -> JobStore:
        raise NotImplementedError("a backend subclass provides the store")

    # -- create_or_reuse ----------------------------------------------------------------------

    def test_create_or_reuse_creates_once(self, store: JobStore) -> None:
        add_video(store)
        first, created = store.create_or_reuse(SHA, "settings-1", "clip.mp4")
        assert created
        assert first.job_status is JobStatus.QUEUED
        assert first.original_name == "clip.mp4"
        again, created_again = store.create_or_reuse(SHA, "settings-1", "other name.mp4")
        assert not created_again
        assert again.id == first.id
        assert again.original_name == "clip.mp4"
        other, created_other = store.create_or_reuse(SHA, "settings-2", "clip.mp4")
        assert created_other and other.id != first.id
        assert store.page(1, 50)[1] == 2

    def test_create_or_reuse_keeps_running_and_done_jobs(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        running, created = store.create_or_reuse(SHA, "settings-1", "a.mp4")
        assert (running.id, created, running.job_status) == (job_id, False, JobStatus.RUNNING)
        assert store.finish(claim, done())
        finished, created = store.create_or_reuse(SHA, "settings-1", "a.mp4")
        assert (finished.id, created, finished.job_status) == (job_id, False, JobStatus.DONE)
        assert finished.result == {"verdict": "FAKE", "fake_probability": 0.9}

    def test_failed_job_is_queued_again(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        failed = Outcome(status=JobStatus.FAILED, error="decoder exploded")
        assert store.finish(claim, failed)
        assert status_of(store, job_id).job_status is JobStatus.FAILED
        retried, created = store.create_or_reuse(SHA, "settings-1", "a.mp4")
        assert created
        assert retried.id == job_id
        assert retried.job_status is JobStatus.QUEUED
        assert (retried.error, retried.worker, retried.attempts) == (None, None, 0)
        row = status_of(store, job_id)
        assert row.job_status is JobStatus.QUEUED and row.error is None
        again = store.claim(job_id, "w2")
        assert again is not None and again.attempt == 1

    def test_concurrent_create_or_reuse_makes_one_row(self, store: JobStore) -> None:
        add_video(store)
        results = at_once(
            8,
            lambda: store.create_or_reuse(SHA, "settings-1", "a.mp4"),
            store.engine,
            "INSERT INTO analyses",
        )
        ids = {analysis.id for analysis, _ in results}
        assert len(ids) == 1
        assert sum(created for _, created in results) == 1
        rows, total = store.page(1, 50)
        assert total == 1 and rows[0][0].id in ids

    def test_add_video_is_idempotent(self, store: JobStore) -> None:
        first = store.add_video(SHA, 1234, "video.mp4", "video/mp4", INFO)
        second = store.add_video(SHA, 9999, "video.webm", "video/webm", {"other": True})
        assert second.sha256 == first.sha256 == SHA
        assert (second.size_bytes, second.file_name, second.info) == (1234, "video.mp4", INFO)
        assert second.key == f"{SHA}/video.mp4"
        job_id = new_job(store)
        assert status_of(store, job_id).video_sha256 == SHA
        found = store.get(job_id)
        assert found is not None and found[1].size_bytes == 1234

    def test_concurrent_add_video_agrees_on_one_row(self, store: JobStore) -> None:
        videos = at_once(
            8,
            lambda: store.add_video(SHA, 1234, "video.mp4", "video/mp4", INFO),
            store.engine,
            "INSERT INTO videos",
        )
        assert {v.sha256 for v in videos} == {SHA}

    # -- claim --------------------------------------------------------------------------------

    def test_claim_only_from_queued(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim == Claim(job_id, "w1", 1, f"{SHA}/video.mp4")
        assert claim.evidence_prefix == f"{SHA}/{job_id}/1"
        row = status_of(store, job_id)
        assert (row.job_status, row.worker, row.attempts) == (JobStatus.RUNNING, "w1", 1)
        assert_utc(row.started_at)
        assert store.claim(job_id, "w2") is None  # a second worker, the task delivered twice
        assert store.claim(job_id, "w1") is None
        assert status_of(store, job_id).worker == "w1"
        assert store.finish(claim, done())
        assert store.claim(job_id, "w2") is None  # done: not claimable
        assert store.claim("no-such-job", "w1") is None

    def test_concurrent_claims_give_one_lease(self, store: JobStore) -> None:
        job_id = new_job(store)
        tokens = iter(range(10))
        lock = threading.Lock()

        def claim_it() -> Claim | None:
            with lock:
                worker = f"w{next(tokens)}"
            return store.claim(job_id, worker)

        claims = [
            c for c in at_once(10, claim_it, store.engine, "UPDATE analyses") if c is not None
        ]
        assert len(claims) == 1
        row = status_of(store, job_id)
        assert row.worker == claims[0].worker and row.attempts == 1

    def test_attempts_increase_after_requeue(self, store: JobStore) -> None:
        job_id = new_job(store)
        first = store.claim(job_id, "gone-worker")  # never registered: its job is orphaned
        assert first is not None and first.attempt == 1
        assert store.requeue_orphans(set(), max_attempts=3) == ([job_id], [])
        second = store.claim(job_id, "w2")
        assert second is not None and second.attempt == 2
        assert second.evidence_prefix == f"{SHA}/{job_id}/2" != first.evidence_prefix

    # -- the lease ----------------------------------------------------------------------------

    def test_lost_lease_cannot_write(self, store: JobStore) -> None:
        job_id = new_job(store)
        old = store.claim(job_id, "old-worker")
        assert old is not None
        assert store.progress(old, "detect", 0.5)
        assert store.requeue_orphans(set(), max_attempts=3) == ([job_id], [])
        assert not store.progress(old, "detect", 0.6)  # queued: nobody holds it
        store.register_worker("new-worker", "host", 1)
        new = store.claim(job_id, "new-worker")
        assert new is not None and new.attempt == 2
        assert store.progress(new, "classify", 0.7)
        assert not store.progress(old, "classify", 0.9)
        assert not store.finish(old, done("REAL", 0.1))
        row = status_of(store, job_id)
        assert (row.job_status, row.stage, row.progress) == (JobStatus.RUNNING, "classify", 0.7)
        assert row.verdict is None and row.result is None
        assert store.finish(new, done("FAKE", 0.8))
        assert not store.finish(old, done("REAL", 0.1))
        row = status_of(store, job_id)
        assert (row.job_status, row.verdict, row.fake_probability) == (JobStatus.DONE, "FAKE", 0.8)
        assert row.result == {"verdict": "FAKE", "fake_probability": 0.8}
        assert row.evidence_prefix == new.evidence_prefix == f"{SHA}/{job_id}/2"

    def test_lease_is_per_attempt(self, store: JobStore) -> None:
        """The same worker token taking the job again (declared dead, then back) holds a new
        lease: its old attempt's claim writes nothing."""
        job_id = new_job(store)
        first = store.claim(job_id, "w1")
        assert first is not None
        assert store.requeue_orphans(set(), max_attempts=3) == ([job_id], [])
        second = store.claim(job_id, "w1")
        assert second is not None and second.attempt == 2
        assert not store.progress(first, "detect", 0.5)
        assert not store.finish(first, done("REAL", 0.1))
        assert status_of(store, job_id).job_status is JobStatus.RUNNING
        assert store.finish(second, done("FAKE", 0.8))
        row = status_of(store, job_id)
        assert (row.verdict, row.evidence_prefix) == ("FAKE", f"{SHA}/{job_id}/2")

    def test_finish_is_idempotent(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        assert store.finish(claim, done("FAKE", 0.9, thumbnail="thumb.jpg"))
        first = status_of(store, job_id)
        assert not store.finish(claim, done("REAL", 0.2))
        assert not store.finish(claim, Outcome(status=JobStatus.FAILED, error="late"))
        assert not store.progress(claim, "late", 0.1)
        row = status_of(store, job_id)
        assert (row.job_status, row.verdict, row.fake_probability) == (JobStatus.DONE, "FAKE", 0.9)
        assert (row.error, row.thumbnail, row.stage, row.progress) == (
            None,
            "thumb.jpg",
            "finished",
            1.0,
        )
        assert row.finished_at == first.finished_at
        assert row.evidence_prefix == claim.evidence_prefix == f"{SHA}/{job_id}/1"
        # Only the write that counted is in the metrics.
        latency = store.histograms()[("job_latency_seconds", "done")]
        assert latency.buckets[-1][1] == 1

    def test_heatmaps_attach_once_to_the_finished_attempt_only(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        assert not store.attach_heatmaps(claim, {"c.jpg": "h.jpg"}, "ready", 1.0), "not done"
        pending = {"heatmaps": {}, "heatmaps_state": "pending"}
        assert store.finish(claim, done(artifacts=pending))
        assert store.attach_heatmaps(claim, {"c.jpg": "h.jpg"}, "ready", 1.5)
        row = status_of(store, job_id)
        assert row.artifacts == {
            "heatmaps": {"c.jpg": "h.jpg"},
            "heatmaps_state": "ready",
            "heatmaps_s": 1.5,
        }
        assert not store.attach_heatmaps(claim, {}, "failed", 2.0), "only while pending"
        assert status_of(store, job_id).artifacts == row.artifacts
        assert store.histograms()[("stage_seconds", "heatmaps")].buckets[-1][1] == 1
        # Deleted while they were drawn: nothing to attach to (the runner removes the files).
        other = new_job(store, "settings-2")
        late = store.claim(other, "w1")
        assert late is not None and store.finish(late, done(artifacts=pending))
        store.delete(other)
        assert not store.attach_heatmaps(late, {"c.jpg": "h.jpg"}, "ready", 1.0)

    def test_heatmap_checks_are_recorded_beside_the_heatmaps(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        assert store.finish(claim, done(artifacts={"heatmaps": {}, "heatmaps_state": "pending"}))
        checks = {
            "a.jpg": {"face_fraction": 0.81, "flat": False, "shown": True},
            "b.jpg": {"face_fraction": None, "flat": True, "shown": False},
        }
        assert store.attach_heatmaps(claim, {"a.jpg": "ha.jpg"}, "ready", 1.0, checks=checks)
        artifacts = status_of(store, job_id).artifacts
        assert artifacts["heatmaps"] == {"a.jpg": "ha.jpg"}
        assert artifacts["heatmap_checks"] == checks

    def test_finish_needs_a_final_status(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        with pytest.raises(ValueError, match="DONE or FAILED"):
            store.finish(claim, Outcome(status=JobStatus.RUNNING))
        assert status_of(store, job_id).job_status is JobStatus.RUNNING

    def test_failed_outcome_is_recorded(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        assert store.finish(claim, Outcome(status=JobStatus.FAILED, error="no decodable frames"))
        row = status_of(store, job_id)
        assert (row.job_status, row.error, row.verdict) == (
            JobStatus.FAILED,
            "no decodable frames",
            None,
        )
        assert row.evidence_prefix == claim.evidence_prefix

    # -- delete -------------------------------------------------------------------------------

    def test_delete_returns_prefixes(self, store: JobStore) -> None:
        first = new_job(store, "settings-1")
        second = new_job(store, "settings-2")
        assert store.delete(first) == [f"{SHA}/{first}"]  # the video is still used
        assert store.get(first) is None
        assert store.get(second) is not None
        assert store.delete(second) == [f"{SHA}/{second}", SHA]  # its last analysis
        assert store.get(second) is None
        assert store.delete(second) is None
        assert store.delete("no-such-job") is None
        # The video row went with its last analysis: a new upload adds it afresh.
        store.add_video(SHA, 77, "video.webm", "video/webm", {})
        third, created = store.create_or_reuse(SHA, "settings-1", "b.webm")
        assert created
        found = store.get(third.id)
        assert found is not None and found[1].file_name == "video.webm"

    def test_delete_takes_the_lease_of_a_running_job(self, store: JobStore) -> None:
        job_id = new_job(store)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        assert store.progress(claim, "decode", 0.1)
        assert store.delete(job_id) == [f"{SHA}/{job_id}", SHA]
        assert not store.progress(claim, "decode", 0.2)
        assert not store.finish(claim, done())
        assert store.get(job_id) is None
        assert store.page(1, 10)[1] == 0

    # -- workers and orphans ------------------------------------------------------------------

    def test_requeue_orphans(self, store: JobStore) -> None:
        orphan = new_job(store, "settings-1")
        live = new_job(store, "settings-2")
        of_dead = new_job(store, "settings-3")
        queued = new_job(store, "settings-4")
        store.register_worker("live", "host-a", 10)
        store.register_worker("dead", "host-b", 20)
        assert store.claim(orphan, "unregistered") is not None
        assert store.claim(live, "live") is not None
        assert store.claim(of_dead, "dead") is not None

        requeued, failed = store.requeue_orphans({"dead"}, max_attempts=3)
        assert sorted(requeued) == sorted([orphan, of_dead]) and failed == []
        assert {w.token for w in store.workers()} == {"live"}  # the dead row is removed
        for job_id in (orphan, of_dead):
            row = status_of(store, job_id)
            assert (row.job_status, row.worker, row.stage, row.progress) == (
                JobStatus.QUEUED,
                None,
                "queued",
                0.0,
            )
            assert row.attempts == 1
        row = status_of(store, live)
        assert (row.job_status, row.worker) == (JobStatus.RUNNING, "live")
        assert status_of(store, queued).job_status is JobStatus.QUEUED
        assert store.requeue_orphans(set(), max_attempts=3) == ([], [])  # nothing left to move

    def test_requeue_orphans_fails_a_job_that_keeps_stopping_its_worker(
        self, store: JobStore
    ) -> None:
        job_id = new_job(store)
        for attempt in (1, 2):
            claim = store.claim(job_id, f"crashing-{attempt}")
            assert claim is not None and claim.attempt == attempt
            assert store.requeue_orphans(set(), max_attempts=3) == ([job_id], [])
        claim = store.claim(job_id, "crashing-3")
        assert claim is not None and claim.attempt == 3
        assert store.requeue_orphans(set(), max_attempts=3) == ([], [job_id])
        row = status_of(store, job_id)
        assert row.job_status is JobStatus.FAILED
        assert row.worker is None
        assert row.error is not None and "interrupted 3 times" in row.error
        assert_utc(row.finished_at)
        assert store.claim(job_id, "w") is None
        assert not store.finish(claim, done())

    def test_heartbeat_registers_a_removed_worker_again(self, store: JobStore) -> None:
        store.register_worker("w1", "host-a", 123)
        store.requeue_orphans({"w1"}, max_attempts=3)  # declared dead meanwhile
        assert store.workers() == []
        store.heartbeat("w1", "host-a", 123)
        (worker,) = store.workers()
        assert (worker.token, worker.host, worker.pid) == ("w1", "host-a", 123)
        before = worker.last_seen
        time.sleep(0.01)
        store.heartbeat("w1", "host-a", 123)
        (worker,) = store.workers()
        assert worker.last_seen > before
        store.unregister_worker("w1")
        assert store.workers() == []

    def test_live_worker_count_respects_the_lease(self, store: JobStore) -> None:
        store.register_worker("fresh", "host-a", 1)
        store.register_worker("stale", "host-b", 2)
        assert store.live_worker_count(30.0) == 2
        set_last_seen(store, "stale", datetime.now(UTC) - timedelta(seconds=120))
        assert store.live_worker_count(30.0) == 1
        assert store.live_worker_count(3600.0) == 2
        store.heartbeat("stale", "host-b", 2)
        assert store.live_worker_count(30.0) == 2

    # -- reading ------------------------------------------------------------------------------

    def _populate(self, store: JobStore) -> dict[str, str]:
        """Five jobs of two videos: name → id, with known statuses, verdicts and ages."""
        other = sha("another video")
        ids = {
            "a-fake": new_job(store, "s1", SHA, "a-fake.mp4"),
            "b-real": new_job(store, "s2", SHA, "b-real.mp4"),
            "c-failed": new_job(store, "s1", other, "c-failed.mp4"),
            "d-running": new_job(store, "s2", other, "d-running.mp4"),
            "e-queued": new_job(store, "s3", other, "e-queued.mp4"),
        }
        outcomes = {
            "a-fake": done("FAKE", 0.9),
            "b-real": done("REAL", 0.2),
            "c-failed": Outcome(status=JobStatus.FAILED, error="broken"),
        }
        for name, outcome in outcomes.items():
            claim = store.claim(ids[name], "w")
            assert claim is not None and store.finish(claim, outcome)
        assert store.claim(ids["d-running"], "w") is not None
        base = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        with store.session() as s:
            for age, job_id in enumerate(ids.values()):  # a-fake oldest, e-queued newest
                s.execute(
                    update(Analysis)
                    .where(Analysis.id == job_id)
                    .values(created_at=base + timedelta(minutes=age))
                )
        return ids

    def test_page_filters_sorts_and_counts(self, store: JobStore) -> None:
        ids = self._populate(store)
        name_of = {job_id: name for name, job_id in ids.items()}

        def names(rows: list[tuple[Analysis, Any]]) -> list[str]:
            return [name_of[a.id] for a, _ in rows]

        rows, total = store.page(1, 50)
        assert total == 5
        assert names(rows) == ["e-queued", "d-running", "c-failed", "b-real", "a-fake"]
        assert names(store.page(1, 50, "created_at")[0]) == [
            "a-fake",
            "b-real",
            "c-failed",
            "d-running",
            "e-queued",
        ]
        # Ties, and jobs without a value (always last), in the default order: newest first.
        expected = {
            "name": ["a-fake", "b-real", "c-failed", "d-running", "e-queued"],
            "-name": ["e-queued", "d-running", "c-failed", "b-real", "a-fake"],
            "fake_probability": ["b-real", "a-fake", "e-queued", "d-running", "c-failed"],
            "-fake_probability": ["a-fake", "b-real", "e-queued", "d-running", "c-failed"],
            "verdict": ["a-fake", "b-real", "e-queued", "d-running", "c-failed"],
            "-verdict": ["b-real", "a-fake", "e-queued", "d-running", "c-failed"],
            "status": ["b-real", "a-fake", "c-failed", "e-queued", "d-running"],
            "-status": ["d-running", "e-queued", "c-failed", "b-real", "a-fake"],
        }
        for sort, order in expected.items():
            assert names(store.page(1, 50, sort)[0]) == order, sort

        assert names(store.page(1, 2)[0]) == ["e-queued", "d-running"]
        second_page, total = store.page(2, 2)
        assert (names(second_page), total) == (["c-failed", "b-real"], 5)
        assert names(store.page(3, 2)[0]) == ["a-fake"]
        assert store.page(4, 2)[0] == []

        done_rows, done_total = store.page(1, 50, status=JobStatus.DONE)
        assert done_total == 2 and set(names(done_rows)) == {"a-fake", "b-real"}
        assert names(store.page(1, 50, verdict="FAKE")[0]) == ["a-fake"]
        assert store.page(1, 50, verdict="FAKE")[1] == 1
        by_video, n = store.page(1, 50, sha256=SHA)
        assert n == 2 and set(names(by_video)) == {"a-fake", "b-real"}
        by_key, n = store.page(1, 50, settings_key="s1")
        assert n == 2 and set(names(by_key)) == {"a-fake", "c-failed"}
        both, n = store.page(1, 50, sha256=SHA, settings_key="s1")
        assert (names(both), n) == (["a-fake"], 1)
        assert store.page(1, 50, status=JobStatus.FAILED, verdict="FAKE") == ([], 0)
        analysis, video = store.page(1, 50, status=JobStatus.RUNNING)[0][0]
        assert analysis.id == ids["d-running"] and video.sha256 == sha("another video")

    def test_page_filters_by_creation_time_and_file_name(self, store: JobStore) -> None:
        ids = self._populate(store)  # created 12:00 (a-fake) to 12:04 (e-queued), UTC
        name_of = {job_id: name for name, job_id in ids.items()}

        def names(**filters: Any) -> list[str]:
            rows, total = store.page(1, 50, "created_at", **filters)
            assert total == len(rows)
            return [name_of[a.id] for a, _ in rows]

        after = datetime(2025, 3, 1, 12, 2, tzinfo=UTC)
        assert names(created_after=after) == ["d-running", "e-queued"]  # strictly later
        in_paris = datetime(2025, 3, 1, 13, 2, tzinfo=timezone(timedelta(hours=1)))
        assert names(created_after=in_paris) == ["d-running", "e-queued"]
        assert names(name_contains="REAL") == ["b-real"]  # ignoring case
        assert names(name_contains=".mp4") == list(ids)
        assert names(name_contains="%") == [] and names(name_contains="_") == []  # literal
        assert names(name_contains="e", created_after=after, verdict="FAKE") == []
        assert names(name_contains="queued", status=JobStatus.QUEUED) == ["e-queued"]

    def test_counts_has_every_status(self, store: JobStore) -> None:
        assert store.counts() == {"queued": 0, "running": 0, "done": 0, "failed": 0}
        ids = self._populate(store)
        assert store.counts() == {"queued": 1, "running": 1, "done": 2, "failed": 1}
        assert store.queued_ids() == {ids["e-queued"]}

    def test_timestamps_are_aware_utc(self, store: JobStore) -> None:
        before = datetime.now(UTC)
        job_id = new_job(store)
        store.register_worker("w1", "host", 1)
        claim = store.claim(job_id, "w1")
        assert claim is not None and store.finish(claim, done())
        after = datetime.now(UTC)
        found = store.get(job_id)
        assert found is not None
        analysis, video = found
        for moment in (
            analysis.created_at,
            analysis.started_at,
            analysis.finished_at,
            analysis.updated_at,
            video.created_at,
        ):
            assert_utc(moment)
            assert moment is not None
            assert before - timedelta(seconds=1) <= moment <= after + timedelta(seconds=1)
        (worker,) = store.workers()
        assert_utc(worker.started_at)
        assert_utc(worker.last_seen)
        listed = store.page(1, 10)[0][0][0]
        assert_utc(listed.created_at)
        # An aware time in another zone is stored as the same instant.
        elsewhere = datetime(2025, 6, 1, 14, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
        set_last_seen(store, "w1", elsewhere)
        (worker,) = store.workers()
        assert worker.last_seen == elsewhere
        assert worker.last_seen.utcoffset() == timedelta(0)
        assert worker.last_seen.hour == 5

    def test_histograms(self, store: JobStore) -> None:
        assert store.histograms() == {}
        timings = {"decode": 0.3, "classify": 1.5, "total": 2.0}
        for key in ("s1", "s2"):
            job_id = new_job(store, key)
            claim = store.claim(job_id, "w")
            assert claim is not None and store.finish(claim, done(timings=timings))
        found = store.histograms()
        assert ("stage_seconds", "total") not in found  # the sum of the others is not a stage
        decode = found[("stage_seconds", "decode")]
        classify = found[("stage_seconds", "classify")]
        bounds = (*STAGE_BOUNDS, math.inf)
        assert decode.buckets == [(b, 2.0 if b >= 0.5 else 0.0) for b in bounds]  # 0.3 → ≤ 0.5
        assert classify.buckets == [(b, 2.0 if b >= 2.0 else 0.0) for b in bounds]  # 1.5 → ≤ 2
        assert decode.total == pytest.approx(0.6)
        assert classify.total == pytest.approx(3.0)
        latency = found[("job_latency_seconds", "done")]
        assert latency.buckets[-1][1] == 2
        assert [count for _, count in latency.buckets] == sorted(c for _, c in latency.buckets)
        assert latency.total >= 0
        assert found[("job_run_seconds", "done")].buckets[-1][1] == 2
        failed_id = new_job(store, "s3")
        claim = store.claim(failed_id, "w")
        assert claim is not None
        assert store.finish(claim, Outcome(status=JobStatus.FAILED, error="x"))
        found = store.histograms()
        assert found[("job_latency_seconds", "failed")].buckets[-1][1] == 1
        assert found[("job_latency_seconds", "done")].buckets[-1][1] == 2
        assert found[("stage_seconds", "decode")].buckets[-1][1] == 2


class JobQueueContract:
    """The job queue on one huey storage; subclasses provide ``queue``: an empty queue."""

    @pytest.fixture
    def queue(self) -> JobQueue:
        raise NotImplementedError("a backend subclass provides the queue")

    def test_enqueue_shows_as_pending(self, queue: JobQueue) -> None:
        assert queue.pending_ids() == set() and queue.pending_count() == 0
        queue.enqueue("job-1")
        queue.enqueue("job-2")
        assert queue.pending_ids() == {"job-1", "job-2"}
        assert queue.pending_count() == 2

    def test_dequeue_runs_the_handler(self, queue: JobQueue) -> None:
        seen: list[str] = []
        queue.handler = seen.append
        queue.enqueue("job-1")
        queue.enqueue("job-2")
        for _ in range(2):
            task = queue.huey.dequeue()
            assert task is not None
            queue.huey.execute(task)
        assert seen == ["job-1", "job-2"]  # first in, first out
        assert queue.pending_ids() == set() and queue.pending_count() == 0

    def test_higher_priority_is_taken_first(self, queue: JobQueue) -> None:
        seen: list[str] = []
        queue.handler = seen.append
        queue.enqueue("plain-1")
        queue.enqueue("plain-2")
        queue.enqueue("recovered", priority=RECOVERED_PRIORITY)
        assert queue.pending_ids() == {"plain-1", "plain-2", "recovered"}
        while (task := queue.huey.dequeue()) is not None:
            queue.huey.execute(task)
        assert seen == ["recovered", "plain-1", "plain-2"]

    def test_a_second_queue_on_the_same_url_sees_the_tasks(self, queue: JobQueue) -> None:
        """Web processes enqueue, worker processes (other instances) consume."""
        other = JobQueue(queue.url)
        try:
            queue.enqueue("job-1")
            assert other.pending_ids() == {"job-1"}
            seen: list[str] = []
            other.handler = seen.append
            task = other.huey.dequeue()
            assert task is not None
            other.huey.execute(task)
            assert seen == ["job-1"]
            assert queue.pending_count() == 0
        finally:
            other.close()


class BlobStoreContract:
    """The file store; subclasses provide ``blobs``: an empty store."""

    @pytest.fixture
    def blobs(self) -> LocalBlobStore:
        raise NotImplementedError("a backend subclass provides the blob store")

    def staged_parts(self, blobs: LocalBlobStore) -> list[Path]:
        return list(blobs.staging.glob("*.part"))

    def test_stage_hashes_and_counts(self, blobs: LocalBlobStore) -> None:
        data = os.urandom(3 * (1 << 20) + 17)
        staged = blobs.stage(io.BytesIO(data), max_bytes=len(data))  # exactly the limit: fine
        assert staged.size_bytes == len(data)
        assert staged.sha256 == hashlib.sha256(data).hexdigest()
        assert staged.path.read_bytes() == data
        blobs.discard(staged)
        assert not staged.path.exists()
        assert self.staged_parts(blobs) == []

    def test_stage_stops_at_max_bytes(self, blobs: LocalBlobStore) -> None:
        class Endless(io.RawIOBase):
            """A client that never stops sending."""

            served = 0

            def readable(self) -> bool:
                return True

            def read(self, size: int = -1) -> bytes:
                size = 65536 if size is None or size < 0 else size
                self.served += size
                return b"x" * size

        stream = Endless()
        with pytest.raises(UploadTooLarge):
            blobs.stage(stream, max_bytes=2 * (1 << 20))  # type: ignore[arg-type]
        assert stream.served <= 4 * (1 << 20)  # stopped at the limit, give or take one chunk
        assert self.staged_parts(blobs) == []
        with pytest.raises(UploadTooLarge):
            blobs.stage(io.BytesIO(b"y" * 101), max_bytes=100)
        assert self.staged_parts(blobs) == []

    def test_keep_moves_atomically_and_once(self, blobs: LocalBlobStore) -> None:
        key = f"{SHA}/video.mp4"
        first = blobs.stage(io.BytesIO(b"first bytes"), max_bytes=1000)
        assert not blobs.exists(key)
        blobs.keep(first, key)
        assert blobs.exists(key)
        assert blobs.local_path(key).read_bytes() == b"first bytes"
        assert not first.path.exists()  # moved, not copied
        second = blobs.stage(io.BytesIO(b"second bytes"), max_bytes=1000)
        blobs.keep(second, key)
        assert blobs.local_path(key).read_bytes() == b"first bytes"
        assert not second.path.exists()  # the new copy was dropped
        assert self.staged_parts(blobs) == []
        assert blobs.local_path(key) == blobs.root / SHA / "video.mp4"

    def test_writable_dir_empties_leftovers(self, blobs: LocalBlobStore) -> None:
        prefix = f"{SHA}/job/1"
        folder = blobs.writable_dir(prefix)
        assert folder == blobs.root / SHA / "job" / "1" and folder.is_dir()
        (folder / "crops").mkdir()
        (folder / "crops" / "0.jpg").write_bytes(b"old")
        (folder / "frame.jpg").write_bytes(b"old")
        again = blobs.writable_dir(prefix)
        assert again == folder and again.is_dir()
        assert list(again.iterdir()) == []
        (again / "frame.jpg").write_bytes(b"new")
        assert blobs.exists(f"{prefix}/frame.jpg")

    def test_delete_prefix_removes_folder_and_empty_parents(self, blobs: LocalBlobStore) -> None:
        video = blobs.stage(io.BytesIO(b"video"), max_bytes=100)
        blobs.keep(video, f"{SHA}/video.mp4")
        (blobs.writable_dir(f"{SHA}/job/1") / "frame.jpg").write_bytes(b"f1")
        (blobs.writable_dir(f"{SHA}/job/2") / "frame.jpg").write_bytes(b"f2")
        blobs.delete_prefix(f"{SHA}/job/1")
        assert not (blobs.root / SHA / "job" / "1").exists()
        assert blobs.exists(f"{SHA}/job/2/frame.jpg")  # the parent is not empty: kept
        blobs.delete_prefix(f"{SHA}/job/2")
        assert not (blobs.root / SHA / "job").exists()  # left empty: removed
        assert blobs.exists(f"{SHA}/video.mp4")  # the video's folder still holds the video
        blobs.delete_prefix(SHA)
        assert not (blobs.root / SHA).exists()
        assert blobs.root.is_dir() and blobs.staging.is_dir()
        blobs.delete_prefix(f"{SHA}/never-written")  # nothing there: no error

    def test_delete_prefix_never_removes_the_root(self, blobs: LocalBlobStore) -> None:
        blobs.staging.rmdir()  # the root holds nothing but what is deleted next
        (blobs.writable_dir("a/b") / "x").write_bytes(b"x")
        blobs.delete_prefix("a/b")
        assert not (blobs.root / "a").exists()
        assert blobs.root.is_dir()
        (blobs.writable_dir("single") / "x").write_bytes(b"x")
        blobs.delete_prefix("single/x")  # a file key
        assert not (blobs.root / "single").exists()
        assert blobs.root.is_dir()

    @pytest.mark.parametrize(
        "key",
        [
            *("", ".", "..", "../outside", "a/../../b", "/etc/passwd", "a//b", "a/"),
            *("a/.hidden", "a\0b", "a\\..\\b"),
        ],
    )
    def test_bad_keys(self, blobs: LocalBlobStore, key: str) -> None:
        staged = blobs.stage(io.BytesIO(b"data"), max_bytes=100)
        for call in (
            lambda: blobs.keep(staged, key),
            lambda: blobs.local_path(key),
            lambda: blobs.exists(key),
            lambda: blobs.writable_dir(key),
            lambda: blobs.delete_prefix(key),
        ):
            with pytest.raises(BadKey):
                call()
        assert staged.path.exists()  # nothing was moved anywhere
        assert sorted(p.name for p in blobs.root.iterdir()) == [blobs.staging.name]

    def test_sweep_staging_removes_only_old_parts(self, blobs: LocalBlobStore) -> None:
        old = blobs.stage(io.BytesIO(b"old"), max_bytes=100)
        new = blobs.stage(io.BytesIO(b"new"), max_bytes=100)
        unrelated = blobs.staging / "notes.txt"
        unrelated.write_text("not an upload")
        long_ago = time.time() - 7 * 3600
        os.utime(old.path, (long_ago, long_ago))
        os.utime(unrelated, (long_ago, long_ago))
        assert blobs.sweep_staging() == 1
        assert not old.path.exists()
        assert new.path.exists() and unrelated.exists()
        assert blobs.sweep_staging(older_than_s=3600) == 0
        assert blobs.sweep_staging(older_than_s=-1) == 1
        assert not new.path.exists() and unrelated.exists()


class RecoverContract:
    """``worker.recover`` on one job store and queue together; subclasses provide ``backends``
    (an empty migrated database and an empty queue)."""

    LEASE_S = 30.0

    @pytest.fixture
    def backends(self) -> Backends:
        raise NotImplementedError("a backend subclass provides the backends")

    def pending(self, backends: Backends) -> Counter[str]:
        return Counter(str(task.args[0]) for task in backends.queue.huey.pending() if task.args)

    def test_recover(self, backends: Backends) -> None:
        jobs, queue = backends.jobs, backends.queue
        host, pid = socket.gethostname(), os.getpid()  # a live pid: only the lease can kill it
        jobs.register_worker("me", host, pid)
        jobs.register_worker("alive", host, pid)
        jobs.register_worker("dead", "another-host", 4242)
        of_dead = new_job(jobs, "s1")
        of_alive = new_job(jobs, "s2")
        lost = new_job(jobs, "s3")  # queued, but its task is gone (a Redis restarted)
        in_queue = new_job(jobs, "s4")
        queue.enqueue(in_queue)
        assert jobs.claim(of_dead, "dead") is not None
        assert jobs.claim(of_alive, "alive") is not None
        set_last_seen(jobs, "dead", datetime.now(UTC) - timedelta(seconds=3 * self.LEASE_S))

        enqueued = recover(backends, "me", self.LEASE_S)

        assert enqueued == sorted([of_dead, lost])
        assert self.pending(backends) == Counter({of_dead: 1, lost: 1, in_queue: 1})
        assert queue.pending_count() == 3
        row = status_of(jobs, of_dead)
        assert (row.job_status, row.worker) == (JobStatus.QUEUED, None)
        row = status_of(jobs, of_alive)
        assert (row.job_status, row.worker) == (JobStatus.RUNNING, "alive")
        assert {w.token for w in jobs.workers()} == {"me", "alive"}

        # A second pass finds everything in place: nothing is enqueued again.
        assert recover(backends, "me", self.LEASE_S) == []
        assert queue.pending_count() == 3

        # The re-enqueued task goes first (it waited once already) and runs the job: a new
        # worker claims it as attempt 2.
        claims: list[Claim | None] = []
        queue.handler = lambda job_id: claims.append(jobs.claim(job_id, "alive"))
        while (task := queue.huey.dequeue()) is not None:
            queue.huey.execute(task)
        assert all(c is not None for c in claims)
        first = claims[0]
        assert first is not None and (first.job_id, first.attempt) == (of_dead, 2)
        by_job = {c.job_id: c.attempt for c in claims if c is not None}
        assert by_job == {of_dead: 2, lost: 1, in_queue: 1}

    def test_recover_without_queue_check(self, backends: Backends) -> None:
        jobs = backends.jobs
        jobs.register_worker("dead", socket.gethostname(), os.getpid())
        of_dead = new_job(jobs, "s1")
        lost = new_job(jobs, "s2")
        assert jobs.claim(of_dead, "dead") is not None
        set_last_seen(jobs, "dead", datetime.now(UTC) - timedelta(seconds=3 * self.LEASE_S))
        assert recover(backends, "me", self.LEASE_S, check_queue=False) == [of_dead]
        assert self.pending(backends) == Counter({of_dead: 1})
        assert status_of(jobs, lost).job_status is JobStatus.QUEUED
        assert recover(backends, "me", self.LEASE_S) == [lost]
        assert self.pending(backends) == Counter({of_dead: 1, lost: 1})

    def test_recover_fails_a_crash_loop(self, backends: Backends) -> None:
        jobs = backends.jobs
        job_id = new_job(jobs)
        jobs.register_worker("dead", "another-host", 1)
        assert jobs.claim(job_id, "dead") is not None
        set_last_seen(jobs, "dead", datetime.now(UTC) - timedelta(seconds=3 * self.LEASE_S))
        assert recover(backends, "me", self.LEASE_S, max_attempts=1) == []
        assert self.pending(backends) == Counter()
        row = status_of(jobs, job_id)
        assert row.job_status is JobStatus.FAILED
        assert row.error is not None and "interrupted 1 times" in row.error

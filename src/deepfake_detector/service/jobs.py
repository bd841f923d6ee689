"""Analysis jobs on a real task queue (huey on SQLite by default): the web process only enqueues,
a consumer (a thread of ``serve`` or a separate ``worker`` process) runs the core ``analyze``.

Durability: huey's SQLite storage keeps *queued* tasks across restarts. A job that was *running*
when its process died is found by :func:`recover` — its worker's heartbeat is stale, or its pid is
gone on this host — and queued again; the task is idempotent (it claims the row atomically), so
enqueueing a job twice never runs it twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from huey import SqliteHuey
from huey.consumer import Consumer
from sqlalchemy import delete, select, update

from deepfake_detector.analysis.pipeline import Analyzer
from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.errors import DetectorError
from deepfake_detector.service import heatmaps
from deepfake_detector.service.storage import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Analysis,
    Store,
    Worker,
    utcnow,
)

log = logging.getLogger(__name__)

TASK_NAME = "deepfake_detector.analyse"
HEARTBEAT_S = 5.0
"""How often a worker process says it is alive (and looks for orphaned jobs)."""
STALE_AFTER_S = 30.0
"""A worker silent for this long is taken for dead and its running jobs are queued again."""
MAX_ATTEMPTS = 3
"""A job whose worker died this many times is failed instead of retried (a crash loop)."""
_PROGRESS_EVERY_S = 0.25
_ANALYSIS_SHARE = 0.85
"""Share of the progress bar for ``analyze`` itself when heatmaps follow it."""


def settings_key(settings: AnalysisSettings) -> str:
    """Fingerprint of everything that changes a result: the settings and the sha256 of the
    weights that ``settings.model`` resolves to, so that re-uploading a video after the default
    model (or the file behind a model path) changed re-analyses it instead of returning the old
    model's result. A model that cannot be resolved keys on its name (its jobs fail anyway)."""
    from deepfake_detector.errors import ModelError
    from deepfake_detector.models.checkpoints import file_sha256
    from deepfake_detector.models.ensemble import member_path
    from deepfake_detector.models.registry import resolve_model

    try:
        weights = resolve_model(settings.model).sha256
        member = member_path(settings.model)
        if member is not None:  # a second scorer changes the results as much as the weights
            weights += ":" + file_sha256(member)
    except (ModelError, OSError, ValueError):
        weights = f"unresolved:{settings.model}"
    text = json.dumps(
        {"settings": dataclasses.asdict(settings), "weights_sha256": weights},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class JobQueue:
    """The queue, shared by web and worker processes (the same task name in both). Web processes
    only enqueue; a process that consumes sets ``runner`` (see :func:`start_worker`)."""

    def __init__(self, service: ServiceSettings) -> None:
        if service.queue != "sqlite":
            raise ValueError(f"unknown queue backend {service.queue!r} (supported: sqlite)")
        path = Path(service.resolved_queue_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        self.huey = SqliteHuey(
            name="deepfake-detector", filename=str(path), results=False, timeout=30
        )
        self.runner: JobRunner | None = None
        self.task = self.huey.task(name=TASK_NAME, retries=0)(self._execute)

    def _execute(self, analysis_id: str) -> None:
        if self.runner is None:
            raise RuntimeError("no job runner in this process (start one with start_worker)")
        self.runner.run(analysis_id)

    def enqueue(self, analysis_id: str) -> None:
        self.task(analysis_id)

    def pending_ids(self) -> set[str]:
        return {str(task.args[0]) for task in self.huey.pending() if task.name == TASK_NAME}

    def pending_count(self) -> int:
        return int(self.huey.pending_count())


class _Cancelled(BaseException):
    """Raised from the progress callback when the job's row was deleted: stops the analysis.
    A BaseException so that ``analyze`` (which turns Exceptions into ERROR results) lets it by."""


class JobRunner:
    """Runs analyses in one worker process, with ONE ``Analyzer`` (the model loaded once)."""

    def __init__(
        self, store: Store, settings: AnalysisSettings, token: str, *, heatmaps: bool = True
    ) -> None:
        self.store = store
        self.settings = settings
        self.token = token
        self.make_heatmaps = heatmaps
        self._analyzer: Analyzer | None = None
        self._lock = threading.Lock()

    def analyzer(self) -> Analyzer:
        """Load the model on first use; a failure is not cached, so the next job retries."""
        with self._lock:
            if self._analyzer is None:
                started = time.perf_counter()
                self._analyzer = Analyzer(self.settings)
                log.info("model loaded in %.1f s", time.perf_counter() - started)
            return self._analyzer

    def run(self, analysis_id: str) -> None:
        """Claim the job, analyse, store the result. Never raises for a failed analysis."""
        if not self._claim(analysis_id):
            log.info("job %s is not queued any more; skipped", analysis_id)
            return
        found = self.store.get(analysis_id)
        if found is None:
            return
        analysis, video = found
        evidence = self.store.evidence_dir(analysis)
        shutil.rmtree(evidence, ignore_errors=True)  # leftovers of an interrupted attempt
        evidence.mkdir(parents=True, exist_ok=True)
        try:
            fields = self._analyse(analysis_id, self.store.video_path(video), evidence)
            fields["path"] = f"{video.sha256}/{video.file_name}"
        except _Cancelled:
            log.info("job %s was deleted while running", analysis_id)
            _remove_evidence(evidence)
            return
        except DetectorError as exc:
            fields = {"status": FAILED, "error": str(exc)}
        except Exception as exc:
            log.exception("job %s failed", analysis_id)
            fields = {"status": FAILED, "error": f"internal error ({type(exc).__name__}: {exc})"}
        self._finish(analysis_id, fields, evidence)

    def _claim(self, analysis_id: str) -> bool:
        with self.store.session() as s:
            claimed = s.execute(
                update(Analysis)
                .where(Analysis.id == analysis_id, Analysis.status == QUEUED)
                .values(
                    status=RUNNING,
                    worker=self.token,
                    stage="starting",
                    progress=0.0,
                    attempts=Analysis.attempts + 1,
                    started_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            return bool(claimed.rowcount)

    def _progress(self, analysis_id: str) -> Callable[[str, float], None]:
        """A throttled callback writing (stage, fraction) into the job's row; the fraction never
        goes backwards. Raises ``_Cancelled`` once the row is gone (the job was deleted)."""
        last = {"stage": "", "at": 0.0, "fraction": 0.0}

        def report(stage: str, fraction: float) -> None:
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < _PROGRESS_EVERY_S:
                return
            fraction = max(last["fraction"], min(1.0, float(fraction)))
            last.update(stage=stage, at=now, fraction=fraction)
            with self.store.session() as s:
                changed = s.execute(
                    update(Analysis)
                    .where(Analysis.id == analysis_id, Analysis.worker == self.token)
                    .values(stage=stage, progress=fraction, updated_at=utcnow())
                )
                if not changed.rowcount:
                    raise _Cancelled

        return report

    def _analyse(self, analysis_id: str, video_path: Path, evidence: Path) -> dict[str, Any]:
        report = self._progress(analysis_id)
        report("loading model", 0.0)
        analyzer = self.analyzer()
        # analyze() reports 0..1 (and "done" at the end); heatmaps follow, so leave them room.
        share = _ANALYSIS_SHARE if self.make_heatmaps else 1.0

        def analysis_progress(stage: str, fraction: float) -> None:
            report("analysed" if stage == "done" else stage, share * fraction)

        result = analyzer.analyze(video_path, evidence_dir=evidence, progress=analysis_progress)
        data = result.to_dict()
        artifacts: dict[str, Any] = {"heatmaps": {}}
        if data["faces"] and self.make_heatmaps:
            report("heatmaps", share)
            started = time.perf_counter()
            try:
                artifacts["heatmaps"] = heatmaps.render(analyzer, data, evidence)
            except Exception:  # evidence is a bonus: never lose the verdict over it
                log.exception("heatmaps failed for job %s", analysis_id)
            spent = time.perf_counter() - started
            data["timings"]["heatmaps"] = round(spent, 4)
            data["timings"]["total"] = round(data["timings"].get("total", 0.0) + spent, 4)
        failed = data["verdict"] == "ERROR"
        return {
            "status": FAILED if failed else DONE,
            "result": data,
            "artifacts": artifacts,
            "verdict": data["verdict"],
            "fake_probability": data["fake_probability"],
            "error": data["error"] if failed else None,
            "thumbnail": _thumbnail(data),
        }

    def _finish(self, analysis_id: str, fields: dict[str, Any], evidence: Path) -> None:
        path = fields.pop("path", None)
        if path is not None and fields.get("result") is not None:
            fields["result"]["path"] = path
        with self.store.session() as s:
            changed = s.execute(
                update(Analysis)
                .where(Analysis.id == analysis_id, Analysis.worker == self.token)
                .values(
                    stage="done",
                    progress=1.0,
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                    **fields,
                )
            )
            kept = bool(changed.rowcount)
        if not kept:  # deleted (or taken over) meanwhile: leave no orphaned evidence behind
            _remove_evidence(evidence)


def _remove_evidence(evidence: Path) -> None:
    """Remove a deleted job's evidence, and its video's folder if nothing else is left in it."""
    shutil.rmtree(evidence, ignore_errors=True)
    with contextlib.suppress(OSError):
        evidence.parent.rmdir()  # only succeeds when empty (the video was deleted too)


def _thumbnail(data: dict[str, Any]) -> str | None:
    """A face crop from the middle of the first person's track, else the first sampled frame."""
    for face in data.get("faces") or []:
        crops = [f["crop"] for f in face["frames"] if f.get("crop")]
        if crops:
            return str(crops[len(crops) // 2])
    for frame in data.get("sampled_frames") or []:
        if frame.get("image"):
            return str(frame["image"])
    return None


# -- recovery ------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_dead(worker: Worker | None, now: Any, host: str) -> bool:
    if worker is None:
        return True
    if worker.host == host and not _pid_alive(worker.pid):
        return True
    return now - worker.last_seen > timedelta(seconds=STALE_AFTER_S)


def recover(store: Store, queue: JobQueue, own_token: str) -> list[str]:
    """Queue again the jobs whose worker died mid-run, and any queued job missing from the queue.
    Returns the ids enqueued."""
    host = socket.gethostname()
    now = utcnow()
    with store.session() as s:
        workers = {w.token: w for w in s.scalars(select(Worker))}
        dead = {
            token
            for token, w in workers.items()
            if token != own_token and _worker_dead(w, now, host)
        }
        orphans = []
        for job in s.scalars(select(Analysis).where(Analysis.status == RUNNING)):
            if job.worker == own_token or (job.worker in workers and job.worker not in dead):
                continue
            if job.attempts >= MAX_ATTEMPTS:
                job.status, job.stage, job.finished_at = FAILED, "done", now
                job.error = (
                    f"The analysis was interrupted {job.attempts} times (the worker stopped "
                    "while running it); it was not tried again."
                )
                continue
            job.status, job.stage, job.progress, job.worker = QUEUED, "queued", 0.0, None
            job.updated_at = now
            orphans.append(job.id)
        if dead:
            s.execute(delete(Worker).where(Worker.token.in_(dead)))
        queued = set(s.scalars(select(Analysis.id).where(Analysis.status == QUEUED)))
    missing = sorted(set(orphans) | (queued - queue.pending_ids()))
    for analysis_id in missing:
        queue.enqueue(analysis_id)
    if orphans:
        log.warning("re-queued %d job(s) interrupted by a worker that stopped", len(orphans))
    return missing


# -- the worker ----------------------------------------------------------------------------------


class _EmbeddedConsumer(Consumer):
    """A consumer started from a non-main thread (inside ``serve``): the caller owns signals."""

    def _set_signal_handlers(self) -> None:
        pass


class WorkerHandle:
    """A running consumer plus its heartbeat; ``stop()`` ends both."""

    def __init__(self, store: Store, queue: JobQueue, consumer: Consumer, token: str) -> None:
        self.store = store
        self.queue = queue
        self.consumer = consumer
        self.token = token
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)

    def _heartbeat(self) -> None:
        beats = 0
        while not self._stop.wait(HEARTBEAT_S):
            beats += 1
            try:
                with self.store.session() as s:
                    s.execute(
                        update(Worker).where(Worker.token == self.token).values(last_seen=utcnow())
                    )
                if beats % 3 == 0:
                    recover(self.store, self.queue, self.token)
            except Exception:
                log.exception("worker heartbeat failed")

    def start_heartbeat(self) -> None:
        self._beat.start()

    def stop(self, graceful: bool = True) -> None:
        """Stop taking jobs; with ``graceful``, wait for the running one to finish."""
        self._stop.set()
        self.consumer.stop(graceful=graceful)
        with self.store.session() as s:
            s.execute(delete(Worker).where(Worker.token == self.token))
        self.queue.runner = None


def start_worker(
    store: Store,
    queue: JobQueue,
    settings: AnalysisSettings,
    *,
    embedded: bool = True,
    preload: bool = True,
    make_heatmaps: bool = True,
) -> WorkerHandle:
    """Consume jobs in this process (one job at a time), after queueing interrupted ones again.

    ``embedded=True`` (beside a web server): the consumer runs in threads started here and the
    caller keeps the signals. ``embedded=False`` (a worker process): nothing runs until
    :func:`run_worker_forever` blocks in the consumer's main loop, which handles the signals.
    """
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[:64]
    with store.session() as s:
        s.add(Worker(token=token, host=socket.gethostname(), pid=os.getpid()))
    runner = JobRunner(store, settings, token, heatmaps=make_heatmaps)
    queue.runner = runner
    recover(store, queue, token)
    consumer_class = _EmbeddedConsumer if embedded else Consumer
    consumer = consumer_class(
        queue.huey,
        workers=1,  # one job at a time: the process's one Analyzer is not shared between threads
        worker_type="thread",
        periodic=False,
        initial_delay=0.1,
        backoff=1.15,
        max_delay=1.0,
        check_worker_health=True,
    )
    handle = WorkerHandle(store, queue, consumer, token)
    if preload:
        threading.Thread(target=_preload, args=(runner,), name="model-preload", daemon=True).start()
    if embedded:
        consumer.start()
    handle.start_heartbeat()
    return handle


def _preload(runner: JobRunner) -> None:
    try:
        runner.analyzer()
    except Exception as exc:  # reported again, per job, when a job needs the model
        log.warning("model could not be loaded yet: %s", exc)


def run_worker_forever(handle: WorkerHandle) -> None:
    """Block in the consumer's main loop (signals: SIGINT graceful, SIGTERM immediate)."""
    try:
        handle.consumer.run()
    finally:
        handle.stop(graceful=False)

"""A job worker: a huey consumer that hands each job id to a :class:`JobRunner`, plus a
heartbeat thread that renews the worker's lease and gives the jobs of dead workers to the queue.

Durability: the queue keeps *queued* tasks across restarts. A job that was *running* when its
worker died (kill -9, power loss) is found by any other live worker — the dead one's heartbeat
is older than ``worker_lease_s``, or its pid is gone on this host — and queued again; the task is
idempotent (the claim is atomic, the finish conditional on the lease), so a job enqueued twice
never runs twice and a job re-run after a lost lease never writes two results.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

from huey.consumer import Consumer

from deepfake_detector.config import AnalysisSettings, ServiceSettings
from deepfake_detector.media.preview import PreviewLimits
from deepfake_detector.service.backends import Backends
from deepfake_detector.service.db import Worker, utcnow
from deepfake_detector.service.queue import RECOVERED_PRIORITY
from deepfake_detector.service.retention import cleanup
from deepfake_detector.service.runner import JobRunner
from deepfake_detector.service.webhooks import WebhookSender

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""A job whose worker died this many times is failed instead of retried (a crash loop)."""
QUEUE_CHECK_EVERY = 6
"""Heartbeats between checks that every queued job is in the queue (a full queue scan)."""
RETENTION_EVERY_S = 3600.0
"""How often a worker removes the files that retention (``DFD_RETENTION_DAYS``) expired."""


def worker_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[:64]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_dead(worker: Worker, now: datetime, lease_s: float, host: str) -> bool:
    if worker.host == host and not _pid_alive(worker.pid):
        return True
    return now - worker.last_seen > timedelta(seconds=lease_s)


def recover(
    backends: Backends,
    own_token: str,
    lease_s: float,
    *,
    check_queue: bool = True,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[str]:
    """Queue again the jobs whose worker died mid-run and (with ``check_queue``) any queued job
    missing from the queue (e.g. a Redis restarted without persistence). Returns the ids
    enqueued."""
    host, now = socket.gethostname(), utcnow()
    dead = {
        w.token
        for w in backends.jobs.workers()
        if w.token != own_token and _is_dead(w, now, lease_s, host)
    }
    requeued, failed = backends.jobs.requeue_orphans(dead, max_attempts)
    for job_id in requeued:
        backends.queue.enqueue(job_id, priority=RECOVERED_PRIORITY)
    missing: set[str] = set()
    if check_queue:
        missing = backends.jobs.queued_ids() - backends.queue.pending_ids() - set(requeued)
    for job_id in sorted(missing):
        backends.queue.enqueue(job_id)
    if requeued:
        log.warning("re-queued %d job(s) of a worker that stopped: %s", len(requeued), requeued)
    if failed:
        log.warning("failed %d job(s) that kept stopping their worker: %s", len(failed), failed)
        for job_id in failed:  # no attempt finished: their evidence is partial
            found = backends.jobs.get(job_id)
            if found is not None:
                backends.blobs.delete_prefix(f"{found[0].video_sha256}/{job_id}")
    return sorted(missing | set(requeued))


class _EmbeddedConsumer(Consumer):
    """A consumer started from a non-main thread (inside ``serve``): the caller owns signals."""

    def _set_signal_handlers(self) -> None:
        pass


class WorkerHandle:
    """A running consumer plus its heartbeat; ``stop()`` ends both."""

    def __init__(
        self,
        backends: Backends,
        consumer: Consumer,
        runner: JobRunner,
        service: ServiceSettings,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.backends = backends
        self.consumer = consumer
        self.runner = runner
        self.webhooks = webhooks
        self.token = runner.worker
        self.service = service
        self.heartbeat_s = service.worker_heartbeat_s
        self.lease_s = service.worker_lease_s
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)

    def _heartbeat(self) -> None:
        beats = 0
        next_cleanup = time.monotonic()
        while not self._stop.wait(self.heartbeat_s):
            if self.service.retention_days > 0 and time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + RETENTION_EVERY_S
                try:
                    cleanup(
                        self.backends,
                        self.service.retention_days,
                        keep_results=self.service.retention_keep_results,
                    )
                except Exception:
                    log.exception("retention cleanup failed")
            beats += 1
            try:
                self.backends.jobs.heartbeat(self.token, socket.gethostname(), os.getpid())
                recover(
                    self.backends,
                    self.token,
                    self.lease_s,
                    check_queue=beats % QUEUE_CHECK_EVERY == 0,
                )
            except Exception:
                log.exception("worker heartbeat failed")
            if self.webhooks is not None:
                try:  # added to an analysis already ended, or whose sender died
                    self.webhooks.take()
                except Exception:
                    log.exception("could not look for webhooks to send")

    def start_heartbeat(self) -> None:
        self._beat.start()

    def stop(self, graceful: bool = True) -> None:
        """Stop taking jobs; with ``graceful``, wait for the running one to finish."""
        self._stop.set()
        self.consumer.stop(graceful=graceful)
        if self.webhooks is not None:
            self.webhooks.close()
        try:
            self.backends.jobs.unregister_worker(self.token)
        except Exception:  # the lease runs out by itself
            log.warning("could not unregister worker %s", self.token)
        self.backends.queue.handler = None


def start_worker(
    backends: Backends,
    settings: AnalysisSettings,
    service: ServiceSettings | None = None,
    *,
    embedded: bool = True,
    preload: bool = True,
) -> WorkerHandle:
    """Consume jobs in this process (``service.worker_job_threads`` at a time), after queueing
    interrupted ones again.

    ``embedded=True`` (beside a web server): the consumer runs in threads started here and the
    caller keeps the signals. ``embedded=False`` (a worker process): nothing runs until
    :func:`run_worker_forever` blocks in the consumer's main loop, which handles the signals.
    """
    service = service or ServiceSettings()
    token = worker_token()
    backends.jobs.register_worker(token, socket.gethostname(), os.getpid())
    runner = JobRunner(
        backends.jobs,
        backends.blobs,
        settings,
        token,
        heatmaps=service.heatmaps,
        heatmaps_budget=service.heatmaps_budget,
        cpu_budget_s=service.job_cpu_budget_s,
        job_threads=service.worker_job_threads,
        preview=preview_limits(service),
    )
    sender = WebhookSender(backends.jobs, service)
    runner.on_finished = sender.job_finished  # sent from the sender's threads, never the job's
    backends.queue.handler = runner.run
    recover(backends, token, service.worker_lease_s)
    consumer_class = _EmbeddedConsumer if embedded else Consumer
    consumer = consumer_class(
        backends.queue.huey,
        # One job per thread; each thread has its own Analyzer (detectors are not thread-safe),
        # all share one model (see JobRunner.analyzer).
        workers=max(1, service.worker_job_threads),
        worker_type="thread",
        periodic=False,
        initial_delay=0.1,
        backoff=1.15,
        max_delay=1.0,
        check_worker_health=True,
    )
    handle = WorkerHandle(backends, consumer, runner, service, sender)
    if preload:
        threading.Thread(target=_preload, args=(runner,), name="model-preload", daemon=True).start()
    if embedded:
        consumer.start()
    handle.start_heartbeat()
    return handle


def preview_limits(service: ServiceSettings) -> PreviewLimits | None:
    """The bounds of the playable copies the settings ask for (``None``: turned off)."""
    if not service.preview:
        return None
    return PreviewLimits(
        max_side=max(16, service.preview_max_side),
        max_bytes=int(service.preview_max_mb * 1_000_000),
        budget_s=service.preview_budget_s or None,
    )


def _preload(runner: JobRunner) -> None:
    try:
        runner.preload()
    except Exception as exc:  # reported again, per job, when a job needs the model
        log.warning("model could not be loaded yet: %s", exc)


def run_worker_forever(handle: WorkerHandle) -> None:
    """Block in the consumer's main loop (signals: SIGINT graceful, SIGTERM immediate)."""
    try:
        handle.consumer.run()
    finally:
        handle.stop(graceful=False)

"""The job queue, chosen by URL the way huey chooses its storage: ``sqlite:///path`` (the
embedded default, one machine) or ``redis://host:port/db`` (several machines).

The queue only carries job ids; the job store decides what runs (a claim is atomic), so a task
delivered twice, or re-enqueued by recovery, still runs once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from huey import Huey, PriorityRedisHuey, SqliteHuey

TASK_NAME = "deepfake_detector.analyse"
QUEUE_NAME = "deepfake-detector"
RECOVERED_PRIORITY = 10
"""Priority of a job queued again after its worker died: it has waited once already."""


def _sqlite(url: str) -> Huey:
    path = Path(url.split("///", 1)[-1] if "///" in url else urlsplit(url).path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name=QUEUE_NAME, filename=str(path), results=False, timeout=30)


def _redis(url: str) -> Huey:
    # The priority variant (a sorted set): recovered jobs go ahead of the line.
    return PriorityRedisHuey(name=QUEUE_NAME, url=url, results=False, blocking=True, read_timeout=1)


BACKENDS: dict[str, Callable[[str], Huey]] = {
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
}
"""URL scheme → huey instance. A new backend is one function and one entry here."""


class JobQueue:
    """The queue shared by web and worker processes (the same task name in both). Web processes
    only enqueue; a consuming process sets ``handler`` (see ``service/worker.py``)."""

    def __init__(self, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in BACKENDS:
            known = ", ".join(f"{name}://" for name in BACKENDS)
            raise ValueError(f"unknown queue URL {redact(url)!r} (supported: {known})")
        self.url = url
        self.backend = "redis" if scheme.startswith("redis") else scheme
        self.huey = BACKENDS[scheme](url)
        self.handler: Callable[[str], None] | None = None
        self.task = self.huey.task(name=TASK_NAME, retries=0)(self._execute)

    def _execute(self, job_id: str) -> None:
        if self.handler is None:
            raise RuntimeError("no job handler in this process (start a worker)")
        self.handler(job_id)

    def enqueue(self, job_id: str, *, priority: int = 0) -> None:
        """Queue a job id; a higher ``priority`` is taken first (both backends honour it)."""
        self.task(job_id, priority=priority)

    def pending_ids(self) -> set[str]:
        return {str(task.args[0]) for task in self.huey.pending() if task.name == TASK_NAME}

    def pending_count(self) -> int:
        return int(self.huey.pending_count())

    def close(self) -> None:
        storage: Any = self.huey.storage
        pool = getattr(storage, "pool", None)
        if pool is not None:
            pool.disconnect()


def redact(url: str) -> str:
    """The URL without its password, for logs and health output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()

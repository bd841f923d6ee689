"""Service logs: every record carries the job id it was written for, as text or as JSON lines.

``with job_context(job_id):`` sets the id for everything logged inside (threads included, as a
context variable); :func:`configure_logging` installs the format chosen by ``DFD_LOG_FORMAT``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [job=%(job_id)s]: %(message)s"


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    token = _JOB_ID.set(job_id)
    try:
        yield
    finally:
        _JOB_ID.reset(token)


class JobIdFilter(logging.Filter):
    """Adds ``job_id`` (``-`` outside a job) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _JOB_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job id, host, pid, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None)
            if getattr(record, "job_id", "-") != "-"
            else None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Log the package at ``level`` to stderr in ``text`` or ``json``, each line with its job."""
    if log_format not in ("text", "json"):
        raise ValueError(f"DFD_LOG_FORMAT must be text or json, not {log_format!r}")
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    package = logging.getLogger("deepfake_detector")
    if package.getEffectiveLevel() > level or package.level == logging.NOTSET:
        package.setLevel(level)

"""Retention: uploads and evidence older than ``DFD_RETENTION_DAYS`` are removed, their results
kept (``DFD_RETENTION_KEEP_RESULTS``, the default) or removed with them.

Run by every worker once an hour (idempotent, so several workers doing it is harmless) and by
``deepfake-detector cleanup``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from deepfake_detector.service.backends import Backends
from deepfake_detector.service.db import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanupReport:
    analyses: int
    """Analyses whose files were removed (or that were removed entirely)."""
    videos: int
    """Uploaded videos removed (only once no analysis of them keeps its files)."""


def cleanup(
    backends: Backends, days: float, *, keep_results: bool = True, dry_run: bool = False
) -> CleanupReport:
    """Remove the files of analyses finished more than ``days`` ago."""
    if days <= 0:
        return CleanupReport(0, 0)
    now = utcnow()
    before = now - timedelta(days=days)
    analyses = videos = 0
    while True:
        batch = backends.jobs.expired(before)
        if dry_run:
            return CleanupReport(len(batch), len({v.sha256 for _, v in batch}))
        if not batch:
            break
        for analysis, video in batch:
            if keep_results:
                still_used = backends.jobs.forget_files(analysis.id, now)
                backends.blobs.delete_prefix(f"{video.sha256}/{analysis.id}")
                if not still_used:
                    backends.blobs.delete_prefix(video.key)
                    videos += 1
            else:
                prefixes = backends.jobs.delete(analysis.id) or []
                for prefix in prefixes:
                    backends.blobs.delete_prefix(prefix)
                videos += sum(1 for p in prefixes if "/" not in p)
            analyses += 1
    if analyses:
        log.info("retention: removed the files of %d analyses and %d videos", analyses, videos)
    return CleanupReport(analyses, videos)

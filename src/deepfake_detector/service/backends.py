"""The three backends a service process talks to, built from the settings' URLs in one place:
the job store (database), the blob store (files) and the job queue."""

from __future__ import annotations

from dataclasses import dataclass

from deepfake_detector.config import ServiceSettings
from deepfake_detector.service.blobs import BlobStore, make_blob_store
from deepfake_detector.service.jobstore import JobStore
from deepfake_detector.service.queue import JobQueue


@dataclass
class Backends:
    jobs: JobStore
    blobs: BlobStore
    queue: JobQueue

    def close(self) -> None:
        self.jobs.close()
        self.queue.close()


def connect(settings: ServiceSettings, *, migrate: bool = False) -> Backends:
    """Open the backends; ``migrate`` brings the database schema up to date first (what the
    embedded ``serve`` does on its own; with a shared database, run ``db upgrade`` once)."""
    return Backends(
        jobs=JobStore.from_url(settings.resolved_database_url(), migrate=migrate),
        blobs=make_blob_store(settings.resolved_storage_url()),
        queue=JobQueue(settings.resolved_queue_url()),
    )

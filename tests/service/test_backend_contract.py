"""The backend contract (``backend_contract.py``) run against every backend: the job store on
SQLite and PostgreSQL, the queue on SQLite and Redis, the local blob store, and worker recovery on
the two combinations the service is deployed with (SQLite + SQLite queue, PostgreSQL + Redis).

PostgreSQL and Redis are real servers (``tests/servers.py``); each test gets a fresh database and
an emptied Redis database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_contract import (
    BlobStoreContract,
    JobQueueContract,
    JobStoreContract,
    RecoverContract,
)
from integrations_contract import IntegrationsStoreContract
from redis import Redis

from deepfake_detector.devservers import RedisServer
from deepfake_detector.service.backends import Backends
from deepfake_detector.service.blobs import LocalBlobStore
from deepfake_detector.service.db import current_revision, head_revision, make_engine, upgrade
from deepfake_detector.service.jobstore import JobStore
from deepfake_detector.service.queue import JobQueue, redact
from servers import postgres_server, postgres_url, redis_server  # noqa: F401

REDIS_DB = 9
"""The Redis database these tests use, emptied before and after each test."""


def migrated_store(url: str) -> JobStore:
    engine = make_engine(url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    return JobStore(engine)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[JobStore]:
    store = migrated_store(f"sqlite:///{tmp_path / 'db' / 'jobs.sqlite3'}")
    yield store
    store.close()


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[JobStore]:  # noqa: F811
    store = migrated_store(postgres_url)
    assert store.engine.dialect.name == "postgresql"
    yield store
    store.close()


@pytest.fixture
def sqlite_queue(tmp_path: Path) -> Iterator[JobQueue]:
    queue = JobQueue(f"sqlite:///{tmp_path / 'queue' / 'queue.sqlite3'}")
    assert queue.backend == "sqlite"
    yield queue
    queue.close()


@pytest.fixture
def redis_queue(redis_server: RedisServer) -> Iterator[JobQueue]:  # noqa: F811
    url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = Redis.from_url(url)
    client.flushdb()
    queue = JobQueue(url)
    assert queue.backend == "redis"
    yield queue
    queue.close()
    client.flushdb()
    client.close()


# -- the job store ------------------------------------------------------------------------------


class TestJobStoreSqlite(JobStoreContract):
    @pytest.fixture
    def store(self, sqlite_store: JobStore) -> JobStore:
        return sqlite_store


class TestJobStorePostgres(JobStoreContract):
    @pytest.fixture
    def store(self, postgres_store: JobStore) -> JobStore:
        return postgres_store


class TestIntegrationsStoreSqlite(IntegrationsStoreContract):
    @pytest.fixture
    def store(self, sqlite_store: JobStore) -> JobStore:
        return sqlite_store


class TestIntegrationsStorePostgres(IntegrationsStoreContract):
    @pytest.fixture
    def store(self, postgres_store: JobStore) -> JobStore:
        return postgres_store


# -- the queue ----------------------------------------------------------------------------------


class TestJobQueueSqlite(JobQueueContract):
    @pytest.fixture
    def queue(self, sqlite_queue: JobQueue) -> JobQueue:
        return sqlite_queue


class TestJobQueueRedis(JobQueueContract):
    @pytest.fixture
    def queue(self, redis_queue: JobQueue) -> JobQueue:
        return redis_queue


def test_unknown_queue_scheme_names_the_supported_ones() -> None:
    with pytest.raises(ValueError) as raised:
        JobQueue("amqp://user:s3cret@broker:5672/")
    message = str(raised.value)
    assert "sqlite://" in message and "redis://" in message and "rediss://" in message
    assert "amqp://user:***@broker:5672/" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://queue:s3cret@cache:6380/2", "rediss://queue:***@cache:6380/2"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:////var/lib/dfd/queue.sqlite3", "sqlite:////var/lib/dfd/queue.sqlite3"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown


# -- the blob store -----------------------------------------------------------------------------


class TestLocalBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> LocalBlobStore:
        return LocalBlobStore(tmp_path / "blobs")


# -- recovery across backends -------------------------------------------------------------------


class TestRecoverSqlite(RecoverContract):
    @pytest.fixture
    def backends(self, sqlite_store: JobStore, sqlite_queue: JobQueue, tmp_path: Path) -> Backends:
        return Backends(sqlite_store, LocalBlobStore(tmp_path / "blobs"), sqlite_queue)


class TestRecoverPostgresRedis(RecoverContract):
    @pytest.fixture
    def backends(self, postgres_store: JobStore, redis_queue: JobQueue, tmp_path: Path) -> Backends:
        return Backends(postgres_store, LocalBlobStore(tmp_path / "blobs"), redis_queue)

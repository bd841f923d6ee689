"""Schema migrations (``service/migrations``) on SQLite and PostgreSQL: an empty database upgraded
to head has exactly the ORM's schema; a database made by release 0.1.0 (``create_all``, no version
table, naive timestamps) is adopted with every row kept; ``deepfake-detector db`` reports what it
did, and a database it cannot reach in one line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine

from deepfake_detector.service.db import (
    PRE_MIGRATION_REVISION,
    Base,
    JobStatus,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from deepfake_detector.service.jobstore import JobStore
from servers import postgres_server, postgres_url  # noqa: F401

SHA = "5" * 64
DONE_ID, FAILED_ID, QUEUED_ID = "d" * 32, "f" * 32, "9" * 32
WORKER = "host-1:4242:abcdef123456"

# The 0.1.0 rows, with the naive UTC timestamps that release wrote.
VIDEO_CREATED = datetime(2025, 1, 15, 9, 30, 0, 123456)
DONE_TIMES = (
    datetime(2025, 1, 15, 9, 30, 1, 500000),  # created_at
    datetime(2025, 1, 15, 9, 30, 2),  # started_at
    datetime(2025, 1, 15, 9, 31, 7, 250000),  # finished_at
    datetime(2025, 1, 15, 9, 31, 7, 250000),  # updated_at
)
FAILED_TIMES = (
    datetime(2025, 1, 16, 23, 59, 59, 999999),
    datetime(2025, 1, 17, 0, 0, 1),
    datetime(2025, 1, 17, 0, 0, 5),
    datetime(2025, 1, 17, 0, 0, 5),
)
QUEUED_CREATED = datetime(2025, 7, 1, 12, 0, 0)  # summer: a zone's DST offset would show
WORKER_TIMES = (datetime(2025, 1, 15, 8, 0, 0), datetime(2025, 1, 17, 0, 0, 4, 1))
VIDEO_INFO = {"duration_s": 3.2, "width": 1280, "height": 720, "codec": "h264", "fps": 25.0}
DONE_RESULT = {
    "verdict": "FAKE",
    "fake_probability": 0.87,
    "faces": [{"track": 0, "score": 0.87, "frames": [1, 5, 9]}],
    "model": {"name": "realworld-efficientnet-lite0"},
    "path": "ünïcödé clip.mp4",
}
DONE_ARTIFACTS = {"heatmaps": {"crops/0_0001.jpg": "heatmaps/0_0001.png"}}

# What release 0.1.0's ``Base.metadata.create_all`` emitted on SQLite (SQLAlchemy 2.1.9, the
# models in 0.1.0's service/storage.py), statement for statement.
SCHEMA_0_1_0 = """
CREATE TABLE videos (
	sha256 VARCHAR(64) NOT NULL,
	size_bytes INTEGER NOT NULL,
	file_name VARCHAR(80) NOT NULL,
	content_type VARCHAR(64) NOT NULL,
	info JSON NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (sha256)
);
CREATE TABLE workers (
	token VARCHAR(64) NOT NULL,
	host VARCHAR(255) NOT NULL,
	pid INTEGER NOT NULL,
	started_at DATETIME NOT NULL,
	last_seen DATETIME NOT NULL,
	PRIMARY KEY (token)
);
CREATE TABLE analyses (
	id VARCHAR(32) NOT NULL,
	video_sha256 VARCHAR(64) NOT NULL,
	settings_key VARCHAR(64) NOT NULL,
	original_name VARCHAR(255) NOT NULL,
	status VARCHAR(16) NOT NULL,
	stage VARCHAR(32),
	progress FLOAT NOT NULL,
	verdict VARCHAR(16),
	fake_probability FLOAT,
	result JSON,
	artifacts JSON,
	thumbnail VARCHAR(200),
	error TEXT,
	worker VARCHAR(64),
	attempts INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	started_at DATETIME,
	finished_at DATETIME,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_video_settings UNIQUE (video_sha256, settings_key),
	FOREIGN KEY(video_sha256) REFERENCES videos (sha256)
);
CREATE INDEX ix_analyses_video_sha256 ON analyses (video_sha256);
CREATE INDEX ix_analyses_status ON analyses (status);
CREATE INDEX ix_analyses_created_at ON analyses (created_at);
"""

_WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP")


def schema_differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the ORM.

    ``UTCDateTime`` is compared through its ``impl`` (``DateTime(timezone=True)``): on
    PostgreSQL a ``timestamp`` column is reported as a change to ``timestamptz`` (see
    :func:`test_the_comparison_sees_timestamp_types`), on SQLite both are ``DATETIME``. So no
    difference is filtered out here: every one reported is real.
    """
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement run on ``engine`` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def assert_upgrade_is_a_no_op(engine: Engine) -> None:
    with statements(engine) as seen:
        upgrade(engine)
    writes = [s for s in seen if s.lstrip().upper().startswith(_WRITES)]
    assert writes == []
    assert current_revision(engine) == head_revision()


def utc(naive: datetime) -> datetime:
    return naive.replace(tzinfo=UTC)


def with_session_time_zone(url: str, zone: str) -> str:
    """The URL with a PostgreSQL session time zone (libpq ``options``), to show that the
    conversion of naive timestamps does not depend on it."""
    return f"{url}?options=-c%20timezone%3D{zone.replace('/', '%2F')}"


def sqlite_timestamp(moment: datetime) -> str:
    """How SQLAlchemy's ``DateTime`` stores a naive value in SQLite (what 0.1.0 wrote)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def structure(engine: Engine) -> dict[str, Any]:
    """The schema as the inspector reads it: columns, keys, indexes, constraints."""
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        tables[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in found.get_columns(table)
            ],
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": [
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in found.get_foreign_keys(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
            ),
        }
    return tables


# -- an empty database ------------------------------------------------------------------------


def check_empty_database_upgrade(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == {
        "alembic_version",
        "videos",
        "analyses",
        "workers",
        "metric_buckets",
        "tokens",
        "idempotency_keys",
        "webhooks",
    }
    assert schema_differences(engine) == []
    assert_upgrade_is_a_no_op(engine)


def test_empty_sqlite_upgrades_to_the_orm_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    try:
        check_empty_database_upgrade(engine)
    finally:
        engine.dispose()


def test_empty_postgres_upgrades_to_the_orm_schema(postgres_url: str) -> None:  # noqa: F811
    engine = make_engine(postgres_url)
    try:
        check_empty_database_upgrade(engine)
        columns = inspect(engine).get_columns("analyses")
        created = next(c for c in columns if c["name"] == "created_at")
        assert created["type"].timezone is True
    finally:
        engine.dispose()


def test_the_comparison_sees_timestamp_types(postgres_url: str) -> None:  # noqa: F811
    """The check above is not blind: at revision 0001 it reports what 0002 changes, including
    each naive ``timestamp`` column that the ORM's ``UTCDateTime`` wants as ``timestamptz``."""
    engine = make_engine(postgres_url)
    try:
        upgrade(engine, PRE_MIGRATION_REVISION)
        differences = schema_differences(engine)
        flat = [d for item in differences for d in (item if isinstance(item, list) else [item])]
        retyped = {(d[2], d[3]) for d in flat if d[0] == "modify_type"}
        assert retyped == {
            ("videos", "created_at"),
            ("analyses", "created_at"),
            ("analyses", "started_at"),
            ("analyses", "finished_at"),
            ("analyses", "updated_at"),
            ("workers", "started_at"),
            ("workers", "last_seen"),
        }
        added = {
            (d[0], d[2] if d[0] == "add_column" else d[1].name)
            for d in flat
            if d[0] != "modify_type"
        }
        assert added == {
            ("add_table", "metric_buckets"),
            ("add_column", "analyses"),
            ("add_table", "tokens"),  # 0003
            ("add_index", "ix_tokens_prefix"),
            ("add_fk", "fk_analyses_created_by"),
            ("add_table", "idempotency_keys"),  # 0004
            ("add_index", "ix_idempotency_keys_expires_at"),
            ("add_table", "webhooks"),
            ("add_index", "ix_webhooks_analysis_id"),
            ("add_index", "ix_webhooks_state"),
        }
    finally:
        engine.dispose()


def test_revision_0001_is_the_0_1_0_schema(tmp_path: Path) -> None:
    """The revision that a 0.1.0 database is stamped with creates that very schema."""
    released = tmp_path / "released.sqlite3"
    with sqlite3.connect(released) as connection:
        connection.executescript(SCHEMA_0_1_0)
    connection.close()
    migrated = make_engine(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    handmade = make_engine(f"sqlite:///{released}")
    try:
        upgrade(migrated, PRE_MIGRATION_REVISION)
        expected = structure(handmade)
        found = structure(migrated)
        assert found.pop("alembic_version")
        assert found == expected
    finally:
        migrated.dispose()
        handmade.dispose()


# -- a database made by release 0.1.0 ---------------------------------------------------------


def database_of_0_1_0(*, sqlite_path: Path | None = None, server_url: str = "") -> Engine:
    """An engine on a database holding what release 0.1.0 wrote (its schema and
    :func:`insert_0_1_0_rows`), not yet migrated: a SQLite file made by 0.1.0's own DDL, or the
    PostgreSQL database at ``server_url`` at revision 0001."""
    if sqlite_path is not None:
        with sqlite3.connect(sqlite_path) as connection:
            connection.executescript(SCHEMA_0_1_0)
            insert_0_1_0_rows(lambda sql, params: connection.execute(sql, params), sqlite_timestamp)
        connection.close()
        return make_engine(f"sqlite:///{sqlite_path}")
    engine = make_engine(server_url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        insert_0_1_0_rows(
            lambda sql, params: connection.execute(text(sql), params), lambda naive: naive
        )
    return engine


def insert_0_1_0_rows(execute: Any, timestamp: Any) -> None:
    """The rows 0.1.0 would have written: a video, a done, a failed and a queued analysis, and
    a worker. ``execute(sql, params)`` runs one statement; ``timestamp`` converts a naive UTC
    datetime to the bound value."""
    execute(
        "INSERT INTO videos (sha256, size_bytes, file_name, content_type, info, created_at) "
        "VALUES (:sha, 2048, 'video.mp4', 'video/mp4', :info, :created)",
        {"sha": SHA, "info": json.dumps(VIDEO_INFO), "created": timestamp(VIDEO_CREATED)},
    )
    rows = [
        {
            "id": DONE_ID,
            "key": "settings-a",
            "name": "ünïcödé clip.mp4",
            "status": "done",
            "stage": "finished",
            "progress": 1.0,
            "verdict": "FAKE",
            "p": 0.87,
            "result": json.dumps(DONE_RESULT),
            "artifacts": json.dumps(DONE_ARTIFACTS),
            "thumbnail": f"{SHA}/{DONE_ID}/thumbnail.jpg",
            "error": None,
            "worker": WORKER,
            "attempts": 1,
            "times": DONE_TIMES,
        },
        {
            "id": FAILED_ID,
            "key": "settings-b",
            "name": "broken.mp4",
            "status": "failed",
            "stage": "finished",
            "progress": 1.0,
            "verdict": None,
            "p": None,
            "result": None,
            "artifacts": None,
            "thumbnail": None,
            "error": "The video could not be decoded.",
            "worker": WORKER,
            "attempts": 3,
            "times": FAILED_TIMES,
        },
        {
            "id": QUEUED_ID,
            "key": "settings-c",
            "name": "waiting.mp4",
            "status": "queued",
            "stage": "queued",
            "progress": 0.0,
            "verdict": None,
            "p": None,
            "result": None,
            "artifacts": None,
            "thumbnail": None,
            "error": None,
            "worker": None,
            "attempts": 0,
            "times": (QUEUED_CREATED, None, None, QUEUED_CREATED),
        },
    ]
    for row in rows:
        created, started, finished, updated = (
            None if t is None else timestamp(t) for t in row.pop("times")
        )
        execute(
            "INSERT INTO analyses (id, video_sha256, settings_key, original_name, status, stage, "
            "progress, verdict, fake_probability, result, artifacts, thumbnail, error, worker, "
            "attempts, created_at, started_at, finished_at, updated_at) VALUES (:id, :sha, :key, "
            ":name, :status, :stage, :progress, :verdict, :p, :result, :artifacts, :thumbnail, "
            ":error, :worker, :attempts, :created, :started, :finished, :updated)",
            row
            | {
                "sha": SHA,
                "created": created,
                "started": started,
                "finished": finished,
                "updated": updated,
            },
        )
    execute(
        "INSERT INTO workers (token, host, pid, started_at, last_seen) "
        "VALUES (:token, 'host-1', 4242, :started, :seen)",
        {
            "token": WORKER,
            "started": timestamp(WORKER_TIMES[0]),
            "seen": timestamp(WORKER_TIMES[1]),
        },
    )


def check_0_1_0_rows_kept(store: JobStore) -> None:
    """Every 0.1.0 row is there with its values; timestamps aware UTC, the same instants."""
    found = store.get(DONE_ID)
    assert found is not None
    done, video = found
    assert (video.sha256, video.size_bytes, video.file_name, video.content_type) == (
        SHA,
        2048,
        "video.mp4",
        "video/mp4",
    )
    assert video.info == VIDEO_INFO
    assert video.created_at == utc(VIDEO_CREATED)
    assert (done.settings_key, done.original_name, done.job_status) == (
        "settings-a",
        "ünïcödé clip.mp4",
        JobStatus.DONE,
    )
    assert (done.stage, done.progress, done.verdict, done.fake_probability) == (
        "finished",
        1.0,
        "FAKE",
        0.87,
    )
    assert done.result == DONE_RESULT
    assert done.artifacts == DONE_ARTIFACTS
    assert done.thumbnail == f"{SHA}/{DONE_ID}/thumbnail.jpg"
    assert (done.error, done.worker, done.attempts) == (None, WORKER, 1)
    assert (done.created_at, done.started_at, done.finished_at, done.updated_at) == tuple(
        map(utc, DONE_TIMES)
    )
    assert done.evidence_prefix == f"{SHA}/{DONE_ID}"  # 0.1.0 kept evidence in <sha>/<id>/

    found = store.get(FAILED_ID)
    assert found is not None
    failed = found[0]
    assert (failed.job_status, failed.error, failed.attempts, failed.result) == (
        JobStatus.FAILED,
        "The video could not be decoded.",
        3,
        None,
    )
    assert (failed.created_at, failed.started_at, failed.finished_at, failed.updated_at) == tuple(
        map(utc, FAILED_TIMES)
    )
    assert failed.evidence_prefix == f"{SHA}/{FAILED_ID}"

    found = store.get(QUEUED_ID)
    assert found is not None
    queued = found[0]
    assert queued.job_status is JobStatus.QUEUED
    assert queued.evidence_prefix is None  # it never ran: no evidence anywhere
    assert (queued.created_at, queued.started_at, queued.finished_at) == (
        utc(QUEUED_CREATED),
        None,
        None,
    )

    (worker,) = store.workers()
    assert (worker.token, worker.host, worker.pid) == (WORKER, "host-1", 4242)
    assert (worker.started_at, worker.last_seen) == tuple(map(utc, WORKER_TIMES))
    for moment in (video.created_at, done.created_at, worker.last_seen):
        assert moment.tzinfo is not None and moment.utcoffset() is not None
        assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert store.counts() == {"queued": 1, "running": 0, "done": 1, "failed": 1}


def check_0_1_0_database_works(store: JobStore) -> None:
    """The service carries on with the old rows: the old queued job runs, the failed one is
    retried when uploaded again, the done one is reused."""
    claim = store.claim(QUEUED_ID, "new-worker")
    assert claim is not None and claim.attempt == 1
    assert claim.video_key == f"{SHA}/video.mp4"
    again, created = store.create_or_reuse(SHA, "settings-b", "broken.mp4")
    assert (again.id, created, again.job_status) == (FAILED_ID, True, JobStatus.QUEUED)
    reused, created = store.create_or_reuse(SHA, "settings-a", "x.mp4")
    assert (reused.id, created) == (DONE_ID, False)
    assert store.delete(DONE_ID) == [f"{SHA}/{DONE_ID}"]


def test_sqlite_database_of_release_0_1_0_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "data" / "deepfake-detector.sqlite3"
    path.parent.mkdir()
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA_0_1_0)
        insert_0_1_0_rows(lambda sql, params: connection.execute(sql, params), sqlite_timestamp)
    connection.close()

    engine = make_engine(f"sqlite:///{path}")
    try:
        assert not inspect(engine).has_table("alembic_version")
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
        store = JobStore(engine)
        check_0_1_0_rows_kept(store)
        with engine.connect() as connection:  # still naive UTC text in the file
            stored = connection.execute(
                text("SELECT created_at FROM analyses WHERE id = :id"), {"id": DONE_ID}
            ).scalar_one()
        assert stored == sqlite_timestamp(DONE_TIMES[0])

        assert_upgrade_is_a_no_op(engine)
        check_0_1_0_rows_kept(store)
        check_0_1_0_database_works(store)
    finally:
        engine.dispose()


@pytest.mark.parametrize("version_table", [True, False], ids=["at-0001", "create-all"])
def test_postgres_database_of_release_0_1_0_is_adopted(
    postgres_url: str,  # noqa: F811
    version_table: bool,
) -> None:
    """The 0.1.0 tables (revision 0001) holding naive UTC timestamps; ``create-all``: without
    the version table, as 0.1.0's ``create_all`` left a database. Migrated from a session in
    New York time: the instants must stay the UTC ones written."""
    zone = "America/New_York"
    engine = make_engine(with_session_time_zone(postgres_url, zone))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW timezone")).scalar_one() == zone
        upgrade(engine, PRE_MIGRATION_REVISION)
        assert current_revision(engine) == PRE_MIGRATION_REVISION
        with engine.begin() as connection:
            insert_0_1_0_rows(
                lambda sql, params: connection.execute(text(sql), params), lambda naive: naive
            )
            if not version_table:
                connection.execute(text("DROP TABLE alembic_version"))
        assert current_revision(engine) == (PRE_MIGRATION_REVISION if version_table else None)

        upgrade(engine)

        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
        with engine.connect() as connection:
            types = dict(
                connection.execute(
                    text(
                        "SELECT table_name || '.' || column_name, data_type "
                        "FROM information_schema.columns WHERE column_name IN "
                        "('created_at', 'started_at', 'finished_at', 'updated_at', 'last_seen') "
                        "AND table_name IN ('videos', 'analyses', 'workers')"
                    )
                ).all()
            )
            assert set(types.values()) == {"timestamp with time zone"}
            assert len(types) == 7
            as_utc = connection.execute(
                text(
                    "SELECT created_at AT TIME ZONE 'UTC', finished_at AT TIME ZONE 'UTC' "
                    "FROM analyses WHERE id = :id"
                ),
                {"id": DONE_ID},
            ).one()
            assert tuple(as_utc) == (DONE_TIMES[0], DONE_TIMES[2])
            summer = connection.execute(
                text("SELECT created_at AT TIME ZONE 'UTC' FROM analyses WHERE id = :id"),
                {"id": QUEUED_ID},
            ).scalar_one()
            assert summer == QUEUED_CREATED
        check_0_1_0_rows_kept(JobStore(engine))
        assert_upgrade_is_a_no_op(engine)
    finally:
        engine.dispose()

    plain = make_engine(postgres_url)  # the server's own time zone: the same instants
    try:
        store = JobStore(plain)
        check_0_1_0_rows_kept(store)
        check_0_1_0_database_works(store)
    finally:
        plain.dispose()


# -- the command line ---------------------------------------------------------------------------


def run_cli(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFD_")}
    env |= {"DFD_DATABASE_URL": database_url, "DFD_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "deepfake_detector.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_db_upgrade_and_current(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    head = head_revision()
    current = run_cli("db", "current", database_url=postgres_url, data_dir=tmp_path)
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"empty (head is {head})"

    upgraded = run_cli("db", "upgrade", database_url=postgres_url, data_dir=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database at revision {head} (was empty)"
    assert "Traceback" not in upgraded.stderr

    current = run_cli("db", "current", database_url=postgres_url, data_dir=tmp_path)
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"{head} (up to date)"

    again = run_cli("db", "upgrade", database_url=postgres_url, data_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"database at revision {head} (was {head})"

    engine = make_engine(postgres_url)
    try:
        assert current_revision(engine) == head
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("action", "url", "says"),
    [
        ("upgrade", "postgresql+psycopg://nobody@127.0.0.1:1/x", "OperationalError"),
        ("current", "postgresql+psycopg://nobody@127.0.0.1:1/x", "OperationalError"),
        ("upgrade", "nosuchdatabase://somewhere/x", "NoSuchModuleError"),
        ("current", "not a database url", "ArgumentError"),
    ],
)
def test_cli_db_unreachable_is_one_line(action: str, url: str, says: str, tmp_path: Path) -> None:
    done = run_cli("db", action, database_url=url, data_dir=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"db {action}: {says}: ")
    if says == "OperationalError":
        assert "127.0.0.1" in lines[0] and "port 1" in lines[0]

"""The service's database: tables, engine and schema migrations, for SQLite and PostgreSQL alike.

Only :mod:`deepfake_detector.service.jobstore` reads and writes these tables; everything else
goes through it. The schema is owned by Alembic (``service/migrations``): ``upgrade`` brings any
database, empty or made by an older release, to the current revision, keeping its rows.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).with_name("migrations")
PRE_MIGRATION_REVISION = "0001"
"""The revision whose schema release 0.1.0 made with ``create_all`` (no version table)."""


class JobStatus(enum.StrEnum):
    """Where an analysis job is in its life: queued → running → done | failed (→ queued again
    when its worker dies, or when a failed one is uploaded again)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED)


def utcnow() -> datetime:
    """The current moment, timezone-aware (UTC)."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 UTC timestamp for JSON (``...Z``), or ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="milliseconds") + "Z"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every engine: ``timestamptz`` on PostgreSQL; on SQLite
    (which has no time zones) stored as naive UTC and handed back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Video(Base):
    """One distinct uploaded file, identified by the sha256 of its bytes."""

    __tablename__ = "videos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(String(80))
    """Server-chosen name inside the video's folder, e.g. ``video.mp4``."""
    content_type: Mapped[str] = mapped_column(String(64))
    info: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What ``probe`` said about it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def key(self) -> str:
        """The video's name in the blob store."""
        return f"{self.sha256}/{self.file_name}"


class Analysis(Base):
    """One analysis job of one video with one set of analysis settings."""

    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("video_sha256", "settings_key", name="uq_video_settings"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    video_sha256: Mapped[str] = mapped_column(ForeignKey("videos.sha256"), index=True)
    settings_key: Mapped[str] = mapped_column(String(64))
    """Fingerprint of the analysis settings: the same file with the same model is analysed once."""
    original_name: Mapped[str] = mapped_column(String(255), default="")
    """The client's file name, for display only (escape it)."""
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fake_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Service-made evidence beyond the core result, e.g. ``{"heatmaps": {crop: heatmap}}``."""
    thumbnail: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Token of the worker process running it (see ``Worker``)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    evidence_prefix: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """Blob-store folder holding the evidence of the attempt whose result was kept."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("tokens.id", name="fk_analyses_created_by", ondelete="SET NULL"),
        nullable=True,
    )
    """Id of the API token whose request created it; ``None`` when anonymous (loopback)."""
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What the upload asked for over the server's analysis settings (``{"frames": 8,
    "model": ...}``, see ``service/options.py``); ``None``: the server's settings as they are."""

    @property
    def job_status(self) -> JobStatus:
        return JobStatus(self.status)


class Worker(Base):
    """A live job consumer process; its heartbeat is the lease on the jobs it runs."""

    __tablename__ = "workers"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetricBucket(Base):
    """Cumulative histogram counters (job latency, stage timings) kept in the database, so that
    any web process can export what every worker on every machine measured."""

    __tablename__ = "metric_buckets"

    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    label: Mapped[str] = mapped_column(String(48), primary_key=True)
    bound: Mapped[str] = mapped_column(String(16), primary_key=True)
    """A bucket's upper bound (``"0.5"``, ``"+Inf"``), or ``"sum"`` for the running total."""
    value: Mapped[float] = mapped_column(Float, default=0.0)


class Token(Base):
    """An API token (``deepfake-detector tokens create``). Only the sha256 of the secret is
    kept; the token itself is shown once, when it is created (see ``service/auth.py``)."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    """The token's first characters (``dfd_`` and 8 more), shown in lists and used to find it."""
    secret_hash: Mapped[str] = mapped_column(String(64))
    """sha256 (hex) of the whole token."""
    name: Mapped[str] = mapped_column(String(100), default="")
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When a request last presented it (written at most once a minute)."""
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` a client sent with an upload, kept for ``DFD_IDEMPOTENCY_TTL_S``:
    the same key again (from the same token) is answered with the first answer."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Whose key it is: the API token's id, or ``anonymous``."""
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """sha256 of what the request asked (the file's content hash and the options)."""
    analysis_id: Mapped[str | None] = mapped_column(
        ForeignKey("analyses.id", name="fk_idempotency_keys_analysis", ondelete="CASCADE"),
        nullable=True,
    )
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The first answer's status; ``None`` while that request is still being handled."""
    deduplicated: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Webhook(Base):
    """A ``callback_url`` to notify when an analysis ends, and how its delivery went."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    analysis_id: Mapped[str] = mapped_column(
        ForeignKey("analyses.id", name="fk_webhooks_analysis", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    links: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The analysis's absolute links as the uploading client reached this server."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    """``pending`` (its analysis not finished), ``delivering``, ``delivered`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The receiver's HTTP status at the last try (``None``: no answer)."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """While ``delivering``: the process sending it owns it until then (renewed on every try);
    after that any worker may take it over (the sender died)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine fit for several processes (web workers + job workers) sharing one database."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def alembic_config(engine: Engine) -> Any:
    """Alembic's configuration for this package's migrations, bound to ``engine``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision``, whatever it holds now (empty, or a schema made by
    a release before migrations existed: that one is recognised and adopted, its rows kept)."""
    from alembic import command
    from sqlalchemy import inspect

    config = alembic_config(engine)
    if current_revision(engine) is None and inspect(engine).has_table("analyses"):
        command.stamp(config, PRE_MIGRATION_REVISION)
    command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: not under migration control yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head

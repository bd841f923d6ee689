"""What the service remembers: SQLAlchemy models for videos, analyses and workers, and the file
store that keeps uploads under content-hash names with their evidence next to them.

Layout on disk (``storage_dir``)::

    tmp/                          uploads being received (renamed into place when complete)
    <sha256>/video.<ext>          the upload, named by its content, never by the client
    <sha256>/<analysis id>/       evidence of one analysis: frames/, crops/, heatmaps/

The client's file name is kept only as display metadata (and always escaped when shown).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
_CHUNK = 1 << 20

# Container names as PyAV/FFmpeg report them → (file extension, MIME type for playback).
_CONTAINERS: dict[str, tuple[str, str]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("mp4", "video/mp4"),
    "mp4": ("mp4", "video/mp4"),
    "mov": ("mov", "video/quicktime"),
    "matroska,webm": ("mkv", "video/x-matroska"),
    "webm": ("webm", "video/webm"),
    "matroska": ("mkv", "video/x-matroska"),
    "avi": ("avi", "video/x-msvideo"),
    "mpegts": ("ts", "video/mp2t"),
    "flv": ("flv", "video/x-flv"),
    "ogg": ("ogv", "video/ogg"),
}
_WEBM_CODECS = {"vp8", "vp9", "av1"}


def utcnow() -> datetime:
    """Naive UTC (what SQLite hands back either way), so comparisons never mix kinds."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 UTC timestamp for JSON, or ``None``."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds") + "Z"


def container_format(container: str, codec: str) -> tuple[str, str]:
    """Extension and MIME type for a probed container, so browsers can play the stored file."""
    ext, mime = _CONTAINERS.get(container, ("bin", "application/octet-stream"))
    if ext == "mkv" and codec.lower() in _WEBM_CODECS:
        return "webm", "video/webm"
    if ext == "mov" and container.startswith("mov,mp4"):
        return "mp4", "video/mp4"
    return ext, mime


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
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


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
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
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
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Worker(Base):
    """A live job consumer process; its heartbeat tells whether its running jobs are orphaned."""

    __tablename__ = "workers"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


@dataclass(frozen=True)
class StagedFile:
    """An upload fully received into a temporary file, with its hash and size."""

    path: Path
    sha256: str
    size_bytes: int


class UploadTooLarge(Exception):
    """The upload exceeded the byte limit while it was being received."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine fit for several processes (web workers + job worker) sharing one SQLite file."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True)


class Store:
    """The database and the file store together, since every change touches both."""

    def __init__(self, database_url: str, storage_dir: str | os.PathLike[str]) -> None:
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.root = Path(storage_dir).resolve()
        self.tmp = self.root / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        with self.sessions() as s, s.begin():
            yield s

    # -- files ----------------------------------------------------------------------------------

    def stage(self, stream: IO[bytes], max_bytes: int) -> StagedFile:
        """Copy an upload into ``tmp/`` while hashing it; stop as soon as it is too large."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=self.tmp)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedFile(path, digest.hexdigest(), size)

    def discard(self, staged: StagedFile) -> None:
        staged.path.unlink(missing_ok=True)

    def video_dir(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256

    def video_path(self, video: Video) -> Path:
        return self.video_dir(video.sha256) / video.file_name

    def evidence_dir(self, analysis: Analysis) -> Path:
        return self.video_dir(analysis.video_sha256) / analysis.id

    def keep_video(self, staged: StagedFile, info: dict[str, Any]) -> Video:
        """Move a staged upload to its content-hash name (atomically; a second copy of the same
        bytes is simply dropped) and make sure its ``Video`` row exists."""
        ext, mime = container_format(str(info.get("container", "")), str(info.get("codec", "")))
        file_name = f"video.{ext}"
        folder = self.video_dir(staged.sha256)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / file_name
        if target.exists():
            self.discard(staged)
        else:
            os.replace(staged.path, target)
        try:
            with self.session() as s:
                video = s.get(Video, staged.sha256)
                if video is None:
                    video = Video(
                        sha256=staged.sha256,
                        size_bytes=staged.size_bytes,
                        file_name=file_name,
                        content_type=mime,
                        info=info,
                    )
                    s.add(video)
        except IntegrityError:  # the same bytes uploaded at the same moment: theirs won
            with self.sessions() as s:
                video = s.get(Video, staged.sha256)
            if video is None:
                raise
        return video

    # -- analyses -------------------------------------------------------------------------------

    def find_or_create_analysis(
        self, sha256: str, settings_key: str, original_name: str
    ) -> tuple[Analysis, bool]:
        """The analysis of this video with these settings, creating it (queued) when there is
        none. Returns ``(analysis, created)``; a failed one is reset to queued and counts as
        created, so uploading again retries it."""
        for _ in range(2):  # a concurrent upload of the same file may win the insert race
            with self.session() as s:
                found = s.scalar(
                    select(Analysis).where(
                        Analysis.video_sha256 == sha256, Analysis.settings_key == settings_key
                    )
                )
                if found is not None:
                    if found.status != FAILED:
                        return found, False
                    found.status, found.stage, found.progress = QUEUED, "queued", 0.0
                    found.error = found.verdict = found.result = None
                    found.fake_probability = None
                    found.attempts, found.updated_at = 0, utcnow()
                    return found, True
            try:
                with self.session() as s:
                    analysis = Analysis(
                        id=uuid.uuid4().hex,
                        video_sha256=sha256,
                        settings_key=settings_key,
                        original_name=original_name[:255],
                        status=QUEUED,
                        stage="queued",
                    )
                    s.add(analysis)
                return analysis, True
            except IntegrityError:
                continue
        raise RuntimeError("could not create or find the analysis")

    def get(self, analysis_id: str) -> tuple[Analysis, Video] | None:
        with self.sessions() as s:
            row = s.execute(
                select(Analysis, Video)
                .join(Video, Analysis.video_sha256 == Video.sha256)
                .where(Analysis.id == analysis_id)
            ).first()
            return None if row is None else (row[0], row[1])

    def page(
        self, page: int, per_page: int, sort: str = "-created_at"
    ) -> tuple[list[tuple[Analysis, Video]], int]:
        """One page of analyses in the given order, and the total count."""
        column = {
            "created_at": Analysis.created_at,
            "verdict": Analysis.verdict,
            "fake_probability": Analysis.fake_probability,
            "status": Analysis.status,
            "name": Analysis.original_name,
        }[sort.lstrip("-")]
        order = column.desc() if sort.startswith("-") else column.asc()
        with self.sessions() as s:
            total = s.scalar(select(func.count()).select_from(Analysis)) or 0
            rows = s.execute(
                select(Analysis, Video)
                .join(Video, Analysis.video_sha256 == Video.sha256)
                .order_by(order.nulls_last(), Analysis.created_at.desc(), Analysis.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
            return [(r[0], r[1]) for r in rows], total

    def delete(self, analysis_id: str) -> bool:
        """Remove an analysis and its evidence, and the video when no analysis uses it any more.
        A worker still running it notices the missing row and cleans up after itself."""
        with self.session() as s:
            analysis = s.get(Analysis, analysis_id)
            if analysis is None:
                return False
            sha = analysis.video_sha256
            evidence = self.evidence_dir(analysis)
            s.delete(analysis)
            s.flush()
            others = s.scalar(
                select(func.count()).select_from(Analysis).where(Analysis.video_sha256 == sha)
            )
            remove_video = not others
            if remove_video:
                video = s.get(Video, sha)
                if video is not None:
                    s.delete(video)
        shutil.rmtree(evidence, ignore_errors=True)
        if remove_video:
            shutil.rmtree(self.video_dir(sha), ignore_errors=True)
        return True

    def counts(self) -> dict[str, int]:
        with self.sessions() as s:
            rows = s.execute(select(Analysis.status, func.count()).group_by(Analysis.status))
            found = {status: n for status, n in rows}
        return {status: int(found.get(status, 0)) for status in STATUSES}

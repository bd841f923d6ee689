"""The job state machine: every read and write of analyses, videos and workers, in one place.

Transitions (each one atomic, conditional UPDATE; nothing reads and then writes):

    create_or_reuse ─► QUEUED ──claim──► RUNNING ──finish──► DONE | FAILED
                          ▲                 │
                          └─requeue_orphans─┘   (its worker's heartbeat lease ran out)
    FAILED ──create_or_reuse (same file uploaded again)──► QUEUED

A claim is a lease: ``progress`` and ``finish`` only write while the row still names the same
worker **and** attempt, so a worker that lost its job (declared dead, the job taken by another)
can never write a second result, and a deleted job tells its worker to stop.

The same class serves SQLite and PostgreSQL through SQLAlchemy; the contract tests run it on both.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from deepfake_detector.service.db import (
    Analysis,
    IdempotencyKey,
    JobStatus,
    MetricBucket,
    Token,
    Video,
    Webhook,
    Worker,
    make_engine,
    upgrade,
    utcnow,
)

SORT_COLUMNS = {
    "created_at": Analysis.created_at,
    "verdict": Analysis.verdict,
    "fake_probability": Analysis.fake_probability,
    "status": Analysis.status,
    "name": Analysis.original_name,
}
LATENCY_BOUNDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Histogram buckets (seconds) for a job's latency, upload to result."""
STAGE_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Histogram buckets (seconds) for one stage of one analysis (decode, detect, classify, …)."""


@dataclass(frozen=True)
class Claim:
    """A worker's lease on one attempt at one job."""

    job_id: str
    worker: str
    attempt: int
    video_key: str
    """The video's name in the blob store."""
    options: dict[str, Any] | None = None
    """What the upload asked for over the worker's analysis settings (``service/options.py``)."""

    @property
    def evidence_prefix(self) -> str:
        """Where this attempt writes its evidence: per attempt, so two attempts never mix."""
        return f"{self.video_key.split('/', 1)[0]}/{self.job_id}/{self.attempt}"


HEATMAPS_PENDING, HEATMAPS_READY = "pending", "ready"
HEATMAPS_FAILED, HEATMAPS_NONE = "failed", "none"
"""``artifacts["heatmaps_state"]`` of a finished analysis: drawn after the verdict is recorded
(``pending`` until then), ``none`` when none are made (no face, no explainer, turned off)."""

PREVIEW_PENDING, PREVIEW_READY = "pending", "ready"
PREVIEW_FAILED, PREVIEW_NONE = "failed", "none"
"""``artifacts["preview"]["state"]``: a browser-playable copy of an upload browsers cannot play,
made after the verdict is recorded (``pending`` until then); ``none`` (no ``preview`` entry) when
the upload plays as it is, or copies are turned off."""


WEBHOOK_PENDING, WEBHOOK_DELIVERING = "pending", "delivering"
WEBHOOK_DELIVERED, WEBHOOK_FAILED = "delivered", "failed"
"""``webhooks.state``: waiting for its analysis to end, being sent (retries included), sent
(a 2xx answer), or given up (a refusal, or every retry spent)."""


@dataclass(frozen=True)
class KeyClaim:
    """What :meth:`JobStore.claim_idempotency_key` found: ``new``, ``replay``, ``mismatch`` or
    ``busy``, and the key's record."""

    state: str
    record: IdempotencyKey


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as the runner hands it to :meth:`JobStore.finish`."""

    status: JobStatus
    result: dict[str, Any] | None = None
    artifacts: dict[str, Any] | None = None
    verdict: str | None = None
    fake_probability: float | None = None
    error: str | None = None
    thumbnail: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Histogram:
    """Cumulative buckets ``[(bound, count)]`` (the last bound ``+inf``) and the sum."""

    buckets: list[tuple[float, float]]
    total: float


class JobStore:
    """Analyses, videos and workers in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, database_url: str, *, migrate: bool = False) -> JobStore:
        """Connect; with ``migrate``, bring the schema up to date first (the embedded default)."""
        engine = make_engine(database_url)
        if migrate:
            upgrade(engine)
        return cls(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction committed on success and rolled back on any error."""
        with self.sessions() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise when the database cannot be reached."""
        with self.sessions() as s:
            s.execute(text("SELECT 1"))

    # -- videos -------------------------------------------------------------------------------

    def add_video(
        self, sha256: str, size_bytes: int, file_name: str, content_type: str, info: dict[str, Any]
    ) -> Video:
        """The ``Video`` row of these bytes, created when missing (concurrent uploads of the same
        bytes agree on one row)."""
        try:
            with self.session() as s:
                video = s.get(Video, sha256)
                if video is None:
                    video = Video(
                        sha256=sha256,
                        size_bytes=size_bytes,
                        file_name=file_name,
                        content_type=content_type,
                        info=info,
                    )
                    s.add(video)
                return video
        except IntegrityError:  # the same bytes uploaded at the same moment: theirs won
            with self.sessions() as s:
                found = s.get(Video, sha256)
            if found is None:
                raise
            return found

    # -- reading ------------------------------------------------------------------------------

    def get(self, job_id: str) -> tuple[Analysis, Video] | None:
        with self.sessions() as s:
            row = s.execute(
                select(Analysis, Video)
                .join(Video, Analysis.video_sha256 == Video.sha256)
                .where(Analysis.id == job_id)
            ).first()
            return None if row is None else (row[0], row[1])

    def page(
        self,
        page: int,
        per_page: int,
        sort: str = "-created_at",
        *,
        status: JobStatus | None = None,
        verdict: str | None = None,
        sha256: str | None = None,
        settings_key: str | None = None,
        created_after: datetime | None = None,
        name_contains: str | None = None,
    ) -> tuple[list[tuple[Analysis, Video]], int]:
        """One page of analyses matching the filters, in the given order, and their count.
        ``created_after``: strictly later (timezone-aware); ``name_contains``: the uploaded file
        name contains it, ignoring case (``%`` and ``_`` are literal)."""
        column = SORT_COLUMNS[sort.lstrip("-")]
        order = column.desc() if sort.startswith("-") else column.asc()
        conditions = []
        if status is not None:
            conditions.append(Analysis.status == status.value)
        if verdict is not None:
            conditions.append(Analysis.verdict == verdict)
        if sha256 is not None:
            conditions.append(Analysis.video_sha256 == sha256)
        if settings_key is not None:
            conditions.append(Analysis.settings_key == settings_key)
        if created_after is not None:
            conditions.append(Analysis.created_at > created_after)
        if name_contains:
            needle = name_contains.lower()
            conditions.append(func.lower(Analysis.original_name).contains(needle, autoescape=True))
        with self.sessions() as s:
            total = s.scalar(select(func.count()).select_from(Analysis).where(*conditions)) or 0
            rows = s.execute(
                select(Analysis, Video)
                .join(Video, Analysis.video_sha256 == Video.sha256)
                .where(*conditions)
                .order_by(order.nulls_last(), Analysis.created_at.desc(), Analysis.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
            return [(r[0], r[1]) for r in rows], int(total)

    def counts(self) -> dict[str, int]:
        """Jobs by status (every status present, zero when none)."""
        with self.sessions() as s:
            rows = s.execute(select(Analysis.status, func.count()).group_by(Analysis.status))
            found = {status: n for status, n in rows}
        return {status.value: int(found.get(status.value, 0)) for status in JobStatus}

    def queued_ids(self) -> set[str]:
        with self.sessions() as s:
            return set(
                s.scalars(select(Analysis.id).where(Analysis.status == JobStatus.QUEUED.value))
            )

    # -- transitions --------------------------------------------------------------------------

    def create_or_reuse(
        self,
        sha256: str,
        settings_key: str,
        original_name: str,
        created_by: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Analysis, bool]:
        """The analysis of this video with these settings, created (queued) when there is none.
        Returns ``(analysis, created)``; a failed one is queued again and counts as created, so
        uploading the same file again retries it. ``created_by`` (a token id) is recorded on a
        new analysis only: a reused or retried one keeps its creator. ``options``: what the
        upload asked for over the server's settings (part of ``settings_key`` already, so a
        reused analysis has the same)."""
        for _ in range(3):  # a concurrent upload of the same file may win the insert race
            with self.session() as s:
                found = s.scalar(
                    select(Analysis).where(
                        Analysis.video_sha256 == sha256, Analysis.settings_key == settings_key
                    )
                )
            if found is not None:
                if found.status != JobStatus.FAILED:
                    return found, False
                with self.session() as s:
                    retried = s.execute(
                        update(Analysis)
                        .where(Analysis.id == found.id, Analysis.status == JobStatus.FAILED.value)
                        .values(
                            status=JobStatus.QUEUED.value,
                            stage="queued",
                            progress=0.0,
                            error=None,
                            verdict=None,
                            result=None,
                            fake_probability=None,
                            worker=None,
                            attempts=0,
                            updated_at=utcnow(),
                        )
                    )
                    if retried.rowcount:
                        found = s.get(Analysis, found.id)
                        return found, True  # type: ignore[return-value]
                continue  # someone else retried it first: read it again
            try:
                with self.session() as s:
                    analysis = Analysis(
                        id=uuid.uuid4().hex,
                        video_sha256=sha256,
                        settings_key=settings_key,
                        original_name=original_name[:255],
                        status=JobStatus.QUEUED.value,
                        stage="queued",
                        progress=0.0,
                        attempts=0,
                        created_by=created_by,
                        options=options or None,
                    )
                    s.add(analysis)
                return analysis, True
            except IntegrityError:
                continue
        raise RuntimeError("could not create or find the analysis")

    def claim(self, job_id: str, worker: str) -> Claim | None:
        """QUEUED → RUNNING for this worker, atomically; ``None`` when the job is not queued
        (already taken, finished or deleted): a task delivered twice runs once."""
        with self.session() as s:
            row = s.execute(
                update(Analysis)
                .where(Analysis.id == job_id, Analysis.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.RUNNING.value,
                    worker=worker,
                    stage="starting",
                    progress=0.0,
                    attempts=Analysis.attempts + 1,
                    started_at=utcnow(),
                    updated_at=utcnow(),
                )
                .returning(Analysis.attempts, Analysis.video_sha256, Analysis.options)
            ).first()
            if row is None:
                return None
            attempt, sha256, options = int(row[0]), str(row[1]), row[2]
            file_name = s.scalar(select(Video.file_name).where(Video.sha256 == sha256))
        return Claim(job_id, worker, attempt, f"{sha256}/{file_name}", options or None)

    def _leased(self, claim: Claim) -> Any:
        return (
            Analysis.id == claim.job_id,
            Analysis.status == JobStatus.RUNNING.value,
            Analysis.worker == claim.worker,
            Analysis.attempts == claim.attempt,
        )

    def progress(self, claim: Claim, stage: str, fraction: float) -> bool:
        """Record progress; ``False`` when the lease is gone (deleted, or taken by another)."""
        with self.session() as s:
            changed = s.execute(
                update(Analysis)
                .where(*self._leased(claim))
                .values(stage=stage, progress=fraction, updated_at=utcnow())
            )
            return bool(changed.rowcount)

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        """RUNNING → DONE | FAILED, once: only the attempt holding the lease writes its result
        (with its evidence folder and its timings in the metrics). ``False``: not written."""
        if not outcome.status.finished:
            raise ValueError(f"finish needs DONE or FAILED, not {outcome.status}")
        now = utcnow()
        with self.session() as s:
            row = s.execute(
                update(Analysis)
                .where(*self._leased(claim))
                .values(
                    status=outcome.status.value,
                    stage="finished",
                    progress=1.0,
                    result=outcome.result,
                    artifacts=outcome.artifacts,
                    verdict=outcome.verdict,
                    fake_probability=outcome.fake_probability,
                    error=outcome.error,
                    thumbnail=outcome.thumbnail,
                    evidence_prefix=claim.evidence_prefix,
                    finished_at=now,
                    updated_at=now,
                )
                .returning(Analysis.created_at, Analysis.started_at)
            ).first()
            if row is None:
                return False
            created_at, started_at = row
            _observe(s, "job_latency_seconds", outcome.status.value, _seconds(now, created_at))
            if started_at is not None:
                _observe(s, "job_run_seconds", outcome.status.value, _seconds(now, started_at))
            for stage, seconds in outcome.timings.items():
                if stage != "total" and isinstance(seconds, int | float):
                    _observe(s, "stage_seconds", stage[:48], float(seconds))
        return True

    def attach_heatmaps(
        self,
        claim: Claim,
        heatmaps: dict[str, str],
        state: str,
        seconds: float,
        checks: dict[str, dict[str, Any]] | None = None,
    ) -> bool:
        """Record the heatmaps drawn after a job finished (its verdict is shown before them):
        only on the analysis this attempt finished, still DONE, still waiting for them. ``False``
        when it was deleted, re-run or its files removed meanwhile: the caller removes what it
        drew. ``heatmaps``: ``{crop: overlay}`` of the maps shown; ``checks``: every explained
        crop's face-region check (``artifacts["heatmap_checks"]``; analyses recorded without
        one show every heatmap they have)."""
        with self.session() as s:
            analysis = _finished_attempt(s, claim)
            artifacts = dict(analysis.artifacts or {}) if analysis is not None else {}
            if analysis is None or artifacts.get("heatmaps_state") != HEATMAPS_PENDING:
                return False
            artifacts.update(heatmaps=heatmaps, heatmaps_state=state, heatmaps_s=round(seconds, 3))
            if checks is not None:
                artifacts["heatmap_checks"] = checks
            analysis.artifacts = artifacts
            analysis.updated_at = utcnow()
            _observe(s, "stage_seconds", "heatmaps", seconds)
            return True

    def attach_preview(self, claim: Claim, preview: dict[str, Any], seconds: float) -> bool:
        """Record the browser-playable copy made after a job finished (``artifacts["preview"]``,
        its ``state`` ``ready`` or ``failed``), under the same conditions as
        :meth:`attach_heatmaps`: only while that analysis waits for it. ``False``: deleted,
        re-run or its files removed meanwhile (the caller removes what it wrote)."""
        with self.session() as s:
            analysis = _finished_attempt(s, claim)
            artifacts = dict(analysis.artifacts or {}) if analysis is not None else {}
            waiting = artifacts.get("preview") or {}
            if analysis is None or waiting.get("state") != PREVIEW_PENDING:
                return False
            artifacts["preview"] = {**waiting, **preview}
            analysis.artifacts = artifacts
            analysis.updated_at = utcnow()
            _observe(s, "stage_seconds", "preview", seconds)
            return True

    def delete(self, job_id: str) -> list[str] | None:
        """Remove an analysis; returns the blob prefixes it leaves to delete (its evidence, and
        its video's folder when no other analysis uses it), or ``None`` when there was none.
        A worker still running it loses its lease and stops at its next progress report."""
        with self.session() as s:
            analysis = s.get(Analysis, job_id)
            if analysis is None:
                return None
            sha = analysis.video_sha256
            s.delete(analysis)
            s.flush()
            others = s.scalar(
                select(func.count()).select_from(Analysis).where(Analysis.video_sha256 == sha)
            )
            if others:
                return [f"{sha}/{job_id}"]
            video = s.get(Video, sha)
            if video is not None:
                s.delete(video)
        return [f"{sha}/{job_id}", sha]

    def expired(self, before: datetime, limit: int = 500) -> list[tuple[Analysis, Video]]:
        """Finished analyses older than ``before`` whose files are still kept (oldest first)."""
        with self.sessions() as s:
            rows = s.execute(
                select(Analysis, Video)
                .join(Video, Analysis.video_sha256 == Video.sha256)
                .where(
                    Analysis.status.in_([JobStatus.DONE.value, JobStatus.FAILED.value]),
                    Analysis.finished_at < before,
                    Analysis.evidence_prefix.is_not(None),
                )
                .order_by(Analysis.finished_at)
                .limit(limit)
            ).all()
            return [(r[0], r[1]) for r in rows]

    def forget_files(self, job_id: str, when: datetime) -> bool:
        """Record that a finished analysis's files were removed (its result is kept). Returns
        whether any analysis of the same video still has its files."""
        with self.session() as s:
            analysis = s.get(Analysis, job_id)
            if analysis is None:
                return False
            analysis.evidence_prefix = None
            analysis.thumbnail = None
            analysis.artifacts = {"files_removed_at": when.isoformat()}
            s.flush()
            others = s.scalar(
                select(func.count())
                .select_from(Analysis)
                .where(
                    Analysis.video_sha256 == analysis.video_sha256,
                    or_(
                        Analysis.evidence_prefix.is_not(None),
                        Analysis.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                    ),
                )
            )
        return bool(others)

    # -- API tokens ---------------------------------------------------------------------------

    def add_token(self, prefix: str, secret_hash: str, name: str, read_only: bool) -> Token:
        """Store a new token (raises ``IntegrityError`` when ``prefix`` is taken)."""
        with self.session() as s:
            token = Token(
                id=uuid.uuid4().hex,
                prefix=prefix,
                secret_hash=secret_hash,
                name=name[:100],
                read_only=read_only,
                created_at=utcnow(),
            )
            s.add(token)
        return token

    def token(self, token_id: str) -> Token | None:
        with self.sessions() as s:
            return s.get(Token, token_id)

    def token_by_prefix(self, prefix: str) -> Token | None:
        with self.sessions() as s:
            return s.scalar(select(Token).where(Token.prefix == prefix))

    def tokens(self) -> list[Token]:
        """Every token, revoked ones too, oldest first."""
        with self.sessions() as s:
            return list(s.scalars(select(Token).order_by(Token.created_at, Token.id)))

    def touch_token(self, token_id: str, when: datetime, stale_before: datetime) -> None:
        """Record a use, unless one was recorded since ``stale_before`` (one write a minute,
        not one per request)."""
        with self.session() as s:
            s.execute(
                update(Token)
                .where(
                    Token.id == token_id,
                    or_(Token.last_used_at.is_(None), Token.last_used_at < stale_before),
                )
                .values(last_used_at=when)
            )

    def revoke_token(self, token_id: str) -> Token | None:
        """Mark a token revoked (once: an already revoked one keeps its date); ``None`` when
        there is no such token."""
        with self.session() as s:
            s.execute(
                update(Token)
                .where(Token.id == token_id, Token.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return s.get(Token, token_id)

    # -- idempotency keys ---------------------------------------------------------------------

    def claim_idempotency_key(
        self, scope: str, key: str, fingerprint: str, ttl_s: float, stale_s: float
    ) -> KeyClaim:
        """Take ``key`` (in ``scope``) for a request asking ``fingerprint``, atomically: ``new``
        (this request owns it now, until :meth:`complete_idempotency_key` or
        :meth:`release_idempotency_key`), ``replay`` (it was answered: the record says how),
        ``mismatch`` (used for another request) or ``busy`` (its first request is still being
        handled). Expired keys are forgotten first; a key whose first request has been in hand
        for ``stale_s`` (its process died) is taken over."""
        for _ in range(5):
            now = utcnow()
            with self.session() as s:
                s.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
            try:
                with self.session() as s:
                    record = IdempotencyKey(
                        scope=scope,
                        key=key,
                        fingerprint=fingerprint,
                        created_at=now,
                        expires_at=now + timedelta(seconds=ttl_s),
                    )
                    s.add(record)
                return KeyClaim("new", record)
            except IntegrityError:
                pass
            with self.sessions() as s:
                found = s.get(IdempotencyKey, (scope, key))
            if found is None:  # expired, released or its analysis deleted meanwhile
                continue
            if found.fingerprint != fingerprint:
                return KeyClaim("mismatch", found)
            if found.status_code is not None:
                return KeyClaim("replay", found)
            if found.created_at > now - timedelta(seconds=stale_s):
                return KeyClaim("busy", found)
            with self.session() as s:  # abandoned: take it over, once
                taken = s.execute(
                    update(IdempotencyKey)
                    .where(
                        IdempotencyKey.scope == scope,
                        IdempotencyKey.key == key,
                        IdempotencyKey.status_code.is_(None),
                        IdempotencyKey.created_at == found.created_at,
                    )
                    .values(created_at=now, expires_at=now + timedelta(seconds=ttl_s))
                )
            if taken.rowcount:
                return KeyClaim("new", found)
        raise RuntimeError("could not take or read the idempotency key")

    def complete_idempotency_key(
        self, scope: str, key: str, analysis_id: str, status_code: int, deduplicated: bool
    ) -> None:
        """Record the answer of the request that took ``key`` (replayed from now on)."""
        with self.session() as s:
            s.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
                .values(analysis_id=analysis_id, status_code=status_code, deduplicated=deduplicated)
            )

    def release_idempotency_key(self, scope: str, key: str) -> None:
        """Forget a key whose request was refused or failed: it may be used again."""
        with self.session() as s:
            s.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.scope == scope,
                    IdempotencyKey.key == key,
                    IdempotencyKey.status_code.is_(None),
                )
            )

    # -- webhooks -----------------------------------------------------------------------------

    def add_webhook(self, analysis_id: str, url: str, links: dict[str, Any]) -> Webhook:
        """A webhook to send when the analysis ends (``pending``); one that has ended already is
        sent by the next worker heartbeat (:meth:`take_webhooks`)."""
        now = utcnow()
        with self.session() as s:
            webhook = Webhook(
                id=uuid.uuid4().hex,
                analysis_id=analysis_id,
                url=url,
                links=links,
                state=WEBHOOK_PENDING,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            s.add(webhook)
        return webhook

    def webhooks(self, analysis_id: str) -> list[Webhook]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(Webhook)
                    .where(Webhook.analysis_id == analysis_id)
                    .order_by(Webhook.created_at, Webhook.id)
                )
            )

    def take_webhooks(
        self, lease_s: float, analysis_id: str | None = None, limit: int = 100
    ) -> list[tuple[Webhook, Analysis]]:
        """Take the webhooks due for sending, each atomically (so each is sent by one process):
        those of finished analyses (of ``analysis_id``, or any) still ``pending``, or
        ``delivering`` with their sender's lease run out. Each is leased for ``lease_s``."""
        now = utcnow()
        due = or_(
            Webhook.state == WEBHOOK_PENDING,
            (Webhook.state == WEBHOOK_DELIVERING) & (Webhook.lease_until < now),
        )
        finished = Analysis.status.in_([JobStatus.DONE.value, JobStatus.FAILED.value])
        query = (
            select(Webhook.id)
            .join(Analysis, Analysis.id == Webhook.analysis_id)
            .where(due, finished)
            .order_by(Webhook.created_at)
            .limit(limit)
        )
        if analysis_id is not None:
            query = query.where(Webhook.analysis_id == analysis_id)
        with self.sessions() as s:
            candidates = list(s.scalars(query))
        taken: list[tuple[Webhook, Analysis]] = []
        for webhook_id in candidates:
            with self.session() as s:
                changed = s.execute(
                    update(Webhook)
                    .where(Webhook.id == webhook_id, due)
                    .values(
                        state=WEBHOOK_DELIVERING,
                        lease_until=now + timedelta(seconds=lease_s),
                        updated_at=now,
                    )
                )
                if not changed.rowcount:
                    continue  # another process took it first
                row = s.execute(
                    select(Webhook, Analysis)
                    .join(Analysis, Analysis.id == Webhook.analysis_id)
                    .where(Webhook.id == webhook_id)
                ).first()
            if row is not None:
                taken.append((row[0], row[1]))
        return taken

    def webhook_attempted(
        self,
        webhook_id: str,
        *,
        attempts: int,
        state: str,
        response_status: int | None,
        error: str | None,
        lease_s: float,
    ) -> None:
        """Record one try: its answer, and ``state`` (``delivering`` while retries remain, the
        lease renewed, else ``delivered`` or ``failed``)."""
        now = utcnow()
        with self.session() as s:
            s.execute(
                update(Webhook)
                .where(Webhook.id == webhook_id)
                .values(
                    attempts=attempts,
                    state=state,
                    response_status=response_status,
                    error=error[:2000] if error else None,
                    lease_until=now + timedelta(seconds=lease_s)
                    if state == WEBHOOK_DELIVERING
                    else None,
                    delivered_at=now if state == WEBHOOK_DELIVERED else None,
                    updated_at=now,
                )
            )

    # -- workers ------------------------------------------------------------------------------

    def register_worker(self, token: str, host: str, pid: int) -> None:
        with self.session() as s:
            s.merge(Worker(token=token, host=host, pid=pid, last_seen=utcnow()))

    def heartbeat(self, token: str, host: str, pid: int) -> None:
        """Renew the worker's lease (registering it again if it was declared dead meanwhile)."""
        with self.session() as s:
            changed = s.execute(
                update(Worker).where(Worker.token == token).values(last_seen=utcnow())
            )
        if not changed.rowcount:
            self.register_worker(token, host, pid)

    def unregister_worker(self, token: str) -> None:
        with self.session() as s:
            s.execute(delete(Worker).where(Worker.token == token))

    def workers(self) -> list[Worker]:
        with self.sessions() as s:
            return list(s.scalars(select(Worker).order_by(Worker.started_at)))

    def live_worker_count(self, lease_s: float) -> int:
        cutoff = utcnow() - timedelta(seconds=lease_s)
        with self.sessions() as s:
            found = s.scalar(
                select(func.count()).select_from(Worker).where(Worker.last_seen >= cutoff)
            )
        return int(found or 0)

    def requeue_orphans(self, dead: set[str], max_attempts: int) -> tuple[list[str], list[str]]:
        """Remove the ``dead`` workers' rows, then move every RUNNING job whose worker has no row
        (any more) → QUEUED again, or → FAILED after ``max_attempts`` (a job that keeps killing
        its worker). The worker check is inside each UPDATE, so a job that a live worker claimed
        meanwhile is never taken from it. Returns ``(requeued ids, failed ids)``."""
        if dead:
            with self.session() as s:
                s.execute(delete(Worker).where(Worker.token.in_(dead)))
        orphaned = (
            Analysis.status == JobStatus.RUNNING.value,
            ~select(Worker.token).where(Worker.token == Analysis.worker).exists(),
        )
        with self.sessions() as s:
            running = s.execute(select(Analysis.id, Analysis.attempts).where(*orphaned)).all()
        requeued: list[str] = []
        failed: list[str] = []
        now = utcnow()
        for job_id, attempts in running:
            if attempts >= max_attempts:
                values: dict[str, Any] = {
                    "status": JobStatus.FAILED.value,
                    "stage": "finished",
                    "finished_at": now,
                    "error": f"The analysis was interrupted {attempts} times (the worker "
                    "stopped while running it); it was not tried again.",
                }
                moved = failed
            else:
                values = {"status": JobStatus.QUEUED.value, "stage": "queued", "progress": 0.0}
                moved = requeued
            with self.session() as s:
                changed = s.execute(
                    update(Analysis)
                    .where(Analysis.id == job_id, Analysis.attempts == attempts, *orphaned)
                    .values(worker=None, updated_at=now, **values)
                )
            if changed.rowcount:
                moved.append(job_id)
        return requeued, failed

    # -- metrics ------------------------------------------------------------------------------

    def histograms(self) -> dict[tuple[str, str], Histogram]:
        """Every recorded histogram, by ``(metric, label)``, with cumulative buckets."""
        with self.sessions() as s:
            rows = s.execute(
                select(
                    MetricBucket.metric, MetricBucket.label, MetricBucket.bound, MetricBucket.value
                )
            ).all()
        raw: dict[tuple[str, str], dict[str, float]] = {}
        for metric, label, bound, value in rows:
            raw.setdefault((metric, label), {})[bound] = float(value)
        found = {}
        for (metric, label), values in raw.items():
            bounds = LATENCY_BOUNDS if metric.startswith("job_") else STAGE_BOUNDS
            running, buckets = 0.0, []
            for bound in (*bounds, math.inf):
                running += values.get(_bound_name(bound), 0.0)
                buckets.append((bound, running))
            found[(metric, label)] = Histogram(buckets, values.get("sum", 0.0))
        return found


def _seconds(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds())


def _bound_name(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def _observe(s: Session, metric: str, label: str, value: float) -> None:
    """Count one observation in its (non-cumulative) bucket and add it to the sum: two atomic
    upserts, whatever the number of buckets; :meth:`JobStore.histograms` cumulates."""
    bounds = LATENCY_BOUNDS if metric.startswith("job_") else STAGE_BOUNDS
    bound = next((b for b in bounds if value <= b), math.inf)
    _add(s, metric, label, _bound_name(bound), 1.0)
    _add(s, metric, label, "sum", value)


def _add(s: Session, metric: str, label: str, bound: str, amount: float) -> None:
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(MetricBucket).values(metric=metric, label=label, bound=bound, value=amount)
    s.execute(
        statement.on_conflict_do_update(
            index_elements=["metric", "label", "bound"],
            set_={"value": MetricBucket.value + statement.excluded.value},
        )
    )


def _finished_attempt(s: Session, claim: Claim) -> Analysis | None:
    """The analysis ``claim`` finished, still DONE with that attempt's evidence (locked on
    PostgreSQL until the session ends), or ``None`` when it was deleted or re-run since: what
    results drawn after the finish (heatmaps, the preview) may be attached to."""
    query = select(Analysis).where(
        Analysis.id == claim.job_id,
        Analysis.status == JobStatus.DONE.value,
        Analysis.evidence_prefix == claim.evidence_prefix,
    )
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return s.scalar(query)

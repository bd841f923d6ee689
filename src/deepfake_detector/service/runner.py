"""Running one job: claim it, analyse the video with the process's one ``Analyzer``, write the
evidence to the blob store, finish it. Every way an attempt can end goes through ``run``'s one
``try``, so no exception leaves a job RUNNING under a live worker.

Heatmaps are drawn after the job is finished, so the verdict is on the page as soon as scoring
ends; the page shows them when they are recorded (``JobStore.attach_heatmaps``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfake_detector.analysis.pipeline import Analyzer
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.errors import DetectorError
from deepfake_detector.models import load_classifier
from deepfake_detector.models.batching import BatchingClassifier
from deepfake_detector.models.runtime import BaseClassifier
from deepfake_detector.service import heatmaps
from deepfake_detector.service.blobs import BlobStore
from deepfake_detector.service.db import JobStatus
from deepfake_detector.service.jobstore import (
    HEATMAPS_FAILED,
    HEATMAPS_NONE,
    HEATMAPS_PENDING,
    HEATMAPS_READY,
    Claim,
    JobStore,
    Outcome,
)
from deepfake_detector.service.logs import job_context

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.25
"""Progress is written at most this often per stage (each write is a database UPDATE)."""
FINISH_RETRIES = (0.5, 2.0, 5.0)
"""Waits before trying again to record a finished job when the database did not answer."""


class BudgetExceeded(BaseException):
    """The analysis used up its CPU-time budget: stop it (a BaseException for the same reason
    as ``LeaseLost``)."""


class LeaseLost(BaseException):
    """The job was deleted, or given to another worker, while this one ran it: stop.
    A BaseException so that ``analyze`` (which turns Exceptions into ERROR results) lets it by."""


class JobRunner:
    """Runs jobs in one worker process, the model loaded once: one ``Analyzer``, or with
    ``job_threads`` above 1 one per job thread, all sharing one ``BatchingClassifier``."""

    def __init__(
        self,
        jobs: JobStore,
        blobs: BlobStore,
        settings: AnalysisSettings,
        worker: str,
        *,
        heatmaps: bool = True,
        heatmaps_budget: float = 0.0,
        cpu_budget_s: float = 0.0,
        job_threads: int = 1,
    ) -> None:
        self.jobs = jobs
        self.blobs = blobs
        self.settings = settings
        self.worker = worker
        self.make_heatmaps = heatmaps
        self.heatmaps_budget = heatmaps_budget
        """Heatmaps may take this many times the analysis's own time; 0: no limit."""
        self.cpu_budget_s = cpu_budget_s
        """CPU seconds one job may use; 0: any. Counted for the whole process when it runs one
        job at a time, else for the job's own thread (FFmpeg's decoding threads not included)."""
        self.job_threads = max(1, int(job_threads))
        self._analyzer: Analyzer | None = None
        self._shared: BatchingClassifier | None = None
        self._per_thread = threading.local()
        self._lock = threading.Lock()

    def analyzer(self) -> Analyzer:
        """Load the model on first use; a failure is not cached, so the next job retries."""
        if self.job_threads > 1:
            return self._thread_analyzer()
        with self._lock:
            if self._analyzer is None:
                started = time.perf_counter()
                self._analyzer = Analyzer(self.settings)
                log.info("model loaded in %.1f s", time.perf_counter() - started)
            return self._analyzer

    def _thread_analyzer(self) -> Analyzer:
        analyzer = getattr(self._per_thread, "analyzer", None)
        if analyzer is None:
            with self._lock:
                if self._shared is None:
                    started = time.perf_counter()
                    s = self.settings
                    inner = load_classifier(s.model, device=s.device, backend=s.backend)
                    assert isinstance(inner, BaseClassifier)
                    self._shared = BatchingClassifier(inner)
                    log.info(
                        "model loaded in %.1f s, shared by %d job threads",
                        time.perf_counter() - started,
                        self.job_threads,
                    )
            analyzer = Analyzer(self.settings, classifier=self._shared, members=True)
            self._per_thread.analyzer = analyzer
        return analyzer

    @property
    def shared_classifier(self) -> BatchingClassifier | None:
        """The model the job threads share (None with one job at a time, or before loading)."""
        return self._shared

    def _cpu_time(self) -> float:
        return time.process_time() if self.job_threads == 1 else time.thread_time()

    def run(self, job_id: str) -> bool:
        """Claim the job, analyse, record the outcome. Never raises for a failed analysis;
        returns whether this attempt's result was the one kept."""
        with job_context(job_id):
            claim = self.jobs.claim(job_id, self.worker)
            if claim is None:
                log.info("not queued any more; skipped")
                return False
            log.info("started (attempt %d)", claim.attempt)
            started = time.perf_counter()
            followup: _Followup | None = None
            try:
                outcome, followup = self._attempt(claim)
            except LeaseLost:
                log.info("deleted or taken over while running; stopped")
                self.blobs.delete_prefix(claim.evidence_prefix)
                return False
            except BudgetExceeded:
                log.warning("stopped after %.0f CPU seconds", self.cpu_budget_s)
                outcome = Outcome(
                    JobStatus.FAILED,
                    error=f"The analysis was stopped after {self.cpu_budget_s:g} seconds of "
                    "CPU time: this file costs far more to decode than its length suggests "
                    "(very large frames, or very few keyframes). Re-encode it smaller and "
                    "upload it again.",
                )
            except DetectorError as exc:
                outcome = Outcome(JobStatus.FAILED, error=str(exc))
            except OSError as exc:
                log.exception("storage error")
                outcome = Outcome(
                    JobStatus.FAILED,
                    error="The server could not write the analysis's files "
                    f"({exc.strerror or exc}).",
                )
            except Exception as exc:
                log.exception("failed")
                outcome = Outcome(
                    JobStatus.FAILED, error=f"internal error ({type(exc).__name__}: {exc})"
                )
            kept = self._finish(claim, outcome)
            if kept:
                self._remove_other_attempts(claim)
                if outcome.status is JobStatus.FAILED:  # no result to show evidence for
                    self.blobs.delete_prefix(claim.evidence_prefix)
                log.info(
                    "finished %s in %.2f s (verdict %s)",
                    outcome.status.value,
                    time.perf_counter() - started,
                    outcome.verdict,
                )
                if followup is not None and outcome.status is JobStatus.DONE:
                    self._draw_heatmaps(claim, followup)
            else:  # deleted, or taken over after a lost lease: leave no orphaned evidence
                log.info("finished, but the job was deleted or taken over: result dropped")
                self.blobs.delete_prefix(claim.evidence_prefix)
            return kept

    def _remove_other_attempts(self, claim: Claim) -> None:
        """Evidence of earlier attempts (a worker that died, a failed run retried) is not the
        kept result's: remove it."""
        try:
            for folder in self.blobs.children(claim.evidence_prefix.rsplit("/", 1)[0]):
                if folder != claim.evidence_prefix:
                    self.blobs.delete_prefix(folder)
        except OSError:
            log.warning("could not remove the evidence of earlier attempts", exc_info=True)

    def _finish(self, claim: Claim, outcome: Outcome) -> bool:
        for wait in (*FINISH_RETRIES, None):
            try:
                return self.jobs.finish(claim, outcome)
            except Exception:
                if wait is None:
                    raise
                log.warning("could not record the outcome; retrying in %.1f s", wait)
                time.sleep(wait)
        return False

    def _progress(self, claim: Claim) -> Callable[[str, float], None]:
        """A throttled callback writing (stage, fraction) into the job's row; the fraction never
        goes backwards. Raises ``LeaseLost`` once the job is no longer this attempt's."""
        last = {"stage": "", "at": 0.0, "fraction": 0.0}
        cpu_started = self._cpu_time()

        def report(stage: str, fraction: float) -> None:
            if self.cpu_budget_s and self._cpu_time() - cpu_started > self.cpu_budget_s:
                raise BudgetExceeded
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < PROGRESS_EVERY_S:
                return
            fraction = max(last["fraction"], min(1.0, float(fraction)))
            last.update(stage=stage, at=now, fraction=fraction)
            if not self.jobs.progress(claim, stage, fraction):
                raise LeaseLost

        return report

    def _attempt(self, claim: Claim) -> tuple[Outcome, _Followup | None]:
        report = self._progress(claim)
        report("loading model", 0.0)
        analyzer = self.analyzer()
        evidence = self.blobs.writable_dir(claim.evidence_prefix)
        video = self.blobs.local_path(claim.video_key)

        def analysis_progress(stage: str, fraction: float) -> None:
            report("analysed" if stage == "done" else stage, fraction)

        result = analyzer.analyze(video, evidence_dir=evidence, progress=analysis_progress)
        data = result.to_dict()
        data["path"] = claim.video_key
        failed = data["verdict"] == "ERROR"
        wanted = self.make_heatmaps and bool(data["faces"]) and not failed and heatmaps.available()
        artifacts: dict[str, Any] = {
            "heatmaps": {},
            "heatmaps_state": HEATMAPS_PENDING if wanted else HEATMAPS_NONE,
        }
        outcome = Outcome(
            status=JobStatus.FAILED if failed else JobStatus.DONE,
            result=data,
            artifacts=artifacts,
            verdict=data["verdict"],
            fake_probability=data["fake_probability"],
            error=data["error"] if failed else None,
            thumbnail=_thumbnail(data),
            timings=dict(data.get("timings") or {}),
        )
        return outcome, (_Followup(analyzer, data, evidence) if wanted else None)

    def _draw_heatmaps(self, claim: Claim, followup: _Followup) -> None:
        """After the verdict is recorded: draw the heatmaps and attach them to the analysis. If
        it was deleted, re-run or had its files removed meanwhile, remove this attempt's folder
        (drawing may have re-created it)."""
        started = time.perf_counter()
        made: dict[str, str] = {}
        state = HEATMAPS_READY
        try:
            analysed_s = float(followup.result.get("timings", {}).get("total") or 0.0)
            budget = self.heatmaps_budget * analysed_s if self.heatmaps_budget > 0 else None
            made = heatmaps.render(
                followup.analyzer, followup.result, followup.evidence, budget_s=budget
            )
        except Exception:  # evidence is a bonus: the verdict is already kept
            log.exception("heatmaps failed")
            state = HEATMAPS_FAILED
        spent = time.perf_counter() - started
        try:
            attached = self.jobs.attach_heatmaps(claim, made, state, spent)
        except Exception:  # the result stays, without heatmaps (the page stops waiting)
            log.exception("could not record the heatmaps")
            return
        if attached:
            log.info("heatmaps %s in %.2f s", state, spent)
        else:  # deleted, re-run or its files removed meanwhile: this folder is nobody's now
            log.info("the analysis changed while its heatmaps were drawn: dropped")
            self.blobs.delete_prefix(claim.evidence_prefix)


@dataclass(frozen=True)
class _Followup:
    """What drawing an analysis's heatmaps after it finished needs."""

    analyzer: Analyzer
    result: dict[str, Any]
    evidence: Path


def _thumbnail(data: dict[str, Any]) -> str | None:
    """A face crop from the middle of the first person's track, else the first sampled frame."""
    for face in data.get("faces") or []:
        crops = [f["crop"] for f in face["frames"] if f.get("crop")]
        if crops:
            return str(crops[len(crops) // 2])
    for frame in data.get("sampled_frames") or []:
        if frame.get("image"):
            return str(frame["image"])
    return None

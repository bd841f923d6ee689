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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfake_detector.analysis.pipeline import Analyzer
from deepfake_detector.config import AnalysisSettings, cuda_wait_from_env
from deepfake_detector.errors import DetectorError
from deepfake_detector.media.preview import PreviewLimits, make_preview, playback_format
from deepfake_detector.models import load_classifier
from deepfake_detector.models.batching import BatchingClassifier
from deepfake_detector.models.classifier import Classifier
from deepfake_detector.models.runtime import BaseClassifier
from deepfake_detector.service import heatmaps
from deepfake_detector.service.blobs import BlobStore
from deepfake_detector.service.db import JobStatus
from deepfake_detector.service.jobstore import (
    HEATMAPS_FAILED,
    HEATMAPS_NONE,
    HEATMAPS_PENDING,
    HEATMAPS_READY,
    PREVIEW_FAILED,
    PREVIEW_PENDING,
    PREVIEW_READY,
    Claim,
    JobStore,
    Outcome,
)
from deepfake_detector.service.logs import job_context
from deepfake_detector.service.options import apply as apply_options

log = logging.getLogger(__name__)

ANALYZERS_KEPT = 3
"""Analyzers a worker keeps loaded, one per distinct job settings (the server's, or an upload's
``frames`` and ``model``): the least recently used beyond this is dropped (and its model, unless
a kept one shares it)."""
PROGRESS_EVERY_S = 0.25
"""Progress is written at most this often per stage (each write is a database UPDATE)."""
FINISH_RETRIES = (0.5, 2.0, 5.0)
"""Waits before trying again to record a finished job when the database did not answer."""


class BudgetExceeded(BaseException):
    """The analysis used up its CPU-time budget: stop it (a BaseException for the same reason
    as ``LeaseLost``)."""


def _model_key(settings: AnalysisSettings) -> tuple[str, str, str]:
    """What a loaded classifier depends on: analyzers differing only in frames share it."""
    return (settings.model, settings.device, settings.backend)


def _placement(classifier: Classifier, settings: AnalysisSettings) -> str:
    """Where each stage runs, for the log: an operator checks a GPU worker uses its GPU."""
    decode = settings.decode_device
    text = (
        f"scoring on {classifier.device} ({classifier.backend}), faces found on "
        f"{settings.detect_device}, videos decoded on {decode}"
        + ("" if decode == "cpu" else " where it opens (else the CPU, with a warning)")
    )
    if all(device == "cpu" for device in (classifier.device, settings.detect_device, decode)):
        return text
    return text + f"; threads wait for the GPU as DFD_CUDA_WAIT={cuda_wait_from_env()}"


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
        preview: PreviewLimits | None = None,
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
        self.preview = preview
        """Make a browser-playable copy of uploads browsers cannot play, within these limits;
        ``None``: never."""
        self.on_finished: Callable[[str], None] | None = None
        """Called with the job id when a job's outcome is recorded (done or failed): the
        worker's webhook sender. Must return at once; its errors are logged, never raised."""
        self._analyzers: OrderedDict[AnalysisSettings, Analyzer] = OrderedDict()
        self._shared_models: OrderedDict[tuple[str, str, str], BatchingClassifier] = OrderedDict()
        self._users: dict[int, int] = {}
        """Job threads using each shared model (by ``id``), so that one dropped is closed only
        once no job uses it any more (``_retired`` until then)."""
        self._retired: dict[int, BatchingClassifier] = {}
        self._per_thread = threading.local()
        self._lock = threading.Lock()

    def preload(self) -> None:
        """Load the worker's own model before the first job (not holding it in use)."""
        self.analyzer()
        self._release_model()

    def job_settings(self, claim: Claim) -> AnalysisSettings:
        """The settings this job is analysed with: the worker's, with its upload's options."""
        return apply_options(self.settings, claim.options)

    def analyzer(self, settings: AnalysisSettings | None = None) -> Analyzer:
        """The ``Analyzer`` for ``settings`` (default: the worker's own), loaded on first use and
        kept for the next jobs with the same settings: at most :data:`ANALYZERS_KEPT`, the least
        recently used dropped first; analyzers of the same model share its classifier. A
        failure is not cached, so the next job retries."""
        settings = settings or self.settings
        if self.job_threads > 1:
            return self._thread_analyzer(settings)
        with self._lock:
            found = self._analyzers.get(settings)
            if found is not None:
                self._analyzers.move_to_end(settings)
                return found
            started = time.perf_counter()
            model = _model_key(settings)
            sibling = next((a for s, a in self._analyzers.items() if _model_key(s) == model), None)
            if sibling is not None:  # the same model with other frames: no second copy
                analyzer = Analyzer(settings, classifier=sibling.classifier, members=True)
            else:
                analyzer = Analyzer(settings)
                log.info(
                    "model loaded in %.1f s (%s); %s",
                    time.perf_counter() - started,
                    settings.model,
                    _placement(analyzer.classifier, settings),
                )
            self._analyzers[settings] = analyzer
            while len(self._analyzers) > ANALYZERS_KEPT:
                self._analyzers.popitem(last=False)
            return analyzer

    def _thread_analyzer(self, settings: AnalysisSettings) -> Analyzer:
        """This job thread's ``Analyzer`` for ``settings``, on the ``BatchingClassifier`` of its
        model that every job thread shares (at most :data:`ANALYZERS_KEPT` models; one dropped
        is closed once no job uses it). Marks that model in use until :meth:`_release_model`."""
        model = _model_key(settings)
        with self._lock:
            shared = self._shared_models.get(model)
            if shared is None:
                started = time.perf_counter()
                inner = load_classifier(
                    settings.model, device=settings.device, backend=settings.backend
                )
                assert isinstance(inner, BaseClassifier)
                shared = BatchingClassifier(inner)
                self._shared_models[model] = shared
                log.info(
                    "model loaded in %.1f s (%s), shared by %d job threads; %s",
                    time.perf_counter() - started,
                    settings.model,
                    self.job_threads,
                    _placement(inner, settings),
                )
                for old in list(self._shared_models)[:-ANALYZERS_KEPT]:
                    self._retire(self._shared_models.pop(old))
            self._shared_models.move_to_end(model)
            self._users[id(shared)] = self._users.get(id(shared), 0) + 1
        live = set(map(id, self._shared_models.values()))
        kept: OrderedDict[AnalysisSettings, Analyzer] | None
        kept = getattr(self._per_thread, "analyzers", None)
        if kept is None:
            kept = self._per_thread.analyzers = OrderedDict()
        for old_settings, old in list(kept.items()):  # on a model dropped since
            if id(old.classifier) not in live:
                del kept[old_settings]
        analyzer = kept.get(settings)
        if analyzer is None or analyzer.classifier is not shared:
            try:
                analyzer = Analyzer(settings, classifier=shared, members=True)
            except BaseException:
                self._release_model(shared)
                raise
            kept[settings] = analyzer
            while len(kept) > ANALYZERS_KEPT:
                kept.popitem(last=False)
        kept.move_to_end(settings)
        self._per_thread.using = shared
        return analyzer

    def _retire(self, shared: BatchingClassifier) -> None:
        """A model dropped from the kept ones: closed now if no job uses it, else by the last
        job using it (the lock is held)."""
        if self._users.get(id(shared), 0) > 0:
            self._retired[id(shared)] = shared
        else:
            shared.close()

    def _release_model(self, shared: BatchingClassifier | None = None) -> None:
        """The job thread's job is done with its model (job threads only)."""
        if shared is None:
            shared = getattr(self._per_thread, "using", None)
            self._per_thread.using = None
        if shared is None:
            return
        with self._lock:
            users = self._users.get(id(shared), 0) - 1
            if users > 0:
                self._users[id(shared)] = users
                return
            self._users.pop(id(shared), None)
            retired = self._retired.pop(id(shared), None)
        if retired is not None:
            retired.close()

    @property
    def shared_classifier(self) -> BatchingClassifier | None:
        """The model the job threads share for the worker's own settings (None with one job at
        a time, or before loading)."""
        return self._shared_models.get(_model_key(self.settings))

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
                try:
                    outcome, followup = self._attempt(claim)
                finally:
                    self._release_model()  # job threads: the model may be closed once unused
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
            if kept and self.on_finished is not None:
                try:
                    self.on_finished(job_id)
                except Exception:
                    log.exception("could not hand the finished job to the webhook sender")
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
                if outcome.status is JobStatus.DONE and _preview_state(outcome) == PREVIEW_PENDING:
                    self._make_preview(claim)
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
        analyzer = self.analyzer(self.job_settings(claim))
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
        preview = None if failed else self._preview_wanted(video, data)
        if preview is not None:
            artifacts["preview"] = preview
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
        made = heatmaps.Drawn()
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
            attached = self.jobs.attach_heatmaps(
                claim, made.overlays, state, spent, checks=made.checks
            )
        except Exception:  # the result stays, without heatmaps (the page stops waiting)
            log.exception("could not record the heatmaps")
            return
        if attached:
            log.info("heatmaps %s in %.2f s", state, spent)
        else:  # deleted, re-run or its files removed meanwhile: this folder is nobody's now
            log.info("the analysis changed while its heatmaps were drawn: dropped")
            self.blobs.delete_prefix(claim.evidence_prefix)

    def _preview_wanted(self, video: Path, data: dict[str, Any]) -> dict[str, Any] | None:
        """``artifacts["preview"]`` (state ``pending``, and the file's format in words) when
        browsers cannot play the upload and copies are made; else ``None``."""
        shown = data.get("video") or {}
        if self.preview is None or not shown or shown.get("kind", "video") != "video":
            return None
        try:
            found = playback_format(video)
        except Exception:  # it was just analysed; if it cannot be read again, no copy
            log.warning("could not read the upload's format for playback", exc_info=True)
            return None
        problem = found.problem()
        if problem is None:
            return None
        return {"state": PREVIEW_PENDING, "format": found.describe(), "reason": problem}

    def _make_preview(self, claim: Claim) -> None:
        """After the verdict is recorded: write the playable copy into the attempt's evidence
        folder (complete, or not at all) and attach it to the analysis; as for heatmaps, remove
        the folder when the analysis changed meanwhile."""
        assert self.preview is not None
        limits = self.preview
        started = time.perf_counter()
        record: dict[str, Any]
        try:
            made = make_preview(
                self.blobs.local_path(claim.video_key),
                self.blobs.local_path(claim.evidence_prefix) / PREVIEW_FILE,
                max_side=limits.max_side,
                max_bytes=limits.max_bytes,
                max_duration_s=limits.max_duration_s,
                budget_s=limits.budget_s,
            )
            record = {"state": PREVIEW_READY, "path": PREVIEW_FILE, **made.to_dict()}
        except Exception as exc:  # a bonus too: the verdict is already kept
            log.warning("the playable copy could not be made", exc_info=True)
            message = str(exc) if isinstance(exc, DetectorError) else type(exc).__name__
            record = {"state": PREVIEW_FAILED, "error": message[:300]}
        spent = time.perf_counter() - started
        try:
            attached = self.jobs.attach_preview(claim, record, spent)
        except Exception:  # the page stops waiting after a while (api.PREVIEW_WAIT_S)
            log.exception("could not record the playable copy")
            return
        if attached:
            log.info("playable copy %s in %.2f s", record["state"], spent)
        else:
            log.info("the analysis changed while its playable copy was made: dropped")
            self.blobs.delete_prefix(claim.evidence_prefix)


PREVIEW_FILE = "preview.mp4"
"""The playable copy's name in an attempt's evidence folder."""


def _preview_state(outcome: Outcome) -> str | None:
    return ((outcome.artifacts or {}).get("preview") or {}).get("state")


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
